// clippy reads the repeated `type_ = "string"` of the printcolumn(...) lists as duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One town hall, one tenant: the operator turns it into namespace `muni-<ineCode>`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "concejo.dev",
    version = "v1alpha1",
    kind = "Municipality",
    shortname = "muni",
    category = "concejo",
    status = "MunicipalityStatus",
    derive = "PartialEq",
    doc = "One town hall (ayuntamiento), turned by concejo into an isolated tenant.",
    printcolumn(name = "INE", type_ = "string", json_path = ".spec.ineCode"),
    printcolumn(name = "Name", type_ = "string", json_path = ".spec.displayName"),
    printcolumn(name = "Province", type_ = "string", json_path = ".spec.province"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Namespace", type_ = "string", json_path = ".status.namespace", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct MunicipalitySpec {
    /// Name of the Province (a cluster-scoped Province object) this town hall belongs to.
    #[schemars(length(min = 1, max = 63))]
    pub province: String,

    /// Five-digit INE municipality code: two digits of province, three of municipality (León is
    /// "24089"). Immutable; the tenant namespace is `muni-<ineCode>`.
    #[x_kube(validation = Rule::new("self.matches('^[0-9]{5}$')").message(
        "ineCode must be the 5-digit INE municipality code, for example \"24089\" for León, written as a quoted string"
    ))]
    #[x_kube(validation = Rule::new("self == oldSelf").message(
        "ineCode is immutable: it names the tenant namespace; create a new Municipality instead"
    ))]
    #[schemars(length(max = 5))]
    pub ine_code: String,

    /// Human-readable name of the town hall, for example "Ponferrada".
    #[schemars(length(min = 1, max = 200))]
    pub display_name: String,
}

/// Lifecycle of a tenant, as shown in `kubectl get municipalities`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    /// Seen, but nothing provisioned yet (for example while the spec is invalid).
    Pending,
    /// Objects are being created or brought back to their desired state.
    Provisioning,
    /// Every managed object exists as declared.
    Ready,
    /// Provisioned once, but something is wrong now (see the conditions).
    Degraded,
    /// The Municipality is being deleted.
    Terminating,
}

/// What the operator observed and did; written by concejo only.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MunicipalityStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Summary of the conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,

    /// The tenant namespace, `muni-<ineCode>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,

    /// Standard conditions: `Valid` (the spec can be honoured) and `Ready` (the tenant is provisioned).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
