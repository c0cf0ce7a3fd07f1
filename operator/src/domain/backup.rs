//! Backups as rules: where a tenant's repository is, when its backups start (spread in the
//! province's window), what retention keeps, when a restore drill is due, and how to read what
//! the Jobs report. Pure functions; docs/backups.md explains the design.

use serde::{Deserialize, Serialize};

use super::hash;
use crate::api::v1alpha1::{BackupStatus, DrillResult, EnsCategory, Province, Retention, S3Target, ServicePlan};
use crate::api::v1alpha1::{Municipality, MunicipalityBackup};

/// The time zone of schedules and windows.
pub const TIME_ZONE: &str = "Europe/Madrid";
/// Port of the province's repository servers.
pub const REPOSITORY_PORT: u16 = 8000;
/// The tenant-facing repository server (append-only, one private repository per tenant) and the
/// province-side one (retention, drills, copies), both in the province's backup namespace.
pub const REPOSITORY: &str = "repository";
pub const REPOSITORY_ADMIN: &str = "repository-admin";
/// Retention when neither the plan nor the tenant says: 7 daily, 4 weekly, 12 monthly, 0 yearly.
pub const DEFAULT_KEEP: Keep = Keep { daily: 7, weekly: 4, monthly: 12, yearly: 0 };

/// What a tenant's backups are, resolved from its spec, plan and province.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantBackup {
    /// Cron schedule in [`TIME_ZONE`].
    pub schedule: String,
    pub keep: Keep,
    /// The province's backup namespace, `concejo-backup-<province INE code>`.
    pub namespace: String,
    /// The tenant's user on the repository servers, and its repository on both.
    pub user: String,
    /// Where every snapshot is also copied (the province's secondary target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary: Option<S3Target>,
    /// Restore drills (ENS Media and Alta), every so many days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill_days: Option<i32>,
    /// Why backups cannot run although they are wanted (no target; Alta without a second one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
    /// restic (copied into every run) and PostgreSQL (`pg_dump`, `pg_restore`, the drill's
    /// scratch database): the images every backup, restore and drill pod runs.
    pub restic_image: String,
    pub postgres_image: String,
}

/// Snapshots kept: the newest of each of the last `daily` days, `weekly` weeks, and so on,
/// counted among concejo's own snapshots only ([`super::retention::decide`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keep {
    pub daily: i32,
    pub weekly: i32,
    pub monthly: i32,
    pub yearly: i32,
}

/// The province's backup namespace.
pub fn namespace(province_ine_code: &str) -> String {
    format!("concejo-backup-{province_ine_code}")
}

/// A tenant's user (and repository folder) on the province's repository servers.
pub fn user(ine_code: &str) -> String {
    format!("muni-{ine_code}")
}

/// restic's URL of a tenant's repository on one of the province's servers (credentials come from
/// `RESTIC_REST_USERNAME`/`RESTIC_REST_PASSWORD`, never the URL).
pub fn repository_url(server: &str, namespace: &str, user: &str) -> String {
    format!("rest:http://{server}.{namespace}.svc.cluster.local:{REPOSITORY_PORT}/{user}/")
}

/// Parses "HH:MM-HH:MM" into minutes after midnight (start, length); a window may cross midnight.
pub fn window(text: &str) -> Option<(u32, u32)> {
    let minutes = |hm: &str| -> Option<u32> {
        let (h, m) = hm.split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    };
    let (start, end) = text.split_once('-')?;
    let (start, end) = (minutes(start)?, minutes(end)?);
    let length = if end > start { end - start } else { 24 * 60 - start + end };
    Some((start, length))
}

/// The daily cron schedule of a tenant: a minute of the window picked by a stable hash of its INE
/// code, so that a province's tenants start one by one, the same minute every night.
pub fn spread(ine_code: &str, window_text: &str) -> String {
    let (start, length) = window(window_text).unwrap_or((60, 240));
    let at = (start + (hash::fnv1a(ine_code.as_bytes()) % u64::from(length)) as u32) % (24 * 60);
    format!("{} {} * * *", at % 60, at / 60)
}

