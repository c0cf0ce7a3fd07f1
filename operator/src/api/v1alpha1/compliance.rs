//! ENS compliance as concejo shows it: per tenant, one verdict per measure of Annex II of Real
//! Decreto 311/2022 that concejo enforces; per province, their roll-up.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One ENS measure for one tenant, as concejo found it on its last reconcile.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComplianceEntry {
    /// The measure, e.g. `mp.info.6` (backups), `mp.com.4` (segregation).
    pub measure: String,
    pub status: ComplianceStatus,
    /// What was checked, and what is missing when it is not met.
    pub message: String,
}

/// Whether a measure holds.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ComplianceStatus {
    Met,
    NotMet,
    /// Not required for the tenant's ENS category, or nothing it applies to (no data volumes).
    NotApplicable,
}

/// A province's tenants, by compliance.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvinceCompliance {
    /// Municipalities whose `Compliant` condition is True.
    pub compliant: i32,
    /// Per measure, how many tenants meet it and how many do not (NotApplicable ones are in neither).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measures: Vec<MeasureCount>,
}

/// How many tenants of a province meet one measure.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeasureCount {
    pub measure: String,
    pub met: i32,
    pub not_met: i32,
}
