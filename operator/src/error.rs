//! Errors of a reconcile. An invalid spec is not an error (it becomes a condition); these are the
//! transient failures that are retried with backoff.

/// A reconcile that failed and will be retried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("could not serialize the desired object: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("{0}")]
    Pki(#[from] crate::pki::PkiError),
}

impl Error {
    /// A bounded label for metrics and the reason of the Warning Event.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(status)) if status.code == 409 => "Conflict",
            Error::Kube(_) => "Kubernetes",
            Error::Serialize(_) => "Serialization",
            Error::Pki(_) => "Certificate",
        }
    }
}
