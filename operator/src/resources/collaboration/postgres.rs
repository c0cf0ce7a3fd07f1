//! PostgreSQL: one StatefulSet replica on the database volume (a claim of its own, made by the
//! storage component, so it can grow with the tenant's storage).

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{ExecAction, Probe};

use super::super::{Component, Context, Part, labels};
use super::pod::{claim_volume, container, empty_dir, env, mount, port, secret_env, tcp, template};
use super::{DATABASE, POSTGRES, POSTGRES_PORT, credentials, replicas, selector, suite};
use crate::domain::ValidTenant;
use crate::domain::suite::DATABASE_VOLUME;

pub const NAME: &str = "postgres";
/// postgres in the Alpine images.
pub const UID: i64 = 70;

pub struct Postgres;

impl Component for Postgres {
    type Kind = StatefulSet;
    const PART: Part = Part::Collaboration;
    const NAMES: &'static [&'static str] = &[NAME];
    const KEEP_WHEN_EMPTY: bool = false;
    const STATUS_MATTERS: bool = true;

    fn build(tenant: &ValidTenant, _: &Context<'_>) -> Vec<StatefulSet> {
        let Some((suite, sizing)) = suite(tenant) else { return vec![] };
        let mut db = container("postgres", &suite.images.postgres, sizing.postgres, true);
        db.env = Some(vec![
            env("POSTGRES_DB", DATABASE),
            env("POSTGRES_USER", DATABASE),
            secret_env("POSTGRES_PASSWORD", credentials::POSTGRES_PASSWORD),
            // A subdirectory: the volume's root may hold lost+found.
            env("PGDATA", "/var/lib/postgresql/data/pgdata"),
        ]);
        db.ports = Some(vec![port("postgres", POSTGRES_PORT)]);
        db.volume_mounts = Some(vec![
            mount("data", "/var/lib/postgresql/data", None, false),
            mount("run", "/var/run/postgresql", None, false),
            mount("tmp", "/tmp", None, false),
        ]);
        let ready = ["pg_isready", "-h", "127.0.0.1", "-U", DATABASE, "-d", DATABASE];
        db.readiness_probe = Some(Probe {
            exec: Some(ExecAction { command: Some(ready.iter().map(|s| s.to_string()).collect()) }),
            period_seconds: Some(10),
            failure_threshold: Some(3),
            ..Default::default()
        });
        db.liveness_probe = Some(tcp(POSTGRES_PORT, 6));
        let volumes = vec![claim_volume("data", DATABASE_VOLUME), empty_dir("run"), empty_dir("tmp")];
        vec![StatefulSet {
            metadata: labels::metadata(tenant, NAME, Some(tenant.namespace()), POSTGRES),
            spec: StatefulSetSpec {
                replicas: Some(replicas(tenant)),
                service_name: Some(NAME.into()),
                selector: selector(tenant, POSTGRES),
                template: template(tenant, POSTGRES, UID, vec![db], volumes),
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

    #[test]
    fn the_database_uses_its_own_claim_and_a_read_only_root() {
        let mut m = municipality("leon", "24089");
        m.spec.collaboration.enabled = true;
        let set = &Postgres::build(&valid(&m), &Context::default())[0];
        let pod = set.spec.template.spec.as_ref().unwrap();
        let claim = pod.volumes.as_ref().unwrap()[0].persistent_volume_claim.as_ref().unwrap();
        assert_eq!(claim.claim_name, DATABASE_VOLUME);
        assert_eq!(pod.containers[0].security_context.as_ref().unwrap().read_only_root_filesystem, Some(true));
    }
}
