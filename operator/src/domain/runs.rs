//! What finished backup runs mean, pure: a run's outcome (its report, or the last words of a run
//! that failed) read into the tenant's `status.backup` and into the status of the Backup or
//! Restore that asked for it. The controller reads Jobs and pods from its caches and passes what
//! they say; time is passed in.

use k8s_openapi::jiff::Timestamp;

use super::backup::Report;
use crate::api::v1alpha1::{BackupStatus, DrillResult, RecordedSnapshot, RunPhase, RunStatus};

/// One finished (or running) run, as its Job and pod tell it.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The Job's name.
    pub job: String,
    /// RFC 3339: when the Job started, and when it ended (`None` while it runs).
    pub started: Option<String>,
    pub ended: Option<String>,
    /// `None` while it runs; then its report, or why it failed (the pod's last words, or the Job's
    /// reason: deadline exceeded, pod deleted).
    pub outcome: Option<Result<Report, String>>,
    /// The snapshot it was told to work on (retention runs and drills).
    pub snapshot: Option<String>,
    /// The snapshot ids it was told to forget (retention runs).
    pub forget: Vec<String>,
}

impl Run {
    fn ended_at(&self) -> Option<Timestamp> {
        self.ended.as_deref().and_then(parse)
    }
}

fn parse(time: &str) -> Option<Timestamp> {
    time.parse().ok()
}

/// Whether `time` is after `mark` (no mark: anything is).
fn after(time: Option<Timestamp>, mark: Option<&str>) -> bool {
    match (time, mark.and_then(parse)) {
        (Some(t), Some(m)) => t > m,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// The tenant's backup status after the runs seen: backups (the schedule's and Backups'),
/// retention runs and drills, in any order. Each run counts once: only what ended after what the
/// status already recorded is read, so reading the same Jobs again changes nothing.
pub fn record(previous: &BackupStatus, backups: &[Run], retains: &[Run], drills: &[Run]) -> BackupStatus {
    let mut status = previous.clone();
    let mut ended: Vec<&Run> = backups.iter().filter(|r| r.outcome.is_some()).collect();
    ended.sort_by_key(|r| r.ended_at());
    for run in ended {
        let mark = [status.last_success_time.as_deref(), status.last_failure_time.as_deref()]
            .into_iter()
            .flatten()
            .max_by_key(|t| parse(t));
        if !after(run.ended_at(), mark) {
            continue;
        }
        match run.outcome.as_ref().expect("ended") {
            Ok(Report::Summary {
                snapshot_id, total_files_processed, total_bytes_processed, total_duration, ..
            }) => {
                status.last_success_time = run.ended.clone();
                status.last_snapshot = Some(snapshot_id.clone());
                status.last_files = Some(*total_files_processed);
                status.last_bytes = Some(*total_bytes_processed);
                status.last_duration_seconds = Some(total_duration.round() as i64);
                status.last_failure = None;
                status.last_failure_time = None;
                if !status.snapshots.iter().any(|s| s.id == *snapshot_id) {
                    let time = run.ended.clone().unwrap_or_default();
                    status.snapshots.push(RecordedSnapshot { id: snapshot_id.clone(), time });
                }
            }
            Ok(other) => {
                status.last_failure_time = run.ended.clone();
                status.last_failure = Some(format!("the backup reported something else than a snapshot: {other:?}"));
            }
            Err(why) => {
                status.last_failure_time = run.ended.clone();
                status.last_failure = Some(why.clone());
            }
        }
        status.last_job = Some(run.job.clone());
    }
    for run in retains {
        if let Some(Ok(Report::Retain { snapshot, .. })) = &run.outcome
            && status.retained_snapshot.as_deref() != Some(snapshot.as_str())
        {
            status.retained_snapshot = Some(snapshot.clone());
            status.snapshots.retain(|s| !run.forget.contains(&s.id));
        }
    }
    for run in drills {
        let Some(outcome) = &run.outcome else { continue };
        if !after(run.ended_at(), status.last_drill_time.as_deref()) {
            continue;
        }
        status.last_drill_time = run.ended.clone();
        match outcome {
            Ok(Report::Drill { snapshot, files, bytes, tables }) => {
                status.last_drill_snapshot = Some(snapshot.clone());
                status.last_drill_result = Some(DrillResult::Passed);
                status.last_drill_message = Some(format!(
                    "snapshot {} restored and verified: {files} files ({bytes} bytes) match their checksums, the \
                     database dump loaded ({tables} tables)",
                    short(snapshot)
                ));
            }
            other => {
                status.last_drill_snapshot = run.snapshot.clone().or(status.last_drill_snapshot);
                status.last_drill_result = Some(DrillResult::Failed);
                status.last_drill_message = Some(match other {
                    Err(why) => why.clone(),
                    Ok(report) => format!("the drill reported something else than a verification: {report:?}"),
                });
            }
        }
    }
    status
}

/// A reason from a fixed set for a run's failure, read from its last words (for metrics, whose
/// labels must stay bounded; the words themselves go to the status and Events).
pub fn failure_reason(words: &str) -> &'static str {
    let has = |needles: &[&str]| needles.iter().any(|n| words.contains(n));
    if has(&["DeadlineExceeded"]) {
        "Deadline"
    } else if has(&["pg_dump", "empty dump", "pg_restore", "dump did not load"]) {
        "Database"
    } else if has(&["checksum", "mismatch"]) {
        "Checksum"
    } else if has(&["locked", "lock"]) {
        "Locked"
    } else if has(&["cannot be opened", "401", "403", "repository"]) {
        "Repository"
    } else if has(&["without a report"]) {
        "NoReport"
    } else {
        "Other"
    }
}

/// The first 8 digits of a snapshot id, as restic shows it.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}

/// The status of a Backup or Restore from its run (`None`: no Job yet).
pub fn run_status(previous: Option<&RunStatus>, run: Option<&Run>, running: bool) -> RunStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.conditions.clear();
    let Some(run) = run else {
        status.phase = Some(RunPhase::Pending);
        return status;
    };
    status.job = Some(run.job.clone());
    status.start_time = run.started.clone().or(status.start_time);
    match &run.outcome {
        None => {
            status.phase = Some(if running { RunPhase::Running } else { RunPhase::Pending });
        }
        Some(Ok(report)) => {
            status.phase = Some(RunPhase::Succeeded);
            status.completion_time = run.ended.clone();
            let (snapshot, bytes, message) = match report {
                Report::Summary { snapshot_id, total_bytes_processed, total_files_processed, data_added, .. } => (
                    snapshot_id.clone(),
                    *total_bytes_processed,
                    format!(
                        "snapshot {} holds {total_files_processed} files, {total_bytes_processed} bytes ({data_added} \
                         bytes new)",
                        short(snapshot_id)
                    ),
                ),
                Report::Restore { snapshot, files, bytes } => (
                    snapshot.clone(),
                    *bytes,
                    format!("snapshot {} restored: {files} files, {bytes} bytes", short(snapshot)),
                ),
                other => (String::new(), 0, format!("unexpected report {other:?}")),
            };
            status.snapshot = Some(snapshot).filter(|s| !s.is_empty());
            status.bytes = Some(bytes);
            status.message = Some(message);
        }
        Some(Err(why)) => {
            status.phase = Some(RunPhase::Failed);
            status.completion_time = run.ended.clone();
            status.message = Some(why.clone());
        }
    }
    status
}

