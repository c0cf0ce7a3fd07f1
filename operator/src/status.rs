//! The status of a Municipality, computed from what a reconcile found. Pure: no client, time passed in.

use k8s_openapi::jiff::Timestamp;

use crate::api::v1alpha1::{Municipality, MunicipalityStatus, Phase};
use crate::conditions::{self, Desired, READY, VALID};
use crate::tenant::Invalid;

/// What one reconcile of a Municipality found.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The spec cannot be honoured; whatever was provisioned before stays as it is.
    Invalid(Invalid),
    /// Valid, and the tenant's objects are on their way (for example, the namespace of an earlier
    /// tenant is still being deleted).
    Provisioning { namespace: String, reason: &'static str, message: String },
    /// Every managed object exists as declared.
    Ready { namespace: String },
    /// The Municipality is being deleted and its tenant retained or removed.
    Terminating { message: String },
}

/// The status to write for `municipality` after a reconcile that ended in `outcome`.
pub fn compute(municipality: &Municipality, outcome: &Outcome, now: Timestamp) -> MunicipalityStatus {
    let previous = municipality.status.clone().unwrap_or_default();
    let valid = Desired::new(VALID, true, "Validated", "the spec can be honoured");
    let (phase, namespace, desired) = match outcome {
        Outcome::Invalid(invalid) => {
            // A tenant provisioned before keeps running on its last valid spec.
            let provisioned = previous.namespace.is_some();
            let phase = if provisioned { Phase::Degraded } else { Phase::Pending };
            let kept = if provisioned {
                "the tenant keeps its last valid configuration until the spec is corrected"
            } else {
                "nothing is provisioned until the spec is corrected"
            };
            (
                phase,
                previous.namespace.clone(),
                vec![
                    Desired::new(VALID, false, invalid.reason(), invalid.to_string()),
                    Desired::new(READY, false, "InvalidSpec", kept),
                ],
            )
        }
        Outcome::Provisioning { namespace, reason, message } => (
            Phase::Provisioning,
            Some(namespace.clone()),
            vec![valid, Desired::new(READY, false, reason, message.clone())],
        ),
        Outcome::Ready { namespace } => (
            Phase::Ready,
            Some(namespace.clone()),
            vec![
                valid,
                Desired::new(READY, true, "Reconciled", format!("tenant namespace {namespace} is provisioned")),
            ],
        ),
        Outcome::Terminating { message } => {
            let mut desired = vec![Desired::new(READY, false, "Terminating", message.clone())];
            // Keep whatever was last said about the spec.
            if let Some(c) = previous.conditions.iter().find(|c| c.type_ == VALID) {
                let reason = if c.status == "True" { "Validated" } else { "Invalid" };
                desired.insert(0, Desired::new(VALID, c.status == "True", reason, c.message.clone()));
            }
            (Phase::Terminating, previous.namespace.clone(), desired)
        }
    };
    let generation = municipality.metadata.generation;
    MunicipalityStatus {
        observed_generation: generation,
        phase: Some(phase),
        namespace,
        conditions: conditions::merge(&previous.conditions, &desired, generation, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::tests::municipality;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn ready_tenant() {
        let mut muni = municipality("ponferrada", "24115");
        muni.metadata.generation = Some(3);
        let status = compute(&muni, &Outcome::Ready { namespace: "muni-24115".into() }, at(10));
        assert_eq!(status.phase, Some(Phase::Ready));
        assert_eq!(status.observed_generation, Some(3));
        assert_eq!(status.namespace.as_deref(), Some("muni-24115"));
        assert!(conditions::is_true(&status.conditions, READY));
        assert!(conditions::is_true(&status.conditions, VALID));
    }

    #[test]
    fn recomputing_an_unchanged_tenant_gives_an_equal_status() {
        // This equality is what lets the reconciler skip the status write.
        let mut muni = municipality("ponferrada", "24115");
        let outcome = Outcome::Ready { namespace: "muni-24115".into() };
        muni.status = Some(compute(&muni, &outcome, at(10)));
        assert_eq!(muni.status, Some(compute(&muni, &outcome, at(99))));
    }

    #[test]
    fn invalid_edit_of_a_provisioned_tenant_is_degraded_and_keeps_the_namespace() {
        let mut muni = municipality("ponferrada", "24115");
        muni.status = Some(compute(&muni, &Outcome::Ready { namespace: "muni-24115".into() }, at(10)));
        let invalid = Invalid::ProvinceNotFound { province: "leon".into() };
        let status = compute(&muni, &Outcome::Invalid(invalid), at(20));
        assert_eq!(status.phase, Some(Phase::Degraded));
        assert_eq!(status.namespace.as_deref(), Some("muni-24115"));
        let valid = status.conditions.iter().find(|c| c.type_ == VALID).unwrap();
        assert_eq!((valid.status.as_str(), valid.reason.as_str()), ("False", "ProvinceNotFound"));
    }

    #[test]
    fn invalid_new_tenant_is_pending() {
        let muni = municipality("ponferrada", "24115");
        let status = compute(&muni, &Outcome::Invalid(Invalid::ProvinceNotFound { province: "leon".into() }), at(1));
        assert_eq!(status.phase, Some(Phase::Pending));
        assert_eq!(status.namespace, None);
    }
}
