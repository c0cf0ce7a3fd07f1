//! The suite's Services: Nextcloud's web port (for the ingress and the office pool), PostgreSQL
//! and Redis (for Nextcloud).

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::super::{Component, Context, Part, labels};
use super::{NEXTCLOUD, POSTGRES, POSTGRES_PORT, REDIS, REDIS_PORT, WEB_PORT, selector};
use crate::domain::ValidTenant;

pub struct Services;

impl Component for Services {
    type Kind = Service;
    const PART: Part = Part::Collaboration;
    const NAMES: &'static [&'static str] = &["nextcloud", "postgres", "redis"];
    const KEEP_WHEN_EMPTY: bool = false;

    fn build(tenant: &ValidTenant, _: &Context<'_>) -> Vec<Service> {
        if tenant.collaboration.is_none() {
            return vec![];
        }
        [("nextcloud", NEXTCLOUD, WEB_PORT), ("postgres", POSTGRES, POSTGRES_PORT), ("redis", REDIS, REDIS_PORT)]
            .into_iter()
            .map(|(name, component, port)| Service {
                metadata: labels::metadata(tenant, name, Some(tenant.namespace()), component),
                spec: Some(ServiceSpec {
                    type_: Some("ClusterIP".into()),
                    selector: selector(tenant, component).match_labels,
                    ports: Some(vec![ServicePort {
                        name: Some(name.into()),
                        port,
                        target_port: Some(IntOrString::Int(port)),
                        protocol: Some("TCP".into()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect()
    }
}
