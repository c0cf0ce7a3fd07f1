//! Step 6 for backups: what the tenant's finished Jobs reported, read into `status.backup`, and
//! the province-side Jobs that are due (retention after every new snapshot, a drill when its
//! interval has passed). A run reports through its pod's termination message only; the Job's
//! pods have no token and no role.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::Api;

use super::super::Context;
use crate::api::v1alpha1::BackupStatus;
use crate::domain::backup::{self as rules, TenantBackup};
use crate::domain::runs::{self as outcomes, Run};
use crate::domain::{ValidTenant, retention};
use crate::resources::backup::{RUN_LABEL, RunKind, runs};
use crate::resources::labels;
use crate::runtime::activity::{Action, Writes};
use crate::runtime::errors::Error;
use crate::runtime::ssa;

/// The label the Job controller puts on its pods.
const JOB_NAME: &str = "batch.kubernetes.io/job-name";

/// What the pod of a Job said last: the termination message of the container that ended the
/// run (the first that failed, else the main one).
fn last_words(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    let terminated = |s: &k8s_openapi::api::core::v1::ContainerStatus| s.state.as_ref()?.terminated.clone();
    let init = status.init_container_statuses.iter().flatten().filter_map(terminated);
    let main = status.container_statuses.iter().flatten().filter_map(terminated);
    let all: Vec<_> = init.chain(main).collect();
    let chosen = all.iter().find(|t| t.exit_code != 0).or(all.last())?;
    chosen.message.clone().filter(|m| !m.trim().is_empty()).or_else(|| {
        (chosen.exit_code != 0)
            .then(|| format!("exited with code {} ({})", chosen.exit_code, chosen.reason.clone().unwrap_or_default()))
    })
}

/// The pods of a Job: its own (owned by its uid), never a look-alike with the same labels.
pub fn pods_of(job: &Job, ctx: &Context) -> Vec<std::sync::Arc<Pod>> {
    let (ns, name, uid) = (job.namespace().unwrap_or_default(), job.name_any(), job.uid().unwrap_or_default());
    ctx.runs
        .pods
        .in_namespace(&ns)
        .into_iter()
        .filter(|p| p.labels().get(JOB_NAME) == Some(&name))
        .filter(|p| p.owner_references().iter().any(|o| o.uid == uid && o.controller == Some(true)))
        .collect()
}

fn env_of(job: &Job, name: &str) -> Option<String> {
    let pod = job.spec.as_ref()?.template.spec.as_ref()?;
    pod.containers.iter().flat_map(|c| c.env.iter().flatten()).find(|e| e.name == name).and_then(|e| e.value.clone())
}

/// A Job as a run: when it started and ended, and what it reported.
pub fn read(job: &Job, ctx: &Context) -> Run {
    let status = job.status.clone().unwrap_or_default();
    let ended = |type_: &str| {
        status.conditions.iter().flatten().find(|c| c.type_ == type_ && c.status == "True").map(|c| {
            let at = c.last_transition_time.as_ref().map(|t| t.0.to_string());
            (at, c.message.clone().unwrap_or_default(), c.reason.clone().unwrap_or_default())
        })
    };
    let words = pods_of(job, ctx).iter().rev().find_map(|p| last_words(p));
    let (ended, outcome) = match (ended("Complete"), ended("Failed")) {
        (Some((at, _, _)), _) => {
            let at = status.completion_time.as_ref().map(|t| t.0.to_string()).or(at);
            let report = match words {
                Some(words) => rules::read_report(&words),
                None => Err("the run ended without a report".to_owned()),
            };
            (at, Some(report))
        }
        (None, Some((at, message, reason))) => {
            let why = match words.map(|w| rules::read_report(&w)) {
                Some(Err(words)) => words,
                _ if !message.is_empty() => format!("{reason}: {message}"),
                _ => format!("the Job failed ({reason})"),
            };
            (at, Some(Err(why)))
        }
        _ => (None, None),
    };
    Run {
        job: job.name_any(),
        started: status.start_time.as_ref().map(|t| t.0.to_string()),
        ended,
        outcome,
        snapshot: env_of(job, "SNAPSHOT"),
        forget: env_of(job, "FORGET").map(|f| f.split_whitespace().map(str::to_owned).collect()).unwrap_or_default(),
    }
}

