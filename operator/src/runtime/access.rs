//! What concejo itself may do on the API server, kind by kind, and why: the chart's RBAC grants
//! exactly this (`operator/tests/chart_rbac.rs` compares them), and every kind a component builds
//! is in it (the test below), so neither can drift from the builders.
//!
//! Not here on purpose: the permissions of the tenant roles. concejo grants those by binding the
//! ClusterRoles `concejo-tenant-admin` and `concejo-tenant-auditor` (`bind` on these two names
//! only), so it never holds pods/exec, port-forward or a tenant's workloads beyond what it builds.

use crate::resources::rbac;

/// One permission: verbs on resources of an API group, optionally only on some names.
#[derive(Clone, Copy, Debug)]
pub struct Access {
    pub group: &'static str,
    pub resources: &'static [&'static str],
    pub verbs: &'static [&'static str],
    /// Empty: any name.
    pub names: &'static [&'static str],
    pub why: &'static str,
}

const READ: &[&str] = &["get", "list", "watch"];
/// What concejo builds: watched (one cluster-wide watch per kind, filtered by its label), applied
/// server-side (create and patch), and pruned when no longer wanted.
const MANAGE: &[&str] = &["get", "list", "watch", "create", "patch", "delete"];

const fn access(
    group: &'static str,
    resources: &'static [&'static str],
    verbs: &'static [&'static str],
    why: &'static str,
) -> Access {
    Access { group, resources, verbs, names: &[], why }
}

/// Cluster-wide (the chart's ClusterRole).
pub const CLUSTER: &[Access] = &[
    access(
        "concejo.dev",
        &["provinces", "serviceplans", "municipalities"],
        &["get", "list", "watch", "patch"],
        "the API; patch for finalizers",
    ),
    access(
        "concejo.dev",
        &["provinces/status", "municipalities/status", "backups/status", "restores/status"],
        &["get", "patch"],
        "status, server-side applied",
    ),
    access("concejo.dev", &["backups", "restores"], READ, "requests of tenants and of the platform team, served"),
    access(
        "",
        &["namespaces"],
        MANAGE,
        "tenant, office pool and backup namespaces; delete only with deletionPolicy Delete or a disabled pool, and only namespaces labelled managed-by concejo (the chart's admission guard)",
    ),
    access(
        "",
        &["resourcequotas", "limitranges", "configmaps", "services", "persistentvolumeclaims"],
        MANAGE,
        "built per tenant or pool",
    ),
    access(
        "",
        &["secrets"],
        MANAGE,
        "TLS, suite and backup credentials, the CA; one watch filtered by concejo's label needs list cluster-wide (RBAC cannot limit a list to labels); updates and deletes only of Secrets labelled managed-by concejo (the chart's admission guard)",
    ),
    access("", &["pods"], READ, "the termination reports of backup, restore and drill runs"),
    access(
        "apps",
        &["deployments", "statefulsets"],
        MANAGE,
        "the suite, the office pool, the backup repository servers",
    ),
    access("batch", &["cronjobs", "jobs"], MANAGE, "backup schedules; backup, restore, retention and drill runs"),
    access(
        "networking.k8s.io",
        &["networkpolicies", "ingresses"],
        MANAGE,
        "isolation; the suite's and the pool's hosts",
    ),
    access("rbac.authorization.k8s.io", &["rolebindings"], MANAGE, "the tenant's bindings to the tenant roles"),
    Access {
        group: "rbac.authorization.k8s.io",
        resources: &["clusterroles"],
        verbs: &["bind"],
        names: &[rbac::ADMIN, rbac::AUDITOR],
        why: "granting the tenant roles without holding their permissions",
    },
    access("storage.k8s.io", &["storageclasses"], READ, "validation of spec.storage.class and of expansion"),
    access(
        "admissionregistration.k8s.io",
        &["validatingadmissionpolicies", "validatingadmissionpolicybindings"],
        &["get", "list", "watch", "create", "patch"],
        "the policy refusing LoadBalancer and NodePort Services in tenant namespaces",
    ),
    access("events.k8s.io", &["events"], &["create", "patch"], "Events on the objects concejo serves"),
];

/// In concejo's own namespace only (the chart's Role).
pub const OWN_NAMESPACE: &[Access] = &[access(
    "coordination.k8s.io",
    &["leases"],
    &["get", "list", "watch", "create", "update", "patch"],
    "leader election",
)];

#[cfg(test)]
mod tests {
    use kube::api::ApiResource;

    use super::*;
    use crate::resources::{Component, Registry, components};

    fn grants(group: &str, resource: &str, verb: &str) -> bool {
        CLUSTER.iter().any(|a| a.group == group && a.resources.contains(&resource) && a.verbs.contains(&verb))
    }

    #[test]
    fn every_kind_a_component_builds_is_watched_applied_and_pruned() {
        struct Kinds(Vec<ApiResource>);
        impl Registry for Kinds {
            fn add<C: Component>(&mut self) {
                self.0.push(ApiResource::erase::<C::Kind>(&()));
            }
        }
        let mut kinds = Kinds(Vec::new());
        components(&mut kinds);
        assert!(kinds.0.len() >= 10, "the registry is read");
        for kind in &kinds.0 {
            for verb in MANAGE {
                assert!(
                    grants(&kind.group, &kind.plural, verb),
                    "{verb} {}.{} is not granted",
                    kind.plural,
                    kind.group
                );
            }
        }
    }

    #[test]
    fn no_wildcard_and_no_escalation() {
        for a in CLUSTER.iter().chain(OWN_NAMESPACE) {
            assert!(!a.group.contains('*') && a.resources.iter().chain(a.verbs).all(|s| !s.contains('*')), "{a:?}");
            assert!(!a.verbs.contains(&"escalate") && !a.verbs.contains(&"impersonate"), "{a:?}");
            if a.verbs.contains(&"bind") {
                assert!(!a.names.is_empty(), "bind only on named roles: {a:?}");
            }
        }
        assert!(!grants("", "pods/exec", "create") && !grants("rbac.authorization.k8s.io", "roles", "create"));
    }
}