/// Retention field by field: the tenant's, else the plan's, else [`DEFAULT_KEEP`]'s.
pub fn keep(tenant: &Retention, plan: &Retention) -> Keep {
    let pick = |own: Option<i32>, planned: Option<i32>, default: i32| own.or(planned).unwrap_or(default);
    Keep {
        daily: pick(tenant.daily, plan.daily, DEFAULT_KEEP.daily),
        weekly: pick(tenant.weekly, plan.weekly, DEFAULT_KEEP.weekly),
        monthly: pick(tenant.monthly, plan.monthly, DEFAULT_KEEP.monthly),
        yearly: pick(tenant.yearly, plan.yearly, DEFAULT_KEEP.yearly),
    }
}

/// The tenant's backups, when it wants them and has volumes to back up.
pub fn resolve(
    municipality: &Municipality,
    province: &Province,
    plan: &ServicePlan,
    has_volumes: bool,
    images: &super::images::Resolved,
) -> Option<TenantBackup> {
    let spec: &MunicipalityBackup = &municipality.spec.backup;
    if !spec.enabled || !has_volumes {
        return None;
    }
    let settings = &province.spec.backup;
    let ens = municipality.spec.ens_category;
    let missing = match (&settings.target, &settings.secondary_target) {
        (None, _) => Some(format!(
            "Province {:?} sets no backup.target: the tenant's data is not backed up",
            province.metadata.name.as_deref().unwrap_or_default()
        )),
        (Some(_), None) if ens == EnsCategory::Alta => Some(format!(
            "ENS Alta requires a copy in a second location: Province {:?} sets no backup.secondaryTarget",
            province.metadata.name.as_deref().unwrap_or_default()
        )),
        _ => None,
    };
    let schedule = match spec.schedule.trim() {
        "" => spread(&municipality.spec.ine_code, &settings.window),
        own => own.to_owned(),
    };
    Some(TenantBackup {
        schedule,
        keep: keep(&spec.retention, &plan.spec.backup.retention),
        namespace: namespace(&province.spec.ine_code),
        user: user(&municipality.spec.ine_code),
        secondary: settings.secondary_target.as_ref().map(|t| t.s3.clone()),
        drill_days: (ens != EnsCategory::Basica).then_some(settings.drill_interval_days),
        missing,
        restic_image: images.restic.clone(),
        postgres_image: images.postgres.clone(),
    })
}

/// Whether retention (and the copy to the secondary target) must run for the newest snapshot.
pub fn retention_due(status: &BackupStatus) -> Option<&str> {
    let last = status.last_snapshot.as_deref()?;
    (status.retained_snapshot.as_deref() != Some(last)).then_some(last)
}

/// The port of an S3 endpoint such as `https://s3.dipuleon.es` (443) or `http://minio:9000`.
pub fn endpoint_port(endpoint: &str) -> i32 {
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("https", endpoint));
    let host = rest.split('/').next().unwrap_or_default();
    let default = if scheme == "http" { 80 } else { 443 };
    host.rsplit_once(':').and_then(|(_, port)| port.parse().ok()).unwrap_or(default)
}

/// The snapshot a drill must restore now, if one is due: the newest one, once retention has run
/// after it (its prune and check lock the repository), when it was not drilled yet and the last
/// drill is `days` old (or failed: then the next snapshot is drilled at once).
pub fn drill_due(status: &BackupStatus, days: i32, now_seconds: i64) -> Option<&str> {
    let last = status.last_snapshot.as_deref()?;
    if status.retained_snapshot.as_deref() != Some(last) {
        return None;
    }
    if status.last_drill_snapshot.as_deref() == Some(last) {
        return None;
    }
    let since = status.last_drill_time.as_deref().and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok());
    let failed = status.last_drill_result == Some(DrillResult::Failed);
    match since {
        None => Some(last),
        Some(_) if failed => Some(last),
        Some(t) => (now_seconds - t.as_second() >= i64::from(days) * 86_400).then_some(last),
    }
}

/// A name for an object of a run, at most 63 characters: `<prefix>-<name>`, or the name cut and a
/// hash of all of it when that would be longer.
pub fn run_name(prefix: &str, name: &str) -> String {
    let full = format!("{prefix}-{name}");
    if full.len() <= 63 {
        return full;
    }
    let cut: String = full.chars().take(50).collect();
    format!("{}-{:012x}", cut.trim_end_matches('-'), hash::fnv1a(full.as_bytes()) & 0xffff_ffff_ffff)
}

