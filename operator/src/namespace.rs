//! The tenant namespace, `muni-<ineCode>`.

use k8s_openapi::api::core::v1::Namespace;
use kube::api::ObjectMeta;

use crate::labels;
use crate::tenant::ValidTenant;

/// The complete desired Namespace of a tenant.
pub fn build(tenant: &ValidTenant) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(tenant.namespace()),
            labels: Some(labels::for_tenant(&tenant.name, &tenant.ine_code, &tenant.province, "tenant")),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::{tests::*, validate};

    #[test]
    fn namespace_is_named_and_labelled_after_the_municipality() {
        let tenant = validate(&municipality("ponferrada", "24115"), Some(&leon())).unwrap();
        let ns = build(&tenant);
        assert_eq!(ns.metadata.name.as_deref(), Some("muni-24115"));
        let labels = ns.metadata.labels.unwrap();
        assert_eq!(labels[labels::MANAGED_BY], "concejo");
        assert_eq!(labels[labels::INE_CODE], "24115");
        assert_eq!(labels[labels::PROVINCE], "leon");
        assert_eq!(labels[labels::INSTANCE], "ponferrada");
        assert!(ns.spec.is_none(), "the namespace spec is left to Kubernetes");
    }
}
