//! One tenant's commands: `backup` (a Backup in its namespace), `restore` (a Restore), `suspend`
//! and `resume` (`spec.suspend`). Their meaning is docs/backups.md's; concejo does the work and
//! reports it in the objects' status, which `--wait` follows.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::wait::{Condition, await_condition};
use kube::{Api, Resource, ResourceExt as _};
use serde::de::DeserializeOwned;

use super::cluster::Cluster;
use super::output::{self, Output};
use super::table::phase_name;
use super::{FIELD_MANAGER, Global, parse_duration};
use crate::api::v1alpha1::{
    Backup, BackupSpec, Municipality, Phase, Restore, RestoreSpec, RestoreTarget, RunPhase, RunStatus,
};

#[derive(clap::Args)]
pub struct BackupArgs {
    /// The tenant: the Municipality's name.
    tenant: String,
    /// Wait until the backup has succeeded or failed (exit status 1 if it failed).
    #[arg(long)]
    wait: bool,
    /// How long --wait waits.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    timeout: Duration,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// The tenant: the Municipality's name.
    tenant: String,
    /// `latest` (the newest snapshot concejo's own backups made) or a snapshot id as
    /// `status.backup.lastSnapshot` shows it.
    #[arg(long, default_value = "latest")]
    snapshot: String,
    /// Over the tenant's own volumes, which needs it suspended first; default: into a new volume
    /// `restore-<name>`, touching nothing of the tenant.
    #[arg(long)]
    in_place: bool,
    /// Wait until the restore has succeeded or failed (exit status 1 if it failed).
    #[arg(long)]
    wait: bool,
    /// How long --wait waits.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    timeout: Duration,
}

#[derive(clap::Args)]
pub struct SuspendArgs {
    /// The tenant: the Municipality's name.
    tenant: String,
    /// Wait until concejo reports the tenant Suspended (suspend) or Ready (resume).
    #[arg(long)]
    wait: bool,
    /// How long --wait waits.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    timeout: Duration,
}

/// The namespace of a provisioned tenant.
fn namespace(m: &Municipality) -> anyhow::Result<String> {
    m.status.as_ref().and_then(|s| s.namespace.clone()).with_context(|| {
        format!(
            "Municipality {} has no namespace yet (see `kubectl concejo status`): nothing to back up or restore",
            m.name_any()
        )
    })
}

/// Refuses a tenant without backups (no volumes, or `spec.backup.enabled: false`): concejo sets
/// `BackupReady` exactly on the tenants it backs up, and would leave a Backup or Restore of any
/// other unanswered.
fn backed_up(m: &Municipality) -> anyhow::Result<()> {
    let conditions = m.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    if !conditions.iter().any(|c| c.type_ == "BackupReady") {
        bail!(
            "Municipality {} has no backups: it has no volumes (spec.collaboration or spec.storage), or spec.backup.enabled is false",
            m.name_any()
        );
    }
    Ok(())
}

pub async fn backup(global: &Global, args: BackupArgs) -> anyhow::Result<ExitCode> {
    let format = output::objects_only(global.output, "backup")?;
    let cluster = Cluster::connect(global).await?;
    let tenant = cluster.municipality(&args.tenant).await?;
    let ns = namespace(&tenant)?;
    backed_up(&tenant)?;
    let mut object = Backup::new("", BackupSpec {});
    object.metadata.name = None;
    object.metadata.generate_name = Some("backup-".into());
    let api = Api::<Backup>::namespaced(cluster.client.clone(), &ns);
    let created = create(&cluster, &api, &object).await?;
    report(&created, &ns, format)?;
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let done = wait_run(&cluster, &api, &created.name_any(), args.timeout, |b: &Backup| b.status.as_ref()).await?;
    Ok(ended(done.status.as_ref(), "backup"))
}

pub async fn restore(global: &Global, args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let format = output::objects_only(global.output, "restore")?;
    let cluster = Cluster::connect(global).await?;
    let tenant = cluster.municipality(&args.tenant).await?;
    if args.in_place && !tenant.spec.suspend {
        bail!(
            "an in-place restore overwrites the tenant's volumes and needs it suspended first: \
             `kubectl concejo suspend {} --wait`",
            tenant.name_any()
        );
    }
    let ns = namespace(&tenant)?;
    backed_up(&tenant)?;
    let target = if args.in_place { RestoreTarget::InPlace } else { RestoreTarget::NewVolume };
    let mut object = Restore::new("", RestoreSpec { snapshot: args.snapshot.clone(), target });
    object.metadata.name = None;
    // The volume is `restore-<name>`: say what it holds, e.g. restore-latest-x7k2q.
    object.metadata.generate_name = Some(format!("{}-", &args.snapshot[..args.snapshot.len().min(12)]));
    let api = Api::<Restore>::namespaced(cluster.client.clone(), &ns);
    let created = create(&cluster, &api, &object).await?;
    report(&created, &ns, format)?;
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let done = wait_run(&cluster, &api, &created.name_any(), args.timeout, |r: &Restore| r.status.as_ref()).await?;
    if let Some(volume) = done.status.as_ref().and_then(|s| s.volume.as_ref()) {
        println!("restored into PersistentVolumeClaim {ns}/{volume}");
    }
    Ok(ended(done.status.as_ref(), "restore"))
}

