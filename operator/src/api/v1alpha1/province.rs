// clippy reads the repeated `type_ = "string"` of the printcolumn(...) lists as duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// A Diputación (provincial government) that runs a secure cloud for its town halls.
///
/// One object per province served by this cluster; every Municipality names the Province it
/// belongs to.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "concejo.dev",
    version = "v1alpha1",
    kind = "Province",
    shortname = "prov",
    category = "concejo",
    doc = "A Diputación (provincial government) that runs a secure cloud for its town halls.",
    printcolumn(name = "INE", type_ = "string", json_path = ".spec.ineCode"),
    printcolumn(name = "Name", type_ = "string", json_path = ".spec.displayName"),
    printcolumn(name = "Domain", type_ = "string", json_path = ".spec.baseDomain"),
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
}
