//! Validation: a Municipality plus what it refers to becomes a [`ValidTenant`], or the reason why not.
//!
//! Pure functions, no client: everything the reconciler knows is passed in as [`Inputs`].

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::ResourceExt;

use crate::api::v1alpha1::{
    EgressRule, EnsCategory, Municipality, Province, ProvincePki, Sara, ServicePlan, ServicePlanSpec, Subject,
};
use crate::identifiers::{self, IdentifierError};
use crate::{quantity, resource_quota};

/// Everything needed to build the tenant's objects, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidTenant {
    /// `metadata.name` of the Municipality.
    pub name: String,
    pub ine_code: String,
    pub display_name: String,
    /// `metadata.name` of the Province.
    pub province: String,
    pub ens_category: EnsCategory,
    pub plan_name: String,
    pub plan: ServicePlanSpec,
    pub admins: Vec<Subject>,
    pub auditors: Vec<Subject>,
    /// `<name>.<baseDomain>` first, then `spec.domains`.
    pub hosts: Vec<String>,
    pub network: TenantNetwork,
    /// The province's certificate settings.
    pub pki: ProvincePki,
}

/// The network a tenant may use, resolved from its Province and its own spec.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TenantNetwork {
    pub ingress_namespace: Option<String>,
    pub monitoring_namespace: Option<String>,
    /// The province's SARA, when the tenant asked for it.
    pub sara: Option<Sara>,
    pub egress: Vec<EgressRule>,
}

impl ValidTenant {
    /// The tenant namespace, `muni-<ineCode>`.
    pub fn namespace(&self) -> String {
        namespace_name(&self.ine_code)
    }
}

/// The tenant namespace of an INE code: unique per municipality by construction.
pub fn namespace_name(ine_code: &str) -> String {
    format!("muni-{ine_code}")
}

/// What validation may look at besides the Municipality itself.
#[derive(Clone, Copy, Default)]
pub struct Inputs<'a> {
    /// The Municipality's Province, if it exists.
    pub province: Option<&'a Province>,
    /// Every ServicePlan, to find the one in effect.
    pub plans: &'a [&'a ServicePlan],
    /// Every other Municipality, for INE code and hostname conflicts.
    pub others: &'a [&'a Municipality],
    /// What the tenant's live ResourceQuota says is in use (`status.used`), if it exists.
    pub quota_used: Option<&'a BTreeMap<String, Quantity>>,
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
    #[error(
        "ServicePlan {plan:?} would set the quota below what the tenant already uses ({details}); \
         the current quota is kept until usage drops or a larger plan is chosen"
    )]
    QuotaBelowUsage { plan: String, details: String },
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
            Invalid::QuotaBelowUsage { .. } => "QuotaBelowUsage",
        }
    }

    /// A conflict: this Municipality must not touch the tenant namespace at all.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Invalid::Conflict { .. })
    }
}

/// Whether `a`'s claim (on an INE code or a hostname) comes before `b`'s: the one already
/// holding it (`held`) keeps it; otherwise the older object, then the name (creation times have
/// one-second resolution).
fn claimed_before(a: &Municipality, b: &Municipality, held: impl Fn(&Municipality) -> bool) -> bool {
    let key = |m: &Municipality| (!held(m), m.metadata.creation_timestamp.clone().map(|t| t.0), m.name_any());
    key(a) < key(b)
}

fn holds_namespace(m: &Municipality) -> bool {
    m.status.as_ref().is_some_and(|s| s.namespace.is_some())
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

    let others = || inputs.others.iter().filter(|o| o.name_any() != name && o.metadata.deletion_timestamp.is_none());
    if let Some(owner) =
        others().find(|o| o.spec.ine_code == spec.ine_code && claimed_before(o, municipality, holds_namespace))
    {
        return Err(Invalid::Conflict { ine_code: spec.ine_code.clone(), owner: owner.name_any() });
    }

    let plan_name = spec
        .plan
        .clone()
        .or_else(|| province.spec.default_plan.clone())
        .ok_or_else(|| Invalid::PlanNotSet(province.name_any()))?;
    let plan = inputs
        .plans
        .iter()
        .find(|p| p.name_any() == plan_name)
        .ok_or_else(|| Invalid::PlanNotFound(plan_name.clone()))?;

    let sara = match (spec.network.sara, &province.spec.network.sara) {
        (false, _) => None,
        (true, Some(sara)) => Some(sara.clone()),
        (true, None) => return Err(Invalid::SaraNotConfigured(province.name_any())),
    };

    let mut hosts = vec![format!("{name}.{}", province.spec.base_domain)];
    for domain in &spec.domains {
        if !hosts.contains(domain) {
            hosts.push(domain.clone());
        }
    }
    for host in &hosts {
        let served_by = |o: &&&Municipality| {
            o.spec.domains.contains(host) || o.status.as_ref().is_some_and(|s| s.hosts.contains(host))
        };
        let serves = |m: &Municipality| m.status.as_ref().is_some_and(|s| s.hosts.contains(host));
        if let Some(owner) = others().filter(|o| claimed_before(o, municipality, serves)).find(served_by) {
            return Err(Invalid::HostnameConflict { host: host.clone(), owner: owner.name_any() });
        }
    }

    if let Some(used) = inputs.quota_used {
        let short = quota_shortfalls(&plan.spec, used);
        if !short.is_empty() {
            return Err(Invalid::QuotaBelowUsage { plan: plan_name, details: short.join(", ") });
        }
    }

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
    })
}

