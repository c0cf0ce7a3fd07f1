//! The provincial PKI: a root CA and a name-constrained intermediate per Province ([`ca`]), and a
//! TLS certificate per tenant ([`tls`]). Everything takes the current time as an argument (tests
//! inject a clock); keys are generated here and never logged (`Debug` of [`Authority`] hides them).

pub mod ca;
pub mod tls;

use std::fmt;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, NameConstraints, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256, SerialNumber,
};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

use crate::api::v1alpha1::KeyAlgorithm;

/// Why a certificate could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("RSA key generation failed: {0}")]
    Rsa(String),
    #[error("cannot read certificate: {0}")]
    Parse(String),
    #[error("hostname {0:?} is outside the intermediate's name constraints")]
    OutsideConstraints(String),
    #[error("certificate work did not finish: {0}")]
    Task(String),
}

/// A CA: certificate and private key, PEM. Its key never appears in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Authority {
    pub cert_pem: String,
    pub key_pem: String,
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority").field("cert_pem", &self.cert_pem).field("key_pem", &"<redacted>").finish()
    }
}

/// A tenant certificate: `cert_pem` is the leaf followed by the intermediate.
#[derive(Clone, PartialEq, Eq)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub info: CertInfo,
}

impl fmt::Debug for Leaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Leaf").field("info", &self.info).field("key_pem", &"<redacted>").finish()
    }
}

/// What concejo needs to know of a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// Hex, colon-separated, as openssl prints it.
    pub serial: String,
    pub dns_names: Vec<String>,
    pub subject: String,
    pub issuer: String,
    /// DNS subtrees the certificate may sign for (CA certificates only).
    pub permitted: Vec<String>,
    pub is_rsa: bool,
    /// Size of the public key in bits (the modulus for RSA, the curve for ECDSA); 0 if unknown.
    pub key_bits: usize,
}

impl CertInfo {
    /// When the certificate should be replaced: at two thirds of its lifetime, less `jitter`
    /// (a fraction from 0 to 1 of a twentieth of the lifetime), so that many tenants issued in
    /// the same second do not all renew in the same second.
    pub fn renewal_time(&self, jitter: f64) -> i64 {
        let life = self.not_after - self.not_before;
        self.not_before + life * 2 / 3 - ((life as f64 / 20.0) * jitter.clamp(0.0, 1.0)) as i64
    }

    /// Whether this CA's name constraints allow `host`.
    pub fn permits(&self, host: &str) -> bool {
        self.permitted.iter().any(|p| host == p || host.ends_with(&format!(".{p}")))
    }
}

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn key_pair(algorithm: KeyAlgorithm) -> Result<KeyPair, PkiError> {
    match algorithm {
        KeyAlgorithm::EcdsaP256 => Ok(KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?),
        KeyAlgorithm::Rsa3072 => {
            use rsa::pkcs8::EncodePrivateKey;
            let key =
                rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 3072).map_err(|e| PkiError::Rsa(e.to_string()))?;
            let der = key.to_pkcs8_der().map_err(|e| PkiError::Rsa(e.to_string()))?;
            let der = rustls_pki_types::PrivatePkcs8KeyDer::from(der.as_bytes().to_vec());
            Ok(KeyPair::from_pkcs8_der_and_sign_algo(&der, &PKCS_RSA_SHA256)?)
        }
    }
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f; // positive
    SerialNumber::from_slice(&bytes)
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "concejo");
    dn.push(DnType::CommonName, common_name);
    dn
}

/// What a root and an intermediate share: a CA that may sign `path_len` more CA levels below it,
/// valid from a minute before `now` (for clocks that lag) until `not_after`.
fn ca_params(common_name: &str, path_len: u8, now: i64, not_after: i64) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.not_before = at(now - 60);
    params.not_after = at(not_after);
    params.serial_number = Some(random_serial());
    params
}

