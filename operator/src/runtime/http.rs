//! `/livez`, `/readyz` and `/metrics` on one small HTTP server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::time::Instant;

use super::fence::Fence;
use super::metrics::Metrics;

/// How long without an answer from the API server before `/readyz` says not ready: a few missed
/// probes (one every [`API_PROBE_EVERY`](super::leader::API_PROBE_EVERY)), not one slow request.
pub const API_STALE: Duration = Duration::from_secs(6);

/// What the endpoints report.
#[derive(Clone)]
pub struct Health {
    /// Every watch cache has synced (set by the leader).
    pub synced: Arc<AtomicBool>,
    /// This replica holds the Lease (always true without leader election).
    pub leading: Arc<AtomicBool>,
    /// Some replica holds the Lease (what a standby reports).
    pub leader_known: Arc<AtomicBool>,
    /// When the API server last answered the probe, and the last error since.
    pub api: Arc<ApiContact>,
    /// Whether this replica's writes may be sent now ([`Fence`]).
    pub fence: Arc<Fence>,
    pub metrics: Arc<Metrics>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            synced: Default::default(),
            leading: Default::default(),
            leader_known: Default::default(),
            api: Default::default(),
            fence: Fence::open(),
            metrics: Default::default(),
        }
    }
}

/// The API server's answers to the probe (a GET that reads from etcd, so an API server that is
/// up without its etcd does not count).
#[derive(Debug, Default)]
pub struct ApiContact {
    last: Mutex<(Option<Instant>, Option<String>)>,
}

impl ApiContact {
    pub fn answered(&self, at: Instant) {
        *self.last.lock().expect("not poisoned") = (Some(at), None);
    }

    pub fn failed(&self, error: String) {
        self.last.lock().expect("not poisoned").1 = Some(error);
    }

    /// How long ago the API server last answered (None: never), and the error since.
    pub fn seen(&self, now: Instant) -> (Option<Duration>, Option<String>) {
        let last = self.last.lock().expect("not poisoned");
        (last.0.map(|at| now.saturating_duration_since(at)), last.1.clone())
    }
}

/// What `/readyz` decides from.
#[derive(Debug, Default, Clone)]
pub struct Observed {
    pub leading: bool,
    pub synced: bool,
    pub leader_known: bool,
    /// How long ago the API server last answered (None: not yet).
    pub api_answered: Option<Duration>,
    pub api_error: Option<String>,
    /// The leader's writes are held: its Lease was not renewed in time.
    pub writes_held: bool,
}

/// Ready: the API server answers, and then the leader once its caches synced and while its Lease
/// is renewed in time; a standby once it knows a leader. Otherwise why not.
pub fn readiness(o: &Observed) -> Result<(), String> {
    let error = o.api_error.as_deref().map(|e| format!(" (last error: {e})")).unwrap_or_default();
    match o.api_answered {
        None => return Err(format!("API server not reached yet{error}")),
        Some(age) if age > API_STALE => {
            return Err(format!("API server unreachable: no answer for {}s{error}", age.as_secs()));
        }
        Some(_) => {}
    }
    if o.leading {
        if !o.synced {
            Err("leader; watch caches not synced yet".into())
        } else if o.writes_held {
            Err("leader; Lease not renewed in time, writes held".into())
        } else {
            Ok(())
        }
    } else if o.leader_known {
        Ok(())
    } else {
        Err("standby; no leader known yet".into())
    }
}

impl Health {
    pub fn observe(&self) -> Observed {
        let now = Instant::now();
        let (api_answered, api_error) = self.api.seen(now);
        let leading = self.leading.load(Ordering::Relaxed);
        Observed {
            leading,
            synced: self.synced.load(Ordering::Relaxed),
            leader_known: self.leader_known.load(Ordering::Relaxed),
            api_answered,
            api_error,
            writes_held: leading && !self.fence.allows(now),
        }
    }

    pub fn ready(&self) -> Result<(), String> {
        readiness(&self.observe())
    }
}

pub fn router(health: Health) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(health)
}

async fn readyz(State(health): State<Health>) -> impl IntoResponse {
    match health.ready() {
        Ok(()) => (StatusCode::OK, "ok\n".to_owned()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
    }
}

async fn metrics(State(health): State<Health>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], health.metrics.encode())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answering() -> Observed {
        Observed { api_answered: Some(Duration::from_secs(1)), ..Observed::default() }
    }

    #[test]
    fn readiness_follows_role_and_caches() {
        let mut o = answering();
        assert!(readiness(&o).is_err(), "a standby without a known leader is not ready");
        o.leader_known = true;
        assert!(readiness(&o).is_ok());
        o.leading = true;
        assert!(readiness(&o).is_err(), "a leader is not ready before its caches sync");
        o.synced = true;
        assert!(readiness(&o).is_ok());
    }

    #[test]
    fn not_ready_while_the_api_server_does_not_answer_and_ready_again_after() {
        let ready = Observed { leading: true, synced: true, ..answering() };
        assert!(readiness(&ready).is_ok());
        let never = Observed { api_answered: None, ..ready.clone() };
        assert_eq!(readiness(&never).unwrap_err(), "API server not reached yet");
        let gone = Observed {
            api_answered: Some(Duration::from_secs(9)),
            api_error: Some("connection refused".into()),
            ..ready.clone()
        };
        assert_eq!(
            readiness(&gone).unwrap_err(),
            "API server unreachable: no answer for 9s (last error: connection refused)"
        );
        // One slow or failed probe is not an outage.
        let blip = Observed { api_answered: Some(API_STALE), api_error: Some("timed out".into()), ..ready.clone() };
        assert!(readiness(&blip).is_ok());
        // A standby cut off from the API server is not ready either: it could not take over.
        let standby = Observed { leading: false, synced: false, leader_known: true, ..gone };
        assert!(readiness(&standby).is_err());
    }

    #[test]
    fn a_leader_whose_writes_are_held_is_not_ready() {
        let held = Observed { leading: true, synced: true, writes_held: true, ..answering() };
        assert_eq!(readiness(&held).unwrap_err(), "leader; Lease not renewed in time, writes held");
    }

    #[test]
    fn the_last_answer_is_remembered_with_the_errors_since() {
        let contact = ApiContact::default();
        let t = Instant::now();
        assert_eq!(contact.seen(t), (None, None));
        contact.answered(t);
        contact.failed("timed out".into());
        assert_eq!(contact.seen(t + Duration::from_secs(3)), (Some(Duration::from_secs(3)), Some("timed out".into())));
        contact.answered(t + Duration::from_secs(4));
        assert_eq!(contact.seen(t + Duration::from_secs(4)), (Some(Duration::ZERO), None));
    }
}
