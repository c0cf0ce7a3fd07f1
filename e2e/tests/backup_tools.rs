//! The backup data path with the real programs, as processes on 127.0.0.1 (no cluster, no
//! KUBECONFIG): versitygw as the S3 store, `rclone serve restic` as the provincial repository
//! server (an append-only, private-repos endpoint for the tenants and a full one for the province),
//! restic, and PostgreSQL for database dumps. Needs `e2e/backup/install.sh` once per machine.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use support::backup_stack::*;

const BUCKET: &str = "backups";
const A: (&str, &str) = ("m40194", "pw-a");
const B: (&str, &str) = ("m40076", "pw-b");
const PROVINCE: (&str, &str) = ("province", "pw-province");

/// A fresh folder under the temporary folder (which the `postgres` user can reach), removed again
/// when the test passes.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("concejo-backup-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        Ok(Scratch(dir))
    }
    fn done(self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The store with one bucket, the tenants' append-only server (users A and B) and the province's
/// full server (its own user), both on the same S3 remote.
struct Stack {
    store: S3Store,
    tenants: RepoServer,
    province: RepoServer,
    tenants_htpasswd: PathBuf,
    dir: PathBuf,
}

fn stack(dir: &Path) -> anyhow::Result<Stack> {
    let store = S3Store::start(dir, &[BUCKET])?;
    let tenants_htpasswd = dir.join("tenants.htpasswd");
    fs::write(&tenants_htpasswd, htpasswd_line(A.0, A.1)? + &htpasswd_line(B.0, B.1)?)?;
    let province_htpasswd = dir.join("province.htpasswd");
    fs::write(&province_htpasswd, htpasswd_line(PROVINCE.0, PROVINCE.1)?)?;
    let serve = |extra: &[&str], htpasswd: &Path| -> Vec<String> {
        let mut args: Vec<String> = ["serve", "restic", &format!("prov:{BUCKET}")].map(String::from).to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["--htpasswd".to_owned(), htpasswd.display().to_string()]);
        args
    };
    let env = store.rclone_env("prov");
    let tenants = RepoServer::start_in(dir, &serve(&["--private-repos", "--append-only"], &tenants_htpasswd), &env)?;
    // The province's server keeps its HOME and log in a temporary folder of its own.
    let province = RepoServer::start(&serve(&[], &province_htpasswd), &env)?;
    Ok(Stack { store, tenants, province, tenants_htpasswd, dir: dir.to_owned() })
}

