//! One machine standing in for a province's backups: the S3 store, both repository servers and
//! PostgreSQL, started from concejo's own builders, and the runs' pods replayed as processes
//! (what e2e/tests/backup_data.rs checks). See that file for what is changed to fit one machine.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context as _, bail};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Container, EnvVar, Secret};

use super::backup_stack::{Postgres, RepoServer, S3Store, run_script, tools_path};
use concejo::api::v1alpha1::{Municipality, Province, S3Target, ServicePlan};
use concejo::domain::backup::{Report, TenantBackup, read_report};
use concejo::domain::{Inputs, ValidTenant, validate};
use concejo::resources::backup::{Key, credentials, repository};
use concejo::resources::collaboration::credentials as suite_credentials;
use serde_json::json;

pub const BUCKET: &str = "concejo";
/// The bucket of the province's secondary target (in the same store: a second bucket).
pub const SECONDARY_BUCKET: &str = "concejo-copia";

/// León, backing up into the test store.
pub fn province(endpoint: &str) -> Province {
    serde_json::from_value(json!({
        "apiVersion": "concejo.dev/v1alpha1", "kind": "Province", "metadata": {"name": "leon"},
        "spec": {
            "ineCode": "24", "displayName": "Diputación de León", "baseDomain": "nube.dipuleon.es",
            "defaultPlan": "town", "storage": {"classes": [{"name": "cifrado", "encrypted": true}]},
            "backup": {"target": {"s3": {"endpoint": endpoint, "bucket": BUCKET, "credentialsSecret": "backup-s3"}}}
        }
    }))
    .expect("a Province")
}

/// A tenant of León with the suite, validated as the operator does.
pub fn tenant(name: &str, ine: &str, endpoint: &str) -> ValidTenant {
    let plan: ServicePlan = serde_json::from_value(json!({
        "apiVersion": "concejo.dev/v1alpha1", "kind": "ServicePlan", "metadata": {"name": "town"},
        "spec": {
            "quota": {"cpu": "4", "memory": "8Gi", "storage": "200Gi", "pods": 40},
            "limitRange": {"defaultCpu": "250m", "defaultMemory": "256Mi", "maxCpu": "2", "maxMemory": "4Gi"},
            "collaboration": {"users": 25, "storage": "10Gi"}
        }
    }))
    .expect("a ServicePlan");
    let m: Municipality = serde_json::from_value(json!({
        "apiVersion": "concejo.dev/v1alpha1", "kind": "Municipality", "metadata": {"name": name},
        "spec": {"province": "leon", "ineCode": ine, "displayName": name, "collaboration": {"enabled": true}}
    }))
    .expect("a Municipality");
    let p = province(endpoint);
    validate(&m, Inputs { province: Some(&p), plan: Some(&plan), ..Default::default() }).expect("valid")
}

/// Everything one test runs against.
pub struct World {
    pub root: PathBuf,
    pub tools: String,
    pub s3: S3Store,
    pub tenants: RepoServer,
    pub admin: RepoServer,
    pub pg: Postgres,
    /// Secret name -> key -> value, as the pods would read them.
    pub secrets: HashMap<String, BTreeMap<String, String>>,
    pub runs: usize,
}

pub fn secret_text(secret: &Secret) -> BTreeMap<String, String> {
    secret.data.iter().flatten().map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned())).collect()
}

