//! Errors of a reconcile, and how long to wait before the next try. An invalid spec is not an
//! error (it becomes a condition); these are the transient failures that are retried.

use std::time::Duration;

/// A reconcile that failed and will be retried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("could not serialize the desired object: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("{0}")]
    Pki(#[from] crate::pki::PkiError),
    /// One or more parts of a tenant could not be applied; their conditions say which and why.
    #[error("{0}")]
    Parts(String),
}

impl Error {
    /// A bounded label for metrics and the reason of the Warning Event.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(status)) if status.code == 409 => "Conflict",
            Error::Kube(_) => "Kubernetes",
            Error::Serialize(_) => "Serialization",
            Error::Pki(_) => "Certificate",
            Error::Parts(_) => "Apply",
        }
    }
}

/// The longest wait between two tries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The wait after `failures` consecutive failures: 1 s, 2 s, 4 s ... up to five minutes, each
/// spread by up to a fifth either way (`spread` in [0, 1)), so that many tenants failing together
/// (an API server restart) do not all come back in the same second.
pub fn backoff(failures: u32, spread: f64) -> Duration {
    let base = Duration::from_secs(1u64 << failures.saturating_sub(1).min(9)).min(MAX_BACKOFF);
    base.mul_f64(0.8 + 0.4 * spread.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes_with_a_spread() {
        assert_eq!(backoff(1, 0.5), Duration::from_secs(1));
        assert_eq!(backoff(3, 0.5), Duration::from_secs(4));
        assert_eq!(backoff(30, 0.5), MAX_BACKOFF);
        assert_eq!(backoff(3, 0.0), Duration::from_millis(3200));
        assert!(backoff(3, 0.999) > Duration::from_millis(4790));
        assert!(backoff(30, 0.999) <= MAX_BACKOFF.mul_f64(1.2));
    }
}
