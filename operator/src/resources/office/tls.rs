//! The pool's TLS Secret `office-tls`: a certificate for `office.<baseDomain>` from the
//! province's intermediate CA, with cert-manager's keys and annotations like the tenants'
//! `tenant-tls`, and the province's trusted roots as `ca.crt` (Collabora checks the tenants'
//! certificates against them). Whether to issue a new one is decided by `pki::tls::decide`,
//! as for tenants.

use k8s_openapi::api::core::v1::Secret;

use super::Pool;
use crate::domain::hash;
use crate::pki::Leaf;

pub const SECRET_NAME: &str = "office-tls";

/// Where in its renewal window the pool's certificate renews (stable per province).
pub fn jitter(pool: &Pool) -> f64 {
    hash::fraction(&pool.namespace())
}

/// The Secret for a certificate (built like the tenants' `tenant-tls`).
pub fn build(pool: &Pool, leaf: &Leaf, trust: &str) -> Secret {
    crate::resources::tls::secret(super::metadata(pool, SECRET_NAME, "tls"), leaf, trust, &pool.province, jitter(pool))
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::api::v1alpha1::KeyAlgorithm;
    use crate::pki;
    use crate::pki::ca::{self, Settings};
    use crate::resources::office::pool::tests::serving;

    const NOW: i64 = 1_800_000_000;

    /// A certificate for the pool's host from a new CA of León, and that CA's trusted roots.
    pub fn certificate(pool: &Pool) -> (Leaf, String) {
        let (ca, _) =
            ca::reconcile(None, None, "leon", &["nube.dipuleon.es".into()], Settings::DEFAULTS, None, NOW).unwrap();
        let leaf =
            pki::issue_leaf(&ca.intermediate, &[pool.host()], KeyAlgorithm::EcdsaP256, NOW, 90 * 86_400).unwrap();
        (leaf, ca.trust_bundle())
    }

    #[test]
    fn a_cert_manager_compatible_secret_for_the_office_host() {
        let pool = serving(&[]);
        let (leaf, trust) = certificate(&pool);
        let secret = build(&pool, &leaf, &trust);
        assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
        assert_eq!(secret.metadata.name.as_deref(), Some("office-tls"));
        let annotations = secret.metadata.annotations.clone().unwrap();
        assert_eq!(annotations["cert-manager.io/alt-names"], "office.nube.dipuleon.es");
        assert_eq!(annotations["cert-manager.io/issuer-kind"], "Province");
        let data = secret.data.unwrap();
        assert_eq!(data["ca.crt"].0, trust.as_bytes());
        assert!(pki::chain_verifies(std::str::from_utf8(&data["tls.crt"].0).unwrap(), &trust));
    }
}
