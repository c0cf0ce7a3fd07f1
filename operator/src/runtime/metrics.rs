//! Prometheus metrics, served on `/metrics`. Labels are bounded: kinds, outcomes, error
//! categories, never an object's name.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kube::runtime::reflector::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};

use crate::api::v1alpha1::{BackupStatus, DrillResult, Municipality, Phase};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// How a reconcile ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Outcome {
    /// Finished; nothing to retry.
    Success,
    /// The spec cannot be honoured (reported as `Valid=False`).
    Invalid,
    /// Failed; retried with backoff.
    Error,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WriteLabels {
    /// One of the fixed set of kinds concejo writes.
    kind: String,
    verb: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    category: &'static str,
}

/// One series per tenant certificate: the INE code is a closed set (8,131 municipalities), so
/// the cardinality is bounded by the tenants themselves, as cert-manager's per-certificate metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CertificateLabels {
    ine_code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: &'static str,
}

/// `concejo_tenants{phase}`, counted from the Municipality watch cache at each scrape.
#[derive(Debug, Default)]
struct TenantsByPhase(Arc<OnceLock<Store<Municipality>>>);

impl Collector for TenantsByPhase {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(store) = self.0.get() else { return Ok(()) };
        let phases = [
            (Some(Phase::Pending), "Pending"),
            (Some(Phase::Provisioning), "Provisioning"),
            (Some(Phase::Ready), "Ready"),
            (Some(Phase::Suspended), "Suspended"),
            (Some(Phase::Degraded), "Degraded"),
            (Some(Phase::Terminating), "Terminating"),
            (None, "Unknown"),
        ];
        let mut counts = [0i64; 7];
        for m in store.state() {
            let phase = m.status.as_ref().and_then(|s| s.phase);
            if let Some(i) = phases.iter().position(|(p, _)| *p == phase) {
                counts[i] += 1;
            }
        }
        let mut family = encoder.encode_descriptor("tenants", "Municipalities by phase", None, MetricType::Gauge)?;
        for ((_, phase), n) in phases.iter().zip(counts) {
            ConstGauge::new(n).encode(family.encode_family(&PhaseLabels { phase })?)?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    ine_code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DrillLabels {
    ine_code: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    /// backup, retain or drill.
    run: &'static str,
    reason: &'static str,
}

/// An RFC 3339 time as unix seconds.
fn unix_seconds(time: &Option<String>) -> Option<i64> {
    time.as_deref()?.parse::<k8s_openapi::jiff::Timestamp>().ok().map(|t| t.as_second())
}

/// The last backup and drill of every tenant, read from `status.backup` in the Municipality
/// cache at each scrape (so they survive restarts and need no bookkeeping): one series per
/// tenant, like the certificate expiry.
#[derive(Debug, Default)]
struct Backups(Arc<OnceLock<Store<Municipality>>>);

impl Collector for Backups {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(store) = self.0.get() else { return Ok(()) };
        let tenants = store.state();
        // Borrowed, not cloned: a status holds the list of recorded snapshots.
        let backups: Vec<(&str, &BackupStatus)> = tenants
            .iter()
            .filter_map(|m| Some((m.spec.ine_code.as_str(), m.status.as_ref()?.backup.as_ref()?)))
            .collect();
        type Read = fn(&BackupStatus) -> Option<i64>;
        let gauges: [(&str, &str, Read); 3] = [
            (
                "backup_last_success_timestamp_seconds",
                "When each tenant's last backup ended well (unix seconds)",
                |b| unix_seconds(&b.last_success_time),
            ),
            ("backup_last_duration_seconds", "How long each tenant's last backup took", |b| b.last_duration_seconds),
            ("backup_last_size_bytes", "Bytes in each tenant's last snapshot", |b| b.last_bytes),
        ];
        for (name, help, value) in gauges {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (ine_code, backup) in &backups {
                if let Some(v) = value(backup) {
                    let labels = TenantLabels { ine_code: (*ine_code).to_owned() };
                    ConstGauge::new(v).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        let mut family = encoder.encode_descriptor(
            "backup_last_drill_timestamp_seconds",
            "When each tenant's last restore drill ended (unix seconds), by its result",
            None,
            MetricType::Gauge,
        )?;
        for (ine_code, backup) in &backups {
            if let (Some(t), Some(result)) = (unix_seconds(&backup.last_drill_time), backup.last_drill_result) {
                let result = if result == DrillResult::Passed { "Passed" } else { "Failed" };
                let labels = DrillLabels { ine_code: (*ine_code).to_owned(), result };
                ConstGauge::new(t).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// Every metric of the operator, registered once at start.
pub struct Metrics {
    registry: Registry,
    tenants: Arc<OnceLock<Store<Municipality>>>,
    reconciles: Family<OutcomeLabels, Counter>,
    reconcile_duration: Family<OutcomeLabels, Histogram>,
    writes: Family<WriteLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    certificate_expiry: Family<CertificateLabels, Gauge>,
    backups: Arc<OnceLock<Store<Municipality>>>,
    backup_failures: Family<FailureLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("concejo");
        let reconciles = Family::<OutcomeLabels, Counter>::default();
        let reconcile_duration = Family::<OutcomeLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.001, 2.0, 15))) as fn() -> Histogram,
        );
        let writes = Family::<WriteLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register("reconciles", "Reconciles of Municipalities, by outcome", reconciles.clone());
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconcile of a Municipality took, by outcome",
            reconcile_duration.clone(),
        );
        registry.register(
            "api_writes",
            "Writes concejo sent to the Kubernetes API server, by kind and verb",
            writes.clone(),
        );
        registry.register("reconcile_errors", "Failed reconciles, by error category", errors.clone());
        let certificate_expiry = Family::<CertificateLabels, Gauge>::default();
        registry.register(
            "certificate_expiration_timestamp_seconds",
            "When each tenant's TLS certificate expires (unix seconds), by INE code",
            certificate_expiry.clone(),
        );
        let tenants = TenantsByPhase::default();
        let store = tenants.0.clone();
        registry.register_collector(Box::new(tenants));
        let backup_collector = Backups::default();
        let backups = backup_collector.0.clone();
        registry.register_collector(Box::new(backup_collector));
        let backup_failures = Family::<FailureLabels, Counter>::default();
        registry.register(
            "backup_failures",
            "Backup, retention and drill runs that failed, by run and reason",
            backup_failures.clone(),
        );
        Self {
            registry,
            tenants: store,
            reconciles,
            reconcile_duration,
            writes,
            errors,
            certificate_expiry,
            backups,
            backup_failures,
        }
    }
}

impl Metrics {
    /// Counts tenants by phase from this cache at every scrape (set once, when the controller starts).
    pub fn observe_tenants(&self, store: Store<Municipality>) {
        let _ = self.tenants.set(store.clone());
        let _ = self.backups.set(store);
    }

    /// Counts one failed run (`run`: backup, retain or drill; `reason` from a fixed set).
    pub fn backup_failed(&self, run: &'static str, reason: &'static str) {
        self.backup_failures.get_or_create(&FailureLabels { run, reason }).inc();
    }

    pub fn reconciled(&self, outcome: Outcome, took: Duration) {
        let labels = OutcomeLabels { outcome };
        self.reconciles.get_or_create(&labels).inc();
        self.reconcile_duration.get_or_create(&labels).observe(took.as_secs_f64());
    }

    /// Counts one write (`apply`, `delete`, `patch`, `status`) sent to the API server.
    pub fn wrote(&self, kind: &str, verb: &'static str) {
        self.writes.get_or_create(&WriteLabels { kind: kind.to_owned(), verb }).inc();
    }

    /// Records the expiry of a tenant's certificate (`None`: the tenant is gone).
    pub fn certificate_expires(&self, ine_code: &str, not_after: Option<i64>) {
        let labels = CertificateLabels { ine_code: ine_code.to_owned() };
        match not_after {
            Some(t) => {
                self.certificate_expiry.get_or_create(&labels).set(t);
            }
            None => {
                self.certificate_expiry.remove(&labels);
            }
        }
    }

    pub fn failed(&self, category: &'static str) {
        self.errors.get_or_create(&ErrorLabels { category }).inc();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_bounded_labels() {
        let m = Metrics::default();
        m.reconciled(Outcome::Success, Duration::from_millis(3));
        m.wrote("Namespace", "apply");
        m.failed("Kubernetes");
        let text = m.encode();
        assert!(text.contains("concejo_reconciles_total{outcome=\"Success\"} 1"), "{text}");
        assert!(text.contains("concejo_api_writes_total{kind=\"Namespace\",verb=\"apply\"} 1"), "{text}");
        assert!(text.contains("concejo_reconcile_errors_total{category=\"Kubernetes\"} 1"), "{text}");
        assert!(text.contains("concejo_reconcile_duration_seconds_bucket"), "{text}");
    }

    #[test]
    fn backups_are_read_from_the_tenants_status() {
        let m = Metrics::default();
        let (store, mut writer) = kube::runtime::reflector::store::<Municipality>();
        let mut muni = crate::testing::municipality("leon", "24089");
        muni.status = Some(crate::api::v1alpha1::MunicipalityStatus {
            backup: Some(crate::api::v1alpha1::BackupStatus {
                last_success_time: Some("2026-11-20T01:10:00Z".into()),
                last_bytes: Some(52_428_800),
                last_duration_seconds: Some(13),
                last_drill_time: Some("2026-11-20T02:00:00Z".into()),
                last_drill_result: Some(crate::api::v1alpha1::DrillResult::Failed),
                ..Default::default()
            }),
            ..Default::default()
        });
        writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(muni));
        m.observe_tenants(store);
        m.backup_failed("drill", "Checksum");
        let text = m.encode();
        for line in [
            "concejo_backup_last_success_timestamp_seconds{ine_code=\"24089\"} 1795137000",
            "concejo_backup_last_size_bytes{ine_code=\"24089\"} 52428800",
            "concejo_backup_last_duration_seconds{ine_code=\"24089\"} 13",
            "concejo_backup_last_drill_timestamp_seconds{ine_code=\"24089\",result=\"Failed\"} 1795140000",
            "concejo_backup_failures_total{run=\"drill\",reason=\"Checksum\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing in {text}");
        }
    }
}
