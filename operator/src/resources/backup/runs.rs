//! Every run, built from the tenant: the backup (the CronJob's template and a Backup's Job), a
//! Restore's claim and Job, and on the province's side retention after a backup and the restore
//! drill. The data-path tests run these very pods' scripts and environments (e2e/tests/backup_data.rs,
//! e2e/tests/backup_retention.rs).

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    EnvVar, EphemeralVolumeSource, PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimTemplate,
    Volume, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::super::collaboration::pod::{claim_volume, empty_dir, env, mount};
use super::super::collaboration::{DATABASE, POSTGRES_PORT, credentials as suite_credentials, nextcloud, postgres};
use super::super::labels;
use super::pod::{Run, Step, base_env, job, secret_key_env};
use super::repository::{ADMIN_SECRET, PASSWORDS_SECRET, SECONDARY_SECRET};
use super::{DATABASE_PATH, FILES_PATH, PGDATA, RESTORE_TARGET, RunKind, SCRATCH, credentials};
use crate::api::v1alpha1::{RestoreSpec, RestoreTarget};
use crate::domain::backup::{self, REPOSITORY, REPOSITORY_ADMIN, TenantBackup};
use crate::domain::suite::{DATABASE_VOLUME, FILES_VOLUME};
use crate::domain::{ValidTenant, quantity};

/// How much of the repository's data a drill reads back besides the snapshot it restores.
pub const READ_SUBSET: &str = "10%";

/// The database's connection for `pg_dump` and a restore in place (the password by reference).
fn database_env(tenant: &ValidTenant, host: bool) -> Vec<EnvVar> {
    if tenant.collaboration.is_none() {
        return vec![];
    }
    let mut vars = vec![
        env("PGUSER", DATABASE),
        env("PGDATABASE", DATABASE),
        secret_key_env("PGPASSWORD", suite_credentials::NAME, suite_credentials::POSTGRES_PASSWORD),
    ];
    if host {
        vars.extend([env("PGHOST", "postgres"), env("PGPORT", POSTGRES_PORT.to_string())]);
    }
    vars
}

/// A tenant's backup: the file volume read-only, the database dumped over the network, into the
/// tenant-facing (append-only) server with the tenant's own credentials.
pub fn backup<'a>(tenant: &'a ValidTenant, backup: &'a TenantBackup) -> Run<'a> {
    let mut vars = base_env(backup);
    vars.push(env("RESTIC_REPOSITORY", backup::repository_url(REPOSITORY, &backup.namespace, &backup.user)));
    vars.push(env("FILES_PATH", FILES_PATH));
    vars.extend(database_env(tenant, true));
    Run {
        kind: RunKind::Backup,
        tenant,
        backup,
        namespace: tenant.namespace(),
        steps: vec![Step {
            name: "backup",
            uid: nextcloud::UID,
            env: vars,
            env_from: vec![credentials::NAME.into()],
            mounts: vec![mount("files", FILES_PATH, None, true), mount("work", "/work", None, false)],
        }],
        volumes: vec![claim_volume("files", FILES_VOLUME), empty_dir("work")],
        uid: nextcloud::UID,
        fs_group: None,
    }
}

/// The Job of a Backup object.
pub fn backup_job(tenant: &ValidTenant, tenant_backup: &TenantBackup, name: &str) -> Job {
    job(&backup(tenant, tenant_backup), &backup_job_name(name))
}

pub fn backup_job_name(backup_name: &str) -> String {
    backup::run_name("bk", backup_name)
}
pub fn restore_job_name(restore_name: &str) -> String {
    backup::run_name("rst", restore_name)
}
pub fn restore_claim_name(restore_name: &str) -> String {
    backup::run_name("restore", restore_name)
}
/// Province-side runs are named after the tenant and the snapshot: one per snapshot, ever.
pub fn retain_job_name(ine_code: &str, snapshot: &str) -> String {
    format!("retain-{ine_code}-{}", &snapshot[..snapshot.len().min(12)])
}
pub fn drill_job_name(ine_code: &str, snapshot: &str) -> String {
    format!("drill-{ine_code}-{}", &snapshot[..snapshot.len().min(12)])
}

/// Room for a whole restore: the file volume's size plus the database's.
fn restore_size(tenant: &ValidTenant) -> String {
    tenant
        .storage
        .as_ref()
        .map(|s| {
            let bytes =
                (quantity::parse_milli(&s.files).unwrap_or(0) + quantity::parse_milli(&s.database).unwrap_or(0)) / 1000;
            format!("{}Gi", (bytes + (1 << 30) - 1) >> 30)
        })
        .unwrap_or_else(|| "1Gi".into())
}

fn claim_spec(tenant: &ValidTenant) -> PersistentVolumeClaimSpec {
    PersistentVolumeClaimSpec {
        access_modes: Some(vec!["ReadWriteOnce".into()]),
        storage_class_name: tenant.storage.as_ref().map(|s| s.class.clone()),
        resources: Some(VolumeResourceRequirements {
            requests: Some(BTreeMap::from([("storage".to_owned(), Quantity(restore_size(tenant)))])),
            limits: None,
        }),
        ..Default::default()
    }
}

