//! The status table, pure: a row per tenant from its Municipality, the columns kubectl-style, a
//! summary line per province, and times as ages ("3h ago", "in 89d"); the time is passed in.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde::Serialize;

use crate::api::v1alpha1::{Municipality, Phase};
use crate::controllers::conditions::{
    BACKUP_READY, CERTIFICATE_READY, COLLABORATION_READY, ISOLATED, READY, RESTORE_VERIFIED, STORAGE_READY, VALID,
};

/// Columns in the order of the life of a tenant; conditions set by other writers come after.
const CONDITION_ORDER: &[&str] =
    &[VALID, ISOLATED, CERTIFICATE_READY, STORAGE_READY, COLLABORATION_READY, BACKUP_READY, RESTORE_VERIFIED, READY];

/// One tenant, as the table and `-o json|yaml` show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub name: String,
    pub ine_code: String,
    pub province: String,
    /// The phase concejo wrote, "Unknown" before the first reconcile.
    pub phase: String,
    /// Each condition's status by type ("True", "False", "Unknown").
    pub conditions: BTreeMap<String, String>,
    /// The first condition that is not True, as "Type: message".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_expiry: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_backup: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_drill: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_drill_result: Option<String>,
    /// Whether the status describes the current spec (observedGeneration is the generation).
    pub observed: bool,
}

impl Row {
    pub fn of(m: &Municipality) -> Self {
        let status = m.status.clone().unwrap_or_default();
        let ordered = |t: &str| CONDITION_ORDER.iter().position(|o| *o == t).unwrap_or(CONDITION_ORDER.len());
        let mut conditions = status.conditions.clone();
        conditions.sort_by(|a, b| (ordered(&a.type_), &a.type_).cmp(&(ordered(&b.type_), &b.type_)));
        let problem = conditions
            .iter()
            .filter(|c| c.type_ != READY)
            .chain(conditions.iter().filter(|c| c.type_ == READY))
            .find(|c| c.status != "True")
            .map(|c| format!("{}: {}", c.type_, if c.message.is_empty() { &c.reason } else { &c.message }));
        let backup = status.backup.clone().unwrap_or_default();
        Row {
            name: m.name_any(),
            ine_code: m.spec.ine_code.clone(),
            province: m.spec.province.clone(),
            phase: status.phase.map(phase_name).unwrap_or("Unknown").to_owned(),
            conditions: conditions.iter().map(|c| (c.type_.clone(), c.status.clone())).collect(),
            problem,
            namespace: status.namespace,
            plan: status.plan,
            certificate_expiry: status.certificate.map(|c| c.not_after),
            last_backup: backup.last_success_time,
            last_drill: backup.last_drill_time,
            last_drill_result: backup.last_drill_result.map(|r| format!("{r:?}")),
            observed: status.observed_generation.is_some() && status.observed_generation == m.metadata.generation,
        }
    }

    /// Refused: concejo cannot honour the spec (`Valid=False`).
    pub fn refused(&self) -> bool {
        self.conditions.get(VALID).is_some_and(|s| s == "False")
    }
}

pub fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Pending => "Pending",
        Phase::Provisioning => "Provisioning",
        Phase::Ready => "Ready",
        Phase::Suspended => "Suspended",
        Phase::Degraded => "Degraded",
        Phase::Terminating => "Terminating",
    }
}

/// How a province's tenants stand.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProvinceSummary {
    pub province: String,
    pub tenants: usize,
    /// Tenants by phase.
    pub phases: BTreeMap<String, usize>,
    pub refused: usize,
}

impl ProvinceSummary {
    pub fn line(&self) -> String {
        let phases: Vec<String> = self.phases.iter().map(|(p, n)| format!("{n} {p}")).collect();
        format!("{}: {} tenants, {}; {} refused", self.province, self.tenants, phases.join(", "), self.refused)
    }
}

