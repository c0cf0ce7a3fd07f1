//! What a ServicePlan means for a tenant: the quota it sets, and where that quota would fall
//! below what the tenant already uses.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::quantity;
use crate::api::v1alpha1::{MunicipalitySpec, ProvinceSpec, ServicePlanSpec};

/// The plan in effect for a Municipality: its own, or its province's default.
pub fn effective_name<'a>(municipality: &'a MunicipalitySpec, province: &'a ProvinceSpec) -> Option<&'a str> {
    municipality.plan.as_deref().or(province.default_plan.as_deref())
}

/// The `spec.hard` of a plan's ResourceQuota: CPU and memory cap both requests and limits.
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

/// Each quota resource the plan would set below current usage, as "requests.cpu 3 used > 2".
pub fn shortfalls(plan: &ServicePlanSpec, used: &BTreeMap<String, Quantity>) -> Vec<String> {
    hard(plan)
        .into_iter()
        .filter_map(|(resource, limit)| {
            let in_use = used.get(&resource)?;
            let (u, l) = (quantity::parse_milli(&in_use.0)?, quantity::parse_milli(&limit.0)?);
            (u > l).then(|| format!("{resource} {} used > {}", in_use.0, limit.0))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::plan;

    #[test]
    fn quota_follows_the_plan() {
        let hard = hard(&plan("town", "4").spec);
        assert_eq!(hard["requests.cpu"].0, "4");
        assert_eq!(hard["limits.memory"].0, "8Gi");
        assert_eq!(hard["pods"].0, "40");
        assert_eq!(hard["requests.storage"].0, "200Gi");
    }

    #[test]
    fn shortfalls_compare_values_not_spellings() {
        let used: BTreeMap<String, Quantity> =
            [("requests.cpu".to_owned(), Quantity("1500m".into())), ("pods".to_owned(), Quantity("5".into()))].into();
        assert_eq!(shortfalls(&plan("town", "1").spec, &used), ["requests.cpu 1500m used > 1"]);
        assert!(shortfalls(&plan("town", "1500m").spec, &used).is_empty());
    }
}
