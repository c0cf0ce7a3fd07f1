//! `concejo.dev/v1alpha1`: Province, ServicePlan and Municipality.

mod municipality;
mod province;
mod serviceplan;

pub use municipality::{
    CertificateStatus, DeletionPolicy, EgressRule, EnsCategory, Municipality, MunicipalityNetwork, MunicipalitySpec,
    MunicipalityStatus, Phase, Subject, SubjectKind,
};
pub use province::{KeyAlgorithm, Province, ProvinceNetwork, ProvincePki, ProvinceSpec, ProvinceStatus, Sara};
pub use serviceplan::{LimitRange, Quota, ServicePlan, ServicePlanSpec};
