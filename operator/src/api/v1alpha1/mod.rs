//! `concejo.dev/v1alpha1`: Province, ServicePlan, Municipality, Backup and Restore.

mod backup;
mod compliance;
mod municipality;
mod province;
pub mod rules;
mod serviceplan;

pub use backup::{
    Backup, BackupSpec, BackupStatus, BackupTarget, DrillResult, MunicipalityBackup, PlanBackup, ProvinceBackup,
    RecordedSnapshot, Restore, RestoreSpec, RestoreTarget, Retention, RunPhase, RunStatus, S3Target,
};
pub use compliance::{ComplianceEntry, ComplianceStatus, MeasureCount, ProvinceCompliance};
pub use municipality::{
    CertificateStatus, Collaboration, DeletionPolicy, EgressRule, Endpoints, EnsCategory, Municipality,
    MunicipalityNetwork, MunicipalitySpec, MunicipalityStatus, MunicipalityStorage, Phase, Subject, SubjectKind,
};
pub use province::{
    Images, KeyAlgorithm, Office, OfficeStatus, Province, ProvinceIngress, ProvinceNetwork, ProvincePki, ProvinceSpec,
    ProvinceStatus, ProvinceStorage, Sara, StorageClassRef,
};
pub use serviceplan::{LimitRange, PlanCollaboration, Quota, ServicePlan, ServicePlanSpec};
