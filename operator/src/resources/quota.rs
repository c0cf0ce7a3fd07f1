//! The tenant's ResourceQuota, from its ServicePlan.

use k8s_openapi::api::core::v1::{ResourceQuota, ResourceQuotaSpec};

use super::{Component, Context, Part, labels};
use crate::domain::{ValidTenant, plan};

pub const NAME: &str = "tenant-quota";

pub struct TenantQuota;

impl Component for TenantQuota {
    type Kind = ResourceQuota;
    const PART: Part = Part::Isolation;
    const NAMES: &'static [&'static str] = &[NAME];

    fn build(tenant: &ValidTenant, _: &Context<'_>) -> Vec<ResourceQuota> {
        vec![build(tenant)]
    }
}

pub fn build(tenant: &ValidTenant) -> ResourceQuota {
    ResourceQuota {
        metadata: labels::metadata(tenant, NAME, Some(tenant.namespace()), "quota"),
        spec: Some(ResourceQuotaSpec {
            hard: Some(plan::hard(&tenant.plan)),
            // Declared empty, so that scopes added by anyone else (which would narrow what the
            // quota counts) are taken back.
            scopes: Some(vec![]),
            scope_selector: None,
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{municipality, valid};

    #[test]
    fn quota_follows_the_plan() {
        let quota = build(&valid(&municipality("ponferrada", "24115")));
        assert_eq!(quota.metadata.namespace.as_deref(), Some("muni-24115"));
        let hard = quota.spec.unwrap().hard.unwrap();
        assert_eq!(hard["requests.cpu"].0, "4");
        assert_eq!(hard["pods"].0, "40");
    }
}
