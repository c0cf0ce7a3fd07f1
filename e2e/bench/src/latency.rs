//! Reaction times at scale, one sample at a time, each on its own tenant:
//! - spec change -> Ready again: `spec.plan` of a Ready tenant is changed (concejo must re-apply
//!   its quota and limits and record the plan), timed from just before the patch is sent until a
//!   watch shows `Ready=True` with `status.observedGeneration` equal to the new generation;
//! - drift repaired: its NetworkPolicy `deny-all` is deleted, timed from just before the delete is
//!   sent until a watch shows a `deny-all` in that namespace again (a new object: another uid).
//!
//! Both are seen through watches started before the first sample, so no polling interval adds to
//! the times. A sample that does not finish within the timeout is reported as such.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use concejo::api::v1alpha1::Municipality;
use futures::StreamExt;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::Notify;

use crate::Out;
use crate::ready::is_ready;

/// The policy deleted for the drift samples: every tenant has it.
pub const POLICY: &str = "deny-all";

/// What a watch keeps of each object, and a bell rung at every change.
struct Seen<T> {
    state: Mutex<HashMap<String, T>>,
    changed: Notify,
    synced: Notify,
}

impl<T: Clone + Send + 'static> Seen<T> {
    /// Keeps `key -> value` of every object of `api` (as `read` says) until the process ends.
    async fn start<K>(api: Api<K>, config: watcher::Config, read: fn(&K) -> Option<(String, T)>) -> Arc<Self>
    where
        K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    {
        let seen = Arc::new(Seen { state: Mutex::default(), changed: Notify::new(), synced: Notify::new() });
        let task = seen.clone();
        let bell = seen.clone();
        let synced = bell.synced.notified();
        tokio::pin!(synced);
        synced.as_mut().enable();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(watcher::watcher(api, config));
            while let Some(event) = stream.next().await {
                match event {
                    Ok(Event::Apply(o) | Event::InitApply(o)) => {
                        if let Some((k, v)) = read(&o) {
                            task.state.lock().expect("poisoned").insert(k, v);
                        }
                    }
                    Ok(Event::Delete(o)) => {
                        if let Some((k, _)) = read(&o) {
                            task.state.lock().expect("poisoned").remove(&k);
                        }
                    }
                    Ok(Event::InitDone) => task.synced.notify_waiters(),
                    Ok(Event::Init) => {}
                    Err(e) => eprintln!("  watch error (the watcher retries): {e}"),
                }
                task.changed.notify_waiters();
            }
        });
        synced.await;
        seen
    }

    fn get(&self, key: &str) -> Option<T> {
        self.state.lock().expect("poisoned").get(key).cloned()
    }

    /// Waits until `done` holds for `key`'s value (or its absence), at most `timeout`.
    async fn until(&self, key: &str, timeout: Duration, done: impl Fn(Option<&T>) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let bell = self.changed.notified();
            tokio::pin!(bell);
            bell.as_mut().enable();
            if done(self.state.lock().expect("poisoned").get(key)) {
                return true;
            }
            if tokio::time::timeout_at(deadline, bell).await.is_err() {
                return false;
            }
        }
    }
}

/// Nearest-rank percentile; a sample that timed out counts as longer than any other.
pub fn percentile(samples: &[Option<f64>], q: f64) -> String {
    if samples.is_empty() {
        return "n/a".into();
    }
    let mut sorted: Vec<f64> = samples.iter().map(|s| s.unwrap_or(f64::INFINITY)).collect();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    match sorted[rank - 1] {
        v if v.is_infinite() => "timeout".into(),
        v => format!("{:.0}", v * 1000.0),
    }
}

fn summary(out: &mut Out, what: &str, samples: &[Option<f64>]) {
    out.put(format!("{what}_samples"), samples.len());
    out.put(format!("{what}_timeouts"), samples.iter().filter(|s| s.is_none()).count());
    out.put(format!("{what}_p50_ms"), percentile(samples, 0.5));
    out.put(format!("{what}_p99_ms"), percentile(samples, 0.99));
    out.put(format!("{what}_max_ms"), percentile(samples, 1.0));
}

/// `n` tenants spread evenly over all of them (sorted by name), starting at `offset` of a step.
fn spread(names: &[String], n: usize, offset: f64) -> Vec<String> {
    let n = n.min(names.len());
    let step = names.len() as f64 / n.max(1) as f64;
    (0..n).map(|i| names[((i as f64 + offset) * step) as usize % names.len()].clone()).collect()
}