/// One summary per province, by name.
pub fn summaries(rows: &[Row]) -> Vec<ProvinceSummary> {
    let mut by: BTreeMap<&str, ProvinceSummary> = BTreeMap::new();
    for row in rows {
        let s = by.entry(&row.province).or_insert_with(|| ProvinceSummary {
            province: row.province.clone(),
            tenants: 0,
            phases: BTreeMap::new(),
            refused: 0,
        });
        s.tenants += 1;
        *s.phases.entry(row.phase.clone()).or_insert(0) += 1;
        s.refused += usize::from(row.refused());
    }
    by.into_values().collect()
}

/// The table: NAME, PROVINCE, PHASE, a column per condition any tenant has, CERT EXPIRES,
/// LAST BACKUP, DRILL; `wide` adds INE, NAMESPACE, PLAN and the first problem. Then a summary
/// line per province.
pub fn status_table(rows: &[Row], wide: bool, now: Timestamp) -> String {
    let mut types: Vec<&str> =
        CONDITION_ORDER.iter().copied().filter(|t| rows.iter().any(|r| r.conditions.contains_key(*t))).collect();
    let others: BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| r.conditions.keys().map(String::as_str))
        .filter(|t| !CONDITION_ORDER.contains(t))
        .collect();
    types.extend(others);
    let mut headers = vec!["NAME"];
    if wide {
        headers.push("INE");
    }
    headers.extend(["PROVINCE", "PHASE"]);
    let upper: Vec<String> = types.iter().map(|t| t.to_uppercase()).collect();
    headers.extend(upper.iter().map(String::as_str));
    headers.extend(["CERT EXPIRES", "LAST BACKUP", "DRILL"]);
    if wide {
        headers.extend(["NAMESPACE", "PLAN", "MESSAGE"]);
    }
    let dash = || "-".to_owned();
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![r.name.clone()];
            if wide {
                cells.push(r.ine_code.clone());
            }
            cells.extend([r.province.clone(), r.phase.clone()]);
            cells.extend(types.iter().map(|t| r.conditions.get(*t).cloned().unwrap_or_else(dash)));
            cells.push(r.certificate_expiry.as_deref().map(|t| age(t, now)).unwrap_or_else(dash));
            cells.push(r.last_backup.as_deref().map(|t| age(t, now)).unwrap_or_else(dash));
            cells.push(match (&r.last_drill_result, &r.last_drill) {
                (Some(result), Some(time)) => format!("{result} {}", age(time, now)),
                _ => dash(),
            });
            if wide {
                cells.push(r.namespace.clone().unwrap_or_else(dash));
                cells.push(r.plan.clone().unwrap_or_else(dash));
                cells.push(r.problem.clone().unwrap_or_default());
            }
            cells
        })
        .collect();
    let mut out = if rows.is_empty() { "No Municipalities found.\n".to_owned() } else { render(&headers, &table) };
    for s in summaries(rows) {
        out.push_str(&s.line());
        out.push('\n');
    }
    out
}

/// Columns padded to their widest cell, three spaces apart, as kubectl prints them.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let width = |i: usize| {
        rows.iter().map(|r| r.get(i).map_or(0, |c| c.chars().count())).chain([headers[i].len()]).max().unwrap_or(0)
    };
    let widths: Vec<usize> = (0..headers.len()).map(width).collect();
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            text.push_str(cell);
            if i + 1 < cells.len() {
                text.push_str(&" ".repeat(widths[i] - cell.chars().count() + 3));
            }
        }
        text.trim_end().to_owned() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// An RFC 3339 time relative to `now`: "3h ago", "in 89d"; the time itself when it does not parse.
pub fn age(time: &str, now: Timestamp) -> String {
    let Ok(t) = time.parse::<Timestamp>() else { return time.to_owned() };
    let seconds = t.as_second() - now.as_second();
    let span = short(seconds.unsigned_abs());
    if seconds > 0 { format!("in {span}") } else { format!("{span} ago") }
}

/// kubectl's ages: seconds under 2 minutes, minutes under 2 hours, hours under 2 days, then days.
fn short(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7_200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3_600),
        s => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
