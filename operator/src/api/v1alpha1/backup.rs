//! Backups: the `Backup` and `Restore` kinds, and the backup settings of Provinces, ServicePlans
//! and Municipalities (docs/backups.md).

// clippy reads the repeated `type_ = "string"` of the printcolumn(...) lists as duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Asks for a backup of the tenant now (in its namespace, `muni-<ineCode>`).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "concejo.dev",
    version = "v1alpha1",
    kind = "Backup",
    namespaced,
    shortname = "bk",
    category = "concejo",
    status = "RunStatus",
    derive = "PartialEq",
    doc = "A backup of the tenant now: its files and a dump of its database, one restic snapshot.",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Snapshot", type_ = "string", json_path = ".status.snapshot"),
    printcolumn(name = "Completed", type_ = "date", json_path = ".status.completionTime"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
pub struct BackupSpec {}

/// Restores a snapshot of the tenant into a new volume, or in place while it is suspended.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "concejo.dev",
    version = "v1alpha1",
    kind = "Restore",
    namespaced,
    shortname = "rst",
    category = "concejo",
    status = "RunStatus",
    derive = "PartialEq",
    doc = "A restore of one of the tenant's snapshots, into a new volume or in place (tenant suspended).",
    validation = Rule::new("self.spec == oldSelf.spec").message(
        "a Restore cannot be changed once made: create another one"
    ),
    printcolumn(name = "Snapshot", type_ = "string", json_path = ".spec.snapshot"),
    printcolumn(name = "Target", type_ = "string", json_path = ".spec.target"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Volume", type_ = "string", json_path = ".status.volume"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct RestoreSpec {
    /// `latest` (the default), or a snapshot id as `status.backup.lastSnapshot` and Backups show it
    /// (8 to 64 hex digits).
    #[serde(default = "latest")]
    #[x_kube(validation = Rule::new("self == 'latest' || self.matches('^[0-9a-f]{8,64}$')").message(
        "snapshot must be \"latest\" or a snapshot id of 8 to 64 lower-case hex digits, as status.backup.lastSnapshot shows it"
    ))]
    #[schemars(length(max = 64))]
    pub snapshot: String,
    /// Where to: a new volume (`restore-<name>`, the default), or in place over the tenant's own
    /// volumes, which is refused unless the Municipality is suspended.
    #[serde(default)]
    pub target: RestoreTarget,
}

fn latest() -> String {
    "latest".into()
}

/// Where a Restore writes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum RestoreTarget {
    /// A new claim `restore-<name>` holding `files/` and `database.dump`; nothing of the tenant
    /// is touched.
    #[default]
    NewVolume,
    /// Over the tenant's own file and database volumes (the database as it was kept aside first).
    InPlace,
}

/// Lifecycle of a Backup or Restore.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RunPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
}

/// What concejo observed of a Backup or Restore; written by concejo only.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RunPhase>,
    /// The snapshot made (Backup) or restored (Restore).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// The Job doing the work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The claim restored into (Restore with target NewVolume).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<String>,
    /// Bytes in the snapshot (Backup) or restored (Restore).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<i64>,
    /// What happened, or what to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `Complete` (True once it ended well, False once it failed, with the reason).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// How many snapshots to keep: the newest of each of the last N days, weeks, months and years.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3660))]
    pub daily: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 520))]
    pub weekly: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 240))]
    pub monthly: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub yearly: Option<i32>,
}

/// A plan's backup defaults.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanBackup {
    /// Retention of the plan's tenants (each may override any of it); without one, 7 daily,
    /// 4 weekly, 12 monthly.
    #[serde(default)]
    pub retention: Retention,
}

/// A tenant's backups.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct MunicipalityBackup {
    /// Back up the tenant's volumes and database (default true). False stops new backups; the
    /// snapshots already made are kept.
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// A cron schedule ("17 2 * * *", Europe/Madrid time); empty: a time inside the province's
    /// window picked from the INE code, so a province's tenants do not all start at once.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[x_kube(validation = Rule::new("self == '' || self.matches('^\\\\S+( \\\\S+){4}$')").message(
        "backup.schedule must be a cron schedule of five fields, such as \"17 2 * * *\""
    ))]
    #[schemars(length(max = 100))]
    pub schedule: String,
    /// Overrides the plan's retention, field by field.
    #[serde(default)]
    pub retention: Retention,
}

