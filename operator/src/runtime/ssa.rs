//! Server-side apply of complete desired objects, one field manager. An object is applied only
//! when the live one differs from what concejo declares:
//! - every declared field must be there with the same value (quantities compared by value, since
//!   the API server stores "1000m" as "1"); fields only the live object has (defaults, status,
//!   other managers' additions that concejo does not declare) do not matter;
//! - the declaration carries a hash of itself (annotation `concejo.dev/applied`), so when concejo
//!   stops declaring a field the hash differs, the object is applied again, and server-side apply
//!   removes the field.
//!
//! So a reconcile that finds nothing to change makes no write, and what concejo no longer wants
//! does not linger. Every write is also a line of the activity log ([`activity`]).

use std::fmt::Debug;

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::activity::{self, Action};
use super::errors::Error;
use super::metrics::Metrics;
use crate::domain::{hash, quantity};
use crate::resources::Manifest;
use crate::resources::labels::{APPLIED_ANNOTATION, FIELD_MANAGER};

/// The body to apply: the manifest with the hash of its declaration as an annotation.
pub fn declared(manifest: &Manifest) -> Value {
    let mut body = manifest.body.clone();
    let digest = format!("{:016x}", hash::fnv1a(manifest.body.to_string().as_bytes()));
    let metadata = body.as_object_mut().and_then(|o| o.get_mut("metadata")).and_then(Value::as_object_mut);
    if let Some(metadata) = metadata {
        let annotations = metadata.entry("annotations").or_insert_with(|| Value::Object(Default::default()));
        if let Some(annotations) = annotations.as_object_mut() {
            annotations.insert(APPLIED_ANNOTATION.into(), Value::String(digest));
        }
    }
    body
}

/// Applies `manifest` unless `live` (its object from a watch cache, as JSON) already says it.
/// Returns what it did: nothing, created (also when it had to make the object again) or changed.
pub async fn ensure(
    client: &Client,
    live: Option<&Value>,
    manifest: &Manifest,
    metrics: &Metrics,
) -> Result<Option<Action>, Error> {
    let body = declared(manifest);
    if live.is_some_and(|live| contains(live, &body)) {
        return Ok(None);
    }
    let (resource, namespace, name) = (&manifest.resource, manifest.namespace.as_deref(), manifest.name.as_str());
    let api = dynamic(client, resource, namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    // Not in the cache: concejo creates it (or the cache has not seen it yet, and the apply changes
    // nothing: the activity log may then say "create" of an object that was there).
    let mut action = if live.is_some() { Action::Update } else { Action::Create };
    match api.patch(name, &params, &Patch::Apply(&body)).await {
        Err(kube::Error::Api(status)) if must_remake(&status, &body) => {
            unless_gone(api.delete(name, &Default::default()).await)?;
            metrics.wrote(&resource.kind, "delete");
            activity::record(Action::Delete, resource, namespace, name, live);
            api.patch(name, &params, &Patch::Apply(&body)).await?;
            action = Action::Create;
        }
        result => {
            result?;
        }
    }
    metrics.wrote(&resource.kind, "apply");
    activity::record(action, resource, namespace, name, Some(&body));
    Ok(Some(action))
}

/// Whether the API server refused the declaration because it changes a field that never changes,
/// so the object must be made again: a RoleBinding's `roleRef` (bindings to the namespaced Roles
/// of earlier versions are bound to the ClusterRoles now).
fn must_remake(status: &kube::core::Status, declared: &Value) -> bool {
    let immutable = |field: &str| {
        status
            .details
            .as_ref()
            .is_some_and(|d| d.causes.iter().any(|c| c.field == field && c.message.contains("immutable")))
    };
    status.code == 422 && declared.get("roleRef").is_some() && immutable("roleRef")
}

/// Deletes one object of the given kind, if it is still there. Returns whether it deleted.
pub async fn delete(
    client: &Client,
    resource: &kube::api::ApiResource,
    namespace: Option<&str>,
    name: &str,
    metrics: &Metrics,
) -> Result<bool, Error> {
    delete_seen(client, resource, namespace, name, None, metrics).await
}

/// [`delete`], with the object as last seen (from a watch cache), so the activity log names the
/// tenant and province its labels say.
pub async fn delete_seen(
    client: &Client,
    resource: &kube::api::ApiResource,
    namespace: Option<&str>,
    name: &str,
    live: Option<&Value>,
    metrics: &Metrics,
) -> Result<bool, Error> {
    let api = dynamic(client, resource, namespace);
    let deleted = unless_gone(api.delete(name, &Default::default()).await)?.is_some();
    if deleted {
        metrics.wrote(&resource.kind, "delete");
        activity::record(Action::Delete, resource, namespace, name, live);
    }
    Ok(deleted)
}

/// The API of one kind, in a namespace or cluster-wide.
fn dynamic(client: &Client, resource: &kube::api::ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, resource),
        None => Api::all_with(client.clone(), resource),
    }
}

