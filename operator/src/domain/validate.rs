//! Validation: a Municipality plus what it refers to becomes a [`ValidTenant`], or the reason why not.
//!
//! Pure functions, no client: everything the reconciler read is passed in as [`Inputs`].

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::ResourceExt;

use super::identifiers::{self, IdentifierError};
use super::tenant::{self, OfficePool, TenantCollaboration, TenantNetwork, ValidTenant, office_namespace};
use super::volumes::{self, StorageFacts};
use super::{backup, claims, images, plan, suite};
use crate::api::v1alpha1::{Municipality, Province, ServicePlan};

/// What validation may look at besides the Municipality itself.
#[derive(Clone, Copy, Default)]
pub struct Inputs<'a> {
    /// The Municipality's Province, if it exists.
    pub province: Option<&'a Province>,
    /// The ServicePlan in effect (named by the spec or the province's default), if it exists.
    pub plan: Option<&'a ServicePlan>,
    /// The other Municipalities that claim the same INE code or one of the same hostnames (from
    /// the index: never every Municipality).
    pub rivals: &'a [&'a Municipality],
    /// What the tenant's live ResourceQuota says is in use (`status.used`), if it exists.
    pub quota_used: Option<&'a BTreeMap<String, Quantity>>,
    /// The cluster's StorageClasses and the tenant's volumes; `None` skips those checks.
    pub storage: Option<StorageFacts<'a>>,
}

/// Why a Municipality cannot be honoured; becomes `Valid=False` with this reason and message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("Province {0:?} does not exist; create it or correct spec.province")]
    ProvinceNotFound(String),
    #[error(transparent)]
    Identifier(#[from] IdentifierError),
    #[error(
        "ineCode {ine_code:?} is already the tenant of Municipality {owner:?}; this one touches nothing until one of them is removed"
    )]
    Conflict { ine_code: String, owner: String },
    #[error("no ServicePlan: set spec.plan or the defaultPlan of Province {0:?}")]
    PlanNotSet(String),
    #[error("ServicePlan {0:?} does not exist; create it or choose another plan")]
    PlanNotFound(String),
    #[error("network.sara is requested but Province {0:?} has no network.sara configured")]
    SaraNotConfigured(String),
    #[error("hostname {host:?} is already served by Municipality {owner:?}; remove it from spec.domains")]
    HostnameConflict { host: String, owner: String },
    #[error("hostname {host:?} belongs to Province {province:?} ({what}); no town hall may serve it: {fix}")]
    HostnameReserved { host: String, province: String, what: &'static str, fix: &'static str },
    #[error(
        "ServicePlan {plan:?} would set the quota below what the tenant already uses ({details}); \
         the current quota is kept until usage drops or a larger plan is chosen"
    )]
    QuotaBelowUsage { plan: String, details: String },
    #[error("no storage size: set spec.storage.size, or collaboration.storage in ServicePlan {0:?}")]
    StorageSizeNotSet(String),
    #[error(
        "Province {0:?} lists no encrypted StorageClass: set spec.storage.class or add one to the Province's storage.classes"
    )]
    StorageClassNotSet(String),
    #[error("StorageClass {class:?} is not offered by Province {province:?}; allowed: {allowed}")]
    StorageClassNotAllowed { class: String, province: String, allowed: String },
    #[error(
        "StorageClass {class:?} is not encrypted, and ENS {category} data must be encrypted at rest (mp.si.2); encrypted classes: {allowed}"
    )]
    StorageClassNotEncrypted { class: String, category: &'static str, allowed: String },
    #[error("StorageClass {0:?} does not exist in the cluster; create it or choose another class")]
    StorageClassNotFound(String),
    #[error(
        "volume {volume} already exists on StorageClass {current:?}; a volume cannot change class, so spec.storage.class must stay {current:?}"
    )]
    StorageClassChanged { volume: String, current: String },
    #[error("volume {volume} already asks for {current}, more than {asked}: volumes grow, never shrink")]
    StorageShrink { volume: String, current: String, asked: String },
    #[error("the tenant's volumes would exceed the storage quota of ServicePlan {plan:?}: {details}")]
    StorageExceedsQuota { plan: String, details: String },
    #[error("ServicePlan {0:?} offers no collaboration suite (spec.collaboration); choose another plan")]
    CollaborationNotOffered(String),
    #[error(
        "the collaboration suite for {users} users does not fit ServicePlan {plan:?}: {details}; nothing of it is deployed"
    )]
    SuiteExceedsPlan { plan: String, users: i32, details: String },
}

