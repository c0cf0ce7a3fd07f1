//! The real programs of the backup data path, started as processes on 127.0.0.1: an S3 store
//! (versitygw on plain files), restic repository servers (`rclone serve restic` on that store) and
//! PostgreSQL. Synchronous (std::process), no Kubernetes: the tests that use this module need no
//! cluster. The programs come from `e2e/backup/install.sh` (see [`tools_path`]).
//!
//! Every server is stopped by its PID when its value is dropped, and its output goes to a log file
//! whose tail is part of the error when it does not start.

use std::collections::hash_map::RandomState;
use std::fs;
use std::hash::BuildHasher;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};

#[allow(unused_imports)] // not every test binary uses them
pub use super::scripts::{kill_script, run_script, spawn_script};

/// How long a server may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// The programs `tools_path` checks for, each in a folder of `install.sh --path`.
const TOOLS: &[&str] = &["restic", "rclone", "versitygw", "initdb", "postgres", "psql", "pg_dump"];

/// A PATH with the folders of `e2e/backup/install.sh --path` in front of the current PATH. Fails,
/// naming the program, when one of the tools is not installed. Computed once per test binary.
pub fn tools_path() -> anyhow::Result<String> {
    static PATH: OnceLock<Result<String, String>> = OnceLock::new();
    PATH.get_or_init(|| compute_tools_path().map_err(|e| format!("{e:#}"))).clone().map_err(anyhow::Error::msg)
}

fn compute_tools_path() -> anyhow::Result<String> {
    // The checkout where cargo runs the test, read at run time: a test binary reused from another
    // clone through the shared target directory must not look into that clone.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").context("run by cargo test")?;
    let script = Path::new(&manifest_dir).join("../e2e/backup/install.sh");
    let out = Command::new("bash").arg(&script).arg("--path").output().with_context(|| format!("{script:?}"))?;
    ensure!(out.status.success(), "{script:?} --path failed: {}", String::from_utf8_lossy(&out.stderr));
    let fragment = String::from_utf8(out.stdout)?.trim().to_owned();
    for tool in TOOLS {
        ensure!(
            which(tool, &fragment).is_some(),
            "{tool} is not installed (looked in {fragment}): run e2e/backup/install.sh"
        );
    }
    Ok(format!("{fragment}:{}", std::env::var("PATH").unwrap_or_default()))
}

/// The first executable `name` in the folders of `path`.
pub fn which(name: &str, path: &str) -> Option<PathBuf> {
    path.split(':').filter(|d| !d.is_empty()).map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

fn tool(name: &str) -> anyhow::Result<PathBuf> {
    which(name, &tools_path()?).with_context(|| format!("{name} not found: run e2e/backup/install.sh"))
}

/// A port nobody listens on now (bound to 127.0.0.1:0 and released).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A random token (hex, 32 characters) for passwords and keys. Not for production secrets.
pub fn token() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let (a, b) = (RandomState::new(), RandomState::new());
    format!("{:016x}{:016x}", a.hash_one((t, std::process::id())), b.hash_one(t.as_nanos()))
}

/// The last `lines` lines of a log file (empty if it cannot be read).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A running server: killed by PID (and waited for) on drop. `interrupt` first sends SIGINT
/// (PostgreSQL's fast shutdown) and gives it 10 s before SIGKILL.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
    interrupt: bool,
}

impl Proc {
    fn spawn(name: &str, mut command: Command, log: &Path, interrupt: bool) -> anyhow::Result<Self> {
        let file = fs::File::create(log).with_context(|| format!("{log:?}"))?;
        command.stdin(Stdio::null()).stdout(file.try_clone()?).stderr(file);
        let child = command.spawn().with_context(|| format!("starting {name}: {command:?}"))?;
        Ok(Proc { name: name.to_owned(), child, log: log.to_owned(), interrupt })
    }

    /// An error about this process, with the tail of its log.
    fn failed(&self, what: &str) -> anyhow::Error {
        anyhow::anyhow!("{} {what}; the end of {:?}:\n{}", self.name, self.log, log_tail(&self.log, 40))
    }

