//! The status of a Province: its tenants rolled up. Pure.

use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;

use super::office::Report;
use crate::api::v1alpha1::{Municipality, Phase, Province, ProvinceStatus};
use crate::controllers::conditions::{
    self, BACKUP_TARGET_READY, CA_READY, COMPLIANT, Desired, OFFICE_READY, READY, TENANTS_READY,
};
use crate::domain::ens;

/// The condition types this controller owns.
pub const OWNED: &[&str] = &[READY, CA_READY, TENANTS_READY, OFFICE_READY, BACKUP_TARGET_READY];

/// The status from the tenants, the CA's condition, the office pool (`None`: the Province
/// runs none, so neither `status.office` nor `OfficeReady` is there) and the backup repository's
/// condition (`None`: no backup target, no `BackupTargetReady`).
pub fn compute(
    province: &Province,
    tenants: &[Arc<Municipality>],
    ca: Desired,
    office: Option<&Report>,
    backup: Option<Desired>,
    now: Timestamp,
) -> ProvinceStatus {
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
    let mut parts = vec![ca];
    parts.extend(office.map(|o| o.condition.clone()));
    parts.extend(backup);
    let mut desired = vec![ready_of(&parts), all_ready];
    desired.extend(parts);
    ProvinceStatus {
        observed_generation: generation,
        municipalities: total,
        ready,
        office: office.map(|o| o.status.clone()),
        compliance: Some(ens::roll_up(tenants.iter().filter_map(|m| {
            let s = m.status.as_ref()?;
            Some((conditions::is_true(&s.conditions, COMPLIANT), s.compliance.as_slice()))
        }))),
        conditions: conditions::merge(&previous.conditions, &desired, generation, now),
    }
}

/// `Ready`: every part the Province runs (its CA, and the office pool and backup repository when
/// it has them) is; the first that is not gives the reason and the message. The tenants are not a
/// part: one town hall's problem is its own condition (and `TenantsReady`), so tools that wait for
/// `Ready` (Flux's kstatus, Argo CD) see the province itself.
fn ready_of(parts: &[Desired]) -> Desired {
    match parts.iter().find(|p| !p.status) {
        Some(p) => Desired::new(READY, false, p.reason.clone(), format!("{}: {}", p.type_, p.message)),
        None => {
            let types: Vec<&str> = parts.iter().map(|p| p.type_).collect();
            Desired::new(READY, true, "Ready", types.join(", ") + " True")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::v1alpha1::{MunicipalityStatus, OfficeStatus};
    use crate::testing::{leon, municipality};

    #[test]
    fn tenants_are_counted_and_ready_ones_too() {
        let mut ready = municipality("leon", "24089");
        ready.status = Some(MunicipalityStatus { phase: Some(Phase::Ready), ..Default::default() });
        let pending = municipality("ponferrada", "24115");
        let ca = Desired::new(CA_READY, true, "Ready", "in place");
        let status = compute(&leon(), &[Arc::new(ready), Arc::new(pending)], ca, None, None, Timestamp::UNIX_EPOCH);
        assert_eq!((status.municipalities, status.ready), (2, 1));
        assert!(!conditions::is_true(&status.conditions, TENANTS_READY));
        assert!(conditions::is_true(&status.conditions, CA_READY));
        assert!(status.office.is_none());
        assert!(!status.conditions.iter().any(|c| c.type_ == OFFICE_READY), "no pool, no OfficeReady");
    }

    #[test]
    fn the_office_pool_has_its_status_and_condition() {
        let ca = Desired::new(CA_READY, true, "Ready", "in place");
        let office = Report {
            status: OfficeStatus { hosts: 3, replicas: 2, available_replicas: 1, url: Some("https://office.x".into()) },
            condition: Desired::new(OFFICE_READY, false, "Provisioning", "1 of 2"),
            next: None,
            failed: None,
        };
        let status = compute(&leon(), &[], ca, Some(&office), None, Timestamp::UNIX_EPOCH);
        assert_eq!(status.office, Some(office.status));
        let c = status.conditions.iter().find(|c| c.type_ == OFFICE_READY).unwrap();
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("False", "Provisioning"));
        let ready = status.conditions.iter().find(|c| c.type_ == READY).unwrap();
        assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", "Provisioning"));
        assert_eq!(ready.message, "OfficeReady: 1 of 2");
    }

    #[test]
    fn ready_is_the_provinces_own_parts_not_its_tenants() {
        let ca = Desired::new(CA_READY, true, "Ready", "in place");
        let backup = Desired::new(BACKUP_TARGET_READY, true, "Available", "serving");
        let pending = municipality("ponferrada", "24115");
        let status = compute(&leon(), &[Arc::new(pending)], ca, None, Some(backup), Timestamp::UNIX_EPOCH);
        assert!(conditions::is_true(&status.conditions, READY), "{:?}", status.conditions);
        assert!(!conditions::is_true(&status.conditions, TENANTS_READY));
        let ca = Desired::new(CA_READY, false, "RootSecretNotFound", "no secret x");
        let status = compute(&leon(), &[], ca, None, None, Timestamp::UNIX_EPOCH);
        let ready = status.conditions.iter().find(|c| c.type_ == READY).unwrap();
        assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", "RootSecretNotFound"));
    }
}
