//! Step 4 for backups: the tenant's key. The escrow in the operator's namespace is the source of
//! truth; it is created once, with `create` (never overwritten: a new key would leave every
//! snapshot unreadable), and read back when the cache has not seen it yet. The province's copy
//! of the repository password goes to its backup namespace once that exists.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use kube::runtime::reflector::ObjectRef;

use super::super::{Context, apply};
use crate::domain::ValidTenant;
use crate::resources::backup::credentials::{self, Key};
use crate::resources::{Manifest, Part};
use crate::runtime::activity::Writes;
use crate::runtime::errors::Error;
use crate::runtime::ssa;

/// The tenant's key: escrowed, or made and escrowed now. `None` without backups.
pub async fn resolve(tenant: &ValidTenant, ctx: &Context, writes: &Writes) -> Result<Option<Key>, String> {
    if tenant.backup.is_none() {
        return Ok(None);
    }
    let name = credentials::escrow_name(&tenant.ine_code);
    let api = Api::<Secret>::namespaced(ctx.client.clone(), &ctx.namespace);
    let cached = ctx.repository.escrow(&ctx.namespace, &tenant.ine_code).map(|s| (*s).clone());
    let live = match cached {
        Some(secret) => Some(secret),
        None => ssa::unless_gone(api.get(&name).await).map_err(|e| format!("Secret {}/{name}: {e}", ctx.namespace))?,
    };
    let unreadable = || {
        format!(
            "Secret {}/{name} (the escrowed backup key) is incomplete; restore it from the Diputación's key backup: \
             a new key could not read the tenant's snapshots",
            ctx.namespace
        )
    };
    if let Some(secret) = live {
        return Key::from_secret(&secret).map(Some).ok_or_else(unreadable);
    }
    let key = Key::generate(&tenant.ine_code);
    let escrow = credentials::escrow(tenant, &key, &ctx.namespace);
    match api
        .create(
            &PostParams { field_manager: Some(crate::resources::labels::FIELD_MANAGER.into()), ..Default::default() },
            &escrow,
        )
        .await
    {
        Ok(_) => {
            apply::created(ctx, writes, &escrow);
            Ok(Some(key))
        }
        // Made meanwhile (by another replica's last reconcile): that one is the key.
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let secret = api.get(&name).await.map_err(|e| format!("Secret {}/{name}: {e}", ctx.namespace))?;
            Key::from_secret(&secret).map(Some).ok_or_else(unreadable)
        }
        Err(e) => Err(format!("Secret {}/{name} could not be created: {e}", ctx.namespace)),
    }
}

/// The province's copy of the repository password (for retention and drills), applied where it
/// differs. `Ok(false)` while the province's backup namespace does not exist yet.
pub async fn province_copy(tenant: &ValidTenant, key: &Key, ctx: &Context, writes: &Writes) -> Result<bool, Error> {
    let Some(backup) = &tenant.backup else { return Ok(true) };
    if ctx.repository.namespaces.get(&ObjectRef::new(&backup.namespace)).is_none() {
        return Ok(false);
    }
    let copy = credentials::province_copy(tenant, key, &backup.namespace);
    let live = ctx
        .repository
        .secrets
        .get(&ObjectRef::new(&credentials::province_copy_name(&tenant.ine_code)).within(&backup.namespace))
        .and_then(|s| serde_json::to_value(&*s).ok());
    let manifest = Manifest::of(Part::Backup, &copy)?;
    apply::object(ctx, writes, live.as_ref(), &manifest).await?;
    Ok(true)
}
