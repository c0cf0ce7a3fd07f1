//! `/livez`, `/readyz` and `/metrics` on one small HTTP server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::metrics::Metrics;

/// What the endpoints report.
#[derive(Clone, Default)]
pub struct Health {
    /// Every watch cache has synced (set by the leader).
    pub synced: Arc<AtomicBool>,
    /// This replica holds the Lease (always true without leader election).
    pub leading: Arc<AtomicBool>,
    /// Some replica holds the Lease (what a standby reports).
    pub leader_known: Arc<AtomicBool>,
    pub metrics: Arc<Metrics>,
}

impl Health {
    /// Ready: the leader once its caches synced; a standby once it knows a leader.
    pub fn ready(&self) -> Result<(), &'static str> {
        if self.leading.load(Ordering::Relaxed) {
            if self.synced.load(Ordering::Relaxed) { Ok(()) } else { Err("leader; watch caches not synced yet") }
        } else if self.leader_known.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err("standby; no leader known yet")
        }
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

    #[test]
    fn readiness_follows_role_and_caches() {
        let h = Health::default();
        assert!(h.ready().is_err(), "a standby without a known leader is not ready");
        h.leader_known.store(true, Ordering::Relaxed);
        assert!(h.ready().is_ok());
        h.leading.store(true, Ordering::Relaxed);
        assert!(h.ready().is_err(), "a leader is not ready before its caches sync");
        h.synced.store(true, Ordering::Relaxed);
        assert!(h.ready().is_ok());
    }
}
