//! Nextcloud's background jobs: `cron.php` every five minutes as a Kubernetes CronJob (the
//! sidecar variants need root), on the same volume; suspended with the tenant.

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};

use super::super::{Component, Context, Part, labels};
use super::nextcloud;
use super::pod::{claim_volume, config_volume, container, empty_dir, mount, secret_env, template};
use super::{CRON, config, credentials, suite};
use crate::domain::ValidTenant;
use crate::domain::suite::FILES_VOLUME;

pub const NAME: &str = "nextcloud-cron";

pub struct BackgroundJobs;

impl Component for BackgroundJobs {
    type Kind = CronJob;
    const PART: Part = Part::Collaboration;
    const NAMES: &'static [&'static str] = &[NAME];
    const KEEP_WHEN_EMPTY: bool = false;

    fn build(tenant: &ValidTenant, _: &Context<'_>) -> Vec<CronJob> {
        let Some((suite, sizing)) = suite(tenant) else { return vec![] };
        let mut cron = container("cron", &suite.images.nextcloud, sizing.cron, false);
        cron.command = Some(["php", "-f", "/var/www/html/cron.php"].iter().map(|s| s.to_string()).collect());
        cron.env = Some(vec![secret_env("REDIS_HOST_PASSWORD", credentials::REDIS_PASSWORD)]);
        cron.volume_mounts = Some(vec![
            mount("files", "/var/www/html", Some("html"), false),
            mount("files", "/var/www/html/data", Some("data"), false),
            mount("config", &format!("/var/www/html/config/{}", config::SETTINGS), Some(config::SETTINGS), true),
            mount("tmp", "/tmp", None, false),
        ]);
        let volumes = vec![claim_volume("files", FILES_VOLUME), config_volume("config", None), empty_dir("tmp")];
        let mut pod = template(tenant, CRON, nextcloud::UID, vec![cron], volumes);
        if let Some(spec) = pod.spec.as_mut() {
            spec.restart_policy = Some("Never".into());
        }
        vec![CronJob {
            metadata: labels::metadata(tenant, NAME, Some(tenant.namespace()), CRON),
            spec: CronJobSpec {
                schedule: "*/5 * * * *".into(),
                suspend: Some(tenant.suspend),
                concurrency_policy: Some("Forbid".into()),
                starting_deadline_seconds: Some(300),
                successful_jobs_history_limit: Some(1),
                failed_jobs_history_limit: Some(1),
                job_template: JobTemplateSpec {
                    metadata: None,
                    spec: Some(JobSpec {
                        backoff_limit: Some(0),
                        active_deadline_seconds: Some(600),
                        ttl_seconds_after_finished: Some(600),
                        template: pod,
                        ..Default::default()
                    }),
                },
                ..Default::default()
            },
            ..Default::default()
        }]
    }
}
