//! `kubectl concejo onboard --province <code> [--apply]`: every town hall of a province, how a
//! Diputación starts. Printed as one multi-document YAML, or applied and then followed with one
//! watch of the Municipalities until each is Ready or refused, and summed up.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use futures::StreamExt as _;
use kube::api::ListParams;
use kube::{Api, ResourceExt as _};

use super::cluster::Cluster;
use super::onboard::{self, Manifest, OnboardArgs};
use super::output::{self, Output};
use super::progress::{Display, Tracker, line};
use super::status::{Tenants, next_changes, watch_all};
use super::{Global, lookup};
use crate::api::v1alpha1::Municipality;
use crate::domain::identifiers::REGISTER;
use crate::domain::naming::municipality_name;

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
        if held.is_empty() { String::new() } else { format!(" ({} already onboarded, left as they are)", held.len()) }
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
    let mut applied = 0;
    for (name, result) in results {
        match result {
            Ok(_) => {
                applied += 1;
                names.push(name);
            }
            Err(e) => {
                failed.insert(name, format!("{e:#}"));
            }
        }
    }
    eprintln!(
        "Applied {applied} Municipalities; waiting until all {} are Ready (at most {:?})",
        names.len(),
        args.timeout
    );

    let mut tracker = Tracker::new(names);
    let finished = follow(api, &mut tracker, args.timeout).await?;
    let counts = tracker.counts();
    println!("Province {province}, {label}: {}", line(counts));
    // Those under a name of their own are worth a line; the rest are a run repeated.
    for (name, code) in held.iter().filter(|(name, code)| Some(name.as_str()) != own_name(code).as_deref()) {
        println!("already onboarded under another name, left as it is: {code} as {name}");
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

/// The name concejo gives the town hall of `code`.
fn own_name(code: &str) -> Option<String> {
    REGISTER.get(code).map(municipality_name)
}

/// Splits off the town halls already onboarded: a Municipality holds their INE code, under this
/// name or another (applying would change a tenant someone set up, or make a second one refused
/// as a Conflict). Returns the rest, and the holders' names with the code each holds: those are
/// waited for too, untouched.
fn split_held(manifests: Vec<Manifest>, existing: &[Municipality]) -> (Vec<Manifest>, BTreeMap<String, String>) {
    let mut held = BTreeMap::new();
    let mut rest = vec![];
    for manifest in manifests {
        let same = existing.iter().find(|m| m.spec.ine_code == manifest.spec.ine_code).map(|m| m.name_any());
        match same {
            Some(name) => {
                held.insert(name, manifest.spec.ine_code.clone());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn town_halls_already_onboarded_are_left_alone_and_waited_for() {
        let manifests = onboard::province_manifests("24", "leon", false).unwrap();
        let existing: Vec<Municipality> = [("la-baneza", "24010"), ("leon-capital", "24089")]
            .map(|(name, code)| {
                serde_json::from_value(serde_json::json!({
                    "apiVersion": "concejo.dev/v1alpha1", "kind": "Municipality", "metadata": {"name": name},
                    "spec": {"province": "leon", "ineCode": code, "displayName": name, "collaboration": {"enabled": true}}
                }))
                .unwrap()
            })
            .into();
        let (rest, held) = split_held(manifests, &existing);
        assert_eq!(rest.len(), 209);
        assert!(!rest.iter().any(|m| m.spec.ine_code == "24010" || m.spec.ine_code == "24089"));
        let held: Vec<_> = held.iter().map(|(n, c)| (n.as_str(), c.as_str())).collect();
        assert_eq!(held, [("la-baneza", "24010"), ("leon-capital", "24089")]);
    }
}
