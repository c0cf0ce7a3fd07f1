//! Which of a tenant's snapshots retention forgets. It counts only the snapshots concejo's own
//! backups made (`status.backup.snapshots`, with the times the operator recorded): a tenant holds
//! append-only credentials and can add snapshots dated as it likes (`restic backup --time`), and
//! calendar retention over the repository's own list would keep those and forget the real ones
//! (docs/backups.md). Snapshots the tenant added are never counted, so never forgotten either.
//!
//! The policy is restic's `--keep-daily/-weekly/-monthly/-yearly` (restic v0.19.1,
//! `internal/data/snapshot_policy.go`), applied to one group: newest first, each rule keeps the
//! newest snapshot of each of its N most recent periods, a snapshot kept by any rule is kept.

use std::cmp::Reverse;
use std::collections::HashSet;

use k8s_openapi::jiff::Timestamp;
use k8s_openapi::jiff::civil::Date;
use k8s_openapi::jiff::tz::Offset;

use super::backup::Keep;
use crate::api::v1alpha1::RecordedSnapshot;

/// What retention does with the recorded snapshots (ids, each once).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// Newest first; then, in the order recorded, those it cannot place (a time that does not
    /// parse, an id that is not restic's): never forget what cannot be placed.
    pub keep: Vec<String>,
    /// Newest first.
    pub forget: Vec<String>,
}

/// One `--keep-*` rule: how many periods are left to keep, how a day maps to its period, and the
/// period of the last snapshot it kept.
struct Rule {
    left: i32,
    period: fn(Date) -> i64,
    last: Option<i64>,
}

// Periods as restic numbers them, in UTC (the operator records UTC times): YYYYMMDD, ISO
// YYYYWW, YYYYMM, YYYY.
fn day(d: Date) -> i64 {
    i64::from(d.year()) * 10_000 + i64::from(d.month()) * 100 + i64::from(d.day())
}
fn week(d: Date) -> i64 {
    let w = d.iso_week_date();
    i64::from(w.year()) * 100 + i64::from(w.week())
}
fn month(d: Date) -> i64 {
    i64::from(d.year()) * 100 + i64::from(d.month())
}
fn year(d: Date) -> i64 {
    i64::from(d.year())
}

