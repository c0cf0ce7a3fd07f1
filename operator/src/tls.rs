//! The tenant's TLS Secret `tenant-tls`: a `kubernetes.io/tls` Secret with the keys and
//! annotations cert-manager uses, so ingress controllers and tools that know cert-manager
//! Secrets work unchanged. Deciding whether to (re)issue is pure; time is passed in.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;

use crate::api::v1alpha1::{CertificateStatus, KeyAlgorithm};
use crate::ca::CaState;
use crate::labels;
use crate::pki::{self, CertInfo, Leaf};
use crate::tenant::ValidTenant;

pub const SECRET_NAME: &str = "tenant-tls";

/// What to do with a tenant's certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// It is fine; the Secret as it is stays.
    Keep(CertInfo),
    /// Issue a new certificate (and key), for this reason.
    Issue(&'static str),
    /// The certificate is fine but the trusted roots changed: rewrite `ca.crt` only.
    RefreshTrust(CertInfo),
}

fn text(secret: &Secret, key: &str) -> Option<String> {
    secret.data.as_ref()?.get(key).and_then(|v| String::from_utf8(v.0.clone()).ok())
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
    let (Some(cert), Some(_key)) = (text(secret, "tls.crt"), text(secret, "tls.key")) else {
        return Decision::Issue("Issued");
    };
    let Ok(info) = pki::inspect(&cert) else { return Decision::Issue("Issued") };
    let chain = pki::split_bundle(&cert);
    let chained_to_trusted_root = chain.get(1).and_then(|i| pki::inspect(i).ok()).is_some_and(|inter| {
        pki::split_bundle(&ca.trust_bundle()).iter().any(|r| pki::inspect(r).is_ok_and(|r| r.subject == inter.issuer))
    });
    if info.dns_names != hosts {
        Decision::Issue("HostsChanged")
    } else if now >= info.renewal_time(jitter) || now >= info.not_after {
        Decision::Issue("Renewed")
    } else if !chained_to_trusted_root {
        Decision::Issue("CaRotated")
    } else if info.is_rsa != (algorithm == KeyAlgorithm::Rsa3072) {
        Decision::Issue("KeyAlgorithmChanged")
    } else if text(secret, "ca.crt").as_deref() != Some(ca.trust_bundle().as_str()) {
        Decision::RefreshTrust(info)
    } else {
        Decision::Keep(info)
    }
}

/// The Secret for a certificate, with cert-manager's keys and annotations.
pub fn build(tenant: &ValidTenant, cert_pem: &str, key_pem: &str, trust: &str, info: &CertInfo, jitter: f64) -> Secret {
    let mut metadata = labels::metadata(tenant, SECRET_NAME, Some(tenant.namespace()), "tls");
    let annotations: BTreeMap<String, String> = [
        ("cert-manager.io/alt-names", info.dns_names.join(",")),
        ("cert-manager.io/common-name", info.dns_names.first().cloned().unwrap_or_default()),
        ("cert-manager.io/certificate-name", SECRET_NAME.to_owned()),
        ("cert-manager.io/issuer-name", tenant.province.clone()),
        ("cert-manager.io/issuer-kind", "Province".to_owned()),
        ("cert-manager.io/issuer-group", "concejo.dev".to_owned()),
        ("concejo.dev/renewal-time", rfc3339(info.renewal_time(jitter))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    metadata.annotations = Some(annotations);
    let data = [("tls.crt", cert_pem), ("tls.key", key_pem), ("ca.crt", trust)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), ByteString(v.as_bytes().to_vec())))
        .collect();
    Secret { metadata, type_: Some("kubernetes.io/tls".into()), data: Some(data), ..Default::default() }
}

/// The same Secret with `ca.crt` replaced.
pub fn with_trust(live: &Secret, tenant: &ValidTenant, trust: &str, info: &CertInfo, jitter: f64) -> Option<Secret> {
    Some(build(tenant, &text(live, "tls.crt")?, &text(live, "tls.key")?, trust, info, jitter))
}

/// A new certificate for the tenant's hosts.
pub fn issue(
    tenant: &ValidTenant,
    ca: &CaState,
    algorithm: KeyAlgorithm,
    lifetime: i64,
    now: i64,
) -> Result<Leaf, pki::PkiError> {
    pki::issue_leaf(&ca.intermediate, &tenant.hosts, algorithm, now, lifetime)
}

