//! What the control plane itself says about one phase of the run: the API server's and etcd's
//! /metrics scraped before and after it, turned into requests and writes (per tenant), request
//! latencies from the histograms, and the processes' CPU and memory.

use std::path::Path;

use anyhow::Context as _;

use crate::Out;
use crate::prom::{Key, Scrape};

/// The verbs of `apiserver_request_total` that change something.
pub const WRITE_VERBS: &[&str] = &["POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"];
/// Long-running requests: their duration is how long they stayed open, not a latency.
const LONG_RUNNING: &[&str] = &["WATCH", "CONNECT"];
/// The control plane's own heartbeats (kwok's node leases and statuses, leader leases): writes
/// that go on whatever concejo does.
const HEARTBEATS: &[&str] = &["leases", "nodes"];

fn is_write(k: &Key) -> bool {
    WRITE_VERBS.contains(&k.label("verb"))
}

fn is_read(k: &Key) -> bool {
    matches!(k.label("verb"), "GET" | "LIST")
}

fn not_heartbeat(k: &Key) -> bool {
    !HEARTBEATS.contains(&k.label("resource"))
}

fn read(path: &Path) -> anyhow::Result<Scrape> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Scrape::parse(&text))
}

/// A count from a difference of counters (never "-0").
fn count(v: f64) -> i64 {
    v.round() as i64
}

fn ms(seconds: Option<f64>) -> String {
    seconds.map(|s| format!("{:.1}", s * 1000.0)).unwrap_or_else(|| "n/a".into())
}

fn mb(bytes: Option<f64>) -> String {
    bytes.map(|b| format!("{:.0}", b / 1_048_576.0)).unwrap_or_else(|| "n/a".into())
}

/// The figures of one phase as `<prefix>_<name>=value` lines; the writes by resource and verb
/// go to stderr, for the log.
pub fn phase(
    out: &mut Out,
    prefix: &str,
    tenants: u64,
    api: (&Path, &Path),
    etcd: (&Path, &Path),
) -> anyhow::Result<()> {
    let (api0, api1) = (read(api.0)?, read(api.1)?);
    let (etcd0, etcd1) = (read(etcd.0)?, read(etcd.1)?);
    let a = api1.since(&api0);
    let e = etcd1.since(&etcd0);
    let per = |v: f64| format!("{:.2}", v / tenants.max(1) as f64);
    let p = |name: &str| format!("{prefix}_{name}");

    let requests = a.sum("apiserver_request_total", |_| true);
    let writes = a.sum("apiserver_request_total", is_write);
    let writes_not_heartbeats = a.sum("apiserver_request_total", |k| is_write(k) && not_heartbeat(k));
    out.put(p("api_requests"), count(requests));
    out.put(p("api_requests_per_tenant"), per(requests));
    out.put(p("api_writes"), count(writes));
    out.put(p("api_writes_per_tenant"), per(writes));
    out.put(p("api_writes_not_heartbeats"), count(writes_not_heartbeats));
    out.put(p("api_reads"), count(a.sum("apiserver_request_total", is_read)));
    out.put(p("api_watches"), count(a.sum("apiserver_request_total", |k| k.label("verb") == "WATCH")));
    out.put(p("api_errors_5xx"), count(a.sum("apiserver_request_total", |k| k.label("code").starts_with('5'))));
    out.put(p("api_throttled_429"), count(a.sum("apiserver_request_total", |k| k.label("code") == "429")));

    let duration = "apiserver_request_duration_seconds";
    let short = |k: &Key| !LONG_RUNNING.contains(&k.label("verb"));
    out.put(p("api_write_p50_ms"), ms(a.quantile(duration, 0.5, is_write)));
    out.put(p("api_write_p99_ms"), ms(a.quantile(duration, 0.99, is_write)));
    out.put(p("api_read_p50_ms"), ms(a.quantile(duration, 0.5, is_read)));
    out.put(p("api_read_p99_ms"), ms(a.quantile(duration, 0.99, is_read)));
    out.put(p("api_all_p99_ms"), ms(a.quantile(duration, 0.99, short)));
    // The API server's requests to etcd, as it timed them (network and etcd together).
    out.put(p("api_etcd_p50_ms"), ms(a.quantile("etcd_request_duration_seconds", 0.5, |_| true)));
    out.put(p("api_etcd_p99_ms"), ms(a.quantile("etcd_request_duration_seconds", 0.99, |_| true)));
    out.put(p("apiserver_cpu_s"), format!("{:.1}", a.value("process_cpu_seconds_total").unwrap_or(0.0)));
    out.put(p("apiserver_rss_mb"), mb(api1.value("process_resident_memory_bytes")));

    // etcd's own view: applying a write (Txn) and serving a read (Range).
    out.put(p("etcd_apply_p50_ms"), ms(e.quantile("etcd_server_apply_duration_seconds", 0.5, |_| true)));
    out.put(p("etcd_apply_p99_ms"), ms(e.quantile("etcd_server_apply_duration_seconds", 0.99, |_| true)));
    out.put(p("etcd_range_p99_ms"), ms(e.quantile("etcd_server_range_duration_seconds", 0.99, |_| true)));
    out.put(p("etcd_commit_p99_ms"), ms(e.quantile("etcd_disk_backend_commit_duration_seconds", 0.99, |_| true)));
    out.put(p("etcd_cpu_s"), format!("{:.1}", e.value("process_cpu_seconds_total").unwrap_or(0.0)));
    out.put(p("etcd_rss_mb"), mb(etcd1.value("process_resident_memory_bytes")));
    out.put(p("etcd_db_mb"), mb(etcd1.value("etcd_mvcc_db_total_size_in_bytes")));

    let by_resource = a.by("apiserver_request_total", is_write, |k| {
        let sub = k.label("subresource");
        let resource =
            if sub.is_empty() { k.label("resource").to_owned() } else { format!("{}/{sub}", k.label("resource")) };
        format!("{resource} {}", k.label("verb"))
    });
    eprintln!("  API server writes in {prefix}, by resource and verb (apiserver_request_total):");
    for (what, n) in by_resource {
        eprintln!("    {n:>8.0}  {what}");
    }
    Ok(())
}
