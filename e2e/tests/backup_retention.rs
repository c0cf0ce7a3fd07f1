//! Retention with the real programs, no cluster (the harness of backup_data.rs, which says what is
//! changed to fit one machine). The retain run that `runs::retain` renders forgets exactly the
//! snapshots `domain::retention::decide` chose among concejo's own, on the repository and on the
//! secondary target; and snapshots a tenant adds with its own credentials, dated as it likes,
//! push none of concejo's out. (That a tenant cannot forget snapshots itself: backup_data.rs.)
//! Needs `e2e/backup/install.sh` once per machine.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context as _, bail, ensure};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::jiff::ToSpan as _;
use k8s_openapi::jiff::civil::Date;
use serde_json::Value;

use concejo::api::v1alpha1::RecordedSnapshot;
use concejo::domain::backup::{Keep, Report, read_report};
use concejo::domain::retention;
use concejo::resources::backup::{Key, runs};
use support::backup_world::{World, say, tenant, write_files};

const KEEP: Keep = Keep { daily: 7, weekly: 4, monthly: 6, yearly: 3 };
/// The same policy as restic's own flags: restic's verdict over the repository's list.
const KEEP_FLAGS: &str = "--keep-daily 7 --keep-weekly 4 --keep-monthly 6 --keep-yearly 3";

/// concejo's backups before 1 November 2026, at 02:30 UTC; then one every night from the 1st
/// (a Sunday) to Monday the 16th, and a second one on the 16th at 14:00: 40 in all.
const EARLIER_DAYS: &[&str] = &[
    "2025-09-10",
    "2025-09-25",
    "2025-10-15",
    "2025-11-05",
    "2025-11-28",
    "2025-12-20",
    "2025-12-31",
    "2026-01-15",
    "2026-02-10",
    "2026-03-03",
    "2026-03-30",
    "2026-04-18",
    "2026-05-22",
    "2026-06-11",
    "2026-06-29",
    "2026-07-07",
    "2026-08-19",
    "2026-09-09",
    "2026-09-30",
    "2026-10-06",
    "2026-10-13",
    "2026-10-20",
    "2026-10-27",
];

/// What the first retention must leave of them, worked out by hand from restic's rules.
const KEPT_FIRST: &[&str] = &[
    "2026-11-16T14:00:00Z", // 7 days (the 16th's newest), the week of Mon 16, November, 2026
    "2026-11-15T02:30:00Z", // 7 days; the week of Mon 9
    "2026-11-14T02:30:00Z",
    "2026-11-13T02:30:00Z",
    "2026-11-12T02:30:00Z",
    "2026-11-11T02:30:00Z",
    "2026-11-10T02:30:00Z", // the 7th day
    "2026-11-08T02:30:00Z", // the week of Mon 2 November
    "2026-11-01T02:30:00Z", // the week of Mon 26 October (4 weeks)
    "2026-10-27T02:30:00Z", // October; then September to June (6 months)
    "2026-09-30T02:30:00Z",
    "2026-08-19T02:30:00Z",
    "2026-07-07T02:30:00Z",
    "2026-06-29T02:30:00Z",
    "2025-12-31T02:30:00Z", // 2025 (2026's is the 16th's)
    "2025-09-10T02:30:00Z", // a third year is asked for and there is none: the oldest, as restic
];
/// After one more backup, on Tuesday 17 November: the 10th is no longer one of the last 7 days,
/// and its week's newest is the 15th.
const NEWER: &str = "2026-11-17T02:30:00Z";
const FORGOTTEN_SECOND: &str = "2026-11-10T02:30:00Z";

fn genuine_times() -> Vec<String> {
    let mut times: Vec<String> = EARLIER_DAYS.iter().map(|d| format!("{d}T02:30:00Z")).collect();
    times.extend((1..=16).map(|d| format!("2026-11-{d:02}T02:30:00Z")));
    times.push("2026-11-16T14:00:00Z".into());
    times
}

