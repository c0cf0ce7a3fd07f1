//! `kubectl concejo onboard --province <code> [--apply]`: every town hall of a province, how a
//! Diputación starts. Printed as one multi-document YAML, or applied and then followed with one
//! watch of the Municipalities until each is Ready or refused, and summed up.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use futures::StreamExt as _;
use kube::Api;
use kube::api::ListParams;

use super::cluster::Cluster;
use super::onboard::{self, Manifest, OnboardArgs};
use super::output::{self, Output};
use super::progress::{Display, Tracker, line};
use super::status::{Tenants, next_changes, watch_all};
use super::{Global, lookup};
use crate::api::v1alpha1::Municipality;

/// Applies at most this many Municipalities at once.
const CONCURRENT_APPLIES: usize = 8;

pub async fn run(global: &Global, args: &OnboardArgs, format: Option<Output>) -> anyhow::Result<ExitCode> {
    let code = args.province.as_deref().unwrap_or_default();
    let cluster = if args.apply || args.province_name.is_none() { Some(Cluster::connect(global).await?) } else { None };
    let province = match (&args.province_name, &cluster) {
        (Some(name), _) => name.clone(),
        (None, Some(cluster)) => onboard::province_object(cluster, code).await?,
        (None, None) => unreachable!("connected above"),
    };
    let manifests = onboard::province_manifests(code, &province, args.collaboration)?;
    let Some(cluster) = cluster.filter(|_| args.apply) else {
        for manifest in &manifests {
            match format.unwrap_or(Output::Yaml) {
                Output::Json => print!("{}", output::render(manifest, Output::Json)?),
                _ => print!("---\n{}", output::render(manifest, Output::Yaml)?),
            }
        }
        return Ok(ExitCode::SUCCESS);
    };

    let api = Api::<Municipality>::all(cluster.client.clone());
    let existing = api.list(&ListParams::default()).await.map_err(|e| cluster.api_error(e))?;
    let (to_apply, held) = split_held(manifests, &existing.items);
    let label = lookup::province_label(code);
    eprintln!(
        "Onboarding {} town halls of {label} as Province {province}{}",
        to_apply.len() + held.len(),
        if held.is_empty() { String::new() } else { format!(" ({} already onboarded under other names)", held.len()) }
    );

    // Apply, a few at a time; a town hall that cannot be applied is reported, not waited for.
    let results: Vec<(String, anyhow::Result<Municipality>)> = futures::stream::iter(to_apply)
        .map(|m| {
            let cluster = cluster.clone();
            async move { (m.metadata.name.clone(), onboard::apply(&cluster, &m).await) }
        })
        .buffer_unordered(CONCURRENT_APPLIES)
        .collect()
        .await;
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    let mut names: Vec<String> = held.keys().cloned().collect();
    for (name, result) in results {
        match result {
            Ok(_) => names.push(name),
            Err(e) => {
                failed.insert(name, format!("{e:#}"));
            }
        }
    }
    eprintln!("Applied {} Municipalities; waiting until each is Ready (at most {:?})", names.len(), args.timeout);

    let mut tracker = Tracker::new(names);
    let finished = follow(api, &mut tracker, args.timeout).await?;
    let counts = tracker.counts();
    println!("{} of {label}: {}", province, line(counts));
    for (name, code) in &held {
        println!("already onboarded: {code} as {name}");
    }
    for (name, why) in &failed {
        println!("not applied: {name}: {why}");
    }
    for (name, why) in tracker.refused() {
        println!("refused: {name}: {why}");
    }
    if !finished {
        for (name, state) in tracker.waiting() {
            println!("not Ready after {:?}: {name}: {state}", args.timeout);
        }
    }
    let all_ready = finished && failed.is_empty() && counts.refused == 0;
    Ok(if all_ready { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Splits off the town halls whose INE code a Municipality of another name already holds
/// (applying them would make a second tenant, refused as a Conflict): the holders' names, with
/// the code each holds. Those are waited for under their own names.
fn split_held(manifests: Vec<Manifest>, existing: &[Municipality]) -> (Vec<Manifest>, BTreeMap<String, String>) {
    let mut held = BTreeMap::new();
    let mut rest = vec![];
    for manifest in manifests {
        match onboard::holder(existing, &manifest) {
            Some(other) => {
                held.insert(other, manifest.spec.ine_code.clone());
            }
            None => rest.push(manifest),
        }
    }
    (rest, held)
}

/// Watches until every tracked town hall is Ready or refused (true), or `timeout` passes (false).
async fn follow(api: Api<Municipality>, tracker: &mut Tracker, timeout: Duration) -> anyhow::Result<bool> {
    let mut display = Display::new(tracker.counts().total);
    let mut stream = std::pin::pin!(watch_all(api));
    let mut tenants = Tenants::default();
    let deadline = tokio::time::Instant::now() + timeout;
    let outcome = loop {
        if tenants.synced && tracker.done() {
            break Ok(true);
        }
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(remaining, next_changes(&mut stream, &mut tenants, Duration::from_millis(200))).await
        {
            Err(_) => break Ok(false),
            Ok(Err(e)) => break Err(e),
            Ok(Ok(false)) => bail!("the watch of Municipalities ended"),
            Ok(Ok(true)) => {
                for m in tenants.objects.values() {
                    tracker.observe(m);
                }
                display.show(tracker.counts());
            }
        }
    };
    display.finish(tracker.counts());
    outcome
}
