//! `concejo report ens`: a province's (or the whole cluster's) ENS compliance, a row per tenant
//! and a column per measure, as a table, JSON or CSV for the auditors. Read from one paginated
//! list of Municipalities (never a request per tenant), with progress on standard error.

use std::fmt::Write as _;
use std::io::IsTerminal;

use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use serde::Serialize;

use crate::api::v1alpha1::{ComplianceStatus, Municipality};
use crate::controllers::conditions::COMPLIANT;
use crate::domain::ens::MEASURES;

/// Municipalities asked for per page.
const PAGE: u32 = 500;

/// One tenant's row.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub name: String,
    pub ine_code: String,
    pub province: String,
    pub ens_category: String,
    /// `True`, `False`, or `Unknown` before concejo judged it.
    pub compliant: String,
    /// One per [`MEASURES`], in that order: `Met`, `NotMet`, `NotApplicable` or `-` (not judged).
    pub measures: Vec<String>,
    /// The messages of the measures not met.
    pub not_met: Vec<String>,
}

/// The row of one Municipality, from its status.
pub fn row(m: &Municipality) -> Row {
    let status = m.status.as_ref();
    let compliant = status
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == COMPLIANT))
        .map_or("Unknown".to_owned(), |c| c.status.clone());
    let entries = status.map(|s| s.compliance.as_slice()).unwrap_or_default();
    let measures = MEASURES
        .iter()
        .map(|id| {
            entries.iter().find(|e| e.measure == *id).map_or("-".to_owned(), |e| match e.status {
                ComplianceStatus::Met => "Met".to_owned(),
                ComplianceStatus::NotMet => "NotMet".to_owned(),
                ComplianceStatus::NotApplicable => "NotApplicable".to_owned(),
            })
        })
        .collect();
    Row {
        name: m.name_any(),
        ine_code: m.spec.ine_code.clone(),
        province: m.spec.province.clone(),
        ens_category: m.spec.ens_category.as_str().to_owned(),
        compliant,
        measures,
        not_met: entries.iter().filter(|e| e.status == ComplianceStatus::NotMet).map(|e| e.message.clone()).collect(),
    }
}

/// A fixed-width table, then a line per province: how many tenants are Compliant.
pub fn table(rows: &[Row]) -> String {
    let mut header = vec!["NAME", "INE", "PROVINCE", "ENS", "COMPLIANT"];
    header.extend(MEASURES);
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let short = r.measures.iter().map(|m| if m == "NotApplicable" { "n/a".to_owned() } else { m.clone() });
            [r.name.clone(), r.ine_code.clone(), r.province.clone(), r.ens_category.clone(), r.compliant.clone()]
                .into_iter()
                .chain(short)
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| cells.iter().map(|c| c[i].len()).chain([header[i].len()]).max().unwrap_or(0))
        .collect();
    let line = |cols: &[String]| {
        let padded: Vec<String> = cols.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for c in &cells {
        out.push_str(&line(c));
    }
    let mut provinces: Vec<&str> = rows.iter().map(|r| r.province.as_str()).collect();
    provinces.sort();
    provinces.dedup();
    for p in provinces {
        let of: Vec<&Row> = rows.iter().filter(|r| r.province == p).collect();
        let ok = of.iter().filter(|r| r.compliant == "True").count();
        let _ = writeln!(out, "province {p}: {ok} of {} tenants Compliant", of.len());
    }
    out
}

/// RFC 4180 CSV: a header, then a row per tenant; `notMet` joined with " | ".
pub fn csv(rows: &[Row]) -> String {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
    };
    let mut header: Vec<String> = ["name", "ineCode", "province", "ensCategory", "compliant"].map(String::from).into();
    header.extend(MEASURES.iter().map(|m| m.to_string()));
    header.push("notMet".into());
    let mut out = header.iter().map(|h| quote(h)).collect::<Vec<_>>().join(",") + "\r\n";
    for r in rows {
        let mut cols =
            vec![r.name.clone(), r.ine_code.clone(), r.province.clone(), r.ens_category.clone(), r.compliant.clone()];
        cols.extend(r.measures.iter().cloned());
        cols.push(r.not_met.join(" | "));
        out.push_str(&(cols.iter().map(|c| quote(c)).collect::<Vec<_>>().join(",") + "\r\n"));
    }
    out
}

/// Every Municipality (of `province`, when given), listed page by page, sorted by INE code.
pub async fn rows(client: Client, province: Option<&str>) -> anyhow::Result<Vec<Row>> {
    let api = Api::<Municipality>::all(client);
    let progress = std::io::stderr().is_terminal();
    let mut rows = Vec::new();
    let mut params = ListParams::default().limit(PAGE);
    loop {
        let page = api.list(&params).await?;
        rows.extend(page.items.iter().filter(|m| province.is_none_or(|p| m.spec.province == p)).map(row));
        let left = page.metadata.remaining_item_count.unwrap_or(0);
        if progress {
            eprint!("\rread {} Municipalities, {left} to go   ", rows.len());
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    if progress {
        eprintln!();
    }
    rows.sort_by(|a, b| a.ine_code.cmp(&b.ine_code));
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::v1alpha1::{ComplianceEntry, MunicipalityStatus};
    use crate::testing::municipality;

    fn judged() -> Municipality {
        let mut m = municipality("ponferrada", "24115");
        let entry = |measure: &str, status, message: &str| ComplianceEntry {
            measure: measure.into(),
            status,
            message: message.into(),
        };
        m.status = Some(MunicipalityStatus {
            compliance: vec![
                entry("mp.com.4", ComplianceStatus::Met, "mp.com.4: fine"),
                entry("mp.info.6", ComplianceStatus::NotMet, "mp.info.6: the last restore drill failed, \"checksum\""),
                entry("op.cont", ComplianceStatus::NotApplicable, "op.cont: Alta only"),
            ],
            ..Default::default()
        });
        m
    }

    #[test]
    fn a_row_has_a_column_per_measure_in_order() {
        let r = row(&judged());
        assert_eq!(r.measures, ["Met", "-", "-", "-", "NotMet", "-", "NotApplicable"]);
        assert_eq!(r.compliant, "Unknown");
        assert_eq!(r.not_met, ["mp.info.6: the last restore drill failed, \"checksum\""]);
    }

    #[test]
    fn csv_quotes_what_needs_it_and_the_table_sums_up_provinces() {
        let rows = vec![row(&judged())];
        let csv = csv(&rows);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert!(lines[0].starts_with("name,ineCode,province,ensCategory,compliant,mp.com.4,op.acc.3/4/6"));
        assert!(lines[1].ends_with(",\"mp.info.6: the last restore drill failed, \"\"checksum\"\"\""), "{}", lines[1]);
        let table = table(&rows);
        assert!(table.starts_with("NAME"), "{table}");
        assert!(table.contains("n/a"));
        assert!(table.ends_with("province leon: 0 of 1 tenants Compliant\n"), "{table}");
    }
}
