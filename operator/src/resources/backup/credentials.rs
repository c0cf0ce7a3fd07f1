//! A tenant's backup key: its user and password on the province's repository servers, and the
//! password of its restic repository (the encryption key). Generated once by concejo; the
//! escrow copy (`backup-key-<ineCode>`, operator namespace) is the source of truth, with copies
//! where Jobs read them: `backup-credentials` in the tenant namespace (what its backups and
//! restores use; a tenant admin may read it, and with it can add snapshots and read its own,
//! never delete one), and its repository password under its user's name in the province's
//! `repository-passwords` (built by the Province from the escrows, for retention and drills,
//! which log in as the province).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::ObjectMeta;
use rand::distributions::{Alphanumeric, DistString};

use super::super::{Component, Context, Part, labels};
use crate::domain::{ValidTenant, backup};

/// The tenant's copy, in its namespace.
pub const NAME: &str = "backup-credentials";
pub const USERNAME: &str = "RESTIC_REST_USERNAME";
pub const PASSWORD: &str = "RESTIC_REST_PASSWORD";
pub const REPOSITORY_PASSWORD: &str = "RESTIC_PASSWORD";
/// The htpasswd line of the tenant's user (bcrypt), in the escrow and the province's copy.
pub const HTPASSWD: &str = "htpasswd";
/// Value of `app.kubernetes.io/component` of escrow Secrets (watched in the operator namespace).
pub const ESCROW_COMPONENT: &str = "backup-key";

/// The escrow Secret of a tenant, in the operator's namespace.
pub fn escrow_name(ine_code: &str) -> String {
    format!("backup-key-{ine_code}")
}

/// A tenant's backup key.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    pub user: String,
    pub password: String,
    pub repository_password: String,
    pub htpasswd: String,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({}, redacted)", self.user)
    }
}

/// bcrypt's cost for the htpasswd lines. The passwords are 32 random alphanumerics (190 bits), so
/// no work factor adds anything against guessing them; the lowest keeps onboarding a whole
/// province cheap.
const BCRYPT_COST: u32 = 4;

impl Key {
    /// A new random key for a tenant.
    pub fn generate(ine_code: &str) -> Key {
        let random = || Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
        let user = backup::user(ine_code);
        let password = random();
        Key { htpasswd: htpasswd_line(&user, &password), user, password, repository_password: random() }
    }

    /// The key a Secret holds, if it holds all of it.
    pub fn from_secret(secret: &Secret) -> Option<Key> {
        let data = secret.data.as_ref()?;
        let read = |k: &str| data.get(k).and_then(|v| String::from_utf8(v.0.clone()).ok()).filter(|v| !v.is_empty());
        Some(Key {
            user: read(USERNAME)?,
            password: read(PASSWORD)?,
            repository_password: read(REPOSITORY_PASSWORD)?,
            htpasswd: read(HTPASSWD)?,
        })
    }

    fn data(&self, keys: &[&str]) -> BTreeMap<String, ByteString> {
        let value = |k: &str| match k {
            USERNAME => &self.user,
            PASSWORD => &self.password,
            REPOSITORY_PASSWORD => &self.repository_password,
            _ => &self.htpasswd,
        };
        keys.iter().map(|k| (k.to_string(), ByteString(value(k).as_bytes().to_vec()))).collect()
    }
}

/// `user:$2y$...`: what rclone's `--htpasswd` reads.
pub fn htpasswd_line(user: &str, password: &str) -> String {
    let hash = bcrypt::hash_with_result(password, BCRYPT_COST).expect("bcrypt of a 32-character password");
    format!("{user}:{}", hash.format_for_version(bcrypt::Version::TwoY))
}

/// The escrow Secret (operator namespace): all of the key. Never deleted by concejo.
pub fn escrow(tenant: &ValidTenant, key: &Key, namespace: &str) -> Secret {
    secret(
        labels::metadata(tenant, &escrow_name(&tenant.ine_code), Some(namespace.to_owned()), ESCROW_COMPONENT),
        key.data(&[USERNAME, PASSWORD, REPOSITORY_PASSWORD, HTPASSWD]),
    )
}

fn secret(metadata: ObjectMeta, data: BTreeMap<String, ByteString>) -> Secret {
    Secret { metadata, data: Some(data), type_: Some("Opaque".into()), ..Default::default() }
}

/// The tenant's copy: its Jobs read it with `envFrom`.
pub struct TenantCredentials;

impl Component for TenantCredentials {
    type Kind = Secret;
    const PART: Part = Part::Backup;
    const NAMES: &'static [&'static str] = &[NAME];

    fn build(tenant: &ValidTenant, context: &Context<'_>) -> Vec<Secret> {
        match (&tenant.backup, context.backup_key) {
            (Some(_), Some(key)) => vec![secret(
                labels::metadata(tenant, NAME, Some(tenant.namespace()), super::COMPONENT),
                key.data(&[USERNAME, PASSWORD, REPOSITORY_PASSWORD]),
            )],
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_secret_and_verify() {
        let key = Key::generate("24089");
        assert_eq!(key.user, "muni-24089");
        let tenant = crate::testing::valid(&crate::testing::municipality("leon", "24089"));
        let escrow = escrow(&tenant, &key, "concejo-system");
        assert_eq!(Key::from_secret(&escrow), Some(key.clone()));
        let (user, hash) = key.htpasswd.split_once(':').unwrap();
        assert_eq!(user, "muni-24089");
        assert!(hash.starts_with("$2y$04$"), "{hash}");
        assert!(bcrypt::verify(&key.password, hash).unwrap());
        assert!(!format!("{key:?}").contains(&key.password));
    }
}
