//! The tenant roles and their bindings: `tenant-admin` manages workloads, configuration and
//! secrets; `tenant-auditor` reads. Explicit verbs and resources only, never a wildcard, and
//! neither may change the quota, limits, network policies or roles that isolate the tenant.
//!
//! The two roles are ClusterRoles, the same for every tenant, installed with concejo (the chart's
//! `templates/tenant-roles.yaml` is [`cluster_roles`] as YAML, `make crds` writes it); each tenant
//! namespace gets RoleBindings to them. So concejo needs only `bind` on these two names to grant
//! them, never the permissions themselves.

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, RoleBinding, RoleRef, Subject as RbacSubject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{Component, Context, Part, labels};
use crate::api::v1alpha1::{Subject, SubjectKind};
use crate::domain::ValidTenant;

/// The ClusterRole bound as a tenant's `tenant-admin` role.
pub const ADMIN: &str = "concejo-tenant-admin";
/// The ClusterRole bound as a tenant's `tenant-auditor` role.
pub const AUDITOR: &str = "concejo-tenant-auditor";
/// The bindings in each tenant namespace.
pub const BINDINGS: [&str; 2] = ["tenant-admins", "tenant-auditors"];

pub struct RoleBindings;

impl Component for RoleBindings {
    type Kind = RoleBinding;
    const PART: Part = Part::Isolation;
    const NAMES: &'static [&'static str] = &BINDINGS;

    fn build(tenant: &ValidTenant, _: &Context<'_>) -> Vec<RoleBinding> {
        build_bindings(tenant)
    }
}

const READ: &[&str] = &["get", "list", "watch"];
/// Backups and Restores: asked for and withdrawn, never edited (their status is concejo's).
const REQUESTS: &[&str] = &["get", "list", "watch", "create", "delete"];
const BACKUP_KINDS: &[&str] = &["backups", "restores"];
const WRITE: &[&str] = &["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"];

/// What the tenant runs: (API group, resources).
const WORKLOADS: &[(&str, &[&str])] = &[
    ("", &["pods", "services", "configmaps", "persistentvolumeclaims", "serviceaccounts"]),
    ("apps", &["deployments", "statefulsets", "replicasets", "deployments/scale", "statefulsets/scale"]),
    ("batch", &["jobs", "cronjobs"]),
    ("autoscaling", &["horizontalpodautoscalers"]),
    ("policy", &["poddisruptionbudgets"]),
    ("networking.k8s.io", &["ingresses"]),
];

/// What isolates the tenant: visible to its people, changeable by concejo only.
const GUARDRAILS: &[(&str, &[&str])] = &[
    ("", &["resourcequotas", "limitranges", "events"]),
    ("networking.k8s.io", &["networkpolicies"]),
    ("rbac.authorization.k8s.io", &["roles", "rolebindings"]),
    ("events.k8s.io", &["events"]),
];

/// Read, never written: Endpoints and EndpointSlices are what Services resolve to. Written by
/// hand, they point a Service (and so the province's ingress controller, which every tenant's
/// policies let in) at another tenant's pods (CVE-2021-25740); Kubernetes' own `edit` role dropped
/// them for that reason. The tenant's Services get theirs from their selectors.
const ROUTING: &[(&str, &[&str])] = &[("", &["endpoints"]), ("discovery.k8s.io", &["endpointslices"])];

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        ..Default::default()
    }
}

fn admin_rules() -> Vec<PolicyRule> {
    let mut rules: Vec<_> = WORKLOADS.iter().map(|(g, r)| rule(g, r, WRITE)).collect();
    rules.push(rule("", &["secrets"], WRITE));
    rules.push(rule("", &["pods/log"], READ));
    rules.push(rule("", &["pods/exec", "pods/portforward"], &["get", "create"]));
    rules.push(rule("concejo.dev", BACKUP_KINDS, REQUESTS));
    rules.extend(ROUTING.iter().chain(GUARDRAILS).map(|(g, r)| rule(g, r, READ)));
    rules
}

fn auditor_rules() -> Vec<PolicyRule> {
    // Auditors read everything but secrets' contents, and cannot exec into pods.
    let mut rules: Vec<_> = WORKLOADS.iter().map(|(g, r)| rule(g, r, READ)).collect();
    rules.push(rule("", &["pods/log"], READ));
    rules.push(rule("concejo.dev", BACKUP_KINDS, READ));
    rules.extend(ROUTING.iter().chain(GUARDRAILS).map(|(g, r)| rule(g, r, READ)));
    rules
}

