//! The activity log (ENS op.exp.8), the pure part: the audit events the API server sends to concejo
//! (audit.k8s.io/v1, only the fields concejo reads), which of them concern a tenant, the evidence
//! that auditing is in force (the `concejo-audit` ConfigMap's data) and the verdict on it.
//!
//! concejo cannot read the API server's flags or its policy file. What it can see is that the API
//! server sends it audit events through the webhook backend (docs/ens.md): events arriving means the
//! audit pipeline runs with a policy that records writes. So op.exp.8 holds only while they arrive.

use std::collections::BTreeMap;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::tenant::ine_code_of_namespace;

/// How recent the last audit event must be for auditing to count as in force. The API server
/// sends a batch at least every `--audit-webhook-batch-max-wait` (30 s by default) when anything
/// was audited, and concejo's own writes (a status, its evidence ConfigMap once a minute) are
/// audited, so a quarter of an hour without any event means the pipeline is broken.
pub const FRESH: SignedDuration = SignedDuration::from_mins(15);

/// The ConfigMap in concejo's own namespace that records that audit events arrive.
pub const EVIDENCE_CONFIGMAP: &str = "concejo-audit";
/// Its keys: the time of the newest audit event received (RFC 3339) and how many were received.
pub const LAST_EVENT_TIME: &str = "lastEventTime";
pub const EVENTS: &str = "events";

/// Whether the audit log is in force: Ok when an event arrived within [`FRESH`] of `now`; the
/// error says what is missing, for the op.exp.8 verdict's message.
pub fn in_force(last_event: Option<Timestamp>, now: Timestamp) -> Result<(), String> {
    let Some(last) = last_event else {
        return Err("no audit event received from the API server: enable the audit webhook (docs/ens.md)".into());
    };
    let age = now.duration_since(last);
    if age > FRESH {
        return Err(format!(
            "last audit event {} ago (more than {} min): check the API server's audit webhook (docs/ens.md)",
            human(age),
            FRESH.as_mins()
        ));
    }
    Ok(())
}

/// "3 h", "25 min", "2 d": how long ago, roughly, for a message.
fn human(age: SignedDuration) -> String {
    let mins = age.as_mins();
    match mins {
        m if m < 120 => format!("{m} min"),
        m if m < 48 * 60 => format!("{} h", m / 60),
        m => format!("{} d", m / (24 * 60)),
    }
}

/// The time of the last event recorded in the evidence ConfigMap's data, if it is readable.
pub fn last_event_of(data: Option<&BTreeMap<String, String>>) -> Option<Timestamp> {
    data?.get(LAST_EVENT_TIME)?.parse().ok()
}

/// The evidence ConfigMap's data after `received` more events, the newest at `newest`, on top of
/// what another replica (or this one) recorded before: counts add up, the time only moves forward.
pub fn evidence(
    previous: Option<&BTreeMap<String, String>>,
    received: u64,
    newest: Timestamp,
) -> BTreeMap<String, String> {
    let before: u64 = previous.and_then(|d| d.get(EVENTS)).and_then(|n| n.parse().ok()).unwrap_or(0);
    let last = last_event_of(previous).map_or(newest, |t| t.max(newest));
    BTreeMap::from([
        (LAST_EVENT_TIME.to_owned(), last.to_string()),
        (EVENTS.to_owned(), before.saturating_add(received).to_string()),
    ])
}

/// An audit.k8s.io/v1 EventList, as the webhook backend POSTs it.
#[derive(Debug, Deserialize)]
pub struct EventList {
    #[serde(default)]
    pub items: Vec<Event>,
}

/// One audit event: the fields concejo reads; the rest is ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(default, rename = "auditID")]
    pub audit_id: String,
    #[serde(default)]
    pub stage: String,
    #[serde(default)]
    pub verb: String,
    #[serde(default)]
    pub user: UserInfo,
    /// Set when the request was made as someone else (`kubectl --as`).
    pub impersonated_user: Option<UserInfo>,
    pub object_ref: Option<ObjectRef>,
    pub response_status: Option<ResponseStatus>,
    pub stage_timestamp: Option<Timestamp>,
    pub request_received_timestamp: Option<Timestamp>,
    /// Only at level Request or RequestResponse (concejo's kinds): the object as sent and as stored.
    pub request_object: Option<serde_json::Value>,
    pub response_object: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct UserInfo {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    #[serde(default)]
    pub resource: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub api_group: String,
    #[serde(default)]
    pub subresource: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ResponseStatus {
    #[serde(default)]
    pub code: i32,
}

/// The API group of concejo's kinds.
pub const GROUP: &str = "concejo.dev";

/// The tenant an event concerns, as far as the event tells.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Subject {
    /// The tenant's INE code, when known (a tenant namespace, or a Municipality whose body the
    /// event carries).
    pub ine_code: Option<String>,
    /// The Province's name, when the event carries a Municipality's body.
    pub province: Option<String>,
}

