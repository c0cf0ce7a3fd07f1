//! The Secret `concejo-ca-<province>` in the operator's namespace that holds a province's CA.
//! Not part of any tenant: the Province controller writes it.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::ObjectMeta;

use super::labels;
use crate::pki::ca::{CaState, ROTATION_HANDLED};

/// Name of the Secret holding a province's CA.
pub fn name(province: &str) -> String {
    format!("concejo-ca-{province}")
}

/// Label value of `app.kubernetes.io/component` on CA Secrets.
pub const COMPONENT: &str = "ca";

/// The Secret that stores this state (the root key only when concejo generated the root).
pub fn build(state: &CaState, province: &str, ine_code: &str, namespace: &str) -> Secret {
    let mut data = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        data.insert(k.to_owned(), ByteString(v.as_bytes().to_vec()));
    };
    put("root.crt", &state.root.cert_pem);
    if state.root_generated {
        put("root.key", &state.root.key_pem);
    }
    put("intermediate.crt", &state.intermediate.cert_pem);
    put("intermediate.key", &state.intermediate.key_pem);
    put("ca.crt", &state.trust_bundle());
    put("retired-roots.json", &serde_json::to_string(&state.retired).unwrap_or_else(|_| "[]".into()));
    let mut l = labels::for_tenant(province, ine_code, province, COMPONENT);
    l.remove(labels::INSTANCE);
    Secret {
        metadata: ObjectMeta {
            name: Some(name(province)),
            namespace: Some(namespace.to_owned()),
            labels: Some(l),
            annotations: state
                .rotation_token
                .as_ref()
                .map(|t| BTreeMap::from([(ROTATION_HANDLED.to_owned(), t.clone())])),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::v1alpha1::KeyAlgorithm;
    use crate::pki::{self, ca};

    const T0: i64 = 1_800_000_000;

    fn state() -> CaState {
        ca::reconcile(None, None, "leon", &["nube.dipuleon.es".into()], ca::Settings::DEFAULTS, None, T0).unwrap().0
    }

    #[test]
    fn the_secret_round_trips() {
        let ca = state();
        assert_eq!(CaState::from_secret(&build(&ca, "leon", "24", "concejo-system"), None).unwrap(), ca);
    }

    #[test]
    fn a_brought_root_is_stored_without_its_key() {
        let brought = pki::new_root("leon", KeyAlgorithm::EcdsaP256, T0, 3650 * 86_400).unwrap();
        let (ca, _) =
            ca::reconcile(None, Some(&brought), "leon", &["nube.dipuleon.es".into()], ca::Settings::DEFAULTS, None, T0)
                .unwrap();
        let secret = build(&ca, "leon", "24", "ns");
        assert!(!secret.data.as_ref().unwrap().contains_key("root.key"));
        assert_eq!(CaState::from_secret(&secret, Some(&brought)).unwrap(), ca);
    }

    #[test]
    fn an_unreadable_secret_is_an_error_not_an_absent_ca() {
        let good = build(&state(), "leon", "24", "ns");
        let mut garbage = good.clone();
        garbage.data.as_mut().unwrap().insert("root.crt".into(), ByteString(b"not a certificate".to_vec()));
        assert!(CaState::from_secret(&garbage, None).unwrap_err().contains("root.crt"));
        let mut missing = good.clone();
        missing.data.as_mut().unwrap().remove("intermediate.key");
        assert!(CaState::from_secret(&missing, None).unwrap_err().contains("intermediate.key"));
        let mut swapped = good.clone();
        let other = build(&state(), "leon", "24", "ns");
        let other_key = other.data.unwrap()["intermediate.key"].clone();
        swapped.data.as_mut().unwrap().insert("intermediate.key".into(), other_key);
        assert!(CaState::from_secret(&swapped, None).unwrap_err().contains("does not match"));
        assert!(CaState::from_secret(&Secret::default(), None).is_err());
    }
}
