//! `kubectl concejo`, the built binary run as a process against the local control plane and a
//! running operator: onboarding by code and by an ambiguous name, a whole province with a refusal,
//! the status table and report, backups and restores, suspend and resume, and its errors.

mod support;

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::Context as _;
use concejo::api::v1alpha1::{Backup, Municipality, Phase, Province, Restore, RunPhase};
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt as _};
use serde_json::json;
use support::*;

/// What one run of the plugin did.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `kubectl-concejo` with `args` against the cluster of KUBECONFIG.
async fn plugin(args: &[&str]) -> anyhow::Result<Run> {
    let binary = plugin_binary()?;
    let output = tokio::process::Command::new(&binary)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {}", binary.display()))?;
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout)?,
        stderr: String::from_utf8(output.stderr)?,
    };
    eprintln!("$ kubectl concejo {}\n-> {}\n{}{}", args.join(" "), run.code, run.stdout, run.stderr);
    Ok(run)
}

/// The plugin binary: $CONCEJO_PLUGIN_BIN, or the one cargo built next to this test binary.
fn plugin_binary() -> anyhow::Result<PathBuf> {
    binary("CONCEJO_PLUGIN_BIN", "kubectl-concejo")
}

/// The province of Las Palmas (34 town halls, one of them Moya, whose name Cantabria's Moya shares).
async fn apply_las_palmas(client: &Client) -> anyhow::Result<()> {
    let province: Province = serde_json::from_value(json!({
        "apiVersion": "concejo.dev/v1alpha1", "kind": "Province", "metadata": {"name": "las-palmas"},
        "spec": {
            "ineCode": "35", "displayName": "Provincia de Las Palmas", "baseDomain": "nube.laspalmas.example",
            "defaultPlan": "town",
            "network": {"ingressNamespace": "ingress-nginx", "monitoringNamespace": "monitoring"},
            "storage": {"classes": [{"name": "local-path", "encrypted": true}]}
        }
    }))?;
    apply(&Api::<Province>::all(client.clone()), &province).await?;
    Ok(())
}

/// Deletes these Municipalities with their namespaces (whatever their deletionPolicy was).
async fn remove(client: &Client, names: &[String]) -> anyhow::Result<()> {
    let api = Api::<Municipality>::all(client.clone());
    let delete = json!({"spec": {"deletionPolicy": "Delete"}});
    for name in names {
        if api.get_opt(name).await?.is_some() {
            api.patch(name, &PatchParams::default(), &Patch::Merge(&delete)).await?;
            api.delete(name, &Default::default()).await?;
        }
    }
    for name in names {
        wait_deleted(&api, name).await?;
    }
    Ok(())
}

fn las_palmas_names() -> Vec<String> {
    use concejo::domain::{identifiers::municipalities_of, naming::municipality_name};
    municipalities_of("35").into_iter().map(municipality_name).collect()
}

