//! The status of a Municipality, computed from what a reconcile found. Pure: no client, time passed in.

use k8s_openapi::jiff::Timestamp;

use crate::api::v1alpha1::{CertificateStatus, Municipality, MunicipalityStatus, Phase};
use crate::conditions::{self, CERTIFICATE_READY, Desired, ISOLATED, READY, VALID};
use crate::tenant::{Invalid, ValidTenant};

/// What one reconcile of a Municipality found.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The spec cannot be honoured; whatever was provisioned before stays as it is.
    Invalid(Invalid),
    /// Valid, but the tenant cannot be provisioned yet (its namespace is still terminating, or
    /// the provincial CA is not there yet). `isolated`: the isolation objects are applied.
    Waiting { tenant: Box<ValidTenant>, isolated: bool, reason: &'static str, message: String },
    /// Every managed object exists as declared.
    Ready { tenant: Box<ValidTenant>, certificate: CertificateStatus },
    /// The Municipality is being deleted and its tenant retained or removed.
    Terminating { message: String },
}

/// The status to write for `municipality` after a reconcile that ended in `outcome`.
pub fn compute(municipality: &Municipality, outcome: &Outcome, now: Timestamp) -> MunicipalityStatus {
    let previous = municipality.status.clone().unwrap_or_default();
    // A condition as it was, for the cases where this reconcile learnt nothing new about it.
    let kept = |type_: &'static str, default: Desired| -> Desired {
        previous
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .map(|c| Desired {
                type_,
                status: c.status == "True",
                reason: c.reason.clone(),
                message: c.message.clone(),
            })
            .unwrap_or(default)
    };
    let valid = Desired::new(VALID, true, "Validated", "the spec can be honoured");
    let mut status = MunicipalityStatus { observed_generation: municipality.metadata.generation, ..previous.clone() };
    let desired = match outcome {
        Outcome::Invalid(invalid) => {
            // A tenant provisioned before keeps running on its last valid spec.
            let provisioned = previous.namespace.is_some() && !invalid.is_conflict();
            let mut kept_conditions = vec![];
            if provisioned && previous.conditions.iter().any(|c| c.type_ == CERTIFICATE_READY) {
                kept_conditions.push(kept(CERTIFICATE_READY, Desired::new(CERTIFICATE_READY, false, "NotIssued", "")));
            }
            status.phase = Some(if provisioned { Phase::Degraded } else { Phase::Pending });
            if invalid.is_conflict() {
                status.namespace = None;
                status.hosts.clear();
                status.plan = None;
                status.certificate = None;
            }
            let ready = if provisioned {
                "the tenant keeps its last valid configuration until the spec is corrected"
            } else {
                "nothing is provisioned until the spec is corrected"
            };
            vec![
                Desired::new(VALID, false, invalid.reason(), invalid.to_string()),
                if provisioned {
                    kept(ISOLATED, Desired::new(ISOLATED, false, "NotProvisioned", "no tenant objects yet"))
                } else {
                    Desired::new(ISOLATED, false, "NotProvisioned", "no tenant objects yet")
                },
                Desired::new(READY, false, "InvalidSpec", ready),
            ]
            .into_iter()
            .chain(kept_conditions)
            .collect()
        }
        Outcome::Waiting { tenant, isolated, reason, message } => {
            status.phase = Some(Phase::Provisioning);
            set_tenant(&mut status, tenant);
            vec![
                valid,
                if *isolated {
                    isolated_condition(tenant)
                } else {
                    Desired::new(ISOLATED, false, *reason, message.clone())
                },
                Desired::new(CERTIFICATE_READY, false, *reason, message.clone()),
                Desired::new(READY, false, *reason, message.clone()),
            ]
        }
        Outcome::Ready { tenant, certificate } => {
            status.phase = Some(Phase::Ready);
            set_tenant(&mut status, tenant);
            status.certificate = Some(certificate.clone());
            let ns = tenant.namespace();
            vec![
                valid,
                isolated_condition(tenant),
                Desired::new(
                    CERTIFICATE_READY,
                    true,
                    "Issued",
                    format!("valid until {}, renewed from {}", certificate.not_after, certificate.renewal_time),
                ),
                Desired::new(READY, true, "Reconciled", format!("tenant namespace {ns} is provisioned")),
            ]
        }
        Outcome::Terminating { message } => {
            status.phase = Some(Phase::Terminating);
            let mut desired: Vec<Desired> = [VALID, ISOLATED, CERTIFICATE_READY]
                .into_iter()
                .filter(|t| previous.conditions.iter().any(|c| c.type_ == *t))
                .map(|t| kept(t, Desired::new(t, false, "Unknown", "")))
                .collect();
            desired.push(Desired::new(READY, false, "Terminating", message.clone()));
            desired
        }
    };
    status.conditions = conditions::merge(&previous.conditions, &desired, municipality.metadata.generation, now);
    status
}

