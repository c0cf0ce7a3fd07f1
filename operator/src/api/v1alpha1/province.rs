// clippy reads the repeated `type_ = "string"` of the printcolumn(...) lists as duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::backup::ProvinceBackup;
use super::rules;

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
    printcolumn(name = "Office Hosts", type_ = "integer", json_path = ".status.office.hosts", priority = 1),
    printcolumn(
        name = "Office Replicas",
        type_ = "integer",
        json_path = ".status.office.availableReplicas",
        priority = 1
    ),
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
    #[x_kube(validation = rules::object_name("defaultPlan", "town"))]
    #[schemars(length(min = 1, max = 63))]
    pub default_plan: Option<String>,

    /// Which platform namespaces may reach tenants, and Red SARA.
    #[serde(default)]
    pub network: ProvinceNetwork,

    /// The provincial certificate authority and the tenants' TLS certificates.
    #[serde(default)]
    pub pki: ProvincePki,

    /// How tenant web services are exposed.
    #[serde(default)]
    pub ingress: ProvinceIngress,

    /// Where the images concejo runs come from.
    #[serde(default)]
    pub images: Images,

    /// The StorageClasses tenants may use.
    #[serde(default)]
    pub storage: ProvinceStorage,

    /// One shared office-document pool (Collabora Online) for the province's town halls.
    #[serde(default)]
    pub office: Office,

    /// Where tenants' backups go, when they start, how often restores are drilled.
    #[serde(default)]
    pub backup: ProvinceBackup,
}

/// How tenant web services are exposed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvinceIngress {
    /// IngressClass of tenant web services and the office pool (e.g. "nginx"); the cluster's
    /// default class when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = rules::object_name("ingress.className", "nginx"))]
    #[schemars(length(min = 1, max = 253))]
    pub class_name: Option<String>,
}

/// Images of the workloads concejo runs. Each reference may be replaced, tag or digest
/// (`registry.dipuleon.es/nextcloud@sha256:...`); see docs/collaboration.md for the defaults.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Images {
    /// Registry mirror that replaces `docker.io` in every default image, e.g.
    /// `registry.dipuleon.es/mirror` (then `registry.dipuleon.es/mirror/library/postgres:17.6`).
    /// References set below are used as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub registry: Option<String>,
    /// Nextcloud (php-fpm variant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub nextcloud: Option<String>,
    /// The unprivileged nginx in front of Nextcloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub web: Option<String>,
    /// PostgreSQL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub postgres: Option<String>,
    /// Redis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub redis: Option<String>,
    /// Collabora Online, for the office pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub office: Option<String>,
    /// restic, copied into the backup, restore and drill Jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub restic: Option<String>,
    /// rclone, the province's backup repository server (`rclone serve restic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub rclone: Option<String>,
}

/// The StorageClasses tenants may use.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvinceStorage {
    /// The only classes tenant volumes may use; the first encrypted one is the default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub classes: Vec<StorageClassRef>,
}

/// A StorageClass of the cluster offered to tenants.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageClassRef {
    /// Name of the StorageClass.
    #[x_kube(validation = rules::object_name("storage.classes[].name", "cifrado-ssd"))]
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Whether its volumes are encrypted at rest (ENS mp.si.2): only encrypted classes may hold
    /// the data of ENS Media and Alta tenants.
    #[serde(default)]
    pub encrypted: bool,
}

/// The province's office-document pool.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Office {
    /// Run the pool, served at `office.<baseDomain>` to the tenants with collaboration enabled.
    #[serde(default)]
    pub enabled: bool,
    /// Users of the tenants' plans one replica serves (default 15): replicas = total users /
    /// usersPerReplica, rounded up.
    #[serde(default = "default_users_per_replica")]
    #[schemars(range(min = 1, max = 1000))]
    pub users_per_replica: i32,
    /// The most replicas the pool may have (default 20).
    #[serde(default = "default_max_replicas")]
    #[schemars(range(min = 1, max = 500))]
    pub max_replicas: i32,
}

impl Default for Office {
    fn default() -> Self {
        Self { enabled: false, users_per_replica: default_users_per_replica(), max_replicas: default_max_replicas() }
    }
}

fn default_users_per_replica() -> i32 {
    15
}
fn default_max_replicas() -> i32 {
    20
}

