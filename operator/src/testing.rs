//! Fixtures shared by every module's tests: León, its plan, its town halls.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::api::v1alpha1::{
    EnsCategory, LimitRange, Municipality, MunicipalitySpec, Office, PlanCollaboration, Province, ProvinceSpec,
    ProvinceStorage, Quota, ServicePlan, ServicePlanSpec, StorageClassRef,
};
use crate::domain::{Inputs, ValidTenant, validate};

/// The León Province: base domain nube.dipuleon.es, default plan `town`.
pub fn leon() -> Province {
    Province::new(
        "leon",
        ProvinceSpec {
            ine_code: "24".into(),
            display_name: "Diputación de León".into(),
            base_domain: "nube.dipuleon.es".into(),
            default_plan: Some("town".into()),
            network: Default::default(),
            pki: Default::default(),
            ingress: Default::default(),
            images: Default::default(),
            storage: ProvinceStorage {
                classes: vec![
                    StorageClassRef { name: "cifrado-ssd".into(), encrypted: true },
                    StorageClassRef { name: "estandar-hdd".into(), encrypted: false },
                ],
            },
            office: Office { enabled: true, ..Default::default() },
            backup: Default::default(),
        },
    )
}

/// A plan with this CPU quota (memory 8Gi, storage 200Gi, 40 pods).
pub fn plan(name: &str, cpu: &str) -> ServicePlan {
    ServicePlan::new(
        name,
        ServicePlanSpec {
            description: None,
            quota: Quota { cpu: cpu.into(), memory: "8Gi".into(), storage: Some("200Gi".into()), pods: 40 },
            limit_range: LimitRange {
                default_cpu: "250m".into(),
                default_memory: "256Mi".into(),
                max_cpu: "2".into(),
                max_memory: "4Gi".into(),
            },
            collaboration: Some(PlanCollaboration { users: 25, storage: "100Gi".into() }),
            backup: Default::default(),
        },
    )
}

/// A Municipality of León created at the epoch.
pub fn municipality(name: &str, ine_code: &str) -> Municipality {
    let mut m = Municipality::new(
        name,
        MunicipalitySpec {
            province: "leon".into(),
            ine_code: ine_code.into(),
            display_name: name.into(),
            dir3: None,
            nif: None,
            population: None,
            plan: None,
            ens_category: EnsCategory::Media,
            admins: vec![],
            auditors: vec![],
            domains: vec![],
            network: Default::default(),
            storage: None,
            collaboration: Default::default(),
            backup: Default::default(),
            suspend: false,
            deletion_policy: Default::default(),
        },
    );
    m.metadata.creation_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
    m
}

/// The same Municipality created `secs` after the epoch.
pub fn created_at(mut m: Municipality, secs: i64) -> Municipality {
    m.metadata.creation_timestamp = Some(Time(Timestamp::from_second(secs).unwrap()));
    m
}

/// The tenant a Municipality of León on plan `town` becomes.
pub fn valid(m: &Municipality) -> ValidTenant {
    let (province, town) = (leon(), plan("town", "4"));
    validate(m, Inputs { province: Some(&province), plan: Some(&town), ..Default::default() }).unwrap()
}

/// The tenant a Municipality becomes in a León changed by `edit`, on plan `town`.
pub fn valid_in(m: &Municipality, edit: impl FnOnce(&mut Province)) -> ValidTenant {
    let (mut province, town) = (leon(), plan("town", "4"));
    edit(&mut province);
    validate(m, Inputs { province: Some(&province), plan: Some(&town), ..Default::default() }).unwrap()
}

/// An S3 bucket `bucket` at s3.dipuleon.es, opened by the Secret `backup-s3`.
pub fn s3_target(bucket: &str) -> crate::api::v1alpha1::BackupTarget {
    crate::api::v1alpha1::BackupTarget {
        s3: crate::api::v1alpha1::S3Target {
            endpoint: "https://s3.dipuleon.es".into(),
            bucket: bucket.into(),
            credentials_secret: "backup-s3".into(),
            region: None,
        },
    }
}
