//! concejo's own actions for the activity log (ENS op.exp.8): every object it creates, changes or
//! deletes is one event of target `concejo::activity` (a JSON line with `CONCEJO_LOG_JSON=true`),
//! with the tenant's INE code, province and Municipality when the object belongs to one. The API
//! server's audit log says the same as "concejo's service account patched X"; these lines say
//! which tenant it was for, in the Diputación's log pipeline, without joining anything.
//!
//! What one reconcile of a tenant wrote is also summed up in one Event on its Municipality
//! ([`Writes`]), for whoever looks at the tenant with kubectl; the lines are the record.

use std::sync::Mutex;

use kube::api::ApiResource;
use serde_json::Value;
use tracing::info;

use super::events::NOTE_MAX;
use crate::api::v1alpha1::{ComplianceEntry, ComplianceStatus, Municipality};
use crate::domain::tenant::ine_code_of_namespace;
use crate::resources::labels::{INE_CODE, INSTANCE, PROVINCE};

/// What concejo did to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    /// Server-side applied without looking first: created or changed.
    Apply,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Apply => "apply",
            Action::Delete => "delete",
        }
    }
}

/// The tenant an object belongs to, as far as its labels (every object concejo builds carries
/// them) or its namespace (`muni-<INE code>`) say.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tenant<'a> {
    pub ine_code: Option<&'a str>,
    pub province: Option<&'a str>,
    pub municipality: Option<&'a str>,
}

/// `object`: the object's body (desired or live), for its labels; None when only its name is known.
pub fn tenant_of<'a>(namespace: Option<&'a str>, object: Option<&'a Value>) -> Tenant<'a> {
    let label = |key: &str| object?.pointer("/metadata/labels")?.get(key)?.as_str();
    Tenant {
        ine_code: label(INE_CODE).or_else(|| namespace.and_then(ine_code_of_namespace)),
        province: label(PROVINCE),
        municipality: label(INSTANCE).filter(|_| label(INE_CODE).is_some()),
    }
}

/// Logs one write concejo made.
pub fn record(action: Action, resource: &ApiResource, namespace: Option<&str>, name: &str, object: Option<&Value>) {
    let tenant = tenant_of(namespace, object);
    info!(
        target: "concejo::activity",
        action = action.as_str(),
        kind = %resource.kind,
        group = %resource.group,
        namespace = namespace.unwrap_or(""),
        name,
        ine_code = tenant.ine_code,
        province = tenant.province,
        municipality = tenant.municipality,
        "{} {} {}{}", action.as_str(), resource.kind, namespace.map(|n| format!("{n}/")).unwrap_or_default(), name
    );
}

/// The measures whose verdict differs between two `status.compliance` lists: each with its
/// verdict before (None: not listed then, e.g. a new category) and its entry now.
pub fn changed_verdicts<'a>(
    before: &[ComplianceEntry],
    now: &'a [ComplianceEntry],
) -> Vec<(Option<ComplianceStatus>, &'a ComplianceEntry)> {
    now.iter()
        .filter_map(|entry| {
            let was = before.iter().find(|b| b.measure == entry.measure).map(|b| b.status);
            (was != Some(entry.status)).then_some((was, entry))
        })
        .collect()
}

/// Logs every changed verdict of a tenant's ENS measures (the status concejo just wrote).
pub fn record_verdicts(municipality: &Municipality, before: &[ComplianceEntry], now: &[ComplianceEntry]) {
    let name = municipality.metadata.name.as_deref().unwrap_or_default();
    for (was, entry) in changed_verdicts(before, now) {
        let was = was.map(|s| format!("{s:?}")).unwrap_or_else(|| "Unassessed".into());
        let now = format!("{:?}", entry.status);
        info!(
            target: "concejo::activity",
            action = "verdict",
            measure = %entry.measure,
            before = %was,
            after = %now,
            detail = %entry.message,
            ine_code = %municipality.spec.ine_code,
            province = %municipality.spec.province,
            municipality = name,
            "verdict {} of {name}: {was} -> {now}", entry.measure
        );
    }
}

/// One object a reconcile wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Written {
    action: Action,
    kind: String,
    namespace: Option<String>,
    name: String,
}

/// What one reconcile wrote, in order. The steps that write add to it (by `&`: they run one after
/// the other, but hold it at once), and the reconcile publishes its [`note`](Writes::note).
#[derive(Debug, Default)]
pub struct Writes(Mutex<Vec<Written>>);

impl Writes {
    pub fn add(&self, action: Action, kind: &str, namespace: Option<&str>, name: &str) {
        let written = Written { action, kind: kind.into(), namespace: namespace.map(Into::into), name: name.into() };
        self.0.lock().expect("poisoned").push(written);
    }

    /// What was written, for an Event: `created 2: NetworkPolicy deny-all, Secret tenant-tls;
    /// deleted 1: ...`, objects outside `home` (the tenant's namespace) with their namespace; cut to
    /// what an Event's note takes, saying how many more. None when nothing was written.
    pub fn note(&self, home: &str) -> Option<String> {
        summary(&self.0.lock().expect("poisoned"), home)
    }
}

