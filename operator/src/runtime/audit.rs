//! The audit webhook: `POST /audit` takes the audit.k8s.io/v1 EventLists the API server's webhook
//! backend sends (`concejo run --audit-addr`), logs each event that concerns a tenant as one JSON
//! line (target `concejo::audit`), and records that events arrive in the ConfigMap
//! `concejo-audit` of concejo's own namespace, at most once a minute, whichever replica received
//! them. [`last_event`] reads it back for the op.exp.8 verdict ([`crate::domain::audit::in_force`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ObjectMeta, Patch, PatchParams};
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::domain::audit::{self, EVIDENCE_CONFIGMAP, Event, EventList};
use crate::resources::labels::{COMPONENT, FIELD_MANAGER, MANAGED_BY, MANAGER, NAME};

/// At most one write of the evidence ConfigMap per interval (per replica).
pub const WRITE_INTERVAL: Duration = Duration::from_secs(60);
/// A batch holds up to 400 events by default (`--audit-webhook-batch-max-size`), those of concejo's
/// kinds with their bodies: far more than axum's default 2 MiB limit.
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Events received and not yet recorded in the ConfigMap.
#[derive(Debug, Default)]
struct Pending {
    events: u64,
    newest: Option<Timestamp>,
}

/// What the endpoint shares with the task that writes the evidence.
pub struct Receiver {
    client: Client,
    namespace: String,
    /// When set, a request must carry `Authorization: Bearer <token>` (the webhook kubeconfig's
    /// user token), so that nobody else in the cluster can fake the evidence.
    token: Option<String>,
    pending: Mutex<Pending>,
    arrived: Notify,
}

impl Receiver {
    pub fn new(client: Client, namespace: String, token: Option<String>) -> Arc<Self> {
        Arc::new(Receiver { client, namespace, token, pending: Mutex::default(), arrived: Notify::new() })
    }
}

/// The endpoint and the evidence writer, until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, receiver: Arc<Receiver>) -> std::io::Result<()> {
    tokio::spawn(record(receiver.clone()));
    axum::serve(listener, router(receiver)).await
}

pub fn router(receiver: Arc<Receiver>) -> Router {
    Router::new().route("/audit", post(receive)).layer(DefaultBodyLimit::max(BODY_LIMIT)).with_state(receiver)
}

async fn receive(State(receiver): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    if !authorized(receiver.token.as_deref(), headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())) {
        return (StatusCode::UNAUTHORIZED, "a bearer token is required\n".into());
    }
    let list: EventList = match serde_json::from_slice(&body) {
        Ok(list) => list,
        Err(e) => {
            warn!(error = %e, "refused an audit batch that is not an audit.k8s.io/v1 EventList");
            return (StatusCode::BAD_REQUEST, format!("not an audit.k8s.io/v1 EventList: {e}\n"));
        }
    };
    for event in list.items.iter().filter(|e| e.concerns_a_tenant()) {
        log(event);
    }
    let newest = list.items.iter().filter_map(Event::time).max();
    if !list.items.is_empty() {
        let mut pending = receiver.pending.lock().expect("not poisoned");
        pending.events += list.items.len() as u64;
        // A batch without times still proves events arrive: now is when they did.
        let newest = newest.unwrap_or_else(Timestamp::now);
        pending.newest = Some(pending.newest.map_or(newest, |n| n.max(newest)));
        receiver.arrived.notify_one();
    }
    (StatusCode::OK, String::new())
}

/// Whether the request may post events: any, without a token configured.
fn authorized(token: Option<&str>, authorization: Option<&str>) -> bool {
    match token {
        None => true,
        Some(token) => authorization.and_then(|a| a.strip_prefix("Bearer ")).is_some_and(|given| given == token),
    }
}

/// One JSON line per event (with `CONCEJO_LOG_JSON`): who, what, when, the outcome, the tenant.
fn log(event: &Event) {
    let object = event.object_ref.as_ref().unwrap_or(&DEFAULT_REF);
    let who = event.effective_user();
    let subject = event.subject();
    info!(
        target: "concejo::audit",
        user = %who.username,
        groups = %who.groups.join(","),
        impersonator = event.impersonated_user.as_ref().map(|_| event.user.username.as_str()),
        verb = %event.verb,
        group = %object.api_group,
        resource = %object.resource,
        subresource = (!object.subresource.is_empty()).then_some(object.subresource.as_str()),
        namespace = %object.namespace,
        name = %object.name,
        time = event.time().map(|t| t.to_string()),
        code = event.response_status.as_ref().map(|s| s.code),
        ine_code = subject.ine_code.as_deref(),
        province = subject.province.as_deref(),
        audit_id = %event.audit_id,
        stage = %event.stage,
        "audited"
    );
}