/// Each quota resource the plan would set below current usage, as "requests.cpu 3 used > 2".
fn quota_shortfalls(plan: &ServicePlanSpec, used: &BTreeMap<String, Quantity>) -> Vec<String> {
    resource_quota::hard(plan)
        .into_iter()
        .filter_map(|(resource, limit)| {
            let in_use = used.get(&resource)?;
            let (u, l) = (quantity::parse_milli(&in_use.0)?, quantity::parse_milli(&limit.0)?);
            (u > l).then(|| format!("{resource} {} used > {}", in_use.0, limit.0))
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::v1alpha1::{LimitRange, MunicipalitySpec, ProvinceSpec, Quota};
    use k8s_openapi::jiff::Timestamp;

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
            },
        )
    }

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
            },
        )
    }

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
                deletion_policy: Default::default(),
            },
        );
        m.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::UNIX_EPOCH));
        m
    }

    pub fn valid(m: &Municipality) -> ValidTenant {
        let (province, town) = (leon(), plan("town", "4"));
        validate(m, Inputs { province: Some(&province), plans: &[&town], ..Default::default() }).unwrap()
    }

    fn check(m: &Municipality) -> Result<ValidTenant, Invalid> {
        let (province, town) = (leon(), plan("town", "4"));
        validate(m, Inputs { province: Some(&province), plans: &[&town], ..Default::default() })
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
        let mut province = leon();
        province.spec.default_plan = None;
        let err = validate(&m, Inputs { province: Some(&province), ..Default::default() }).unwrap_err();
        assert_eq!(err.reason(), "PlanNotSet");
    }

    #[test]
    fn the_younger_of_two_municipalities_with_one_code_is_the_conflict() {
        let older = municipality("ponferrada", "24115");
        let mut younger = municipality("ponferrada-bis", "24115");
        younger.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::from_second(10).unwrap()));
        let (province, town) = (leon(), plan("town", "4"));
        let plans = [&town];
        let inputs = |others| Inputs { province: Some(&province), plans: &plans, others, quota_used: None };
        let (just_older, just_younger) = ([&older], [&younger]);
        let err = validate(&younger, inputs(&just_older)).unwrap_err();
        assert!(err.is_conflict());
        assert!(err.to_string().contains("\"ponferrada\""), "{err}");
        assert!(validate(&older, inputs(&just_younger)).is_ok());
    }

    #[test]
    fn the_tenant_already_provisioned_keeps_its_code_whatever_the_ages() {
        let mut incumbent = municipality("villablino", "24202");
        incumbent.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::from_second(10).unwrap()));
        incumbent.status = Some(crate::api::v1alpha1::MunicipalityStatus {
            namespace: Some("muni-24202".into()),
            ..Default::default()
        });
        let newcomer = municipality("aaa-villablino", "24202"); // older and alphabetically first
        let (province, town) = (leon(), plan("town", "4"));
        let (plans, others) = ([&town], [&incumbent]);
        let inputs = Inputs { province: Some(&province), plans: &plans, others: &others, quota_used: None };
        assert!(validate(&newcomer, inputs).unwrap_err().is_conflict());
    }

    #[test]
    fn a_hostname_belongs_to_its_first_claimant() {
        let mut older = municipality("leon", "24089");
        older.spec.domains = vec!["nube.aytoleon.es".into()];
        let mut younger = municipality("ponferrada", "24115");
        younger.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::from_second(10).unwrap()));
        younger.spec.domains = vec!["nube.aytoleon.es".into()];
        let (province, town) = (leon(), plan("town", "4"));
        let err = validate(
            &younger,
            Inputs { province: Some(&province), plans: &[&town], others: &[&older], quota_used: None },
        )
        .unwrap_err();
        assert_eq!(err.reason(), "HostnameConflict");
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
        let inputs = Inputs { province: Some(&province), plans: &[&small], others: &[], quota_used: Some(&used) };
        let err = validate(&m, inputs).unwrap_err();
        assert_eq!(err.reason(), "QuotaBelowUsage");
        assert!(err.to_string().contains("requests.cpu 3 used > 2"), "{err}");
        let big = plan("town", "4");
        assert!(validate(&m, Inputs { plans: &[&big], ..inputs }).is_ok());
    }
}
