//! A Municipality checked against everything it refers to: what every builder reads.

use serde::{Deserialize, Serialize};

use super::images;
use crate::api::v1alpha1::{EgressRule, EnsCategory, ProvincePki, Sara, ServicePlanSpec, Subject};

/// Everything needed to build the tenant's objects, checked. It is also what concejo keeps
/// enforcing while a later edit of the spec is invalid, so it round-trips through JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidTenant {
    /// `metadata.name` of the Municipality.
    pub name: String,
    pub ine_code: String,
    pub display_name: String,
    /// `metadata.name` of the Province.
    pub province: String,
    pub ens_category: EnsCategory,
    pub plan_name: String,
    pub plan: ServicePlanSpec,
    pub admins: Vec<Subject>,
    pub auditors: Vec<Subject>,
    /// `<name>.<baseDomain>` first, then `spec.domains`.
    pub hosts: Vec<String>,
    pub network: TenantNetwork,
    /// The province's certificate settings.
    pub pki: ProvincePki,
    /// The tenant's volumes, when it has any (collaboration enabled, or `spec.storage` set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<TenantStorage>,
    /// The collaboration suite, when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collaboration: Option<TenantCollaboration>,
    /// Backups of its volumes, when it has volumes and wants them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<super::backup::TenantBackup>,
    /// Workloads scaled to zero, scheduled jobs suspended.
    #[serde(default)]
    pub suspend: bool,
}

/// The tenant's volumes, resolved and checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantStorage {
    /// StorageClass of every volume.
    pub class: String,
    /// Size of the file volume, e.g. "100Gi".
    pub files: String,
    /// Size of the database volume, e.g. "10Gi".
    pub database: String,
}

/// The collaboration suite, resolved from the plan and the province.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantCollaboration {
    /// Users the plan sizes it for.
    pub users: i32,
    /// IngressClass of its Ingress; the cluster's default when `None`.
    pub ingress_class: Option<String>,
    /// The province's office pool, when it runs one.
    pub office: Option<OfficePool>,
    pub images: images::Resolved,
}

/// Where the province's office pool is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfficePool {
    /// `https://office.<baseDomain>`, where browsers reach it.
    pub url: String,
    /// Its namespace, `concejo-office-<province INE code>`.
    pub namespace: String,
    /// Where Nextcloud reaches it inside the cluster (its Service), `http://office.<namespace>.svc.cluster.local:9980`.
    #[serde(default)]
    pub service: String,
}

/// Port of Nextcloud's web container, and of the pool's Service.
pub const WEB_PORT: u16 = 8080;
pub const OFFICE_PORT: u16 = 9980;

/// Nextcloud's in-cluster address, which the office pool calls back (WOPI) instead of going out
/// through the ingress: `nextcloud.muni-<ineCode>.svc.cluster.local`.
pub fn internal_web_host(ine_code: &str) -> String {
    format!("nextcloud.{}.svc.cluster.local", namespace_name(ine_code))
}

/// The office pool's in-cluster URL.
pub fn office_service_url(province_ine_code: &str) -> String {
    format!("http://office.{}.svc.cluster.local:{OFFICE_PORT}", office_namespace(province_ine_code))
}

/// The network a tenant may use, resolved from its Province and its own spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantNetwork {
    pub ingress_namespace: Option<String>,
    pub monitoring_namespace: Option<String>,
    /// The province's SARA, when the tenant asked for it.
    pub sara: Option<Sara>,
    pub egress: Vec<EgressRule>,
}

impl ValidTenant {
    /// The tenant namespace, `muni-<ineCode>`.
    pub fn namespace(&self) -> String {
        namespace_name(&self.ine_code)
    }
}

/// The tenant namespace of an INE code: unique per municipality by construction.
pub fn namespace_name(ine_code: &str) -> String {
    format!("muni-{ine_code}")
}

/// The namespace of a province's office pool: `concejo-office-<province INE code>`.
pub fn office_namespace(province_ine_code: &str) -> String {
    format!("concejo-office-{province_ine_code}")
}

/// The INE code of a tenant namespace name, if it is one.
pub fn ine_code_of_namespace(namespace: &str) -> Option<&str> {
    namespace.strip_prefix("muni-").filter(|c| c.len() == 5 && c.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{municipality, valid};

    #[test]
    fn namespace_names_round_trip() {
        assert_eq!(namespace_name("24089"), "muni-24089");
        assert_eq!(ine_code_of_namespace("muni-24089"), Some("24089"));
        assert_eq!(ine_code_of_namespace("muni-2408"), None);
        assert_eq!(ine_code_of_namespace("kube-system"), None);
    }

    #[test]
    fn a_tenant_round_trips_through_json() {
        let tenant = valid(&municipality("ponferrada", "24115"));
        let back: ValidTenant = serde_json::from_str(&serde_json::to_string(&tenant).unwrap()).unwrap();
        assert_eq!(back, tenant);
    }
}
