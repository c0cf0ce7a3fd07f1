//! What the fault tests (tests/faults.rs) measure with: the scale of a run, seeded randomness, the
//! local control plane's components stopped and started again, the API server's audit log, the
//! operators' activity logs, and the inventory of every object concejo manages.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, ensure};
use concejo::api::v1alpha1::{Municipality, Phase};
use concejo::resources::{Component, Registry};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::discovery::{Discovery, verbs};
use kube::{Client, Resource, ResourceExt};
use serde_json::Value;

/// How big a run is: the short form (`make test`) or the full one (`make chaos-faults`,
/// `CONCEJO_FAULTS=full`). `CONCEJO_FAULTS_SEED` repeats a run's random moments.
#[derive(Clone, Debug)]
pub struct Scale {
    pub full: bool,
    pub seed: u64,
    /// SIGKILLs while onboarding.
    pub kills: usize,
    /// How long each operator runs before it is killed, in milliseconds: [min, max).
    pub run_ms: (u64, u64),
    /// How long the API server or etcd stays down.
    pub outage: std::time::Duration,
    /// How long the tenants may take to be all Ready after the last kill.
    pub settle: std::time::Duration,
}

impl Scale {
    pub fn from_env() -> Self {
        let full = std::env::var("CONCEJO_FAULTS").is_ok_and(|v| v == "full");
        let seed = std::env::var("CONCEJO_FAULTS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| Timestamp::now().as_millisecond() as u64);
        if full {
            Scale {
                full,
                seed,
                kills: 20,
                run_ms: (1_000, 20_000),
                outage: std::time::Duration::from_secs(20),
                settle: std::time::Duration::from_secs(1200),
            }
        } else {
            Scale {
                full,
                seed,
                kills: 4,
                run_ms: (800, 5_000),
                outage: std::time::Duration::from_secs(8),
                settle: std::time::Duration::from_secs(150),
            }
        }
    }
}

/// SplitMix64: the random moments of a run, repeatable from its seed.
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in [min, max).
    pub fn between(&mut self, (min, max): (u64, u64)) -> u64 {
        min + self.next() % (max - min).max(1)
    }
}

/// `e2e/cluster/cluster.sh <args>` against the tests' cluster (its CONCEJO_* variables are
/// inherited), e.g. `stop kube-apiserver`.
pub fn cluster(args: &[&str]) -> anyhow::Result<String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cluster/cluster.sh");
    let out = Command::new(&script).args(args).output().with_context(|| format!("running {}", script.display()))?;
    ensure!(
        out.status.success(),
        "cluster.sh {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim_end()
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Municipalities from a multi-document YAML (as `concejo generate` prints and examples/ holds),
/// each with `extra` merged into its spec.
pub fn municipalities_from_yaml(yaml: &str, extra: &Value) -> anyhow::Result<Vec<Municipality>> {
    let mut out = Vec::new();
    for doc in yaml.split("\n---\n") {
        if doc.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
            continue;
        }
        let mut value: Value = match serde_saphyr::from_str::<Option<Value>>(doc)? {
            Some(v) if v.is_object() => v,
            _ => continue,
        };
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            value["spec"][k] = v;
        }
        out.push(serde_json::from_value(value)?);
    }
    Ok(out)
}

/// How many of `names` are Ready.
pub async fn ready_count(client: &Client, names: &BTreeSet<String>) -> anyhow::Result<usize> {
    let all = Api::<Municipality>::all(client.clone()).list(&ListParams::default()).await?;
    Ok(all
        .items
        .iter()
        .filter(|m| names.contains(&m.name_any()))
        .filter(|m| m.status.as_ref().and_then(|s| s.phase) == Some(Phase::Ready))
        .count())
}

/// One write the API server's audit log recorded.
#[derive(Clone, Debug)]
pub struct Write {
    pub at: Timestamp,
    pub verb: String,
    pub resource: String,
    pub namespace: String,
    pub name: String,
    pub code: i64,
    pub user_agent: String,
}

/// Every write (create, update, patch, delete) whose User-Agent names a concejo replica
/// (`concejo/<version> (<identity>)`), received since `since`, from the audit log and its
/// rotated files.
pub fn concejo_writes(since: Timestamp) -> anyhow::Result<Vec<Write>> {
    let log = PathBuf::from(cluster(&["audit-log"])?);
    let dir = log.parent().context("audit log without a folder")?;
    let mut writes = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !(name.starts_with("audit") && name.ends_with(".log")) {
            continue;
        }
        for line in std::fs::read_to_string(&path)?.lines() {
            if !line.contains("\"concejo/") {
                continue;
            }
            let Ok(event) = serde_json::from_str::<Value>(line) else { continue };
            let s = |p: &str| event.pointer(p).and_then(Value::as_str).unwrap_or_default().to_owned();
            if s("/stage") != "ResponseComplete"
                || !["create", "update", "patch", "delete"].contains(&s("/verb").as_str())
            {
                continue;
            }
            let at: Timestamp = s("/requestReceivedTimestamp").parse()?;
            if at < since {
                continue;
            }
            writes.push(Write {
                at,
                verb: s("/verb"),
                resource: s("/objectRef/resource"),
                namespace: s("/objectRef/namespace"),
                name: s("/objectRef/name"),
                code: event.pointer("/responseStatus/code").and_then(Value::as_i64).unwrap_or_default(),
                user_agent: s("/userAgent"),
            });
        }
    }
    writes.sort_by_key(|w| w.at);
    Ok(writes)
}