static DEFAULT_REF: audit::ObjectRef = audit::ObjectRef {
    resource: String::new(),
    namespace: String::new(),
    name: String::new(),
    api_group: String::new(),
    subresource: String::new(),
};

/// Writes the evidence when events arrived, then waits [`WRITE_INTERVAL`] before the next write,
/// so a busy API server costs one write a minute.
async fn record(receiver: Arc<Receiver>) {
    loop {
        receiver.arrived.notified().await;
        let taken = std::mem::take(&mut *receiver.pending.lock().expect("not poisoned"));
        let Some(newest) = taken.newest else { continue };
        if let Err(e) = write(&receiver.client, &receiver.namespace, taken.events, newest).await {
            warn!(error = %e, configmap = %format!("{}/{EVIDENCE_CONFIGMAP}", receiver.namespace),
                "cannot record that audit events arrive; retrying with the next batch");
            let mut pending = receiver.pending.lock().expect("not poisoned");
            pending.events += taken.events;
            pending.newest = Some(pending.newest.map_or(newest, |n| n.max(newest)));
        }
        tokio::time::sleep(WRITE_INTERVAL).await;
    }
}

/// Adds `events` to the ConfigMap's count and moves its time to `newest` (server-side apply, with
/// the resourceVersion read as a precondition: two replicas writing at once do not lose counts).
async fn write(client: &Client, namespace: &str, events: u64, newest: Timestamp) -> Result<(), kube::Error> {
    let api = Api::<ConfigMap>::namespaced(client.clone(), namespace);
    let current = api.get_opt(EVIDENCE_CONFIGMAP).await?;
    let data = audit::evidence(current.as_ref().and_then(|c| c.data.as_ref()), events, newest);
    let labels = [(NAME, MANAGER), (COMPONENT, "audit"), (MANAGED_BY, MANAGER)];
    let configmap = ConfigMap {
        metadata: ObjectMeta {
            name: Some(EVIDENCE_CONFIGMAP.into()),
            namespace: Some(namespace.into()),
            resource_version: current.and_then(|c| c.metadata.resource_version),
            labels: Some(labels.into_iter().map(|(k, v)| (k.into(), v.into())).collect()),
            ..ObjectMeta::default()
        },
        data: Some(data),
        ..ConfigMap::default()
    };
    api.patch(EVIDENCE_CONFIGMAP, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&configmap)).await?;
    Ok(())
}