/// A Restore: its claim (target NewVolume) and its Job. In place, the files are restored as
/// Nextcloud's user, then the database as PostgreSQL's, each on its own volume.
pub fn restore(
    tenant: &ValidTenant,
    tenant_backup: &TenantBackup,
    name: &str,
    spec: &RestoreSpec,
) -> (Option<PersistentVolumeClaim>, Job) {
    let mut vars = base_env(tenant_backup);
    vars.push(env(
        "RESTIC_REPOSITORY",
        backup::repository_url(REPOSITORY, &tenant_backup.namespace, &tenant_backup.user),
    ));
    vars.push(env("FILES_PATH", FILES_PATH));
    vars.push(env("SNAPSHOT", &spec.snapshot));
    let from = vec![credentials::NAME.to_owned()];
    let work = mount("work", "/work", None, false);
    let (run, claim) = match spec.target {
        RestoreTarget::NewVolume => {
            let claim_name = restore_claim_name(name);
            vars.push(env("TARGET", RESTORE_TARGET));
            let step = Step {
                name: "restore",
                uid: nextcloud::UID,
                env: vars,
                env_from: from,
                mounts: vec![mount("target", RESTORE_TARGET, None, false), work],
            };
            let claim = PersistentVolumeClaim {
                metadata: labels::metadata(tenant, &claim_name, Some(tenant.namespace()), super::COMPONENT),
                spec: Some(claim_spec(tenant)),
                ..Default::default()
            };
            let run = Run {
                kind: RunKind::Restore,
                tenant,
                backup: tenant_backup,
                namespace: tenant.namespace(),
                steps: vec![step],
                volumes: vec![claim_volume("target", &claim_name), empty_dir("work")],
                uid: nextcloud::UID,
                fs_group: Some(nextcloud::UID),
            };
            (run, Some(claim))
        }
        RestoreTarget::InPlace => {
            vars.push(env("TARGET", "InPlace"));
            let mut files = vars.clone();
            files.push(env("PARTS", "files"));
            let mut database = vars;
            database.extend(database_env(tenant, false));
            database.extend([env("PARTS", "database"), env("PGDATA", PGDATA)]);
            let mut steps = vec![Step {
                name: "restore-files",
                uid: nextcloud::UID,
                env: files,
                env_from: from.clone(),
                mounts: vec![mount("files", FILES_PATH, None, false), work.clone()],
            }];
            let mut volumes = vec![claim_volume("files", FILES_VOLUME), empty_dir("work")];
            // Only a tenant with the suite has a database (and its snapshots a dump).
            if tenant.collaboration.is_some() {
                steps.push(Step {
                    name: "restore-database",
                    uid: postgres::UID,
                    env: database,
                    env_from: from,
                    mounts: vec![mount("database", DATABASE_PATH, None, false), work],
                });
                volumes.push(claim_volume("database", DATABASE_VOLUME));
            }
            let run = Run {
                kind: RunKind::Restore,
                tenant,
                backup: tenant_backup,
                namespace: tenant.namespace(),
                steps,
                volumes,
                uid: nextcloud::UID,
                fs_group: None,
            };
            (run, None)
        }
    };
    (claim, job(&run, &restore_job_name(name)))
}

/// What province-side runs share: the province-side server, logged in as the province, opening
/// the tenant's repository with the province's copy of its password.
fn province_env(tenant_backup: &TenantBackup, snapshot: &str) -> Vec<EnvVar> {
    let mut vars = base_env(tenant_backup);
    vars.push(env(
        "RESTIC_REPOSITORY",
        backup::repository_url(REPOSITORY_ADMIN, &tenant_backup.namespace, &tenant_backup.user),
    ));
    vars.push(secret_key_env(credentials::REPOSITORY_PASSWORD, PASSWORDS_SECRET, &tenant_backup.user));
    vars.push(env("FILES_PATH", FILES_PATH));
    vars.push(env("SNAPSHOT", snapshot));
    vars
}

fn province_run<'a>(
    kind: RunKind,
    tenant: &'a ValidTenant,
    tenant_backup: &'a TenantBackup,
    step: Step,
    volumes: Vec<Volume>,
) -> Run<'a> {
    Run {
        kind,
        tenant,
        backup: tenant_backup,
        namespace: tenant_backup.namespace.clone(),
        steps: vec![step],
        volumes,
        uid: postgres::UID,
        fs_group: Some(postgres::UID),
    }
}

