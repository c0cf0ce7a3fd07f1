//! The suite's network policies, on top of the tenant's deny-by-default ones (which leave the
//! suite's pods out of every other allowance): only the ingress namespace and the office pool
//! reach Nextcloud's web port; only Nextcloud (and its background jobs) reach PostgreSQL and
//! Redis, and the tenant's backup runs PostgreSQL for its dump; Nextcloud may leave the namespace
//! only for the office pool (and DNS).

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::super::netpol::{components, egress, ingress, namespace, spec, tcp};
use super::super::{Component, Context, Part, backup, labels};
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
        let users = components("In", &[NEXTCLOUD, CRON]);
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
        let mut out = vec![
            egress(vec![pods(components("In", &[POSTGRES]))], vec![tcp(POSTGRES_PORT)]),
            egress(vec![pods(components("In", &[REDIS]))], vec![tcp(REDIS_PORT)]),
        ];
        out.extend(office.map(|o| egress(vec![o], vec![tcp(OFFICE_PORT)])));
        let web = ingress(from, vec![tcp(WEB_PORT)]);
        let only = |who: &LabelSelector, port| vec![ingress(vec![pods(who.clone())], vec![tcp(port)])];
        // The database is also dumped by the tenant's backup runs.
        let database_users = match &tenant.backup {
            Some(b) if b.missing.is_none() => components("In", &[NEXTCLOUD, CRON, backup::COMPONENT]),
            _ => users.clone(),
        };
        vec![
            policy(tenant, "suite-nextcloud", users.clone(), vec![web], out),
            policy(
                tenant,
                "suite-postgres",
                components("In", &[POSTGRES]),
                only(&database_users, POSTGRES_PORT),
                vec![],
            ),
            policy(tenant, "suite-redis", components("In", &[REDIS]), only(&users, REDIS_PORT), vec![]),
        ]
    }
}

fn pods(selector: LabelSelector) -> NetworkPolicyPeer {
    NetworkPolicyPeer { pod_selector: Some(selector), ..Default::default() }
}

fn policy(
    tenant: &ValidTenant,
    name: &str,
    pods: LabelSelector,
    ingress: Vec<NetworkPolicyIngressRule>,
    egress: Vec<NetworkPolicyEgressRule>,
) -> NetworkPolicy {
    NetworkPolicy {
        metadata: labels::metadata(tenant, name, Some(tenant.namespace()), "network-policy"),
        spec: Some(spec(pods, ingress, egress, &["Ingress", "Egress"])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{municipality, valid};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

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

    #[test]
    fn backup_runs_reach_the_database_of_a_backed_up_tenant() {
        let mut m = municipality("leon", "24089");
        m.spec.collaboration.enabled = true;
        let tenant = crate::testing::valid_in(&m, |p| p.spec.backup.target = Some(crate::testing::s3_target("c")));
        assert!(tenant.backup.is_some());
        let policies = SuitePolicies::build(&tenant, &Context::default());
        let allowed = |i: usize| {
            let rule = &policies[i].spec.as_ref().unwrap().ingress.as_ref().unwrap()[0];
            let from = &rule.from.as_ref().unwrap()[0];
            from.pod_selector.as_ref().unwrap().match_expressions.as_ref().unwrap()[0].values.clone().unwrap()
        };
        assert_eq!(allowed(1), ["nextcloud", "cron", "backup"], "PostgreSQL");
        assert_eq!(allowed(2), ["nextcloud", "cron"], "Redis");
    }
}
