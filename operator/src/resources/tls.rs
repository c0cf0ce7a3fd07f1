//! The tenant's TLS Secret `tenant-tls`: a `kubernetes.io/tls` Secret with the keys and
//! annotations cert-manager uses, so ingress controllers and tools that know cert-manager
//! Secrets work unchanged. Whether to issue a new certificate is decided in `pki::tls`.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{Component, Context, Part, labels};
use crate::domain::ValidTenant;
use crate::pki::{self, Leaf};

pub const SECRET_NAME: &str = "tenant-tls";

pub struct TenantTls;

impl Component for TenantTls {
    type Kind = Secret;
    const PART: Part = Part::Certificate;
    const NAMES: &'static [&'static str] = &[SECRET_NAME];

    fn build(tenant: &ValidTenant, context: &Context<'_>) -> Vec<Secret> {
        context.certificate.map(|(leaf, trust)| build(tenant, leaf, trust)).into_iter().collect()
    }
}

/// The Secret for a certificate, with cert-manager's keys and annotations.
pub fn build(tenant: &ValidTenant, leaf: &Leaf, trust: &str) -> Secret {
    let metadata = labels::metadata(tenant, SECRET_NAME, Some(tenant.namespace()), "tls");
    secret(metadata, leaf, trust, &tenant.province, pki::tls::jitter(tenant))
}

/// A `kubernetes.io/tls` Secret named by `metadata` for a certificate issued by `province`'s CA,
/// renewed at `jitter` of its window: cert-manager's keys (`tls.crt`, `tls.key`, `ca.crt`) and
/// annotations, so ingress controllers and tools that know cert-manager Secrets work unchanged.
pub fn secret(mut metadata: ObjectMeta, leaf: &Leaf, trust: &str, province: &str, jitter: f64) -> Secret {
    let info = &leaf.info;
    let name = metadata.name.clone().unwrap_or_default();
    let annotations: BTreeMap<String, String> = [
        ("cert-manager.io/alt-names", info.dns_names.join(",")),
        ("cert-manager.io/common-name", info.dns_names.first().cloned().unwrap_or_default()),
        ("cert-manager.io/certificate-name", name),
        ("cert-manager.io/issuer-name", province.to_owned()),
        ("cert-manager.io/issuer-kind", "Province".to_owned()),
        ("cert-manager.io/issuer-group", "concejo.dev".to_owned()),
        ("concejo.dev/renewal-time", pki::rfc3339(info.renewal_time(jitter))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    metadata.annotations = Some(annotations);
    let data = [("tls.crt", leaf.cert_pem.as_str()), ("tls.key", leaf.key_pem.as_str()), ("ca.crt", trust)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), ByteString(v.as_bytes().to_vec())))
        .collect();
    Secret { metadata, type_: Some("kubernetes.io/tls".into()), data: Some(data), ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::v1alpha1::KeyAlgorithm;
    use crate::pki::ca::{self, Settings};
    use crate::testing::{municipality, valid};

    #[test]
    fn a_cert_manager_compatible_secret() {
        let tenant = valid(&municipality("ponferrada", "24115"));
        let now = 1_800_000_000;
        let (ca, _) =
            ca::reconcile(None, None, "leon", &["nube.dipuleon.es".into()], Settings::DEFAULTS, None, now).unwrap();
        let leaf = pki::tls::issue(&tenant, &ca, KeyAlgorithm::EcdsaP256, 90 * 86_400, now).unwrap();
        let secret = build(&tenant, &leaf, &ca.trust_bundle());
        assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
        let annotations = secret.metadata.annotations.clone().unwrap();
        assert_eq!(annotations["cert-manager.io/alt-names"], "ponferrada.nube.dipuleon.es");
        let data = secret.data.unwrap();
        assert!(["tls.crt", "tls.key", "ca.crt"].iter().all(|k| data.contains_key(*k)));
        // Built only when there is a certificate.
        assert!(TenantTls::build(&tenant, &Context::default()).is_empty());
    }
}
