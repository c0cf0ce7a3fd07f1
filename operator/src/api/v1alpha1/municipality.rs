// clippy reads the repeated `type_ = "string"` of the printcolumn(...) lists as duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::backup::{BackupStatus, MunicipalityBackup};
use super::rules;

/// Desired state of a Municipality: who the town hall is, its plan, who administers it, what it
/// may reach. Only GitOps tools and people write it; concejo writes `status`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "concejo.dev",
    version = "v1alpha1",
    kind = "Municipality",
    shortname = "muni",
    category = "concejo",
    status = "MunicipalityStatus",
    derive = "PartialEq",
    doc = "One town hall (ayuntamiento), turned by concejo into an isolated tenant, namespace muni-<ineCode>.",
    validation = Rule::new("self.metadata.name.matches('^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$')").message(
        "metadata.name must be a DNS label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit (e.g. san-andres-del-rabanedo)"
    ),
    printcolumn(name = "INE", type_ = "string", json_path = ".spec.ineCode"),
    printcolumn(name = "Display Name", type_ = "string", json_path = ".spec.displayName"),
    printcolumn(name = "Province", type_ = "string", json_path = ".spec.province"),
    printcolumn(name = "Plan", type_ = "string", json_path = ".status.plan"),
    printcolumn(name = "ENS", type_ = "string", json_path = ".spec.ensCategory"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Compliant", type_ = "string", json_path = ".status.conditions[?(@.type==\"Compliant\")].status"),
    printcolumn(name = "Namespace", type_ = "string", json_path = ".status.namespace", priority = 1),
    printcolumn(name = "Last Backup", type_ = "date", json_path = ".status.backup.lastSuccessTime", priority = 1),
    printcolumn(name = "Drill", type_ = "string", json_path = ".status.backup.lastDrillResult", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct MunicipalitySpec {
    /// Name of the Province (a cluster-scoped Province object) this town hall belongs to. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message(
        "province is immutable: a town hall does not change province; create a new Municipality instead"
    ))]
    #[x_kube(validation = rules::object_name("province", "leon"))]
    #[schemars(length(min = 1, max = 63))]
    pub province: String,

    /// Five-digit INE municipality code: two digits of province, three of municipality (León is
    /// "24089"). Must be a real municipality of the province. Immutable; the tenant namespace is
    /// `muni-<ineCode>`.
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

    /// DIR3 code of the town hall: "L01" + INE code + INE check digit (León: L01240896).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^L01[0-9]{6}$')").message(
        "dir3 must be \"L01\" followed by the 5-digit INE code and its check digit, e.g. L01240896"
    ))]
    #[schemars(length(max = 9))]
    pub dir3: Option<String>,

    /// NIF of the town hall: "P" + 7 digits + control letter A-J (León: P2409100A); digits 2-3
    /// are the province code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^P[0-9]{7}[A-J]$')").message(
        "nif must be \"P\", 7 digits and a control letter from A to J, e.g. P2409100A"
    ))]
    #[schemars(length(max = 9))]
    pub nif: Option<String>,

    /// Inhabitants; informative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000000))]
    pub population: Option<i32>,

    /// ServicePlan of this tenant; the Province's defaultPlan when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = rules::object_name("plan", "town"))]
    #[schemars(length(min = 1, max = 63))]
    pub plan: Option<String>,

    /// Category of the system under the Esquema Nacional de Seguridad (RD 311/2022).
    #[serde(default)]
    pub ens_category: EnsCategory,

    /// Who manages workloads, configuration and secrets in the tenant (not its quota, network
    /// policies or roles).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub admins: Vec<Subject>,

    /// Who may read everything in the tenant but change nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub auditors: Vec<Subject>,

    /// Extra hostnames the tenant serves; `<name>.<baseDomain>` is always served. A hostname may
    /// belong to one tenant only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(validation = Rule::new(
        "self.all(h, h.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?\\\\.)+[a-z]{2,63}$'))"
    ).message("every domains entry must be a lower-case DNS name such as nube.aytoleon.es"))]
    #[schemars(length(max = 20), inner(length(max = 253)))]
    pub domains: Vec<String>,

    /// What the tenant may reach beyond its own namespace and DNS.
    #[serde(default)]
    pub network: MunicipalityNetwork,

    /// The tenant's data volumes: size and StorageClass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<MunicipalityStorage>,

    /// Files, office documents and calendar for the town hall (Nextcloud, PostgreSQL, Redis and
    /// the province's office pool).
    #[serde(default)]
    pub collaboration: Collaboration,

    /// Scheduled backups of the tenant's volumes and database, with retention and restore drills.
    #[serde(default)]
    pub backup: MunicipalityBackup,

    /// True: the tenant's workloads are scaled to zero and its scheduled jobs suspended; data and
    /// configuration are kept. False brings everything back.
    #[serde(default)]
    pub suspend: bool,

    /// What happens to the tenant namespace when this Municipality is deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// The tenant's data volumes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct MunicipalityStorage {
    /// Size of the file volume, e.g. "100Gi"; the plan's `collaboration.storage` when empty. It
    /// may grow (volumes are expanded when their class allows it) but never shrink. The
    /// database volume is a tenth of it (at least 1Gi).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = rules::quantity("storage.size", "\"100Gi\""))]
    #[x_kube(validation = rules::never_shrinks("storage.size"))]
    #[schemars(length(max = 20))]
    pub size: Option<String>,

    /// StorageClass of the volumes: one of the Province's `storage.classes`; the first encrypted
    /// one when empty. ENS Media and Alta tenants may use encrypted classes only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = rules::object_name("storage.class", "cifrado-ssd"))]
    #[schemars(length(min = 1, max = 253))]
    pub class: Option<String>,
}

