//! How the town halls of a province being onboarded stand, pure: fed the Municipalities a watch
//! sees, it counts the Ready and the refused and lists what is left. And how that is shown: a
//! progress bar on a terminal, plain lines otherwise (logs, CI).

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use kube::ResourceExt as _;

use super::table::Row;
use crate::api::v1alpha1::Municipality;

/// Where one town hall is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Not Ready yet; the phase and what is missing, when concejo has said.
    Waiting {
        phase: String,
        problem: Option<String>,
    },
    Ready,
    /// `Valid=False`: concejo will not provision it until the spec or the cluster changes.
    Refused(String),
}

impl State {
    fn of(m: &Municipality) -> Self {
        let row = Row::of(m);
        if !row.observed {
            // A status written for an older spec says nothing of this one.
            return State::Waiting { phase: "Pending".into(), problem: None };
        }
        if row.refused() {
            return State::Refused(row.problem.unwrap_or_default());
        }
        if row.conditions.get("Ready").is_some_and(|s| s == "True") {
            return State::Ready;
        }
        State::Waiting { phase: row.phase, problem: row.problem }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub ready: usize,
    pub refused: usize,
}

/// The town halls being waited for, by name.
#[derive(Debug)]
pub struct Tracker {
    states: BTreeMap<String, State>,
}

impl Tracker {
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        let waiting = || State::Waiting { phase: "Pending".into(), problem: None };
        Self { states: names.into_iter().map(|n| (n, waiting())).collect() }
    }

    /// Takes in what the watch says of a Municipality; ignores the ones not waited for.
    pub fn observe(&mut self, m: &Municipality) {
        if let Some(state) = self.states.get_mut(&m.name_any()) {
            *state = State::of(m);
        }
    }

    pub fn counts(&self) -> Counts {
        let count = |f: fn(&State) -> bool| self.states.values().filter(|s| f(s)).count();
        Counts {
            total: self.states.len(),
            ready: count(|s| *s == State::Ready),
            refused: count(|s| matches!(s, State::Refused(_))),
        }
    }

    /// Every town hall is Ready or refused.
    pub fn done(&self) -> bool {
        self.states.values().all(|s| !matches!(s, State::Waiting { .. }))
    }

    /// The refused, with why.
    pub fn refused(&self) -> Vec<(&str, &str)> {
        self.states
            .iter()
            .filter_map(|(n, s)| match s {
                State::Refused(why) => Some((n.as_str(), why.as_str())),
                _ => None,
            })
            .collect()
    }

    /// The ones still waited for, with their phase and what they wait for.
    pub fn waiting(&self) -> Vec<(&str, String)> {
        self.states
            .iter()
            .filter_map(|(n, s)| match s {
                State::Waiting { phase, problem } => {
                    Some((n.as_str(), problem.as_ref().map_or(phase.clone(), |p| format!("{phase}: {p}"))))
                }
                _ => None,
            })
            .collect()
    }
}

/// One line of progress: "Ready 12/34, refused 1".
pub fn line(counts: Counts) -> String {
    format!("Ready {}/{}, refused {}", counts.ready, counts.total, counts.refused)
}

/// The progress bar on a terminal, a plain line per change (at most one a second) otherwise.
pub enum Display {
    Bar(ProgressBar),
    Lines { printed: Option<(Counts, Instant)> },
}

impl Display {
    pub fn new(total: usize) -> Self {
        // A bar where a person watches both streams; plain lines in logs and pipes.
        if !std::io::stdout().is_terminal() || !std::io::stderr().is_terminal() {
            return Display::Lines { printed: None };
        }
        let bar = ProgressBar::new(total as u64);
        let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} Ready {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        Display::Bar(bar)
    }

    pub fn show(&mut self, counts: Counts) {
        match self {
            Display::Bar(bar) => {
                bar.set_position(counts.ready as u64);
                bar.set_message(if counts.refused > 0 {
                    format!("({} refused)", counts.refused)
                } else {
                    String::new()
                });
            }
            Display::Lines { printed } => {
                let due = printed.is_none_or(|(c, at)| c != counts && at.elapsed() >= Duration::from_secs(1));
                if due {
                    eprintln!("{}", line(counts));
                    *printed = Some((counts, Instant::now()));
                }
            }
        }
    }

    /// The last state, always shown.
    pub fn finish(self, counts: Counts) {
        match self {
            Display::Bar(bar) => {
                bar.finish_and_clear();
                eprintln!("{}", line(counts));
            }
            Display::Lines { printed } => {
                if printed.is_none_or(|(c, _)| c != counts) {
                    eprintln!("{}", line(counts));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn seen(name: &str, generation: i64, observed: i64, conditions: serde_json::Value) -> Municipality {
        serde_json::from_value(json!({
            "apiVersion": "concejo.dev/v1alpha1", "kind": "Municipality",
            "metadata": {"name": name, "generation": generation},
            "spec": {"province": "p", "ineCode": "35001", "displayName": name},
            "status": {"observedGeneration": observed, "phase": "Provisioning", "conditions": conditions}
        }))
        .unwrap()
    }

    fn condition(type_: &str, status: &str, message: &str) -> serde_json::Value {
        json!({"type": type_, "status": status, "reason": "R", "message": message,
               "lastTransitionTime": "2026-11-25T10:00:00Z"})
    }

    #[test]
    fn counts_ready_and_refused_until_none_is_left() {
        let mut tracker = Tracker::new(["a", "b", "c"].map(String::from));
        assert_eq!(tracker.counts(), Counts { total: 3, ready: 0, refused: 0 });
        tracker.observe(&seen("a", 1, 1, json!([condition("Valid", "True", ""), condition("Ready", "True", "")])));
        tracker.observe(&seen("b", 1, 1, json!([condition("Valid", "False", "host taken by agaete")])));
        // Not one of ours: ignored.
        tracker.observe(&seen("z", 1, 1, json!([condition("Ready", "True", "")])));
        assert_eq!(tracker.counts(), Counts { total: 3, ready: 1, refused: 1 });
        assert!(!tracker.done());
        assert_eq!(tracker.waiting(), [("c", "Pending".to_owned())]);
        tracker.observe(&seen("c", 1, 1, json!([condition("Valid", "True", ""), condition("Ready", "False", "x")])));
        assert_eq!(tracker.waiting(), [("c", "Provisioning: Ready: x".to_owned())]);
        tracker.observe(&seen("c", 1, 1, json!([condition("Ready", "True", "")])));
        assert!(tracker.done());
        assert_eq!(tracker.refused(), [("b", "Valid: host taken by agaete")]);
        assert_eq!(line(tracker.counts()), "Ready 2/3, refused 1");
    }

    #[test]
    fn a_status_of_an_older_generation_is_not_believed() {
        let mut tracker = Tracker::new(["a".to_owned()]);
        tracker.observe(&seen("a", 2, 1, json!([condition("Ready", "True", "")])));
        assert_eq!(tracker.counts().ready, 0);
        tracker.observe(&seen("a", 2, 2, json!([condition("Ready", "True", "")])));
        assert_eq!(tracker.counts().ready, 1);
    }
}