/// What the Municipality's status says of a certificate.
pub fn status(info: &CertInfo, jitter: f64) -> CertificateStatus {
    CertificateStatus {
        not_after: rfc3339(info.not_after),
        renewal_time: rfc3339(info.renewal_time(jitter)),
        serial: info.serial.clone(),
        dns_names: info.dns_names.clone(),
    }
}

fn rfc3339(unix: i64) -> String {
    Timestamp::from_second(unix).map(|t| t.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::{self, Settings};
    use crate::tenant::tests::*;

    const DAY: i64 = 86_400;
    const T0: i64 = 1_800_000_000;
    const SETTINGS: Settings = Settings::DEFAULTS;

    fn setup() -> (ValidTenant, CaState) {
        let tenant = valid(&municipality("ponferrada", "24115"));
        let (ca, _) = ca::reconcile(None, None, "leon", &["nube.dipuleon.es".into()], SETTINGS, None, T0).unwrap();
        (tenant, ca)
    }

    fn secret_at(tenant: &ValidTenant, ca: &CaState, now: i64) -> Secret {
        let leaf = issue(tenant, ca, KeyAlgorithm::EcdsaP256, 90 * DAY, now).unwrap();
        build(tenant, &leaf.cert_pem, &leaf.key_pem, &ca.trust_bundle(), &leaf.info, 0.0)
    }

    #[test]
    fn issue_keep_then_renew_at_two_thirds_with_a_new_key() {
        let (tenant, ca) = setup();
        assert_eq!(decide(None, &tenant.hosts, &ca, KeyAlgorithm::EcdsaP256, 0.0, T0), Decision::Issue("Issued"));
        let secret = secret_at(&tenant, &ca, T0);
        assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
        let annotations = secret.metadata.annotations.clone().unwrap();
        assert_eq!(annotations["cert-manager.io/alt-names"], "ponferrada.nube.dipuleon.es");
        assert!(matches!(
            decide(Some(&secret), &tenant.hosts, &ca, KeyAlgorithm::EcdsaP256, 0.0, T0 + 59 * DAY),
            Decision::Keep(_)
        ));
        assert_eq!(
            decide(Some(&secret), &tenant.hosts, &ca, KeyAlgorithm::EcdsaP256, 0.0, T0 + 60 * DAY),
            Decision::Issue("Renewed")
        );
        let renewed = secret_at(&tenant, &ca, T0 + 60 * DAY);
        assert_ne!(text(&renewed, "tls.key"), text(&secret, "tls.key"), "renewal must rotate the private key");
    }

    #[test]
    fn a_change_of_hosts_reissues_at_once() {
        let (mut tenant, ca) = setup();
        let secret = secret_at(&tenant, &ca, T0);
        tenant.hosts.push("www.nube.dipuleon.es".into());
        assert_eq!(
            decide(Some(&secret), &tenant.hosts, &ca, KeyAlgorithm::EcdsaP256, 0.0, T0 + 1),
            Decision::Issue("HostsChanged")
        );
    }

    #[test]
    fn root_rotation_refreshes_trust_first_and_reissues_only_when_the_old_root_goes() {
        let (tenant, ca) = setup();
        let secret = secret_at(&tenant, &ca, T0);
        let (rotated, _) =
            ca::reconcile(Some(ca.clone()), None, "leon", &["nube.dipuleon.es".into()], SETTINGS, Some("r2"), T0 + DAY)
                .unwrap();
        // Old leaf still chains to a trusted (retired) root: only ca.crt changes.
        assert!(matches!(
            decide(Some(&secret), &tenant.hosts, &rotated, KeyAlgorithm::EcdsaP256, 0.0, T0 + DAY),
            Decision::RefreshTrust(_)
        ));
        // Once the old root is no longer trusted, the leaf is re-issued from the new chain.
        let mut gone = rotated.clone();
        gone.retired.clear();
        assert_eq!(
            decide(Some(&secret), &tenant.hosts, &gone, KeyAlgorithm::EcdsaP256, 0.0, T0 + DAY),
            Decision::Issue("CaRotated")
        );
    }

    #[test]
    fn a_tampered_secret_is_reissued() {
        let (tenant, ca) = setup();
        let mut secret = secret_at(&tenant, &ca, T0);
        secret.data.as_mut().unwrap().insert("tls.crt".into(), ByteString(b"garbage".to_vec()));
        assert_eq!(
            decide(Some(&secret), &tenant.hosts, &ca, KeyAlgorithm::EcdsaP256, 0.0, T0),
            Decision::Issue("Issued")
        );
    }
}
