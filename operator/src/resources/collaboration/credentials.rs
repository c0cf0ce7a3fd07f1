//! The suite's credentials: generated per tenant (random, 32 characters), kept in one Secret,
//! never regenerated once it exists, never written anywhere else (pods read them by reference).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use rand::distributions::{Alphanumeric, DistString};

use super::super::{Component, Context, Part, labels};
use crate::domain::ValidTenant;

pub const NAME: &str = "collaboration-credentials";
pub const POSTGRES_PASSWORD: &str = "postgres-password";
pub const REDIS_PASSWORD: &str = "redis-password";
pub const ADMIN_USER: &str = "admin-user";
pub const ADMIN_PASSWORD: &str = "admin-password";

/// The tenant's generated credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub postgres: String,
    pub redis: String,
    pub admin: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(redacted)")
    }
}

impl Credentials {
    /// New random credentials.
    pub fn generate() -> Credentials {
        let random = || Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
        Credentials { postgres: random(), redis: random(), admin: random() }
    }

    /// The credentials a live Secret holds, if it holds all of them.
    pub fn from_secret(secret: &Secret) -> Option<Credentials> {
        let data = secret.data.as_ref()?;
        let read =
            |key: &str| data.get(key).and_then(|v| String::from_utf8(v.0.clone()).ok()).filter(|v| !v.is_empty());
        Some(Credentials {
            postgres: read(POSTGRES_PASSWORD)?,
            redis: read(REDIS_PASSWORD)?,
            admin: read(ADMIN_PASSWORD)?,
        })
    }
}

/// The credentials the suite uses: the live Secret's; new ones when there is no Secret and no
/// database made with earlier ones; otherwise why neither is safe (PostgreSQL keeps the password it
/// was initialised with, so new credentials would lock the data out).
pub fn resolve(live: Option<&Secret>, database_exists: bool) -> Result<Credentials, &'static str> {
    match live {
        Some(secret) => Credentials::from_secret(secret).ok_or("lacks a credential"),
        None if database_exists => Err("is missing, and the database volume was initialised with its credentials"),
        None => Ok(Credentials::generate()),
    }
}

pub struct CredentialsSecret;

impl Component for CredentialsSecret {
    type Kind = Secret;
    const PART: Part = Part::Collaboration;
    const NAMES: &'static [&'static str] = &[NAME];

    /// Kept when collaboration is disabled: the data in the volumes still needs them.
    fn build(tenant: &ValidTenant, context: &Context<'_>) -> Vec<Secret> {
        match (&tenant.collaboration, context.credentials) {
            (Some(_), Some(credentials)) => vec![build(tenant, credentials)],
            _ => vec![],
        }
    }
}

pub fn build(tenant: &ValidTenant, credentials: &Credentials) -> Secret {
    let data = [
        (POSTGRES_PASSWORD, credentials.postgres.as_str()),
        (REDIS_PASSWORD, &credentials.redis),
        (ADMIN_USER, "admin"),
        (ADMIN_PASSWORD, &credentials.admin),
    ];
    Secret {
        metadata: labels::metadata(tenant, NAME, Some(tenant.namespace()), "collaboration"),
        type_: Some("Opaque".into()),
        data: Some(
            data.into_iter()
                .map(|(k, v)| (k.to_owned(), ByteString(v.as_bytes().to_vec())))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_random_and_read_back() {
        let (a, b) = (Credentials::generate(), Credentials::generate());
        assert_ne!(a, b);
        assert_eq!(a.postgres.len(), 32);
        assert_ne!(a.postgres, a.redis);
        let tenant = crate::testing::valid(&crate::testing::municipality("leon", "24089"));
        assert_eq!(Credentials::from_secret(&build(&tenant, &a)), Some(a.clone()));
        assert_eq!(format!("{a:?}"), "Credentials(redacted)");
    }

    #[test]
    fn credentials_are_made_only_when_no_data_was_made_with_earlier_ones() {
        let tenant = crate::testing::valid(&crate::testing::municipality("leon", "24089"));
        let kept = Credentials::generate();
        assert_eq!(resolve(Some(&build(&tenant, &kept)), true), Ok(kept));
        assert!(resolve(None, false).is_ok(), "a new suite gets new credentials");
        assert!(resolve(None, true).unwrap_err().contains("database volume"), "a lost Secret is not replaced");
        let mut partial = build(&tenant, &Credentials::generate());
        partial.data.as_mut().unwrap().remove(REDIS_PASSWORD);
        assert_eq!(resolve(Some(&partial), false).unwrap_err(), "lacks a credential");
    }
}
