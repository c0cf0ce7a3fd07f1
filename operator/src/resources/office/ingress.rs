//! The pool's Ingresses on `office.<baseDomain>`, written for ingress-nginx:
//!
//! - `office`: everything, TLS from `office-tls`, and each document pinned to one replica by
//!   hashing its `WOPISrc` (`upstream-hash-by`): every user editing a document must reach the
//!   replica that holds it. Long timeouts, since an editing session is one websocket.
//! - `office-denied`: Collabora's metrics, admin websocket and admin page, refused to every
//!   client address (`denylist-source-range`). A second Ingress, because ingress-nginx applies
//!   such annotations per Ingress; no configuration snippets, which ingress-nginx disables by
//!   default. coolwsd's admin console is also switched off (`deployment::extra_params`).
//!
//! Other ingress controllers ignore these annotations: docs/office.md says what they must do.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule, IngressServiceBackend, IngressSpec,
    IngressTLS, ServiceBackendPort,
};

use super::{NAME, Pool, tls};

/// Name of the Ingress that refuses the admin and metrics paths.
pub const DENIED: &str = "office-denied";
/// Collabora's paths nobody outside may reach.
pub const DENIED_PATHS: &[&str] = &["/cool/getMetrics", "/cool/adminws", "/browser/dist/admin"];

/// Sticky routing per document, as openDesk does.
pub const HASH_BY: (&str, &str) = ("nginx.ingress.kubernetes.io/upstream-hash-by", "$arg_WOPISrc");

/// Both Ingresses, the main one first.
pub fn build(pool: &Pool) -> Vec<Ingress> {
    let main = [
        HASH_BY,
        ("nginx.ingress.kubernetes.io/proxy-read-timeout", "3600"),
        ("nginx.ingress.kubernetes.io/proxy-send-timeout", "3600"),
        ("nginx.ingress.kubernetes.io/proxy-body-size", "100m"),
    ];
    // The same upstream hash on both: ingress-nginx keeps one upstream per Service port, and
    // would otherwise take its settings from whichever Ingress it read first.
    let denied = [HASH_BY, ("nginx.ingress.kubernetes.io/denylist-source-range", "0.0.0.0/0,::/0")];
    vec![ingress(pool, NAME, &main, &["/"]), ingress(pool, DENIED, &denied, DENIED_PATHS)]
}

fn ingress(pool: &Pool, name: &str, annotations: &[(&str, &str)], paths: &[&str]) -> Ingress {
    let mut metadata = super::metadata(pool, name, "office");
    metadata.annotations =
        Some(annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>());
    let backend = IngressBackend {
        service: Some(IngressServiceBackend {
            name: NAME.into(),
            port: Some(ServiceBackendPort { name: Some("http".into()), number: None }),
        }),
        resource: None,
    };
    let paths = paths
        .iter()
        .map(|p| HTTPIngressPath { path: Some(p.to_string()), path_type: "Prefix".into(), backend: backend.clone() })
        .collect();
    Ingress {
        metadata,
        spec: Some(IngressSpec {
            ingress_class_name: pool.ingress_class.clone(),
            tls: Some(vec![IngressTLS { hosts: Some(vec![pool.host()]), secret_name: Some(tls::SECRET_NAME.into()) }]),
            rules: Some(vec![IngressRule { host: Some(pool.host()), http: Some(HTTPIngressRuleValue { paths }) }]),
            default_backend: None,
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::office::pool::tests::serving;

    fn paths(i: &Ingress) -> Vec<String> {
        let rule = &i.spec.as_ref().unwrap().rules.as_ref().unwrap()[0];
        assert_eq!(rule.host.as_deref(), Some("office.nube.dipuleon.es"));
        rule.http.as_ref().unwrap().paths.iter().map(|p| p.path.clone().unwrap()).collect()
    }

    #[test]
    fn documents_stick_to_a_replica_and_admin_paths_are_refused() {
        let mut pool = serving(&[]);
        pool.ingress_class = Some("nginx".into());
        let ingresses = build(&pool);
        let (main, denied) = (&ingresses[0], &ingresses[1]);
        assert_eq!(paths(main), ["/"]);
        assert_eq!(paths(denied), DENIED_PATHS);
        let a = main.metadata.annotations.as_ref().unwrap();
        assert_eq!(a["nginx.ingress.kubernetes.io/upstream-hash-by"], "$arg_WOPISrc");
        let d = denied.metadata.annotations.as_ref().unwrap();
        assert_eq!(d["nginx.ingress.kubernetes.io/denylist-source-range"], "0.0.0.0/0,::/0");
        assert_eq!(d["nginx.ingress.kubernetes.io/upstream-hash-by"], "$arg_WOPISrc");
        for i in &ingresses {
            let spec = i.spec.as_ref().unwrap();
            assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
            let tls = &spec.tls.as_ref().unwrap()[0];
            assert_eq!(tls.secret_name.as_deref(), Some("office-tls"));
            assert_eq!(tls.hosts.as_deref(), Some(&["office.nube.dipuleon.es".to_owned()][..]));
        }
    }
}
