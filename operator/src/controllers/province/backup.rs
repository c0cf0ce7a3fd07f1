//! The province's backup repository against the API server: the bucket's credentials read from
//! the operator's namespace, the tenants' logins from their escrowed keys, the province's own
//! login kept once made, the servers built (`resources::backup::repository`, pure) and applied
//! where they differ from what is live, and `BackupTargetReady` from their availability.
//!
//! Its objects are watched ([`watch`]) and mapped back to their Province by the namespace they
//! live in (`concejo-backup-<INE code>`); escrow Secrets map to the Province they name (the
//! operator's namespace is the platform team's only).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::channel::mpsc::UnboundedSender;
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, ApiResource};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use tracing::info;

use super::Context;
use super::office::{code_of, ensure, to_provinces, watch_kind};
use crate::api::v1alpha1::{BackupTarget, Province};
use crate::controllers::conditions::{BACKUP_TARGET_READY, Desired};
use crate::domain::backup;
use crate::domain::images;
use crate::resources::backup::credentials::{self, Key};
use crate::resources::backup::repository::{self, ADMIN_HTPASSWD_SECRET, ADMIN_SECRET, Objects, Repository};
use crate::resources::labels;
use crate::runtime::errors::Error;
use crate::runtime::ssa;
use crate::runtime::watches::{self, ByName, Changes};

/// What the bucket's Secret must hold.
const KEYS: [&str; 2] = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"];

/// The watch caches of the repositories' objects, and of the escrowed keys.
#[derive(Clone)]
pub struct Caches {
    pub namespaces: Store<Namespace>,
    pub network_policies: Store<NetworkPolicy>,
    pub secrets: ByName<Secret>,
    pub services: Store<Service>,
    pub deployments: Store<Deployment>,
    /// `backup-key-<ineCode>` in the operator's namespace.
    pub escrows: Store<Secret>,
    /// The platform team's own Secrets in the operator's namespace (not concejo's): the buckets'
    /// credentials that Provinces name.
    pub buckets: Store<Secret>,
}

impl Caches {
    pub async fn synced(&self) {
        watches::synced(&self.namespaces).await;
        watches::synced(&self.network_policies).await;
        self.secrets.synced().await;
        watches::synced(&self.services).await;
        watches::synced(&self.deployments).await;
        watches::synced(&self.escrows).await;
        watches::synced(&self.buckets).await;
    }

    /// A tenant's escrowed key, if the cache has it.
    pub fn escrow(&self, operator_namespace: &str, ine_code: &str) -> Option<std::sync::Arc<Secret>> {
        self.escrows.get(&ObjectRef::new(&credentials::escrow_name(ine_code)).within(operator_namespace))
    }
}

/// The province INE code of a backup namespace.
fn code_of_namespace(namespace: &str) -> Option<&str> {
    namespace.strip_prefix("concejo-backup-").filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_digit()))
}

/// Starts the watches; a change is sent to `queue` as the Province it belongs to. Escrow changes
/// also go to `tenants` (the Municipality of the INE code), through `on_escrow`.
pub fn watch(
    client: &Client,
    operator_namespace: &str,
    provinces: Store<Province>,
    queue: UnboundedSender<ObjectRef<Province>>,
) -> Caches {
    let config = || watcher::Config::default().labels(&repository::selector());
    let start = |config| (client, provinces.clone(), queue.clone(), config);
    let escrows = {
        let selector =
            format!("{},{}={}", labels::managed_selector(), labels::COMPONENT, credentials::ESCROW_COMPONENT);
        let mut changes = Changes::new(watches::content::<Secret>);
        let queue = queue.clone();
        watches::spawn(
            Api::<Secret>::namespaced(client.clone(), operator_namespace),
            watcher::Config::default().labels(&selector),
            |_| true,
            move |event| {
                if let Some(province) = changes.of(event).and_then(|s| s.labels().get(labels::PROVINCE).cloned()) {
                    let _ = queue.unbounded_send(ObjectRef::new(&province));
                }
            },
        )
    };
    // A bucket's Secret, created or changed: the Provinces that name it look again.
    let buckets = {
        let (provinces, queue) = (provinces.clone(), queue.clone());
        let mut changes = Changes::new(watches::content::<Secret>);
        let not_concejos = |s: &Secret| s.labels().get(labels::MANAGED_BY).map(String::as_str) != Some(labels::MANAGER);
        watches::spawn(
            Api::<Secret>::namespaced(client.clone(), operator_namespace),
            watcher::Config::default(),
            not_concejos,
            move |event| {
                let Some(secret) = changes.of(event) else { return };
                let name = secret.name_any();
                for p in provinces.state().iter().filter(|p| names(p, &name)) {
                    let _ = queue.unbounded_send(ObjectRef::from_obj(&**p));
                }
            },
        )
    };
    Caches {
        namespaces: watch_kind(start(config()), code_of_namespace, watches::content::<Namespace>),
        network_policies: watch_kind(start(config()), code_of_namespace, watches::content::<NetworkPolicy>),
        // By name, so that RBAC grants concejo these names only (see `watches::ByName`).
        secrets: ByName::spawn(
            Api::all(client.clone()),
            config(),
            repository::SECRETS.iter().copied(),
            |s: &Secret| code_of(s, code_of_namespace).is_some(),
            to_provinces(provinces.clone(), queue.clone(), code_of_namespace, watches::content::<Secret>),
        ),
        services: watch_kind(start(config()), code_of_namespace, watches::content::<Service>),
        deployments: watch_kind(start(config()), code_of_namespace, watches::content_and_status::<Deployment>),
        escrows,
        buckets,
    }
}