impl Stack {
    /// restic's environment for `repo` as `user`: the REST credentials in RESTIC_REST_*, never in
    /// the URL; HOME and the cache in the test's folder.
    fn restic(&self, repo: &str, user: (&str, &str), key: &str) -> Vec<(String, String)> {
        [
            ("RESTIC_REPOSITORY", repo),
            ("RESTIC_PASSWORD", key),
            ("RESTIC_REST_USERNAME", user.0),
            ("RESTIC_REST_PASSWORD", user.1),
            ("HOME", &self.dir.display().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
    fn tenant(&self, user: (&str, &str)) -> Vec<(String, String)> {
        self.restic(&self.tenants.repo(user.0), user, &format!("key-{}", user.0))
    }
    /// The province's view of a tenant's repository (the same key: escrowed by the operator).
    fn admin(&self, tenant: &str) -> Vec<(String, String)> {
        self.restic(&self.province.repo(tenant), PROVINCE, &format!("key-{tenant}"))
    }
}

fn sh(script: &str, env: &[(String, String)]) -> anyhow::Result<Output> {
    run_script(script, env, &tools_path()?)
}

/// Runs `script`, requires exit 0 and returns its stdout.
fn ok(script: &str, env: &[(String, String)]) -> anyhow::Result<String> {
    let out = sh(script, env)?;
    ensure!(out.status.success(), "`{script}` failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8(out.stdout)?)
}

/// Runs `script`, requires exit `code` and returns its stderr.
fn fails(script: &str, env: &[(String, String)], code: i32) -> anyhow::Result<String> {
    let out = sh(script, env)?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ensure!(out.status.code() == Some(code), "`{script}`: wanted exit {code}, got {}: {stderr}", out.status);
    Ok(stderr)
}

fn snapshot_count(env: &[(String, String)], tags: &str) -> anyhow::Result<usize> {
    let json: serde_json::Value = serde_json::from_str(&ok(&format!("restic snapshots --json --tag {tags}"), env)?)?;
    Ok(json.as_array().context("snapshots --json")?.len())
}

#[test]
fn tenants_are_isolated_and_cannot_delete_their_backups() -> anyhow::Result<()> {
    let scratch = Scratch::new("isolation")?;
    let dir = &scratch.0;
    let s = stack(dir)?;
    let src = dir.join("src");
    fs::create_dir_all(&src)?;
    fs::write(src.join("acta.txt"), "Pleno ordinario, 3 de marzo\n".repeat(1000))?;
    let (a, b) = (s.tenant(A), s.tenant(B));

    ok("restic init", &a)?;
    // Each top-level folder of the store's data folder is a bucket; a tenant's repository sits
    // under `<bucket>/<user>/`.
    ensure!(s.store.data_dir.join(BUCKET).join(A.0).join("config").is_file(), "A's repository is not in the bucket");
    let summary =
        ok(&format!("cd {dir:?} && restic backup --json --host muni-40194 --tag tenant=40194,kind=files src"), &a)?;
    let summary: serde_json::Value = serde_json::from_str(summary.lines().last().context("no JSON")?)?;
    ensure!(summary["message_type"] == "summary" && summary["snapshot_id"].is_string(), "{summary}");
    ensure!(summary["total_bytes_processed"].as_u64() > Some(0), "{summary}");
    ensure!(snapshot_count(&a, "tenant=40194,kind=files")? == 1);
    ok(&format!("restic restore latest --tag tenant=40194,kind=files --verify --target {:?}", dir.join("back")), &a)?;
    ensure!(fs::read(dir.join("back/src/acta.txt"))? == fs::read(src.join("acta.txt"))?, "restore differs");

    // B's user on A's repository, and without any credentials.
    let b_on_a = [b.clone(), vec![("RESTIC_REPOSITORY".into(), s.tenants.repo(A.0))]].concat();
    ensure!(fails("restic snapshots", &b_on_a, 1)?.contains("403 Forbidden"));
    let anonymous: Vec<_> = a.iter().filter(|(k, _)| !k.starts_with("RESTIC_REST_")).cloned().collect();
    ensure!(fails("restic snapshots", &anonymous, 1)?.contains("401 Unauthorized"));

    // Append-only: the owner cannot forget its snapshot (exit 3), the province can.
    let id = summary["snapshot_id"].as_str().unwrap_or_default().to_owned();
    ensure!(fails(&format!("restic forget {id}"), &a, 3)?.contains("403 Forbidden"));
    ensure!(snapshot_count(&a, "tenant=40194")? == 1, "the tenant removed a snapshot");
    ok(&format!("restic forget {id} --prune"), &s.admin(A.0))?;
    ensure!(snapshot_count(&a, "tenant=40194")? == 0, "the province could not forget");

    // The server reads the htpasswd file again when it changes: a new tenant needs no restart.
    let mut users = fs::read_to_string(&s.tenants_htpasswd)?;
    users += &htpasswd_line("m40100", "pw-c")?;
    fs::write(&s.tenants_htpasswd, users)?;
    ok("restic init", &s.tenant(("m40100", "pw-c")))?;

    // The secondary copy: restic's own s3 backend on the store, filled with `copy`.
    ok("restic init", &b)?;
    ok(&format!("cd {dir:?} && restic backup --host muni-40076 --tag tenant=40076,kind=files src"), &b)?;
    fs::create_dir_all(s.store.data_dir.join("secondary"))?;
    let mut copy = s.admin(B.0);
    copy.extend(s.store.restic_env());
    let target = format!("s3:{}/secondary/{}", s.store.endpoint, B.0);
    copy.extend([("TARGET".into(), target), ("RESTIC_FROM_PASSWORD".into(), format!("key-{}", B.0))]);
    ok(r#"restic -r "$TARGET" init --from-repo "$RESTIC_REPOSITORY" --copy-chunker-params"#, &copy)?;
    ok(r#"restic -r "$TARGET" copy --from-repo "$RESTIC_REPOSITORY""#, &copy)?;
    ok(r#"restic -r "$TARGET" check --read-data"#, &copy)?;
    let copied = ok(r#"restic -r "$TARGET" snapshots --json --tag tenant=40076"#, &copy)?;
    ensure!(serde_json::from_str::<serde_json::Value>(&copied)?.as_array().map(Vec::len) == Some(1), "{copied}");
    drop(s);
    scratch.done();
    Ok(())
}

#[test]
fn a_killed_backup_leaves_a_lock_that_only_blocks_the_province() -> anyhow::Result<()> {
    let scratch = Scratch::new("locks")?;
    let dir = &scratch.0;
    let s = stack(dir)?;
    let a = s.tenant(A);
    ok("restic init", &a)?;
    ok(&format!("head -c 96000000 /dev/urandom > {:?}", dir.join("big.bin")), &[])?;

    let locks = s.store.data_dir.join(BUCKET).join(A.0).join("locks");
    let packs = s.store.data_dir.join(BUCKET).join(A.0).join("data");
    let mut backup =
        spawn_script(&format!("cd {dir:?} && exec restic backup --tag tenant=40194 big.bin"), &a, &tools_path()?)?;
    let start = Instant::now();
    // Kill it once it holds its lock and has written some packs: half-way, not before it began.
    while count_files(&locks) == 0 || count_files(&packs) < 2 {
        ensure!(backup.try_wait()?.is_none(), "the backup finished before it could be killed");
        ensure!(start.elapsed() < Duration::from_secs(60), "no lock and packs after 60 s");
        sleep(Duration::from_millis(20));
    }
    kill_script(&mut backup)?;
    ensure!(count_files(&locks) == 1, "the killed backup left no lock");
    let lock_id = ok("restic list locks --no-lock", &a)?.trim().to_owned();
    let lock: serde_json::Value = serde_json::from_str(&ok(&format!("restic cat lock {lock_id}"), &a)?)?;
    ensure!(lock["time"].is_string() && lock["exclusive"] == false, "{lock}");

    // The next backup takes a shared lock: it does not mind.
    ok(&format!("cd {dir:?} && echo nota > nota.txt && restic backup --tag tenant=40194 nota.txt"), &a)?;
    // Retention takes an exclusive lock: refused (exit 11) until the province removes the lock.
    let admin = s.admin(A.0);
    ensure!(fails("restic forget --keep-last 1 --prune", &admin, 11)?.contains("already locked"));
    ok("restic unlock --remove-all", &admin)?;
    ok("restic forget --keep-last 1 --prune", &admin)?;
    ensure!(count_files(&locks) == 0, "locks left after the province's forget");
    drop(s);
    scratch.done();
    Ok(())
}

fn count_files(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    entries.flatten().map(|e| if e.path().is_dir() { count_files(&e.path()) } else { 1 }).sum()
}

#[test]
fn a_database_is_dumped_into_restic_and_a_failed_dump_makes_no_snapshot() -> anyhow::Result<()> {
    let scratch = Scratch::new("database")?;
    let dir = &scratch.0;
    let s = stack(dir)?;
    let pg = Postgres::start(dir)?;
    ensure!(pg.pid() != s.store.pid() && s.tenants.pid() != s.province.pid());
    pg.create_database("padron")?;
    pg.psql("padron", "CREATE TABLE vecinos (id int, nombre text)")?;
    pg.psql("padron", "INSERT INTO vecinos SELECT g, 'vecino ' || g FROM generate_series(1, 5000) g")?;

    let env = [s.tenant(A), pg.env()].concat();
    ok("restic init", &env)?;
    let dump = "restic backup --tag tenant=40194,kind=database --stdin-filename padron.dump --stdin-from-command \
                -- pg_dump --format=custom --dbname=padron";
    ok(dump, &env)?;
    ensure!(snapshot_count(&env, "tenant=40194,kind=database")? == 1);

    // pg_dump fails (wrong password): restic fails and saves nothing.
    let wrong = [env.clone(), vec![("PGPASSWORD".into(), "wrong".into())]].concat();
    let stderr = fails(dump, &wrong, 1)?;
    ensure!(stderr.contains("password authentication failed") && stderr.contains("command failed"), "{stderr}");
    ensure!(snapshot_count(&env, "tenant=40194,kind=database")? == 1, "a failed dump made a snapshot");

    // The province restores it into a scratch database: the drill.
    pg.create_database("padron_drill")?;
    let drill = [s.admin(A.0), pg.env()].concat();
    ok("restic dump latest --tag tenant=40194,kind=database padron.dump | pg_restore --dbname=padron_drill", &drill)?;
    ensure!(pg.psql("padron_drill", "SELECT count(*) FROM vecinos")? == "5000");
    drop((pg, s));
    scratch.done();
    Ok(())
}

#[test]
fn a_server_that_does_not_start_says_why() -> anyhow::Result<()> {
    let args = ["serve", "restic", "nosuchremote:bucket"].map(String::from);
    let Err(error) = RepoServer::start(&args, &[]) else { anyhow::bail!("rclone started without its remote") };
    let error = format!("{error:#}");
    ensure!(error.contains("exited while starting") && error.contains("nosuchremote"), "{error}");
    eprintln!("{error}");

    // PostgreSQL runs as the `postgres` user, who cannot reach a folder only root may enter.
    let scratch = Scratch::new("unreachable")?;
    fs::set_permissions(&scratch.0, fs::Permissions::from_mode(0o700))?;
    let Err(error) = Postgres::start(&scratch.0.join("pg")) else { anyhow::bail!("postgres started") };
    let error = format!("{error:#}");
    ensure!(error.contains("can the postgres user reach"), "{error}");
    eprintln!("{error}");
    scratch.done();
    Ok(())
}
