//! Leader election on a `coordination.k8s.io` Lease, so two replicas are safe: only the holder
//! reconciles and writes; the other waits and takes over when the holder stops renewing.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::warn;

use super::fence::{self, Fence};
use super::http::Health;

/// Where the Lease lives and how long a holder keeps it without renewing.
#[derive(Clone, Debug)]
pub struct Election {
    pub namespace: String,
    pub lease: String,
    /// This replica's name in the Lease (`holderIdentity`).
    pub identity: String,
    /// Seconds a holder keeps the lease after its last renewal.
    pub duration: u64,
    /// Seconds before expiry at which the holder renews.
    pub grace: u64,
}

/// Starts competing for the Lease. The receiver says whether this replica leads now; it changes
/// when leadership is won or lost.
pub async fn campaign(client: Client, election: &Election) -> Result<watch::Receiver<bool>, LeaseManagerError> {
    let manager = LeaseManagerBuilder::new(client, &election.lease)
        .with_namespace(&election.namespace)
        .with_identity(&election.identity)
        .with_duration(election.duration)
        .with_grace(election.grace)
        .with_field_manager(format!("concejo-leader-{}", election.identity))
        .build()
        .await?;
    let (leading, _task) = manager.watch().await;
    Ok(leading)
}

/// Whether some replica holds the Lease now (renewed within its duration).
pub fn leader_known(lease: Option<&Lease>, now: Timestamp) -> bool {
    let Some(spec) = lease.and_then(|l| l.spec.as_ref()) else { return false };
    let held = spec.holder_identity.as_ref().is_some_and(|h| !h.is_empty());
    let fresh = match (&spec.renew_time, spec.lease_duration_seconds) {
        (Some(renewed), Some(seconds)) => {
            renewed.0.saturating_add(SignedDuration::from_secs(seconds.into())).is_ok_and(|until| until > now)
        }
        _ => false,
    };
    held && fresh
}

/// What one look at the Lease says: whether a leader is known, and until when this replica may
/// write (the fence closes when the Lease is someone else's, or this replica's has expired).
fn saw(lease: Option<&Lease>, election: &Election, health: &Health, margin: Duration) {
    let (now_wall, now) = (Timestamp::now(), Instant::now());
    health.leader_known.store(leader_known(lease, now_wall), Ordering::Relaxed);
    let spec = lease.and_then(|l| l.spec.as_ref());
    let until = spec.and_then(|s| {
        fence::writes_until(
            s.holder_identity.as_deref(),
            &election.identity,
            s.renew_time.as_ref().map(|t| t.0),
            s.lease_duration_seconds,
            margin,
            now_wall,
            now,
        )
    });
    match until {
        Some(until) => health.fence.hold_until(until),
        None => health.fence.close(),
    }
}

/// How long before the Lease expires this replica stops writing: time for a request already on
/// its way, well inside the renewal's grace.
pub fn fence_margin(election: &Election) -> Duration {
    Duration::from_millis((election.grace * 1000 / 2).clamp(200, 1000))
}

/// Follows this replica's Lease as it is renewed (a watch of that one object, so each renewal
/// opens the fence on from the moment it is made), for the [`Fence`] and `/readyz`.
pub async fn follow(client: Client, election: Election, health: Health) {
    let api = Api::<Lease>::namespaced(client, &election.namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={}", election.lease));
    let margin = fence_margin(&election);
    let mut events = watcher::watcher(api, config).boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Apply(lease) | Event::InitApply(lease)) => saw(Some(&lease), &election, &health, margin),
            Ok(Event::Delete(_)) => saw(None, &election, &health, margin),
            Ok(_) => {}
            // The watcher retries by itself; the fence closes on its own when renewals stop.
            Err(e) => {
                warn!(error = %e, "watch of the Lease failed; retrying");
                tokio::time::sleep(API_PROBE_EVERY).await;
            }
        }
    }
}

/// How often the API server is probed for `/readyz`.
pub const API_PROBE_EVERY: Duration = Duration::from_secs(2);
/// How long one probe may take.
const API_PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Probes the API server every [`API_PROBE_EVERY`] with a GET of the Lease (it reads from etcd,
/// and concejo may read it; not found is an answer too), so that `/readyz` says when concejo
/// cannot work. With leader election the answer also says whether a leader is known and, for the
/// [`Fence`], until when this replica may write.
pub async fn probe(client: Client, namespace: String, lease: String, election: Option<Election>, health: Health) {
    let api = Api::<Lease>::namespaced(client, &namespace);
    loop {
        let sent = Instant::now();
        match tokio::time::timeout(API_PROBE_TIMEOUT, api.get_opt(&lease)).await {
            Ok(Ok(found)) => {
                health.api.answered(sent);
                if let Some(election) = &election {
                    saw(found.as_ref(), election, &health, fence_margin(election));
                }
            }
            Ok(Err(e)) => health.api.failed(e.to_string()),
            Err(_) => health.api.failed(format!("no answer within {}s", API_PROBE_TIMEOUT.as_secs())),
        }
        tokio::time::sleep_until(sent + API_PROBE_EVERY).await;
    }
}

/// A replica's fence: closed until its Lease is seen renewed with leader election, open without.
pub fn fence_for(leader_election: bool) -> Arc<Fence> {
    if leader_election { Fence::closed() } else { Fence::open() }
}
