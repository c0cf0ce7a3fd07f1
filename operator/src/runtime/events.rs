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
            note: Some(fit(note)),
            action: "Reconcile".into(),
            secondary: None,
        };
        match self.recorder.publish(&event, regarding).await {
            Ok(()) => metrics.wrote("Event", "create"),
            Err(err) => warn!(%err, reason, "could not record an Event"),
        }
    }
}

/// The API server refuses an Event whose note is over 1024 bytes (an API error quoted whole can
/// be): the note is cut at a character boundary, with an ellipsis.
fn fit(mut note: String) -> String {
    const MAX: usize = 1024;
    if note.len() > MAX {
        let mut end = MAX - '…'.len_utf8();
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
        note.push('…');
    }
    note
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn long_notes_are_cut_to_what_the_api_server_takes() {
        assert_eq!(fit("short".into()), "short");
        let long = "ñ".repeat(700); // 1400 bytes
        let cut = fit(long);
        assert!(cut.len() <= 1024 && cut.ends_with('…'), "{}", cut.len());
        assert_eq!(fit("a".repeat(1024)).len(), 1024);
    }
}