/// A Backup or Restore that could not even start: failed at once with the reason.
pub fn refused(previous: Option<&RunStatus>, why: String, now: Timestamp) -> RunStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.phase = Some(RunPhase::Failed);
    status.message = Some(why);
    status.completion_time = status.completion_time.or_else(|| Some(now.to_string()));
    status
}

/// Whether a Backup or Restore has ended (its status is final).
pub fn finished(status: Option<&RunStatus>) -> bool {
    matches!(status.and_then(|s| s.phase), Some(RunPhase::Succeeded | RunPhase::Failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: &str) -> Report {
        Report::Summary {
            snapshot_id: id.into(),
            total_files_processed: 3,
            total_bytes_processed: 30,
            data_added: 10,
            total_duration: 2.4,
        }
    }

    fn run(job: &str, ended: &str, outcome: Result<Report, String>) -> Run {
        Run {
            job: job.into(),
            started: Some("2026-11-20T01:00:00Z".into()),
            ended: Some(ended.into()),
            outcome: Some(outcome),
            snapshot: None,
            forget: vec![],
        }
    }

    #[test]
    fn backups_are_read_in_order_once_and_recorded_for_retention() {
        let a = run("backup-1", "2026-11-20T01:10:00Z", Ok(summary("aaaa1111")));
        let failed = run("backup-2", "2026-11-21T01:10:00Z", Err("restic backup failed: 403".into()));
        let b = run("bk-now", "2026-11-21T09:00:00Z", Ok(summary("bbbb2222")));
        let status = record(&BackupStatus::default(), &[b.clone(), failed.clone(), a.clone()], &[], &[]);
        assert_eq!(status.last_snapshot.as_deref(), Some("bbbb2222"));
        assert_eq!(status.last_failure, None, "a later success clears the failure");
        assert_eq!(status.last_job.as_deref(), Some("bk-now"));
        assert_eq!(status.last_duration_seconds, Some(2));
        let ids: Vec<_> = status.snapshots.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["aaaa1111", "bbbb2222"]);
        assert_eq!(status.snapshots[1].time, "2026-11-21T09:00:00Z");
        // The same Jobs read again: nothing changes.
        assert_eq!(record(&status, &[a, failed.clone(), b], &[], &[]), status);
        // A failure after the last success is kept with its words.
        let later = run("backup-3", "2026-11-22T01:10:00Z", Err("pg_dump failed".into()));
        let status = record(&status, &[later], &[], &[]);
        assert_eq!(status.last_failure.as_deref(), Some("pg_dump failed"));
        assert_eq!(status.last_snapshot.as_deref(), Some("bbbb2222"));
        // A run still going counts for nothing.
        let going = Run { ended: None, outcome: None, ..run("backup-4", "x", Err(String::new())) };
        assert_eq!(record(&status, &[going], &[], &[]), status);
    }

    #[test]
    fn retention_drops_what_it_forgot_and_drills_say_what_they_found() {
        let status = record(
            &BackupStatus::default(),
            &[
                run("backup-1", "2026-11-20T01:10:00Z", Ok(summary("aaaa1111"))),
                run("backup-2", "2026-11-21T01:10:00Z", Ok(summary("bbbb2222"))),
            ],
            &[],
            &[],
        );
        let mut retain = run(
            "retain-24089-bbbb2222",
            "2026-11-21T01:20:00Z",
            Ok(Report::Retain { snapshot: "bbbb2222".into(), snapshots: 1, copied: false, forgotten: 1 }),
        );
        retain.forget = vec!["aaaa1111".into()];
        let status = record(&status, &[], &[retain], &[]);
        assert_eq!(status.retained_snapshot.as_deref(), Some("bbbb2222"));
        assert_eq!(status.snapshots.len(), 1);

        let drill = run(
            "drill-24089-bbbb2222",
            "2026-11-21T02:00:00Z",
            Ok(Report::Drill { snapshot: "bbbb2222".into(), files: 3, bytes: 30, tables: 12 }),
        );
        let passed = record(&status, &[], &[], &[drill]);
        assert_eq!(passed.last_drill_result, Some(DrillResult::Passed));
        assert!(passed.last_drill_message.as_deref().unwrap().contains("12 tables"));
        let broken = run("drill-24089-cccc", "2026-11-28T02:00:00Z", Err("checksum mismatch in files/a.odt".into()));
        let failed = record(&passed, &[], &[], &[broken]);
        assert_eq!(failed.last_drill_result, Some(DrillResult::Failed));
        assert_eq!(failed.last_drill_message.as_deref(), Some("checksum mismatch in files/a.odt"));
        assert_eq!(failed.last_drill_time.as_deref(), Some("2026-11-28T02:00:00Z"));
    }

    #[test]
    fn a_run_status_follows_its_job() {
        assert_eq!(run_status(None, None, false).phase, Some(RunPhase::Pending));
        let going = Run { ended: None, outcome: None, ..run("bk-x", "", Err(String::new())) };
        assert_eq!(run_status(None, Some(&going), true).phase, Some(RunPhase::Running));
        let done = run_status(None, Some(&run("bk-x", "2026-11-21T09:00:00Z", Ok(summary("bbbb2222")))), false);
        assert_eq!(done.phase, Some(RunPhase::Succeeded));
        assert_eq!(done.snapshot.as_deref(), Some("bbbb2222"));
        assert_eq!(done.completion_time.as_deref(), Some("2026-11-21T09:00:00Z"));
        assert!(finished(Some(&done)));
        let failed = run_status(None, Some(&run("bk-x", "2026-11-21T09:00:00Z", Err("locked".into()))), false);
        assert_eq!((failed.phase, failed.message.as_deref()), (Some(RunPhase::Failed), Some("locked")));
        let refused = refused(None, "suspend first".into(), Timestamp::from_second(0).unwrap());
        assert_eq!(refused.phase, Some(RunPhase::Failed));
    }

    #[test]
    fn failures_fall_into_a_few_reasons() {
        assert_eq!(
            failure_reason("concejo-backup failed: pg_dump of database nextcloud on postgres failed"),
            "Database"
        );
        assert_eq!(failure_reason("concejo-drill failed: checksum mismatch in files/a.odt"), "Checksum");
        assert_eq!(failure_reason("DeadlineExceeded: Job was active longer than specified deadline"), "Deadline");
        assert_eq!(failure_reason("the repository cannot be opened (restic exit 1): 403 Forbidden"), "Repository");
        assert_eq!(failure_reason("something odd"), "Other");
    }
}
