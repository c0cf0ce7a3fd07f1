//! Step 4 for backups: the tenant's key. The escrow in the operator's namespace is the source of
//! truth; it is created once, with `create` (never overwritten: a new key would leave every
//! snapshot unreadable), and read back when the cache has not seen it yet. The Province copies
//! the repository password into its backup namespace (`repository-passwords`) from the escrow.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use kube::runtime::reflector::ObjectRef;

use super::super::{Context, apply};
use crate::domain::ValidTenant;
use crate::resources::backup::credentials::{self, Key};
use crate::resources::backup::repository::PASSWORDS_SECRET;
use crate::runtime::activity::Writes;
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

/// Whether the province's repository holds the tenant's repository password (in
/// `repository-passwords`, which the Province builds from the escrows), so that retention and
/// drills can open its repository. False until the Province has caught up with a new key.
pub fn in_repository(tenant: &ValidTenant, key: &Key, ctx: &Context) -> bool {
    let Some(backup) = &tenant.backup else { return true };
    let passwords = ctx.repository.secrets.get(&ObjectRef::new(PASSWORDS_SECRET).within(&backup.namespace));
    let held = passwords.as_ref().and_then(|s| s.data.as_ref()?.get(&key.user)).map(|v| v.0.as_slice());
    held == Some(key.repository_password.as_bytes())
}
