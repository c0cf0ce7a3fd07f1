//! The tenant's volumes, checked: their size and StorageClass resolved from the Municipality,
//! its Province and its plan, and held against the cluster's classes and the volumes that exist
//! (a class cannot change, a volume cannot shrink). Pure: what the cluster says is passed in.

use std::collections::BTreeSet;

use kube::ResourceExt;

use super::tenant::TenantStorage;
use super::validate::Invalid;
use super::{quantity, suite};
use crate::api::v1alpha1::{EnsCategory, Municipality, Province, ServicePlan};

/// What the cluster says about storage.
#[derive(Clone, Copy, Debug)]
pub struct StorageFacts<'a> {
    /// Names of the StorageClasses that exist.
    pub classes: &'a BTreeSet<String>,
    /// The tenant's volumes as they are.
    pub volumes: &'a [Volume],
}

/// A live claim of the tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    pub class: Option<String>,
    /// `spec.resources.requests.storage`.
    pub request: String,
}

/// The tenant's volumes, when it has any: collaboration enabled or `spec.storage` set.
pub fn check(
    municipality: &Municipality,
    province: &Province,
    plan: &ServicePlan,
    facts: Option<StorageFacts<'_>>,
) -> Result<Option<TenantStorage>, Invalid> {
    let spec = &municipality.spec;
    if !spec.collaboration.enabled && spec.storage.is_none() {
        return Ok(None);
    }
    let own = spec.storage.clone().unwrap_or_default();
    let plan_name = plan.name_any();
    let size = own
        .size
        .or_else(|| plan.spec.collaboration.as_ref().map(|c| c.storage.clone()))
        .ok_or_else(|| Invalid::StorageSizeNotSet(plan_name.clone()))?;
    let classes = &province.spec.storage.classes;
    let names = |encrypted_only: bool| {
        let names: Vec<&str> =
            classes.iter().filter(|c| c.encrypted || !encrypted_only).map(|c| c.name.as_str()).collect();
        if names.is_empty() { "none".to_owned() } else { names.join(", ") }
    };
    let class = match own.class {
        Some(class) => class,
        None => classes
            .iter()
            .find(|c| c.encrypted)
            .map(|c| c.name.clone())
            .ok_or_else(|| Invalid::StorageClassNotSet(province.name_any()))?,
    };
    let offered = classes.iter().find(|c| c.name == class).ok_or_else(|| Invalid::StorageClassNotAllowed {
        class: class.clone(),
        province: province.name_any(),
        allowed: names(false),
    })?;
    if !offered.encrypted && spec.ens_category != EnsCategory::Basica {
        let category = spec.ens_category.as_str();
        return Err(Invalid::StorageClassNotEncrypted { class, category, allowed: names(true) });
    }
    let files = quantity::parse_milli(&size).unwrap_or_default() / 1000;
    let database = suite::database_volume(files);
    if let Some(short) = suite::storage_shortfall(&plan.spec, files + database) {
        let details = format!("{short} (files {size} + database {})", suite::bytes(database));
        return Err(Invalid::StorageExceedsQuota { plan: plan_name, details });
    }
    let tenant = TenantStorage { class, files: size, database: suite::bytes(database) };
    if let Some(facts) = facts {
        if !facts.classes.contains(&tenant.class) {
            return Err(Invalid::StorageClassNotFound(tenant.class));
        }
        for volume in facts.volumes {
            let asked = if volume.name == suite::FILES_VOLUME { &tenant.files } else { &tenant.database };
            if let Some(current) = volume.class.as_ref().filter(|c| **c != tenant.class) {
                return Err(Invalid::StorageClassChanged { volume: volume.name.clone(), current: current.clone() });
            }
            if quantity::parse_milli(&volume.request) > quantity::parse_milli(asked) {
                let (volume, current, asked) = (volume.name.clone(), volume.request.clone(), asked.clone());
                return Err(Invalid::StorageShrink { volume, current, asked });
            }
        }
    }
    Ok(Some(tenant))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::v1alpha1::MunicipalityStorage;
    use crate::domain::{Inputs, ValidTenant, validate};
    use crate::testing::{leon, municipality, plan};

    fn suite(m: &mut Municipality) {
        m.spec.collaboration.enabled = true;
    }

    fn with_storage(m: &Municipality, volumes: &[Volume]) -> Result<ValidTenant, Invalid> {
        let (province, town) = (leon(), plan("town", "4"));
        let classes: BTreeSet<String> = ["cifrado-ssd".to_owned(), "estandar-hdd".to_owned()].into();
        let storage = Some(StorageFacts { classes: &classes, volumes });
        validate(m, Inputs { province: Some(&province), plan: Some(&town), storage, ..Default::default() })
    }

    #[test]
    fn the_suite_gets_the_first_encrypted_class_and_the_plan_size() {
        let mut m = municipality("leon", "24089");
        suite(&mut m);
        let tenant = with_storage(&m, &[]).unwrap();
        let storage = tenant.storage.unwrap();
        assert_eq!(
            (storage.class.as_str(), storage.files.as_str(), storage.database.as_str()),
            ("cifrado-ssd", "100Gi", "10Gi")
        );
        let collaboration = tenant.collaboration.unwrap();
        assert_eq!(collaboration.users, 25);
        assert_eq!(collaboration.office.unwrap().namespace, "concejo-office-24");
        assert!(with_storage(&municipality("leon", "24089"), &[]).unwrap().storage.is_none());
    }

    #[test]
    fn storage_classes_are_checked_with_messages_naming_what_is_allowed() {
        let mut m = municipality("leon", "24089");
        suite(&mut m);
        m.spec.storage = Some(MunicipalityStorage { size: None, class: Some("estandar-hdd".into()) });
        let err = with_storage(&m, &[]).unwrap_err();
        assert_eq!(err.reason(), "StorageClassNotEncrypted");
        assert!(err.to_string().contains("ENS Media") && err.to_string().contains("cifrado-ssd"), "{err}");
        m.spec.ens_category = EnsCategory::Basica;
        assert!(with_storage(&m, &[]).is_ok(), "an unencrypted class is fine for Basica");
        m.spec.storage = Some(MunicipalityStorage { size: None, class: Some("rapido".into()) });
        let err = with_storage(&m, &[]).unwrap_err();
        assert_eq!(err.reason(), "StorageClassNotAllowed");
        assert!(err.to_string().contains("allowed: cifrado-ssd, estandar-hdd"), "{err}");
        let (province, town) = (leon(), plan("town", "4"));
        let none = BTreeSet::new();
        let m = {
            let mut m = municipality("leon", "24089");
            suite(&mut m);
            m
        };
        let storage = Some(StorageFacts { classes: &none, volumes: &[] });
        let err = validate(&m, Inputs { province: Some(&province), plan: Some(&town), storage, ..Default::default() });
        assert_eq!(err.unwrap_err().reason(), "StorageClassNotFound");
    }

    #[test]
    fn volumes_never_shrink_nor_change_class_and_must_fit_the_quota() {
        let mut m = municipality("leon", "24089");
        suite(&mut m);
        let live = |request: &str, class: &str| Volume {
            name: crate::domain::suite::FILES_VOLUME.into(),
            class: Some(class.into()),
            request: request.into(),
        };
        assert_eq!(with_storage(&m, &[live("150Gi", "cifrado-ssd")]).unwrap_err().reason(), "StorageShrink");
        assert!(with_storage(&m, &[live("50Gi", "cifrado-ssd")]).is_ok(), "growing is fine");
        m.spec.ens_category = EnsCategory::Basica;
        m.spec.storage = Some(MunicipalityStorage { size: None, class: Some("estandar-hdd".into()) });
        assert_eq!(with_storage(&m, &[live("100Gi", "cifrado-ssd")]).unwrap_err().reason(), "StorageClassChanged");
        m.spec.storage = Some(MunicipalityStorage { size: Some("190Gi".into()), class: None });
        let err = with_storage(&m, &[]).unwrap_err();
        assert_eq!(err.reason(), "StorageExceedsQuota");
        assert!(err.to_string().contains("requests.storage 209Gi > 200Gi (files 190Gi + database 19Gi)"), "{err}");
    }
}
