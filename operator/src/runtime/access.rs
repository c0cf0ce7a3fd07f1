//! What concejo itself may do on the API server, kind by kind, and why: the chart's RBAC grants
//! exactly this (`operator/tests/chart_rbac.rs` compares them), and every kind a component builds
//! is in it (the test below), so neither can drift from the builders.
//!
//! Not here on purpose: the permissions of the tenant roles. concejo grants those by binding the
//! ClusterRoles `concejo-tenant-admin` and `concejo-tenant-auditor` (`bind` on these two names
//! only), so it never holds pods/exec, port-forward or a tenant's workloads beyond what it builds.

use crate::resources::backup::repository;
use crate::resources::{backup, collaboration, office, rbac, tls};

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
        &["create"],
        "its Secrets in tenant, pool and backup namespaces; RBAC cannot limit a create by name, so the chart's admission guard admits only Secrets labelled managed-by concejo, never a service-account token",
    ),
    Access {
        group: "",
        resources: &["secrets"],
        verbs: &["get", "list", "watch", "patch", "delete"],
        names: SECRETS,
        why: "its Secrets, by name only: watched one name at a time (a field selector on the name, which RBAC authorizes by resourceNames); changes and deletes further limited to Secrets labelled managed-by concejo (the admission guard)",
    },
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

/// The names of every Secret concejo makes outside its own namespace.
pub const SECRETS: &[&str] = &[
    tls::SECRET_NAME,
    collaboration::credentials::NAME,
    backup::credentials::NAME,
    office::tls::SECRET_NAME,
    repository::S3_SECRET,
    repository::SECONDARY_SECRET,
    repository::HTPASSWD_SECRET,
    repository::ADMIN_SECRET,
    repository::ADMIN_HTPASSWD_SECRET,
    repository::PASSWORDS_SECRET,
];

/// In concejo's own namespace only (the chart's Role).
pub const OWN_NAMESPACE: &[Access] = &[
    access(
        "coordination.k8s.io",
        &["leases"],
        &["get", "list", "watch", "create", "update", "patch"],
        "leader election",
    ),
    access(
        "",
        &["secrets"],
        MANAGE,
        "the provinces' CAs, the roots the platform team brings, the escrowed backup keys, the buckets' credentials",
    ),
];

#[cfg(test)]
mod tests {
    use kube::api::ApiResource;

    use super::*;
    use crate::resources::{Component, Registry, components};

    /// Whether CLUSTER grants the verb on every name.
    fn grants(group: &str, resource: &str, verb: &str) -> bool {
        CLUSTER.iter().any(|a| {
            a.group == group && a.resources.contains(&resource) && a.verbs.contains(&verb) && a.names.is_empty()
        })
    }

    fn grants_named(group: &str, resource: &str, verb: &str, name: &str) -> bool {
        grants(group, resource, verb)
            || CLUSTER.iter().any(|a| {
                a.group == group
                    && a.resources.contains(&resource)
                    && a.verbs.contains(&verb)
                    && a.names.contains(&name)
            })
    }

    #[test]
    fn every_kind_a_component_builds_is_watched_applied_and_pruned() {
        struct Kinds(Vec<(ApiResource, &'static [&'static str])>);
        impl Registry for Kinds {
            fn add<C: Component>(&mut self) {
                self.0.push((ApiResource::erase::<C::Kind>(&()), C::NAMES));
            }
        }
        let mut kinds = Kinds(Vec::new());
        components(&mut kinds);
        assert!(kinds.0.len() >= 10, "the registry is read");
        for (kind, names) in &kinds.0 {
            for verb in MANAGE {
                // Creates cannot be limited by name; the rest may be, to the names the kind has.
                let granted = if *verb == "create" || names.is_empty() {
                    grants(&kind.group, &kind.plural, verb)
                } else {
                    names.iter().all(|n| grants_named(&kind.group, &kind.plural, verb, n))
                };
                assert!(granted, "{verb} {}.{} is not granted", kind.plural, kind.group);
            }
        }
    }

    #[test]
    fn every_secret_a_component_or_a_province_makes_is_named() {
        struct Names(Vec<&'static str>);
        impl Registry for Names {
            fn add<C: Component>(&mut self) {
                if ApiResource::erase::<C::Kind>(&()).plural == "secrets" {
                    self.0.extend(C::NAMES);
                }
            }
        }
        let mut names = Names(Vec::new());
        components(&mut names);
        assert!(names.0.len() >= 3, "TLS, suite and backup credentials: {:?}", names.0);
        for name in names.0.iter().chain(repository::SECRETS).chain([&office::tls::SECRET_NAME]) {
            assert!(SECRETS.contains(name), "Secret {name} is not in access::SECRETS");
        }
        assert!(!grants("", "secrets", "list"), "no list of every Secret");
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
