//! Kubernetes Events, through one publisher for the whole operator so that repeated Events are
//! folded into series instead of piling up. Events are best effort: a failure to record one is
//! logged and counted, never fails a reconcile.
//!
//! Only Events that say the same thing are folded: kube's recorder folds a repeat of (type,
//! reason, object) within 6 minutes into the first Event's series, keeping the first note, so a
//! second drift repair or a new set of unmet ENS measures would only raise a count under an old
//! note. One recorder per note keeps notes apart (as core/v1 Events were aggregated).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tracing::warn;

use super::metrics::Metrics;
use crate::domain::hash;

/// The most the API server takes in an Event's note, in bytes.
pub const NOTE_MAX: usize = 1024;

/// How long kube's recorder remembers an Event to fold repeats into.
const FOLD_WINDOW: Duration = Duration::from_secs(6 * 60);
/// The most recorders kept: each holds the Events it sent, and a province onboarding at once
/// says a different note for every town hall (8,131 of them would keep tens of MB for six
/// minutes). Past it the least recently used goes; a repeat of its note becomes a new Event
/// instead of a count on the old one.
const RECORDERS_MAX: usize = 512;

pub struct Events {
    client: Client,
    reporter: Reporter,
    recorders: Mutex<Recorders>,
}

/// The recorders by the hash of their note, with when each was last used.
struct Recorders {
    by_note: HashMap<u64, (Recorder, Instant)>,
    swept: Instant,
}

impl Events {
    pub fn new(client: Client, instance: Option<String>) -> Self {
        let reporter = Reporter { controller: "concejo".into(), instance };
        let recorders = Recorders { by_note: HashMap::new(), swept: Instant::now() };
        Self { client, reporter, recorders: Mutex::new(recorders) }
    }

    /// The recorder of Events with this note; those unused for longer than a fold are forgotten.
    fn recorder(&self, note: &str) -> Recorder {
        let now = Instant::now();
        let mut recorders = self.recorders.lock().expect("poisoned");
        if now.duration_since(recorders.swept) > FOLD_WINDOW {
            recorders.by_note.retain(|_, (_, used)| now.duration_since(*used) < FOLD_WINDOW);
            recorders.swept = now;
        }
        let key = hash::fnv1a(note.as_bytes());
        if !recorders.by_note.contains_key(&key) && recorders.by_note.len() >= RECORDERS_MAX {
            let oldest = recorders.by_note.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                recorders.by_note.remove(&oldest);
            }
        }
        let (recorder, used) = recorders
            .by_note
            .entry(key)
            .or_insert_with(|| (Recorder::new(self.client.clone(), self.reporter.clone()), now));
        *used = now;
        recorder.clone()
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
        let note = fit(note);
        let recorder = self.recorder(&note);
        let event = Event {
            type_: if normal { EventType::Normal } else { EventType::Warning },
            reason: reason.to_owned(),
            note: Some(note),
            action: "Reconcile".into(),
            secondary: None,
        };
        match recorder.publish(&event, regarding).await {
            Ok(()) => metrics.wrote("Event", "create"),
            Err(err) => warn!(%err, reason, "could not record an Event"),
        }
    }
}

/// The API server refuses an Event whose note is over 1024 bytes (an API error quoted whole can
/// be): the note is cut at a character boundary, with an ellipsis.
fn fit(mut note: String) -> String {
    if note.len() > NOTE_MAX {
        let mut end = NOTE_MAX - '…'.len_utf8();
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
    use super::*;
    use http::{Request, Response};
    use kube::client::Body;

    #[tokio::test]
    async fn only_events_that_say_the_same_are_folded() {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let events = Events::new(Client::new(service, "default"), None);
        let server = tokio::spawn(async move {
            let mut methods = vec![];
            while let Some((request, respond)) = handle.next_request().await {
                methods.push(request.method().to_string());
                let body = request.into_body().collect_bytes().await.unwrap();
                respond.send_response(Response::builder().status(200).body(Body::from(body.to_vec())).unwrap());
            }
            methods
        });
        let regarding =
            ObjectReference { kind: Some("Municipality".into()), name: Some("leon".into()), ..Default::default() };
        for note in [
            "created 1: NetworkPolicy deny-all",
            "created 1: NetworkPolicy allow-dns",
            "created 1: NetworkPolicy deny-all",
        ] {
            events.publish(&Metrics::default(), &regarding, true, "ObjectsWritten", note.into()).await;
        }
        drop(events);
        // A new note is a new Event; the same note again is a repeat in its series.
        assert_eq!(server.await.unwrap(), ["POST", "POST", "PATCH"]);
    }

    #[tokio::test]
    async fn a_province_onboarding_keeps_a_bounded_number_of_recorders() {
        let (service, _handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let events = Events::new(Client::new(service, "default"), None);
        events.recorder("the first note");
        for n in 0..2 * RECORDERS_MAX {
            events.recorder(&format!("tenant namespace muni-{n:05} is provisioned"));
            if n == 2 * RECORDERS_MAX - 10 {
                events.recorder("the first note"); // used again: among the most recent
            }
        }
        let recorders = events.recorders.lock().unwrap();
        assert_eq!(recorders.by_note.len(), RECORDERS_MAX);
        assert!(recorders.by_note.contains_key(&hash::fnv1a(b"the first note")), "recently used, kept");
        assert!(!recorders.by_note.contains_key(&hash::fnv1a(b"tenant namespace muni-00000 is provisioned")));
    }

    #[test]
    fn long_notes_are_cut_to_what_the_api_server_takes() {
        assert_eq!(fit("short".into()), "short");
        let long = "ñ".repeat(700); // 1400 bytes
        let cut = fit(long);
        assert!(cut.len() <= 1024 && cut.ends_with('…'), "{}", cut.len());
        assert_eq!(fit("a".repeat(1024)).len(), 1024);
    }
}
