//! Prometheus metrics, served on `/metrics`. Labels are bounded: kinds, outcomes, error
//! categories, never an object's name.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kube::runtime::reflector::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};

use crate::api::v1alpha1::{Municipality, Phase};

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
            (Some(Phase::Degraded), "Degraded"),
            (Some(Phase::Terminating), "Terminating"),
            (None, "Unknown"),
        ];
        let mut counts = [0i64; 6];
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

/// Every metric of the operator, registered once at start.
pub struct Metrics {
    registry: Registry,
    tenants: Arc<OnceLock<Store<Municipality>>>,
    reconciles: Family<OutcomeLabels, Counter>,
    reconcile_duration: Family<OutcomeLabels, Histogram>,
    writes: Family<WriteLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    certificate_expiry: Family<CertificateLabels, Gauge>,
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
        Self { registry, tenants: store, reconciles, reconcile_duration, writes, errors, certificate_expiry }
    }
}

impl Metrics {
    /// Counts tenants by phase from this cache at every scrape (set once, when the controller starts).
    pub fn observe_tenants(&self, store: Store<Municipality>) {
        let _ = self.tenants.set(store);
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
}
