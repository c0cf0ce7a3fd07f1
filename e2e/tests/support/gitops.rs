//! What GitOps tools see of concejo's objects: Argo CD's health checks (docs/gitops/*.lua) run the
//! way Argo CD runs them, objects exactly as the API server returns them, and the control plane's
//! kubectl for server-side applies and diffs.

use std::path::{Path, PathBuf};
use std::process::Output;

use anyhow::{Context as _, ensure};
use kube::api::{Api, ApiResource, DynamicObject};
use kube::{Client, Resource};
use mlua::{Lua, LuaOptions, LuaSerdeExt, StdLib, Table};

/// The repository's root, where cargo runs the test.
pub fn repository() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo test")).join("..")
}

/// The Argo CD health check of a kind, `docs/gitops/health-<kind>.lua`.
pub fn health_script(kind: &str) -> anyhow::Result<String> {
    let path = repository().join(format!("docs/gitops/health-{kind}.lua"));
    std::fs::read_to_string(&path).with_context(|| path.display().to_string())
}

/// What a health check said of one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    pub status: String,
    pub message: String,
}

impl Health {
    pub fn new(status: &str, message: impl Into<String>) -> Self {
        Self { status: status.to_owned(), message: message.into() }
    }
}

/// Runs a health check on `object` as Argo CD does: Lua 5.1, the object as the global `obj`, and
/// no library beyond base and table (Argo CD's gopher-lua adds `package` and a two-function `os`,
/// which these scripts do not use; `string` and `math` are not there, so a script that used them
/// would fail here as it would in Argo CD).
pub fn argocd_health(script: &str, object: &DynamicObject) -> anyhow::Result<Health> {
    let lua = Lua::new_with(StdLib::TABLE, LuaOptions::new())?;
    lua.globals().set("obj", lua.to_value(&serde_json::to_value(object)?)?)?;
    let hs: Table = lua.load(script).set_name("health.lua").eval()?;
    Ok(Health { status: hs.get("status")?, message: hs.get("message")? })
}

/// The objects of a concejo kind exactly as the API server serves them (no Rust type in between).
pub fn raw<K: Resource<DynamicType = ()>>(client: &Client) -> Api<DynamicObject> {
    Api::all_with(client.clone(), &ApiResource::erase::<K>(&()))
}

/// A field of a raw object's `status`, e.g. `phase`.
pub fn status_field<'a>(object: &'a DynamicObject, field: &str) -> Option<&'a serde_json::Value> {
    object.data.get("status")?.get(field)
}

/// A condition of a raw object, as JSON.
pub fn condition<'a>(object: &'a DynamicObject, type_: &str) -> Option<&'a serde_json::Value> {
    status_field(object, "conditions")?.as_array()?.iter().find(|c| c["type"] == type_)
}

/// `reason: message` of a condition, as the health checks quote it.
pub fn said(object: &DynamicObject, type_: &str) -> String {
    let c = condition(object, type_).cloned().unwrap_or_default();
    format!("{}: {}", c["reason"].as_str().unwrap_or_default(), c["message"].as_str().unwrap_or_default())
}

/// Whether a raw object has a condition of this type and status, for the generation it is at.
pub fn observed_with(object: Option<&DynamicObject>, type_: &str, status: &str) -> bool {
    object.is_some_and(|o| {
        status_field(o, "observedGeneration").and_then(|g| g.as_i64()) == o.metadata.generation
            && condition(o, type_).is_some_and(|c| c["status"] == status)
    })
}

/// The control plane's kubectl: `$CONCEJO_KUBECTL`, or the one beside its kubeconfig
/// (`<cluster dir>/bin/kubectl`, see e2e/cluster/cluster.sh).
pub fn kubectl_path() -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var("CONCEJO_KUBECTL") {
        return Ok(PathBuf::from(path));
    }
    let kubeconfig =
        std::env::var("KUBECONFIG").context("KUBECONFIG is not set: run under e2e/cluster/with-cluster.sh")?;
    let path = Path::new(&kubeconfig).parent().context("KUBECONFIG has no folder")?.join("bin/kubectl");
    ensure!(path.exists(), "{} not found: set CONCEJO_KUBECTL to the control plane's kubectl", path.display());
    Ok(path)
}

/// Runs the control plane's kubectl with these arguments.
pub async fn kubectl(args: &[&str]) -> anyhow::Result<Output> {
    let output = tokio::process::Command::new(kubectl_path()?).args(args).output().await?;
    Ok(output)
}

/// Runs kubectl and fails unless it exits 0; returns its standard output.
pub async fn kubectl_ok(args: &[&str]) -> anyhow::Result<String> {
    let output = kubectl(args).await?;
    ensure!(
        output.status.success(),
        "kubectl {} failed ({}): {}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}