/// What a Job wrote as its last words (its termination message): restic's own summary for a
/// backup, concejo's line for restores, drills and retention.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "message_type", rename_all = "snake_case")]
pub enum Report {
    /// `restic backup --json`'s last line.
    Summary {
        snapshot_id: String,
        #[serde(default)]
        total_files_processed: i64,
        #[serde(default)]
        total_bytes_processed: i64,
        #[serde(default)]
        data_added: i64,
        #[serde(default)]
        total_duration: f64,
    },
    Restore {
        snapshot: String,
        #[serde(default)]
        files: i64,
        #[serde(default)]
        bytes: i64,
    },
    Drill {
        snapshot: String,
        #[serde(default)]
        files: i64,
        #[serde(default)]
        bytes: i64,
        #[serde(default)]
        tables: i64,
    },
    /// Retention: the snapshots left of the tenant's host (its own additions included), whether
    /// the copy to the secondary target ran, and how many of the ids it was given it forgot now
    /// (ids already gone, forgotten by an earlier try, are not counted).
    Retain {
        snapshot: String,
        #[serde(default)]
        snapshots: i64,
        #[serde(default)]
        copied: bool,
        #[serde(default)]
        forgotten: i64,
    },
}

/// Reads a termination message: the last line that is a report, or, for a run that failed (its
/// message is then the end of its log), the last line that says something.
pub fn read_report(message: &str) -> Result<Report, String> {
    for line in message.lines().rev() {
        if let Ok(report) = serde_json::from_str::<Report>(line.trim()) {
            return Ok(report);
        }
    }
    let last = message.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("the run left no message");
    Err(last.chars().take(400).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{leon, municipality, plan};

    fn images() -> super::super::images::Resolved {
        super::super::images::resolve(&Default::default())
    }

    #[test]
    fn schedules_are_spread_inside_the_window_and_stable() {
        let mut minutes = std::collections::BTreeSet::new();
        for n in 1..=211 {
            let cron = spread(&format!("24{n:03}"), "01:00-05:00");
            let f: Vec<u32> = cron.split(' ').take(2).map(|x| x.parse().unwrap()).collect();
            let at = f[1] * 60 + f[0];
            assert!((60..300).contains(&at), "{cron} is outside the window");
            minutes.insert(at);
        }
        // 211 tenants over 240 minutes: most get a minute of their own (not all at 01:00).
        assert!(minutes.len() > 120, "only {} distinct minutes", minutes.len());
        assert_eq!(spread("24089", "01:00-05:00"), spread("24089", "01:00-05:00"));
        // A window across midnight wraps.
        let cron = spread("24089", "23:30-00:30");
        let h: u32 = cron.split(' ').nth(1).unwrap().parse().unwrap();
        assert!(h == 23 || h == 0, "{cron}");
        assert_eq!(window("bad"), None);
    }

    #[test]
    fn retention_is_the_tenants_then_the_plans_then_the_default() {
        let plan = Retention { daily: Some(14), yearly: Some(2), ..Default::default() };
        let own = Retention { daily: Some(30), ..Default::default() };
        assert_eq!(keep(&own, &plan), Keep { daily: 30, weekly: 4, monthly: 12, yearly: 2 });
        assert_eq!(keep(&Retention::default(), &Retention::default()), DEFAULT_KEEP);
    }

    #[test]
    fn alta_without_a_second_target_and_a_province_without_any_are_named() {
        let mut m = municipality("leon", "24089");
        let mut province = leon();
        let town = plan("town", "4");
        let b = resolve(&m, &province, &town, true, &images()).unwrap();
        assert!(b.missing.as_deref().unwrap().contains("sets no backup.target"), "{b:?}");
        assert_eq!(b.drill_days, Some(7), "Media is drilled");
        province.spec.backup.target = Some(crate::testing::s3_target("primary"));
        m.spec.ens_category = EnsCategory::Alta;
        let b = resolve(&m, &province, &town, true, &images()).unwrap();
        assert!(b.missing.as_deref().unwrap().contains("backup.secondaryTarget"), "{b:?}");
        province.spec.backup.secondary_target = Some(crate::testing::s3_target("secondary"));
        assert_eq!(resolve(&m, &province, &town, true, &images()).unwrap().missing, None);
        m.spec.ens_category = EnsCategory::Basica;
        assert_eq!(resolve(&m, &province, &town, true, &images()).unwrap().drill_days, None);
        assert_eq!(resolve(&m, &province, &town, false, &images()), None, "nothing to back up");
        m.spec.backup.enabled = false;
        assert_eq!(resolve(&m, &province, &town, true, &images()), None);
    }

    #[test]
    fn endpoints_name_their_port_or_get_their_schemes() {
        assert_eq!((endpoint_port("https://s3.dipuleon.es"), endpoint_port("http://minio.local:9000/")), (443, 9000));
        assert_eq!(endpoint_port("http://10.0.0.5"), 80);
    }

    #[test]
    fn drills_follow_new_snapshots_at_the_interval_and_at_once_after_a_failure() {
        let now = "2026-11-25T03:00:00Z".parse::<k8s_openapi::jiff::Timestamp>().unwrap().as_second();
        let mut s = BackupStatus { last_snapshot: Some("aaaa".into()), ..Default::default() };
        assert_eq!(drill_due(&s, 7, now), None, "retention runs first");
        s.retained_snapshot = Some("aaaa".into());
        assert_eq!(drill_due(&s, 7, now), Some("aaaa"), "never drilled");
        s.last_drill_snapshot = Some("aaaa".into());
        s.last_drill_time = Some("2026-11-24T03:00:00Z".into());
        s.last_drill_result = Some(DrillResult::Passed);
        assert_eq!(drill_due(&s, 7, now), None, "that snapshot was drilled");
        s.last_snapshot = Some("bbbb".into());
        s.retained_snapshot = Some("bbbb".into());
        assert_eq!(drill_due(&s, 7, now), None, "a day since the last drill");
        assert_eq!(drill_due(&s, 1, now), Some("bbbb"));
        s.last_drill_result = Some(DrillResult::Failed);
        assert_eq!(drill_due(&s, 7, now), Some("bbbb"), "a failed drill is retried on the next snapshot");
        assert_eq!(retention_due(&s), None);
        s.retained_snapshot = Some("aaaa".into());
        assert_eq!(retention_due(&s), Some("bbbb"));
    }

    #[test]
    fn reports_are_read_from_the_last_line_and_failures_keep_the_last_words() {
        let summary = r#"{"message_type":"summary","files_new":3,"total_files_processed":3,"total_bytes_processed":1024,"data_added":900,"total_duration":1.5,"snapshot_id":"4f2a9c1e0b"}"#;
        match read_report(&format!("{{\"message_type\":\"status\"}}\n{summary}\n")).unwrap() {
            Report::Summary { snapshot_id, total_bytes_processed, .. } => {
                assert_eq!((snapshot_id.as_str(), total_bytes_processed), ("4f2a9c1e0b", 1024))
            }
            other => panic!("{other:?}"),
        }
        let drill = r#"{"message_type":"drill","snapshot":"4f2a","files":3,"bytes":1024,"tables":12}"#;
        assert!(matches!(read_report(drill), Ok(Report::Drill { tables: 12, .. })));
        let retain = r#"{"message_type":"retain","snapshot":"4f2a","snapshots":21,"copied":true,"forgotten":2}"#;
        assert!(matches!(read_report(retain), Ok(Report::Retain { snapshots: 21, copied: true, forgotten: 2, .. })));
        let failed = "restoring...\nFatal: wrong password or no key found\n\n";
        assert_eq!(read_report(failed).unwrap_err(), "Fatal: wrong password or no key found");
        assert_eq!(read_report("").unwrap_err(), "the run left no message");
    }

    #[test]
    fn run_names_fit_in_63_characters_and_stay_distinct() {
        assert_eq!(run_name("backup", "nightly"), "backup-nightly");
        let long = "a".repeat(100);
        let (a, b) = (run_name("restore", &long), run_name("restore", &format!("{long}b")));
        assert!(a.len() <= 63 && b.len() <= 63);
        assert_ne!(a, b);
    }
}