/// Runs both kinds of samples; writes `<kind>\t<tenant>\t<seconds or timeout>` lines to `raw`.
pub async fn run(
    client: Client,
    samples: usize,
    plan: &str,
    gap: Duration,
    timeout: Duration,
    raw: &Path,
    out: &mut Out,
) -> anyhow::Result<()> {
    let mut file = std::fs::File::create(raw).with_context(|| format!("cannot write {}", raw.display()))?;
    let munis: Api<Municipality> = Api::all(client.clone());
    type State = (Option<i64>, bool, String, String);
    let tenants = Seen::<State>::start(munis.clone(), watcher::Config::default(), |m: &Municipality| {
        let status = m.status.as_ref();
        let plan = status.and_then(|s| s.plan.clone()).unwrap_or_default();
        let ns = status.and_then(|s| s.namespace.clone()).unwrap_or_default();
        Some((m.name_any(), (status.and_then(|s| s.observed_generation), is_ready(m), plan, ns)))
    })
    .await;
    let policies = Seen::<String>::start(
        Api::<NetworkPolicy>::all(client.clone()),
        watcher::Config::default().fields(&format!("metadata.name={POLICY}")),
        |p: &NetworkPolicy| Some((p.namespace()?, p.uid()?)),
    )
    .await;

    let mut names: Vec<String> = tenants.state.lock().expect("poisoned").keys().cloned().collect();
    names.sort();
    if names.is_empty() {
        bail!("no Municipalities");
    }

    // Spec change -> Ready again.
    let mut spec = vec![];
    for name in spread(&names, samples, 0.0) {
        match tenants.get(&name) {
            Some((_, true, current, _)) if current != plan => {}
            other => {
                eprintln!("  skipping {name} for a spec change: not Ready on another plan ({other:?})");
                continue;
            }
        }
        let started = Instant::now();
        let patched = munis
            .patch(&name, &PatchParams::default(), &Patch::Merge(json!({"spec": {"plan": plan}})))
            .await
            .with_context(|| format!("cannot change the plan of {name}"))?;
        let generation = patched.metadata.generation;
        let done =
            tenants.until(&name, timeout, |s| s.is_some_and(|(g, ready, _, _)| *ready && *g >= generation)).await;
        let took = done.then(|| started.elapsed().as_secs_f64());
        writeln!(file, "spec\t{name}\t{}", took.map(|t| format!("{t:.3}")).unwrap_or("timeout".into()))?;
        spec.push(took);
        tokio::time::sleep(gap).await;
    }
    summary(out, "spec", &spec);

    // A managed object deleted -> restored.
    let policies_api = |ns: &str| Api::<NetworkPolicy>::namespaced(client.clone(), ns);
    let mut drift = vec![];
    for name in spread(&names, samples, 0.5) {
        let Some((_, _, _, ns)) = tenants.get(&name).filter(|(_, ready, _, ns)| *ready && !ns.is_empty()) else {
            eprintln!("  skipping {name} for drift: not Ready");
            continue;
        };
        let Some(uid) = policies.get(&ns) else {
            eprintln!("  skipping {name} for drift: no {POLICY} in {ns}");
            continue;
        };
        let started = Instant::now();
        policies_api(&ns)
            .delete(POLICY, &DeleteParams::default())
            .await
            .with_context(|| format!("cannot delete {ns}/{POLICY}"))?;
        let done = policies.until(&ns, timeout, |s| s.is_some_and(|u| *u != uid)).await;
        let took = done.then(|| started.elapsed().as_secs_f64());
        writeln!(file, "drift\t{name}\t{}", took.map(|t| format!("{t:.3}")).unwrap_or("timeout".into()))?;
        drift.push(took);
        tokio::time::sleep(gap).await;
    }
    summary(out, "drift", &drift);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_and_timeouts_count_as_longest() {
        let samples: Vec<Option<f64>> = (1..=100).map(|i| Some(i as f64 / 1000.0)).collect();
        assert_eq!(percentile(&samples, 0.5), "50");
        assert_eq!(percentile(&samples, 0.99), "99");
        let mut with_timeouts = samples.clone();
        with_timeouts[0] = None;
        with_timeouts[1] = None;
        assert_eq!(percentile(&with_timeouts, 0.99), "timeout");
        assert_eq!(percentile(&[], 0.5), "n/a");
    }

    #[test]
    fn samples_are_spread_over_all_tenants() {
        let names: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        assert_eq!(spread(&names, 5, 0.0), ["0", "2", "4", "6", "8"]);
        assert_eq!(spread(&names, 5, 0.5), ["1", "3", "5", "7", "9"]);
        assert_eq!(spread(&names, 20, 0.0), names);
    }
}
