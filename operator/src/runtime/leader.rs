//! Leader election on a `coordination.k8s.io` Lease, so two replicas are safe: only the holder
//! reconciles and writes; the other waits and takes over when the holder stops renewing.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::{Api, Client};
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;

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
pub async fn leader_known(client: Client, election: &Election) -> bool {
    let api = Api::<Lease>::namespaced(client, &election.namespace);
    let Ok(Some(lease)) = api.get_opt(&election.lease).await else { return false };
    let Some(spec) = lease.spec else { return false };
    let held = spec.holder_identity.is_some_and(|h| !h.is_empty());
    let fresh = match (spec.renew_time, spec.lease_duration_seconds) {
        (Some(renewed), Some(seconds)) => renewed
            .0
            .saturating_add(SignedDuration::from_secs(seconds.into()))
            .is_ok_and(|until| until > Timestamp::now()),
        _ => false,
    };
    held && fresh
}

/// How often a standby checks whether a leader is known, for `/readyz`.
pub const STANDBY_POLL: Duration = Duration::from_secs(2);