/// The attacker's 30: late on each of 1 to 16 November (each the newest of its day, week and
/// month), on the last evening of each month from October 2025, and one older than everything.
fn forged_times() -> anyhow::Result<Vec<String>> {
    let mut times: Vec<String> = (1..=16).map(|d| format!("2026-11-{d:02}T23:00:00Z")).collect();
    let mut month: Date = "2025-10-01".parse()?;
    for _ in 0..13 {
        times.push(format!("{}T23:00:00Z", month.last_of_month()));
        month = month.checked_add(1.month())?;
    }
    times.push("2025-09-01T00:00:00Z".into());
    Ok(times)
}

/// A snapshot made with the tenant's own environment (its Secret, the append-only server, its
/// host and tag, as the backup script makes them), dated `time`: the backup script has no
/// `--time`, so restic is run directly, as an attacker would run it. restic reads `--time` in the
/// local zone: UTC here, as the times the operator records.
fn backup_at(w: &mut World, tenant_side: &Job, time: &str) -> anyhow::Result<String> {
    let at = time.trim_end_matches('Z').replace('T', " ");
    let script = r#"restic backup --json --host "$TENANT" --tag "tenant=$TENANT" --time "$AT" "$FILES_PATH""#;
    let cache = w.root.join("tenant-cache").display().to_string();
    let out = w.shell(tenant_side, script, &[("AT", &at), ("TZ", "UTC"), ("RESTIC_CACHE_DIR", &cache)])?;
    match read_report(&String::from_utf8_lossy(&out.stdout)) {
        Ok(Report::Summary { snapshot_id, .. }) if out.status.success() => Ok(snapshot_id),
        other => bail!("the backup dated {time} failed: {other:?}\n{}", say(&out)),
    }
}

/// Every snapshot of the repository (or of the secondary target), id -> the id it was copied
/// from, read with the province's environment of a retain run.
fn snapshots(w: &mut World, province_side: &Job, secondary: bool) -> anyhow::Result<BTreeMap<String, String>> {
    let script = match secondary {
        true => r#"RESTIC_REPOSITORY=$SECONDARY_REPOSITORY restic snapshots --json"#,
        false => "restic snapshots --json",
    };
    let out = w.shell(province_side, script, &[])?;
    ensure!(out.status.success(), "restic snapshots: {}", say(&out));
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).with_context(|| say(&out))?;
    let field = |s: &Value, name: &str| s[name].as_str().unwrap_or_default().to_owned();
    Ok(list.iter().map(|s| (field(s, "id"), field(s, "original"))).collect())
}

