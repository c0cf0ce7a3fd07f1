//! Names every managed object carries: labels, the field manager, the finalizer.

use std::collections::BTreeMap;

use kube::api::ObjectMeta;

use crate::domain::ValidTenant;

/// The one field manager for every server-side apply concejo makes.
pub const FIELD_MANAGER: &str = "concejo";
/// Keeps a Municipality until its tenant has been retained or removed.
pub const FINALIZER: &str = "concejo.dev/tenant";

pub const NAME: &str = "app.kubernetes.io/name";
pub const INSTANCE: &str = "app.kubernetes.io/instance";
pub const COMPONENT: &str = "app.kubernetes.io/component";
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const INE_CODE: &str = "concejo.dev/ine-code";
pub const PROVINCE: &str = "concejo.dev/province";
pub const ENS_CATEGORY: &str = "concejo.dev/ens-category";
/// On a namespace whose Municipality was deleted with `deletionPolicy: Retain`.
pub const RETAINED_ANNOTATION: &str = "concejo.dev/retained";
/// On every applied object: a hash of what concejo declared. A changed hash means the
/// declaration changed, so the object is applied again and server-side apply removes the fields
/// concejo no longer declares.
pub const APPLIED_ANNOTATION: &str = "concejo.dev/applied";
/// On the tenant namespace: the last valid tenant (JSON), which concejo keeps enforcing while a
/// later edit of the Municipality is invalid.
pub const ENFORCED_ANNOTATION: &str = "concejo.dev/enforced";
/// On the tenant namespace: the tenant's hosts, comma-separated, which the admission policy
/// `concejo-tenant-ingresses` lets its Ingresses serve (and no others).
pub const HOSTS_ANNOTATION: &str = "concejo.dev/hosts";

/// Value of `app.kubernetes.io/managed-by` and `app.kubernetes.io/name` on managed objects.
pub const MANAGER: &str = "concejo";

/// Selects every object concejo manages, for watches.
pub fn managed_selector() -> String {
    format!("{MANAGED_BY}={MANAGER}")
}

/// The labels of one managed object of a tenant.
pub fn for_tenant(municipality: &str, ine_code: &str, province: &str, component: &str) -> BTreeMap<String, String> {
    [
        (NAME, MANAGER),
        (INSTANCE, municipality),
        (COMPONENT, component),
        (MANAGED_BY, MANAGER),
        (INE_CODE, ine_code),
        (PROVINCE, province),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Metadata of one managed object of a tenant: name, namespace (None for cluster-scoped) and labels.
pub fn metadata(tenant: &ValidTenant, name: &str, namespace: Option<String>, component: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace,
        labels: Some(for_tenant(&tenant.name, &tenant.ine_code, &tenant.province, component)),
        ..ObjectMeta::default()
    }
}
