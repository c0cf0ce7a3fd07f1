//! The pool's Service: ClusterIP on port 9980, for the ingress controller and for the tenants'
//! Nextcloud (discovery, conversions). Browsers reach the pool through the Ingress only.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{NAME, PORT, Pool, deployment};

/// The complete desired Service.
pub fn build(pool: &Pool) -> Service {
    Service {
        metadata: super::metadata(pool, NAME, "office"),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(deployment::selector_labels()),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: PORT,
                target_port: Some(IntOrString::String("http".into())),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::office::pool::tests::serving;

    #[test]
    fn cluster_ip_on_9980_selecting_the_pool() {
        let s = build(&serving(&[]));
        let spec = s.spec.unwrap();
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
        assert_eq!(spec.ports.unwrap()[0].port, 9980);
        assert_eq!(spec.selector, Some(deployment::selector_labels()));
        assert_eq!(s.metadata.name.as_deref(), Some("office"));
    }
}
