//! The run's results, from the `key=value` lines every step appended to `results.env` and the
//! series files next to it: two markdown rows for docs/benchmarks.md (concejo against the floor,
//! and the control plane in each run) and the figure (tenants Ready over time; CPU and memory of
//! the processes over the onboarding).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::plot::{self, COLOURS, Line, Panel};

pub struct Results {
    dir: PathBuf,
    values: BTreeMap<String, String>,
}

impl Results {
    pub fn read(dir: &Path) -> anyhow::Result<Results> {
        let path = dir.join("results.env");
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let values = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Ok(Results { dir: dir.to_owned(), values })
    }

    pub fn get(&self, key: &str) -> &str {
        self.values.get(key).map(String::as_str).filter(|v| !v.is_empty()).unwrap_or("n/a")
    }

    /// A duration with its unit, or what was recorded instead ("not reached in ...").
    pub fn secs(&self, key: &str) -> String {
        match self.num(key) {
            Some(_) => format!("{} s", self.get(key)),
            None => self.get(key).to_owned(),
        }
    }

    fn num(&self, key: &str) -> Option<f64> {
        self.values.get(key)?.parse().ok()
    }

    /// `(unix seconds, name)` lines of a series file.
    fn times(&self, file: &str) -> Vec<f64> {
        let text = std::fs::read_to_string(self.dir.join(file)).unwrap_or_default();
        text.lines().filter_map(|l| l.split('\t').next()?.parse().ok()).collect()
    }

    /// Per process: (unix seconds, CPU seconds, resident kB) samples.
    fn processes(&self, file: &str) -> BTreeMap<String, Vec<(f64, f64, f64)>> {
        let text = std::fs::read_to_string(self.dir.join(file)).unwrap_or_default();
        let mut by: BTreeMap<String, Vec<(f64, f64, f64)>> = BTreeMap::new();
        for l in text.lines() {
            let f: Vec<&str> = l.split('\t').collect();
            if let [t, name, cpu, rss] = f[..]
                && let (Ok(t), Ok(cpu), Ok(rss)) = (t.parse(), cpu.parse(), rss.parse())
            {
                by.entry(name.to_owned()).or_default().push((t, cpu, rss));
            }
        }
        by
    }

    /// Average cores used over a phase's samples: the machine's, and all but the sampled
    /// processes' (other work on the machine).
    pub fn machine(&self, file: &str) -> (String, String) {
        let by = self.processes(file);
        // CPU seconds used between a process's first and last sample, and over how long.
        let used = |s: &Vec<(f64, f64, f64)>| match (s.first(), s.last()) {
            (Some(a), Some(b)) if b.0 > a.0 => Some((b.1 - a.1, b.0 - a.0)),
            _ => None,
        };
        let Some((busy, span)) = by.get("machine").and_then(used) else { return ("n/a".into(), "n/a".into()) };
        // A process that lived part of the run (kubectl) counts for its CPU seconds over the whole run.
        let ours: f64 = by.iter().filter(|(n, _)| *n != "machine").filter_map(|(_, s)| used(s)).map(|u| u.0).sum();
        (format!("{:.2}", busy / span), format!("{:.2}", ((busy - ours) / span).max(0.0)))
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "n/a".into(),
    }
}

fn mb(kb: &str) -> String {
    kb.parse::<f64>().map(|k| format!("{:.0}", k / 1024.0)).unwrap_or_else(|_| "n/a".into())
}

