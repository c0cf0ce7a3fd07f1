//! `concejo.dev/v1alpha1`: Province, ServicePlan and Municipality.

mod municipality;
mod province;
mod serviceplan;

pub use municipality::{
    CertificateStatus, Collaboration, DeletionPolicy, EgressRule, Endpoints, EnsCategory, Municipality,
    MunicipalityNetwork, MunicipalitySpec, MunicipalityStatus, MunicipalityStorage, Phase, Subject, SubjectKind,
};
pub use province::{
    Images, KeyAlgorithm, Office, OfficeStatus, Province, ProvinceIngress, ProvinceNetwork, ProvincePki, ProvinceSpec,
    ProvinceStatus, ProvinceStorage, Sara, StorageClassRef,
};
pub use serviceplan::{LimitRange, PlanCollaboration, Quota, ServicePlan, ServicePlanSpec};
