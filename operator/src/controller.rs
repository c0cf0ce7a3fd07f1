//! The reconcile loop: one Municipality at a time, read -> validate -> build -> apply -> status.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{Future, StreamExt};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use crate::api::v1alpha1::{Municipality, MunicipalityStatus, Province};
use crate::error::Error;
use crate::labels::{self, FIELD_MANAGER, FINALIZER};
use crate::metrics::{self, Metrics};
use crate::status::{self, Outcome};
use crate::{apply, conditions, namespace, tenant};

/// How often a Ready tenant is looked at again even when nothing changed: a safety net for
/// missed watch events, not the way drift is found (watches are).
const RESYNC: Duration = Duration::from_secs(300);
/// How often a tenant waiting on Kubernetes (a namespace still terminating) is looked at again.
const WAIT: Duration = Duration::from_secs(2);

/// What every reconcile shares: the client and the watch caches.
pub struct Context {
    pub client: Client,
    pub provinces: Store<Province>,
    pub namespaces: Store<Namespace>,
    pub metrics: Arc<Metrics>,
    reporter: Reporter,
    /// Consecutive failures per Municipality, for exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
}

/// Settings of the controller.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How many Municipalities are reconciled at once.
    pub concurrency: u16,
}

impl Default for Settings {
    fn default() -> Self {
        Self { concurrency: 16 }
    }
}

