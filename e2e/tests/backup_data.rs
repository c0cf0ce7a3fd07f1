//! The backup data path with the real programs as processes on 127.0.0.1 (no cluster): versitygw
//! as the S3 store, `rclone serve restic` as the province's two repository servers, restic,
//! PostgreSQL. Every server and run is rendered from concejo's own builders
//! (`resources::backup::{repository, runs}`): the same script, arguments and environment its pods
//! get, with only these changed to fit one machine: paths inside the pod are moved under a test
//! folder, service names become 127.0.0.1 ports, and values the pod reads from Secrets come from
//! the Secrets the builders render (or, for the bucket's key, the test store's).
//! Needs `e2e/backup/install.sh` once per machine (`make test` runs it).

mod support;

use std::fs;
use std::process::Output;

use anyhow::{Context as _, bail, ensure};

use concejo::api::v1alpha1::{RestoreSpec, RestoreTarget};
use concejo::domain::backup::Report;
use concejo::resources::backup::{Key, runs};
use concejo::resources::collaboration::credentials as suite_credentials;
use support::backup_stack::{Postgres, kill_script, run_script, spawn_script};
use support::backup_world::{BUCKET, World, say, snapshot_of, tenant, tree, write_files};
#[test]
fn files_and_database_come_back_byte_for_byte_and_row_for_row() -> anyhow::Result<()> {
    let key = Key::generate("24089");
    let mut w = World::start("roundtrip", &[&key])?;
    let t = tenant("leon", "24089", &w.s3.endpoint);
    let b = t.backup.clone().context("backup")?;
    w.onboard(&t, &key)?;
    write_files(&w.files(), 7)?;
    let db = w.secrets["database"]["name"].clone();
    w.pg.psql(&db, "SET ROLE nextcloud; CREATE TABLE oc_filecache (id int primary key, path text, size bigint)")?;
    w.pg.psql(&db, "SET ROLE nextcloud; INSERT INTO oc_filecache SELECT g, 'files/' || g, g * 1024 FROM generate_series(1, 5000) g")?;

    let (report, out) = w.run(&runs::backup_job(&t, &b, "now"), false)?;
    let (snapshot, files) = snapshot_of(report, &out)?;
    ensure!(files == 6, "4 files, the dump and its checksum: {files}\n{}", say(&out));

    let spec = RestoreSpec { snapshot: snapshot.clone(), target: RestoreTarget::NewVolume };
    let (_, job) = runs::restore(&t, &b, "check", &spec);
    let (report, out) = w.run(&job, false)?;
    ensure!(matches!(report, Ok(Report::Restore { .. })), "{report:?}\n{}", say(&out));
    let target = w.root.join(format!("run-{}/restore", w.runs));
    ensure!(tree(&target.join("files"))? == tree(&w.files())?, "the files differ after the restore");

    // The dump into a fresh PostgreSQL, rows compared.
    let fresh = Postgres::start(&w.root.join("fresh"))?;
    fresh.create_database("restored")?;
    let mut env = fresh.env();
    env.push(("DUMP".into(), target.join("database.dump").display().to_string()));
    let loaded = run_script(r#"pg_restore --no-owner --exit-on-error -d restored "$DUMP""#, &env, &w.tools)?;
    ensure!(loaded.status.success(), "pg_restore: {}", say(&loaded));
    let rows = "SELECT count(*) || ':' || sum(size) || ':' || md5(string_agg(path, ',' ORDER BY id)) FROM oc_filecache";
    ensure!(fresh.psql("restored", rows)? == w.pg.psql(&db, rows)?, "the rows differ");
    Ok(())
}

#[test]
fn in_place_puts_back_the_files_and_the_rows_a_ransomware_changed() -> anyhow::Result<()> {
    let key = Key::generate("24089");
    let mut w = World::start("in-place", &[&key])?;
    let t = tenant("leon", "24089", &w.s3.endpoint);
    let b = t.backup.clone().context("backup")?;
    w.onboard(&t, &key)?;
    write_files(&w.files(), 3)?;
    let db = w.secrets["database"]["name"].clone();
    w.pg.psql(&db, "SET ROLE nextcloud; CREATE TABLE oc_filecache (id int primary key, path text, size bigint)")?;
    w.pg.psql(
        &db,
        "SET ROLE nextcloud; INSERT INTO oc_filecache SELECT g, 'files/' || g, g * 7 FROM generate_series(1, 2000) g",
    )?;
    let rows = "SELECT count(*) || ':' || sum(size) || ':' || md5(string_agg(path, ',' ORDER BY id)) FROM oc_filecache";
    let (files_before, rows_before) = (tree(&w.files())?, w.pg.psql(&db, rows)?);
    let (report, out) = w.run(&runs::backup_job(&t, &b, "nightly"), false)?;
    let (snapshot, _) = snapshot_of(report, &out)?;

    // What an attacker with the tenant's rights does: files encrypted, added, deleted; rows gone.
    let victim = w.files().join("data/admin/files/Actas 2026");
    let first = fs::read_dir(&victim)?.next().context("a file")??.path();
    fs::write(&first, b"encrypted by ransomware")?;
    fs::write(w.files().join("LEEME-RESCATE.txt"), b"pay")?;
    fs::remove_dir_all(w.files().join("html"))?;
    w.pg.psql(&db, "SET ROLE nextcloud; DELETE FROM oc_filecache WHERE id % 2 = 0")?;
    ensure!(tree(&w.files())? != files_before && w.pg.psql(&db, rows)? != rows_before, "the damage took");

    // The Restore's two steps, as the pod runs them: the files as Nextcloud's user, then the
    // database into a fresh cluster on the database volume as PostgreSQL's.
    let spec = RestoreSpec { snapshot: snapshot.clone(), target: RestoreTarget::InPlace };
    let (claim, job) = runs::restore(&t, &b, "undo", &spec);
    ensure!(claim.is_none(), "in place needs no new volume");
    let (report, out) = w.run_step(&job, "restore-files", false)?;
    ensure!(matches!(report, Ok(Report::Restore { .. })), "{report:?}\n{}", say(&out));
    ensure!(tree(&w.files())? == files_before, "the files are not as they were: the ransom note or a change stayed");
    let (report, out) = w.run_step(&job, "restore-database", true)?;
    ensure!(matches!(&report, Ok(Report::Restore { snapshot: s, .. }) if *s == snapshot), "{report:?}\n{}", say(&out));
    let data = w.root.join(format!("run-{}/var/lib/postgresql/data/pgdata", w.runs));
    let hba = fs::read_to_string(data.join("pg_hba.conf"))?;
    ensure!(hba.lines().any(|l| l == "host all all all scram-sha-256"), "Nextcloud's pod could not log in:\n{hba}");
    let password = w.secrets[suite_credentials::NAME][suite_credentials::POSTGRES_PASSWORD].clone();
    let restored = Postgres::serve(&w.root.join("restored"), &data, "nextcloud", &password, &db)?;
    ensure!(restored.psql(&db, rows)? == rows_before, "the rows are not as they were before the damage");
    Ok(())
}

#[test]
fn tenants_reach_neither_each_other_nor_deletion() -> anyhow::Result<()> {
    let (ka, kb) = (Key::generate("24089"), Key::generate("24115"));
    let mut w = World::start("isolation", &[&ka, &kb])?;
    let a = tenant("leon", "24089", &w.s3.endpoint);
    w.onboard(&a, &ka)?;
    write_files(&w.files(), 1)?;
    let (report, out) = w.run(&runs::backup_job(&a, a.backup.as_ref().context("b")?, "a"), false)?;
    let (snapshot, _) = snapshot_of(report, &out)?;

    let restic = |user: &Key, repo_of: &str, args: &str| -> anyhow::Result<Output> {
        let env = vec![
            ("RESTIC_REPOSITORY".to_owned(), format!("rest:{}/{repo_of}/", w.tenants.url)),
            ("RESTIC_PASSWORD".to_owned(), user.repository_password.clone()),
            ("RESTIC_REST_USERNAME".to_owned(), user.user.clone()),
            ("RESTIC_REST_PASSWORD".to_owned(), user.password.clone()),
            ("RESTIC_CACHE_DIR".to_owned(), w.root.join("cache").display().to_string()),
        ];
        run_script(&format!("restic {args}"), &env, &w.tools)
    };
    // Everything B's Secret holds, against A's repository: refused by the server.
    let other = restic(&kb, &ka.user, "snapshots")?;
    ensure!(!other.status.success(), "B listed A's snapshots: {}", say(&other));
    ensure!(say(&other).contains("403") || say(&other).contains("Forbidden"), "{}", say(&other));
    // B with A's repository password too (as if leaked): still its own user, still refused.
    let mut leaked = kb.clone();
    leaked.repository_password = ka.repository_password.clone();
    ensure!(!restic(&leaked, &ka.user, "cat config")?.status.success(), "B read A's repository");
    // A cannot delete or rewrite its own snapshots through the tenant-facing server.
    let forget = restic(&ka, &ka.user, &format!("forget {snapshot} --prune"))?;
    ensure!(!forget.status.success(), "A deleted its own snapshot: {}", say(&forget));
    let listed = restic(&ka, &ka.user, "snapshots --json")?;
    ensure!(String::from_utf8_lossy(&listed.stdout).contains(&snapshot), "the snapshot is gone: {}", say(&listed));
    Ok(())
}

#[test]
fn a_killed_backup_leaves_a_lock_and_the_next_runs_succeed() -> anyhow::Result<()> {
    let key = Key::generate("24089");
    let mut w = World::start("lock", &[&key])?;
    let t = tenant("leon", "24089", &w.s3.endpoint);
    let b = t.backup.clone().context("backup")?;
    w.onboard(&t, &key)?;
    write_files(&w.files(), 3)?;
    let (report, out) = w.run(&runs::backup_job(&t, &b, "first"), false)?;
    snapshot_of(report, &out)?;
    // 300 MB of data that does not deduplicate: long enough to be killed half-way.
    let big: Vec<u8> = (0..300u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    fs::write(w.files().join("data/admin/files/grande.bin"), big)?;
    let job = runs::backup_job(&t, &b, "killed");
    let pod = job.spec.as_ref().and_then(|s| s.template.spec.clone()).context("pod")?;
    let container = pod.containers.last().context("c")?;
    let own = w.root.join("killed");
    for d in ["tmp", "dev"] {
        fs::create_dir_all(own.join(d))?;
    }
    let env = w.env(container, &own, false)?;
    let locks = w.s3.data_dir.join(BUCKET).join(&key.user).join("locks");
    let mut child = spawn_script(&container.command.as_ref().context("cmd")?[2], &env, &w.tools)?;
    let started = std::time::Instant::now();
    while fs::read_dir(&locks).map(|d| d.count()).unwrap_or(0) == 0 || started.elapsed().as_millis() < 1500 {
        ensure!(started.elapsed().as_secs() < 60, "no lock appeared");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let killed = kill_script(&mut child)?;
    ensure!(!killed.status.success(), "the backup finished before it was killed");
    ensure!(fs::read_dir(&locks)?.count() >= 1, "the killed backup left no lock");
    // The next backup is not blocked by it, and retention (province side) clears it and prunes.
    let (report, out) = w.run(&runs::backup_job(&t, &b, "after"), false)?;
    let (snapshot, _) = snapshot_of(report, &out)?;
    let (report, out) = w.run(&runs::retain(&t, &b, &snapshot, &[]), false)?;
    ensure!(matches!(report, Ok(Report::Retain { .. })), "{report:?}\n{}", say(&out));
    ensure!(fs::read_dir(&locks).map(|d| d.count()).unwrap_or(0) == 0, "a lock is left: {}", say(&out));
    Ok(())
}

#[test]
fn a_drill_passes_on_a_sound_repository_and_fails_on_a_corrupted_pack() -> anyhow::Result<()> {
    let key = Key::generate("24089");
    let mut w = World::start("drill", &[&key])?;
    let t = tenant("leon", "24089", &w.s3.endpoint);
    let b = t.backup.clone().context("backup")?;
    w.onboard(&t, &key)?;
    write_files(&w.files(), 9)?;
    let db = w.secrets["database"]["name"].clone();
    w.pg.psql(&db, "SET ROLE nextcloud; CREATE TABLE oc_users (uid text primary key)")?;
    let (report, out) = w.run(&runs::backup_job(&t, &b, "n"), false)?;
    let (snapshot, files) = snapshot_of(report, &out)?;
    let drill = runs::drill(&t, &b, &snapshot, Some(files));
    let (report, out) = w.run(&drill, true)?;
    match report {
        Ok(Report::Drill { tables, files: restored, .. }) => {
            ensure!(tables == 1 && restored == files, "tables {tables}, files {restored}\n{}", say(&out))
        }
        other => bail!("the drill did not pass: {other:?}\n{}", say(&out)),
    }
    // One byte flipped in every data pack: restore --verify and check see it.
    let data = w.s3.data_dir.join(BUCKET).join(&key.user).join("data");
    let mut flipped = 0;
    for dir in fs::read_dir(&data)? {
        for pack in fs::read_dir(dir?.path())? {
            let path = pack?.path();
            let mut bytes = fs::read(&path)?;
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0xff;
            fs::write(&path, bytes)?;
            flipped += 1;
        }
    }
    ensure!(flipped > 0, "no pack found under {data:?}");
    let (report, out) = w.run(&drill, true)?;
    match report {
        Err(message) => ensure!(message.contains("concejo-drill failed"), "{message}"),
        Ok(r) => bail!("a drill of a corrupted repository passed: {r:?}\n{}", say(&out)),
    }
    ensure!(!out.status.success());
    Ok(())
}