    /// Waits until `ready` holds, failing early (with the log tail) if the process exits.
    fn wait_until(&mut self, mut ready: impl FnMut() -> bool) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(self.failed(&format!("exited while starting ({status})")));
            }
            if ready() {
                return Ok(());
            }
            if start.elapsed() > START_TIMEOUT {
                return Err(self.failed(&format!("did not answer in {START_TIMEOUT:?}")));
            }
            sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.interrupt && matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
            let start = Instant::now();
            while matches!(self.child.try_wait(), Ok(None)) && start.elapsed() < Duration::from_secs(10) {
                sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether an HTTP server answers on `addr` (any status counts).
fn answers_http(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = [0u8; 5];
    s.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_ok()
        && s.read_exact(&mut head).is_ok()
        && &head == b"HTTP/"
}

/// A command with a clean environment: only PATH (the tools' first), HOME and `env`.
fn clean(program: &Path, home: &Path, env: &[(String, String)]) -> anyhow::Result<Command> {
    let mut c = Command::new(program);
    c.env_clear().env("PATH", tools_path()?).env("HOME", home).envs(env.iter().map(|(k, v)| (k, v)));
    Ok(c)
}

/// An S3-compatible store: versitygw's posix backend, listening on 127.0.0.1 only, its root user
/// the only user. Each top-level folder of `data_dir` is a bucket; its metadata lives in a sidecar
/// folder next to (not inside) `data_dir`.
pub struct S3Store {
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    /// The buckets, one folder each: a restic pack is `<data_dir>/<bucket>/<prefix>/data/<2 hex>/<id>`.
    pub data_dir: PathBuf,
    pub meta_dir: PathBuf,
    proc: Proc,
}

impl S3Store {
    /// Starts the store with its files in `dir` (`s3-data/`, `s3-meta/`, `versitygw.log`) and the
    /// given buckets created (as folders, before the store starts).
    pub fn start(dir: &Path, buckets: &[&str]) -> anyhow::Result<Self> {
        let (data_dir, meta_dir) = (dir.join("s3-data"), dir.join("s3-meta"));
        for d in buckets.iter().map(|b| data_dir.join(b)).chain([meta_dir.clone()]) {
            fs::create_dir_all(d)?;
        }
        let port = free_port()?;
        let (access_key, secret_key) = (format!("root{}", &token()[..8]), token());
        let mut cmd = clean(&tool("versitygw")?, dir, &[])?;
        cmd.env("ROOT_ACCESS_KEY", &access_key).env("ROOT_SECRET_KEY", &secret_key);
        cmd.arg("--port").arg(format!("127.0.0.1:{port}")).arg("posix").arg("--sidecar").arg(&meta_dir).arg(&data_dir);
        let mut proc = Proc::spawn("versitygw", cmd, &dir.join("versitygw.log"), false)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        proc.wait_until(|| answers_http(addr))?;
        Ok(S3Store { endpoint: format!("http://127.0.0.1:{port}"), access_key, secret_key, data_dir, meta_dir, proc })
    }

    pub fn pid(&self) -> u32 {
        self.proc.child.id()
    }

    /// The environment that configures an rclone S3 remote named `name` on this store
    /// (`RCLONE_CONFIG_<NAME>_*`; NO_CHECK_BUCKET because versitygw answers rclone's CreateBucket 500).
    pub fn rclone_env(&self, name: &str) -> Vec<(String, String)> {
        let n = name.to_uppercase();
        [
            ("TYPE", "s3"),
            ("PROVIDER", "Other"),
            ("ENDPOINT", &self.endpoint),
            ("ACCESS_KEY_ID", &self.access_key),
            ("SECRET_ACCESS_KEY", &self.secret_key),
            ("NO_CHECK_BUCKET", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (format!("RCLONE_CONFIG_{n}_{k}"), v.to_owned()))
        .collect()
    }

    /// The environment restic's own s3 backend needs for this store.
    pub fn restic_env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), self.secret_key.clone()),
        ]
    }
}

/// A restic REST server: `rclone <args> --addr 127.0.0.1:<free port>`.
pub struct RepoServer {
    /// `http://127.0.0.1:<port>` (a repository is `rest:<url>/<user>/` with `--private-repos`)
    pub url: String,
    pub log: PathBuf,
    proc: Proc,
    /// The temporary folder [`RepoServer::start`] made, removed after the server stopped.
    scratch: Option<PathBuf>,
}

