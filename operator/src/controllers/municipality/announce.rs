//! The Events of one reconcile, gathered while it runs and published when it ends (step 7): one
//! per condition change (by status and reason), the larger steps (a certificate issued), and one
//! `ObjectsWritten` saying what it wrote. A tenant's first provisioning that ends Ready says the
//! Normal ones in one Event `Provisioned` instead (the same facts in one write where there were
//! six; for a province onboarding at once, a quarter of its API requests: docs/benchmarks.md);
//! its Warnings, such as a measure not met, stay Events of their own. Pure: the caller publishes.

use std::sync::Mutex;

/// The reason of the one Event of a first provisioning that ended with everything in place.
pub const PROVISIONED: &str = "Provisioned";

/// One Event to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub normal: bool,
    pub reason: String,
    pub note: String,
}

/// What a reconcile has to say, in the order it found it; each with whether it is a condition's
/// change (the status says those too).
#[derive(Debug, Default)]
pub struct Said {
    said: Mutex<Vec<(Event, bool)>>,
    /// Ready's message, when the status this reconcile wrote says Ready.
    ready: Mutex<Option<String>>,
}

impl Said {
    /// The status written says Ready, with this message.
    pub fn ready(&self, message: &str) {
        *self.ready.lock().expect("poisoned") = Some(message.to_owned());
    }

    /// A step: a certificate issued, renewed.
    pub fn step(&self, normal: bool, reason: &str, note: String) {
        self.add(normal, reason, note, false);
    }

    /// Conditions that changed, with their reason.
    pub fn conditions(&self, normal: bool, reason: &str, note: String) {
        self.add(normal, reason, note, true);
    }

    fn add(&self, normal: bool, reason: &str, note: String, condition: bool) {
        self.said.lock().expect("poisoned").push((Event { normal, reason: reason.to_owned(), note }, condition));
    }

    /// The Events to publish: what was said, then `written` as `ObjectsWritten`; or, when `first`
    /// (the tenant had never been provisioned) and the status written says Ready, one
    /// `Provisioned` whose note is Ready's message, the steps, then `written`, and after it every
    /// Warning as it was said (a measure not met keeps its own reason).
    pub fn events(self, first: bool, written: Option<String>) -> Vec<Event> {
        let said = self.said.into_inner().expect("poisoned");
        let ready = self.ready.into_inner().expect("poisoned");
        if !first || ready.is_none() {
            let mut said: Vec<Event> = said.into_iter().map(|(e, _)| e).collect();
            said.extend(written.map(|note| Event { normal: true, reason: super::OBJECTS_WRITTEN.into(), note }));
            return said;
        }
        let (normal, warnings): (Vec<_>, Vec<_>) = said.into_iter().partition(|(e, _)| e.normal);
        let mut notes: Vec<String> = ready.into_iter().collect();
        // The condition changes are the status itself; the steps and the writes are not in it.
        notes.extend(normal.into_iter().filter(|(_, condition)| !condition).map(|(e, _)| e.note));
        notes.extend(written);
        let provisioned = Event { normal: true, reason: PROVISIONED.into(), note: notes.join("; ") };
        std::iter::once(provisioned).chain(warnings.into_iter().map(|(e, _)| e)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(events: &[(bool, &str, &str)], ready: bool) -> Said {
        let said = Said::default();
        if ready {
            said.ready("tenant namespace muni-24115 is provisioned");
        }
        for (normal, reason, note) in events {
            match note.strip_prefix("condition ") {
                Some(note) => said.conditions(*normal, reason, note.to_owned()),
                None => said.step(*normal, reason, (*note).to_owned()),
            }
        }
        said
    }

    #[test]
    fn a_first_provisioning_with_everything_in_place_is_one_event() {
        let s = said(
            &[
                (true, "CertificateIssued", "certificate 01 for a.example issued"),
                (true, "Applied", "condition Isolated: muni-24115: ..."),
                (true, "Reconciled", "condition Ready: tenant namespace muni-24115 is provisioned"),
            ],
            true,
        );
        let events = s.events(true, Some("created 10: ...".into()));
        assert_eq!(
            events,
            [Event {
                normal: true,
                reason: PROVISIONED.into(),
                note:
                    "tenant namespace muni-24115 is provisioned; certificate 01 for a.example issued; created 10: ..."
                        .into()
            }]
        );
    }

    #[test]
    fn a_warning_keeps_its_own_event() {
        let events = [(true, "CertificateIssued", "c"), (false, "MeasuresNotMet", "condition Compliant: not met")];
        let first = said(&events, true).events(true, Some("created 1: x".into()));
        let reasons: Vec<(&str, &str)> = first.iter().map(|e| (e.reason.as_str(), e.note.as_str())).collect();
        assert_eq!(
            reasons,
            [
                (PROVISIONED, "tenant namespace muni-24115 is provisioned; c; created 1: x"),
                ("MeasuresNotMet", "Compliant: not met")
            ]
        );
        assert!(!first[1].normal);
    }

    #[test]
    fn a_later_reconcile_or_one_not_ready_keeps_every_event() {
        let events = [(true, "CertificateIssued", "c")];
        let later = said(&events, true).events(false, Some("created 1: x".into()));
        let reasons: Vec<&str> = later.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons, ["CertificateIssued", "ObjectsWritten"]);
        let not_ready = said(&events, false).events(true, None);
        assert_eq!(not_ready.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>(), ["CertificateIssued"]);
    }
}