/// The tenant's runs of one kind: in its namespace (backups, restores), or on the province's
/// side (retention, drills), found there by name from the snapshots the status recorded: that
/// namespace holds every tenant's runs, too many to scan on each reconcile.
pub fn jobs(
    tenant: &ValidTenant,
    backup: &TenantBackup,
    status: &BackupStatus,
    kind: RunKind,
    ctx: &Context,
) -> Vec<std::sync::Arc<Job>> {
    let ours = |j: &std::sync::Arc<Job>| {
        j.labels().get(RUN_LABEL).map(String::as_str) == Some(kind.as_str())
            && j.labels().get(labels::INE_CODE) == Some(&tenant.ine_code)
    };
    let name = match kind {
        RunKind::Backup | RunKind::Restore => {
            return ctx.runs.jobs.in_namespace(&tenant.namespace()).into_iter().filter(ours).collect();
        }
        RunKind::Retain => runs::retain_job_name,
        RunKind::Drill => runs::drill_job_name,
    };
    let recorded = status.snapshots.iter().map(|s| s.id.as_str()).chain(status.last_snapshot.as_deref());
    let mut names: Vec<String> = recorded.map(|id| name(&tenant.ine_code, id)).collect();
    names.sort();
    names.dedup();
    names.iter().filter_map(|n| ctx.runs.jobs.get(&backup.namespace, n)).filter(ours).collect()
}

/// What the reconcile learnt of the tenant's backups.
pub struct Seen {
    pub status: BackupStatus,
    /// Runs that ended since the last status: (normal, reason, note) for Events.
    pub news: Vec<(bool, &'static str, String)>,
}

/// Reads the finished runs into the status, and says what is news.
pub fn observe(tenant: &ValidTenant, backup: &TenantBackup, previous: &BackupStatus, ctx: &Context) -> Seen {
    let read_all = |kind| jobs(tenant, backup, previous, kind, ctx).iter().map(|j| read(j, ctx)).collect::<Vec<_>>();
    let mut status =
        outcomes::record(previous, &read_all(RunKind::Backup), &read_all(RunKind::Retain), &read_all(RunKind::Drill));
    status.schedule = Some(backup.schedule.clone());
    let mut news = vec![];
    if status.last_success_time != previous.last_success_time
        && let Some(id) = &status.last_snapshot
    {
        let note = format!(
            "snapshot {} of {} files, {} bytes, in {} s",
            outcomes::short(id),
            status.last_files.unwrap_or(0),
            status.last_bytes.unwrap_or(0),
            status.last_duration_seconds.unwrap_or(0)
        );
        news.push((true, "BackupSucceeded", note));
    }
    if status.last_failure_time != previous.last_failure_time
        && let Some(why) = &status.last_failure
    {
        news.push((false, "BackupFailed", why.clone()));
        ctx.metrics.backup_failed("backup", outcomes::failure_reason(why));
    }
    if status.last_drill_time != previous.last_drill_time {
        let passed = status.last_drill_result == Some(crate::api::v1alpha1::DrillResult::Passed);
        let reason = if passed { "RestoreDrillPassed" } else { "RestoreDrillFailed" };
        let words = status.last_drill_message.clone().unwrap_or_default();
        if !passed {
            ctx.metrics.backup_failed("drill", outcomes::failure_reason(&words));
        }
        news.push((passed, reason, words));
    }
    Seen { status, news }
}

/// Starts the province-side Jobs that are due: retention after a new snapshot, a drill when its
/// interval has passed (or at once after a failed one, for the next snapshot).
pub async fn start_due(
    tenant: &ValidTenant,
    backup: &TenantBackup,
    status: &BackupStatus,
    ctx: &Context,
    writes: &Writes,
    now: Timestamp,
) -> Result<(), Error> {
    let exists = |name: &str| ctx.runs.jobs.get(&backup.namespace, name).is_some();
    if let Some(snapshot) = rules::retention_due(status) {
        let name = runs::retain_job_name(&tenant.ine_code, snapshot);
        if !exists(&name) {
            let decision = retention::decide(&status.snapshots, backup.keep);
            start_job(&runs::retain(tenant, backup, snapshot, &decision.forget), ctx, writes).await?;
        }
    }
    if let Some(days) = backup.drill_days
        && let Some(snapshot) = rules::drill_due(status, days, now.as_second())
    {
        let name = runs::drill_job_name(&tenant.ine_code, snapshot);
        if !exists(&name) {
            start_job(&runs::drill(tenant, backup, snapshot, status.last_files), ctx, writes).await?;
        }
    }
    Ok(())
}

/// Starts a run: creates its Job, which the caller found in no cache.
pub async fn start_job(job: &Job, ctx: &Context, writes: &Writes) -> Result<(), Error> {
    let namespace = job.namespace().unwrap_or_default();
    ssa::apply(&Api::<Job>::namespaced(ctx.client.clone(), &namespace), job, &ctx.metrics).await?;
    writes.add(Action::Create, "Job", Some(&namespace), &job.name_any());
    Ok(())
}
