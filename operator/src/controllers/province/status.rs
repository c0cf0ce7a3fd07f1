//! The status of a Province: its tenants rolled up. Pure.

use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;

use crate::api::v1alpha1::{Municipality, Phase, Province, ProvinceStatus};
use crate::controllers::conditions::{self, CA_READY, Desired, TENANTS_READY};

/// The condition types this controller owns.
pub const OWNED: &[&str] = &[CA_READY, TENANTS_READY];

pub fn compute(province: &Province, tenants: &[Arc<Municipality>], ca: Desired, now: Timestamp) -> ProvinceStatus {
    let previous = province.status.clone().unwrap_or_default();
    let total = tenants.len() as i32;
    let ready = tenants.iter().filter(|m| m.status.as_ref().and_then(|s| s.phase) == Some(Phase::Ready)).count() as i32;
    let all_ready = Desired::new(
        TENANTS_READY,
        ready == total,
        if ready == total { "AllReady" } else { "NotAllReady" },
        format!("{ready} of {total} municipalities are Ready"),
    );
    let generation = province.metadata.generation;
    ProvinceStatus {
        observed_generation: generation,
        municipalities: total,
        ready,
        office: None,
        conditions: conditions::merge(&previous.conditions, &[ca, all_ready], generation, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::v1alpha1::MunicipalityStatus;
    use crate::testing::{leon, municipality};

    #[test]
    fn tenants_are_counted_and_ready_ones_too() {
        let mut ready = municipality("leon", "24089");
        ready.status = Some(MunicipalityStatus { phase: Some(Phase::Ready), ..Default::default() });
        let pending = municipality("ponferrada", "24115");
        let ca = Desired::new(CA_READY, true, "Ready", "in place");
        let status = compute(&leon(), &[Arc::new(ready), Arc::new(pending)], ca, Timestamp::UNIX_EPOCH);
        assert_eq!((status.municipalities, status.ready), (2, 1));
        assert!(!conditions::is_true(&status.conditions, TENANTS_READY));
        assert!(conditions::is_true(&status.conditions, CA_READY));
    }
}