impl RepoServer {
    /// Runs `rclone` with exactly `args` and `env` (plus PATH and HOME, a fresh temporary folder that
    /// also holds the log), and `--addr 127.0.0.1:<free port>` appended by the harness: `args` must
    /// not set `--addr`. Typically `serve restic REMOTE:BUCKET --private-repos --append-only
    /// --htpasswd FILE`, the remote configured by `RCLONE_CONFIG_<NAME>_*` in `env`.
    pub fn start(args: &[String], env: &[(String, String)]) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("concejo-rclone-{}-{}", std::process::id(), token()));
        fs::create_dir_all(&dir)?;
        let mut server = Self::start_in(&dir, args, env).inspect_err(|_| drop(fs::remove_dir_all(&dir)))?;
        server.scratch = Some(dir);
        Ok(server)
    }

    /// As [`RepoServer::start`], with HOME and the log (`rclone-<port>.log`) in `dir`.
    pub fn start_in(dir: &Path, args: &[String], env: &[(String, String)]) -> anyhow::Result<Self> {
        ensure!(!args.iter().any(|a| a.starts_with("--addr")), "the harness sets --addr itself");
        let port = free_port()?;
        let mut cmd = clean(&tool("rclone")?, dir, env)?;
        cmd.args(args).arg("--addr").arg(format!("127.0.0.1:{port}"));
        let log = dir.join(format!("rclone-{port}.log"));
        let mut proc = Proc::spawn("rclone", cmd, &log, false)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        proc.wait_until(|| answers_http(addr))?;
        Ok(RepoServer { url: format!("http://127.0.0.1:{port}"), log, proc, scratch: None })
    }

    pub fn pid(&self) -> u32 {
        self.proc.child.id()
    }

    /// The restic repository of `user` on this server (`--private-repos` layout), no credentials.
    pub fn repo(&self, user: &str) -> String {
        format!("rest:{}/{user}/", self.url)
    }
}