/// Applies a typed object (for objects outside any tenant, e.g. a province's CA Secret).
pub async fn apply<K>(api: &Api<K>, object: &K, metrics: &Metrics) -> Result<K, Error>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let applied = api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(object)).await?;
    metrics.wrote(&K::kind(&()), "apply");
    let body = serde_json::to_value(object).ok();
    activity::record(
        Action::Apply,
        &ApiResource::erase::<K>(&()),
        object.meta().namespace.as_deref(),
        &name,
        body.as_ref(),
    );
    Ok(applied)
}

/// Writes the `status` concejo owns (server-side apply on the status subresource; conditions
/// other managers own are left alone). Returns false when the object is gone.
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

/// Maps whose values are resource quantities.
const QUANTITY_MAPS: &[&str] =
    &["hard", "default", "defaultRequest", "max", "min", "maxLimitRequestRatio", "requests", "limits", "capacity"];

/// Whether `live` says at least everything `desired` says (see the module comment). Lists must
/// have the same length and match element by element.
pub fn contains(live: &Value, desired: &Value) -> bool {
    contains_at(live, desired, false)
}

/// `quantities`: `live` and `desired` are maps whose values are quantities.
fn contains_at(live: &Value, desired: &Value, quantities: bool) -> bool {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => d.iter().all(|(k, dv)| match (l.get(k), dv) {
            (Some(Value::String(lv)), Value::String(dv)) if quantities => quantity::same(lv, dv),
            (Some(lv), _) => contains_at(lv, dv, QUANTITY_MAPS.contains(&k.as_str())),
            // The API server drops nulls and empty lists and maps: absent is the same as empty.
            (None, _) => is_empty(dv),
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
    use super::*;
    use crate::resources::Part;
    use serde_json::json;

    #[test]
    fn only_a_binding_refused_for_its_role_is_made_again() {
        // As the API server answers (seen on the local control plane).
        let refused = |field: &str| -> kube::core::Status {
            serde_json::from_value(json!({"code": 422, "status": "Failure", "reason": "Invalid", "details": {
            "name": "tenant-admins", "kind": "RoleBinding", "causes": [
                {"reason": "FieldValueInvalid", "field": field, "message": "Invalid value: {...}: field is immutable"}
            ]}}))
            .unwrap()
        };
        let binding = json!({"roleRef": {"kind": "ClusterRole", "name": "concejo-tenant-admin"}});
        assert!(must_remake(&refused("roleRef"), &binding));
        assert!(!must_remake(&refused("subjects"), &binding));
        assert!(!must_remake(&refused("roleRef"), &json!({"spec": {}})));
    }

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
    fn empty_desired_lists_match_absent_fields_but_not_filled_ones() {
        // A RoleBinding with no subjects comes back from the API server without the field.
        let live = json!({"metadata": {"name": "tenant-auditors"}, "roleRef": {"name": "x"}});
        assert!(contains(&live, &json!({"metadata": {"name": "tenant-auditors"}, "subjects": [], "extra": null})));
        assert!(!contains(&live, &json!({"subjects": [{"name": "a"}]})));
        // Someone added an ingress rule to a policy that declares none.
        let opened = json!({"spec": {"ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]}});
        assert!(!contains(&opened, &json!({"spec": {"ingress": []}})));
    }

    #[test]
    fn lists_compare_by_length_and_position() {
        let live = json!({"rules": [{"a": 1, "b": 2}, {"a": 3}]});
        assert!(contains(&live, &json!({"rules": [{"a": 1}, {"a": 3}]})));
        assert!(!contains(&live, &json!({"rules": [{"a": 3}, {"a": 1}]})));
        assert!(!contains(&live, &json!({"rules": [{"a": 1}]})));
    }

    #[test]
    fn quantities_compare_by_value_and_only_where_they_are_quantities() {
        let live = json!({"spec": {"hard": {"requests.cpu": "1", "limits.memory": "512Mi"}}});
        assert!(contains(&live, &json!({"spec": {"hard": {"requests.cpu": "1000m", "limits.memory": "0.5Gi"}}})));
        assert!(!contains(&live, &json!({"spec": {"hard": {"requests.cpu": "2"}}})));
        // Elsewhere a string is a string.
        assert!(!contains(&json!({"data": {"x": "1"}}), &json!({"data": {"x": "1000m"}})));
    }

    fn manifest(body: Value) -> Manifest {
        Manifest {
            resource: kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
            part: Part::Isolation,
            namespace: Some("muni-24115".into()),
            name: "x".into(),
            body,
        }
    }

    #[test]
    fn a_declaration_that_drops_a_field_differs_from_what_was_applied() {
        let before = manifest(json!({"metadata": {"name": "x"}, "spec": {"ports": [443], "to": "a"}}));
        let after = manifest(json!({"metadata": {"name": "x"}, "spec": {"to": "a"}}));
        // What the API server holds after applying `before`.
        let live = declared(&before);
        assert!(contains(&live, &declared(&before)), "unchanged: no write");
        assert!(!contains(&live, &declared(&after)), "a field dropped from the declaration must be applied");
        assert_eq!(declared(&after), declared(&after), "the hash is deterministic");
    }
}
