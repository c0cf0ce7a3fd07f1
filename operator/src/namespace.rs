//! The tenant namespace, `muni-<ineCode>`, with Pod Security `restricted` enforced.

use k8s_openapi::api::core::v1::Namespace;

use crate::labels;
use crate::tenant::ValidTenant;

/// Labels of the Pod Security admission: `restricted` enforced, and audited and warned too so
/// that `kubectl` shows why a pod is refused.
const POD_SECURITY: [(&str, &str); 4] = [
    ("pod-security.kubernetes.io/enforce", "restricted"),
    ("pod-security.kubernetes.io/enforce-version", "latest"),
    ("pod-security.kubernetes.io/audit", "restricted"),
    ("pod-security.kubernetes.io/warn", "restricted"),
];

/// The complete desired Namespace of a tenant.
pub fn build(tenant: &ValidTenant) -> Namespace {
    let mut metadata = labels::metadata(tenant, &tenant.namespace(), None, "tenant");
    let l = metadata.labels.get_or_insert_default();
    l.insert(labels::ENS_CATEGORY.into(), tenant.ens_category.as_str().into());
    l.extend(POD_SECURITY.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Namespace { metadata, ..Namespace::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::tests::*;

    #[test]
    fn namespace_is_named_labelled_and_restricted() {
        let ns = build(&valid(&municipality("ponferrada", "24115")));
        assert_eq!(ns.metadata.name.as_deref(), Some("muni-24115"));
        let labels = ns.metadata.labels.unwrap();
        assert_eq!(labels[labels::MANAGED_BY], "concejo");
        assert_eq!(labels[labels::INE_CODE], "24115");
        assert_eq!(labels[labels::PROVINCE], "leon");
        assert_eq!(labels[labels::INSTANCE], "ponferrada");
        assert_eq!(labels[labels::ENS_CATEGORY], "Media");
        assert_eq!(labels["pod-security.kubernetes.io/enforce"], "restricted");
        assert!(ns.spec.is_none(), "the namespace spec is left to Kubernetes");
    }
}
