//! Redis: Nextcloud's file locking and distributed cache. A cache only (nothing saved to disk),
//! with a password and a memory ceiling below its limit.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};

use super::super::{Component, Context, Part, labels};
use super::pod::{container, empty_dir, mount, port, secret_env, tcp, template};
use super::{REDIS, REDIS_PORT, credentials, replicas, selector, suite};
use crate::domain::ValidTenant;

pub const NAME: &str = "redis";
/// redis in the Alpine images.
pub const UID: i64 = 999;

pub struct Redis;

impl Component for Redis {
    type Kind = Deployment;
    const PART: Part = Part::Collaboration;
    const NAMES: &'static [&'static str] = &[NAME];
    const KEEP_WHEN_EMPTY: bool = false;
    const STATUS_MATTERS: bool = true;

    fn build(tenant: &ValidTenant, _: &Context<'_>) -> Vec<Deployment> {
        let Some((suite, sizing)) = suite(tenant) else { return vec![] };
        let mut redis = container("redis", &suite.images.redis, sizing.redis, true);
        redis.env = Some(vec![secret_env("REDIS_PASSWORD", credentials::REDIS_PASSWORD)]);
        let max_memory = format!("{}mb", sizing.redis.limit.memory_mi * 3 / 4);
        let args = ["--requirepass", "$(REDIS_PASSWORD)", "--save", "", "--appendonly", "no", "--maxmemory"];
        let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        args.extend([max_memory, "--maxmemory-policy".into(), "allkeys-lru".into()]);
        redis.args = Some(args);
        redis.ports = Some(vec![port("redis", REDIS_PORT)]);
        redis.volume_mounts = Some(vec![mount("data", "/data", None, false)]);
        redis.readiness_probe = Some(tcp(REDIS_PORT, 3));
        redis.liveness_probe = Some(tcp(REDIS_PORT, 6));
        vec![Deployment {
            metadata: labels::metadata(tenant, NAME, Some(tenant.namespace()), REDIS),
            spec: DeploymentSpec {
                replicas: Some(replicas(tenant)),
                selector: selector(tenant, REDIS),
                strategy: Some(DeploymentStrategy { type_: Some("Recreate".into()), rolling_update: None }),
                template: template(tenant, REDIS, UID, vec![redis], vec![empty_dir("data")]),
                ..Default::default()
            },
            ..Default::default()
        }]
    }
}
