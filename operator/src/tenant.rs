//! Validation: a Municipality plus what it refers to becomes a [`ValidTenant`], or the reason why not.
//!
//! Pure functions, no client: everything the reconciler needs is passed in.

use crate::api::v1alpha1::{Municipality, Province};
use kube::ResourceExt;

/// Everything needed to build the tenant's objects, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidTenant {
    /// `metadata.name` of the Municipality.
    pub name: String,
    pub ine_code: String,
    pub display_name: String,
    /// `metadata.name` of the Province.
    pub province: String,
    pub province_ine_code: String,
    pub base_domain: String,
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

/// Why a Municipality cannot be honoured; becomes `Valid=False` with this reason and message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("Province {province:?} does not exist; create it or correct spec.province")]
    ProvinceNotFound { province: String },
    #[error(
        "ineCode {ine_code:?} does not belong to Province {province:?}, whose INE code is {province_code:?}: \
         a municipality's INE code starts with its province's two digits"
    )]
    ProvinceMismatch { ine_code: String, province: String, province_code: String },
}

impl Invalid {
    /// The PascalCase reason of the `Valid=False` condition.
    pub fn reason(&self) -> &'static str {
        match self {
            Invalid::ProvinceNotFound { .. } => "ProvinceNotFound",
            Invalid::ProvinceMismatch { .. } => "ProvinceMismatch",
        }
    }
}

/// Checks a Municipality against its Province (`None` when that Province does not exist).
pub fn validate(municipality: &Municipality, province: Option<&Province>) -> Result<ValidTenant, Invalid> {
    let spec = &municipality.spec;
    let province = province.ok_or_else(|| Invalid::ProvinceNotFound { province: spec.province.clone() })?;
    if !spec.ine_code.starts_with(&province.spec.ine_code) {
        return Err(Invalid::ProvinceMismatch {
            ine_code: spec.ine_code.clone(),
            province: spec.province.clone(),
            province_code: province.spec.ine_code.clone(),
        });
    }
    Ok(ValidTenant {
        name: municipality.name_any(),
        ine_code: spec.ine_code.clone(),
        display_name: spec.display_name.clone(),
        province: province.name_any(),
        province_ine_code: province.spec.ine_code.clone(),
        base_domain: province.spec.base_domain.clone(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::v1alpha1::{MunicipalitySpec, ProvinceSpec};

    pub fn leon() -> Province {
        Province::new(
            "leon",
            ProvinceSpec {
                ine_code: "24".into(),
                display_name: "Diputación de León".into(),
                base_domain: "nube.dipuleon.es".into(),
            },
        )
    }

    pub fn municipality(name: &str, ine_code: &str) -> Municipality {
        Municipality::new(
            name,
            MunicipalitySpec { province: "leon".into(), ine_code: ine_code.into(), display_name: name.into() },
        )
    }

    #[test]
    fn valid_municipality_becomes_a_tenant() {
        let tenant = validate(&municipality("ponferrada", "24115"), Some(&leon())).unwrap();
        assert_eq!(tenant.namespace(), "muni-24115");
        assert_eq!(tenant.province, "leon");
        assert_eq!(tenant.base_domain, "nube.dipuleon.es");
    }

    #[test]
    fn unknown_province_is_reported() {
        let err = validate(&municipality("ponferrada", "24115"), None).unwrap_err();
        assert_eq!(err.reason(), "ProvinceNotFound");
        assert!(err.to_string().contains("\"leon\" does not exist"));
    }

    #[test]
    fn code_of_another_province_is_reported() {
        let err = validate(&municipality("madrid", "28079"), Some(&leon())).unwrap_err();
        assert_eq!(err.reason(), "ProvinceMismatch");
        assert!(err.to_string().contains("\"28079\""), "{err}");
    }
}
