//! The pool's namespace, `concejo-office-<province INE code>`, with Pod Security `restricted`
//! enforced like every tenant namespace: Collabora runs there without capabilities (see
//! `deployment` and docs/office.md). Owned by the Province, so deleting the Province deletes it.

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;

use super::Pool;
use crate::api::v1alpha1::Province;

const PREFIX: &str = "concejo-office-";

/// The province INE code of an office namespace name, if it is one.
pub fn ine_code_of(namespace: &str) -> Option<&str> {
    namespace.strip_prefix(PREFIX).filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_digit()))
}

/// The complete desired Namespace of the pool.
pub fn build(pool: &Pool) -> Namespace {
    let mut metadata = super::metadata(pool, &pool.namespace(), "office");
    metadata.namespace = None;
    let labels = metadata.labels.get_or_insert_default();
    labels.extend(crate::resources::namespace::POD_SECURITY.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    metadata.owner_references = pool.province_uid.as_ref().map(|uid| {
        vec![OwnerReference {
            api_version: Province::api_version(&()).into_owned(),
            kind: Province::kind(&()).into_owned(),
            name: pool.province.clone(),
            uid: uid.clone(),
            controller: Some(true),
            block_owner_deletion: None,
        }]
    });
    Namespace { metadata, ..Namespace::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::office::pool::tests::serving;

    #[test]
    fn restricted_and_owned_by_the_province() {
        let ns = build(&serving(&[]));
        assert_eq!(ns.metadata.name.as_deref(), Some("concejo-office-24"));
        assert_eq!(ns.metadata.namespace, None);
        let labels = ns.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["pod-security.kubernetes.io/enforce"], "restricted");
        assert_eq!(labels["app.kubernetes.io/component"], "office");
        let owner = &ns.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()), ("Province", "leon", "uid-leon"));
        assert_eq!(owner.api_version, "concejo.dev/v1alpha1");
    }

    #[test]
    fn office_namespace_names_round_trip() {
        assert_eq!(ine_code_of(&crate::domain::office_namespace("24")), Some("24"));
        assert_eq!(ine_code_of("concejo-office-2"), None);
        assert_eq!(ine_code_of("muni-24089"), None);
        assert_eq!(ine_code_of("concejo-office-ab"), None);
    }
}