/// The provincial CA: a root (generated by concejo, or brought by the Diputación) and an
/// intermediate name-constrained to the province's domains, which signs every tenant certificate.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvincePki {
    /// Name of a `kubernetes.io/tls` Secret in the operator's namespace holding the Diputación's
    /// own root CA (`tls.crt`, `tls.key`). concejo reads it and never writes it. Empty: concejo
    /// generates and keeps the root itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub root_secret: Option<String>,

    /// Key type of the CA and tenant certificates: ECDSAP256 (default) or RSA3072.
    #[serde(default)]
    pub key_algorithm: KeyAlgorithm,

    /// Lifetime of tenant certificates, a duration such as "2160h" (90 days, the default).
    /// They are renewed at two thirds of it.
    #[serde(default = "default_certificate_duration")]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1m')").message(
        "certificateDuration must be a duration of at least 1m, such as \"2160h\""
    ))]
    #[schemars(length(max = 20))]
    pub certificate_duration: String,

    /// Lifetime of the intermediate CA (default "8760h", a year); re-issued at two thirds of it.
    #[serde(default = "default_intermediate_duration")]
    #[x_kube(validation = Rule::new("duration(self) >= duration('2m')").message(
        "intermediateDuration must be a duration of at least 2m, such as \"8760h\""
    ))]
    #[schemars(length(max = 20))]
    pub intermediate_duration: String,

    /// Lifetime of a root CA concejo generates (default "87600h", ten years); a new root is
    /// introduced at two thirds of it, trusted alongside the old one for `certificateDuration`.
    #[serde(default = "default_root_duration")]
    #[x_kube(validation = Rule::new("duration(self) >= duration('2m')").message(
        "rootDuration must be a duration of at least 2m, such as \"87600h\""
    ))]
    #[schemars(length(max = 20))]
    pub root_duration: String,
}

impl Default for ProvincePki {
    fn default() -> Self {
        Self {
            root_secret: None,
            key_algorithm: KeyAlgorithm::default(),
            certificate_duration: default_certificate_duration(),
            intermediate_duration: default_intermediate_duration(),
            root_duration: default_root_duration(),
        }
    }
}

fn default_certificate_duration() -> String {
    "2160h".into()
}
fn default_intermediate_duration() -> String {
    "8760h".into()
}
fn default_root_duration() -> String {
    "87600h".into()
}

/// Key type of certificates (ENS mp.com.2/3: ECDSA P-256 or RSA of at least 3072 bits).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum KeyAlgorithm {
    #[default]
    #[serde(rename = "ECDSAP256")]
    EcdsaP256,
    #[serde(rename = "RSA3072")]
    Rsa3072,
}

/// The province's network: platform namespaces allowed into tenants, and Red SARA.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvinceNetwork {
    /// The only namespace allowed to reach tenant web services (the ingress controller's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = rules::namespace_name("network.ingressNamespace", "ingress-nginx"))]
    #[schemars(length(min = 1, max = 63))]
    pub ingress_namespace: Option<String>,

    /// Namespace allowed to scrape tenant metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = rules::namespace_name("network.monitoringNamespace", "monitoring"))]
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
    #[x_kube(validation = rules::sara_cidrs_width())]
    #[x_kube(validation = rules::sara_cidrs_not_special())]
    #[schemars(length(min = 1, max = 32), inner(length(max = 43)))]
    pub cidrs: Vec<String>,

    /// DNS resolver for SARA zones; tenants with SARA may query it on port 53.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isIP(self)").message("sara.resolver must be an IP address such as 10.252.0.53"))]
    #[x_kube(validation = rules::sara_resolver())]
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
    /// The office-document pool, when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office: Option<OfficeStatus>,
    /// Its tenants' ENS compliance: how many are Compliant, and per measure how many meet it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance: Option<super::ProvinceCompliance>,
    /// `Ready`: the CA, the office pool and the backup repository (those the Province has) are
    /// all ready, whatever its tenants' state; `CAReady`: the province's CA is in place; `TenantsReady`: every Municipality of the
    /// province is Ready; `OfficeReady`: the office pool is available; `BackupTargetReady`: the
    /// backup repository server runs with the target's credentials. A list keyed by type:
    /// each writer owns its types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// The office pool as concejo last saw it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OfficeStatus {
    /// Hosts allowed to open documents in the pool (every host of the tenants with collaboration).
    pub hosts: i32,
    /// Replicas the pool runs.
    pub replicas: i32,
    /// Replicas available now.
    #[serde(default)]
    pub available_replicas: i32,
    /// Where tenants reach it, `https://office.<baseDomain>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}
