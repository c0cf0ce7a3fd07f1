//! Kubernetes Events, through one recorder for the whole operator so that repeated Events are
//! folded into series instead of piling up. Events are best effort: a failure to record one is
//! logged and counted, never fails a reconcile.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tracing::warn;

use super::metrics::Metrics;

pub struct Events {
    recorder: Recorder,
}

impl Events {
    pub fn new(client: Client, instance: Option<String>) -> Self {
        let reporter = Reporter { controller: "concejo".into(), instance };
        Self { recorder: Recorder::new(client, reporter) }
    }

    /// Records one Event about `regarding` (a Municipality, a Province).
    pub async fn publish(
        &self,
        metrics: &Metrics,
        regarding: &ObjectReference,
        normal: bool,
        reason: &str,
        note: String,
    ) {
        let event = Event {
            type_: if normal { EventType::Normal } else { EventType::Warning },
            reason: reason.to_owned(),
            note: Some(note),
            action: "Reconcile".into(),
            secondary: None,
        };
        match self.recorder.publish(&event, regarding).await {
            Ok(()) => metrics.wrote("Event", "create"),
            Err(err) => warn!(%err, reason, "could not record an Event"),
        }
    }
}