/// A restic snapshot id, whole or shortened: what the retain script accepts (it refuses anything
/// else, so a malformed entry must be kept rather than stall retention).
pub fn is_snapshot_id(id: &str) -> bool {
    (8..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Applies `keep` to the snapshots concejo recorded.
///
/// As restic: snapshots newest first (equal times: the one recorded later counts as newer, as
/// the list is appended in order); a rule keeps a snapshot whose period differs from the last one
/// it kept, while it has periods left; and, while it has periods left, it also keeps the oldest
/// snapshot (restic: "this maximizes the history length kept"). A negative count is restic's -1,
/// "unlimited" (the API allows only 0 and up). When every count is 0, restic's `forget` refuses
/// to run ("no policy was specified, no snapshots will be removed"): nothing is forgotten.
pub fn decide(recorded: &[RecordedSnapshot], keep: Keep) -> Decision {
    let mut seen = HashSet::new();
    let (mut placed, mut unplaced) = (vec![], vec![]);
    for (at, snapshot) in recorded.iter().enumerate() {
        if !seen.insert(snapshot.id.as_str()) {
            continue;
        }
        match snapshot.time.parse::<Timestamp>() {
            Ok(time) if is_snapshot_id(&snapshot.id) => placed.push((time, at, snapshot.id.clone())),
            _ => unplaced.push(snapshot.id.clone()),
        }
    }
    placed.sort_by_key(|(time, at, _)| Reverse((*time, *at)));

    let mut rules =
        [(keep.daily, day as fn(Date) -> i64), (keep.weekly, week), (keep.monthly, month), (keep.yearly, year)]
            .map(|(left, period)| Rule { left, period, last: None });
    let no_policy = rules.iter().all(|r| r.left == 0);
    let oldest = placed.len().saturating_sub(1);
    let mut decision = Decision::default();
    for (nr, (time, _, id)) in placed.into_iter().enumerate() {
        let date = Offset::UTC.to_datetime(time).date();
        let mut kept = no_policy;
        for rule in rules.iter_mut().filter(|r| r.left != 0) {
            let period = (rule.period)(date);
            if rule.last != Some(period) || nr == oldest {
                kept = true;
                rule.last = Some(period);
                if rule.left > 0 {
                    rule.left -= 1;
                }
            }
        }
        if kept { decision.keep.push(id) } else { decision.forget.push(id) }
    }
    decision.keep.extend(unplaced);
    decision
}

#[cfg(test)]
mod tests {
    use k8s_openapi::jiff::ToSpan as _;

    use super::*;

    fn at(id: &str, time: &str) -> RecordedSnapshot {
        RecordedSnapshot { id: id.into(), time: time.into() }
    }

    /// One snapshot a day at 02:17 UTC from `first` to `last`, named by its date (YYYYMMDD is hex).
    fn nightly(first: &str, last: &str) -> Vec<RecordedSnapshot> {
        let (mut d, last): (Date, Date) = (first.parse().unwrap(), last.parse().unwrap());
        let mut out = vec![];
        while d <= last {
            out.push(at(&d.strftime("%Y%m%d").to_string(), &format!("{d}T02:17:00Z")));
            d = d.checked_add(1.day()).unwrap();
        }
        out
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn keep(daily: i32, weekly: i32, monthly: i32, yearly: i32) -> Keep {
        Keep { daily, weekly, monthly, yearly }
    }

    #[test]
    fn two_years_of_nightly_backups_keep_days_weeks_months_and_years() {
        let all = nightly("2025-01-01", "2026-11-25"); // 2026-11-25 is a Wednesday
        assert_eq!(all.len(), 365 + 329);
        let d = decide(&all, keep(7, 4, 12, 2));
        #[rustfmt::skip]
        let expected = ids(&[
            "20261125", "20261124", "20261123", "20261122", "20261121", "20261120", "20261119", // 7 days
            "20261115", "20261108", // the weeks of Mon 9 and Mon 2 November (16-22 has the 22nd)
            "20261031", "20260930", "20260831", "20260731", "20260630", "20260531", "20260430",
            "20260331", "20260228", "20260131", "20251231", // 12 months, November's being the 25th
        ]);
        assert_eq!(d.keep, expected);
        assert_eq!(d.forget.len(), all.len() - expected.len());
        assert_eq!(d.forget[0], "20261118", "newest first");

        // A third year is asked for but there is none: the oldest snapshot is kept instead.
        let d = decide(&all, keep(7, 4, 12, 3));
        assert_eq!(d.keep.last().map(String::as_str), Some("20250101"));
        assert_eq!(d.keep.len(), expected.len() + 1);

        // Weeks alone: the newest of each ISO week (Monday to Sunday).
        assert_eq!(decide(&all, keep(0, 3, 0, 0)).keep, ids(&["20261125", "20261122", "20261115"]));
        // ISO weeks cross years: Thursday 2026-01-01 is in week 1 of 2026, with 29-31 December.
        let new_year = nightly("2025-12-20", "2026-01-03");
        assert_eq!(decide(&new_year, keep(0, 2, 0, 0)).keep, ids(&["20260103", "20251228"]));
        // Years alone.
        assert_eq!(decide(&all, keep(0, 0, 0, 2)).keep, ids(&["20261125", "20251231"]));
    }

    #[test]
    fn the_newest_of_a_day_counts_and_ties_go_to_the_one_recorded_later() {
        let list = vec![
            at("aaaa0001", "2026-11-25T02:00:00Z"),
            at("aaaa0002", "2026-11-25T14:00:00Z"),
            at("aaaa0003", "2026-11-24T02:00:00Z"),
            at("aaaa0004", "2026-11-23T02:00:00Z"),
        ];
        let d = decide(&list, keep(2, 0, 0, 0));
        assert_eq!((d.keep, d.forget), (ids(&["aaaa0002", "aaaa0003"]), ids(&["aaaa0001", "aaaa0004"])));
        // While a rule has periods left, restic keeps the oldest snapshot too.
        let d = decide(&list[..2], keep(2, 0, 0, 0));
        assert_eq!((d.keep, d.forget), (ids(&["aaaa0002", "aaaa0001"]), ids(&[])));
        // The very same time: the one recorded later is the newer.
        let same = vec![
            at("bbbb0001", "2026-11-25T02:00:00Z"),
            at("bbbb0002", "2026-11-25T02:00:00Z"),
            at("bbbb0003", "2026-11-20T02:00:00Z"),
        ];
        assert_eq!(decide(&same, keep(1, 0, 0, 0)).keep, ids(&["bbbb0002"]));
        // Days are UTC days: 00:30 in Madrid (+01:00) is 23:30 on the 24th, the day of cccc0002.
        let madrid = vec![
            at("cccc0001", "2026-11-25T00:30:00+01:00"),
            at("cccc0002", "2026-11-24T02:00:00Z"),
            at("cccc0003", "2026-11-23T02:00:00Z"),
        ];
        assert_eq!(decide(&madrid, keep(2, 0, 0, 0)).forget, ids(&["cccc0002"]));
    }

    #[test]
    fn nothing_recorded_nothing_decided_and_no_policy_forgets_nothing() {
        assert_eq!(decide(&[], keep(7, 4, 12, 0)), Decision::default());
        let all = nightly("2026-01-01", "2026-03-01");
        let d = decide(&all, keep(0, 0, 0, 0));
        assert_eq!((d.keep.len(), d.forget.len()), (all.len(), 0));
        // restic's "unlimited" (-1): every day kept.
        assert!(decide(&all, keep(-1, 0, 0, 0)).forget.is_empty());
    }

    #[test]
    fn what_cannot_be_placed_is_kept_and_not_counted() {
        let list = vec![
            at("dddd0001", "2026-11-25T02:00:00Z"),
            at("dddd0002", "yesterday"),
            at("dddd0003", "2026-11-24T02:00:00"), // no offset: which day?
            at("--unsafe-allow-remove-all", "2026-11-23T02:00:00Z"),
            at("dddd0005", "2026-11-22T02:00:00Z"),
            at("dddd0006", "2026-11-21T02:00:00Z"),
            at("dddd0001", "2026-11-20T02:00:00Z"), // recorded twice: the first entry counts
        ];
        let d = decide(&list, keep(2, 0, 0, 0));
        assert_eq!(d.keep, ids(&["dddd0001", "dddd0005", "dddd0002", "dddd0003", "--unsafe-allow-remove-all"]));
        assert_eq!(d.forget, ids(&["dddd0006"]));
        assert!(is_snapshot_id(&"0f".repeat(32)) && !is_snapshot_id("0f0f") && !is_snapshot_id(&"A".repeat(64)));
    }
}
