//! The province's CA against the API server: read its Secret (fail closed when it exists but
//! cannot be read), create or rotate what is due (`pki::ca`, pure), write it back.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::{Resource, ResourceExt};

use super::{Context, RESYNC};
use crate::api::v1alpha1::{Municipality, Province};
use crate::pki::ca::{self as policy, CaState};
use crate::pki::{self, Authority, PkiError};
use crate::resources::ca_secret;
use crate::runtime::errors::Error;
use crate::runtime::ssa;

pub enum Problem {
    /// Something the Province relies on is missing or unreadable: a condition, no retry storm.
    Invalid(&'static str, String),
    Failed(Error),
}

impl From<kube::Error> for Problem {
    fn from(e: kube::Error) -> Self {
        Problem::Failed(e.into())
    }
}

/// Creates or rotates the province's root and intermediate as due; returns when to look again,
/// and the CA in place (which signs the office pool's certificate).
pub async fn ensure(
    province: &Province,
    tenants: &[Arc<Municipality>],
    ctx: &Context,
) -> Result<(Duration, CaState), Problem> {
    let name = province.name_any();
    let pki_spec = &province.spec.pki;
    let secrets = Api::<Secret>::namespaced(ctx.client.clone(), &ctx.namespace);
    let brought = match &pki_spec.root_secret {
        None => None,
        Some(root) => Some(brought_root(&secrets, root, &ctx.namespace).await?),
    };
    let settings = policy::Settings::of(pki_spec);
    // The intermediate may sign for the province's domain and the extra hostnames its tenants declare.
    let mut permitted = vec![province.spec.base_domain.clone()];
    let suffix = format!(".{}", province.spec.base_domain);
    for m in tenants {
        permitted.extend(m.spec.domains.iter().filter(|d| !d.ends_with(&suffix)).cloned());
    }
    let secret_name = ca_secret::name(&name);
    // Read from the API server, not a cache: a CA must never be generated twice.
    let current = match secrets.get_opt(&secret_name).await? {
        None => None,
        Some(secret) => Some(CaState::from_secret(&secret, brought.as_ref()).map_err(|why| {
            Problem::Invalid(
                "CASecretUnreadable",
                format!(
                    "Secret {}/{secret_name} exists but cannot be read ({why}); concejo issues nothing for this \
                     province until it is repaired or restored from backup, and never replaces it with a new CA",
                    ctx.namespace
                ),
            )
        })?),
    };
    let token = province.annotations().get(policy::ROTATE_ROOT_ANNOTATION).cloned();
    let now = Timestamp::now().as_second();
    let (cur, byo, province_name) = (current.clone(), brought.clone(), name.clone());
    let (state, changes) = tokio::task::spawn_blocking(move || {
        policy::reconcile(cur, byo.as_ref(), &province_name, &permitted, settings, token.as_deref(), now)
    })
    .await
    .map_err(|e| Problem::Failed(Error::Pki(PkiError::Task(e.to_string()))))?
    .map_err(|e| Problem::Failed(e.into()))?;
    if current.as_ref() != Some(&state) {
        let secret = ca_secret::build(&state, &name, &province.spec.ine_code, &ctx.namespace);
        ssa::apply(&secrets, &secret, &ctx.metrics).await.map_err(Problem::Failed)?;
        let regarding = province.object_ref(&());
        for change in changes {
            let (reason, note) = match change {
                policy::Change::RootCreated => ("RootCACreated", "generated a new root CA".to_owned()),
                policy::Change::RootRotated(why) => (
                    "RootCARotated",
                    format!("introduced a new root CA ({why}); the old one stays trusted for a certificate lifetime"),
                ),
                policy::Change::IntermediateIssued(why) => {
                    ("IntermediateCAIssued", format!("issued a new intermediate CA ({why})"))
                }
                policy::Change::RetiredRootDropped => {
                    ("RetiredRootCADropped", "an old root CA is no longer trusted".to_owned())
                }
            };
            ctx.events.publish(&ctx.metrics, &regarding, true, reason, note).await;
        }
    }
    // Look again when the next renewal or retirement is due.
    let mut due: Vec<i64> = state.retired.iter().map(|r| r.until).collect();
    for pem in [&state.intermediate.cert_pem, &state.root.cert_pem] {
        if let Ok(info) = pki::inspect(pem) {
            due.push(info.renewal_time(0.0));
        }
    }
    let next = due.into_iter().min().map(|t| (t - now).max(1) as u64).unwrap_or(RESYNC.as_secs());
    Ok((RESYNC.min(Duration::from_secs(next)), state))
}

/// The Diputación's own root, from `pki.rootSecret` (read, never written).
async fn brought_root(secrets: &Api<Secret>, root: &str, namespace: &str) -> Result<Authority, Problem> {
    let Some(secret) = secrets.get_opt(root).await? else {
        return Err(Problem::Invalid(
            "RootSecretNotFound",
            format!("pki.rootSecret {root:?} does not exist in namespace {namespace}"),
        ));
    };
    let text = |k: &str| secret.data.as_ref().and_then(|d| d.get(k)).and_then(|v| String::from_utf8(v.0.clone()).ok());
    match (text("tls.crt"), text("tls.key")) {
        (Some(cert_pem), Some(key_pem)) if pki::key_matches(&cert_pem, &key_pem) => Ok(Authority { cert_pem, key_pem }),
        _ => Err(Problem::Invalid(
            "RootSecretInvalid",
            format!("pki.rootSecret {root:?} must hold tls.crt and the matching tls.key"),
        )),
    }
}
