//! The status of a Municipality, computed from what one reconcile found and did. Pure: no
//! client, time passed in. Each part of the tenant reports its own condition; `Ready` is their sum.

use k8s_openapi::jiff::Timestamp;

use super::backup;
use crate::api::v1alpha1::ComplianceEntry;
use crate::api::v1alpha1::Endpoints;
use crate::api::v1alpha1::{CertificateStatus, Municipality, MunicipalityStatus, Phase};
use crate::controllers::conditions::{
    self, BACKUP_READY, CERTIFICATE_READY, COLLABORATION_READY, COMPLIANT, Desired, ISOLATED, READY, RESTORE_VERIFIED,
    STORAGE_READY, VALID,
};
use crate::domain::{Invalid, ValidTenant};

/// The condition types this controller owns (others may be owned by other writers).
pub const OWNED: &[&str] = &[
    VALID,
    ISOLATED,
    CERTIFICATE_READY,
    STORAGE_READY,
    COLLABORATION_READY,
    BACKUP_READY,
    RESTORE_VERIFIED,
    COMPLIANT,
    READY,
];

/// How one part of the tenant stands after a reconcile.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    /// In place as declared; the message says what.
    Ready(String),
    /// Cannot be done yet (a namespace still terminating, a CA not there yet); not an error.
    Waiting { reason: &'static str, message: String },
    /// Tried and failed (retried with backoff); the message says what failed.
    Failed { reason: &'static str, message: String },
}

impl Part {
    fn condition(&self, type_: &'static str) -> Desired {
        match self {
            Part::Ready(message) => Desired::new(type_, true, ready_reason(type_), message.clone()),
            Part::Waiting { reason, message } | Part::Failed { reason, message } => {
                Desired::new(type_, false, *reason, message.clone())
            }
        }
    }

    pub fn is_ready(&self) -> bool {
        matches!(self, Part::Ready(_))
    }

    pub fn failed(&self) -> bool {
        matches!(self, Part::Failed { .. })
    }
}

fn ready_reason(type_: &str) -> &'static str {
    match type_ {
        CERTIFICATE_READY => "Issued",
        STORAGE_READY => "Bound",
        COLLABORATION_READY => "Available",
        BACKUP_READY => "Scheduled",
        RESTORE_VERIFIED => "DrillPassed",
        _ => "Applied",
    }
}

/// What `Isolated` says when the isolation is in place.
pub fn isolated(tenant: &ValidTenant) -> String {
    format!(
        "{}: Pod Security restricted, quota and limits of plan {}, deny-by-default network policies, tenant roles",
        tenant.namespace(),
        tenant.plan_name
    )
}

/// What `CertificateReady` says when `tenant-tls` holds a valid certificate.
pub fn certified(certificate: &CertificateStatus) -> String {
    format!("valid until {}, renewed from {}", certificate.not_after, certificate.renewal_time)
}

/// What one reconcile of a Municipality found and did.
#[derive(Clone, Debug, PartialEq)]
// One Outcome per reconcile, on the stack for its duration: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// Nothing is enforced: the spec is invalid and nothing valid was ever provisioned, or the
    /// Municipality conflicts with the holder of its INE code (then it touches nothing).
    Refused(Invalid),
    /// A tenant is enforced: the valid spec, or (`invalid` set) the last valid one while the
    /// current spec cannot be honoured.
    Enforced {
        tenant: Box<ValidTenant>,
        invalid: Option<Invalid>,
        isolation: Part,
        certificate: Part,
        certificate_status: Option<CertificateStatus>,
        /// The volumes, when the tenant has any.
        storage: Option<Part>,
        /// The suite, when enabled.
        collaboration: Option<Part>,
        /// Backups, when the tenant has them.
        backup: Option<backup::Outcome>,
        /// One verdict per ENS measure (`status.compliance`, condition `Compliant`).
        compliance: Vec<ComplianceEntry>,
    },
    /// The Municipality is being deleted and its tenant retained or removed.
    Terminating { message: String },
}

