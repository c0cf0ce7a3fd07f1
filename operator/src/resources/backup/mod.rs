//! Backups of a tenant (docs/backups.md). Tenant side, components like any other: the credentials
//! its Jobs use ([`credentials`]), the nightly CronJob ([`schedule`]) and the policy that lets its
//! backup pods reach the province's repository ([`network`]). Runs made on demand or after a
//! backup, from objects the reconcile creates once ([`runs`]): a Backup's Job, a Restore's claim and
//! Job, and on the province's side retention and restore drills. The province's repository servers
//! are in [`repository`]. Every run is one pod of [`pod`], with one of the scripts in `scripts/`.

pub mod credentials;
pub mod network;
pub mod pod;
pub mod repository;
pub mod runs;
pub mod schedule;

pub use self::credentials::Key;

/// Value of `app.kubernetes.io/component` of every backup, restore and drill pod (network
/// policies select them), and the label that says which run a pod or Job is.
pub const COMPONENT: &str = "backup";
pub const RUN_LABEL: &str = "concejo.dev/run";

/// What a run does; the value of [`RUN_LABEL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RunKind {
    /// A backup: of the schedule (CronJob `backup`) or of a Backup object.
    Backup,
    /// A Restore object's.
    Restore,
    /// Retention and the copy to the secondary target, after a backup (province side).
    Retain,
    /// A restore drill (province side).
    Drill,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Backup => "backup",
            RunKind::Restore => "restore",
            RunKind::Retain => "retain",
            RunKind::Drill => "drill",
        }
    }

    /// The script the run's pod executes.
    pub fn script(self) -> &'static str {
        match self {
            RunKind::Backup => include_str!("scripts/backup.sh"),
            RunKind::Restore => include_str!("scripts/restore.sh"),
            RunKind::Retain => include_str!("scripts/retain.sh"),
            RunKind::Drill => include_str!("scripts/drill.sh"),
        }
    }
}

/// Where a run's pod sees things. The snapshot's folders are named after these paths, so every
/// backup, restore and drill uses the same ones.
pub const FILES_PATH: &str = "/data/files";
pub const WORK: &str = "/work/snapshot";
pub const DATABASE_PATH: &str = "/var/lib/postgresql/data";
pub const PGDATA: &str = "/var/lib/postgresql/data/pgdata";
pub const SCRATCH: &str = "/scratch";
pub const RESTORE_TARGET: &str = "/restore";
/// The termination message: how a run reports without any access to the API server.
pub const REPORT: &str = "/dev/termination-log";
