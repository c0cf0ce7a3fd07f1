//! `metav1.Condition` bookkeeping: a transition time that moves only when the status flips.
//! `status.conditions` is a list keyed by type: each writer (field manager) owns its types and
//! leaves the others alone.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// Condition types concejo sets on a Municipality.
pub const VALID: &str = "Valid";
pub const READY: &str = "Ready";
pub const ISOLATED: &str = "Isolated";
pub const CERTIFICATE_READY: &str = "CertificateReady";
pub const STORAGE_READY: &str = "StorageReady";
pub const COLLABORATION_READY: &str = "CollaborationReady";
/// Backups are set up and the last one did not fail.
pub const BACKUP_READY: &str = "BackupReady";
/// ENS Media and Alta: the last restore drill passed.
pub const RESTORE_VERIFIED: &str = "RestoreVerified";
/// Every ENS measure of the tenant's category is met (`status.compliance`); not summed into Ready.
pub const COMPLIANT: &str = "Compliant";
/// On a Province: its CA is in place.
pub const CA_READY: &str = "CAReady";
/// On a Province: every Municipality of it is Ready.
pub const TENANTS_READY: &str = "TenantsReady";
/// On a Province with `office.enabled`: its office pool has every replica it should available.
pub const OFFICE_READY: &str = "OfficeReady";
/// On a Province with `backup.target`: its repository servers are available.
pub const BACKUP_TARGET_READY: &str = "BackupTargetReady";

/// A condition as the reconciler wants it, before times are attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    pub type_: &'static str,
    pub status: bool,
    pub reason: String,
    pub message: String,
}

impl Desired {
    pub fn new(type_: &'static str, status: bool, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self { type_, status, reason: reason.into(), message: message.into() }
    }
}

/// Builds the condition list from the desired ones, keeping `lastTransitionTime` of every
/// condition whose status did not change and using `now` for those that did (or are new).
pub fn merge(previous: &[Condition], desired: &[Desired], generation: Option<i64>, now: Timestamp) -> Vec<Condition> {
    desired
        .iter()
        .map(|d| {
            let status = if d.status { "True" } else { "False" }.to_owned();
            let last_transition_time = previous
                .iter()
                .find(|c| c.type_ == d.type_ && c.status == status)
                .map(|c| c.last_transition_time.clone())
                .unwrap_or(Time(now));
            Condition {
                type_: d.type_.to_owned(),
                status,
                reason: d.reason.clone(),
                message: d.message.clone(),
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

/// The conditions of these types only (what one writer owns).
pub fn only(conditions: &[Condition], types: &[&str]) -> Vec<Condition> {
    conditions.iter().filter(|c| types.contains(&c.type_.as_str())).cloned().collect()
}

/// Whether the condition of this type is present and True.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    conditions.iter().any(|c| c.type_ == type_ && c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let first = merge(&[], &[Desired::new(READY, false, "Provisioning", "creating")], Some(1), at(100));
        assert_eq!(first[0].last_transition_time, Time(at(100)));

        // Same status, new reason and message: the time stays.
        let second = merge(&first, &[Desired::new(READY, false, "Waiting", "still creating")], Some(2), at(200));
        assert_eq!(second[0].last_transition_time, Time(at(100)));
        assert_eq!(second[0].reason, "Waiting");
        assert_eq!(second[0].observed_generation, Some(2));

        // Flip: the time moves.
        let third = merge(&second, &[Desired::new(READY, true, "Reconciled", "")], Some(2), at(300));
        assert_eq!(third[0].last_transition_time, Time(at(300)));
        assert!(is_true(&third, READY));
        assert!(!is_true(&third, VALID));
    }
}
