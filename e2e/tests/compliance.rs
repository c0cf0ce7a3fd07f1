//! ENS compliance on the local control plane: a Basica and an Alta tenant side by side; the Alta
//! one lacks a second backup location until the Province gets one; a deleted NetworkPolicy flips
//! mp.com.4 until concejo has put it back, and the repair is an Event naming the policy; the
//! Province counts its compliant tenants.

mod support;

use concejo::api::v1alpha1::{Backup, ComplianceStatus, Municipality, Province, RunPhase};
use futures::StreamExt;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::json;
use support::*;

fn measure(m: &Municipality, id: &str) -> Option<(ComplianceStatus, String)> {
    let entry = m.status.as_ref()?.compliance.iter().find(|e| e.measure == id)?;
    Some((entry.status, entry.message.clone()))
}

fn is(id: &'static str, status: ComplianceStatus) -> impl kube::runtime::wait::Condition<Municipality> {
    move |m: Option<&Municipality>| m.and_then(|m| measure(m, id)).is_some_and(|(s, _)| s == status)
}

#[tokio::test]
async fn basica_and_alta_side_by_side_and_a_deleted_policy_flips_segregation() -> anyhow::Result<()> {
    let (client, _operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());
    let provinces = Api::<Province>::all(client.clone());
    // A Basica town hall without volumes, and an Alta one with the suite, without a second backup location.
    create_fresh(&client, &municipality_with("villamandos", "24211", json!({"ensCategory": "Basica"}))).await?;
    create_fresh(&client, &with_suite("riano", "24130", json!({"ensCategory": "Alta"}))).await?;

    let basica = wait(&munis, "villamandos", has_condition("Compliant", "True")).await?;
    for (id, want) in [
        ("mp.com.4", ComplianceStatus::Met),
        ("op.acc.3/4/6", ComplianceStatus::Met),
        ("mp.com.2/3", ComplianceStatus::NotApplicable),
        ("mp.info.6", ComplianceStatus::NotApplicable),
        ("op.exp.8", ComplianceStatus::NotApplicable),
    ] {
        assert_eq!(measure(&basica, id).map(|m| m.0), Some(want), "{id}: {:?}", measure(&basica, id));
    }

    let alta = wait(&munis, "riano", is("mp.info.6", ComplianceStatus::NotMet)).await?;
    let (_, message) = measure(&alta, "mp.info.6").unwrap();
    assert!(message.contains("secondaryTarget"), "{message}");
    assert_eq!(measure(&alta, "op.cont").map(|m| m.0), Some(ComplianceStatus::NotMet));
    wait(&munis, "riano", is("mp.si.2", ComplianceStatus::Met)).await?;
    let alta = wait(&munis, "riano", is("mp.com.2/3", ComplianceStatus::Met)).await?;
    assert!(measure(&alta, "mp.com.2/3").unwrap().1.contains("ECDSA 256"), "{:?}", measure(&alta, "mp.com.2/3"));
    assert_eq!(reason(&alta, "Compliant").as_deref(), Some("MeasuresNotMet"));

    // The Province gets a second location: the Alta tenant's backups and continuity are met.
    let second = json!({"spec": {"backup": {"secondaryTarget": {"s3": {
        "endpoint": "https://s3-dr.dipuleon.es", "bucket": "concejo-dr", "credentialsSecret": BUCKET_SECRET}}}}});
    provinces.patch("leon", &PatchParams::default(), &Patch::Merge(&second)).await?;
    let alta = wait(&munis, "riano", is("mp.info.6", ComplianceStatus::Met)).await?;
    assert!(measure(&alta, "mp.info.6").unwrap().1.contains("s3-dr.dipuleon.es/concejo-dr"));
    wait(&munis, "riano", is("op.cont", ComplianceStatus::Met)).await?;

    // A deleted deny-all policy: mp.com.4 is NotMet until concejo has put it back.
    let mut changes = watcher(munis.clone(), watcher::Config::default().fields("metadata.name=villamandos")).boxed();
    let policies = Api::<NetworkPolicy>::namespaced(client.clone(), "muni-24211");
    policies.delete("deny-all", &DeleteParams::default()).await?;
    let mut seen = Vec::new();
    let flipped = tokio::time::timeout(TIMEOUT, async {
        while let Some(event) = changes.next().await {
            if let Ok(watcher::Event::Apply(m)) = event {
                let now = measure(&m, "mp.com.4").map(|(s, _)| s);
                if seen.last() != Some(&now) {
                    seen.push(now);
                }
                if seen.contains(&Some(ComplianceStatus::NotMet)) && now == Some(ComplianceStatus::Met) {
                    return m;
                }
            }
        }
        panic!("the watch ended");
    })
    .await
    .map_err(|_| anyhow::anyhow!("mp.com.4 did not flip and flip back: {seen:?}"))?;
    assert!(policies.get_opt("deny-all").await?.is_some());
    println!("mp.com.4 went {seen:?}");
    assert_eq!(reason(&flipped, "Compliant").as_deref(), Some("AllMeasuresMet"));
    // The repair is on record on the Municipality: an Event saying what concejo wrote, by name,
    // and one for the verdict's change, naming the measure.
    let uid = flipped.metadata.uid.clone();
    let said = |reason: &'static str, note: &'static str| {
        let (client, uid) = (client.clone(), uid.clone());
        async move {
            let events = events_about(&client, "Municipality", "villamandos").await?;
            Ok(events.iter().any(|e| {
                e.regarding.as_ref().is_some_and(|r| r.uid == uid)
                    && e.reason.as_deref() == Some(reason)
                    && e.note.as_deref() == Some(note)
            }))
        }
    };
    eventually("an Event names the restored policy", || said("ObjectsWritten", "created 1: NetworkPolicy deny-all"))
        .await?;
    let verdict = "Compliant: not met: mp.com.4 (see status.compliance)";
    assert!(said("MeasuresNotMet", verdict).await?, "no Event says {verdict:?}");
    let events = events_about(&client, "Municipality", "villamandos").await?;
    for e in events.into_iter().filter(|e| e.regarding.as_ref().is_some_and(|r| r.uid == uid)) {
        let count = e.series.map(|s| s.count).unwrap_or(1);
        let (reason, note) = (e.reason.unwrap_or_default(), e.note.unwrap_or_default());
        println!("Event {} {reason} x{count}: {note}", e.type_.unwrap_or_default());
    }

    // The Province's roll-up.
    let counted = eventually("León counts its compliant tenants", || async {
        let p = provinces.get("leon").await?;
        Ok(p.status
            .and_then(|s| s.compliance)
            .is_some_and(|c| c.compliant >= 1 && c.measures.iter().any(|m| m.measure == "mp.com.4" && m.met >= 2)))
    })
    .await?;
    println!("roll-up after {counted:?}");

    // A Backup asked of a town hall with no volumes is answered, not left waiting.
    let backups = Api::<Backup>::namespaced(client.clone(), "muni-24211");
    let asked: Backup = serde_json::from_value(json!({
        "apiVersion": "concejo.dev/v1alpha1", "kind": "Backup", "metadata": {"name": "now"}, "spec": {}
    }))?;
    create(&backups, &asked).await?;
    let answered = wait(&backups, "now", |b: Option<&Backup>| {
        b.and_then(|b| b.status.as_ref()).is_some_and(|s| s.phase == Some(RunPhase::Failed))
    })
    .await?;
    let said = answered.status.and_then(|s| s.message).unwrap_or_default();
    assert!(said.contains("has no backups"), "{said}");

    // The report, from the operator's binary (CSV) and the kubectl plugin (JSON).
    let csv = run(&binary("CONCEJO_BIN", "concejo")?, &["report", "ens", "--province", "leon", "-o", "csv"]).await?;
    let header = csv.lines().next().unwrap_or_default();
    assert!(header.starts_with("name,ineCode,province,ensCategory,compliant,mp.com.4,"), "{header}");
    let row = csv.lines().find(|l| l.starts_with("villamandos,24211,leon,Basica,True,Met,Met,NotApplicable"));
    assert!(row.is_some(), "{csv}");
    let json =
        run(&binary("CONCEJO_PLUGIN_BIN", "kubectl-concejo")?, &["report", "ens", "--province", "leon", "-o", "json"])
            .await?;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json)?;
    let riano = rows.iter().find(|r| r["name"] == "riano").expect("riano in the plugin's report");
    assert_eq!(riano["ensCategory"], "Alta");
    assert_eq!(riano["measures"].as_array().map(Vec::len), Some(7));

    provinces
        .patch("leon", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"backup": {"secondaryTarget": null}}})))
        .await?;
    delete_municipality(&client, "villamandos").await?;
    delete_municipality(&client, "riano").await?;
    Ok(())
}

/// Runs a binary against the test's cluster; its standard output (fails on a non-zero exit).
async fn run(binary: &std::path::Path, args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::process::Command::new(binary).args(args).output().await?;
    anyhow::ensure!(
        out.status.success(),
        "{} {}: {}",
        binary.display(),
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}
