//! `concejo.dev/v1alpha1`: Province and Municipality.

mod municipality;
mod province;

pub use municipality::{Municipality, MunicipalitySpec, MunicipalityStatus, Phase};
pub use province::{Province, ProvinceSpec};
