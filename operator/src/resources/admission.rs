//! Cluster-wide rules the API server itself enforces in every tenant namespace
//! (ValidatingAdmissionPolicies: CEL inside the API server, so no webhook whose outage would block
//! the cluster). Not part of any tenant: the operator keeps them in place.
//!
//! - `concejo-tenant-services`: Services are ClusterIP (or headless) without `externalIPs`. A
//!   LoadBalancer or NodePort would expose a town hall past the ingress the Diputación controls;
//!   `externalIPs` let whoever sets them take traffic meant for those addresses (CVE-2020-8554);
//!   an ExternalName Service turns the province's ingress controller into a proxy to any name,
//!   another tenant's Services included.
//! - `concejo-tenant-ingresses`: an Ingress serves only the tenant's own hosts (the namespace's
//!   `concejo.dev/hosts` annotation, which concejo writes and tenants cannot change), with a host on
//!   every rule and no default backend, so one town hall cannot take another's traffic at the
//!   shared ingress controller.

use k8s_openapi::api::admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding};
use serde_json::{Value, json};

use super::labels;

/// The Services rule.
pub const SERVICES: &str = "concejo-tenant-services";
/// The Ingresses rule.
pub const INGRESSES: &str = "concejo-tenant-ingresses";

fn managed() -> Value {
    json!({labels::NAME: labels::MANAGER, labels::MANAGED_BY: labels::MANAGER, labels::COMPONENT: "admission"})
}

fn rules(group: &str, resource: &str) -> Value {
    json!({"resourceRules": [{
        "apiGroups": [group], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": [resource]
    }]})
}

fn services() -> Value {
    json!({
        "failurePolicy": "Fail",
        "matchConstraints": rules("", "services"),
        "validations": [
            {
                "expression": "!has(object.spec.type) || !(object.spec.type in ['LoadBalancer', 'NodePort', 'ExternalName'])",
                "messageExpression": "'Services of type ' + object.spec.type + ' are not allowed in town hall namespaces: ' + \
                    (object.spec.type == 'ExternalName' ? 'the province ingress would proxy to any name. ' : \
                    'they would expose the tenant past the province ingress. ') + \
                    'Use a ClusterIP Service with a selector and an Ingress for the tenant hosts (TLS from Secret tenant-tls) instead.'",
                "reason": "Forbidden"
            },
            {
                "expression": "!has(object.spec.externalIPs) || object.spec.externalIPs.size() == 0",
                "message": "spec.externalIPs is not allowed in town hall namespaces: it takes traffic meant for those \
                    addresses (CVE-2020-8554). Remove it; the tenant is reached through the province ingress.",
                "reason": "Forbidden"
            }
        ]
    })
}

fn ingresses() -> Value {
    json!({
        "failurePolicy": "Fail",
        "matchConstraints": rules("networking.k8s.io", "ingresses"),
        "variables": [{
            "name": "hosts",
            "expression": format!(
                "has(namespaceObject.metadata.annotations) && '{key}' in namespaceObject.metadata.annotations \
                 ? namespaceObject.metadata.annotations['{key}'].split(',') : []",
                key = labels::HOSTS_ANNOTATION
            )
        }],
        "validations": [
            {
                "expression": "!has(object.spec.defaultBackend)",
                "message": "spec.defaultBackend is not allowed in town hall namespaces: it would catch every host at the \
                    province ingress. Give each rule one of the tenant's hosts instead.",
                "reason": "Forbidden"
            },
            {
                "expression": "!has(object.spec.rules) || object.spec.rules.all(r, has(r.host) && r.host in variables.hosts)",
                "messageExpression": "'every rule of an Ingress in a town hall namespace needs a host of this tenant (' + \
                    variables.hosts.join(', ') + '); not allowed: ' + \
                    object.spec.rules.filter(r, !has(r.host) || !(r.host in variables.hosts)) \
                    .map(r, has(r.host) ? r.host : '(no host)').join(', ') + \
                    '. Add a host to the Municipality\\'s spec.domains to serve it.'",
                "reason": "Forbidden"
            },
            {
                "expression": "!has(object.spec.tls) || object.spec.tls.all(t, !has(t.hosts) || t.hosts.all(h, h in variables.hosts))",
                "messageExpression": "'spec.tls of an Ingress in a town hall namespace may name only this tenant\\'s hosts (' + \
                    variables.hosts.join(', ') + ')'",
                "reason": "Forbidden"
            }
        ]
    })
}

/// Where a policy applies: the namespaces concejo manages as tenants (their labels only concejo and
/// cluster administrators can set), not the province's own (office pool, backup repository).
fn binding(name: &str) -> Value {
    json!({
        "metadata": {"name": name, "labels": managed()},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchExpressions": [
                {"key": labels::MANAGED_BY, "operator": "In", "values": [labels::MANAGER]},
                {"key": labels::COMPONENT, "operator": "In", "values": ["tenant"]},
                {"key": labels::INE_CODE, "operator": "Exists"}
            ]}}
        }
    })
}

/// Every policy with its binding.
pub fn policies() -> Result<Vec<(ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding)>, serde_json::Error> {
    [(SERVICES, services()), (INGRESSES, ingresses())]
        .into_iter()
        .map(|(name, spec)| {
            let policy =
                serde_json::from_value(json!({"metadata": {"name": name, "labels": managed()}, "spec": spec}))?;
            Ok((policy, serde_json::from_value(binding(name))?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policies_and_their_bindings_are_well_formed() {
        let all = policies().unwrap();
        assert_eq!(all.len(), 2);
        for (policy, binding) in &all {
            let spec = policy.spec.as_ref().unwrap();
            assert_eq!(spec.failure_policy.as_deref(), Some("Fail"));
            assert!(spec.validations.as_ref().unwrap().iter().all(|v| v.reason.as_deref() == Some("Forbidden")));
            assert_eq!(binding.spec.policy_name, policy.metadata.name.clone().unwrap());
            assert_eq!(binding.spec.validation_actions, ["Deny"]);
        }
        let services = all[0].0.spec.as_ref().unwrap().validations.as_ref().unwrap();
        assert!(services[0].message_expression.as_deref().unwrap().contains("Ingress"));
        assert!(services[1].message.as_deref().unwrap().contains("externalIPs"));
        let ingresses = all[1].0.spec.as_ref().unwrap();
        assert!(ingresses.variables.as_ref().unwrap()[0].expression.contains(labels::HOSTS_ANNOTATION));
    }

    #[test]
    fn the_bindings_select_tenant_namespaces_only() {
        let tenant =
            super::super::namespace::build(&crate::testing::valid(&crate::testing::municipality("leon", "24089")));
        let labels = tenant.metadata.labels.unwrap();
        let (_, binding) = &policies().unwrap()[0];
        let selector = binding.spec.match_resources.as_ref().unwrap().namespace_selector.as_ref().unwrap();
        for e in selector.match_expressions.as_ref().unwrap() {
            let value = labels.get(&e.key);
            let matches = match e.operator.as_str() {
                "In" => value.is_some_and(|v| e.values.as_ref().unwrap().contains(v)),
                "Exists" => value.is_some(),
                other => panic!("{other}"),
            };
            assert!(matches, "a tenant namespace does not match {e:?}");
        }
        let office = ["office", "concejo-backup"];
        let component =
            selector.match_expressions.as_ref().unwrap().iter().find(|e| e.key == labels::COMPONENT).unwrap();
        assert!(office.iter().all(|c| !component.values.as_ref().unwrap().contains(&c.to_string())));
    }
}
