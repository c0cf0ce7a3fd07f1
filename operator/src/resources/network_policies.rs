//! The tenant's NetworkPolicies: deny everything, then allow DNS, the namespace itself, the
//! province's ingress and monitoring namespaces, Red SARA and the listed egress destinations.
//! The collaboration suite's pods are left out of those allowances (all but DNS): their own
//! policies (`collaboration::network`) say exactly what reaches them and what they reach.

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::backup;
use super::collaboration::POD_COMPONENTS;
use super::netpol::{self, dns_ports, egress, ingress, tcp};
use super::{Component, Context, Part, labels};
use crate::domain::ValidTenant;

pub struct NetworkPolicies;

impl Component for NetworkPolicies {
    type Kind = NetworkPolicy;
    const PART: Part = Part::Isolation;
    const NAMES: &'static [&'static str] = &[
        "deny-all",
        "allow-dns",
        "allow-same-namespace",
        "allow-from-ingress",
        "allow-from-monitoring",
        "allow-sara",
        "allow-egress",
    ];

    fn build(tenant: &ValidTenant, _: &Context<'_>) -> Vec<NetworkPolicy> {
        build(tenant)
    }
}

/// Every NetworkPolicy the tenant should have, by name.
pub fn build(tenant: &ValidTenant) -> Vec<NetworkPolicy> {
    let net = &tenant.network;
    let mut policies = vec![
        policy(tenant, "deny-all", vec![], vec![], &["Ingress", "Egress"]),
        policy(tenant, "allow-dns", vec![], vec![egress(vec![netpol::dns()], dns_ports())], &["Egress"]),
        policy(
            tenant,
            "allow-same-namespace",
            vec![ingress(vec![same_namespace()], vec![])],
            vec![egress(vec![same_namespace()], vec![])],
            &["Ingress", "Egress"],
        ),
    ];
    for (name, namespace) in
        [("allow-from-ingress", &net.ingress_namespace), ("allow-from-monitoring", &net.monitoring_namespace)]
    {
        if let Some(ns) = namespace {
            policies.push(policy(
                tenant,
                name,
                vec![ingress(vec![netpol::namespace(ns)], vec![])],
                vec![],
                &["Ingress"],
            ));
        }
    }
    if let Some(sara) = &net.sara {
        let mut rules = vec![egress(sara.cidrs.iter().map(|c| ip_block(c)).collect(), vec![])];
        if let Some(resolver) = &sara.resolver {
            let cidr = if resolver.contains(':') { format!("{resolver}/128") } else { format!("{resolver}/32") };
            rules.push(egress(vec![ip_block(&cidr)], dns_ports()));
        }
        policies.push(policy(tenant, "allow-sara", vec![], rules, &["Egress"]));
    }
    if !net.egress.is_empty() {
        let rules = net
            .egress
            .iter()
            .map(|r| egress(vec![ip_block(&r.cidr)], r.ports.iter().map(|p| tcp(*p)).collect()))
            .collect();
        policies.push(policy(tenant, "allow-egress", vec![], rules, &["Egress"]));
    }
    policies
}

fn policy(
    tenant: &ValidTenant,
    name: &str,
    ingress: Vec<NetworkPolicyIngressRule>,
    egress: Vec<NetworkPolicyEgressRule>,
    types: &[&str],
) -> NetworkPolicy {
    // Every pod for deny-all and DNS; for the allowances, every pod but those with policies of
    // their own (the suite's, and the backup runs', which may reach their repository only).
    let governed: Vec<&str> = POD_COMPONENTS.iter().copied().chain([backup::COMPONENT]).collect();
    let pods = match name {
        "deny-all" | "allow-dns" => LabelSelector::default(),
        _ => netpol::components("NotIn", &governed),
    };
    NetworkPolicy {
        metadata: labels::metadata(tenant, name, Some(tenant.namespace()), "network-policy"),
        spec: Some(netpol::spec(pods, ingress, egress, types)),
    }
}

fn same_namespace() -> NetworkPolicyPeer {
    NetworkPolicyPeer { pod_selector: Some(LabelSelector::default()), ..Default::default() }
}

fn ip_block(cidr: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer { ip_block: Some(IPBlock { cidr: cidr.to_owned(), except: None }), ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::v1alpha1::{EgressRule, Sara};
    use crate::testing::{municipality, valid};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn names(policies: &[NetworkPolicy]) -> Vec<&str> {
        policies.iter().map(|p| p.metadata.name.as_deref().unwrap()).collect()
    }

    #[test]
    fn a_plain_tenant_is_denied_everything_but_dns_and_itself() {
        let policies = build(&valid(&municipality("ponferrada", "24115")));
        assert_eq!(names(&policies), ["deny-all", "allow-dns", "allow-same-namespace"]);
        let deny = policies[0].spec.as_ref().unwrap();
        assert_eq!(deny.pod_selector, Some(LabelSelector::default()));
        assert_eq!((deny.ingress.as_deref(), deny.egress.as_deref()), (Some(&[][..]), Some(&[][..])));
        assert_eq!(deny.policy_types.as_deref(), Some(&["Ingress".to_owned(), "Egress".to_owned()][..]));
        // The allowances leave out the pods with policies of their own: the suite's and backup runs'.
        let same = policies[2].spec.as_ref().unwrap().pod_selector.clone().unwrap();
        let left_out = same.match_expressions.unwrap()[0].values.clone().unwrap();
        assert_eq!(left_out, ["nextcloud", "postgres", "redis", "cron", "backup"]);
    }

    #[test]
    fn platform_namespaces_sara_and_egress_are_allowed_when_configured() {
        let mut tenant = valid(&municipality("ponferrada", "24115"));
        tenant.network.ingress_namespace = Some("ingress-nginx".into());
        tenant.network.monitoring_namespace = Some("monitoring".into());
        tenant.network.sara = Some(Sara {
            cidrs: vec!["10.252.0.0/16".into(), "10.253.0.0/16".into()],
            resolver: Some("10.252.0.53".into()),
        });
        tenant.network.egress = vec![EgressRule { cidr: "192.0.2.10/32".into(), ports: vec![443] }];
        let policies = build(&tenant);
        // Everything configured: every name the component may own, in that order.
        assert_eq!(names(&policies), NetworkPolicies::NAMES);
        let sara = policies[5].spec.as_ref().unwrap().egress.as_ref().unwrap();
        assert_eq!(sara[0].to.as_ref().unwrap().len(), 2);
        assert_eq!(sara[1].to.as_ref().unwrap()[0].ip_block.as_ref().unwrap().cidr, "10.252.0.53/32");
        let egress = &policies[6].spec.as_ref().unwrap().egress.as_ref().unwrap()[0];
        assert_eq!(egress.ports.as_ref().unwrap()[0].port, Some(IntOrString::Int(443)));
    }

    #[test]
    fn a_rule_without_ports_declares_none() {
        let mut tenant = valid(&municipality("ponferrada", "24115"));
        tenant.network.egress = vec![EgressRule { cidr: "192.0.2.10/32".into(), ports: vec![] }];
        let policies = build(&tenant);
        let rule = &policies.last().unwrap().spec.as_ref().unwrap().egress.as_ref().unwrap()[0];
        assert_eq!(rule.ports.as_deref(), Some(&[][..]), "ports must be declared empty, not left out");
    }
}