impl Event {
    /// Whether the event concerns concejo: one of its kinds, a tenant namespace or an object in one.
    /// Such events are logged one by one; the others only count as evidence.
    pub fn concerns_a_tenant(&self) -> bool {
        let Some(o) = &self.object_ref else { return false };
        o.api_group == GROUP || self.subject().ine_code.is_some()
    }

    /// Who made the request: the impersonated user when there is one.
    pub fn effective_user(&self) -> &UserInfo {
        self.impersonated_user.as_ref().unwrap_or(&self.user)
    }

    /// When the request was handled: the stage's time, else when it was received.
    pub fn time(&self) -> Option<Timestamp> {
        self.stage_timestamp.or(self.request_received_timestamp)
    }

    /// The tenant: from the namespace `muni-<INE code>` (or a Namespace of that name), or for a
    /// Municipality from its body (`spec.ineCode`, `spec.province`) when the event carries it.
    pub fn subject(&self) -> Subject {
        let Some(o) = &self.object_ref else { return Subject::default() };
        let namespace = if o.namespace.is_empty() && o.resource == "namespaces" { &o.name } else { &o.namespace };
        if let Some(code) = ine_code_of_namespace(namespace) {
            return Subject { ine_code: Some(code.to_owned()), province: None };
        }
        if o.api_group == GROUP && o.resource == "municipalities" {
            // The stored object says it whole; a patch may not.
            let spec = [&self.response_object, &self.request_object]
                .into_iter()
                .flatten()
                .filter(|body| body.get("kind").and_then(|k| k.as_str()) == Some("Municipality"))
                .find_map(|body| body.get("spec"));
            let field = |name: &str| spec.and_then(|s| s.get(name)).and_then(|v| v.as_str()).map(str::to_owned);
            return Subject { ine_code: field("ineCode"), province: field("province") };
        }
        Subject::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn in_force_only_with_a_recent_event() {
        let now = at("2026-11-20T12:00:00Z");
        let missing = in_force(None, now).unwrap_err();
        assert!(missing.contains("no audit event received") && missing.contains("docs/ens.md"), "{missing}");
        assert_eq!(in_force(Some(at("2026-11-20T11:59:30Z")), now), Ok(()));
        assert_eq!(in_force(Some(at("2026-11-20T11:45:00Z")), now), Ok(()), "15 minutes is still fresh");
        let stale = in_force(Some(at("2026-11-20T09:00:00Z")), now).unwrap_err();
        assert!(stale.starts_with("last audit event 3 h ago"), "{stale}");
        let older = in_force(Some(at("2026-11-17T12:00:00Z")), now).unwrap_err();
        assert!(older.starts_with("last audit event 3 d ago"), "{older}");
        let minutes = in_force(Some(at("2026-11-20T11:44:00Z")), now).unwrap_err();
        assert!(minutes.starts_with("last audit event 16 min ago"), "{minutes}");
        // A clock a little ahead of concejo's is not an error.
        assert_eq!(in_force(Some(at("2026-11-20T12:00:05Z")), now), Ok(()));
    }

    #[test]
    fn evidence_adds_counts_and_keeps_the_newest_time() {
        let first = evidence(None, 3, at("2026-11-20T12:00:00Z"));
        assert_eq!(first[EVENTS], "3");
        assert_eq!(last_event_of(Some(&first)), Some(at("2026-11-20T12:00:00Z")));
        let second = evidence(Some(&first), 4, at("2026-11-20T12:01:00Z"));
        assert_eq!(second[EVENTS], "7");
        assert_eq!(last_event_of(Some(&second)), Some(at("2026-11-20T12:01:00Z")));
        // Another replica wrote a newer time meanwhile: it stays.
        let late = evidence(Some(&second), 1, at("2026-11-20T11:00:00Z"));
        assert_eq!((late[EVENTS].as_str(), last_event_of(Some(&late))), ("8", Some(at("2026-11-20T12:01:00Z"))));
        // Garbage written by hand is not a time and counts as nothing.
        let garbage = BTreeMap::from([(LAST_EVENT_TIME.into(), "yesterday".into()), (EVENTS.into(), "x".into())]);
        assert_eq!(last_event_of(Some(&garbage)), None);
        assert_eq!(evidence(Some(&garbage), 2, at("2026-11-20T12:00:00Z"))[EVENTS], "2");
    }

    /// Two events as the API server (v1.37, local control plane) sent them, trimmed.
    fn list() -> EventList {
        serde_json::from_value(json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": [
            {"level": "Metadata", "auditID": "a1", "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/muni-24040/configmaps/notas",
             "verb": "delete", "user": {"username": "concejo-admin", "groups": ["system:masters", "system:authenticated"]},
             "impersonatedUser": {"username": "maria@carrocera", "groups": ["oidc:carrocera-admins", "system:authenticated"]},
             "sourceIPs": ["127.0.0.1"], "objectRef": {"resource": "configmaps", "namespace": "muni-24040", "name": "notas", "apiVersion": "v1"},
             "responseStatus": {"metadata": {}, "status": "Success", "code": 200},
             "requestReceivedTimestamp": "2026-11-20T12:00:00.123456Z", "stageTimestamp": "2026-11-20T12:00:00.130000Z"},
            {"level": "RequestResponse", "auditID": "a2", "stage": "ResponseComplete", "verb": "patch",
             "user": {"username": "concejo-admin"},
             "objectRef": {"resource": "municipalities", "name": "carrocera", "apiGroup": "concejo.dev", "apiVersion": "v1alpha1"},
             "responseStatus": {"code": 200},
             "requestObject": {"spec": {"displayName": "Carrocera (León)"}},
             "responseObject": {"kind": "Municipality", "spec": {"ineCode": "24040", "province": "leon"}},
             "stageTimestamp": "2026-11-20T12:00:01.000001Z"},
            {"level": "Metadata", "stage": "ResponseComplete", "verb": "update", "user": {"username": "system:kube-scheduler"},
             "objectRef": {"resource": "deployments", "namespace": "kube-system", "name": "coredns", "apiGroup": "apps"},
             "stageTimestamp": "2026-11-20T12:00:02Z"}
        ]}))
        .unwrap()
    }

    #[test]
    fn events_name_their_tenant_and_who_made_them() {
        let list = list();
        let [delete, patch, other] = &list.items[..] else { panic!("three events") };
        assert!(delete.concerns_a_tenant());
        assert_eq!(delete.subject(), Subject { ine_code: Some("24040".into()), province: None });
        assert_eq!(delete.effective_user().username, "maria@carrocera", "the impersonated user made it");
        assert_eq!(delete.user.username, "concejo-admin");
        assert_eq!(delete.time(), Some(at("2026-11-20T12:00:00.13Z")));
        assert_eq!(delete.audit_id, "a1");
        assert!(patch.concerns_a_tenant());
        assert_eq!(patch.subject(), Subject { ine_code: Some("24040".into()), province: Some("leon".into()) });
        assert_eq!(patch.effective_user().username, "concejo-admin");
        assert!(!other.concerns_a_tenant());
    }

    #[test]
    fn a_tenant_namespace_itself_and_concejo_kinds_without_a_body_concern_a_tenant() {
        let event = |object_ref: serde_json::Value| -> Event {
            serde_json::from_value(json!({"verb": "delete", "user": {"username": "u"}, "objectRef": object_ref}))
                .unwrap()
        };
        let namespace = event(json!({"resource": "namespaces", "name": "muni-24089"}));
        assert_eq!(namespace.subject().ine_code.as_deref(), Some("24089"));
        let province = event(json!({"resource": "provinces", "name": "leon", "apiGroup": "concejo.dev"}));
        assert!(province.concerns_a_tenant());
        assert_eq!(province.subject(), Subject::default());
        // A namespace that only looks like a tenant's.
        assert!(!event(json!({"resource": "configmaps", "namespace": "muni-2408", "name": "x"})).concerns_a_tenant());
        // A request on no object (e.g. a non-resource URL).
        let bare: Event = serde_json::from_value(json!({"verb": "get"})).unwrap();
        assert!(!bare.concerns_a_tenant());
    }
}
