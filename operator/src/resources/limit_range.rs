//! The tenant's LimitRange: container defaults and ceilings from its ServicePlan.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{LimitRange, LimitRangeItem, LimitRangeSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::{Component, Context, Part, labels};
use crate::domain::ValidTenant;

pub const NAME: &str = "tenant-limits";

pub struct TenantLimits;

impl Component for TenantLimits {
    type Kind = LimitRange;
    const PART: Part = Part::Isolation;
    const NAMES: &'static [&'static str] = &[NAME];

    fn build(tenant: &ValidTenant, _: &Context<'_>) -> Vec<LimitRange> {
        vec![build(tenant)]
    }
}

pub fn build(tenant: &ValidTenant) -> LimitRange {
    let l = &tenant.plan.limit_range;
    let pair = |cpu: &str, memory: &str| -> BTreeMap<String, Quantity> {
        [("cpu".to_owned(), Quantity(cpu.to_owned())), ("memory".to_owned(), Quantity(memory.to_owned()))].into()
    };
    LimitRange {
        metadata: labels::metadata(tenant, NAME, Some(tenant.namespace()), "limits"),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".into(),
                default: Some(pair(&l.default_cpu, &l.default_memory)),
                default_request: Some(pair(&l.default_cpu, &l.default_memory)),
                max: Some(pair(&l.max_cpu, &l.max_memory)),
                ..Default::default()
            }],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{municipality, valid};

    #[test]
    fn containers_get_the_plan_defaults_and_ceilings() {
        let lr = build(&valid(&municipality("ponferrada", "24115")));
        let item = &lr.spec.unwrap().limits[0];
        assert_eq!(item.type_, "Container");
        assert_eq!(item.default.as_ref().unwrap()["cpu"].0, "250m");
        assert_eq!(item.default_request.as_ref().unwrap()["memory"].0, "256Mi");
        assert_eq!(item.max.as_ref().unwrap()["memory"].0, "4Gi");
    }
}