/// Whether a Province names Secret `name` for a backup target.
fn names(province: &Province, name: &str) -> bool {
    let backup = &province.spec.backup;
    [&backup.target, &backup.secondary_target].into_iter().flatten().any(|t| t.s3.credentials_secret == name)
}

/// What one reconcile of the repository found: its condition, and when to look again.
pub struct Report {
    pub condition: Desired,
    pub next: Option<Duration>,
    pub failed: Option<String>,
}

/// Brings the province's repository to what the Province asks for; `None` when it names no
/// backup target (its tenants say so in `BackupReady`).
pub async fn reconcile(province: &Province, ctx: &Context) -> Result<Option<Report>, Error> {
    let Some(target) = &province.spec.backup.target else { return Ok(None) };
    let report = |ok, reason: &str, message: String, next, failed| {
        Ok(Some(Report { condition: Desired::new(BACKUP_TARGET_READY, ok, reason, message), next, failed }))
    };
    let (credentials, version) = match bucket_credentials(target, ctx) {
        Ok(data) => data,
        Err(why) => return report(false, "CredentialsMissing", why, None, None),
    };
    let secondary = match &province.spec.backup.secondary_target {
        None => None,
        Some(t) => match bucket_credentials(t, ctx) {
            Ok((data, _)) => Some(data),
            Err(why) => {
                return report(false, "CredentialsMissing", format!("secondaryTarget: {why}"), None, None);
            }
        },
    };
    let images = images::resolve(&province.spec.images);
    let Some(mut repo) = Repository::new(province, images.rclone.clone(), credentials) else { return Ok(None) };
    repo.secondary_credentials = secondary;
    repo.credentials_version = version;
    let ns = repo.namespace();
    if ctx.backup.namespaces.get(&ObjectRef::new(&ns)).is_some_and(|n| n.metadata.deletion_timestamp.is_some()) {
        let message = format!("namespace {ns} is still being deleted; the repository is created again once it is gone");
        return report(false, "NamespaceTerminating", message, Some(Duration::from_secs(2)), None);
    }
    let name = province.name_any();
    let keys: Vec<Key> = ctx
        .backup
        .escrows
        .state()
        .iter()
        .filter(|s| s.labels().get(labels::PROVINCE) == Some(&name))
        .filter_map(|s| Key::from_secret(s))
        .collect();
    repo.tenants = keys.iter().map(|k| k.htpasswd.clone()).collect();
    repo.tenants.sort();
    repo.passwords = keys.into_iter().map(|k| (k.user, k.repository_password)).collect();
    let live = |secret: &str, key: &str| {
        ctx.backup
            .secrets
            .get(&ObjectRef::new(secret).within(&ns))
            .and_then(|s| s.data.as_ref()?.get(key).and_then(|v| String::from_utf8(v.0.clone()).ok()))
    };
    repo.admin_password = live(ADMIN_SECRET, credentials::PASSWORD)
        .filter(|p| !p.is_empty())
        .unwrap_or_else(repository::new_admin_password);
    repo.admin_htpasswd =
        repository::admin_htpasswd(&repo.admin_password, live(ADMIN_HTPASSWD_SECRET, "htpasswd").as_deref());
    if let Err(message) = apply(ctx, repository::build(&repo)).await {
        return report(false, "ApplyFailed", message.clone(), None, Some(message));
    }
    let unavailable: Vec<&str> = [backup::REPOSITORY, backup::REPOSITORY_ADMIN]
        .into_iter()
        .filter(|d| {
            let live = ctx.backup.deployments.get(&ObjectRef::new(d).within(&ns));
            live.and_then(|d| d.status.clone()).and_then(|s| s.available_replicas).unwrap_or(0) < 1
        })
        .collect();
    let bucket = format!("{}/{}", target.s3.endpoint.trim_end_matches('/'), target.s3.bucket);
    if unavailable.is_empty() {
        let message = format!(
            "repository servers available in {ns} for {} tenant(s), storing in {bucket}{}",
            repo.tenants.len(),
            if repo.secondary.is_some() { ", with a secondary target" } else { "" }
        );
        report(true, "Available", message, None, None)
    } else {
        let message = format!("waiting for Deployment(s) {} in {ns} to be available", unavailable.join(", "));
        report(false, "Provisioning", message, None, None)
    }
}

