//! The suite's network policies, on top of the tenant's deny-by-default ones (which leave the
//! suite's pods out of every other allowance): only the ingress namespace and the office pool
//! reach Nextcloud's web port; only Nextcloud (and its background jobs) reach PostgreSQL and
//! Redis; Nextcloud may leave the namespace only for the office pool (and DNS).

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::super::{Component, Context, Part, labels};
use super::{CRON, NEXTCLOUD, OFFICE_PORT, POSTGRES, POSTGRES_PORT, REDIS, REDIS_PORT, WEB_PORT};
use crate::domain::ValidTenant;

pub struct SuitePolicies;

impl Component for SuitePolicies {
    type Kind = NetworkPolicy;
    const PART: Part = Part::Collaboration;
    const NAMES: &'static [&'static str] = &["suite-nextcloud", "suite-postgres", "suite-redis"];
    const KEEP_WHEN_EMPTY: bool = false;

    fn build(tenant: &ValidTenant, _: &Context<'_>) -> Vec<NetworkPolicy> {
        let Some(suite) = &tenant.collaboration else { return vec![] };
        let users = components(&[NEXTCLOUD, CRON]);
        let mut from = vec![];
        if let Some(ns) = &tenant.network.ingress_namespace {
            from.push(namespace(ns));
        }
        let office = suite.office.as_ref().map(|o| {
            let mut peer = namespace(&o.namespace);
            peer.pod_selector = Some(LabelSelector::default());
            peer
        });
        from.extend(office.clone());
        let mut egress = vec![
            rule_to(vec![pods(components(&[POSTGRES]))], POSTGRES_PORT),
            rule_to(vec![pods(components(&[REDIS]))], REDIS_PORT),
        ];
        egress.extend(office.map(|o| rule_to(vec![o], OFFICE_PORT)));
        let web = NetworkPolicyIngressRule { from: Some(from), ports: Some(vec![tcp(WEB_PORT)]) };
        vec![
            policy(tenant, "suite-nextcloud", users.clone(), vec![web], egress),
            policy(tenant, "suite-postgres", components(&[POSTGRES]), vec![from_pods(&users, POSTGRES_PORT)], vec![]),
            policy(tenant, "suite-redis", components(&[REDIS]), vec![from_pods(&users, REDIS_PORT)], vec![]),
        ]
    }
}

/// Pods whose component is one of `values`.
fn components(values: &[&str]) -> LabelSelector {
    LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: labels::COMPONENT.into(),
            operator: "In".into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }]),
        match_labels: None,
    }
}

fn pods(selector: LabelSelector) -> NetworkPolicyPeer {
    NetworkPolicyPeer { pod_selector: Some(selector), ..Default::default() }
}

fn namespace(name: &str) -> NetworkPolicyPeer {
    let labels = BTreeMap::from([("kubernetes.io/metadata.name".to_owned(), name.to_owned())]);
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector { match_labels: Some(labels), match_expressions: None }),
        ..Default::default()
    }
}

fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort { protocol: Some("TCP".into()), port: Some(IntOrString::Int(port)), end_port: None }
}

fn rule_to(to: Vec<NetworkPolicyPeer>, port: i32) -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule { to: Some(to), ports: Some(vec![tcp(port)]) }
}

fn from_pods(selector: &LabelSelector, port: i32) -> NetworkPolicyIngressRule {
    NetworkPolicyIngressRule { from: Some(vec![pods(selector.clone())]), ports: Some(vec![tcp(port)]) }
}

fn policy(
    tenant: &ValidTenant,
    name: &str,
    selector: LabelSelector,
    ingress: Vec<NetworkPolicyIngressRule>,
    egress: Vec<NetworkPolicyEgressRule>,
) -> NetworkPolicy {
    NetworkPolicy {
        metadata: labels::metadata(tenant, name, Some(tenant.namespace()), "network-policy"),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector),
            ingress: Some(ingress),
            egress: Some(egress),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{municipality, valid};

    #[test]
    fn only_nextcloud_reaches_the_database_and_the_office_pool() {
        let mut m = municipality("leon", "24089");
        m.spec.collaboration.enabled = true;
        let mut tenant = valid(&m);
        tenant.network.ingress_namespace = Some("ingress-nginx".into());
        let policies = SuitePolicies::build(&tenant, &Context::default());
        let names: Vec<_> = policies.iter().map(|p| p.metadata.name.clone().unwrap()).collect();
        assert_eq!(names, SuitePolicies::NAMES);
        let postgres = policies[1].spec.as_ref().unwrap();
        let from = &postgres.ingress.as_ref().unwrap()[0].from.as_ref().unwrap()[0];
        let allowed = from.pod_selector.as_ref().unwrap().match_expressions.as_ref().unwrap()[0].values.clone();
        assert_eq!(allowed.unwrap(), ["nextcloud", "cron"]);
        let nextcloud = policies[0].spec.as_ref().unwrap();
        let sources = nextcloud.ingress.as_ref().unwrap()[0].from.as_ref().unwrap();
        assert_eq!(sources.len(), 2, "the ingress namespace and the office pool");
        let office = &nextcloud.egress.as_ref().unwrap()[2];
        assert_eq!(office.ports.as_ref().unwrap()[0].port, Some(IntOrString::Int(9980)));
    }
}