impl Invalid {
    /// The PascalCase reason of the `Valid=False` condition.
    pub fn reason(&self) -> &'static str {
        match self {
            Invalid::ProvinceNotFound(_) => "ProvinceNotFound",
            Invalid::Identifier(IdentifierError::UnknownIneCode(_)) => "UnknownIneCode",
            Invalid::Identifier(IdentifierError::WrongProvince { .. }) => "ProvinceMismatch",
            Invalid::Identifier(IdentifierError::Dir3Mismatch { .. }) => "InvalidDir3",
            Invalid::Identifier(
                IdentifierError::NifControlLetter { .. }
                | IdentifierError::NifProvince { .. }
                | IdentifierError::NifFormat(_),
            ) => "InvalidNif",
            Invalid::Conflict { .. } => "Conflict",
            Invalid::PlanNotSet(_) => "PlanNotSet",
            Invalid::PlanNotFound(_) => "PlanNotFound",
            Invalid::SaraNotConfigured(_) => "SaraNotConfigured",
            Invalid::HostnameConflict { .. } => "HostnameConflict",
            Invalid::HostnameReserved { .. } => "HostnameReserved",
            Invalid::QuotaBelowUsage { .. } => "QuotaBelowUsage",
            Invalid::StorageSizeNotSet(_) => "StorageSizeNotSet",
            Invalid::StorageClassNotSet(_) => "StorageClassNotSet",
            Invalid::StorageClassNotAllowed { .. } => "StorageClassNotAllowed",
            Invalid::StorageClassNotEncrypted { .. } => "StorageClassNotEncrypted",
            Invalid::StorageClassNotFound(_) => "StorageClassNotFound",
            Invalid::StorageClassChanged { .. } => "StorageClassChanged",
            Invalid::StorageShrink { .. } => "StorageShrink",
            Invalid::StorageExceedsQuota { .. } => "StorageExceedsQuota",
            Invalid::CollaborationNotOffered(_) => "CollaborationNotOffered",
            Invalid::SuiteExceedsPlan { .. } => "SuiteExceedsPlan",
        }
    }

    /// A conflict: this Municipality must not touch the tenant namespace at all.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Invalid::Conflict { .. })
    }
}

/// The hostnames a Municipality asks for: `<name>.<baseDomain>` first, then `spec.domains`.
pub fn hosts(municipality: &Municipality, province: &Province) -> Vec<String> {
    let mut hosts = vec![format!("{}.{}", municipality.name_any(), province.spec.base_domain)];
    for domain in &municipality.spec.domains {
        if !hosts.contains(domain) {
            hosts.push(domain.clone());
        }
    }
    hosts
}

/// The province's own hostnames: its base domain and its office pool's `office.<baseDomain>`
/// (whether the pool runs yet or not), which a tenant asking for them would take over.
fn reserved(hosts: &[String], province: &Province) -> Option<Invalid> {
    let base = &province.spec.base_domain;
    let office = format!("office.{base}");
    let (host, what, fix) = hosts.iter().find_map(|h| {
        if *h == office {
            Some((h, "the province's office pool", "a Municipality named \"office\" cannot be served under the base domain, and spec.domains cannot list it"))
        } else if h == base {
            Some((h, "the base domain", "remove it from spec.domains"))
        } else {
            None
        }
    })?;
    Some(Invalid::HostnameReserved { host: host.clone(), province: province.name_any(), what, fix })
}

