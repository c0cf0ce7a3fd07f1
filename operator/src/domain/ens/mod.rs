//! ENS (Real Decreto 311/2022, Annex II): the measures concejo enforces for a tenant, which apply
//! to its category, and whether each holds, judged from what a reconcile found in the cluster (the
//! live objects, the certificate, the last backup and drill), never from the spec. Pure.

use k8s_openapi::jiff::Timestamp;

use crate::api::v1alpha1::{
    BackupStatus, ComplianceEntry, ComplianceStatus, DrillResult, EnsCategory, MeasureCount, ProvinceCompliance,
};

/// The measures, in the order they are reported.
pub const MEASURES: [&str; 7] =
    ["mp.com.4", "op.acc.3/4/6", "mp.com.2/3", "mp.si.2", "mp.info.6", "op.exp.8", "op.cont"];

/// A backup older than this is a missed one (backups run daily).
pub const BACKUP_MAX_AGE_SECONDS: i64 = 48 * 3600;

/// What a reconcile found of one tenant.
#[derive(Clone, Debug)]
pub struct Evidence {
    pub category: EnsCategory,
    /// The tenant namespace, present and not terminating, and its Pod Security `enforce` level.
    pub namespace: Option<Option<String>>,
    /// Isolation objects that must exist ("NetworkPolicy deny-all", ...), and whether they do.
    pub isolation: Vec<(String, bool)>,
    /// The tenant's role bindings ("tenant-admins", ...), and the role each binds when present.
    pub bindings: Vec<(String, Option<String>)>,
    /// The role each binding must bind.
    pub roles: Vec<(String, String)>,
    /// Subjects a binding grants that the Municipality does not list ("Group system:authenticated"),
    /// per binding: someone widened who holds the tenant's roles.
    pub unlisted_subjects: Vec<(String, Vec<String>)>,
    /// The live certificate of the tenant's hosts.
    pub certificate: Option<Certificate>,
    /// The tenant's data volumes as they are: (name, StorageClass).
    pub volumes: Vec<(String, Option<String>)>,
    /// The StorageClasses the province declares encrypted.
    pub encrypted_classes: Vec<String>,
    pub backup: Backups,
    /// Whether the API server's audit events reach concejo (Err: what is missing).
    pub audit: Result<(), String>,
}

/// The certificate in `tenant-tls`.
#[derive(Clone, Debug)]
pub struct Certificate {
    pub not_after: Timestamp,
    pub is_rsa: bool,
    pub key_bits: usize,
}

/// The tenant's backups as they are.
#[derive(Clone, Debug, Default)]
pub enum Backups {
    /// The tenant has no data volumes.
    #[default]
    NoVolumes,
    /// Volumes, but backups are turned off in its spec.
    Disabled,
    On {
        /// Why they cannot run (no target; Alta without a second location).
        missing: Option<String>,
        /// The CronJob `backup` is in the tenant namespace.
        scheduled: bool,
        schedule: String,
        /// Snapshots kept, e.g. "7 daily, 4 weekly, 12 monthly, 0 yearly".
        retention: String,
        /// Where copies go besides the primary target.
        secondary: Option<String>,
        status: Option<Box<BackupStatus>>,
    },
}

fn entry(measure: &str, status: ComplianceStatus, message: impl Into<String>) -> ComplianceEntry {
    ComplianceEntry { measure: measure.to_owned(), status, message: format!("{measure}: {}", message.into()) }
}

fn verdict(measure: &str, missing: Vec<String>, met: String) -> ComplianceEntry {
    if missing.is_empty() {
        entry(measure, ComplianceStatus::Met, met)
    } else {
        entry(measure, ComplianceStatus::NotMet, missing.join("; "))
    }
}

fn not_applicable(measure: &str, category: EnsCategory, from: &str) -> ComplianceEntry {
    entry(
        measure,
        ComplianceStatus::NotApplicable,
        format!("required from ENS {from}; this tenant is {}", category.as_str()),
    )
}

/// Every measure, judged.
pub fn assess(e: &Evidence, now: Timestamp) -> Vec<ComplianceEntry> {
    let medium = e.category != EnsCategory::Basica;
    vec![
        segregation(e),
        least_privilege(e),
        if medium { communications(e, now) } else { not_applicable("mp.com.2/3", e.category, "Media") },
        if medium { encryption(e) } else { not_applicable("mp.si.2", e.category, "Media") },
        backups(e, now),
        match (&e.audit, medium) {
            (_, false) => not_applicable("op.exp.8", e.category, "Media"),
            (Ok(()), true) => entry("op.exp.8", ComplianceStatus::Met, "the API server's audit events reach concejo"),
            (Err(why), true) => entry("op.exp.8", ComplianceStatus::NotMet, why.clone()),
        },
        continuity(e),
    ]
}