impl Drop for RepoServer {
    fn drop(&mut self) {
        if let Some(dir) = self.scratch.take() {
            // Stop the server first: `proc` is dropped only after this function.
            let _ = self.proc.child.kill();
            let _ = self.proc.child.wait();
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// One htpasswd line for `user` (`openssl passwd -apr1`, which rclone accepts).
pub fn htpasswd_line(user: &str, password: &str) -> anyhow::Result<String> {
    let out = Command::new("openssl").args(["passwd", "-apr1", password]).output().context("openssl")?;
    ensure!(out.status.success(), "openssl passwd: {}", String::from_utf8_lossy(&out.stderr));
    Ok(format!("{user}:{}\n", String::from_utf8(out.stdout)?.trim()))
}

/// A PostgreSQL server on 127.0.0.1 with password (scram-sha-256) authentication for `user`, a
/// superuser, and no Unix socket. It runs as the `postgres` system user (PostgreSQL refuses root).
pub struct Postgres {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    proc: Proc,
}

impl Postgres {
    /// initdb into `<dir>/postgres/data` (owned by the `postgres` user, who must be able to reach
    /// `dir`: use a folder under /tmp) and starts the server, logging to `<dir>/postgres.log`.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        let (uid, gid) = system_user("postgres")?;
        let home = dir.join("postgres");
        fs::create_dir_all(&home)?;
        let (user, password) = ("concejo".to_owned(), token());
        let pwfile = home.join("pwfile");
        fs::write(&pwfile, format!("{password}\n"))?;
        for p in [&home, &pwfile] {
            std::os::unix::fs::chown(p, Some(uid), Some(gid)).with_context(|| format!("chown {p:?} to postgres"))?;
        }
        let data = home.join("data");
        let mut initdb = as_postgres(&tool("initdb")?, &home, uid, gid)?;
        initdb.arg("-D").arg(&data).args(["-U", &user, "--auth=scram-sha-256", "--locale=C", "-E", "UTF8"]);
        initdb.arg(format!("--pwfile={}", pwfile.display())).arg("--no-sync");
        let log = dir.join("initdb.log");
        let mut init = Proc::spawn("initdb", initdb, &log, false)?;
        let status = init.child.wait()?;
        if !status.success() {
            return Err(init.failed(&format!("failed ({status}; can the postgres user reach {dir:?}?)")));
        }
        Postgres::serve(dir, &data, &user, &password, "postgres")
    }

    /// Serves an existing cluster in `data` (owned by `postgres`) on a free port of 127.0.0.1, and
    /// waits until `user` can log in to `db` with `password`.
    pub fn serve(dir: &Path, data: &Path, user: &str, password: &str, db: &str) -> anyhow::Result<Self> {
        let (uid, gid) = system_user("postgres")?;
        fs::create_dir_all(dir)?;
        let home = data.parent().context("a data folder has a parent")?;
        let port = free_port()?;
        let mut server = as_postgres(&tool("postgres")?, home, uid, gid)?;
        server.arg("-D").arg(data).arg("-p").arg(port.to_string());
        for setting in ["listen_addresses=127.0.0.1", "unix_socket_directories=", "fsync=off"] {
            server.args(["-c", setting]);
        }
        let mut proc = Proc::spawn("postgres", server, &dir.join("postgres.log"), true)?;
        let env = pg_env("127.0.0.1", port, user, password);
        let mut last = String::new();
        let ready = proc.wait_until(|| psql_with(&env, db, "SELECT 1").map_err(|e| last = format!("{e:#}")).is_ok());
        ready.with_context(|| format!("the last psql said: {last}"))?;
        Ok(Postgres { host: "127.0.0.1".into(), port, user: user.into(), password: password.into(), proc })
    }

    pub fn pid(&self) -> u32 {
        self.proc.child.id()
    }

    /// PGHOST, PGPORT, PGUSER and PGPASSWORD for this server (what pg_dump and psql read).
    pub fn env(&self) -> Vec<(String, String)> {
        pg_env(&self.host, self.port, &self.user, &self.password)
    }

    /// Runs `sql` in database `db` with psql (unaligned, tuples only, stop on the first error);
    /// returns its output, trimmed.
    pub fn psql(&self, db: &str, sql: &str) -> anyhow::Result<String> {
        psql_with(&self.env(), db, sql)
    }

    pub fn create_database(&self, name: &str) -> anyhow::Result<()> {
        ensure!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "database name {name:?}");
        self.psql("postgres", &format!("CREATE DATABASE {name}")).map(drop)
    }
}

fn pg_env(host: &str, port: u16, user: &str, password: &str) -> Vec<(String, String)> {
    [("PGHOST", host), ("PGPORT", &port.to_string()), ("PGUSER", user), ("PGPASSWORD", password)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn psql_with(env: &[(String, String)], db: &str, sql: &str) -> anyhow::Result<String> {
    let mut env = env.to_vec();
    env.extend([("DB".into(), db.into()), ("SQL".into(), sql.into())]);
    let out = run_script(r#"psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c "$SQL""#, &env, &tools_path()?)?;
    ensure!(out.status.success(), "psql -d {db} -c {sql:?}: {}", String::from_utf8_lossy(&out.stderr).trim());
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// `program` run as the given user and group (setpriv execs it: the PID is the program's own).
fn as_postgres(program: &Path, home: &Path, uid: u32, gid: u32) -> anyhow::Result<Command> {
    let mut c = Command::new("setpriv");
    c.args([format!("--reuid={uid}"), format!("--regid={gid}"), "--clear-groups".into(), "--".into()]);
    c.arg(program).env_clear().env("PATH", tools_path()?).env("HOME", home).env("LC_ALL", "C").current_dir(home);
    Ok(c)
}

/// The uid and gid of a system user, from /etc/passwd.
fn system_user(name: &str) -> anyhow::Result<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd")?;
    let line = passwd.lines().find(|l| l.split(':').next() == Some(name));
    let fields: Vec<&str> =
        line.with_context(|| format!("no user {name}: run e2e/backup/install.sh"))?.split(':').collect();
    ensure!(fields.len() >= 4, "/etc/passwd line of {name}");
    Ok((fields[2].parse()?, fields[3].parse()?))
}