/// Runs the controller until `shutdown` resolves. `on_synced` is called once every watch cache
/// has its first full list.
pub async fn run(
    client: Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    on_synced: impl FnOnce() + Send + 'static,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let (provinces, province_writer) = reflector::store::<Province>();
    let province_events =
        reflector(province_writer, watcher(Api::<Province>::all(client.clone()), watcher::Config::default()))
            .default_backoff()
            .touched_objects();

    let (namespaces, namespace_writer) = reflector::store::<Namespace>();
    let namespace_events = reflector(
        namespace_writer,
        watcher(Api::<Namespace>::all(client.clone()), watcher::Config::default().labels(&labels::managed_selector())),
    )
    .default_backoff()
    .touched_objects();

    let controller = Controller::new(Api::<Municipality>::all(client.clone()), watcher::Config::default())
        .with_config(ControllerConfig::default().concurrency(settings.concurrency));
    let municipalities = controller.store();

    let caches = (municipalities.clone(), provinces.clone(), namespaces.clone());
    tokio::spawn(async move {
        let (m, p, n) = caches;
        if synced(&m).await && synced(&p).await && synced(&n).await {
            info!("watch caches synced");
            on_synced();
        }
    });

    let by_province = municipalities.clone();
    let context = Arc::new(Context {
        client: client.clone(),
        provinces,
        namespaces,
        metrics,
        reporter: Reporter { controller: "concejo".into(), instance: std::env::var("POD_NAME").ok() },
        failures: Mutex::default(),
    });
    controller
        // A Province change re-renders every tenant of that province.
        .watches_stream(province_events, move |province: Province| {
            let name = province.name_any();
            by_province
                .state()
                .into_iter()
                .filter(|m| m.spec.province == name)
                .map(|m| ObjectRef::from(&*m))
                .collect::<Vec<_>>()
        })
        // An edited or deleted tenant namespace is put back.
        .watches_stream(namespace_events, |ns: Namespace| {
            ns.labels().get(labels::INSTANCE).map(|name| ObjectRef::<Municipality>::new(name))
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .for_each(|_| std::future::ready(()))
        .await;
}

/// Waits until a watch cache has its first full list (false if its writer is gone).
///
/// `Store::wait_until_ready` wakes only the most recent waiter, and the controller waits on its
/// own store too, so this polls it again every 100 ms instead of waiting once.
async fn synced<K>(store: &Store<K>) -> bool
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    loop {
        match tokio::time::timeout(Duration::from_millis(100), store.wait_until_ready()).await {
            Ok(result) => return result.is_ok(),
            Err(_elapsed) => continue,
        }
    }
}

async fn reconcile(municipality: Arc<Municipality>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = reconcile_municipality(&municipality, &ctx).await;
    let outcome = match &result {
        Ok((_, true)) => metrics::Outcome::Invalid,
        Ok((_, false)) => metrics::Outcome::Success,
        Err(_) => metrics::Outcome::Error,
    };
    ctx.metrics.reconciled(outcome, started.elapsed());
    if result.is_ok() {
        ctx.failures.lock().expect("poisoned").remove(&municipality.name_any());
    }
    result.map(|(action, _)| action)
}

/// Returns the next action and whether the spec was invalid.
async fn reconcile_municipality(municipality: &Municipality, ctx: &Context) -> Result<(Action, bool), Error> {
    let api = Api::<Municipality>::all(ctx.client.clone());
    if municipality.meta().deletion_timestamp.is_some() {
        return finalize(municipality, ctx, &api).await.map(|a| (a, false));
    }
    if !municipality.finalizers().iter().any(|f| f == FINALIZER) {
        // The patch triggers the next reconcile, which provisions.
        add_finalizer(municipality, ctx, &api).await?;
        return Ok((Action::await_change(), false));
    }

    let province = ctx.provinces.get(&ObjectRef::new(&municipality.spec.province));
    let outcome = match tenant::validate(municipality, province.as_deref()) {
        Err(invalid) => Outcome::Invalid(invalid),
        Ok(tenant) => provision(&tenant, ctx).await?,
    };
    write_status(municipality, &outcome, ctx, &api).await?;
    let action = match &outcome {
        Outcome::Ready { .. } | Outcome::Invalid(_) => Action::requeue(RESYNC),
        Outcome::Provisioning { .. } | Outcome::Terminating { .. } => Action::requeue(WAIT),
    };
    Ok((action, matches!(outcome, Outcome::Invalid(_))))
}

/// Brings the tenant's objects to their desired state.
async fn provision(tenant: &tenant::ValidTenant, ctx: &Context) -> Result<Outcome, Error> {
    let name = tenant.namespace();
    let live = ctx.namespaces.get(&ObjectRef::new(&name));
    if live.as_ref().is_some_and(|ns| ns.metadata.deletion_timestamp.is_some()) {
        return Ok(Outcome::Provisioning {
            namespace: name.clone(),
            reason: "NamespaceTerminating",
            message: format!("namespace {name} is still being deleted; it is created again once it is gone"),
        });
    }
    let applied = apply::ensure(
        &Api::<Namespace>::all(ctx.client.clone()),
        live.as_deref(),
        &namespace::build(tenant),
        &ctx.metrics,
    )
    .await?;
    let phase = applied.status.as_ref().and_then(|s| s.phase.as_deref());
    if phase == Some("Active") {
        Ok(Outcome::Ready { namespace: name })
    } else {
        Ok(Outcome::Provisioning {
            namespace: name.clone(),
            reason: "NamespaceNotActive",
            message: format!("namespace {name} is {}", phase.unwrap_or("not yet active")),
        })
    }
}

/// Deletes the tenant namespace, waits until it is gone, then lets the Municipality go.
async fn finalize(municipality: &Municipality, ctx: &Context, api: &Api<Municipality>) -> Result<Action, Error> {
    if !municipality.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let name = tenant::namespace_name(&municipality.spec.ine_code);
    let namespaces = Api::<Namespace>::all(ctx.client.clone());
    let ours = |ns: &Namespace| ns.labels().get(labels::INSTANCE) == Some(&municipality.name_any());
    match namespaces.get_opt(&name).await? {
        // Only the namespace this Municipality owns: never one another tenant provisioned.
        Some(ns) if ours(&ns) => {
            if ns.metadata.deletion_timestamp.is_none() {
                namespaces.delete(&name, &DeleteParams::background()).await?;
                ctx.metrics.wrote("Namespace", "delete");
                publish(
                    ctx,
                    municipality,
                    EventType::Normal,
                    "DeletingNamespace",
                    format!("deleting namespace {name}"),
                )
                .await;
            }
            let outcome = Outcome::Terminating { message: format!("waiting for namespace {name} to be deleted") };
            write_status(municipality, &outcome, ctx, api).await?;
            Ok(Action::requeue(WAIT))
        }
        _ => {
            let finalizers: Vec<_> = municipality.finalizers().iter().filter(|f| *f != FINALIZER).cloned().collect();
            patch_finalizers(municipality, finalizers, ctx, api).await?;
            info!(municipality = %municipality.name_any(), "tenant removed");
            Ok(Action::await_change())
        }
    }
}

async fn add_finalizer(municipality: &Municipality, ctx: &Context, api: &Api<Municipality>) -> Result<(), Error> {
    let mut finalizers = municipality.finalizers().to_vec();
    finalizers.push(FINALIZER.to_owned());
    patch_finalizers(municipality, finalizers, ctx, api).await
}

/// Sets the finalizer list; the resourceVersion makes it fail (and retry) if someone else changed
/// the object meanwhile, so no other controller's finalizer is lost.
async fn patch_finalizers(
    municipality: &Municipality,
    finalizers: Vec<String>,
    ctx: &Context,
    api: &Api<Municipality>,
) -> Result<(), Error> {
    let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": municipality.resource_version()}});
    api.patch(&municipality.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    ctx.metrics.wrote("Municipality", "patch");
    Ok(())
}

/// Writes the status only when it differs from what the object already has, and publishes an
/// Event for every condition that flipped.
async fn write_status(
    municipality: &Municipality,
    outcome: &Outcome,
    ctx: &Context,
    api: &Api<Municipality>,
) -> Result<(), Error> {
    let desired = status::compute(municipality, outcome, Timestamp::now());
    let current = municipality.status.clone().unwrap_or_default();
    if current == desired {
        return Ok(());
    }
    let patch = json!({
        "apiVersion": Municipality::api_version(&()),
        "kind": Municipality::kind(&()),
        "status": desired,
    });
    api.patch_status(&municipality.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch))
        .await?;
    ctx.metrics.wrote("Municipality", "status");
    for (type_, reason, message, ok) in flipped(&current, &desired) {
        let kind = if ok { EventType::Normal } else { EventType::Warning };
        publish(ctx, municipality, kind, &reason, format!("{type_}: {message}")).await;
    }
    Ok(())
}

/// Conditions whose status or reason changed: (type, reason, message, status).
fn flipped(current: &MunicipalityStatus, desired: &MunicipalityStatus) -> Vec<(String, String, String, bool)> {
    desired
        .conditions
        .iter()
        .filter(|d| {
            !current.conditions.iter().any(|c| c.type_ == d.type_ && c.status == d.status && c.reason == d.reason)
        })
        .map(|d| {
            (
                d.type_.clone(),
                d.reason.clone(),
                d.message.clone(),
                conditions::is_true(std::slice::from_ref(d), &d.type_),
            )
        })
        .collect()
}

/// Events are best effort: a failure to record one is logged, never fails the reconcile.
async fn publish(ctx: &Context, municipality: &Municipality, type_: EventType, reason: &str, note: String) {
    let recorder = Recorder::new(ctx.client.clone(), ctx.reporter.clone());
    let event =
        Event { type_, reason: reason.to_owned(), note: Some(note), action: "Reconcile".into(), secondary: None };
    if let Err(err) = recorder.publish(&event, &municipality.object_ref(&())).await {
        warn!(%err, "could not record an Event");
    } else {
        ctx.metrics.wrote("Event", "create");
    }
}

/// Retries with exponential backoff per Municipality: 1 s, 2 s, 4 s ... up to 5 minutes.
fn error_policy(municipality: Arc<Municipality>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failed(error.category());
    let mut failures = ctx.failures.lock().expect("poisoned");
    let n = failures.entry(municipality.name_any()).or_default();
    *n = n.saturating_add(1);
    let delay = Duration::from_secs(1u64 << (*n - 1).min(8)).min(RESYNC);
    warn!(municipality = %municipality.name_any(), %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}
