//! The tenant's Roles and RoleBindings: `tenant-admin` manages workloads, configuration and
//! secrets; `tenant-auditor` reads. Explicit verbs and resources only, never a wildcard, and
//! neither may change the quota, limits, network policies or roles that isolate the tenant.

use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject as RbacSubject};

use super::{Component, Context, Part, labels};
use crate::api::v1alpha1::{Subject, SubjectKind};
use crate::domain::ValidTenant;

pub const ADMIN: &str = "tenant-admin";
pub const AUDITOR: &str = "tenant-auditor";

pub struct Roles;

impl Component for Roles {
    type Kind = Role;
    const PART: Part = Part::Isolation;
    const NAMES: &'static [&'static str] = &[ADMIN, AUDITOR];

    fn build(tenant: &ValidTenant, _: &Context<'_>) -> Vec<Role> {
        build_roles(tenant)
    }
}

pub struct RoleBindings;

impl Component for RoleBindings {
    type Kind = RoleBinding;
    const PART: Part = Part::Isolation;
    const NAMES: &'static [&'static str] = &["tenant-admins", "tenant-auditors"];

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
    ("", &["pods", "services", "configmaps", "persistentvolumeclaims", "serviceaccounts", "endpoints"]),
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
    rules.extend(GUARDRAILS.iter().map(|(g, r)| rule(g, r, READ)));
    rules
}

fn auditor_rules() -> Vec<PolicyRule> {
    // Auditors read everything but secrets' contents, and cannot exec into pods.
    let mut rules: Vec<_> = WORKLOADS.iter().map(|(g, r)| rule(g, r, READ)).collect();
    rules.push(rule("", &["pods/log"], READ));
    rules.push(rule("concejo.dev", BACKUP_KINDS, READ));
    rules.extend(GUARDRAILS.iter().map(|(g, r)| rule(g, r, READ)));
    rules
}

fn role(tenant: &ValidTenant, name: &str, rules: Vec<PolicyRule>) -> Role {
    Role { metadata: labels::metadata(tenant, name, Some(tenant.namespace()), "rbac"), rules: Some(rules) }
}

fn binding(tenant: &ValidTenant, role: &str, subjects: &[Subject]) -> RoleBinding {
    RoleBinding {
        metadata: labels::metadata(tenant, &format!("{role}s"), Some(tenant.namespace()), "rbac"),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
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

pub fn build_roles(tenant: &ValidTenant) -> Vec<Role> {
    vec![role(tenant, ADMIN, admin_rules()), role(tenant, AUDITOR, auditor_rules())]
}

pub fn build_bindings(tenant: &ValidTenant) -> Vec<RoleBinding> {
    vec![binding(tenant, ADMIN, &tenant.admins), binding(tenant, AUDITOR, &tenant.auditors)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{municipality, valid};

    #[test]
    fn no_wildcards_and_auditors_only_read() {
        let roles = build_roles(&valid(&municipality("ponferrada", "24115")));
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
        let roles = build_roles(&valid(&municipality("ponferrada", "24115")));
        let admin = roles.iter().find(|r| r.metadata.name.as_deref() == Some(ADMIN)).unwrap();
        for rule in admin.rules.as_ref().unwrap() {
            let guarded = rule.resources.as_ref().unwrap().iter().any(|r| {
                ["resourcequotas", "limitranges", "networkpolicies", "roles", "rolebindings"].contains(&r.as_str())
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
        assert_eq!(admins.role_ref.name, ADMIN);
        let subject = &admins.subjects.as_ref().unwrap()[0];
        assert_eq!((subject.kind.as_str(), subject.name.as_str()), ("Group", "oidc:leon-admins"));
        assert!(bindings[1].subjects.as_ref().unwrap().is_empty());
        for b in &bindings {
            assert!(RoleBindings::NAMES.contains(&b.metadata.name.as_deref().unwrap()));
        }
    }
}
