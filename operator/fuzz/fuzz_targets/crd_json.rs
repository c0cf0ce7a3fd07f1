//! Decoding every CRD from JSON (what the operator receives from the API server), and what the
//! operator then does with a decoded object: validate it and build the tenant's objects.
#![no_main]

use concejo::api::v1alpha1::{Backup, Municipality, Province, Restore, ServicePlan};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = serde_json::from_slice::<Municipality>(data) {
        common::round_trip(&m, |v| serde_json::from_value(v).unwrap());
        common::municipality(&m);
    }
    if let Ok(p) = serde_json::from_slice::<Province>(data) {
        common::round_trip(&p, |v| serde_json::from_value(v).unwrap());
        common::province(&p);
    }
    if let Ok(plan) = serde_json::from_slice::<ServicePlan>(data) {
        common::round_trip(&plan, |v| serde_json::from_value(v).unwrap());
        common::plan(&plan);
    }
    if let Ok(b) = serde_json::from_slice::<Backup>(data) {
        common::round_trip(&b, |v| serde_json::from_value(v).unwrap());
    }
    if let Ok(r) = serde_json::from_slice::<Restore>(data) {
        common::round_trip(&r, |v| serde_json::from_value(v).unwrap());
    }
});
