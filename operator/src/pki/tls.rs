//! Deciding what a tenant's certificate needs: keep it, re-issue it (and its key), or only
//! refresh the trusted roots. Pure; time is passed in. The Secret itself is built in
//! `resources::tls`.

use k8s_openapi::api::core::v1::Secret;

use super::ca::CaState;
use super::{CertInfo, Leaf, PkiError};
use crate::api::v1alpha1::{CertificateStatus, KeyAlgorithm};
use crate::domain::{ValidTenant, hash};

/// What to do with a tenant's certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// It is fine: this certificate and key stay.
    Keep(Leaf),
    /// Issue a new certificate (and key), for this reason.
    Issue(&'static str),
    /// The certificate is fine but the trusted roots changed: rewrite `ca.crt` only.
    RefreshTrust(Leaf),
}

fn text(secret: &Secret, key: &str) -> Option<String> {
    secret.data.as_ref()?.get(key).and_then(|v| String::from_utf8(v.0.clone()).ok())
}

/// Where in its renewal window a tenant renews (a fraction from 0 to 1), stable per tenant.
pub fn jitter(tenant: &ValidTenant) -> f64 {
    hash::fraction(&tenant.ine_code)
}

/// Decides from the live Secret (if any) what the tenant needs at `now`.
pub fn decide(
    live: Option<&Secret>,
    hosts: &[String],
    ca: &CaState,
    algorithm: KeyAlgorithm,
    jitter: f64,
    now: i64,
) -> Decision {
    let Some(secret) = live else { return Decision::Issue("Issued") };
    let (Some(cert_pem), Some(key_pem)) = (text(secret, "tls.crt"), text(secret, "tls.key")) else {
        return Decision::Issue("Issued");
    };
    let Ok(info) = super::inspect(&cert_pem) else { return Decision::Issue("Issued") };
    let trust = ca.trust_bundle();
    if !super::key_matches(&cert_pem, &key_pem) {
        Decision::Issue("KeyMismatch")
    } else if info.dns_names != hosts {
        Decision::Issue("HostsChanged")
    } else if now >= info.renewal_time(jitter) || now >= info.not_after {
        Decision::Issue("Renewed")
    } else if !super::chain_verifies(&cert_pem, &trust) {
        // Signed by a root no longer trusted (after a rotation), or not by the chain it names.
        Decision::Issue("CaRotated")
    } else if info.is_rsa != (algorithm == KeyAlgorithm::Rsa3072) {
        Decision::Issue("KeyAlgorithmChanged")
    } else {
        let leaf = Leaf { cert_pem, key_pem, info };
        if text(secret, "ca.crt").as_deref() != Some(trust.as_str()) {
            Decision::RefreshTrust(leaf)
        } else {
            Decision::Keep(leaf)
        }
    }
}

/// What a certificate's holder (a tenant, the office pool) should serve for `hosts` at `now`:
/// the live certificate while [`decide`] keeps it, else a new one, issued on a blocking thread
/// (an RSA key takes about a second), with the reason it was issued.
pub async fn obtain(
    live: Option<&Secret>,
    hosts: &[String],
    ca: &CaState,
    algorithm: KeyAlgorithm,
    lifetime: i64,
    jitter: f64,
    now: i64,
) -> Result<(Leaf, Option<&'static str>), PkiError> {
    match decide(live, hosts, ca, algorithm, jitter, now) {
        Decision::Keep(leaf) | Decision::RefreshTrust(leaf) => Ok((leaf, None)),
        Decision::Issue(reason) => {
            let (intermediate, hosts) = (ca.intermediate.clone(), hosts.to_vec());
            let leaf =
                tokio::task::spawn_blocking(move || super::issue_leaf(&intermediate, &hosts, algorithm, now, lifetime))
                    .await
                    .map_err(|e| PkiError::Task(e.to_string()))??;
            Ok((leaf, Some(reason)))
        }
    }
}

/// A new certificate for the tenant's hosts.
pub fn issue(
    tenant: &ValidTenant,
    ca: &CaState,
    algorithm: KeyAlgorithm,
    lifetime: i64,
    now: i64,
) -> Result<Leaf, PkiError> {
    super::issue_leaf(&ca.intermediate, &tenant.hosts, algorithm, now, lifetime)
}