fn summary(writes: &[Written], home: &str) -> Option<String> {
    if writes.is_empty() {
        return None;
    }
    let verbs = [
        (Action::Create, "created"),
        (Action::Update, "changed"),
        (Action::Apply, "applied"),
        (Action::Delete, "deleted"),
    ];
    let (mut note, mut listed) = (String::new(), 0);
    'verbs: for (action, verb) in verbs {
        let objects: Vec<&Written> = writes.iter().filter(|w| w.action == action).collect();
        for (i, w) in objects.iter().enumerate() {
            let at = match &w.namespace {
                Some(ns) if ns != home => format!("{ns}/"),
                _ => String::new(),
            };
            let object = format!("{} {at}{}", w.kind, w.name);
            let piece = match (i, note.is_empty()) {
                (0, true) => format!("{verb} {}: {object}", objects.len()),
                (0, false) => format!("; {verb} {}: {object}", objects.len()),
                _ => format!(", {object}"),
            };
            // Room for saying how many more, should the next one not fit.
            let after = writes.len() - listed - 1;
            let more = if after == 0 { 0 } else { format!(" and {after} more").len() };
            if note.len() + piece.len() + more > NOTE_MAX {
                break 'verbs;
            }
            note.push_str(&piece);
            listed += 1;
        }
    }
    if listed < writes.len() {
        note.push_str(&format!(" and {} more", writes.len() - listed));
    }
    Some(note)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_changed_verdict_is_every_measure_whose_status_differs() {
        use ComplianceStatus::{Met, NotApplicable, NotMet};
        let entry = |measure: &str, status| ComplianceEntry { measure: measure.into(), status, message: "m".into() };
        let before = [entry("mp.com.4", Met), entry("mp.info.6", NotApplicable)];
        let now = [entry("mp.com.4", NotMet), entry("mp.info.6", NotApplicable), entry("op.exp.8", Met)];
        let changed: Vec<_> =
            changed_verdicts(&before, &now).into_iter().map(|(was, e)| (was, e.measure.as_str())).collect();
        assert_eq!(changed, [(Some(Met), "mp.com.4"), (None, "op.exp.8")]);
        assert!(changed_verdicts(&now, &now).is_empty(), "a message change alone is not a verdict change");
    }

    #[test]
    fn a_reconciles_writes_are_one_note_cut_to_what_an_event_takes() {
        let writes = Writes::default();
        assert_eq!(writes.note("muni-24089"), None, "nothing written, nothing to say");
        writes.add(Action::Create, "NetworkPolicy", Some("muni-24089"), "deny-all");
        assert_eq!(writes.note("muni-24089").as_deref(), Some("created 1: NetworkPolicy deny-all"));
        writes.add(Action::Delete, "Deployment", Some("muni-24089"), "nextcloud");
        writes.add(Action::Update, "ResourceQuota", Some("muni-24089"), "tenant-quota");
        writes.add(Action::Create, "Secret", Some("concejo-backup-24"), "tenant-24089");
        writes.add(Action::Create, "Namespace", None, "muni-24089");
        assert_eq!(
            writes.note("muni-24089").as_deref(),
            Some(
                "created 3: NetworkPolicy deny-all, Secret concejo-backup-24/tenant-24089, Namespace muni-24089; \
                 changed 1: ResourceQuota tenant-quota; deleted 1: Deployment nextcloud"
            )
        );

        let many = Writes::default();
        for i in 0..100 {
            many.add(Action::Create, "NetworkPolicy", Some("muni-24089"), &format!("allow-egress-{i:02}"));
        }
        let note = many.note("muni-24089").unwrap();
        assert!(note.len() <= NOTE_MAX, "{}", note.len());
        assert!(note.starts_with("created 100: NetworkPolicy allow-egress-00, "), "{note}");
        let (listed, more) = note.rsplit_once(" and ").unwrap();
        let shown = listed.matches("allow-egress-").count();
        assert_eq!(more, format!("{} more", 100 - shown));
        assert!(shown > 30, "{shown}");
    }

    #[test]
    fn the_tenant_comes_from_the_labels_else_from_the_namespace() {
        let body = json!({"metadata": {"name": "deny-all", "labels": {
            "concejo.dev/ine-code": "24089", "concejo.dev/province": "leon", "app.kubernetes.io/instance": "leon"}}});
        let expected = Tenant { ine_code: Some("24089"), province: Some("leon"), municipality: Some("leon") };
        assert_eq!(tenant_of(Some("muni-24089"), Some(&body)), expected);
        // The tenant Namespace itself is cluster-scoped: its labels say whose it is.
        assert_eq!(tenant_of(None, Some(&body)), expected);
        // A delete knows only where the object was.
        assert_eq!(tenant_of(Some("muni-24089"), None), Tenant { ine_code: Some("24089"), ..Tenant::default() });
        // The office pool is the province's, not a tenant's.
        let pool =
            json!({"metadata": {"labels": {"concejo.dev/province": "leon", "app.kubernetes.io/instance": "leon"}}});
        assert_eq!(
            tenant_of(Some("concejo-office-24"), Some(&pool)),
            Tenant { province: Some("leon"), ..Tenant::default() }
        );
    }
}
