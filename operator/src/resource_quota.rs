//! The tenant's ResourceQuota, from its ServicePlan.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceQuota, ResourceQuotaSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::api::v1alpha1::ServicePlanSpec;
use crate::labels;
use crate::tenant::ValidTenant;

pub const NAME: &str = "tenant-quota";

/// The `spec.hard` of a plan: CPU and memory cap both requests and limits.
pub fn hard(plan: &ServicePlanSpec) -> BTreeMap<String, Quantity> {
    let q = &plan.quota;
    let mut hard: BTreeMap<String, Quantity> = [
        ("requests.cpu", &q.cpu),
        ("limits.cpu", &q.cpu),
        ("requests.memory", &q.memory),
        ("limits.memory", &q.memory),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), Quantity(v.clone())))
    .collect();
    hard.insert("pods".into(), Quantity(q.pods.to_string()));
    if let Some(storage) = &q.storage {
        hard.insert("requests.storage".into(), Quantity(storage.clone()));
    }
    hard
}

pub fn build(tenant: &ValidTenant) -> ResourceQuota {
    ResourceQuota {
        metadata: labels::metadata(tenant, NAME, Some(tenant.namespace()), "quota"),
        spec: Some(ResourceQuotaSpec { hard: Some(hard(&tenant.plan)), ..Default::default() }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::tests::*;

    #[test]
    fn quota_follows_the_plan() {
        let quota = build(&valid(&municipality("ponferrada", "24115")));
        assert_eq!(quota.metadata.namespace.as_deref(), Some("muni-24115"));
        let hard = quota.spec.unwrap().hard.unwrap();
        assert_eq!(hard["requests.cpu"].0, "4");
        assert_eq!(hard["limits.memory"].0, "8Gi");
        assert_eq!(hard["pods"].0, "40");
        assert_eq!(hard["requests.storage"].0, "200Gi");
    }
}