fn segregation(e: &Evidence) -> ComplianceEntry {
    let mut missing = Vec::new();
    if e.namespace.is_none() {
        missing.push("the tenant namespace is missing".to_owned());
    }
    missing.extend(e.isolation.iter().filter(|(_, there)| !there).map(|(what, _)| format!("{what} is missing")));
    let present: Vec<&str> = e.isolation.iter().map(|(what, _)| what.as_str()).collect();
    verdict("mp.com.4", missing, format!("own namespace; {} in place", present.join(", ")))
}

fn least_privilege(e: &Evidence) -> ComplianceEntry {
    let mut missing = Vec::new();
    match &e.namespace {
        Some(Some(level)) if level == "restricted" => {}
        Some(level) => {
            missing.push(format!("Pod Security enforce is {}, not restricted", level.as_deref().unwrap_or("unset")))
        }
        None => missing.push("the tenant namespace is missing".to_owned()),
    }
    for (binding, role) in &e.roles {
        match e.bindings.iter().find(|(b, _)| b == binding).and_then(|(_, r)| r.as_ref()) {
            Some(bound) if bound == role => {}
            Some(other) => missing.push(format!("RoleBinding {binding} binds {other}, not {role}")),
            None => missing.push(format!("RoleBinding {binding} is missing")),
        }
    }
    for (binding, extra) in e.unlisted_subjects.iter().filter(|(_, extra)| !extra.is_empty()) {
        missing.push(format!("RoleBinding {binding} also grants {}, not listed in the Municipality", extra.join(", ")));
    }
    let bound: Vec<String> = e.roles.iter().map(|(b, r)| format!("{b} -> {r}")).collect();
    verdict("op.acc.3/4/6", missing, format!("Pod Security restricted; {} (no wildcard rules)", bound.join(", ")))
}

fn communications(e: &Evidence, now: Timestamp) -> ComplianceEntry {
    let Some(c) = &e.certificate else {
        return entry(
            "mp.com.2/3",
            ComplianceStatus::NotMet,
            "no certificate from the provincial CA in Secret tenant-tls",
        );
    };
    let key = if c.is_rsa { format!("RSA {}", c.key_bits) } else { format!("ECDSA {}", c.key_bits) };
    let mut missing = Vec::new();
    if c.not_after <= now {
        missing.push(format!("the certificate expired at {}", c.not_after));
    }
    if (c.is_rsa && c.key_bits < 3072) || (!c.is_rsa && c.key_bits < 256) {
        missing.push(format!("its key is {key}; ECDSA P-256 or RSA 3072 or more is required"));
    }
    verdict(
        "mp.com.2/3",
        missing,
        format!("certificate from the provincial CA valid until {}, key {key}; TLS 1.2 and 1.3 only", c.not_after),
    )
}

fn encryption(e: &Evidence) -> ComplianceEntry {
    let mut missing: Vec<String> = e
        .volumes
        .iter()
        .filter(|(_, class)| !class.as_ref().is_some_and(|c| e.encrypted_classes.contains(c)))
        .map(|(name, class)| {
            format!("volume {name} is on {}, not an encrypted class", class.as_deref().unwrap_or("the default class"))
        })
        .collect();
    let alta = e.category == EnsCategory::Alta;
    if alta && matches!(e.backup, Backups::Disabled) {
        missing.push("backups are disabled, so there are no encrypted copies (ENS Alta)".into());
    }
    let met = match (e.volumes.len(), alta) {
        (0, _) => "no data volumes".to_owned(),
        (n, false) => format!("{n} volumes on encrypted StorageClasses"),
        (n, true) => format!("{n} volumes on encrypted StorageClasses; backups encrypted with the tenant's own key"),
    };
    verdict("mp.si.2", missing, met)
}