/// Prints the machine, the command, both tables' headers and rows; writes the figure.
pub fn print(r: &Results, plot_path: Option<&Path>) -> anyhow::Result<()> {
    let n = match r.values.get("variant").filter(|v| !v.is_empty()) {
        Some(variant) => format!("{} {variant}", r.get("n")),
        None => r.get("n").to_owned(),
    };
    let live = r.num("live_ready_s");
    let standing = r.num("standing_ready_s");
    let floor = r.num("floor_s");
    let floor_total = match (r.num("floor_kubectl_s"), floor) {
        (Some(k), Some(f)) => Some(k + f),
        _ => None,
    };
    println!("Machine: {}", r.get("machine"));
    println!(
        "Command: {}   ({}, {}, binary sha256 {})",
        r.get("command"),
        r.get("date"),
        r.get("build"),
        r.get("binary_sha256")
    );
    println!(
        "Load average before: {}; other local control planes running: {}; other processes' CPU during the onboarding: {} cores (of {})",
        r.get("load_average_before"),
        r.get("other_control_planes"),
        r.machine("proc-live.tsv").1,
        r.get("cores"),
    );
    println!();
    println!(
        "| date | N | first apply to all Ready | kubectl apply | standing start to all Ready | floor | concejo / floor | API requests, writes per tenant | concejo writes per tenant | operator CPU | operator RSS end / peak | resync: API writes, concejo writes | spec change to Ready p50 / p99 | drift repaired p50 / p99 |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| {} | {n} | {} | {} | {} | {} | {} (live: {}) | {}, {} | {} | {} | {} / {} MB | {}, {} | {} / {} ms | {} / {} ms |",
        r.get("date"),
        r.secs("live_ready_s"),
        r.secs("live_kubectl_s"),
        r.secs("standing_ready_s"),
        r.secs("floor_s"),
        ratio(standing, floor),
        ratio(live, floor_total),
        r.get("live_api_requests_per_tenant"),
        r.get("live_api_writes_per_tenant"),
        r.get("live_concejo_writes_per_tenant"),
        r.secs("live_operator_cpu_s"),
        mb(r.get("operator_rss_end_kb")),
        mb(r.get("operator_hwm_kb")),
        r.get("resync_api_writes_not_heartbeats"),
        r.get("resync_concejo_writes"),
        r.get("spec_p50_ms"),
        r.get("spec_p99_ms"),
        r.get("drift_p50_ms"),
        r.get("drift_p99_ms"),
    );
    println!();
    println!(
        "| N | run | time | API writes per tenant | API server CPU / RSS end | etcd CPU / RSS end | API write p50 / p99 | API read p99 | API to etcd p50 / p99 | etcd apply p99 | machine busy (others) |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (run, label, time, proc) in [
        ("live", "concejo, live onboarding", "live_ready_s", "proc-live.tsv"),
        ("standing", "concejo, standing start", "standing_ready_s", "proc-standing.tsv"),
        ("floor", "floor", "floor_s", "proc-floor.tsv"),
    ] {
        if !r.values.contains_key(time) {
            continue;
        }
        let (busy, others) = r.machine(proc);
        let k = |s: &str| r.get(&format!("{run}_{s}")).to_owned();
        println!(
            "| {n} | {label} | {} | {} | {} s / {} MB | {} s / {} MB | {} / {} ms | {} ms | {} / {} ms | {} ms | {busy} ({others}) cores |",
            r.secs(time),
            k("api_writes_per_tenant"),
            k("apiserver_cpu_s"),
            k("apiserver_rss_mb"),
            k("etcd_cpu_s"),
            k("etcd_rss_mb"),
            k("api_write_p50_ms"),
            k("api_write_p99_ms"),
            k("api_read_p99_ms"),
            k("api_etcd_p50_ms"),
            k("api_etcd_p99_ms"),
            k("etcd_apply_p99_ms"),
        );
    }
    if let Some(path) = plot_path {
        std::fs::write(path, figure(r)).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("figure written to {}", path.display());
    }
    Ok(())
}

/// A process's colour, the same in every panel.
fn colour(name: &str) -> &'static str {
    match name {
        "kube-apiserver" => "#9467bd",
        "etcd" => "#ff7f0e",
        "concejo" | "floor" => "#2ca02c",
        "kubectl" => "#1f77b4",
        "kube-controller-manager" => "#8c564b",
        "machine" => "#7f7f7f",
        _ => "#bcbd22",
    }
}

/// At most this many points per line: longer runs are averaged over longer windows.
const POINTS: usize = 300;

/// Every how many samples a point is drawn.
fn stride(samples: usize) -> usize {
    samples.div_ceil(POINTS).max(1)
}

/// Cores used between samples (averaged over [`stride`] samples), at seconds from `t0`.
fn rates(samples: &[(f64, f64, f64)], t0: f64) -> Vec<(f64, f64)> {
    let kept: Vec<_> = samples.iter().step_by(stride(samples.len())).collect();
    kept.windows(2)
        .filter(|w| w[1].0 > w[0].0)
        .map(|w| (w[1].0 - t0, (w[1].1 - w[0].1) / (w[1].0 - w[0].0)))
        .filter(|p| p.0 >= 0.0)
        .collect()
}