/// What restic's own calendar policy ([`KEEP_FLAGS`], what retention ran before) would keep of
/// the tenant's snapshots, by their dates and tags: a dry run.
fn calendar_keeps(w: &mut World, province_side: &Job) -> anyhow::Result<BTreeSet<String>> {
    let script = format!(
        r#"restic forget --dry-run --json --host "$TENANT" --tag "tenant=$TENANT" --group-by host,tags {KEEP_FLAGS}"#
    );
    let out = w.shell(province_side, &script, &[])?;
    ensure!(out.status.success(), "restic forget --dry-run: {}", say(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with('[')).with_context(|| say(&out))?;
    let groups: Vec<Value> = serde_json::from_str(line)?;
    ensure!(groups.len() == 1, "one group expected: {line}");
    let keep = groups[0]["keep"].as_array().context("keep")?;
    Ok(keep.iter().filter_map(|s| s["id"].as_str().map(str::to_owned)).collect())
}

/// Runs a retain Job and returns its report's (snapshots left, copied, forgotten).
fn retain(w: &mut World, job: &Job) -> anyhow::Result<(i64, bool, i64)> {
    let (report, out) = w.run(job, false)?;
    match report {
        Ok(Report::Retain { snapshots, copied, forgotten, .. }) if out.status.success() => {
            Ok((snapshots, copied, forgotten))
        }
        other => bail!("retention failed: {other:?}\n{}", say(&out)),
    }
}

#[test]
fn retention_forgets_only_what_concejo_chose_and_forged_snapshots_push_none_out() -> anyhow::Result<()> {
    let key = Key::generate("24089");
    let mut w = World::start("retention", &[&key])?;
    let t = tenant("leon", "24089", &w.s3.endpoint);
    let mut b = t.backup.clone().context("backup")?;
    b.keep = KEEP;
    w.add_secondary(&mut b);
    w.onboard(&t, &key)?;
    write_files(&w.files(), 5)?;

    // concejo's backups, recorded as the operator records them (id, time).
    let tenant_side = runs::backup_job(&t, &b, "dated");
    let init = w.shell(&tenant_side, "restic init", &[])?;
    ensure!(init.status.success(), "restic init: {}", say(&init));
    let mut ledger = vec![];
    for time in genuine_times() {
        ledger.push(RecordedSnapshot { id: backup_at(&mut w, &tenant_side, &time)?, time });
    }
    ensure!(ledger.len() == 40);
    let id_at: BTreeMap<String, String> = ledger.iter().map(|s| (s.time.clone(), s.id.clone())).collect();
    let ids = |times: &[&str]| -> BTreeSet<String> { times.iter().map(|t| id_at[*t].clone()).collect() };
    let kept_first = ids(KEPT_FIRST);
    ensure!(kept_first.len() == 16);

    // The hand-made expectation is restic's own verdict, and the function's.
    let newest = id_at["2026-11-16T14:00:00Z"].clone();
    let province_side = runs::retain(&t, &b, &newest, &[]);
    ensure!(calendar_keeps(&mut w, &province_side)? == kept_first, "restic's own policy disagrees");
    let decision = retention::decide(&ledger, KEEP);
    ensure!(decision.keep.iter().cloned().collect::<BTreeSet<_>>() == kept_first, "{decision:?}");
    ensure!(decision.forget.len() == 24);

    // The first retention: exactly those remain, here and on the secondary target.
    let job = runs::retain(&t, &b, &newest, &decision.forget);
    ensure!(retain(&mut w, &job)? == (16, true, 24));
    let left = snapshots(&mut w, &province_side, false)?;
    ensure!(left.keys().cloned().collect::<BTreeSet<_>>() == kept_first, "left: {left:?}");
    let copies = snapshots(&mut w, &province_side, true)?;
    ensure!(copies.values().cloned().collect::<BTreeSet<_>>() == kept_first, "copies: {copies:?}");
    ensure!(copies.keys().all(|id| !left.contains_key(id)), "a copy keeps its id: ids differ on the secondary");
    // Its success seen, the operator drops the forgotten ones from the list.
    ledger.retain(|s| !decision.forget.contains(&s.id));
    // The same run again (as when its success was not seen): the ids are gone, nothing else goes.
    ensure!(retain(&mut w, &job)? == (16, true, 0));
    ensure!(snapshots(&mut w, &province_side, false)? == left);

    // The attack: 30 snapshots dated in the past, with the tenant's credentials.
    let mut forged = BTreeSet::new();
    for time in forged_times()? {
        forged.insert(backup_at(&mut w, &tenant_side, &time)?);
    }
    ensure!(forged.len() == 30);
    // Calendar retention over the repository's list would now keep forged ones only.
    let calendar = calendar_keeps(&mut w, &province_side)?;
    ensure!(calendar.is_subset(&forged), "the attack does not bite: calendar retention keeps {calendar:?}");

    // One more backup and retention: of concejo's, only the 10th goes; every forged one stays.
    ledger.push(RecordedSnapshot { id: backup_at(&mut w, &tenant_side, NEWER)?, time: NEWER.into() });
    let decision = retention::decide(&ledger, KEEP);
    ensure!(decision.forget == vec![id_at[FORGOTTEN_SECOND].clone()], "{decision:?}");
    let newest = ledger.last().context("ledger")?.id.clone();
    let job = runs::retain(&t, &b, &newest, &decision.forget);
    ensure!(retain(&mut w, &job)? == (16 + 30, true, 1));
    let mut expected = kept_first.clone();
    expected.remove(&id_at[FORGOTTEN_SECOND]);
    expected.insert(newest);
    expected.extend(forged.iter().cloned());
    let left = snapshots(&mut w, &province_side, false)?;
    ensure!(left.keys().cloned().collect::<BTreeSet<_>>() == expected, "left: {left:?}");
    let copies = snapshots(&mut w, &province_side, true)?;
    ensure!(copies.values().cloned().collect::<BTreeSet<_>>() == expected, "copies: {copies:?}");
    Ok(())
}