impl World {
    /// The store, both servers (with these tenants' users) and a PostgreSQL with each tenant's
    /// database `nextcloud` owned by `nextcloud`, as the suite makes it.
    pub fn start(name: &str, keys: &[&Key]) -> anyhow::Result<World> {
        let root = std::env::temp_dir().join(format!("concejo-backup-data-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root)?;
        let tools = tools_path()?;
        let s3 = S3Store::start(&root, &[BUCKET, SECONDARY_BUCKET])?;
        let admin_password = repository::new_admin_password();
        let mut secrets = HashMap::new();
        secrets.insert(
            repository::S3_SECRET.to_owned(),
            BTreeMap::from([
                ("AWS_ACCESS_KEY_ID".to_owned(), s3.access_key.clone()),
                ("AWS_SECRET_ACCESS_KEY".to_owned(), s3.secret_key.clone()),
            ]),
        );
        let province = province(&s3.endpoint);
        let mut repo = repository::Repository::new(&province, "rclone".into(), Default::default()).context("repo")?;
        repo.admin_htpasswd = repository::admin_htpasswd(&admin_password, None);
        repo.admin_password = admin_password;
        repo.tenants = keys.iter().map(|k| k.htpasswd.clone()).collect();
        repo.passwords = keys.iter().map(|k| (k.user.clone(), k.repository_password.clone())).collect();
        let objects = repository::build(&repo);
        for secret in &objects.secrets {
            let name = secret.metadata.name.clone().unwrap_or_default();
            if name != repository::S3_SECRET {
                secrets.insert(name, secret_text(secret));
            }
        }
        let mut servers = vec![];
        for (i, deployment) in objects.deployments.iter().enumerate() {
            let pod = deployment.spec.template.spec.as_ref().context("pod")?;
            let container = &pod.containers[0];
            let dir = root.join(format!("server-{i}"));
            fs::create_dir_all(dir.join("etc/concejo/htpasswd"))?;
            fs::create_dir_all(dir.join("tmp"))?;
            let htpasswd = if i == 0 { repository::HTPASSWD_SECRET } else { repository::ADMIN_HTPASSWD_SECRET };
            fs::write(dir.join("etc/concejo/htpasswd/htpasswd"), &secrets[htpasswd]["htpasswd"])?;
            let mut args = container.args.clone().unwrap_or_default();
            let at = args.iter().position(|a| a == "--addr").context("--addr")?;
            args.drain(at..at + 2); // the harness listens on 127.0.0.1 only
            let args: Vec<String> = args.iter().map(|a| moved(a, &dir, &dir)).collect();
            let env = resolve(container, &secrets, &dir, &dir)?;
            servers.push(RepoServer::start_in(&dir, &args, &env)?);
        }
        let admin = servers.pop().context("admin server")?;
        let tenants = servers.pop().context("tenant server")?;
        let pg = Postgres::start(&root)?;
        Ok(World { root, tools, s3, tenants, admin, pg, secrets, runs: 0 })
    }

    /// Gives a tenant its Secrets (as the builders render them) and its database.
    pub fn onboard(&mut self, tenant: &ValidTenant, key: &Key) -> anyhow::Result<()> {
        let escrow = credentials::escrow(tenant, key, "concejo-system");
        let mut own = secret_text(&escrow);
        own.remove(credentials::HTPASSWD);
        self.secrets.insert(credentials::NAME.into(), own);
        let password = suite_credentials::Credentials::generate().postgres;
        self.secrets.insert(
            suite_credentials::NAME.into(),
            BTreeMap::from([(suite_credentials::POSTGRES_PASSWORD.to_owned(), password.clone())]),
        );
        let db = format!("nextcloud_{}", tenant.ine_code);
        self.pg.psql("postgres", &format!("CREATE ROLE nextcloud LOGIN PASSWORD '{password}'")).ok();
        self.pg.psql("postgres", &format!("ALTER ROLE nextcloud PASSWORD '{password}'"))?;
        self.pg.psql("postgres", &format!("CREATE DATABASE {db} OWNER nextcloud"))?;
        self.secrets.insert("database".into(), BTreeMap::from([("name".to_owned(), db)]));
        Ok(())
    }

    /// Runs a Job's last container (the run's main step) as the pod would, as `user` (root or
    /// `postgres`), and returns its report and the output.
    pub fn run(&mut self, job: &Job, as_postgres: bool) -> anyhow::Result<(Result<Report, String>, Output)> {
        let pod = job.spec.as_ref().and_then(|s| s.template.spec.clone()).context("pod")?;
        let name = pod.containers.last().context("container")?.name.clone();
        self.run_step(job, &name, as_postgres)
    }

    /// Runs the container `name` of a Job (an init step or the main one) as [`World::run`] does;
    /// each step in a folder of its own, as each container has its own `/tmp`.
    pub fn run_step(
        &mut self,
        job: &Job,
        name: &str,
        as_postgres: bool,
    ) -> anyhow::Result<(Result<Report, String>, Output)> {
        let pod = job.spec.as_ref().and_then(|s| s.template.spec.clone()).context("pod")?;
        let all = pod.init_containers.iter().flatten().chain(pod.containers.iter());
        let container = all.into_iter().find(|c| c.name == name).with_context(|| format!("no step {name}"))?;
        self.runs += 1;
        let own = self.root.join(format!("run-{}", self.runs));
        for d in ["tmp", "work/snapshot", "restore", "scratch", "dev", "var/lib/postgresql/data"] {
            fs::create_dir_all(own.join(d))?;
        }
        let env = self.env(container, &own, as_postgres)?;
        let report = own.join("dev/termination-log");
        let script = container.command.as_ref().context("command")?[2].clone();
        let output = if as_postgres {
            Command::new("chown").args(["-R", "postgres:postgres"]).arg(&own).status()?;
            let mut c = Command::new("setpriv");
            c.args(["--reuid=postgres", "--regid=postgres", "--clear-groups", "--", "sh", "-c", &script]);
            c.env_clear().envs(env.iter().map(|(k, v)| (k, v))).output()?
        } else {
            run_script(&script, &env, &self.tools)?
        };
        let message = fs::read_to_string(&report).unwrap_or_default();
        Ok((read_report(&message), output))
    }

    /// A run's environment as its pod would have it, moved onto this machine. A run as `postgres`
    /// gets restic copied into its own tools folder, as the pod's init container does.
    pub fn env(&self, container: &Container, own: &Path, as_postgres: bool) -> anyhow::Result<Vec<(String, String)>> {
        let mut env = resolve(container, &self.secrets, &self.root, own)?;
        let path = if as_postgres {
            let tools = own.join("tools");
            fs::create_dir_all(&tools)?;
            let restic = super::backup_stack::which("restic", &self.tools).context("restic")?;
            fs::copy(restic, tools.join("restic"))?;
            let initdb = super::backup_stack::which("initdb", &self.tools).context("initdb")?;
            let pg_bin = fs::canonicalize(initdb)?.parent().context("bin")?.display().to_string();
            format!("{}:{pg_bin}:/usr/local/bin:/usr/bin:/bin", tools.display())
        } else {
            self.tools.clone()
        };
        for (k, v) in env.iter_mut() {
            match k.as_str() {
                "PATH" => *v = path.clone(),
                "PGHOST" => *v = self.pg.host.clone(),
                "PGPORT" => *v = self.pg.port.to_string(),
                "PGDATABASE" => *v = self.secrets["database"]["name"].clone(),
                "RESTIC_REPOSITORY" => {
                    let server = if v.contains("repository-admin.") { &self.admin.url } else { &self.tenants.url };
                    let rest = v.rsplit(":8000").next().unwrap_or_default().to_owned();
                    *v = format!("rest:{server}{rest}");
                }
                _ => {}
            }
        }
        Ok(env)
    }

    /// Gives a tenant's backups the secondary target (bucket [`SECONDARY_BUCKET`]) and its Secret.
    pub fn add_secondary(&mut self, backup: &mut TenantBackup) {
        let endpoint = self.s3.endpoint.clone();
        let bucket = SECONDARY_BUCKET.to_owned();
        let credentials_secret = repository::SECONDARY_SECRET.to_owned();
        backup.secondary = Some(S3Target { endpoint, bucket, credentials_secret, region: None });
        self.secrets.insert(repository::SECONDARY_SECRET.into(), self.secrets[repository::S3_SECRET].clone());
    }

    /// Runs `script` with the environment of a Job's main container (its Secrets read, its paths
    /// moved, as [`World::run`] does) plus `extra`, in a folder of its own.
    pub fn shell(&mut self, job: &Job, script: &str, extra: &[(&str, &str)]) -> anyhow::Result<Output> {
        let pod = job.spec.as_ref().and_then(|s| s.template.spec.clone()).context("pod")?;
        let container = pod.containers.last().context("container")?;
        self.runs += 1;
        let own = self.root.join(format!("shell-{}", self.runs));
        for d in ["tmp", "dev"] {
            fs::create_dir_all(own.join(d))?;
        }
        let mut env = self.env(container, &own, false)?;
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        run_script(script, &env, &self.tools)
    }

    pub fn files(&self) -> PathBuf {
        self.root.join("data/files")
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

/// A pod path under the test folder: the snapshot's own folders under the shared root (every run
/// must name them alike), the rest under the run's own.
pub fn moved(value: &str, shared: &Path, own: &Path) -> String {
    for prefix in ["/data/", "/work/"] {
        if value.starts_with(prefix) {
            return shared.join(&value[1..]).display().to_string();
        }
    }
    for prefix in ["/tmp", "/restore", "/scratch", "/dev/termination-log", "/etc/concejo", "/var/lib/postgresql"] {
        if value.starts_with(prefix) {
            return own.join(&value[1..]).display().to_string();
        }
    }
    value.to_owned()
}

/// A container's environment with every Secret reference read, and pod paths moved.
pub fn resolve(
    container: &Container,
    secrets: &HashMap<String, BTreeMap<String, String>>,
    shared: &Path,
    own: &Path,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut env = vec![];
    for from in container.env_from.iter().flatten() {
        let name = from.secret_ref.as_ref().map(|s| s.name.clone()).context("envFrom is a Secret")?;
        let data = secrets.get(&name).with_context(|| format!("no Secret {name}"))?;
        env.extend(data.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    for EnvVar { name, value, value_from } in container.env.iter().flatten() {
        let value = match (value, value_from) {
            (Some(v), _) => moved(v, shared, own),
            (None, Some(from)) => {
                let r = from.secret_key_ref.as_ref().context("only Secret references")?;
                let data = secrets.get(&r.name).with_context(|| format!("no Secret {}", r.name))?;
                data.get(&r.key).with_context(|| format!("no key {} in {}", r.key, r.name))?.clone()
            }
            (None, None) => String::new(),
        };
        env.push((name.clone(), value));
    }
    Ok(env)
}

/// Files of every kind: nested folders, binary, empty, a name with spaces and accents.
pub fn write_files(dir: &Path, seed: u8) -> anyhow::Result<()> {
    fs::create_dir_all(dir.join("data/admin/files/Actas 2026"))?;
    fs::create_dir_all(dir.join("html/config"))?;
    fs::write(dir.join("data/admin/files/Actas 2026/pleno-enero.odt"), vec![seed; 70_000])?;
    let binary: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed).collect();
    fs::write(dir.join("data/admin/files/padrón.bin"), binary)?;
    fs::write(dir.join("data/admin/files/vacío.txt"), b"")?;
    fs::write(dir.join("html/config/config.php"), format!("<?php $CONFIG = ['instanceid' => 'oc{seed}'];\n"))?;
    Ok(())
}

/// Every file under `dir`, relative, with its bytes.
pub fn tree(dir: &Path) -> anyhow::Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.strip_prefix(dir)?.to_path_buf(), fs::read(&path)?);
            }
        }
    }
    Ok(out)
}

pub fn say(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

pub fn snapshot_of(report: Result<Report, String>, output: &Output) -> anyhow::Result<(String, i64)> {
    match report {
        Ok(Report::Summary { snapshot_id, total_files_processed, .. }) => Ok((snapshot_id, total_files_processed)),
        other => bail!("the backup did not report a snapshot: {other:?}\n{}", say(output)),
    }
}
