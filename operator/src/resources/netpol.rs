//! The pieces every NetworkPolicy concejo builds is made of (the tenant's, the suite's, the
//! office pool's): peers, ports, rules, and a spec that declares its lists even when empty, so
//! that a rule anyone else adds differs from what concejo declares and is taken back.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::labels;

/// A selector of these labels.
pub fn match_labels(pairs: &[(&str, &str)]) -> LabelSelector {
    let labels: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    LabelSelector { match_labels: Some(labels), ..Default::default() }
}

/// Pods whose `app.kubernetes.io/component` is (`In`) or is not (`NotIn`) one of `values`.
pub fn components(operator: &str, values: &[&str]) -> LabelSelector {
    LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: labels::COMPONENT.into(),
            operator: operator.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }]),
        match_labels: None,
    }
}

/// Every pod of the namespace named `name`.
pub fn namespace(name: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(match_labels(&[("kubernetes.io/metadata.name", name)])),
        ..Default::default()
    }
}

/// The cluster's DNS: kube-system's `k8s-app: kube-dns` pods.
pub fn dns() -> NetworkPolicyPeer {
    NetworkPolicyPeer { pod_selector: Some(match_labels(&[("k8s-app", "kube-dns")])), ..namespace("kube-system") }
}

pub fn port(protocol: &str, number: i32) -> NetworkPolicyPort {
    NetworkPolicyPort { protocol: Some(protocol.to_owned()), port: Some(IntOrString::Int(number)), end_port: None }
}

pub fn tcp(number: i32) -> NetworkPolicyPort {
    port("TCP", number)
}

/// 53, UDP and TCP.
pub fn dns_ports() -> Vec<NetworkPolicyPort> {
    vec![port("UDP", 53), port("TCP", 53)]
}

/// In from `from` on `ports` (all ports when empty).
pub fn ingress(from: Vec<NetworkPolicyPeer>, ports: Vec<NetworkPolicyPort>) -> NetworkPolicyIngressRule {
    NetworkPolicyIngressRule { from: Some(from), ports: Some(ports) }
}

/// Out to `to` on `ports` (all ports when empty).
pub fn egress(to: Vec<NetworkPolicyPeer>, ports: Vec<NetworkPolicyPort>) -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule { to: Some(to), ports: Some(ports) }
}

/// A policy for `pods`, with its rules and types always declared, empty included.
pub fn spec(
    pods: LabelSelector,
    ingress: Vec<NetworkPolicyIngressRule>,
    egress: Vec<NetworkPolicyEgressRule>,
    types: &[&str],
) -> NetworkPolicySpec {
    NetworkPolicySpec {
        pod_selector: Some(pods),
        ingress: Some(ingress),
        egress: Some(egress),
        policy_types: Some(types.iter().map(|t| t.to_string()).collect()),
    }
}