/// Checks a Municipality against everything it refers to.
pub fn validate(municipality: &Municipality, inputs: Inputs<'_>) -> Result<ValidTenant, Invalid> {
    let spec = &municipality.spec;
    let name = municipality.name_any();
    let province = inputs.province.ok_or_else(|| Invalid::ProvinceNotFound(spec.province.clone()))?;
    let province_code = &province.spec.ine_code;

    identifiers::check_ine_code(&spec.ine_code, province_code)?;
    if let Some(dir3) = &spec.dir3 {
        identifiers::check_dir3(dir3, &spec.ine_code)?;
    }
    if let Some(nif) = &spec.nif {
        identifiers::check_nif(nif, province_code)?;
    }

    let rivals = || inputs.rivals.iter().filter(|o| o.name_any() != name && o.metadata.deletion_timestamp.is_none());
    if let Some(owner) =
        rivals().find(|o| o.spec.ine_code == spec.ine_code && claims::before(o, municipality, claims::holds_namespace))
    {
        return Err(Invalid::Conflict { ine_code: spec.ine_code.clone(), owner: owner.name_any() });
    }

    let plan_name =
        plan::effective_name(spec, &province.spec).ok_or_else(|| Invalid::PlanNotSet(province.name_any()))?.to_owned();
    let plan =
        inputs.plan.filter(|p| p.name_any() == plan_name).ok_or_else(|| Invalid::PlanNotFound(plan_name.clone()))?;

    let sara = match (spec.network.sara, &province.spec.network.sara) {
        (false, _) => None,
        (true, Some(sara)) => Some(sara.clone()),
        (true, None) => return Err(Invalid::SaraNotConfigured(province.name_any())),
    };

    let hosts = hosts(municipality, province);
    if let Some(invalid) = reserved(&hosts, province) {
        return Err(invalid);
    }
    for host in &hosts {
        let held = |m: &Municipality| claims::serves(m, host);
        if let Some(owner) =
            rivals().filter(|o| claims::before(o, municipality, held)).find(|o| claims::claims_host(o, host))
        {
            return Err(Invalid::HostnameConflict { host: host.clone(), owner: owner.name_any() });
        }
    }

    if let Some(used) = inputs.quota_used {
        let short = plan::shortfalls(&plan.spec, used);
        if !short.is_empty() {
            return Err(Invalid::QuotaBelowUsage { plan: plan_name, details: short.join(", ") });
        }
    }

    if spec.collaboration.enabled && plan.spec.collaboration.is_none() {
        return Err(Invalid::CollaborationNotOffered(plan_name));
    }
    let storage = volumes::check(municipality, province, plan, inputs.storage)?;
    let collaboration = match &plan.spec.collaboration {
        _ if !spec.collaboration.enabled => None,
        None => return Err(Invalid::CollaborationNotOffered(plan_name)),
        Some(offered) => {
            // Backed-up tenants run a backup (or restore, or drill) pod besides the suite.
            let backed_up = spec.backup.enabled && storage.is_some() && province.spec.backup.target.is_some();
            let sizing = suite::Sizing::for_users(offered.users);
            let sizing = if backed_up { sizing.with_backups() } else { sizing };
            let short = suite::shortfalls(&plan.spec, &sizing);
            if !short.is_empty() {
                let with = if backed_up {
                    " (the suite and one backup run: 100m/256Mi requested, 1 CPU/1Gi at most)"
                } else {
                    ""
                };
                return Err(Invalid::SuiteExceedsPlan {
                    plan: plan_name,
                    users: offered.users,
                    details: format!("{}{with}", short.join(", ")),
                });
            }
            Some(TenantCollaboration {
                users: offered.users,
                ingress_class: province.spec.ingress.class_name.clone(),
                office: province.spec.office.enabled.then(|| OfficePool {
                    url: format!("https://office.{}", province.spec.base_domain),
                    namespace: office_namespace(province_code),
                    service: tenant::office_service_url(province_code),
                }),
                images: images::resolve(&province.spec.images),
            })
        }
    };

    let backup =
        backup::resolve(municipality, province, plan, storage.is_some(), &images::resolve(&province.spec.images));
    Ok(ValidTenant {
        name,
        ine_code: spec.ine_code.clone(),
        display_name: spec.display_name.clone(),
        province: province.name_any(),
        ens_category: spec.ens_category,
        plan_name,
        plan: plan.spec.clone(),
        admins: spec.admins.clone(),
        auditors: spec.auditors.clone(),
        hosts,
        network: TenantNetwork {
            ingress_namespace: province.spec.network.ingress_namespace.clone(),
            monitoring_namespace: province.spec.network.monitoring_namespace.clone(),
            sara,
            egress: spec.network.egress.clone(),
        },
        pki: province.spec.pki.clone(),
        storage,
        collaboration,
        backup,
        suspend: spec.suspend,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::v1alpha1::MunicipalityStatus;
    use crate::testing::{created_at, leon, municipality, plan, valid};

    fn check(m: &Municipality) -> Result<ValidTenant, Invalid> {
        let (province, town) = (leon(), plan("town", "4"));
        validate(m, Inputs { province: Some(&province), plan: Some(&town), ..Default::default() })
    }

    fn with_rivals(m: &Municipality, rivals: &[&Municipality]) -> Result<ValidTenant, Invalid> {
        let (province, town) = (leon(), plan("town", "4"));
        validate(m, Inputs { province: Some(&province), plan: Some(&town), rivals, ..Default::default() })
    }

    #[test]
    fn valid_municipality_becomes_a_tenant() {
        let tenant = valid(&municipality("ponferrada", "24115"));
        assert_eq!(tenant.namespace(), "muni-24115");
        assert_eq!(tenant.plan_name, "town");
        assert_eq!(tenant.hosts, vec!["ponferrada.nube.dipuleon.es".to_owned()]);
    }

    #[test]
    fn identifiers_are_checked() {
        let mut m = municipality("leon", "24089");
        m.spec.dir3 = Some("L01240896".into());
        m.spec.nif = Some("P2409100A".into());
        assert!(check(&m).is_ok());
        m.spec.dir3 = Some("L01240895".into());
        assert_eq!(check(&m).unwrap_err().reason(), "InvalidDir3");
        m.spec.dir3 = None;
        m.spec.nif = Some("P2409100B".into());
        assert_eq!(check(&m).unwrap_err().reason(), "InvalidNif");
        assert_eq!(check(&municipality("x", "24999")).unwrap_err().reason(), "UnknownIneCode");
        let err = check(&municipality("madrid", "28079")).unwrap_err();
        assert_eq!(err.reason(), "ProvinceMismatch");
        assert!(err.to_string().contains("Madrid"), "{err}");
    }

    #[test]
    fn missing_province_and_plan_are_reported() {
        let m = municipality("ponferrada", "24115");
        assert_eq!(validate(&m, Inputs::default()).unwrap_err().reason(), "ProvinceNotFound");
        let province = leon();
        let err = validate(&m, Inputs { province: Some(&province), ..Default::default() }).unwrap_err();
        assert_eq!(err, Invalid::PlanNotFound("town".into()));
        // A plan of another name is not the one in effect.
        let other = plan("city", "8");
        let err = validate(&m, Inputs { province: Some(&province), plan: Some(&other), ..Default::default() });
        assert_eq!(err.unwrap_err(), Invalid::PlanNotFound("town".into()));
        let mut province = leon();
        province.spec.default_plan = None;
        let err = validate(&m, Inputs { province: Some(&province), ..Default::default() }).unwrap_err();
        assert_eq!(err.reason(), "PlanNotSet");
    }

    #[test]
    fn the_younger_of_two_municipalities_with_one_code_is_the_conflict() {
        let older = municipality("ponferrada", "24115");
        let younger = created_at(municipality("ponferrada-bis", "24115"), 10);
        let err = with_rivals(&younger, &[&older]).unwrap_err();
        assert!(err.is_conflict());
        assert!(err.to_string().contains("\"ponferrada\""), "{err}");
        assert!(with_rivals(&older, &[&younger]).is_ok());
    }

    #[test]
    fn the_tenant_already_provisioned_keeps_its_code_whatever_the_ages() {
        let mut incumbent = created_at(municipality("villablino", "24202"), 10);
        incumbent.status = Some(MunicipalityStatus { namespace: Some("muni-24202".into()), ..Default::default() });
        let newcomer = municipality("aaa-villablino", "24202"); // older and alphabetically first
        assert!(with_rivals(&newcomer, &[&incumbent]).unwrap_err().is_conflict());
    }

    #[test]
    fn a_hostname_belongs_to_its_first_claimant() {
        let mut older = municipality("leon", "24089");
        older.spec.domains = vec!["nube.aytoleon.es".into()];
        let mut younger = created_at(municipality("ponferrada", "24115"), 10);
        younger.spec.domains = vec!["nube.aytoleon.es".into()];
        assert_eq!(with_rivals(&younger, &[&older]).unwrap_err().reason(), "HostnameConflict");
        assert!(with_rivals(&older, &[&younger]).is_ok());
    }

    #[test]
    fn the_provinces_own_hostnames_are_reserved() {
        let mut m = municipality("ponferrada", "24115");
        m.spec.domains = vec!["office.nube.dipuleon.es".into()];
        let err = check(&m).unwrap_err();
        assert_eq!(err.reason(), "HostnameReserved");
        assert!(err.to_string().contains("office pool"), "{err}");
        m.spec.domains = vec!["nube.dipuleon.es".into()];
        assert_eq!(check(&m).unwrap_err().reason(), "HostnameReserved");
        // A Municipality named "office" would be served at the pool's host.
        let err = check(&municipality("office", "24116")).unwrap_err();
        assert!(err.to_string().contains("\"office.nube.dipuleon.es\""), "{err}");
        m.spec.domains = vec!["office.ponferrada.nube.dipuleon.es".into()];
        assert!(check(&m).is_ok());
    }

    #[test]
    fn sara_needs_the_province_to_configure_it() {
        let mut m = municipality("ponferrada", "24115");
        m.spec.network.sara = true;
        assert_eq!(check(&m).unwrap_err().reason(), "SaraNotConfigured");
    }

    #[test]
    fn a_plan_below_current_usage_is_refused() {
        let m = municipality("ponferrada", "24115");
        let (province, small) = (leon(), plan("town", "2"));
        let used: BTreeMap<String, Quantity> =
            [("requests.cpu".to_owned(), Quantity("3".into())), ("pods".to_owned(), Quantity("5".into()))].into();
        let inputs =
            Inputs { province: Some(&province), plan: Some(&small), quota_used: Some(&used), ..Default::default() };
        let err = validate(&m, inputs).unwrap_err();
        assert_eq!(err.reason(), "QuotaBelowUsage");
        assert!(err.to_string().contains("requests.cpu 3 used > 2"), "{err}");
        let big = plan("town", "4");
        assert!(validate(&m, Inputs { plan: Some(&big), ..inputs }).is_ok());
    }

    fn suite(m: &mut Municipality) {
        m.spec.collaboration.enabled = true;
    }

    #[test]
    fn a_suite_larger_than_the_plan_is_refused_with_the_numbers() {
        let mut m = municipality("leon", "24089");
        suite(&mut m);
        let province = leon();
        let mut small = plan("town", "1");
        small.spec.quota.memory = "1Gi".into();
        let err =
            validate(&m, Inputs { province: Some(&province), plan: Some(&small), ..Default::default() }).unwrap_err();
        assert_eq!(err.reason(), "SuiteExceedsPlan");
        assert!(err.to_string().contains("limits.cpu 1300m > 1"), "{err}");
        small.spec.collaboration = None;
        let err =
            validate(&m, Inputs { province: Some(&province), plan: Some(&small), ..Default::default() }).unwrap_err();
        assert_eq!(err.reason(), "CollaborationNotOffered");
    }
}
