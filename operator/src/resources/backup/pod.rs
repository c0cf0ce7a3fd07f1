//! The one pod every backup, restore, retention and drill run is: restic copied from its image into
//! the PostgreSQL image (which has `pg_dump`, `pg_restore`, `initdb` and a shell), one script of
//! `scripts/`, no service account token, no privileges, and the outcome written to the
//! termination message, which concejo reads (a run needs no access to the API server at all).

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Affinity, Container, EnvFromSource, EnvVar, EnvVarSource, PodAffinity, PodAffinityTerm, PodSpec, PodTemplateSpec,
    ResourceRequirements, SecretEnvSource, SecretKeySelector, Volume, VolumeMount, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::super::collaboration::NEXTCLOUD;
use super::super::collaboration::pod::{container_security, empty_dir, env, mount, pod_security};
use super::super::labels;
use super::super::netpol::components;
use super::{COMPONENT, REPORT, RUN_LABEL, RunKind, WORK};
use crate::domain::ValidTenant;
use crate::domain::backup::TenantBackup;
use crate::domain::suite::{BACKUP_RUN, Size};

/// Seconds a run may take before Kubernetes stops it (a backup of a large tenant over a slow
/// link takes hours; a stuck one must not hold its lock for ever).
pub const DEADLINE: i64 = 6 * 3600;
/// Finished runs are removed after a day (their outcome is in the status by then).
pub const KEEP_FINISHED: i32 = 86_400;

/// One container of a run: who it runs as, what it sees, what it does.
#[derive(Clone, Debug, Default)]
pub struct Step {
    pub name: &'static str,
    pub uid: i64,
    pub env: Vec<EnvVar>,
    /// Secrets read whole as environment variables.
    pub env_from: Vec<String>,
    pub mounts: Vec<VolumeMount>,
}

/// A run: its kind, where it runs, its steps (all but the last run before it, in order), the
/// volumes they mount, and the pod's user and volume group.
#[derive(Clone, Debug)]
pub struct Run<'a> {
    pub kind: RunKind,
    pub tenant: &'a ValidTenant,
    pub backup: &'a TenantBackup,
    pub namespace: String,
    pub steps: Vec<Step>,
    pub volumes: Vec<Volume>,
    pub uid: i64,
    /// Group of new volumes (a restore target, a drill's scratch volume); none when the pod mounts
    /// the tenant's own volumes (their ownership is the suite's and must stay).
    pub fs_group: Option<i64>,
}

/// What every step's environment starts with: the tools on the PATH, scratch space, where the
/// report goes, which tenant, where the snapshot's own folder is.
pub fn base_env(backup: &TenantBackup) -> Vec<EnvVar> {
    vec![
        env("PATH", "/tools:/usr/local/bin:/usr/bin:/bin"),
        env("TMPDIR", "/tmp"),
        env("RESTIC_CACHE_DIR", "/tmp/restic-cache"),
        env("REPORT", REPORT),
        env("TENANT", &backup.user),
        env("WORK", WORK),
    ]
}

/// A variable read from one key of a Secret.
pub fn secret_key_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector { name: secret.into(), key: key.into(), optional: Some(false) }),
            ..Default::default()
        }),
    }
}

/// The labels of a run's Job and pod: the tenant's (on the province side too: that is how a drill
/// is mapped back to its tenant) and the run's kind.
pub fn run_labels(tenant: &ValidTenant, kind: RunKind) -> BTreeMap<String, String> {
    let mut l = labels::for_tenant(&tenant.name, &tenant.ine_code, &tenant.province, COMPONENT);
    l.insert(RUN_LABEL.into(), kind.as_str().into());
    l
}

/// What validation counted in the tenant's quota (`domain::suite::BACKUP_RUN`).
fn resources() -> ResourceRequirements {
    let of = |size: Size| {
        BTreeMap::from([("cpu".to_owned(), Quantity(size.cpu())), ("memory".to_owned(), Quantity(size.memory()))])
    };
    ResourceRequirements { requests: Some(of(BACKUP_RUN.request)), limits: Some(of(BACKUP_RUN.limit)), claims: None }
}