/// The runs: name in the legend, label, Ready series, its start, processes.
const RUNS: [(&str, &str, &str, &str, &str); 3] = [
    ("concejo, live", "live", "ready-live.tsv", "live_t0", "proc-live.tsv"),
    ("concejo, standing start", "standing", "ready-standing.tsv", "standing_t0", "proc-standing.tsv"),
    ("floor", "floor", "floor.tsv", "floor_started", "proc-floor.tsv"),
];

/// Tenants Ready over time in each run; the API server's CPU in each run; the live run's
/// processes: CPU (cores) and memory.
fn figure(r: &Results) -> String {
    let n = r.get("n");
    let mut ready = vec![];
    let mut api = vec![];
    for (i, (name, _, file, t0, procs)) in RUNS.iter().enumerate() {
        let t0 = r.num(t0).unwrap_or(0.0);
        let times: Vec<f64> = r.times(file).into_iter().map(|t| t - t0).collect();
        if times.is_empty() {
            continue;
        }
        let colour = COLOURS[i];
        ready.push(Line { name: (*name).into(), colour, points: plot::cumulative(&times) });
        if let Some(samples) = r.processes(procs).get("kube-apiserver") {
            api.push(Line { name: (*name).into(), colour, points: rates(samples, t0) });
        }
    }
    let t0 = r.num("live_t0").unwrap_or(0.0);
    let mut cpu = vec![];
    let mut rss = vec![];
    for (name, samples) in &r.processes("proc-live.tsv") {
        let rate = rates(samples, t0);
        if rate.iter().all(|p| p.1 < 0.05) {
            continue; // idle all along: not worth a line
        }
        cpu.push(Line { name: name.clone(), colour: colour(name), points: rate });
        if matches!(name.as_str(), "kube-apiserver" | "etcd" | "concejo" | "kube-controller-manager") {
            let mem = samples
                .iter()
                .step_by(stride(samples.len()))
                .map(|s| (s.0 - t0, s.2 / 1024.0))
                .filter(|p| p.0 >= 0.0)
                .collect();
            rss.push(Line { name: name.clone(), colour: colour(name), points: mem });
        }
    }
    let panels = vec![
        Panel {
            title: format!("Tenants Ready (of {n}); the floor: tenants applied"),
            y_label: "tenants".into(),
            lines: ready,
        },
        Panel { title: "The API server's CPU in each run".into(), y_label: "cores".into(), lines: api },
        Panel {
            title: "CPU during the live onboarding (machine: all cores)".into(),
            y_label: "cores".into(),
            lines: cpu,
        },
        Panel { title: "Resident memory during the live onboarding".into(), y_label: "MiB".into(), lines: rss },
    ];
    let caption = [
        format!("{}; {}; {}", r.get("date"), r.get("build"), r.get("machine")),
        "Live: from the first kubectl apply of the Municipalities, with the operator running. Standing start: the"
            .into(),
        "Municipalities applied first, from the operator's start. Floor: the same, from the floor client's start."
            .into(),
    ];
    plot::figure(
        &format!("Onboarding {n} town halls: concejo and the floor"),
        &caption,
        "seconds from the start of each run",
        &panels,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_runs_are_drawn_with_a_bounded_number_of_points() {
        let samples: Vec<(f64, f64, f64)> = (0..1000).map(|i| (i as f64 * 0.5, i as f64 * 0.25, 0.0)).collect();
        let line = rates(&samples, 0.0);
        assert!(line.len() <= POINTS, "{}", line.len());
        assert!(line.iter().all(|p| (p.1 - 0.5).abs() < 1e-9), "half a core all along");
        assert_eq!(rates(&samples[..10], 0.0).len(), 9);
    }

    #[test]
    fn other_work_is_the_machine_less_every_sampled_process_for_its_cpu_seconds() {
        let dir = std::env::temp_dir().join(format!("concejo-bench-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("results.env"), "n=1\n").unwrap();
        // 10 s: the machine 1.5 cores busy; the API server half a core all along; kubectl one core
        // for 2 s. Others: (15 - 5 - 2) / 10 = 0.8 cores.
        let proc = "0\tmachine\t0\t0\n10\tmachine\t15\t0\n0\tkube-apiserver\t0\t1\n10\tkube-apiserver\t5\t1\n\
                    3\tkubectl\t0\t1\n5\tkubectl\t2\t1\n";
        std::fs::write(dir.join("proc-live.tsv"), proc).unwrap();
        let r = Results::read(&dir).unwrap();
        assert_eq!(r.machine("proc-live.tsv"), ("1.50".to_owned(), "0.80".to_owned()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
