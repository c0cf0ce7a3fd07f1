//! The tenant's data volumes: the claim for Nextcloud's files and the one for PostgreSQL's data.
//! Never pruned and never deleted by concejo: data goes only with the namespace, when the
//! Municipality is deleted with `deletionPolicy: Delete`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::{Component, Context, Part, labels};
use crate::domain::suite::{DATABASE_VOLUME, FILES_VOLUME};
use crate::domain::{ValidTenant, quantity};

pub struct Volumes;

impl Component for Volumes {
    type Kind = PersistentVolumeClaim;
    const PART: Part = Part::Storage;
    const NAMES: &'static [&'static str] = &[FILES_VOLUME, DATABASE_VOLUME];
    const STATUS_MATTERS: bool = true;

    fn build(tenant: &ValidTenant, context: &Context<'_>) -> Vec<PersistentVolumeClaim> {
        let Some(storage) = &tenant.storage else { return vec![] };
        [(FILES_VOLUME, &storage.files), (DATABASE_VOLUME, &storage.database)]
            .into_iter()
            .map(|(name, size)| claim(tenant, name, &storage.class, &size_of(name, size, context)))
            .collect()
    }
}

/// The size to declare: the tenant's, unless the claim exists and its class cannot grow it (then
/// its current size, and `StorageReady` says why the new one is not applied).
fn size_of(name: &str, wanted: &str, context: &Context<'_>) -> String {
    match context.volumes.iter().find(|v| v.name == name) {
        Some(live) if !context.expandable && quantity::parse_milli(&live.request) < quantity::parse_milli(wanted) => {
            live.request.clone()
        }
        _ => wanted.to_owned(),
    }
}

pub fn claim(tenant: &ValidTenant, name: &str, class: &str, size: &str) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: labels::metadata(tenant, name, Some(tenant.namespace()), "storage"),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: Some(class.to_owned()),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_owned(), Quantity(size.to_owned()))])),
                limits: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Volume;
    use crate::testing::{municipality, valid};

    fn with_suite() -> ValidTenant {
        let mut m = municipality("ponferrada", "24115");
        m.spec.collaboration.enabled = true;
        valid(&m)
    }

    fn size(claim: &PersistentVolumeClaim) -> String {
        claim.spec.as_ref().unwrap().resources.as_ref().unwrap().requests.as_ref().unwrap()["storage"].0.clone()
    }

    #[test]
    fn files_and_database_on_the_default_encrypted_class() {
        let claims = Volumes::build(&with_suite(), &Context { expandable: true, ..Default::default() });
        assert_eq!(claims.len(), 2);
        assert_eq!(claims[0].spec.as_ref().unwrap().storage_class_name.as_deref(), Some("cifrado-ssd"));
        assert_eq!((size(&claims[0]), size(&claims[1])), ("100Gi".into(), "10Gi".into()));
        assert!(Volumes::build(&valid(&municipality("leon", "24089")), &Context::default()).is_empty());
    }

    #[test]
    fn a_class_that_cannot_grow_keeps_the_current_size() {
        let volumes = [Volume { name: FILES_VOLUME.into(), class: Some("cifrado-ssd".into()), request: "50Gi".into() }];
        let fixed = Context { volumes: &volumes, expandable: false, ..Default::default() };
        assert_eq!(size(&Volumes::build(&with_suite(), &fixed)[0]), "50Gi");
        let growing = Context { volumes: &volumes, expandable: true, ..Default::default() };
        assert_eq!(size(&Volumes::build(&with_suite(), &growing)[0]), "100Gi");
    }
}