/// What the Municipality's status says of a certificate.
pub fn status(info: &CertInfo, jitter: f64) -> CertificateStatus {
    CertificateStatus {
        not_after: super::rfc3339(info.not_after),
        renewal_time: super::rfc3339(info.renewal_time(jitter)),
        serial: info.serial.clone(),
        dns_names: info.dns_names.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::ca::{self, Settings};
    use crate::testing::{municipality, valid};
    use k8s_openapi::ByteString;

    const DAY: i64 = 86_400;
    const T0: i64 = 1_800_000_000;
    const SETTINGS: Settings = Settings::DEFAULTS;
    const EC: KeyAlgorithm = KeyAlgorithm::EcdsaP256;

    fn setup() -> (ValidTenant, CaState) {
        let tenant = valid(&municipality("ponferrada", "24115"));
        let (ca, _) = ca::reconcile(None, None, "leon", &["nube.dipuleon.es".into()], SETTINGS, None, T0).unwrap();
        (tenant, ca)
    }

    /// The keys of `tenant-tls` that the decision reads.
    fn secret_at(tenant: &ValidTenant, ca: &CaState, now: i64) -> Secret {
        let leaf = issue(tenant, ca, EC, 90 * DAY, now).unwrap();
        let data = [("tls.crt", leaf.cert_pem), ("tls.key", leaf.key_pem), ("ca.crt", ca.trust_bundle())]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), ByteString(v.into_bytes())))
            .collect();
        Secret { data: Some(data), ..Default::default() }
    }

    #[test]
    fn issue_keep_then_renew_at_two_thirds_with_a_new_key() {
        let (tenant, ca) = setup();
        assert_eq!(decide(None, &tenant.hosts, &ca, EC, 0.0, T0), Decision::Issue("Issued"));
        let secret = secret_at(&tenant, &ca, T0);
        assert!(matches!(decide(Some(&secret), &tenant.hosts, &ca, EC, 0.0, T0 + 59 * DAY), Decision::Keep(_)));
        assert_eq!(decide(Some(&secret), &tenant.hosts, &ca, EC, 0.0, T0 + 60 * DAY), Decision::Issue("Renewed"));
        let renewed = secret_at(&tenant, &ca, T0 + 60 * DAY);
        assert_ne!(text(&renewed, "tls.key"), text(&secret, "tls.key"), "renewal must rotate the private key");
    }

    #[test]
    fn a_change_of_hosts_reissues_at_once() {
        let (mut tenant, ca) = setup();
        let secret = secret_at(&tenant, &ca, T0);
        tenant.hosts.push("www.nube.dipuleon.es".into());
        assert_eq!(decide(Some(&secret), &tenant.hosts, &ca, EC, 0.0, T0 + 1), Decision::Issue("HostsChanged"));
    }

    #[test]
    fn root_rotation_refreshes_trust_first_and_reissues_only_when_the_old_root_goes() {
        let (tenant, ca) = setup();
        let secret = secret_at(&tenant, &ca, T0);
        let (rotated, _) =
            ca::reconcile(Some(ca.clone()), None, "leon", &["nube.dipuleon.es".into()], SETTINGS, Some("r2"), T0 + DAY)
                .unwrap();
        // Old leaf still chains to a trusted (retired) root: only ca.crt changes.
        assert!(matches!(decide(Some(&secret), &tenant.hosts, &rotated, EC, 0.0, T0 + DAY), Decision::RefreshTrust(_)));
        // Once the old root is no longer trusted, the leaf is re-issued from the new chain.
        let mut gone = rotated.clone();
        gone.retired.clear();
        assert_eq!(decide(Some(&secret), &tenant.hosts, &gone, EC, 0.0, T0 + DAY), Decision::Issue("CaRotated"));
    }

    #[test]
    fn a_tampered_secret_is_reissued() {
        let (tenant, ca) = setup();
        let mut secret = secret_at(&tenant, &ca, T0);
        secret.data.as_mut().unwrap().insert("tls.crt".into(), ByteString(b"garbage".to_vec()));
        assert_eq!(decide(Some(&secret), &tenant.hosts, &ca, EC, 0.0, T0), Decision::Issue("Issued"));
    }

    #[test]
    fn a_key_of_another_certificate_is_reissued() {
        let (tenant, ca) = setup();
        let mut secret = secret_at(&tenant, &ca, T0);
        let other = secret_at(&tenant, &ca, T0);
        let key = other.data.unwrap()["tls.key"].clone();
        secret.data.as_mut().unwrap().insert("tls.key".into(), key);
        assert_eq!(decide(Some(&secret), &tenant.hosts, &ca, EC, 0.0, T0), Decision::Issue("KeyMismatch"));
    }

    #[test]
    fn a_chain_that_names_the_intermediate_but_is_not_signed_by_it_is_reissued() {
        let (tenant, ca) = setup();
        // Same province, same moment: a second CA whose certificates carry the same names.
        let (forger, _) = ca::reconcile(None, None, "leon", &["nube.dipuleon.es".into()], SETTINGS, None, T0).unwrap();
        let forged = secret_at(&tenant, &forger, T0);
        assert_eq!(decide(Some(&forged), &tenant.hosts, &ca, EC, 0.0, T0), Decision::Issue("CaRotated"));
    }
}