/// Retention after the backup that made `snapshot`: forgets exactly the snapshots `forget` names
/// (what [`crate::domain::retention::decide`] chose among concejo's own; env `FORGET`, the ids
/// separated by spaces, empty for none), prunes and checks the repository, then copies to the
/// secondary target and forgets there the copies of the same snapshots.
pub fn retain(tenant: &ValidTenant, tenant_backup: &TenantBackup, snapshot: &str, forget: &[String]) -> Job {
    let mut vars = province_env(tenant_backup, snapshot);
    vars.push(env("FORGET", forget.join(" ")));
    if let Some(s3) = &tenant_backup.secondary {
        vars.push(env(
            "SECONDARY_REPOSITORY",
            format!("s3:{}/{}/{}", s3.endpoint.trim_end_matches('/'), s3.bucket, tenant_backup.user),
        ));
        vars.push(env("AWS_DEFAULT_REGION", s3.region.as_deref().unwrap_or("us-east-1")));
        vars.push(secret_key_env("AWS_ACCESS_KEY_ID", SECONDARY_SECRET, "AWS_ACCESS_KEY_ID"));
        vars.push(secret_key_env("AWS_SECRET_ACCESS_KEY", SECONDARY_SECRET, "AWS_SECRET_ACCESS_KEY"));
    }
    let step =
        Step { name: "retain", uid: postgres::UID, env: vars, env_from: vec![ADMIN_SECRET.into()], mounts: vec![] };
    job(
        &province_run(RunKind::Retain, tenant, tenant_backup, step, vec![]),
        &retain_job_name(&tenant.ine_code, snapshot),
    )
}

/// A restore drill of `snapshot`, which its backup recorded as holding `files` files, into a
/// scratch volume of the tenant's class that goes with the pod.
pub fn drill(tenant: &ValidTenant, tenant_backup: &TenantBackup, snapshot: &str, files: Option<i64>) -> Job {
    let mut vars = province_env(tenant_backup, snapshot);
    vars.push(env("SCRATCH", SCRATCH));
    vars.push(env("READ_SUBSET", READ_SUBSET));
    if let Some(files) = files {
        vars.push(env("EXPECT_FILES", files.to_string()));
    }
    let step = Step {
        name: "drill",
        uid: postgres::UID,
        env: vars,
        env_from: vec![ADMIN_SECRET.into()],
        mounts: vec![mount("scratch", SCRATCH, None, false)],
    };
    let scratch = Volume {
        name: "scratch".into(),
        ephemeral: Some(EphemeralVolumeSource {
            volume_claim_template: Some(PersistentVolumeClaimTemplate { metadata: None, spec: claim_spec(tenant) }),
        }),
        ..Default::default()
    };

    job(
        &province_run(RunKind::Drill, tenant, tenant_backup, step, vec![scratch]),
        &drill_job_name(&tenant.ine_code, snapshot),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{municipality, s3_target, valid_in};

    #[test]
    fn in_place_restores_a_database_only_where_there_is_one() {
        let mut m = municipality("leon", "24089");
        m.spec.collaboration.enabled = true;
        let mut tenant = valid_in(&m, |p| p.spec.backup.target = Some(s3_target("concejo")));
        let b = tenant.backup.clone().unwrap();
        let spec = RestoreSpec { snapshot: "a".repeat(64), target: RestoreTarget::InPlace };
        let steps = |t: &ValidTenant| {
            let pod = restore(t, &b, "undo", &spec).1.spec.unwrap().template.spec.unwrap();
            pod.init_containers.unwrap().iter().chain(pod.containers.iter()).map(|c| c.name.clone()).collect::<Vec<_>>()
        };
        assert_eq!(steps(&tenant), ["tools", "restore-files", "restore-database"]);
        tenant.collaboration = None;
        assert_eq!(steps(&tenant), ["tools", "restore-files"], "volumes without the suite hold no database");
    }

    fn value<'a>(job: &'a Job, name: &str) -> Option<&'a str> {
        let pod = job.spec.as_ref()?.template.spec.as_ref()?;
        pod.containers[0].env.as_ref()?.iter().find(|e| e.name == name)?.value.as_deref()
    }

    #[test]
    fn retention_is_told_exactly_which_snapshots_to_forget() {
        let mut m = municipality("leon", "24089");
        m.spec.collaboration.enabled = true;
        let tenant = valid_in(&m, |p| p.spec.backup.target = Some(s3_target("concejo")));
        let b = tenant.backup.clone().unwrap();
        let snapshot = "4f2a9c1e0b7d".repeat(5);
        let forget = vec!["a".repeat(64), "b".repeat(64)];
        let job = retain(&tenant, &b, &snapshot, &forget);
        assert_eq!(job.metadata.name.as_deref(), Some("retain-24089-4f2a9c1e0b7d"));
        assert_eq!(job.metadata.namespace.as_deref(), Some("concejo-backup-24"));
        assert_eq!(value(&job, "FORGET"), Some(format!("{} {}", forget[0], forget[1]).as_str()));
        assert_eq!(value(&job, "SNAPSHOT"), Some(snapshot.as_str()));
        assert_eq!(
            value(&job, "RESTIC_REPOSITORY"),
            Some("rest:http://repository-admin.concejo-backup-24.svc.cluster.local:8000/muni-24089/")
        );
        assert_eq!(value(&job, "KEEP"), None, "no calendar policy over the repository's own list");
        let script =
            &job.spec.as_ref().unwrap().template.spec.as_ref().unwrap().containers[0].command.as_ref().unwrap()[2];
        assert!(script.contains("restic check") && !script.contains("--keep-"), "{script}");
        assert_eq!(value(&retain(&tenant, &b, &snapshot, &[]), "FORGET"), Some(""));
    }
}
