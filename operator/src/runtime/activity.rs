//! concejo's own actions for the activity log (ENS op.exp.8): every object it creates, changes or
//! deletes is one event of target `concejo::activity` (a JSON line with `CONCEJO_LOG_JSON=true`),
//! with the tenant's INE code, province and Municipality when the object belongs to one. The API
//! server's audit log says the same as "concejo's service account patched X"; these lines say
//! which tenant it was for, in the Diputación's log pipeline, without joining anything.

use kube::api::ApiResource;
use serde_json::Value;
use tracing::info;

use crate::domain::tenant::ine_code_of_namespace;
use crate::resources::labels::{INE_CODE, INSTANCE, PROVINCE};

/// What concejo did to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    /// Server-side applied without looking first: created or changed.
    Apply,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Apply => "apply",
            Action::Delete => "delete",
        }
    }
}

/// The tenant an object belongs to, as far as its labels (every object concejo builds carries
/// them) or its namespace (`muni-<INE code>`) say.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tenant<'a> {
    pub ine_code: Option<&'a str>,
    pub province: Option<&'a str>,
    pub municipality: Option<&'a str>,
}

/// `object`: the object's body (desired or live), for its labels; None when only its name is known.
pub fn tenant_of<'a>(namespace: Option<&'a str>, object: Option<&'a Value>) -> Tenant<'a> {
    let label = |key: &str| object?.pointer("/metadata/labels")?.get(key)?.as_str();
    Tenant {
        ine_code: label(INE_CODE).or_else(|| namespace.and_then(ine_code_of_namespace)),
        province: label(PROVINCE),
        municipality: label(INSTANCE).filter(|_| label(INE_CODE).is_some()),
    }
}

/// Logs one write concejo made.
pub fn record(action: Action, resource: &ApiResource, namespace: Option<&str>, name: &str, object: Option<&Value>) {
    let tenant = tenant_of(namespace, object);
    info!(
        target: "concejo::activity",
        action = action.as_str(),
        kind = %resource.kind,
        group = %resource.group,
        namespace = namespace.unwrap_or(""),
        name,
        ine_code = tenant.ine_code,
        province = tenant.province,
        municipality = tenant.municipality,
        "{} {} {}{}", action.as_str(), resource.kind, namespace.map(|n| format!("{n}/")).unwrap_or_default(), name
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_tenant_comes_from_the_labels_else_from_the_namespace() {
        let body = json!({"metadata": {"name": "deny-all", "labels": {
            "concejo.dev/ine-code": "24089", "concejo.dev/province": "leon", "app.kubernetes.io/instance": "leon"}}});
        let expected = Tenant { ine_code: Some("24089"), province: Some("leon"), municipality: Some("leon") };
        assert_eq!(tenant_of(Some("muni-24089"), Some(&body)), expected);
        // The tenant Namespace itself is cluster-scoped: its labels say whose it is.
        assert_eq!(tenant_of(None, Some(&body)), expected);
        // A delete knows only where the object was.
        assert_eq!(tenant_of(Some("muni-24089"), None), Tenant { ine_code: Some("24089"), ..Tenant::default() });
        // The office pool is the province's, not a tenant's.
        let pool =
            json!({"metadata": {"labels": {"concejo.dev/province": "leon", "app.kubernetes.io/instance": "leon"}}});
        assert_eq!(
            tenant_of(Some("concejo-office-24"), Some(&pool)),
            Tenant { province: Some("leon"), ..Tenant::default() }
        );
    }
}