/// The collaboration suite of the tenant.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Collaboration {
    /// Run it. Disabling removes the workloads and keeps the volumes.
    #[serde(default)]
    pub enabled: bool,
}

/// ENS system category.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum EnsCategory {
    Basica,
    #[default]
    Media,
    Alta,
}

impl EnsCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            EnsCategory::Basica => "Basica",
            EnsCategory::Media => "Media",
            EnsCategory::Alta => "Alta",
        }
    }
}

/// What deleting the Municipality does to its tenant.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Keep the namespace and everything in it, marked as no longer managed.
    #[default]
    Retain,
    /// Delete the namespace and everything in it; the Municipality goes once it is gone.
    Delete,
}

/// A user or group of the cluster's authentication (e.g. an OIDC group).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct Subject {
    pub kind: SubjectKind,
    /// As the authenticator names it, e.g. "oidc:leon-admins": ASCII, and never one of
    /// Kubernetes' own `system:` users or groups.
    #[x_kube(validation = rules::subject_not_system())]
    #[x_kube(validation = rules::subject_ascii())]
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SubjectKind {
    Group,
    User,
}

/// Network access of the tenant beyond its namespace and DNS.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MunicipalityNetwork {
    /// Egress to the province's Red SARA ranges (and its SARA resolver).
    #[serde(default)]
    pub sara: bool,
    /// Extra destinations the tenant may reach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub egress: Vec<EgressRule>,
}

/// One allowed destination.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct EgressRule {
    /// Destination range, e.g. 192.0.2.10/32: at most a /16 (IPv4) or a /48 (IPv6), so that
    /// no rule undoes deny-by-default; never loopback, 0.0.0.0/8 or link-local (the cloud
    /// metadata service).
    #[x_kube(validation = Rule::new("isCIDR(self)").message("egress cidr must be a CIDR such as 192.0.2.10/32"))]
    #[x_kube(validation = Rule::new(
        "!isCIDR(self) || cidr(self).prefixLength() >= (cidr(self).ip().family() == 4 ? 16 : 48)"
    ).message(
        "egress cidr is wider than a /16 (IPv4) or /48 (IPv6): 0.0.0.0/0 and other broad ranges would open the town hall to the internet and undo deny-by-default; list the destinations it needs, such as 192.0.2.10/32"
    ))]
    #[x_kube(validation = rules::egress_not_special())]
    #[schemars(length(max = 43))]
    pub cidr: String,
    /// TCP ports; all ports when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), inner(range(min = 1, max = 65535)))]
    pub ports: Vec<i32>,
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
    /// `spec.suspend` is true: workloads scaled to zero, data and configuration kept.
    Suspended,
    /// Provisioned once, but something is wrong now (see the conditions); the last valid state is kept.
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

    /// The ServicePlan in effect (the spec's, or the Province's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,

    /// Hostnames the tenant serves: `<name>.<baseDomain>` and `spec.domains`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,

    /// The tenant's TLS certificate (Secret `tenant-tls` in its namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateStatus>,

    /// Where the tenant's services answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Endpoints>,

    /// The tenant's backups and restore drills.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupStatus>,

    /// One entry per ENS measure concejo enforces (mp.com.4, op.acc.3/4/6, mp.com.2/3, mp.si.2,
    /// mp.info.6, op.exp.8, op.cont), each `Met`, `NotMet` or `NotApplicable` for the tenant's
    /// category, judged from the live objects, the certificate and the last backup and drill.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compliance: Vec<super::ComplianceEntry>,

    /// Standard conditions, one per part of the tenant: `Valid` (the spec can be honoured),
    /// `Isolated` (namespace, quota, limits, network policies and roles are in place),
    /// `CertificateReady`, `StorageReady` and `CollaborationReady` (when collaboration is
    /// enabled), `BackupReady` (when it has volumes to back up), `RestoreVerified` (ENS Media
    /// and Alta: the last restore drill passed), `Compliant` (every ENS measure of its category is
    /// met; not summed into Ready), and `Ready`, their sum. A list keyed by type: each writer owns its types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// The tenant certificate in effect.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateStatus {
    /// RFC 3339 time the certificate expires.
    pub not_after: String,
    /// RFC 3339 time concejo will replace it (two thirds of its lifetime, spread per tenant).
    pub renewal_time: String,
    /// Serial number, hex as openssl prints it.
    pub serial: String,
    /// The hostnames it is valid for.
    pub dns_names: Vec<String>,
}

/// The tenant's public addresses.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// The collaboration suite, `https://<name>.<baseDomain>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web: Option<String>,
}