/// The time of the last audit event any replica recorded (None when none was, or it cannot be
/// read: either way op.exp.8 cannot be shown to hold).
pub async fn last_event(client: &Client, namespace: &str) -> Option<Timestamp> {
    match Api::<ConfigMap>::namespaced(client.clone(), namespace).get_opt(EVIDENCE_CONFIGMAP).await {
        Ok(configmap) => audit::last_event_of(configmap?.data.as_ref()),
        Err(e) => {
            warn!(error = %e, "cannot read {namespace}/{EVIDENCE_CONFIGMAP}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Request, Response};
    use kube::client::Body;
    use serde_json::{Value, json};
    use tower_test::mock;

    const PATH: &str = "/api/v1/namespaces/concejo/configmaps/concejo-audit";

    /// Plays the API server for one `write`: the GET answered with `current` (None: 404), then the
    /// apply, whose query and body are returned.
    async fn write_against(current: Option<Value>, events: u64, newest: &str) -> (String, Value) {
        let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(service, "default");
        let newest = newest.parse().unwrap();
        let writer = tokio::spawn(async move { write(&client, "concejo", events, newest).await });
        let (get, respond) = handle.next_request().await.expect("a GET");
        assert_eq!((get.method().as_str(), get.uri().path()), ("GET", PATH));
        let response = match current {
            Some(body) => Response::builder().body(Body::from(serde_json::to_vec(&body).unwrap())),
            None => Response::builder().status(404).body(Body::from(
                serde_json::to_vec(&json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "reason": "NotFound", "code": 404}))
                .unwrap(),
            )),
        };
        respond.send_response(response.unwrap());
        let (patch, respond) = handle.next_request().await.expect("an apply");
        assert_eq!((patch.method().as_str(), patch.uri().path()), ("PATCH", PATH));
        assert_eq!(patch.headers()["content-type"], "application/apply-patch+yaml");
        let query = patch.uri().query().unwrap_or_default().to_owned();
        let body: Value = serde_json::from_slice(&patch.into_body().collect_bytes().await.unwrap()).unwrap();
        respond.send_response(Response::builder().body(Body::from(serde_json::to_vec(&body).unwrap())).unwrap());
        writer.await.unwrap().unwrap();
        (query, body)
    }

    #[tokio::test]
    async fn the_first_write_creates_the_evidence() {
        let (query, body) = write_against(None, 12, "2026-11-20T12:00:00.5Z").await;
        assert!(query.contains("fieldManager=concejo") && query.contains("force=true"), "{query}");
        assert_eq!(body["data"], json!({"lastEventTime": "2026-11-20T12:00:00.5Z", "events": "12"}));
        assert_eq!(body["metadata"]["labels"]["app.kubernetes.io/managed-by"], "concejo");
        assert!(body["metadata"].get("resourceVersion").is_none(), "{body}");
    }

    #[tokio::test]
    async fn a_later_write_adds_to_what_is_there_if_nobody_wrote_meanwhile() {
        let current = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "concejo-audit", "namespace": "concejo", "resourceVersion": "42"},
            "data": {"lastEventTime": "2026-11-20T12:00:00Z", "events": "100"}});
        let (_, body) = write_against(Some(current), 5, "2026-11-20T12:01:00Z").await;
        assert_eq!(body["data"], json!({"lastEventTime": "2026-11-20T12:01:00Z", "events": "105"}));
        // Another replica's write in between makes this apply fail (409) and be retried.
        assert_eq!(body["metadata"]["resourceVersion"], "42");
    }

    #[tokio::test]
    async fn a_batch_is_counted_and_its_newest_time_kept_until_written() {
        let (service, _api) = mock::pair::<Request<Body>, Response<Body>>();
        let receiver = Receiver::new(Client::new(service, "default"), "concejo".into(), Some("s3cret".into()));
        let batch = json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [
            {"auditID": "1", "verb": "delete", "user": {"username": "maria"}, "stageTimestamp": "2026-11-20T12:00:02Z",
             "objectRef": {"resource": "configmaps", "namespace": "muni-24040", "name": "notas"}},
            {"auditID": "2", "verb": "update", "user": {"username": "x"}, "stageTimestamp": "2026-11-20T12:00:01Z",
             "objectRef": {"resource": "deployments", "namespace": "kube-system", "name": "coredns"}}]});
        let body = Bytes::from(serde_json::to_vec(&batch).unwrap());
        let mut headers = HeaderMap::new();
        let post = |headers: &HeaderMap, body: &Bytes| receive(State(receiver.clone()), headers.clone(), body.clone());
        assert_eq!(post(&headers, &body).await.0, StatusCode::UNAUTHORIZED);
        headers.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert_eq!(post(&headers, &Bytes::from_static(b"{\"items\": 3}")).await.0, StatusCode::BAD_REQUEST);
        assert_eq!(receiver.pending.lock().unwrap().events, 0, "refused batches count for nothing");
        assert_eq!(post(&headers, &body).await.0, StatusCode::OK);
        assert_eq!(post(&headers, &body).await.0, StatusCode::OK);
        let pending = receiver.pending.lock().unwrap();
        assert_eq!(pending.events, 4, "every event counts, not only the tenants'");
        assert_eq!(pending.newest, Some("2026-11-20T12:00:02Z".parse().unwrap()));
    }

    #[test]
    fn a_token_when_configured_must_match() {
        assert!(authorized(None, None));
        assert!(authorized(None, Some("Bearer anything")));
        assert!(authorized(Some("s3cret"), Some("Bearer s3cret")));
        assert!(!authorized(Some("s3cret"), None));
        assert!(!authorized(Some("s3cret"), Some("Bearer other")));
        assert!(!authorized(Some("s3cret"), Some("s3cret")));
    }
}