/// The bucket's credentials from the Secret the target names, in the operator's namespace, and
/// that Secret's resourceVersion (the servers restart when it changes: rclone reads the keys once).
type Credentials = (BTreeMap<String, ByteString>, String);

fn bucket_credentials(target: &BackupTarget, ctx: &Context) -> Result<Credentials, String> {
    let name = &target.s3.credentials_secret;
    let secret = ctx.backup.buckets.get(&ObjectRef::new(name).within(&ctx.namespace));
    let version = secret.as_ref().and_then(|s| s.metadata.resource_version.clone()).unwrap_or_default();
    let Some(data) = secret.and_then(|s| s.data.clone()) else {
        return Err(format!(
            "Secret {}/{name} is missing: create it with keys {} (the bucket's credentials)",
            ctx.namespace,
            KEYS.join(" and ")
        ));
    };
    let missing: Vec<&str> = KEYS.iter().copied().filter(|k| data.get(*k).is_none_or(|v| v.0.is_empty())).collect();
    if !missing.is_empty() {
        return Err(format!("Secret {}/{name} has no {}", ctx.namespace, missing.join(" and ")));
    }
    Ok((data.into_iter().filter(|(k, _)| KEYS.contains(&k.as_str())).collect(), version))
}

/// Applies every object that differs from what is live, in order; removes policies no longer wanted.
async fn apply(ctx: &Context, objects: Objects) -> Result<(), String> {
    let Objects { namespace, network_policies, secrets, services, deployments } = objects;
    let caches = &ctx.backup;
    ensure(ctx, &caches.namespaces, &namespace).await?;
    for policy in &network_policies {
        ensure(ctx, &caches.network_policies, policy).await?;
    }
    let ns = namespace.name_any();
    for name in repository::POLICY_NAMES {
        let wanted = network_policies.iter().any(|p| p.name_any() == *name);
        if !wanted && caches.network_policies.get(&ObjectRef::new(name).within(&ns)).is_some() {
            info!(namespace = %ns, %name, "removing a NetworkPolicy the repository no longer needs");
            let resource = ApiResource::erase::<NetworkPolicy>(&());
            ssa::delete(&ctx.client, &resource, Some(&ns), name, &ctx.metrics)
                .await
                .map_err(|e| format!("NetworkPolicy {name}: {e}"))?;
        }
    }
    for secret in &secrets {
        ensure(ctx, &caches.secrets, secret).await?;
    }
    for service in &services {
        ensure(ctx, &caches.services, service).await?;
    }
    for deployment in &deployments {
        ensure(ctx, &caches.deployments, deployment).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_backup_namespaces_map_to_a_province() {
        assert_eq!(code_of_namespace("concejo-backup-24"), Some("24"));
        assert_eq!(code_of_namespace("concejo-backup-2x"), None);
        assert_eq!(code_of_namespace("muni-24089"), None);
    }
}
