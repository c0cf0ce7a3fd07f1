//! Nextcloud: php-fpm and an unprivileged nginx in one pod, on the file volume. The image
//! installs itself on first start (into the volume) with PostgreSQL and the generated admin;
//! the start hook registers the office pool and cron. Recreate, never two at once: the volume is
//! ReadWriteOnce and the quota is sized for one.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};

use super::super::{Component, Context, Part, labels};
use super::pod::{claim_volume, config_volume, container, empty_dir, env, mount, port, secret_env, tcp, template};
use super::{DATABASE, FPM_PORT, NEXTCLOUD, WEB_PORT, config, credentials, replicas, selector, suite};
use crate::domain::ValidTenant;
use crate::domain::suite::FILES_VOLUME;

pub const NAME: &str = "nextcloud";
/// www-data in the Alpine php images.
pub const UID: i64 = 82;
/// nginx in nginx-unprivileged.
pub const WEB_UID: i64 = 101;

pub struct Nextcloud;

impl Component for Nextcloud {
    type Kind = Deployment;
    const PART: Part = Part::Collaboration;
    const NAMES: &'static [&'static str] = &[NAME];
    const KEEP_WHEN_EMPTY: bool = false;
    const STATUS_MATTERS: bool = true;

    fn build(tenant: &ValidTenant, _: &Context<'_>) -> Vec<Deployment> {
        let Some((suite, sizing)) = suite(tenant) else { return vec![] };
        let mut fpm = container("nextcloud", &suite.images.nextcloud, sizing.nextcloud, false);
        fpm.env = Some(vec![
            env("POSTGRES_HOST", "postgres"),
            env("POSTGRES_DB", DATABASE),
            env("POSTGRES_USER", DATABASE),
            secret_env("POSTGRES_PASSWORD", credentials::POSTGRES_PASSWORD),
            secret_env("NEXTCLOUD_ADMIN_USER", credentials::ADMIN_USER),
            secret_env("NEXTCLOUD_ADMIN_PASSWORD", credentials::ADMIN_PASSWORD),
            env("NEXTCLOUD_TRUSTED_DOMAINS", tenant.hosts.join(" ")),
            // Read by concejo.config.php; REDIS_HOST stays unset, or the image's entrypoint
            // writes into PHP's conf.d, which a non-root user cannot.
            secret_env("REDIS_HOST_PASSWORD", credentials::REDIS_PASSWORD),
            env("PHP_MEMORY_LIMIT", "512M"),
            env("PHP_UPLOAD_LIMIT", "10G"),
        ]);
        fpm.ports = Some(vec![port("fpm", FPM_PORT)]);
        fpm.volume_mounts = Some(vec![
            mount("files", "/var/www/html", Some("html"), false),
            mount("files", "/var/www/html/data", Some("data"), false),
            mount("config", &format!("/var/www/html/config/{}", config::SETTINGS), Some(config::SETTINGS), true),
            mount("hooks", "/docker-entrypoint-hooks.d/before-starting", None, true),
            mount("tmp", "/tmp", None, false),
        ]);
        // The first start copies Nextcloud into the volume and installs it: minutes, not seconds.
        fpm.startup_probe = Some(tcp(FPM_PORT, 90));
        fpm.readiness_probe = Some(tcp(FPM_PORT, 3));
        fpm.liveness_probe = Some(tcp(FPM_PORT, 6));

        let mut web = container("web", &suite.images.web, sizing.web, true);
        if let Some(security) = web.security_context.as_mut() {
            security.run_as_user = Some(WEB_UID);
        }
        web.ports = Some(vec![port("http", WEB_PORT)]);
        web.volume_mounts = Some(vec![
            mount("files", "/var/www/html", Some("html"), true),
            mount("config", "/etc/nginx/conf.d/default.conf", Some(config::NGINX), true),
            mount("tmp", "/tmp", None, false),
        ]);
        web.readiness_probe = Some(tcp(WEB_PORT, 3));

        let volumes = vec![
            claim_volume("files", FILES_VOLUME),
            config_volume("config", None),
            config_volume("hooks", Some((config::HOOK, 0o555))),
            empty_dir("tmp"),
        ];
        vec![Deployment {
            metadata: labels::metadata(tenant, NAME, Some(tenant.namespace()), NEXTCLOUD),
            spec: DeploymentSpec {
                replicas: Some(replicas(tenant)),
                selector: selector(tenant, NEXTCLOUD),
                strategy: Some(DeploymentStrategy { type_: Some("Recreate".into()), rolling_update: None }),
                template: template(tenant, NEXTCLOUD, UID, vec![fpm, web], volumes),
                ..Default::default()
            },
            ..Default::default()
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{municipality, valid};

    fn tenant(suspend: bool) -> ValidTenant {
        let mut m = municipality("leon", "24089");
        m.spec.collaboration.enabled = true;
        m.spec.suspend = suspend;
        valid(&m)
    }

    #[test]
    fn runs_as_non_root_with_credentials_by_reference_only() {
        let deployment = &Nextcloud::build(&tenant(false), &Context::default())[0];
        let spec = &deployment.spec;
        assert_eq!(spec.replicas, Some(1));
        let pod = spec.template.spec.as_ref().unwrap();
        assert_eq!(pod.security_context.as_ref().unwrap().run_as_non_root, Some(true));
        for c in &pod.containers {
            let security = c.security_context.as_ref().unwrap();
            assert_eq!(security.allow_privilege_escalation, Some(false));
            assert!(c.resources.as_ref().unwrap().limits.is_some(), "{} has limits", c.name);
            for e in c.env.iter().flatten() {
                assert!(!e.name.contains("PASSWORD") || e.value.is_none(), "{} is a literal", e.name);
            }
        }
        let json = serde_json::to_string(deployment).unwrap();
        assert!(!json.contains("REDIS_HOST\""), "REDIS_HOST makes the image write into conf.d");
    }

    #[test]
    fn suspended_means_no_replicas_and_disabled_means_nothing() {
        let deployment = &Nextcloud::build(&tenant(true), &Context::default())[0];
        assert_eq!(deployment.spec.replicas, Some(0));
        assert!(Nextcloud::build(&valid(&municipality("leon", "24089")), &Context::default()).is_empty());
    }
}
