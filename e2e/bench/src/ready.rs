//! Waiting for every tenant to be Ready, from one watch of the Municipalities (no polling lists):
//! the moment each one was first seen `Ready=True` for its current generation, written as a
//! series (unix seconds, name), from which the report draws the tenants Ready over time.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use concejo::api::v1alpha1::Municipality;
use futures::StreamExt;
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};

use crate::{Out, epoch};

/// Whether the Municipality says Ready for the generation it is at.
pub fn is_ready(m: &Municipality) -> bool {
    let Some(status) = &m.status else { return false };
    status.observed_generation.is_some()
        && status.observed_generation == m.metadata.generation
        && status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Watches until `tenants` distinct Municipalities are Ready or `timeout` passes; writes
/// `<unix seconds>\t<name>` for each one's first Ready to `out_path`. Says how many it saw.
pub async fn wait(
    client: Client,
    label: &str,
    tenants: usize,
    timeout: Duration,
    out_path: &Path,
    out: &mut Out,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut file = std::fs::File::create(out_path).with_context(|| format!("cannot write {}", out_path.display()))?;
    let mut ready: HashSet<String> = HashSet::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut last_report = Instant::now();
    let stream = watcher::watcher(Api::<Municipality>::all(client), watcher::Config::default().any_semantic());
    let mut stream = std::pin::pin!(stream);
    let deadline = tokio::time::sleep(timeout);
    let mut deadline = std::pin::pin!(deadline);
    while ready.len() < tenants {
        let event = tokio::select! {
            e = stream.next() => e,
            _ = &mut deadline => break,
        };
        let Some(event) = event else { bail!("the watch of Municipalities ended") };
        let m = match event {
            Ok(Event::Apply(m) | Event::InitApply(m)) => m,
            Ok(_) => continue,
            Err(e) => {
                eprintln!("  watch error (the watcher retries): {e}");
                continue;
            }
        };
        let name = m.name_any();
        seen.insert(name.clone());
        if is_ready(&m) && ready.insert(name.clone()) {
            writeln!(file, "{:.3}\t{name}", epoch())?;
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!(
                "  {}/{tenants} Ready ({} Municipalities seen), {:.0}s since the watch started",
                ready.len(),
                seen.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    file.flush()?;
    out.put(format!("{label}_ready_seen"), ready.len());
    if ready.len() < tenants {
        bail!("only {} of {tenants} Municipalities were Ready within {}s", ready.len(), timeout.as_secs());
    }
    Ok(())
}