#[tokio::test]
async fn the_plugin_onboards_reports_and_operates_tenants() -> anyhow::Result<()> {
    let (client, _operator) = leon_with_operator().await?;
    apply_las_palmas(&client).await?;
    let munis = Api::<Municipality>::all(client.clone());
    let ours: Vec<String> = ["sobrado-24165", "la-baneza", "host-claimer"]
        .map(String::from)
        .into_iter()
        .chain(las_palmas_names())
        .collect();
    remove(&client, &ours).await?;

    // By code: printed, with the Province found in the cluster by its INE code.
    let version = |m: Option<Municipality>| m.and_then(|m| m.metadata.resource_version);
    let before = version(munis.get_opt("leon").await?);
    let run = plugin(&["onboard", "24089"]).await?;
    assert_eq!(run.code, 0);
    let printed: Municipality = serde_saphyr::from_str(&run.stdout)?;
    assert_eq!(printed.name_any(), "leon");
    assert_eq!(
        (printed.spec.province.as_str(), printed.spec.ine_code.as_str(), printed.spec.dir3.as_deref()),
        ("leon", "24089", Some("L01240896"))
    );
    assert_eq!(version(munis.get_opt("leon").await?), before, "printing applied nothing");

    // An ambiguous name: the candidates with their provinces, nothing done, exit status 1.
    let run = plugin(&["onboard", "Sobrado", "--apply"]).await?;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("\"Sobrado\" names 2 town halls"), "{}", run.stderr);
    assert!(run.stderr.contains("sobrado-15080   15080   Sobrado     A Coruña (15)"), "{}", run.stderr);
    assert!(run.stderr.contains("sobrado-24165   24165   Sobrado     León (24)"), "{}", run.stderr);
    // Narrowed to León and applied: the name no other province's town hall gets.
    let run = plugin(&["onboard", "Sobrado", "--province", "24", "--apply"]).await?;
    assert_eq!((run.code, run.stdout.as_str()), (0, "municipality.concejo.dev/sobrado-24165 serverside-applied\n"));
    let sobrado = wait(&munis, "sobrado-24165", has_condition("Ready", "True")).await?;
    assert_eq!(sobrado.status.and_then(|s| s.namespace).as_deref(), Some("muni-24165"));
    let managers: Vec<_> = sobrado.metadata.managed_fields.unwrap_or_default();
    assert!(
        managers
            .iter()
            .any(|f| f.manager.as_deref() == Some("kubectl-concejo") && f.operation.as_deref() == Some("Apply"))
    );

    // Clear errors, exit status 1.
    let run = plugin(&["onboard", "24999"]).await?;
    assert!(run.code == 1 && run.stderr.contains("\"24999\" is not a town hall in INE's register"), "{}", run.stderr);
    let run = plugin(&["suspend", "nowhere"]).await?;
    assert!(run.code == 1 && run.stderr.contains("no Municipality named \"nowhere\""), "{}", run.stderr);
    let unreachable = std::env::temp_dir().join(format!("plugin-e2e-{}.kubeconfig", std::process::id()));
    std::fs::write(
        &unreachable,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:9\"}}]\n\
         users: [{name: u, user: {token: x}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
    )?;
    let run = plugin(&["status", "--kubeconfig", unreachable.to_str().unwrap()]).await?;
    assert!(run.code == 1 && run.stderr.contains("no cluster reachable at https://127.0.0.1:9/"), "{}", run.stderr);
    let run = plugin(&["status", "--context", "no-such-context"]).await?;
    assert!(run.code == 1 && run.stderr.contains("no-such-context"), "{}", run.stderr);

    // A whole province, with one town hall onboarded before under a name of its own that serves
    // another's host: that one is left alone and waited for, the other refused.
    let claimer: Municipality = serde_json::from_value(json!({
        "apiVersion": "concejo.dev/v1alpha1", "kind": "Municipality", "metadata": {"name": "host-claimer"},
        "spec": {"province": "las-palmas", "ineCode": "35034", "displayName": "Yaiza",
                 "domains": ["agaete.nube.laspalmas.example"]}
    }))?;
    create(&munis, &claimer).await?;
    wait(&munis, "host-claimer", has_condition("Ready", "True")).await?;
    let run = plugin(&["onboard", "--province", "35", "--apply", "--timeout", "120s"]).await?;
    assert_eq!(run.code, 1, "a refusal is a failure of the whole");
    let start =
        "Onboarding 34 town halls of Las Palmas (35) as Province las-palmas (1 already onboarded, left as they are)";
    assert!(run.stderr.contains(start), "{}", run.stderr);
    assert!(run.stderr.contains("Applied 33 Municipalities; waiting until all 34 are Ready"), "{}", run.stderr);
    assert!(run.stderr.lines().any(|l| l.starts_with("Ready ") && l.contains("/34, refused ")), "progress lines");
    assert!(run.stdout.starts_with("Province las-palmas, Las Palmas (35): Ready 33/34, refused 1\n"), "{}", run.stdout);
    assert!(run.stdout.contains("already onboarded under another name, left as it is: 35034 as host-claimer\n"));
    assert!(
        run.stdout.contains("refused: agaete: Valid: hostname \"agaete.nube.laspalmas.example\" is already served by Municipality \"host-claimer\""),
        "{}",
        run.stdout
    );
    assert!(munis.get_opt("yaiza").await?.is_none(), "no second tenant for Yaiza");
    let moya = wait(&munis, "moya-35013", has_condition("Ready", "True")).await?;
    assert_eq!(moya.spec.dir3.as_deref(), Some("L01350136"));

    // The status: one report, a line per province; filtered by name or by INE code.
    let run = plugin(&["status", "--province", "las-palmas", "-o", "json"]).await?;
    assert_eq!(run.code, 0);
    let report: serde_json::Value = serde_json::from_str(&run.stdout)?;
    assert_eq!(report["tenants"].as_array().map(Vec::len), Some(34));
    assert_eq!(
        report["provinces"],
        json!([{"province": "las-palmas", "tenants": 34, "phases": {"Pending": 1, "Ready": 33}, "refused": 1}])
    );
    let agaete = report["tenants"].as_array().unwrap().iter().find(|t| t["name"] == "agaete").unwrap();
    assert_eq!((agaete["conditions"]["Valid"].as_str(), agaete["ineCode"].as_str()), (Some("False"), Some("35001")));
    let run = plugin(&["status", "--province", "35", "-o", "wide"]).await?;
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("NAME ") && lines[0].contains(" INE ") && lines[0].contains(" MESSAGE"),
        "{}",
        lines[0]
    );
    assert!(lines.iter().any(|l| l.starts_with("moya-35013 ") && l.contains(" 35013 ") && l.contains(" muni-35013 ")));
    assert_eq!(lines.last(), Some(&"las-palmas: 34 tenants, 1 Pending, 33 Ready; 1 refused"));
    assert_eq!(lines.len(), 1 + 34 + 1);
    // The ENS report for the auditors, as CSV like `concejo report ens -o csv`: a header, a row each.
    let run = plugin(&["report", "ens", "--province", "las-palmas", "-o", "csv"]).await?;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows: Vec<&str> = run.stdout.lines().collect();
    assert!(rows[0].starts_with("name,ineCode,province,ensCategory,compliant,") && rows.len() == 1 + 34, "{rows:?}");
    assert!(rows.iter().any(|r| r.starts_with("moya-35013,35013,las-palmas,")), "{rows:?}");

    // Backups: of a tenant with volumes, a Backup and its Job; of one without, a refusal.
    let run = plugin(&["onboard", "La Bañeza", "--collaboration", "--apply"]).await?;
    assert_eq!(run.code, 0);
    wait(&munis, "la-baneza", has_condition("Ready", "True")).await?;
    let run = plugin(&["backup", "la-baneza"]).await?;
    assert_eq!(run.code, 0);
    let backup = run
        .stdout
        .strip_prefix("backup.concejo.dev/")
        .and_then(|s| s.strip_suffix(" created in namespace muni-24010\n"));
    let backup = backup.with_context(|| format!("unexpected output: {}", run.stdout))?;
    let jobs = Api::<Job>::namespaced(client.clone(), "muni-24010");
    wait(&jobs, &format!("bk-{backup}"), |j: Option<&Job>| j.is_some()).await?;
    let run = plugin(&["backup", "sobrado-24165", "--wait", "--timeout", "60s"]).await?;
    assert!(run.code == 1 && run.stderr.contains("Municipality sobrado-24165 has no backups"), "{}", run.stderr);
    let none = Api::<Backup>::namespaced(client.clone(), "muni-24165").list(&ListParams::default()).await?;
    assert!(none.items.is_empty(), "nothing was created");

    // Restores: in place refused until suspended; `latest` before any backup fails, saying why.
    let run = plugin(&["restore", "la-baneza", "--in-place"]).await?;
    assert!(run.code == 1 && run.stderr.contains("kubectl concejo suspend la-baneza"), "{}", run.stderr);
    let run = plugin(&["restore", "la-baneza", "-o", "json"]).await?;
    assert_eq!(run.code, 0);
    let restore: Restore = serde_json::from_str(&run.stdout)?;
    assert!(restore.name_any().starts_with("latest-"));
    let restores = Api::<Restore>::namespaced(client.clone(), "muni-24010");
    let failed = wait(&restores, &restore.name_any(), |r: Option<&Restore>| {
        r.and_then(|r| r.status.as_ref()?.phase).is_some_and(|p| p == RunPhase::Failed)
    })
    .await?;
    let why = failed.status.and_then(|s| s.message).unwrap_or_default();
    assert!(why.contains("la-baneza has no backup recorded yet"), "{why}");

    // Suspend and resume: spec.suspend alone, concejo's phase followed.
    let run = plugin(&["suspend", "sobrado-24165", "--wait", "--timeout", "60s"]).await?;
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "municipality.concejo.dev/sobrado-24165 suspended\nmunicipality.concejo.dev/sobrado-24165 is Suspended\n")
    );
    let m = munis.get("sobrado-24165").await?;
    assert!(m.spec.suspend && m.status.as_ref().and_then(|s| s.phase) == Some(Phase::Suspended));
    let run = plugin(&["suspend", "sobrado-24165"]).await?;
    assert!(run.code == 0 && run.stderr.contains("already suspended"), "{}", run.stderr);
    let run = plugin(&["resume", "sobrado-24165", "--wait", "--timeout", "60s"]).await?;
    assert_eq!(run.code, 0);
    let m = munis.get("sobrado-24165").await?;
    assert!(!m.spec.suspend && m.status.as_ref().and_then(|s| s.phase) == Some(Phase::Ready));

    // Everything the test made goes; the list shows none of it.
    remove(&client, &ours).await?;
    let left = munis.list(&ListParams::default()).await?;
    assert!(left.items.iter().all(|m| m.spec.province != "las-palmas"));
    let _ = std::fs::remove_file(unreachable);
    Ok(())
}