/// `suspend` (true) or `resume` (false): a merge patch of `spec.suspend` alone, so no other field
/// changes hands (GitOps tools keep owning the rest).
pub async fn suspend(global: &Global, args: SuspendArgs, suspend: bool) -> anyhow::Result<ExitCode> {
    let format = output::objects_only(global.output, if suspend { "suspend" } else { "resume" })?;
    let cluster = Cluster::connect(global).await?;
    let tenant = cluster.municipality(&args.tenant).await?;
    let name = tenant.name_any();
    let word = if suspend { "suspended" } else { "resumed" };
    let updated = if tenant.spec.suspend == suspend {
        eprintln!("municipality.concejo.dev/{name} is already {}", if suspend { "suspended" } else { "not suspended" });
        tenant
    } else {
        let api = Api::<Municipality>::all(cluster.client.clone());
        let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
        let patch = serde_json::json!({"spec": {"suspend": suspend}});
        let updated = api.patch(&name, &params, &Patch::Merge(&patch)).await.map_err(|e| cluster.api_error(e))?;
        if format.is_none() {
            println!("municipality.concejo.dev/{name} {word}");
        }
        updated
    };
    let updated = if args.wait {
        let wanted = if suspend { Phase::Suspended } else { Phase::Ready };
        let generation = updated.metadata.generation;
        let reached = move |m: Option<&Municipality>| {
            m.and_then(|m| m.status.as_ref())
                .is_some_and(|s| s.observed_generation >= generation && s.phase == Some(wanted))
        };
        let api = Api::<Municipality>::all(cluster.client.clone());
        let m = wait_for(&cluster, &api, &name, args.timeout, reached).await?;
        if format.is_none() {
            println!("municipality.concejo.dev/{name} is {}", phase_name(wanted));
        }
        m
    } else {
        updated
    };
    if let Some(f) = format {
        print!("{}", output::render(&updated, f)?);
    }
    Ok(ExitCode::SUCCESS)
}

async fn create<K>(cluster: &Cluster, api: &Api<K>, object: &K) -> anyhow::Result<K>
where
    K: Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let params = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
    api.create(&params, object).await.map_err(|e| cluster.api_error(e))
}

/// "backup.concejo.dev/backup-x7k2q created in namespace muni-24089", or the object.
fn report<K>(created: &K, namespace: &str, format: Option<Output>) -> anyhow::Result<()>
where
    K: Resource<DynamicType = ()> + serde::Serialize,
{
    match format {
        Some(f) => print!("{}", output::render(created, f)?),
        None => {
            let kind = K::kind(&()).to_lowercase();
            println!(
                "{kind}.concejo.dev/{} created in namespace {namespace}",
                created.meta().name.clone().unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// Waits for a Backup or Restore to end, printing each phase it passes through.
async fn wait_run<K>(
    cluster: &Cluster,
    api: &Api<K>,
    name: &str,
    timeout: Duration,
    status: fn(&K) -> Option<&RunStatus>,
) -> anyhow::Result<K>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let last = std::cell::Cell::new(None);
    let ended = |o: Option<&K>| {
        let phase = o.and_then(|o| status(o)?.phase);
        if phase != last.get() {
            if let Some(p) = phase {
                eprintln!("{name}: {p:?}");
            }
            last.set(phase);
        }
        matches!(phase, Some(RunPhase::Succeeded | RunPhase::Failed))
    };
    wait_for(cluster, api, name, timeout, ended).await
}

async fn wait_for<K>(
    cluster: &Cluster,
    api: &Api<K>,
    name: &str,
    timeout: Duration,
    condition: impl Condition<K>,
) -> anyhow::Result<K>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    match tokio::time::timeout(timeout, await_condition(api.clone(), name, condition)).await {
        Err(_) => bail!("{name} did not get there within {timeout:?}"),
        Ok(Err(e)) => Err(anyhow::anyhow!("watching {name} on {}: {e}", cluster.url)),
        Ok(Ok(None)) => bail!("{name} was deleted while waiting for it"),
        Ok(Ok(Some(object))) => Ok(object),
    }
}

/// Exit status of an ended run, after saying how it went.
fn ended(status: Option<&RunStatus>, what: &str) -> ExitCode {
    let status = status.cloned().unwrap_or_default();
    let message = status.message.unwrap_or_default();
    match status.phase {
        Some(RunPhase::Succeeded) => {
            println!("{what} succeeded: snapshot {}", status.snapshot.unwrap_or_default());
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{what} failed: {message}");
            ExitCode::FAILURE
        }
    }
}