impl Default for MunicipalityBackup {
    fn default() -> Self {
        Self { enabled: true, schedule: String::new(), retention: Retention::default() }
    }
}

fn enabled() -> bool {
    true
}

/// The province's backup repositories and schedule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvinceBackup {
    /// Where every tenant's repository is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<BackupTarget>,
    /// A second location every snapshot is copied to: required by ENS Alta tenants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_target: Option<BackupTarget>,
    /// "HH:MM-HH:MM" (Europe/Madrid time) in which scheduled backups start, one minute per tenant
    /// picked from its INE code (default "01:00-05:00").
    #[serde(default = "window")]
    #[x_kube(validation = Rule::new("self.matches('^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$')")
        .message("backup.window must be \"HH:MM-HH:MM\", such as \"01:00-05:00\""))]
    #[schemars(length(max = 11))]
    pub window: String,
    /// Days between restore drills of ENS Media and Alta tenants (default 7).
    #[serde(default = "drill_days")]
    #[schemars(range(min = 1, max = 92))]
    pub drill_interval_days: i32,
}

impl Default for ProvinceBackup {
    fn default() -> Self {
        Self { target: None, secondary_target: None, window: window(), drill_interval_days: drill_days() }
    }
}

fn window() -> String {
    "01:00-05:00".into()
}
fn drill_days() -> i32 {
    7
}

/// An S3-compatible bucket.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupTarget {
    pub s3: S3Target,
}

/// An S3-compatible bucket and the Secret that opens it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Target {
    /// e.g. https://s3.dipuleon.es
    #[x_kube(validation = Rule::new("self.matches('^https?://[^/\\\\s]+/?$')").message(
        "s3.endpoint must be a URL such as https://s3.dipuleon.es (scheme and host, no path)"
    ))]
    #[schemars(length(max = 253))]
    pub endpoint: String,
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$')").message(
        "s3.bucket must be an S3 bucket name: 3 to 63 lower-case letters, digits, '.' and '-'"
    ))]
    #[schemars(length(max = 63))]
    pub bucket: String,
    /// A Secret in the operator's namespace with `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    /// Only the province's repository server and maintenance Jobs ever get it; no tenant does.
    #[schemars(length(min = 1, max = 253))]
    pub credentials_secret: String,
    /// Region, when the store wants one (default "us-east-1").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub region: Option<String>,
}

/// A tenant's backups as concejo last saw them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatus {
    /// The schedule in effect (cron, Europe/Madrid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// RFC 3339 time of the last backup that succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_time: Option<String>,
    /// Its snapshot id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_snapshot: Option<String>,
    /// Files and bytes it holds, and how long it took (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_files: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_bytes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_duration_seconds: Option<i64>,
    /// The Job whose outcome was read last (a backup of the schedule or of a Backup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_job: Option<String>,
    /// RFC 3339 time and reason of the last backup that failed, while no later one succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
    /// The snapshots concejo's own backups made and it recorded from their reports, oldest first,
    /// with the time each run ended: retention counts only these, so snapshots someone added with
    /// the tenant's credentials (dated as they like) never push out a real one. Forgotten ones
    /// leave the list when retention has removed them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub snapshots: Vec<RecordedSnapshot>,
    /// The snapshot after which retention (and the copy to the secondary target) last ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retained_snapshot: Option<String>,
    /// RFC 3339 time of the last restore drill, its snapshot, result (Passed or Failed) and what
    /// it found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drill_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drill_snapshot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drill_result: Option<DrillResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drill_message: Option<String>,
}

/// A snapshot made by one of concejo's backups.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordedSnapshot {
    /// restic's snapshot id (64 hex digits).
    pub id: String,
    /// RFC 3339 time its backup ended.
    pub time: String,
}

/// Outcome of a restore drill.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DrillResult {
    Passed,
    Failed,
}
