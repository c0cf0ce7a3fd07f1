// clippy reads the repeated `type_ = "string"` of the printcolumn(...) lists as duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::backup::PlanBackup;
use super::rules;

/// Desired state of a ServicePlan: the size of tenant a Diputación offers.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "concejo.dev",
    version = "v1alpha1",
    kind = "ServicePlan",
    shortname = "plan",
    category = "concejo",
    derive = "PartialEq",
    doc = "A size of tenant (quota and container limits); changing it re-sizes every tenant on it.",
    printcolumn(name = "CPU", type_ = "string", json_path = ".spec.quota.cpu"),
    printcolumn(name = "Memory", type_ = "string", json_path = ".spec.quota.memory"),
    printcolumn(name = "Pods", type_ = "integer", json_path = ".spec.quota.pods"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct ServicePlanSpec {
    /// Human-readable description, e.g. "Town hall under 1,000 inhabitants".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub description: Option<String>,

    /// The tenant's ResourceQuota: the most it may request in all.
    pub quota: Quota,

    /// The tenant's LimitRange: what a container gets when it says nothing, and the most it may ask.
    pub limit_range: LimitRange,

    /// Size of the collaboration suite of the tenants on this plan; a plan without it offers none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collaboration: Option<PlanCollaboration>,

    /// Backup retention of the plan's tenants.
    #[serde(default)]
    pub backup: PlanBackup,
}

/// What the collaboration suite is sized for.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanCollaboration {
    /// Employees of the town hall who use it: sizes Nextcloud, PostgreSQL and the office pool.
    #[schemars(range(min = 1, max = 100000))]
    pub users: i32,
    /// Size of the file volume when the Municipality sets none, e.g. "100Gi".
    #[x_kube(validation = rules::quantity("collaboration.storage", "\"100Gi\""))]
    #[schemars(length(max = 20))]
    pub storage: String,
}

/// Totals for one tenant (ResourceQuota `requests.*`/`limits.*`, `requests.storage`, `pods`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    /// CPU, e.g. "4": the sum of requests and the sum of limits may not exceed it.
    #[x_kube(validation = rules::quantity("quota.cpu", "\"4\""))]
    #[schemars(length(max = 20))]
    pub cpu: String,
    /// Memory, e.g. "8Gi": the sum of requests and the sum of limits may not exceed it.
    #[x_kube(validation = rules::quantity("quota.memory", "\"8Gi\""))]
    #[schemars(length(max = 20))]
    pub memory: String,
    /// Persistent volume storage requested in all, e.g. "200Gi".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = rules::quantity("quota.storage", "\"200Gi\""))]
    #[schemars(length(max = 20))]
    pub storage: Option<String>,
    /// Number of pods.
    #[schemars(range(min = 1, max = 10000))]
    pub pods: i32,
}

/// Container defaults and ceilings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
// Compared only when every side is a quantity concejo accepts (see `rules::QUANTITY`): each field's
// own rule reports the others, and the API server's parser must never see an exponent it spins on.
#[x_kube(validation = Rule::new(format!(
    "![self.defaultCpu, self.maxCpu, self.defaultMemory, self.maxMemory].all(q, q.matches('{q}')) || \
     (quantity(self.defaultCpu).compareTo(quantity(self.maxCpu)) <= 0 && quantity(self.defaultMemory).compareTo(quantity(self.maxMemory)) <= 0)",
    q = rules::QUANTITY
)).message("limitRange defaults must not exceed its maxima (defaultCpu <= maxCpu, defaultMemory <= maxMemory)"))]
pub struct LimitRange {
    /// CPU limit (and request) of a container that sets none, e.g. "250m".
    #[x_kube(validation = rules::quantity("limitRange.defaultCpu", "\"250m\""))]
    #[schemars(length(max = 20))]
    pub default_cpu: String,
    /// Memory limit (and request) of a container that sets none, e.g. "256Mi".
    #[x_kube(validation = rules::quantity("limitRange.defaultMemory", "\"256Mi\""))]
    #[schemars(length(max = 20))]
    pub default_memory: String,
    /// The most CPU one container may use, e.g. "2".
    #[x_kube(validation = rules::quantity("limitRange.maxCpu", "\"2\""))]
    #[schemars(length(max = 20))]
    pub max_cpu: String,
    /// The most memory one container may use, e.g. "4Gi".
    #[x_kube(validation = rules::quantity("limitRange.maxMemory", "\"4Gi\""))]
    #[schemars(length(max = 20))]
    pub max_memory: String,
}
