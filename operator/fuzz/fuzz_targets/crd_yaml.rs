//! Decoding every CRD from YAML (what `kubectl concejo` and `concejo generate` read), then the
//! same as for JSON: validate and build.
#![no_main]

use concejo::api::v1alpha1::{Backup, Municipality, Province, Restore, ServicePlan};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(m) = serde_saphyr::from_str::<Municipality>(text) {
        common::municipality(&m);
    }
    if let Ok(p) = serde_saphyr::from_str::<Province>(text) {
        common::province(&p);
    }
    if let Ok(plan) = serde_saphyr::from_str::<ServicePlan>(text) {
        common::plan(&plan);
    }
    let _ = serde_saphyr::from_str::<Backup>(text);
    let _ = serde_saphyr::from_str::<Restore>(text);
});
