//! The tenant's scheduled backups: CronJob `backup`, at the minute of the province's window its
//! INE code picks (or its own schedule), Madrid time, suspended with the tenant. Its Jobs are
//! the same run as a Backup object's.

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::super::{Component, Context, Part, labels};
use super::pod::{job_spec, run_labels};
use super::{COMPONENT, RunKind, runs};
use crate::domain::ValidTenant;
use crate::domain::backup::TIME_ZONE;

pub const NAME: &str = "backup";

pub struct Schedule;

impl Component for Schedule {
    type Kind = CronJob;
    const PART: Part = Part::Backup;
    const NAMES: &'static [&'static str] = &[NAME];
    const KEEP_WHEN_EMPTY: bool = false;

    fn build(tenant: &ValidTenant, context: &Context<'_>) -> Vec<CronJob> {
        let Some(backup) = &tenant.backup else { return vec![] };
        if backup.missing.is_some() || context.backup_key.is_none() {
            return vec![];
        }
        vec![CronJob {
            metadata: labels::metadata(tenant, NAME, Some(tenant.namespace()), COMPONENT),
            spec: CronJobSpec {
                schedule: backup.schedule.clone(),
                time_zone: Some(TIME_ZONE.into()),
                suspend: Some(tenant.suspend),
                // One backup at a time; a night missed by more than an hour is skipped, not
                // caught up in the day.
                concurrency_policy: Some("Forbid".into()),
                starting_deadline_seconds: Some(3600),
                successful_jobs_history_limit: Some(3),
                failed_jobs_history_limit: Some(3),
                job_template: JobTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(run_labels(tenant, RunKind::Backup)),
                        ..Default::default()
                    }),
                    spec: Some(job_spec(&runs::backup(tenant, backup))),
                },
            },
            ..Default::default()
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::backup::Key;
    use crate::testing::{municipality, s3_target, valid_in};

    #[test]
    fn a_tenant_with_volumes_gets_a_spread_schedule_that_runs_the_backup_script() {
        let mut m = municipality("leon", "24089");
        m.spec.collaboration.enabled = true;
        let tenant = valid_in(&m, |p| p.spec.backup.target = Some(s3_target("concejo")));
        let key = Key::generate("24089");
        let context = Context { backup_key: Some(&key), ..Default::default() };
        let cron = &Schedule::build(&tenant, &context)[0];
        assert_eq!(cron.spec.schedule, crate::domain::backup::spread("24089", "01:00-05:00"));
        assert_eq!(cron.spec.time_zone.as_deref(), Some("Europe/Madrid"));
        let pod = cron.spec.job_template.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        let run = &pod.containers[0];
        assert!(run.command.as_ref().unwrap()[2].contains("restic backup --retry-lock 2h --json"));
        assert_eq!(pod.automount_service_account_token, Some(false));
        // Near Nextcloud, whose ReadWriteOnce file volume it reads.
        let near = pod.affinity.as_ref().unwrap().pod_affinity.as_ref().unwrap();
        let term = &near.preferred_during_scheduling_ignored_during_execution.as_ref().unwrap()[0].pod_affinity_term;
        assert_eq!(term.topology_key, "kubernetes.io/hostname");
        let env: Vec<_> = run.env.as_ref().unwrap().iter().map(|e| e.name.as_str()).collect();
        for name in ["RESTIC_REPOSITORY", "TENANT", "FILES_PATH", "PGHOST", "PGPASSWORD", "REPORT"] {
            assert!(env.contains(&name), "{name} missing in {env:?}");
        }
        let repository = run.env.as_ref().unwrap().iter().find(|e| e.name == "RESTIC_REPOSITORY").unwrap();
        assert_eq!(
            repository.value.as_deref(),
            Some("rest:http://repository.concejo-backup-24.svc.cluster.local:8000/muni-24089/")
        );
        // Without a key, or without a target, no schedule (BackupReady says why).
        assert!(Schedule::build(&tenant, &Context::default()).is_empty());
        assert!(Schedule::build(&valid_in(&m, |_| {}), &context).is_empty());
    }
}
