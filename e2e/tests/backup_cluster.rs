//! Backups on the local control plane: schedules spread in the window, keys escrowed, the
//! province's repository, Backups and Restores with their Jobs, and statuses flowing back from
//! what runs report. kwok runs no containers: the tests play the kubelet of each run's pod,
//! writing the termination message its script would have written (the data path itself is
//! proven with the real programs in backup_data.rs). Reports reach concejo through the pod's
//! status only: the pods carry no token and run under the namespace's default ServiceAccount.

mod support;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::wait::Condition;
use kube::{Client, ResourceExt};
use serde_json::json;

use concejo::api::v1alpha1::{Backup, DrillResult, Municipality, Province, Restore, RunPhase};
use concejo::resources::backup::repository::{ADMIN_HTPASSWD_SECRET, HTPASSWD_SECRET, PASSWORDS_SECRET};
use support::probes::{province_has_condition, warning_event};
use support::*;

/// The pod of a run's Job, once kwok has it running.
async fn running_pod(client: &Client, namespace: &str, job: &str) -> anyhow::Result<Pod> {
    let pods = Api::<Pod>::namespaced(client.clone(), namespace);
    let params = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}"));
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let list = pods.list(&params).await?;
        let running = |p: &Pod| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
        if let Some(pod) = list.items.into_iter().find(running) {
            return Ok(pod);
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the pod of Job {namespace}/{job} never ran");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Ends a run's pod as its kubelet would: the main container terminated with `exit_code`, its
/// termination message `report`.
async fn finish(client: &Client, namespace: &str, job: &str, exit_code: i32, report: &str) -> anyhow::Result<Pod> {
    let pod = running_pod(client, namespace, job).await?;
    let spec = pod.spec.clone().unwrap_or_default();
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let statuses: Vec<_> = spec
        .containers
        .iter()
        .map(|c| {
            json!({"name": c.name, "image": c.image, "imageID": "", "ready": false, "restartCount": 0, "started": false,
                   "state": {"terminated": {"exitCode": exit_code, "message": report, "startedAt": now, "finishedAt": now,
                   "reason": if exit_code == 0 { "Completed" } else { "Error" }}}})
        })
        .collect();
    let phase = if exit_code == 0 { "Succeeded" } else { "Failed" };
    let patch = json!({"status": {"phase": phase, "containerStatuses": statuses}});
    let pods = Api::<Pod>::namespaced(client.clone(), namespace);
    Ok(pods.patch_status(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?)
}

fn summary(snapshot: &str) -> String {
    format!(
        r#"{{"message_type":"summary","files_new":3,"total_files_processed":1204,"total_bytes_processed":52428800,"data_added":1048576,"total_duration":12.6,"snapshot_id":"{snapshot}"}}"#
    )
}

#[tokio::test]
async fn schedules_keys_and_the_provinces_repository() -> anyhow::Result<()> {
    let (client, _operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());
    let tenants = [("valencia-de-don-juan", "24188"), ("molinaseca", "24100")];
    for (name, code) in tenants {
        create_fresh(&client, &with_suite(name, code, json!({}))).await?;
    }
    let mut minutes = vec![];
    for (name, code) in tenants {
        let m = wait(&munis, name, has_condition("Ready", "True")).await?;
        assert_eq!(reason(&m, "BackupReady").as_deref(), Some("Scheduled"), "{:?}", message(&m, "BackupReady"));
        let ns = format!("muni-{code}");
        let cron = Api::<CronJob>::namespaced(client.clone(), &ns).get("backup").await?;
        assert_eq!(cron.spec.time_zone.as_deref(), Some("Europe/Madrid"));
        assert_eq!(
            m.status.as_ref().and_then(|s| s.backup.as_ref()?.schedule.clone()),
            Some(cron.spec.schedule.clone())
        );
        let fields: Vec<u32> = cron.spec.schedule.split(' ').take(2).map(|f| f.parse().unwrap()).collect();
        let at = fields[1] * 60 + fields[0];
        assert!((60..300).contains(&at), "{} is outside 01:00-05:00", cron.spec.schedule);
        minutes.push(at);
        // The run's pod: no token, the namespace's default ServiceAccount, nothing mounted from the API.
        let pod = cron.spec.job_template.spec.unwrap().template.spec.unwrap();
        assert_eq!(pod.automount_service_account_token, Some(false));
        assert_eq!(pod.service_account_name, None);
        // The tenant's copy of its key, the escrow in the operator's namespace, the province's copy.
        let own = Api::<Secret>::namespaced(client.clone(), &ns).get("backup-credentials").await?;
        let keys: Vec<_> = own.data.unwrap_or_default().into_keys().collect();
        assert_eq!(keys, ["RESTIC_PASSWORD", "RESTIC_REST_PASSWORD", "RESTIC_REST_USERNAME"]);
        let escrow = Api::<Secret>::namespaced(client.clone(), "default").get(&format!("backup-key-{code}")).await?;
        assert_eq!(escrow.data.unwrap()["RESTIC_PASSWORD"], own_password(&client, &ns).await?);
        let passwords = Api::<Secret>::namespaced(client.clone(), "concejo-backup-24");
        eventually("the province's repository holds the tenant's repository password", || async {
            let held = passwords.get(PASSWORDS_SECRET).await?.data.unwrap_or_default();
            Ok(held.get(&format!("muni-{code}")) == Some(&own_password(&client, &ns).await?))
        })
        .await?;
    }
    assert_ne!(minutes[0], minutes[1], "two town halls do not start at the same minute");

    // The province's servers: both users in the tenant-facing server's htpasswd, none in the admin's.
    let provinces = Api::<Province>::all(client.clone());
    let province = wait(&provinces, "leon", province_has_condition("BackupTargetReady", "True")).await?;
    let secrets = Api::<Secret>::namespaced(client.clone(), "concejo-backup-24");
    eventually("both tenants can log in to the repository", || async {
        let htpasswd = String::from_utf8(secrets.get(HTPASSWD_SECRET).await?.data.unwrap()["htpasswd"].0.clone())?;
        Ok(htpasswd.contains("muni-24188:$2y$") && htpasswd.contains("muni-24100:$2y$"))
    })
    .await?;
    let admin = String::from_utf8(secrets.get(ADMIN_HTPASSWD_SECRET).await?.data.unwrap()["htpasswd"].0.clone())?;
    assert!(admin.starts_with("concejo:$2y$") && !admin.contains("muni-"), "{admin}");
    let generation = province.metadata.generation;

    // Without its bucket's Secret the target is not ready, and says which Secret to create.
    let bucket = Api::<Secret>::namespaced(client.clone(), "default");
    bucket.delete(BUCKET_SECRET, &Default::default()).await?;
    let p = wait(&provinces, "leon", province_has_condition("BackupTargetReady", "False")).await?;
    let c = p.status.unwrap().conditions.into_iter().find(|c| c.type_ == "BackupTargetReady").unwrap();
    assert_eq!(c.reason, "CredentialsMissing");
    assert!(c.message.contains("default/backup-s3") && c.message.contains("AWS_ACCESS_KEY_ID"), "{}", c.message);
    assert_eq!(p.metadata.generation, generation);
    apply_leon(&client).await?;
    wait(&provinces, "leon", province_has_condition("BackupTargetReady", "True")).await?;
    for (name, _) in tenants {
        delete_municipality(&client, name).await?;
    }

    // ENS Alta without a second location: BackupReady False, naming what is missing; no schedule.
    let (alta, code) = ("murias-de-paredes", "24101");
    create_fresh(&client, &with_suite(alta, code, json!({"ensCategory": "Alta"}))).await?;
    let m = wait(&munis, alta, |m: Option<&Municipality>| {
        m.and_then(|m| reason(m, "BackupReady")).as_deref() == Some("TargetMissing")
    })
    .await?;
    let why = message(&m, "BackupReady").unwrap();
    assert!(why.contains("ENS Alta") && why.contains("backup.secondaryTarget"), "{why}");
    assert!(Api::<CronJob>::namespaced(client.clone(), &format!("muni-{code}")).get_opt("backup").await?.is_none());
    delete_municipality(&client, alta).await?;
    Ok(())
}

async fn own_password(client: &Client, namespace: &str) -> anyhow::Result<k8s_openapi::ByteString> {
    let secret = Api::<Secret>::namespaced(client.clone(), namespace).get("backup-credentials").await?;
    Ok(secret.data.unwrap()["RESTIC_PASSWORD"].clone())
}

#[tokio::test]
async fn a_backup_reports_then_retention_and_a_drill_follow() -> anyhow::Result<()> {
    let (client, _operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());
    let (name, code, ns) = ("villamanin", "24901", "muni-24901");
    create_fresh(&client, &with_suite(name, code, json!({"ensCategory": "Media"}))).await?;
    let m = wait(&munis, name, has_condition("Ready", "True")).await?;
    assert_eq!(reason(&m, "RestoreVerified").as_deref(), Some("NoDrillYet"));

    // A Backup asks for one now: its Job, then its status from the pod's report.
    let backups = Api::<Backup>::namespaced(client.clone(), ns);
    let backup: Backup = serde_json::from_value(json!({
        "apiVersion": "concejo.dev/v1alpha1", "kind": "Backup", "metadata": {"name": "before-upgrade"}, "spec": {}
    }))?;
    backups.create(&Default::default(), &backup).await?;
    let job =
        wait(&Api::<Job>::namespaced(client.clone(), ns), "bk-before-upgrade", |j: Option<&Job>| j.is_some()).await?;
    assert_eq!(job.owner_references()[0].kind, "Backup");
    let snapshot = "5e1f0c9a".repeat(8);
    finish(&client, ns, "bk-before-upgrade", 0, &summary(&snapshot)).await?;
    let done = wait(&backups, "before-upgrade", |b: Option<&Backup>| {
        b.and_then(|b| b.status.as_ref()?.phase).is_some_and(|p| p == RunPhase::Succeeded)
    })
    .await?;
    let status = done.status.unwrap();
    assert_eq!(status.snapshot.as_deref(), Some(snapshot.as_str()));
    assert_eq!(status.bytes, Some(52_428_800));
    assert!(status.completion_time.is_some() && status.job.as_deref() == Some("bk-before-upgrade"));
    let m = wait(&munis, name, |m: Option<&Municipality>| {
        m.and_then(|m| m.status.as_ref()?.backup.as_ref()?.last_snapshot.clone()).is_some()
    })
    .await?;
    let recorded = m.status.unwrap().backup.unwrap();
    assert_eq!(recorded.last_snapshot.as_deref(), Some(snapshot.as_str()));
    assert_eq!((recorded.last_files, recorded.last_duration_seconds), (Some(1204), Some(13)));
    assert_eq!(recorded.snapshots.len(), 1);

    // Retention and the drill start on the province's side, named after the snapshot.
    let side = Api::<Job>::namespaced(client.clone(), "concejo-backup-24");
    let retain = format!("retain-{code}-{}", &snapshot[..12]);
    let drill = format!("drill-{code}-{}", &snapshot[..12]);
    wait(&side, &retain, |j: Option<&Job>| j.is_some()).await?;
    // The drill waits for retention: its prune and check lock the repository.
    assert!(side.get_opt(&drill).await?.is_none(), "no drill before retention has run");
    let report = format!(r#"{{"message_type":"retain","snapshot":"{snapshot}","snapshots":1,"copied":false}}"#);
    finish(&client, "concejo-backup-24", &retain, 0, &report).await?;
    wait(&munis, name, |m: Option<&Municipality>| {
        m.and_then(|m| m.status.as_ref()?.backup.as_ref()?.retained_snapshot.clone()).as_deref() == Some(&snapshot)
    })
    .await?;
    wait(&side, &drill, |j: Option<&Job>| j.is_some()).await?;

    // A drill that finds a corrupted file: RestoreVerified False, a Warning Event, the words kept.
    let words = "concejo-drill failed: checksum mismatch in files/actas/2026-pleno.odt";
    finish(&client, "concejo-backup-24", &drill, 1, words).await?;
    let m = wait(&munis, name, |m: Option<&Municipality>| {
        m.and_then(|m| reason(m, "RestoreVerified")).as_deref() == Some("DrillFailed")
    })
    .await?;
    assert!(!has_condition("RestoreVerified", "True").matches_object(Some(&m)));
    assert!(message(&m, "RestoreVerified").unwrap().contains("2026-pleno.odt"));
    let recorded = m.status.as_ref().unwrap().backup.clone().unwrap();
    assert_eq!(recorded.last_drill_result, Some(DrillResult::Failed));
    assert_eq!(recorded.last_drill_snapshot.as_deref(), Some(snapshot.as_str()));
    eventually("a Warning Event says the drill failed", || {
        warning_event(&client, "Municipality", name, "RestoreDrillFailed")
    })
    .await?;
    // Drills do not make the tenant unready; the failing condition and the Event say it.
    assert_eq!(reason(&m, "Ready").as_deref(), Some("Reconciled"));
    delete_municipality(&client, name).await?;
    Ok(())
}

#[tokio::test]
async fn restores_into_a_new_volume_and_in_place_only_when_suspended() -> anyhow::Result<()> {
    let (client, _operator) = leon_with_operator().await?;
    let munis = Api::<Municipality>::all(client.clone());
    let (name, ns) = ("vegacervera", "muni-24194");
    create_fresh(&client, &with_suite(name, "24194", json!({}))).await?;
    wait(&munis, name, has_condition("Ready", "True")).await?;
    let restores = Api::<Restore>::namespaced(client.clone(), ns);
    let snapshot = "0badc0de".repeat(8);
    let restore = |name: &str, target: &str, snapshot: &str| -> Restore {
        serde_json::from_value(json!({
            "apiVersion": "concejo.dev/v1alpha1", "kind": "Restore", "metadata": {"name": name},
            "spec": {"snapshot": snapshot, "target": target}
        }))
        .unwrap()
    };
    let failed = |r: Option<&Restore>| r.and_then(|r| r.status.as_ref()?.phase).is_some_and(|p| p == RunPhase::Failed);

    // `latest` is the newest snapshot concejo recorded: before any backup, there is none.
    restores.create(&Default::default(), &restore("newest", "NewVolume", "latest")).await?;
    let refused = wait(&restores, "newest", failed).await?;
    let why = refused.status.unwrap().message.unwrap();
    assert!(why.contains("no backup recorded yet"), "{why}");

    // In place while the tenant runs: refused, with what to do.
    restores.create(&Default::default(), &restore("over-the-top", "InPlace", &snapshot)).await?;
    let refused = wait(&restores, "over-the-top", failed).await?;
    let why = refused.status.unwrap().message.unwrap();
    assert!(why.contains("spec.suspend: true") && why.contains(name), "{why}");
    assert!(Api::<Job>::namespaced(client.clone(), ns).get_opt("rst-over-the-top").await?.is_none());

    // Into a new volume: its claim, its Job, its status with the volume and the snapshot restored.
    restores.create(&Default::default(), &restore("yesterday", "NewVolume", &snapshot)).await?;
    let claims = Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns);
    wait(&claims, "restore-yesterday", |c: Option<&PersistentVolumeClaim>| c.is_some()).await?;
    let report = format!(r#"{{"message_type":"restore","snapshot":"{snapshot}","files":1204,"bytes":52428800}}"#);
    finish(&client, ns, "rst-yesterday", 0, &report).await?;
    let done = wait(&restores, "yesterday", |r: Option<&Restore>| {
        r.and_then(|r| r.status.as_ref()?.phase).is_some_and(|p| p == RunPhase::Succeeded)
    })
    .await?;
    let status = done.status.unwrap();
    assert_eq!(status.volume.as_deref(), Some("restore-yesterday"));
    assert_eq!(status.snapshot.as_deref(), Some(snapshot.as_str()));
    // Deleting the Restore keeps the restored data.
    restores.delete("yesterday", &Default::default()).await?;
    wait_deleted(&restores, "yesterday").await?;
    assert!(claims.get_opt("restore-yesterday").await?.is_some());
    delete_municipality(&client, name).await?;
    Ok(())
}
