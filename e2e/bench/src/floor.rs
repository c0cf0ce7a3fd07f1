//! The floor: the least a client must send the API server to give every tenant what concejo gives
//! it. It reads the Provinces, ServicePlans and Municipalities once, builds exactly the objects
//! concejo builds, with concejo's own code (validation, the provinces' CAs and the tenant
//! certificates from `pki`, the tenant's objects from `resources::build`), and server-side applies
//! them with concejo's own request (`runtime::ssa`: same body, hash annotation, field manager,
//! force) and concejo's concurrency: at most `concurrency` tenants at once, each tenant's objects
//! one after another in concejo's order, so at most `concurrency` requests in flight, as in
//! concejo (kube-rs has no client-side rate limit: the concurrency is the whole request budget).
//!
//! Nothing else: no watches, no reads of what is there, no finalizer, no status, no Events. So
//! it only applies to a fresh cluster, and its time is the API server's write floor for this work.

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, bail};
use concejo::api::v1alpha1::{Municipality, Province, ServicePlan};
use concejo::domain::{self, Inputs};
use concejo::pki::{self, ca};
use concejo::resources::{self, admission, ca_secret};
use concejo::runtime::metrics::Metrics;
use concejo::runtime::ssa;
use futures::StreamExt;
use k8s_openapi::api::admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};

use crate::{Out, epoch};

/// Everything one tenant needs besides its Municipality.
struct Shared {
    client: Client,
    provinces: Vec<(Province, ca::CaState)>,
    plans: Vec<ServicePlan>,
    metrics: Metrics,
    /// (unix seconds, name) of every tenant whose objects are all applied.
    done: Mutex<Vec<(f64, String)>>,
    objects: Mutex<usize>,
}

/// Applies every tenant's objects; writes `<unix seconds>\t<name>` when a tenant's last object is
/// applied to `series`.
pub async fn run(
    client: Client,
    concurrency: usize,
    namespace: &str,
    series: &Path,
    out: &mut Out,
) -> anyhow::Result<()> {
    let start = epoch();
    let list = ListParams::default();
    let provinces = Api::<Province>::all(client.clone()).list(&list).await?.items;
    let plans = Api::<ServicePlan>::all(client.clone()).list(&list).await?.items;
    let municipalities = Api::<Municipality>::all(client.clone()).list(&list).await?.items;
    if let Some(m) = municipalities.iter().find(|m| m.spec.collaboration.enabled || m.spec.storage.is_some()) {
        bail!("{} has volumes or the suite: the floor builds tenants without them only", m.name_any());
    }
    let metrics = Metrics::default();

    // What concejo keeps outside the tenants: the admission policy, and each province's CA (made
    // as its Province controller makes it, then stored in its Secret).
    let now = Timestamp::now().as_second();
    let mut cas = vec![];
    for p in provinces {
        let settings = ca::Settings::of(&p.spec.pki);
        let permitted = vec![p.spec.base_domain.clone()];
        let name = p.name_any();
        let state =
            tokio::task::spawn_blocking(move || ca::reconcile(None, None, &name, &permitted, settings, None, now))
                .await??
                .0;
        cas.push((p, state));
    }
    let first = epoch();
    for (policy, binding) in admission::policies()? {
        ssa::apply(&Api::<ValidatingAdmissionPolicy>::all(client.clone()), &policy, &metrics).await?;
        ssa::apply(&Api::<ValidatingAdmissionPolicyBinding>::all(client.clone()), &binding, &metrics).await?;
    }
    let secrets = Api::<Secret>::namespaced(client.clone(), namespace);
    for (p, state) in &cas {
        let secret = ca_secret::build(state, &p.name_any(), &p.spec.ine_code, namespace);
        ssa::apply(&secrets, &secret, &metrics).await?;
    }

    let shared =
        Arc::new(Shared { client, provinces: cas, plans, metrics, done: Mutex::default(), objects: Mutex::new(2) });
    let tenants = municipalities.len();
    let failures: Vec<String> = futures::stream::iter(municipalities)
        .map(|m| {
            let shared = shared.clone();
            async move { tenant(&shared, &m).await.err().map(|e| format!("{}: {e:#}", m.name_any())) }
        })
        .buffer_unordered(concurrency)
        .filter_map(|f| async move { f })
        .collect()
        .await;
    let end = epoch();

    let mut file = std::fs::File::create(series).with_context(|| format!("cannot write {}", series.display()))?;
    let mut done = shared.done.lock().expect("poisoned").clone();
    done.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (t, name) in &done {
        writeln!(file, "{t:.3}\t{name}")?;
    }
    out.put("floor_started", format!("{start:.3}"));
    out.put("floor_first_apply", format!("{first:.3}"));
    out.put("floor_ended", format!("{end:.3}"));
    out.put("floor_s", format!("{:.1}", end - start));
    out.put("floor_prepare_s", format!("{:.2}", first - start));
    out.put("floor_tenants", done.len());
    out.put("floor_objects", *shared.objects.lock().expect("poisoned") + shared.provinces.len());
    out.put("floor_concurrency", concurrency);
    out.put("floor_failures", failures.len());
    for f in failures.iter().take(5) {
        eprintln!("  floor: {f}");
    }
    if done.len() != tenants {
        bail!("the floor applied {} of {tenants} tenants", done.len());
    }
    Ok(())
}

/// One tenant: validated, certified and built as concejo does it, then applied in order.
async fn tenant(shared: &Shared, m: &Municipality) -> anyhow::Result<()> {
    let (province, ca) = shared
        .provinces
        .iter()
        .find(|(p, _)| p.name_any() == m.spec.province)
        .with_context(|| format!("no Province {}", m.spec.province))?;
    let plan_name = domain::plan::effective_name(&m.spec, &province.spec).context("no plan")?;
    let plan = shared.plans.iter().find(|p| p.name_any() == plan_name);
    let inputs = Inputs { province: Some(province), plan, ..Default::default() };
    let tenant = domain::validate(m, inputs).map_err(|e| anyhow::anyhow!("invalid: {e}"))?;
    let settings = ca::Settings::of(&tenant.pki);
    let (intermediate, hosts, algorithm) = (ca.intermediate.clone(), tenant.hosts.clone(), tenant.pki.key_algorithm);
    let now = Timestamp::now().as_second();
    let leaf = tokio::task::spawn_blocking(move || {
        pki::issue_leaf(&intermediate, &hosts, algorithm, now, settings.leaf_lifetime)
    })
    .await??;
    let trust = ca.trust_bundle();
    let context = resources::Context { certificate: Some((&leaf, &trust)), ..Default::default() };
    let desired = resources::build(&tenant, &context)?;
    for manifest in &desired.manifests {
        ssa::ensure(&shared.client, None, manifest, &shared.metrics)
            .await
            .with_context(|| format!("{} {}", manifest.resource.kind, manifest.name))?;
    }
    *shared.objects.lock().expect("poisoned") += desired.manifests.len();
    shared.done.lock().expect("poisoned").push((epoch(), m.name_any()));
    Ok(())
}
