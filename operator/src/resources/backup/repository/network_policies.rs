//! The network policies of a province's backup repository namespace.

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::super::super::labels;
use super::super::super::netpol::{components, dns, dns_ports, egress, ingress, match_labels, spec, tcp};
use super::{Repository, metadata};
use crate::domain::backup::{self, REPOSITORY, REPOSITORY_ADMIN, REPOSITORY_PORT};

/// Deny everything; DNS and HTTPS out for the servers and runs (the bucket's address is the
/// Diputación's); in: the tenant-facing server from the backup pods of this province's tenant
/// namespaces, the province-side server from this namespace's runs only.
pub(super) fn network_policies(repo: &Repository) -> Vec<NetworkPolicy> {
    // Out to the buckets' ports (HTTPS and HTTP, and any other an endpoint names).
    let mut out = vec![443, 80];
    for target in [Some(&repo.target), repo.secondary.as_ref()].into_iter().flatten() {
        let port = backup::endpoint_port(&target.s3.endpoint);
        if !out.contains(&port) {
            out.push(port);
        }
    }
    let policy = |name: &str, pods: LabelSelector, rules: (Vec<_>, Vec<_>), types: &[&str]| NetworkPolicy {
        metadata: metadata(repo, name, "network-policy"),
        spec: Some(spec(pods, rules.0, rules.1, types)),
    };
    let tenants = NetworkPolicyPeer {
        namespace_selector: Some(match_labels(&[
            (labels::PROVINCE, &repo.province),
            (labels::COMPONENT, "tenant"),
            (labels::MANAGED_BY, labels::MANAGER),
        ])),
        pod_selector: Some(match_labels(&[(labels::COMPONENT, super::super::COMPONENT)])),
        ..Default::default()
    };
    let runs =
        NetworkPolicyPeer { pod_selector: Some(components("In", &[super::super::COMPONENT])), ..Default::default() };
    let port = vec![tcp(REPOSITORY_PORT.into())];
    vec![
        policy("deny-all", LabelSelector::default(), (vec![], vec![]), &["Ingress", "Egress"]),
        policy(
            "allow-dns-and-out",
            LabelSelector::default(),
            (vec![], vec![egress(vec![dns()], dns_ports()), egress(vec![], out.iter().map(|p| tcp(*p)).collect())]),
            &["Egress"],
        ),
        policy(
            "allow-tenants",
            components("In", &[REPOSITORY]),
            (vec![ingress(vec![tenants], port.clone())], vec![]),
            &["Ingress"],
        ),
        policy(
            "allow-runs",
            components("In", &[REPOSITORY_ADMIN]),
            (vec![ingress(vec![runs.clone()], port.clone())], vec![]),
            &["Ingress"],
        ),
        policy(
            "runs-to-admin",
            components("In", &[super::super::COMPONENT]),
            (
                vec![],
                vec![egress(
                    vec![NetworkPolicyPeer {
                        pod_selector: Some(components("In", &[REPOSITORY_ADMIN])),
                        ..Default::default()
                    }],
                    port,
                )],
            ),
            &["Egress"],
        ),
    ]
}

/// Every name a NetworkPolicy of the repository may have.
pub const POLICY_NAMES: &[&str] = &["deny-all", "allow-dns-and-out", "allow-tenants", "allow-runs", "runs-to-admin"];