/// Whether the tenant was ever provisioned: its status names its namespace.
pub fn provisioned(municipality: &Municipality) -> bool {
    municipality.status.as_ref().is_some_and(|s| s.namespace.is_some())
}

/// The status to write for `municipality` after a reconcile that ended in `outcome`.
pub fn compute(municipality: &Municipality, outcome: &Outcome, now: Timestamp) -> MunicipalityStatus {
    let previous = municipality.status.clone().unwrap_or_default();
    let mut status = MunicipalityStatus { observed_generation: municipality.metadata.generation, ..previous.clone() };
    let desired = match outcome {
        Outcome::Refused(invalid) => {
            status.phase = Some(Phase::Pending);
            status.namespace = None;
            status.plan = None;
            status.hosts.clear();
            status.certificate = None;
            status.endpoints = None;
            status.compliance.clear();
            let nothing = if invalid.is_conflict() {
                "this Municipality touches nothing while another one holds its INE code"
            } else {
                "nothing is provisioned until the spec is corrected"
            };
            vec![
                Desired::new(VALID, false, invalid.reason(), invalid.to_string()),
                Desired::new(ISOLATED, false, "NotProvisioned", nothing),
                Desired::new(CERTIFICATE_READY, false, "NotProvisioned", nothing),
                Desired::new(COMPLIANT, false, "NotProvisioned", nothing),
                Desired::new(READY, false, "InvalidSpec", nothing),
            ]
        }
        Outcome::Enforced {
            tenant,
            invalid,
            isolation,
            certificate,
            certificate_status,
            storage,
            collaboration,
            backup,
            compliance,
        } => {
            status.namespace = Some(tenant.namespace());
            status.compliance = compliance.clone();
            status.plan = Some(tenant.plan_name.clone());
            status.hosts = tenant.hosts.clone();
            if certificate_status.is_some() {
                status.certificate = certificate_status.clone();
            }
            let valid = match invalid {
                None => Desired::new(VALID, true, "Validated", "the spec can be honoured"),
                Some(invalid) => Desired::new(VALID, false, invalid.reason(), invalid.to_string()),
            };
            status.endpoints = tenant
                .collaboration
                .as_ref()
                .map(|_| Endpoints { web: tenant.hosts.first().map(|h| format!("https://{h}")) });
            let mut parts = vec![(ISOLATED, isolation), (CERTIFICATE_READY, certificate)];
            parts.extend(storage.as_ref().map(|p| (STORAGE_READY, p)));
            parts.extend(collaboration.as_ref().map(|p| (COLLABORATION_READY, p)));
            parts.extend(backup.as_ref().map(|b| (BACKUP_READY, &b.ready)));
            if let Some(recorded) = backup.as_ref().and_then(|b| b.status.clone()) {
                status.backup = Some(recorded);
            }
            let all_ready = invalid.is_none() && parts.iter().all(|(_, p)| p.is_ready());
            let provisioned = provisioned(municipality);
            let ready = if all_ready {
                Desired::new(
                    READY,
                    true,
                    "Reconciled",
                    format!("tenant namespace {} is provisioned", tenant.namespace()),
                )
            } else if invalid.is_some() {
                let how = "the tenant keeps its last valid configuration, enforced, until the spec is corrected";
                Desired::new(READY, false, "InvalidSpec", how)
            } else {
                let (type_, part) = parts.iter().find(|(_, p)| !p.is_ready()).expect("a part is not ready");
                let c = part.condition(type_);
                Desired::new(READY, false, c.reason.clone(), format!("{type_}: {}", c.message))
            };
            status.phase = Some(if tenant.suspend && invalid.is_none() {
                Phase::Suspended
            } else if all_ready {
                Phase::Ready
            } else if invalid.is_some() || (provisioned && parts.iter().any(|(_, p)| p.failed())) {
                Phase::Degraded
            } else {
                Phase::Provisioning
            });
            let mut desired = vec![valid];
            desired.extend(parts.iter().map(|(t, p)| p.condition(t)));
            // Drills are reported, not summed into Ready: a failed one is a failing condition and
            // a Warning Event; the tenant keeps working.
            desired.extend(backup.as_ref().and_then(|b| b.verified.as_ref()).map(|p| p.condition(RESTORE_VERIFIED)));
            // Compliance is shown, not summed into Ready either.
            let (met, reason, message) = crate::domain::ens::compliant(compliance);
            desired.push(Desired::new(COMPLIANT, met, reason, message));
            desired.push(ready);
            desired
        }
        Outcome::Terminating { message } => {
            status.phase = Some(Phase::Terminating);
            // What was true of the parts stays as it was; Ready says why it is going.
            let mut desired: Vec<Desired> = previous
                .conditions
                .iter()
                .filter(|c| OWNED.contains(&c.type_.as_str()) && c.type_ != READY)
                .map(|c| Desired {
                    type_: OWNED.iter().find(|t| **t == c.type_).expect("owned"),
                    status: c.status == "True",
                    reason: c.reason.clone(),
                    message: c.message.clone(),
                })
                .collect();
            desired.push(Desired::new(READY, false, "Terminating", message.clone()));
            desired
        }
    };
    let mut merged = conditions::merge(&previous.conditions, &desired, municipality.metadata.generation, now);
    // Conditions other writers own stay as they are.
    merged.extend(previous.conditions.iter().filter(|c| !OWNED.contains(&c.type_.as_str())).cloned());
    status.conditions = merged;
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{municipality, valid};

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    fn certificate() -> CertificateStatus {
        CertificateStatus {
            not_after: "2027-02-21T00:00:00Z".into(),
            renewal_time: "2027-01-22T00:00:00Z".into(),
            serial: "01".into(),
            dns_names: vec!["ponferrada.nube.dipuleon.es".into()],
        }
    }

    fn enforced(m: &Municipality, invalid: Option<Invalid>, isolation: Part) -> Outcome {
        Outcome::Enforced {
            tenant: Box::new(valid(m)),
            invalid,
            isolation,
            certificate: Part::Ready("valid until ...".into()),
            certificate_status: Some(certificate()),
            storage: None,
            collaboration: None,
            backup: None,
            compliance: vec![],
        }
    }

    fn ready(m: &Municipality) -> Outcome {
        enforced(m, None, Part::Ready("in place".into()))
    }

    fn condition<'a>(
        s: &'a MunicipalityStatus,
        type_: &str,
    ) -> &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
        s.conditions.iter().find(|c| c.type_ == type_).unwrap()
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
        // Not asked for, not reported.
        assert!(!status.conditions.iter().any(|c| c.type_ == STORAGE_READY || c.type_ == COLLABORATION_READY));
        assert_eq!(status.endpoints, None);
    }

    #[test]
    fn the_suite_makes_ready_wait_for_it_and_suspension_is_a_phase() {
        let mut muni = municipality("leon", "24089");
        muni.spec.collaboration.enabled = true;
        let with = |suspend: bool, suite: Part| {
            let mut outcome = ready(&muni);
            if let Outcome::Enforced { tenant, storage, collaboration, .. } = &mut outcome {
                **tenant = valid(&muni);
                tenant.suspend = suspend;
                *storage = Some(Part::Ready("bound".into()));
                *collaboration = Some(suite);
            }
            compute(&muni, &outcome, at(10))
        };
        let starting = with(false, Part::Waiting { reason: "Starting", message: "waiting for nextcloud".into() });
        assert_eq!(starting.phase, Some(Phase::Provisioning));
        assert_eq!(condition(&starting, READY).reason, "Starting");
        assert!(conditions::is_true(&starting.conditions, STORAGE_READY));
        let available = with(false, Part::Ready("available".into()));
        assert_eq!(available.phase, Some(Phase::Ready));
        assert_eq!(available.endpoints.unwrap().web.as_deref(), Some("https://leon.nube.dipuleon.es"));
        let suspended = with(true, Part::Waiting { reason: "Suspended", message: "scaled to zero".into() });
        assert_eq!(suspended.phase, Some(Phase::Suspended));
        assert_eq!(condition(&suspended, COLLABORATION_READY).reason, "Suspended");
    }

    #[test]
    fn recomputing_an_unchanged_tenant_gives_an_equal_status() {
        // This equality is what lets the reconciler skip the status write.
        let mut muni = municipality("ponferrada", "24115");
        muni.status = Some(compute(&muni, &ready(&muni), at(10)));
        assert_eq!(muni.status, Some(compute(&muni, &ready(&muni), at(99))));
        let refused = Outcome::Refused(Invalid::ProvinceNotFound("leon".into()));
        muni.status = Some(compute(&muni, &refused, at(100)));
        assert_eq!(muni.status, Some(compute(&muni, &refused, at(200))));
    }

    #[test]
    fn an_invalid_edit_keeps_the_last_valid_tenant_enforced_and_says_so() {
        let mut muni = municipality("ponferrada", "24115");
        muni.status = Some(compute(&muni, &ready(&muni), at(10)));
        let outcome = enforced(&muni, Some(Invalid::PlanNotFound("huge".into())), Part::Ready("re-applied".into()));
        let status = compute(&muni, &outcome, at(20));
        assert_eq!(status.phase, Some(Phase::Degraded));
        assert_eq!(status.namespace.as_deref(), Some("muni-24115"));
        let valid = condition(&status, VALID);
        assert_eq!((valid.status.as_str(), valid.reason.as_str()), ("False", "PlanNotFound"));
        // Isolation was applied again in this reconcile: True, with its original time.
        let isolated = condition(&status, ISOLATED);
        assert_eq!((isolated.status.as_str(), isolated.last_transition_time.0), ("True", at(10)));
        assert_eq!(condition(&status, READY).reason, "InvalidSpec");
    }

    #[test]
    fn a_failing_part_shows_in_status_and_the_others_still_report() {
        let mut muni = municipality("ponferrada", "24115");
        muni.status = Some(compute(&muni, &ready(&muni), at(10)));
        let failed = Part::Failed { reason: "ApplyFailed", message: "NetworkPolicy deny-all: forbidden".into() };
        let status = compute(&muni, &enforced(&muni, None, failed), at(20));
        assert_eq!(status.phase, Some(Phase::Degraded));
        let isolated = condition(&status, ISOLATED);
        assert_eq!((isolated.status.as_str(), isolated.reason.as_str()), ("False", "ApplyFailed"));
        assert!(conditions::is_true(&status.conditions, CERTIFICATE_READY));
        assert!(condition(&status, READY).message.contains("deny-all: forbidden"));
    }

    #[test]
    fn a_conflict_never_claims_the_namespace() {
        let muni = municipality("ponferrada-bis", "24115");
        let conflict = Invalid::Conflict { ine_code: "24115".into(), owner: "ponferrada".into() };
        let status = compute(&muni, &Outcome::Refused(conflict), at(1));
        assert_eq!(status.phase, Some(Phase::Pending));
        assert_eq!(status.namespace, None);
        assert_eq!(status.conditions[0].reason, "Conflict");
    }

    #[test]
    fn conditions_of_other_writers_are_kept() {
        let mut muni = municipality("ponferrada", "24115");
        let mut status = compute(&muni, &ready(&muni), at(10));
        let mut compliant = status.conditions[0].clone();
        compliant.type_ = "SomeoneElses".into();
        status.conditions.push(compliant.clone());
        muni.status = Some(status);
        let next = compute(&muni, &ready(&muni), at(20));
        assert!(next.conditions.contains(&compliant));
        assert_eq!(muni.status.as_ref(), Some(&next));
    }
}