fn isolated_condition(tenant: &ValidTenant) -> Desired {
    Desired::new(
        ISOLATED,
        true,
        "Applied",
        format!(
            "{}: Pod Security restricted, quota and limits of plan {}, deny-by-default network policies, tenant roles",
            tenant.namespace(),
            tenant.plan_name
        ),
    )
}

fn set_tenant(status: &mut MunicipalityStatus, tenant: &ValidTenant) {
    status.namespace = Some(tenant.namespace());
    status.plan = Some(tenant.plan_name.clone());
    status.hosts = tenant.hosts.clone();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::tests::{municipality, valid};

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    fn ready(m: &Municipality) -> Outcome {
        let certificate = CertificateStatus {
            not_after: "2027-02-21T00:00:00Z".into(),
            renewal_time: "2027-01-22T00:00:00Z".into(),
            serial: "01".into(),
            dns_names: vec!["ponferrada.nube.dipuleon.es".into()],
        };
        Outcome::Ready { tenant: Box::new(valid(m)), certificate }
    }

    #[test]
    fn ready_tenant() {
        let mut muni = municipality("ponferrada", "24115");
        muni.metadata.generation = Some(3);
        let status = compute(&muni, &ready(&muni), at(10));
        assert_eq!(status.phase, Some(Phase::Ready));
        assert_eq!(status.observed_generation, Some(3));
        assert_eq!(status.namespace.as_deref(), Some("muni-24115"));
        assert_eq!(status.plan.as_deref(), Some("town"));
        assert_eq!(status.hosts, ["ponferrada.nube.dipuleon.es"]);
        assert_eq!(status.certificate.as_ref().unwrap().serial, "01");
        for c in [VALID, ISOLATED, CERTIFICATE_READY, READY] {
            assert!(conditions::is_true(&status.conditions, c), "{c}");
        }
    }

    #[test]
    fn recomputing_an_unchanged_tenant_gives_an_equal_status() {
        // This equality is what lets the reconciler skip the status write.
        let mut muni = municipality("ponferrada", "24115");
        muni.status = Some(compute(&muni, &ready(&muni), at(10)));
        assert_eq!(muni.status, Some(compute(&muni, &ready(&muni), at(99))));
        let invalid = Outcome::Invalid(Invalid::ProvinceNotFound("leon".into()));
        muni.status = Some(compute(&muni, &invalid, at(100)));
        assert_eq!(muni.status, Some(compute(&muni, &invalid, at(200))));
    }

    #[test]
    fn invalid_edit_of_a_provisioned_tenant_is_degraded_and_keeps_the_namespace() {
        let mut muni = municipality("ponferrada", "24115");
        muni.status = Some(compute(&muni, &ready(&muni), at(10)));
        let status = compute(&muni, &Outcome::Invalid(Invalid::PlanNotFound("huge".into())), at(20));
        assert_eq!(status.phase, Some(Phase::Degraded));
        assert_eq!(status.namespace.as_deref(), Some("muni-24115"));
        let valid = status.conditions.iter().find(|c| c.type_ == VALID).unwrap();
        assert_eq!((valid.status.as_str(), valid.reason.as_str()), ("False", "PlanNotFound"));
        // Isolation is still in place and still says so, with its original time.
        let isolated = status.conditions.iter().find(|c| c.type_ == ISOLATED).unwrap();
        assert_eq!((isolated.status.as_str(), isolated.last_transition_time.0), ("True", at(10)));
    }

    #[test]
    fn conflict_never_claims_the_namespace() {
        let muni = municipality("ponferrada-bis", "24115");
        let conflict = Invalid::Conflict { ine_code: "24115".into(), owner: "ponferrada".into() };
        let status = compute(&muni, &Outcome::Invalid(conflict), at(1));
        assert_eq!(status.phase, Some(Phase::Pending));
        assert_eq!(status.namespace, None);
        assert_eq!(status.conditions[0].reason, "Conflict");
    }
}
