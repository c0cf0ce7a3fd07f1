//! Server-side apply of complete desired objects, skipped when the live object already says
//! everything the desired one says: a reconcile that finds nothing to change makes no write.

use std::fmt::Debug;

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::Error;
use crate::labels::FIELD_MANAGER;
use crate::metrics::Metrics;

/// Applies `desired` unless `live` (from a watch cache) already contains it. Returns the object
/// as the API server holds it after the call, or `live` when nothing was written.
pub async fn ensure<K>(api: &Api<K>, live: Option<&K>, desired: &K, metrics: &Metrics) -> Result<K, Error>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + Debug,
{
    if let Some(live) = live
        && contains(&serde_json::to_value(live)?, &serde_json::to_value(desired)?)
    {
        return Ok(live.clone());
    }
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let applied = api.patch(&desired.name_any(), &params, &Patch::Apply(desired)).await?;
    metrics.wrote(&K::kind(&()), "apply");
    Ok(applied)
}

/// Writes the whole `status` of an object (server-side apply on the status subresource).
/// Returns false when the object is gone (a cache can be behind a deletion).
pub async fn status<K, S>(api: &Api<K>, name: &str, status: &S, metrics: &Metrics) -> Result<bool, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: Serialize,
{
    let patch = serde_json::json!({"apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": status});
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let written = unless_gone(api.patch_status(name, &params, &Patch::Apply(&patch)).await)?.is_some();
    if written {
        metrics.wrote(&K::kind(&()), "status");
    }
    Ok(written)
}

/// A request's result with "not found" as `None`: the object is already gone, which for a
/// delete, a finalizer or a status write means there is nothing left to do.
pub fn unless_gone<T>(result: Result<T, kube::Error>) -> Result<Option<T>, kube::Error> {
    match result {
        Ok(t) => Ok(Some(t)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether `live` says at least everything `desired` says: every field of `desired` is in `live`
/// with the same value; lists must have the same length and match element by element. Fields
/// only `live` has (defaults, status, other managers' fields) do not matter.
pub fn contains(live: &Value, desired: &Value) -> bool {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => contains(lv, dv),
            // The API server drops nulls and empty lists and maps: absent is the same as empty.
            None => is_empty(dv),
        }),
        (Value::Array(l), Value::Array(d)) => l.len() == d.len() && l.iter().zip(d).all(|(lv, dv)| contains(lv, dv)),
        _ => live == desired,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::contains;
    use serde_json::json;

    #[test]
    fn live_object_with_extra_fields_contains_the_desired_one() {
        let live = json!({"metadata": {"name": "a", "labels": {"x": "1", "y": "2"}, "uid": "u"}, "status": {"phase": "Active"}});
        assert!(contains(&live, &json!({"metadata": {"name": "a", "labels": {"x": "1"}}})));
    }

    #[test]
    fn changed_or_missing_field_is_a_difference() {
        let live = json!({"metadata": {"labels": {"x": "1"}}});
        assert!(!contains(&live, &json!({"metadata": {"labels": {"x": "2"}}})));
        assert!(!contains(&live, &json!({"metadata": {"labels": {"z": "1"}}})));
    }

    #[test]
    fn empty_desired_lists_match_absent_fields() {
        // A RoleBinding with no subjects comes back from the API server without the field.
        let live = json!({"metadata": {"name": "tenant-auditors"}, "roleRef": {"name": "x"}});
        assert!(contains(&live, &json!({"metadata": {"name": "tenant-auditors"}, "subjects": [], "extra": null})));
        assert!(!contains(&live, &json!({"subjects": [{"name": "a"}]})));
    }

    #[test]
    fn lists_compare_by_length_and_position() {
        let live = json!({"rules": [{"a": 1, "b": 2}, {"a": 3}]});
        assert!(contains(&live, &json!({"rules": [{"a": 1}, {"a": 3}]})));
        assert!(!contains(&live, &json!({"rules": [{"a": 3}, {"a": 1}]})));
        assert!(!contains(&live, &json!({"rules": [{"a": 1}]})));
    }
}
