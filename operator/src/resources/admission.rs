//! Cluster-wide rules the API server itself enforces in every tenant namespace (a
//! ValidatingAdmissionPolicy: CEL inside the API server, so no webhook whose outage would block
//! the cluster): no Service of type LoadBalancer or NodePort, which would expose a town hall past
//! the ingress the Diputación controls. Not part of any tenant: the operator keeps it in place.

use k8s_openapi::api::admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding};
use serde_json::json;

use super::labels;

pub const POLICY: &str = "concejo-tenant-services";

fn managed() -> serde_json::Value {
    json!({labels::NAME: labels::MANAGER, labels::MANAGED_BY: labels::MANAGER, labels::COMPONENT: "admission"})
}

/// The policy: Services in tenant namespaces are ClusterIP (or headless, or ExternalName).
pub fn policy() -> Result<ValidatingAdmissionPolicy, serde_json::Error> {
    serde_json::from_value(json!({
        "metadata": {"name": POLICY, "labels": managed()},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["services"]
            }]},
            "validations": [{
                "expression": "!has(object.spec.type) || !(object.spec.type in ['LoadBalancer', 'NodePort'])",
                "messageExpression": "'Services of type ' + object.spec.type + ' are not allowed in town hall namespaces: they would \
                    expose the tenant past the province ingress. Use a ClusterIP Service and an Ingress for the tenant hosts \
                    (TLS from Secret tenant-tls) instead.'",
                "reason": "Forbidden"
            }]
        }
    }))
}

/// Where it applies: the namespaces concejo manages as tenants (their labels only concejo and
/// cluster administrators can set).
pub fn binding() -> Result<ValidatingAdmissionPolicyBinding, serde_json::Error> {
    serde_json::from_value(json!({
        "metadata": {"name": POLICY, "labels": managed()},
        "spec": {
            "policyName": POLICY,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchExpressions": [
                {"key": labels::MANAGED_BY, "operator": "In", "values": [labels::MANAGER]},
                {"key": labels::INE_CODE, "operator": "Exists"}
            ]}}
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_and_its_binding_are_well_formed() {
        let policy = policy().unwrap();
        let spec = policy.spec.unwrap();
        assert_eq!(spec.failure_policy.as_deref(), Some("Fail"));
        let validation = &spec.validations.unwrap()[0];
        assert!(validation.message_expression.as_deref().unwrap().contains("Ingress"));
        let binding = binding().unwrap().spec;
        assert_eq!(binding.policy_name, POLICY);
        assert_eq!(binding.validation_actions, ["Deny"]);
    }
}