fn container(run: &Run<'_>, step: &Step, image: &str, command: Vec<String>) -> Container {
    let mut security = container_security(true);
    security.run_as_user = (step.uid != run.uid).then_some(step.uid);
    security.run_as_group = (step.uid != run.uid).then_some(step.uid);
    let mut mounts = vec![mount("tools", "/tools", None, false), mount("tmp", "/tmp", None, false)];
    mounts.extend(step.mounts.iter().cloned());
    Container {
        name: step.name.into(),
        image: Some(image.into()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(command),
        env: Some(step.env.clone()),
        env_from: (!step.env_from.is_empty()).then(|| {
            step.env_from
                .iter()
                .map(|s| EnvFromSource {
                    secret_ref: Some(SecretEnvSource { name: s.clone(), optional: Some(false) }),
                    ..Default::default()
                })
                .collect()
        }),
        volume_mounts: Some(mounts),
        resources: Some(resources()),
        security_context: Some(security),
        termination_message_path: Some(REPORT.into()),
        // A run that dies before writing its report still leaves the end of its log.
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Default::default()
    }
}

/// The pod template of a run.
pub fn template(run: &Run<'_>) -> PodTemplateSpec {
    let script = || vec!["/bin/sh".to_owned(), "-c".to_owned(), run.kind.script().to_owned()];
    let tools = Step { name: "tools", uid: run.uid, ..Default::default() };
    let mut init = vec![container(
        run,
        &tools,
        &run.backup.restic_image,
        ["cp", "/usr/bin/restic", "/tools/restic"].iter().map(|s| s.to_string()).collect(),
    )];
    let (last, before) = run.steps.split_last().expect("a run has a step");
    init.extend(before.iter().map(|s| container(run, s, &run.backup.postgres_image, script())));
    let mut security = pod_security(run.uid);
    security.fs_group = run.fs_group;
    if run.fs_group.is_none() {
        security.fs_group_change_policy = None;
    }
    let mut volumes = vec![empty_dir("tools"), empty_dir("tmp")];
    volumes.extend(run.volumes.iter().cloned());
    PodTemplateSpec {
        metadata: Some(ObjectMeta { labels: Some(run_labels(run.tenant, run.kind)), ..Default::default() }),
        spec: Some(PodSpec {
            init_containers: Some(init),
            containers: vec![container(run, last, &run.backup.postgres_image, script())],
            volumes: Some(volumes),
            restart_policy: Some("Never".into()),
            security_context: Some(security),
            automount_service_account_token: Some(false),
            affinity: near_nextcloud(run),
            enable_service_links: Some(false),
            ..Default::default()
        }),
    }
}

/// A backup reads the file volume while Nextcloud runs: on the same node, a ReadWriteOnce volume
/// attaches once for both. Preferred, not required: a suspended tenant's Backup still runs.
fn near_nextcloud(run: &Run<'_>) -> Option<Affinity> {
    (run.kind == RunKind::Backup && run.tenant.collaboration.is_some()).then(|| Affinity {
        pod_affinity: Some(PodAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![WeightedPodAffinityTerm {
                weight: 100,
                pod_affinity_term: PodAffinityTerm {
                    label_selector: Some(components("In", &[NEXTCLOUD])),
                    topology_key: "kubernetes.io/hostname".into(),
                    ..Default::default()
                },
            }]),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The spec of a run's Job: one try (a second would find the first's lock and half-written
/// dump), the deadline, removal a day after it ends.
pub fn job_spec(run: &Run<'_>) -> JobSpec {
    JobSpec {
        backoff_limit: Some(0),
        active_deadline_seconds: Some(DEADLINE),
        ttl_seconds_after_finished: Some(KEEP_FINISHED),
        template: template(run),
        ..Default::default()
    }
}

/// A run's Job.
pub fn job(run: &Run<'_>, name: &str) -> Job {
    Job {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(run.namespace.clone()),
            labels: Some(run_labels(run.tenant, run.kind)),
            ..Default::default()
        },
        spec: Some(job_spec(run)),
        ..Default::default()
    }
}