fn backups(e: &Evidence, now: Timestamp) -> ComplianceEntry {
    const M: &str = "mp.info.6";
    let (missing_target, scheduled, schedule, retention, secondary, status) = match &e.backup {
        Backups::NoVolumes => return entry(M, ComplianceStatus::NotApplicable, "no data volumes to back up"),
        Backups::Disabled => {
            return entry(M, ComplianceStatus::NotMet, "the tenant has data volumes and backups are disabled");
        }
        Backups::On { missing, scheduled, schedule, retention, secondary, status } => {
            (missing, *scheduled, schedule, retention, secondary, status.as_deref())
        }
    };
    if let Some(why) = missing_target {
        return entry(M, ComplianceStatus::NotMet, why.clone());
    }
    let mut missing = Vec::new();
    if !scheduled {
        missing.push("the backup CronJob is missing".to_owned());
    }
    let time = |t: &Option<String>| t.as_deref().and_then(|t| t.parse::<Timestamp>().ok());
    let success = status.and_then(|s| time(&s.last_success_time));
    let failure = status.and_then(|s| time(&s.last_failure_time));
    if let Some(failed) = failure.filter(|f| success.is_none_or(|s| f > &s)) {
        let why = status.and_then(|s| s.last_failure.clone()).unwrap_or_default();
        missing.push(format!("the last backup failed at {failed}: {why}"));
    }
    if let Some(s) = success.filter(|s| now.as_second() - s.as_second() > BACKUP_MAX_AGE_SECONDS) {
        missing.push(format!("the last successful backup is from {s}, over 48 hours ago"));
    }
    let medium = e.category != EnsCategory::Basica;
    let drill = status.and_then(|s| s.last_drill_result.as_ref().map(|r| (r, s)));
    if let (true, Some((DrillResult::Failed, s))) = (medium, drill) {
        let when = s.last_drill_time.as_deref().unwrap_or("?");
        missing
            .push(format!("the last restore drill failed {when}: {}", s.last_drill_message.as_deref().unwrap_or("")));
    }
    let mut met = format!("backups scheduled \"{schedule}\", keeping {retention}");
    met.push_str(&match success {
        Some(s) => format!("; last success {s}"),
        None => "; no backup has run yet".to_owned(),
    });
    if medium {
        met.push_str(&match drill {
            Some((_, s)) => format!("; restore drill passed {}", s.last_drill_time.as_deref().unwrap_or("?")),
            None => "; restore drills scheduled, none has run yet".to_owned(),
        });
    }
    if let Some(second) = secondary {
        met.push_str(&format!("; copied to {second}"));
    }
    verdict(M, missing, met)
}

fn continuity(e: &Evidence) -> ComplianceEntry {
    if e.category != EnsCategory::Alta {
        return not_applicable("op.cont", e.category, "Alta");
    }
    match &e.backup {
        Backups::NoVolumes => entry("op.cont", ComplianceStatus::NotApplicable, "no data volumes to recover"),
        Backups::On { secondary: Some(second), missing: None, .. } => {
            entry("op.cont", ComplianceStatus::Met, format!("a disaster-recovery copy of every snapshot at {second}"))
        }
        _ => entry(
            "op.cont",
            ComplianceStatus::NotMet,
            "no second backup location: set the Province's backup.secondaryTarget (ENS Alta)",
        ),
    }
}

/// `Compliant`: (true, reason, message) when every applicable measure is met.
pub fn compliant(entries: &[ComplianceEntry]) -> (bool, &'static str, String) {
    let not_met: Vec<&str> =
        entries.iter().filter(|e| e.status == ComplianceStatus::NotMet).map(|e| e.measure.as_str()).collect();
    let applicable = entries.iter().filter(|e| e.status != ComplianceStatus::NotApplicable).count();
    if not_met.is_empty() {
        (true, "AllMeasuresMet", format!("all {applicable} ENS measures of its category are met"))
    } else {
        (false, "MeasuresNotMet", format!("not met: {} (see status.compliance)", not_met.join(", ")))
    }
}

/// A province's roll-up: how many tenants are `Compliant`, and per measure how many meet it.
pub fn roll_up<'a>(tenants: impl Iterator<Item = (bool, &'a [ComplianceEntry])>) -> ProvinceCompliance {
    let mut rolled = ProvinceCompliance {
        compliant: 0,
        measures: MEASURES.iter().map(|m| MeasureCount { measure: m.to_string(), met: 0, not_met: 0 }).collect(),
    };
    for (is_compliant, entries) in tenants {
        rolled.compliant += i32::from(is_compliant);
        for e in entries {
            if let Some(count) = rolled.measures.iter_mut().find(|c| c.measure == e.measure) {
                match e.status {
                    ComplianceStatus::Met => count.met += 1,
                    ComplianceStatus::NotMet => count.not_met += 1,
                    ComplianceStatus::NotApplicable => {}
                }
            }
        }
    }
    rolled
}

#[cfg(test)]
mod tests;
