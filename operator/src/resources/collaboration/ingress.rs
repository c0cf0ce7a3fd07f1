//! The tenant's web entry: every tenant host, TLS from `tenant-tls` (the provincial CA), to
//! Nextcloud's nginx. HTTPS only; HSTS is sent by that nginx, so it holds whatever ingress
//! controller serves the class. The ingress-nginx annotations below allow TLS 1.2+ ciphers only.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule, IngressServiceBackend, IngressSpec,
    IngressTLS, ServiceBackendPort,
};

use super::super::{Component, Context, Part, labels, tls};
use super::{NEXTCLOUD, WEB_PORT};
use crate::domain::ValidTenant;

pub const NAME: &str = "nextcloud";

/// AEAD ciphers with forward secrecy: TLS 1.0 and 1.1 have none of them, so a client that cannot
/// do TLS 1.2 or newer cannot connect (TLS 1.3 suites are always enabled).
pub const CIPHERS: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

pub struct Web;

impl Component for Web {
    type Kind = Ingress;
    const PART: Part = Part::Collaboration;
    const NAMES: &'static [&'static str] = &[NAME];
    const KEEP_WHEN_EMPTY: bool = false;

    fn build(tenant: &ValidTenant, _: &Context<'_>) -> Vec<Ingress> {
        let Some(suite) = &tenant.collaboration else { return vec![] };
        let mut metadata = labels::metadata(tenant, NAME, Some(tenant.namespace()), NEXTCLOUD);
        let annotations = [
            ("nginx.ingress.kubernetes.io/force-ssl-redirect", "true"),
            ("nginx.ingress.kubernetes.io/ssl-ciphers", CIPHERS),
            ("nginx.ingress.kubernetes.io/proxy-body-size", "10G"),
            ("nginx.ingress.kubernetes.io/proxy-read-timeout", "300"),
        ];
        metadata.annotations =
            Some(annotations.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect::<BTreeMap<_, _>>());
        let backend = IngressBackend {
            service: Some(IngressServiceBackend {
                name: super::nextcloud::NAME.into(),
                port: Some(ServiceBackendPort { number: Some(WEB_PORT), name: None }),
            }),
            resource: None,
        };
        let rules = tenant
            .hosts
            .iter()
            .map(|host| IngressRule {
                host: Some(host.clone()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".into()),
                        path_type: "Prefix".into(),
                        backend: backend.clone(),
                    }],
                }),
            })
            .collect();
        vec![Ingress {
            metadata,
            spec: Some(IngressSpec {
                ingress_class_name: suite.ingress_class.clone(),
                tls: Some(vec![IngressTLS {
                    hosts: Some(tenant.hosts.clone()),
                    secret_name: Some(tls::SECRET_NAME.into()),
                }]),
                rules: Some(rules),
                default_backend: None,
            }),
            ..Default::default()
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{municipality, valid};

    #[test]
    fn every_host_is_served_with_the_tenant_certificate() {
        let mut m = municipality("leon", "24089");
        m.spec.collaboration.enabled = true;
        m.spec.domains = vec!["nube.aytoleon.es".into()];
        let ingress = &Web::build(&valid(&m), &Context::default())[0];
        let spec = ingress.spec.as_ref().unwrap();
        let tls = &spec.tls.as_ref().unwrap()[0];
        assert_eq!(tls.secret_name.as_deref(), Some("tenant-tls"));
        assert_eq!(tls.hosts.as_ref().unwrap(), &["leon.nube.dipuleon.es", "nube.aytoleon.es"]);
        assert_eq!(spec.rules.as_ref().unwrap().len(), 2);
    }
}
