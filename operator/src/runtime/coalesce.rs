//! Requests to reconcile an object, sent on at most once per period per object. A Province counts
//! its tenants: while a whole province onboards, every tenant's change would ask for its
//! Province's reconcile, and each would write its status again (1,452 Province status writes for
//! 2,248 tenants in a standing start of `make bench`). Coalesced, a Province is looked at once per
//! period while its tenants change, and once more after the last change.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc::{UnboundedSender, unbounded};
use kube::Resource;
use kube::runtime::reflector::ObjectRef;

/// Starts the coalescing task; what is sent to the returned sender reaches `queue` at most once
/// per `period` per name, at the end of the period in which it was asked for.
pub fn every<K>(period: Duration, queue: UnboundedSender<ObjectRef<K>>) -> UnboundedSender<String>
where
    K: Resource<DynamicType = ()> + 'static,
{
    let (asked, mut requests) = unbounded::<String>();
    tokio::spawn(async move {
        let mut due = BTreeSet::new();
        loop {
            // Wait for a first request, then gather what else comes within the period.
            match requests.next().await {
                Some(name) => due.insert(name),
                None => return,
            };
            let gather = tokio::time::sleep(period);
            tokio::pin!(gather);
            let mut open = true;
            while open {
                tokio::select! {
                    () = &mut gather => break,
                    next = requests.next() => match next {
                        Some(name) => { due.insert(name); }
                        None => open = false,
                    },
                }
            }
            for name in std::mem::take(&mut due) {
                if queue.unbounded_send(ObjectRef::new(&name)).is_err() {
                    return; // the controller stopped
                }
            }
            if !open {
                return;
            }
        }
    });
    asked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::v1alpha1::Province;

    #[tokio::test(start_paused = true)]
    async fn many_requests_in_a_period_become_one_per_name() {
        let (queue, mut due) = unbounded::<ObjectRef<Province>>();
        let asked = every(Duration::from_secs(2), queue);
        for _ in 0..500 {
            asked.unbounded_send("leon".into()).unwrap();
            asked.unbounded_send("zamora".into()).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(1_900)).await;
        assert!(due.try_recv().is_err(), "nothing is sent before the period ends");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut sent = vec![due.next().await.unwrap().name, due.next().await.unwrap().name];
        sent.sort();
        assert_eq!(sent, ["leon", "zamora"]);
        assert!(due.try_recv().is_err(), "one each");
        // A later request is a new period.
        asked.unbounded_send("leon".into()).unwrap();
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        assert_eq!(due.next().await.unwrap().name, "leon");
    }
}
