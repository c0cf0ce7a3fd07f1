//! Who holds an INE code or a hostname when two Municipalities ask for the same one: the one
//! already holding it keeps it; otherwise the older object, then the name (creation times have
//! one-second resolution). Pure: the candidates come from the index.

use kube::ResourceExt;

use crate::api::v1alpha1::Municipality;

/// Whether `a`'s claim comes before `b`'s; `held` says whether a Municipality already holds it.
pub fn before(a: &Municipality, b: &Municipality, held: impl Fn(&Municipality) -> bool) -> bool {
    let key = |m: &Municipality| (!held(m), m.metadata.creation_timestamp.clone().map(|t| t.0), m.name_any());
    key(a) < key(b)
}

/// Whether a Municipality holds its tenant namespace (it was provisioned).
pub fn holds_namespace(m: &Municipality) -> bool {
    m.status.as_ref().is_some_and(|s| s.namespace.is_some())
}

/// Whether a Municipality serves `host` now (it is in its status).
pub fn serves(m: &Municipality, host: &str) -> bool {
    m.status.as_ref().is_some_and(|s| s.hosts.iter().any(|h| h == host))
}

/// Whether a Municipality asks for `host` or serves it.
pub fn claims_host(m: &Municipality, host: &str) -> bool {
    m.spec.domains.iter().any(|d| d == host) || serves(m, host)
}
