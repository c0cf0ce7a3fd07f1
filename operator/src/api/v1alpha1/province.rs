// clippy reads the repeated `type_ = "string"` of the printcolumn(...) lists as duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Desired state of a Province: the Diputación's codes, domain, default plan and network.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "concejo.dev",
    version = "v1alpha1",
    kind = "Province",
    shortname = "prov",
    category = "concejo",
    status = "ProvinceStatus",
    derive = "PartialEq",
    doc = "A Diputación (provincial government) that runs a secure cloud for its town halls.",
    printcolumn(name = "INE", type_ = "string", json_path = ".spec.ineCode"),
    printcolumn(name = "Display Name", type_ = "string", json_path = ".spec.displayName"),
    printcolumn(name = "Domain", type_ = "string", json_path = ".spec.baseDomain"),
    printcolumn(name = "Municipalities", type_ = "integer", json_path = ".status.municipalities"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.ready"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct ProvinceSpec {
    /// Two-digit INE province code, "01" (Araba/Álava) to "52" (Melilla); León is "24".
    /// Immutable: every tenant of the province is named after it.
    #[x_kube(validation = Rule::new("self.matches('^(0[1-9]|[1-4][0-9]|5[0-2])$')").message(
        "ineCode must be the 2-digit INE province code, from \"01\" to \"52\" (León is \"24\"), written as a quoted string"
    ))]
    #[x_kube(validation = Rule::new("self == oldSelf").message(
        "ineCode is immutable: create a new Province instead of renumbering this one"
    ))]
    #[schemars(length(max = 2))]
    pub ine_code: String,

    /// Human-readable name, for example "Diputación de León".
    #[schemars(length(min = 1, max = 200))]
    pub display_name: String,

    /// DNS domain under which tenants are served: each Municipality gets `<name>.<baseDomain>`.
    #[x_kube(validation = Rule::new(
        "self.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?\\\\.)+[a-z]{2,63}$')"
    ).message(
        "baseDomain must be a lower-case DNS domain with at least two labels, for example nube.dipuleon.es"
    ))]
    #[schemars(length(min = 4, max = 200))]
    pub base_domain: String,

    /// ServicePlan of the Municipalities of this province that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub default_plan: Option<String>,

    /// Which platform namespaces may reach tenants, and Red SARA.
    #[serde(default)]
    pub network: ProvinceNetwork,
}

/// The province's network: platform namespaces allowed into tenants, and Red SARA.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvinceNetwork {
    /// The only namespace allowed to reach tenant web services (the ingress controller's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub ingress_namespace: Option<String>,

    /// Namespace allowed to scrape tenant metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub monitoring_namespace: Option<String>,

    /// Red SARA, reached through the provincial node. Tenants with `network.sara: true` may send
    /// traffic to these ranges and nothing else of SARA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sara: Option<Sara>,
}

/// Red SARA endpoints of the province: configuration, since they differ per environment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sara {
    /// Private ranges of Red SARA behind the provincial node, e.g. 10.252.0.0/16.
    #[x_kube(validation = Rule::new("self.all(c, isCIDR(c))").message(
        "every sara.cidrs entry must be a CIDR such as 10.252.0.0/16"
    ))]
    #[schemars(length(min = 1, max = 32), inner(length(max = 43)))]
    pub cidrs: Vec<String>,

    /// DNS resolver for SARA zones; tenants with SARA may query it on port 53.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isIP(self)").message("sara.resolver must be an IP address such as 10.252.0.53"))]
    #[schemars(length(max = 45))]
    pub resolver: Option<String>,
}

/// What concejo observed of the province's tenants; written by concejo only.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvinceStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// How many Municipalities name this province.
    #[serde(default)]
    pub municipalities: i32,
    /// How many of them are Ready.
    #[serde(default)]
    pub ready: i32,
    /// `TenantsReady`: every Municipality of the province is Ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
