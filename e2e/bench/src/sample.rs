//! The processes over time, from /proc: every `every`, each process named by a file in the PID
//! folder (the local control plane's `pids/`: etcd, kube-apiserver, ..., concejo, and the floor)
//! and the whole machine (all cores, whoever uses them: other work on the machine shows here).
//! Lines: `<unix seconds>\t<name>\t<CPU seconds used so far>\t<resident kB>`; the machine's line
//! has the busy CPU seconds of all cores and no memory.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;

use crate::epoch;

/// utime + stime of a process, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks())
}

/// A line of /proc/<pid>/status in kB (`VmRSS`, `VmHWM`).
pub fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':')?.split_whitespace().next()?.parse().ok())
}

fn clock_ticks() -> f64 {
    // Linux has reported USER_HZ = 100 to user space on every architecture for decades.
    100.0
}

/// Busy CPU seconds of the whole machine (all cores): everything but idle and iowait.
fn machine_busy() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<f64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let total: f64 = cpu.iter().take(8).sum();
    let idle = cpu.get(3)? + cpu.get(4)?;
    Some((total - idle) / clock_ticks())
}

fn pids(dir: &Path) -> Vec<(String, u32)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return vec![] };
    let mut pids: Vec<(String, u32)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let pid = std::fs::read_to_string(e.path()).ok()?.trim().parse().ok()?;
            Some((e.file_name().to_string_lossy().into_owned(), pid))
        })
        .collect();
    pids.sort();
    pids
}

/// Samples until killed (the caller stops it with SIGTERM when the phase ends).
pub async fn run(dir: &Path, every: Duration, out_path: &Path) -> anyhow::Result<()> {
    let mut file = std::fs::File::create(out_path).with_context(|| format!("cannot write {}", out_path.display()))?;
    let mut tick = tokio::time::interval(every);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = term.recv() => break,
        }
        let now = epoch();
        if let Some(busy) = machine_busy() {
            writeln!(file, "{now:.3}\tmachine\t{busy:.2}\t0")?;
        }
        for (name, pid) in pids(dir) {
            if let (Some(cpu), Some(rss)) = (cpu_seconds(pid), status_kb(pid, "VmRSS")) {
                writeln!(file, "{now:.3}\t{name}\t{cpu:.2}\t{rss}")?;
            }
        }
        file.flush()?;
    }
    Ok(())
}
