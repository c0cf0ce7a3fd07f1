//! The tenant namespace, `muni-<ineCode>`, with Pod Security `restricted` enforced. It also
//! records the tenant being enforced, so that an invalid edit later keeps this state in force.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;

use super::{Component, Context, Part, labels};
use crate::domain::{ValidTenant, tenant};

/// Labels of the Pod Security admission: `restricted` enforced, and audited and warned too so
/// that `kubectl` shows why a pod is refused.
pub const POD_SECURITY: [(&str, &str); 4] = [
    ("pod-security.kubernetes.io/enforce", "restricted"),
    ("pod-security.kubernetes.io/enforce-version", "latest"),
    ("pod-security.kubernetes.io/audit", "restricted"),
    ("pod-security.kubernetes.io/warn", "restricted"),
];

pub struct TenantNamespace;

impl Component for TenantNamespace {
    type Kind = Namespace;
    const PART: Part = Part::Isolation;
    /// Cluster-scoped: named after the tenant, never pruned.
    const NAMES: &'static [&'static str] = &[];

    fn build(tenant: &ValidTenant, _: &Context<'_>) -> Vec<Namespace> {
        vec![build(tenant)]
    }

    fn owns(name: &str, namespace: Option<&str>) -> bool {
        namespace.is_none() && tenant::ine_code_of_namespace(name).is_some()
    }
}

/// The complete desired Namespace of a tenant.
pub fn build(tenant: &ValidTenant) -> Namespace {
    let mut metadata = labels::metadata(tenant, &tenant.namespace(), None, "tenant");
    let l = metadata.labels.get_or_insert_default();
    l.insert(labels::ENS_CATEGORY.into(), tenant.ens_category.as_str().into());
    l.extend(POD_SECURITY.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    // Serializing plain data to JSON cannot fail.
    let enforced = serde_json::to_string(tenant).unwrap_or_default();
    metadata.annotations = Some(BTreeMap::from([
        (labels::ENFORCED_ANNOTATION.to_owned(), enforced),
        (labels::HOSTS_ANNOTATION.to_owned(), tenant.hosts.join(",")),
    ]));
    Namespace { metadata, ..Namespace::default() }
}

/// The tenant a namespace says concejo enforces there (None if absent or unreadable).
pub fn enforced(namespace: &Namespace) -> Option<ValidTenant> {
    let json = namespace.metadata.annotations.as_ref()?.get(labels::ENFORCED_ANNOTATION)?;
    serde_json::from_str(json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{municipality, valid};

    #[test]
    fn namespace_is_named_labelled_and_restricted() {
        let ns = build(&valid(&municipality("ponferrada", "24115")));
        assert_eq!(ns.metadata.name.as_deref(), Some("muni-24115"));
        let labels = ns.metadata.labels.clone().unwrap();
        assert_eq!(labels[labels::MANAGED_BY], "concejo");
        assert_eq!(labels[labels::INE_CODE], "24115");
        assert_eq!(labels[labels::PROVINCE], "leon");
        assert_eq!(labels[labels::INSTANCE], "ponferrada");
        assert_eq!(labels[labels::ENS_CATEGORY], "Media");
        assert_eq!(labels["pod-security.kubernetes.io/enforce"], "restricted");
        assert!(ns.spec.is_none(), "the namespace spec is left to Kubernetes");
        let hosts = &ns.metadata.annotations.as_ref().unwrap()[labels::HOSTS_ANNOTATION];
        assert_eq!(hosts, "ponferrada.nube.dipuleon.es", "what the ingress policy lets the tenant serve");
    }

    #[test]
    fn the_namespace_remembers_the_tenant_it_enforces() {
        let tenant = valid(&municipality("ponferrada", "24115"));
        assert_eq!(enforced(&build(&tenant)), Some(tenant));
        assert_eq!(enforced(&Namespace::default()), None);
    }

    #[test]
    fn only_tenant_namespaces_are_owned() {
        assert!(TenantNamespace::owns("muni-24115", None));
        assert!(!TenantNamespace::owns("kube-system", None));
        assert!(!TenantNamespace::owns("muni-24115", Some("muni-24115")));
    }
}