fn cluster_role(name: &str, rules: Vec<PolicyRule>) -> ClusterRole {
    let labels = [("app.kubernetes.io/name", "concejo"), ("app.kubernetes.io/component", "tenant-role")];
    ClusterRole {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            // Uninstalling the chart must not take the tenants' people's access with it.
            annotations: Some([("helm.sh/resource-policy".to_string(), "keep".to_string())].into()),
            ..Default::default()
        },
        rules: Some(rules),
        ..Default::default()
    }
}

fn binding(tenant: &ValidTenant, name: &str, role: &str, subjects: &[Subject]) -> RoleBinding {
    RoleBinding {
        metadata: labels::metadata(tenant, name, Some(tenant.namespace()), "rbac"),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: role.into(),
        },
        subjects: Some(
            subjects
                .iter()
                .map(|s| RbacSubject {
                    api_group: Some("rbac.authorization.k8s.io".into()),
                    kind: match s.kind {
                        SubjectKind::Group => "Group",
                        SubjectKind::User => "User",
                    }
                    .into(),
                    name: s.name.clone(),
                    namespace: None,
                })
                .collect(),
        ),
    }
}

/// The tenant roles, the same for every tenant (installed with concejo, not per tenant).
pub fn cluster_roles() -> Vec<ClusterRole> {
    vec![cluster_role(ADMIN, admin_rules()), cluster_role(AUDITOR, auditor_rules())]
}

/// The tenant roles as the YAML the chart ships (`charts/concejo/templates/tenant-roles.yaml`).
pub fn cluster_roles_yaml() -> Result<String, serde_saphyr::ser::Error> {
    let mut out = String::from(
        "# Generated by `concejo tenant-roles` from operator/src/resources/rbac.rs; do not edit (run `make crds`).\n\
         # Without Helm: kubectl apply -f this file.\n",
    );
    for role in cluster_roles() {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&role)?);
    }
    Ok(out)
}

pub fn build_bindings(tenant: &ValidTenant) -> Vec<RoleBinding> {
    vec![binding(tenant, BINDINGS[0], ADMIN, &tenant.admins), binding(tenant, BINDINGS[1], AUDITOR, &tenant.auditors)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{municipality, valid};

    #[test]
    fn no_wildcards_and_auditors_only_read() {
        let roles = cluster_roles();
        for role in &roles {
            for rule in role.rules.as_ref().unwrap() {
                assert!(!rule.verbs.iter().any(|v| v == "*"));
                assert!(!rule.resources.as_ref().unwrap().iter().any(|r| r == "*"));
                assert!(!rule.api_groups.as_ref().unwrap().iter().any(|g| g == "*"));
            }
        }
        let auditor = roles.iter().find(|r| r.metadata.name.as_deref() == Some(AUDITOR)).unwrap();
        for rule in auditor.rules.as_ref().unwrap() {
            assert!(rule.verbs.iter().all(|v| READ.contains(&v.as_str())), "{rule:?}");
            assert!(!rule.resources.as_ref().unwrap().iter().any(|r| r == "secrets"));
        }
    }

    #[test]
    fn admins_cannot_change_what_isolates_them() {
        let roles = cluster_roles();
        let admin = roles.iter().find(|r| r.metadata.name.as_deref() == Some(ADMIN)).unwrap();
        for rule in admin.rules.as_ref().unwrap() {
            let guarded = rule.resources.as_ref().unwrap().iter().any(|r| {
                [
                    "resourcequotas",
                    "limitranges",
                    "networkpolicies",
                    "roles",
                    "rolebindings",
                    "endpoints",
                    "endpointslices",
                ]
                .contains(&r.as_str())
            });
            if guarded {
                assert!(rule.verbs.iter().all(|v| READ.contains(&v.as_str())), "{rule:?}");
            }
        }
    }

    #[test]
    fn bindings_name_the_listed_subjects() {
        let mut m = municipality("leon", "24089");
        m.spec.admins = vec![Subject { kind: SubjectKind::Group, name: "oidc:leon-admins".into() }];
        let bindings = build_bindings(&valid(&m));
        let admins = &bindings[0];
        assert_eq!(admins.metadata.name.as_deref(), Some("tenant-admins"));
        assert_eq!((admins.role_ref.kind.as_str(), admins.role_ref.name.as_str()), ("ClusterRole", ADMIN));
        let subject = &admins.subjects.as_ref().unwrap()[0];
        assert_eq!((subject.kind.as_str(), subject.name.as_str()), ("Group", "oidc:leon-admins"));
        assert!(bindings[1].subjects.as_ref().unwrap().is_empty());
        for b in &bindings {
            assert!(RoleBindings::NAMES.contains(&b.metadata.name.as_deref().unwrap()));
        }
    }
}
