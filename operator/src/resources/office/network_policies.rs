//! The pool's NetworkPolicies: deny everything, then allow
//! - in, on 9980: the province's ingress namespace, and the Nextcloud pods of the province's
//!   tenant namespaces (discovery, conversions);
//! - out: DNS, the tenants' Nextcloud pods on 8080 (WOPI callbacks inside the cluster), and the
//!   ingress namespace (WOPI callbacks to the tenants' public hosts).
//!
//! Tenant namespaces are told apart by labels only concejo and cluster administrators can set
//! (`concejo.dev/province`, `app.kubernetes.io/component: tenant`); the pod label
//! `app.kubernetes.io/component: nextcloud` narrows further but is a tenant admin's to write,
//! which opens nothing the pool's public Ingress does not already serve.

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::{PORT, Pool, labels};
use crate::resources::netpol::{dns, dns_ports, egress, ingress, match_labels, namespace, spec, tcp};

/// Every name a policy of the pool may have (what exists under these names and is not wanted is
/// deleted).
pub const NAMES: &[&str] =
    &["deny-all", "allow-dns", "allow-from-ingress", "allow-from-tenants", "allow-to-tenants", "allow-to-ingress"];

/// The port of the tenants' Nextcloud (its unprivileged web server).
pub const NEXTCLOUD_PORT: i32 = crate::domain::tenant::WEB_PORT as i32;

/// Every NetworkPolicy the pool should have, by name.
pub fn build(pool: &Pool) -> Vec<NetworkPolicy> {
    let tenants_nextcloud = NetworkPolicyPeer {
        namespace_selector: Some(match_labels(&[
            (labels::PROVINCE, &pool.province),
            (labels::COMPONENT, "tenant"),
            (labels::MANAGED_BY, labels::MANAGER),
        ])),
        pod_selector: Some(match_labels(&[(labels::COMPONENT, "nextcloud")])),
        ..Default::default()
    };
    let mut policies = vec![
        policy(pool, "deny-all", vec![], vec![], &["Ingress", "Egress"]),
        policy(pool, "allow-dns", vec![], vec![egress(vec![dns()], dns_ports())], &["Egress"]),
    ];
    let ingress_namespace = pool.ingress_namespace.as_deref().map(namespace);
    if let Some(from) = &ingress_namespace {
        let rule = ingress(vec![from.clone()], vec![tcp(PORT)]);
        policies.push(policy(pool, "allow-from-ingress", vec![rule], vec![], &["Ingress"]));
    }
    let from_tenants = ingress(vec![tenants_nextcloud.clone()], vec![tcp(PORT)]);
    policies.push(policy(pool, "allow-from-tenants", vec![from_tenants], vec![], &["Ingress"]));
    let to_tenants = egress(vec![tenants_nextcloud], vec![tcp(NEXTCLOUD_PORT)]);
    policies.push(policy(pool, "allow-to-tenants", vec![], vec![to_tenants], &["Egress"]));
    if let Some(to) = ingress_namespace {
        policies.push(policy(pool, "allow-to-ingress", vec![], vec![egress(vec![to], vec![])], &["Egress"]));
    }
    policies
}

fn policy(
    pool: &Pool,
    name: &str,
    ingress: Vec<NetworkPolicyIngressRule>,
    egress: Vec<NetworkPolicyEgressRule>,
    types: &[&str],
) -> NetworkPolicy {
    NetworkPolicy {
        metadata: super::metadata(pool, name, "network-policy"),
        spec: Some(spec(LabelSelector::default(), ingress, egress, types)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::office::pool::tests::serving;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn names(policies: &[NetworkPolicy]) -> Vec<&str> {
        policies.iter().map(|p| p.metadata.name.as_deref().unwrap()).collect()
    }

    #[test]
    fn without_an_ingress_namespace_only_tenants_and_dns() {
        let policies = build(&serving(&[]));
        assert_eq!(names(&policies), ["deny-all", "allow-dns", "allow-from-tenants", "allow-to-tenants"]);
        let from = &policies[2].spec.as_ref().unwrap().ingress.as_ref().unwrap()[0];
        let peer = &from.from.as_ref().unwrap()[0];
        let ns = peer.namespace_selector.as_ref().unwrap().match_labels.as_ref().unwrap();
        assert_eq!(ns[labels::PROVINCE], "leon");
        assert_eq!(ns[labels::COMPONENT], "tenant");
        assert_eq!(peer.pod_selector.as_ref().unwrap().match_labels.as_ref().unwrap()[labels::COMPONENT], "nextcloud");
        assert_eq!(from.ports.as_ref().unwrap()[0].port, Some(IntOrString::Int(9980)));
        let to = &policies[3].spec.as_ref().unwrap().egress.as_ref().unwrap()[0];
        assert_eq!(to.ports.as_ref().unwrap()[0].port, Some(IntOrString::Int(8080)));
    }

    #[test]
    fn the_ingress_namespace_may_reach_the_pool_and_be_reached() {
        let mut pool = serving(&[]);
        pool.ingress_namespace = Some("ingress-nginx".into());
        let policies = build(&pool);
        assert_eq!(names(&policies), NAMES);
        let from = &policies[2].spec.as_ref().unwrap().ingress.as_ref().unwrap()[0];
        let selector = from.from.as_ref().unwrap()[0].namespace_selector.as_ref().unwrap();
        assert_eq!(selector.match_labels.as_ref().unwrap()["kubernetes.io/metadata.name"], "ingress-nginx");
        let deny = policies[0].spec.as_ref().unwrap();
        assert_eq!((deny.ingress.as_deref(), deny.egress.as_deref()), (Some(&[][..]), Some(&[][..])));
    }
}