/// Whether a write was sent by the replica of this identity.
pub fn by(write: &Write, identity: &str) -> bool {
    write.user_agent.ends_with(&format!("({identity})"))
}

/// The times of one operator's `concejo::activity` lines (its JSON log), in order.
pub fn activity_times(log: &std::path::Path) -> anyhow::Result<Vec<Timestamp>> {
    let text = std::fs::read_to_string(log).with_context(|| format!("reading {}", log.display()))?;
    let mut times = Vec::new();
    for line in text.lines().filter(|l| l.contains("concejo::activity")) {
        let Ok(event) = serde_json::from_str::<Value>(line) else { continue };
        if let Some(t) = event.get("timestamp").and_then(Value::as_str) {
            times.push(t.parse()?);
        }
    }
    Ok(times)
}

/// How many `concejo::activity` lines of each action (create, update, delete, apply) a log has.
pub fn activity_actions(log: &std::path::Path) -> anyhow::Result<BTreeMap<String, usize>> {
    let text = std::fs::read_to_string(log).with_context(|| format!("reading {}", log.display()))?;
    let mut counts = BTreeMap::new();
    for line in text.lines().filter(|l| l.contains("concejo::activity")) {
        let Ok(event) = serde_json::from_str::<Value>(line) else { continue };
        if let Some(a) = event.pointer("/fields/action").and_then(Value::as_str) {
            *counts.entry(a.to_owned()).or_default() += 1;
        }
    }
    Ok(counts)
}

/// The shape of one tenant: every object concejo manages for it (by its `concejo.dev/ine-code`
/// label), as (kind, namespace, name) with the tenant's INE code and province code written as
/// `{ine}` and `{p}`, and how many objects have each.
pub type Shape = BTreeMap<(String, String, String), usize>;

/// Every object labelled `app.kubernetes.io/managed-by=concejo`, of every kind the API server
/// serves, except those a Kubernetes controller made from concejo's (they copy its labels), grouped by the INE code it belongs to; with the names that fail [`owned_by_a_builder`].
pub async fn inventory(client: &Client) -> anyhow::Result<(BTreeMap<String, Shape>, Vec<String>)> {
    let discovery = Discovery::new(client.clone()).run().await?;
    let names = builder_names();
    let mut tenants: BTreeMap<String, Shape> = BTreeMap::new();
    let mut strays = Vec::new();
    let selector = ListParams::default().labels("app.kubernetes.io/managed-by=concejo");
    for group in discovery.groups() {
        for (resource, caps) in group.recommended_resources() {
            // Events are records; Endpoints are the endpoints controller's copy of a Service
            // (its labels included, without an owner reference).
            if !caps.supports_operation(verbs::LIST) || ["Event", "Endpoints"].contains(&resource.kind.as_str()) {
                continue;
            }
            let api = Api::<DynamicObject>::all_with(client.clone(), &resource);
            let Ok(list) = api.list_metadata(&selector).await else { continue };
            for object in list.items {
                // What Kubernetes' controllers make from concejo's objects (a Deployment's
                // ReplicaSets and Pods, a Service's EndpointSlices) carries its labels too.
                let made_by_a_controller = object
                    .owner_references()
                    .iter()
                    .any(|o| o.controller == Some(true) && !o.api_version.starts_with("concejo.dev/"));
                if made_by_a_controller {
                    continue;
                }
                let Some(code) = object.labels().get("concejo.dev/ine-code").cloned() else { continue };
                let province = code[..2].to_owned();
                let namespace = object.namespace().unwrap_or_default();
                let name = object.name_any();
                if !owned_by_a_builder(&names, &resource, &namespace, &name, &code) {
                    strays.push(format!("{} {namespace}/{name}", resource.kind));
                }
                let generic = |s: &str| {
                    let s = s.replace(&code, "{ine}");
                    match s.strip_suffix(&format!("-{province}")) {
                        Some(head) => format!("{head}-{{p}}"),
                        None => s,
                    }
                };
                let key = (resource.kind.clone(), generic(&namespace), generic(&name));
                *tenants.entry(code).or_default().entry(key).or_default() += 1;
            }
        }
    }
    Ok((tenants, strays))
}

/// The names each builder (`resources::components`) may give its objects in a tenant
/// namespace, by kind.
pub fn builder_names() -> BTreeMap<String, BTreeSet<&'static str>> {
    struct Names(BTreeMap<String, BTreeSet<&'static str>>);
    impl Registry for Names {
        fn add<C: Component>(&mut self) {
            self.0.entry(<C::Kind as Resource>::kind(&()).to_string()).or_default().extend(C::NAMES.iter().copied());
        }
    }
    let mut names = Names(BTreeMap::new());
    concejo::resources::components(&mut names);
    names.0
}

/// Whether an object in a tenant's namespace has a name its kind's builder may give (objects
/// elsewhere, e.g. the escrowed backup key, and the Namespace itself are not judged here).
fn owned_by_a_builder(
    names: &BTreeMap<String, BTreeSet<&'static str>>,
    resource: &ApiResource,
    namespace: &str,
    name: &str,
    code: &str,
) -> bool {
    if namespace != format!("muni-{code}") {
        return true;
    }
    names.get(&resource.kind).is_some_and(|n| n.contains(name))
}