/// A self-signed root CA for a province.
pub fn new_root(province: &str, algorithm: KeyAlgorithm, now: i64, lifetime: i64) -> Result<Authority, PkiError> {
    let key = key_pair(algorithm)?;
    let params = ca_params(&format!("concejo root CA {province} {now}"), 1, now, now + lifetime);
    let cert = params.self_signed(&key)?;
    Ok(Authority { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// An intermediate CA signed by `root`, allowed to sign only for names under `permitted`.
pub fn new_intermediate(
    root: &Authority,
    province: &str,
    permitted: &[String],
    algorithm: KeyAlgorithm,
    now: i64,
    lifetime: i64,
) -> Result<Authority, PkiError> {
    let root_key = KeyPair::from_pem(&root.key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(&root.cert_pem, &root_key)?;
    let not_after = (now + lifetime).min(inspect(&root.cert_pem)?.not_after);
    let key = key_pair(algorithm)?;
    let mut params = ca_params(&format!("concejo intermediate CA {province} {now}"), 0, now, not_after);
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: permitted.iter().map(|p| GeneralSubtree::DnsName(p.clone())).collect(),
        excluded_subtrees: vec![],
    });
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Authority { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// A server certificate for `hosts`, signed by `intermediate`, valid from `now` for `lifetime`
/// seconds (never past the intermediate). Refuses hosts outside the intermediate's constraints.
pub fn issue_leaf(
    intermediate: &Authority,
    hosts: &[String],
    algorithm: KeyAlgorithm,
    now: i64,
    lifetime: i64,
) -> Result<Leaf, PkiError> {
    let ca = inspect(&intermediate.cert_pem)?;
    if let Some(host) = hosts.iter().find(|h| !ca.permits(h)) {
        return Err(PkiError::OutsideConstraints(host.clone()));
    }
    sign_leaf(intermediate, hosts, algorithm, now, lifetime.min(ca.not_after - now))
}

/// Signs without checking the constraints: only for tests that show verifiers refuse the result.
pub fn sign_leaf(
    intermediate: &Authority,
    hosts: &[String],
    algorithm: KeyAlgorithm,
    now: i64,
    lifetime: i64,
) -> Result<Leaf, PkiError> {
    let ca_key = KeyPair::from_pem(&intermediate.key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(&intermediate.cert_pem, &ca_key)?;
    let key = key_pair(algorithm)?;
    let mut params = CertificateParams::new(hosts.to_vec())?;
    params.distinguished_name = name(hosts.first().map(String::as_str).unwrap_or("tenant"));
    // Key encipherment is an RSA key-exchange usage; ECDSA keys only sign.
    params.key_usages = match algorithm {
        KeyAlgorithm::EcdsaP256 => vec![KeyUsagePurpose::DigitalSignature],
        KeyAlgorithm::Rsa3072 => vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment],
    };
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    // Backdated a little for clocks that lag, but never by a noticeable part of a short lifetime.
    params.not_before = at(now - (lifetime / 100).min(60));
    params.not_after = at(now + lifetime);
    params.serial_number = Some(random_serial());
    let cert = params.signed_by(&key, &issuer)?;
    let cert_pem = format!("{}{}", cert.pem(), intermediate.cert_pem);
    let info = inspect(&cert_pem)?;
    Ok(Leaf { cert_pem, key_pem: key.serialize_pem(), info })
}

/// Reads the first certificate of a PEM bundle.
pub fn inspect(pem: &str) -> Result<CertInfo, PkiError> {
    let der = first_der(pem)?;
    let (_, cert) = X509Certificate::from_der(&der).map_err(|e| PkiError::Parse(e.to_string()))?;
    let mut dns_names = Vec::new();
    let mut permitted = Vec::new();
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for n in &san.general_names {
                    if let GeneralName::DNSName(d) = n {
                        dns_names.push(d.to_string());
                    }
                }
            }
            ParsedExtension::NameConstraints(nc) => {
                for subtree in nc.permitted_subtrees.iter().flatten() {
                    if let GeneralName::DNSName(d) = &subtree.base {
                        permitted.push(d.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    let serial = cert.raw_serial().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":");
    Ok(CertInfo {
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        serial,
        dns_names,
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        permitted,
        is_rsa: cert.public_key().algorithm.algorithm.to_id_string() == "1.2.840.113549.1.1.1",
        key_bits: cert.public_key().parsed().map(|k| k.key_size()).unwrap_or(0),
    })
}

/// Every certificate of a PEM bundle, each as its own PEM block.
pub fn split_bundle(pem: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in pem.lines() {
        current.push_str(line);
        current.push('\n');
        if line.starts_with("-----END CERTIFICATE-----") {
            out.push(std::mem::take(&mut current));
        }
    }
    out
}

/// Whether `key_pem` is the private key of the first certificate of `cert_pem`.
pub fn key_matches(cert_pem: &str, key_pem: &str) -> bool {
    let (Ok(der), Ok(key)) = (first_der(cert_pem), KeyPair::from_pem(key_pem)) else { return false };
    X509Certificate::from_der(&der)
        .is_ok_and(|(_, cert)| *cert.public_key().subject_public_key.data == *key.public_key_raw())
}

/// Whether the first certificate of `chain_pem` is signed by the second, and the second by one
/// of the certificates of `trusted_pem` (signatures checked, not only names).
pub fn chain_verifies(chain_pem: &str, trusted_pem: &str) -> bool {
    let ders: Vec<Vec<u8>> = split_bundle(chain_pem).iter().filter_map(|p| first_der(p).ok()).collect();
    let roots: Vec<Vec<u8>> = split_bundle(trusted_pem).iter().filter_map(|p| first_der(p).ok()).collect();
    let [leaf, intermediate, ..] = ders.as_slice() else { return false };
    let (Ok((_, leaf)), Ok((_, intermediate))) =
        (X509Certificate::from_der(leaf), X509Certificate::from_der(intermediate))
    else {
        return false;
    };
    leaf.verify_signature(Some(intermediate.public_key())).is_ok()
        && roots.iter().any(|root| {
            X509Certificate::from_der(root)
                .is_ok_and(|(_, root)| intermediate.verify_signature(Some(root.public_key())).is_ok())
        })
}

/// Unix seconds as RFC 3339, as status fields and annotations show times.
pub fn rfc3339(unix: i64) -> String {
    k8s_openapi::jiff::Timestamp::from_second(unix).map(|t| t.to_string()).unwrap_or_default()
}

fn first_der(pem: &str) -> Result<Vec<u8>, PkiError> {
    let block = ::pem::parse(pem.as_bytes()).map_err(|e| PkiError::Parse(e.to_string()))?;
    Ok(block.into_contents())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;
    const NOW: i64 = 1_800_000_000;

    fn hosts(h: &[&str]) -> Vec<String> {
        h.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_chain_from_root_to_tenant() {
        let root = new_root("leon", KeyAlgorithm::EcdsaP256, NOW, 3650 * DAY).unwrap();
        let permitted = hosts(&["nube.dipuleon.es", "nube.aytoleon.es"]);
        let inter = new_intermediate(&root, "leon", &permitted, KeyAlgorithm::EcdsaP256, NOW, 365 * DAY).unwrap();
        let info = inspect(&inter.cert_pem).unwrap();
        assert_eq!(info.permitted, permitted);
        assert!(info.issuer.contains("root CA leon"));

        let leaf = issue_leaf(
            &inter,
            &hosts(&["leon.nube.dipuleon.es", "nube.aytoleon.es"]),
            KeyAlgorithm::EcdsaP256,
            NOW,
            90 * DAY,
        )
        .unwrap();
        assert_eq!(leaf.info.dns_names, ["leon.nube.dipuleon.es", "nube.aytoleon.es"]);
        assert_eq!(leaf.info.not_after, NOW + 90 * DAY);
        assert_eq!(split_bundle(&leaf.cert_pem).len(), 2, "leaf + intermediate");
        assert!(!format!("{leaf:?}{inter:?}").contains("PRIVATE KEY"), "a key leaked into Debug output");
    }

    #[test]
    fn hosts_outside_the_constraints_are_refused() {
        let root = new_root("leon", KeyAlgorithm::EcdsaP256, NOW, 3650 * DAY).unwrap();
        let inter =
            new_intermediate(&root, "leon", &hosts(&["nube.dipuleon.es"]), KeyAlgorithm::EcdsaP256, NOW, 365 * DAY)
                .unwrap();
        let err = issue_leaf(&inter, &hosts(&["www.example.com"]), KeyAlgorithm::EcdsaP256, NOW, 90 * DAY).unwrap_err();
        assert!(matches!(err, PkiError::OutsideConstraints(h) if h == "www.example.com"));
        // A name that merely ends with the same letters is not inside the subtree.
        assert!(issue_leaf(&inter, &hosts(&["evilnube.dipuleon.es"]), KeyAlgorithm::EcdsaP256, NOW, 90 * DAY).is_err());
    }

    #[test]
    fn renewal_is_at_two_thirds_spread_over_a_twentieth() {
        let info = CertInfo {
            not_before: 0,
            not_after: 90 * DAY,
            serial: String::new(),
            dns_names: vec![],
            subject: String::new(),
            issuer: String::new(),
            permitted: vec![],
            is_rsa: false,
            key_bits: 256,
        };
        assert_eq!(info.renewal_time(0.0), 60 * DAY);
        assert_eq!(info.renewal_time(1.0), 60 * DAY - 90 * DAY / 20);
        let spread: std::collections::HashSet<i64> =
            (0..211).map(|i| info.renewal_time(crate::domain::hash::fraction(&format!("muni-{i}")))).collect();
        assert!(spread.len() > 190, "renewals of 211 tenants fall on only {} distinct seconds", spread.len());
    }

    #[test]
    fn keys_and_chains_are_checked_by_signature() {
        let root = new_root("leon", KeyAlgorithm::EcdsaP256, NOW, 3650 * DAY).unwrap();
        let permitted = hosts(&["nube.dipuleon.es"]);
        let inter = new_intermediate(&root, "leon", &permitted, KeyAlgorithm::EcdsaP256, NOW, 365 * DAY).unwrap();
        let leaf = issue_leaf(&inter, &hosts(&["a.nube.dipuleon.es"]), KeyAlgorithm::EcdsaP256, NOW, DAY).unwrap();
        let other = issue_leaf(&inter, &hosts(&["b.nube.dipuleon.es"]), KeyAlgorithm::EcdsaP256, NOW, DAY).unwrap();
        assert!(key_matches(&leaf.cert_pem, &leaf.key_pem));
        assert!(!key_matches(&leaf.cert_pem, &other.key_pem), "a valid key of another certificate");
        assert!(!key_matches(&leaf.cert_pem, "garbage"));
        assert!(chain_verifies(&leaf.cert_pem, &root.cert_pem));
        // An intermediate with the same name but another key (a forgery): names match, signatures do not.
        let forged = new_intermediate(&root, "leon", &permitted, KeyAlgorithm::EcdsaP256, NOW, 365 * DAY).unwrap();
        let leaf_cert = &split_bundle(&leaf.cert_pem)[0];
        assert!(!chain_verifies(&format!("{leaf_cert}{}", forged.cert_pem), &root.cert_pem));
        let stranger = new_root("leon", KeyAlgorithm::EcdsaP256, NOW, 3650 * DAY).unwrap();
        assert!(!chain_verifies(&leaf.cert_pem, &stranger.cert_pem), "a root with the same name but another key");
        assert!(!chain_verifies(leaf_cert, &root.cert_pem), "no intermediate");
    }

    #[test]
    fn rsa_3072_is_selectable() {
        let root = new_root("leon", KeyAlgorithm::Rsa3072, NOW, 3650 * DAY).unwrap();
        let info = inspect(&root.cert_pem).unwrap();
        assert!(info.is_rsa && info.key_bits == 3072 && root.key_pem.contains("PRIVATE KEY"));
        assert_eq!(
            inspect(&new_root("leon", KeyAlgorithm::EcdsaP256, NOW, DAY).unwrap().cert_pem).unwrap().key_bits,
            256
        );
    }
}
