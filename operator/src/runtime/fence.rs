//! Writes only while this replica holds the Lease in time.
//!
//! kube-lease-manager says when leadership is won or lost, but only once it has talked to the API
//! server again: a leader that was paused (SIGSTOP, a frozen VM, a long GC-like stall) or cut off
//! from the API server still believes it leads when it resumes, while a standby may have taken
//! the Lease meanwhile. So every write the controllers send goes through a [`Fence`]: it is open
//! until shortly before the Lease, as last seen renewed by this replica, expires, measured on the
//! monotonic clock (which keeps counting while the process is stopped). A resumed leader's writes
//! are refused before they leave the process; the controllers retry them with their backoff, and
//! the process exits once the lease manager sees that another replica holds the Lease.
//!
//! The fence is looked at when a write is handed to the client and again each time its future is
//! polled, up to its answer: the client sends nothing before the first poll, so a write that
//! passed just before the process was paused is dropped unsent when it resumes (seen happen under
//! load before this second look: e2e/tests/faults.rs). Left open: a write already handed to a
//! connection when the process is paused. Only the API server could refuse that one (Leases
//! carry no fencing token it checks).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Method, Request};
use tokio::time::Instant;

/// Whether writes may be sent now.
#[derive(Debug)]
pub struct Fence {
    /// Without leader election every write is allowed.
    always_open: bool,
    base: Instant,
    /// Milliseconds after `base` until which writes are allowed (0: closed).
    until_ms: AtomicU64,
}

impl Fence {
    /// A fence that never closes (one replica, no leader election).
    pub fn open() -> Arc<Self> {
        Arc::new(Self { always_open: true, base: Instant::now(), until_ms: AtomicU64::new(0) })
    }

    /// A fence closed until [`hold_until`](Self::hold_until) opens it.
    pub fn closed() -> Arc<Self> {
        Arc::new(Self { always_open: false, base: Instant::now(), until_ms: AtomicU64::new(0) })
    }

    /// Writes are allowed until `until` (a later renewal moves it on; an earlier one never
    /// shortens it, so events arriving out of order cannot close it early).
    pub fn hold_until(&self, until: Instant) {
        let ms = until.saturating_duration_since(self.base).as_millis() as u64;
        self.until_ms.fetch_max(ms, Ordering::AcqRel);
    }

    /// Closes it now (the Lease is someone else's).
    pub fn close(&self) {
        self.until_ms.store(0, Ordering::Release);
    }

    pub fn allows(&self, now: Instant) -> bool {
        self.always_open
            || now.saturating_duration_since(self.base).as_millis() < self.until_ms.load(Ordering::Acquire) as u128
    }

    /// For `/readyz`: whether this fence can close at all.
    pub fn is_fenced(&self) -> bool {
        !self.always_open
    }
}

/// Until when this replica may write, from the Lease it sees: `renewed` (wall clock, written by
/// this replica's own lease manager) plus the lease duration, less `margin` for a request on its
/// way, converted to the monotonic clock at `now`. None when the Lease is not this replica's.
pub fn writes_until(
    holder: Option<&str>,
    identity: &str,
    renewed: Option<k8s_openapi::jiff::Timestamp>,
    duration: Option<i32>,
    margin: Duration,
    now_wall: k8s_openapi::jiff::Timestamp,
    now: Instant,
) -> Option<Instant> {
    if holder != Some(identity) {
        return None;
    }
    let expires = renewed?.checked_add(k8s_openapi::jiff::SignedDuration::from_secs(duration?.into())).ok()?;
    let left = expires.duration_since(now_wall);
    let left = Duration::try_from(left).ok()?.checked_sub(margin)?;
    Some(now + left)
}

/// A request that changes something (anything but GET, HEAD and OPTIONS; watches are GETs).
pub fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The error of a write refused by the fence.
#[derive(Debug, thiserror::Error)]
#[error("write refused: this replica's Lease was not renewed in time (another replica may lead now)")]
pub struct Fenced;

/// The tower layer that puts a [`Fence`] in front of a client's requests.
#[derive(Clone)]
pub struct FenceLayer(pub Arc<Fence>);

impl<S> tower::Layer<S> for FenceLayer {
    type Service = FencedService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        FencedService { inner, fence: self.0.clone() }
    }
}

#[derive(Clone)]
pub struct FencedService<S> {
    inner: S,
    fence: Arc<Fence>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, B> tower::Service<Request<B>> for FencedService<S>
where
    S: tower::Service<Request<B>>,
    S::Error: Into<BoxError>,
    S::Response: Send + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let write = is_write(request.method());
        if write && !self.fence.allows(Instant::now()) {
            return Box::pin(std::future::ready(Err(Box::new(Fenced) as BoxError)));
        }
        let response = Box::pin(self.inner.call(request));
        if !write {
            return Box::pin(async move { response.await.map_err(Into::into) });
        }
        // Checked again at every poll until the answer: the client sends nothing before its
        // future is first polled (and waits there for a connection), so a write that passed the
        // check above just before the process was paused is dropped unsent when it resumes.
        Box::pin(Checked { response, fence: self.fence.clone() })
    }
}

/// A write's response future that gives up (dropping the unsent request) once the fence closes.
struct Checked<F> {
    response: Pin<Box<F>>,
    fence: Arc<Fence>,
}

impl<F, T, E> Future for Checked<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if !self.fence.allows(Instant::now()) {
            return Poll::Ready(Err(Box::new(Fenced)));
        }
        self.response.as_mut().poll(cx).map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    #[test]
    fn the_fence_opens_until_the_lease_expires_less_the_margin() {
        let fence = Fence::closed();
        let now = Instant::now();
        assert!(!fence.allows(now), "closed until a renewal is seen");
        let wall: Timestamp = "2026-12-03T18:00:10Z".parse().unwrap();
        let renewed = "2026-12-03T18:00:05Z".parse().unwrap();
        let margin = Duration::from_secs(1);
        // Renewed 5 s ago for 15 s: 10 s left, 9 s with the margin.
        let until = writes_until(Some("a"), "a", Some(renewed), Some(15), margin, wall, now).unwrap();
        assert_eq!(until - now, Duration::from_secs(9));
        fence.hold_until(until);
        assert!(fence.allows(now + Duration::from_secs(8)));
        // Paused for longer than that (the monotonic clock went on): refused on resume.
        assert!(!fence.allows(now + Duration::from_secs(9)));
        // An older renewal seen late does not shorten it.
        fence.hold_until(now + Duration::from_secs(2));
        assert!(fence.allows(now + Duration::from_secs(8)));
        fence.close();
        assert!(!fence.allows(now));
    }

    #[test]
    fn only_a_fresh_lease_of_this_replica_opens_it() {
        let (now, wall): (Instant, Timestamp) = (Instant::now(), "2026-12-03T18:00:30Z".parse().unwrap());
        let renewed = Some("2026-12-03T18:00:05Z".parse().unwrap());
        let m = Duration::from_secs(1);
        assert_eq!(writes_until(Some("b"), "a", renewed, Some(15), m, wall, now), None, "another's Lease");
        assert_eq!(writes_until(None, "a", renewed, Some(15), m, wall, now), None, "nobody's");
        assert_eq!(writes_until(Some("a"), "a", renewed, Some(15), m, wall, now), None, "expired 10 s ago");
        assert_eq!(writes_until(Some("a"), "a", None, Some(15), m, wall, now), None, "never renewed");
        assert!(Fence::open().allows(now), "without leader election writes are never fenced");
    }

    #[tokio::test]
    async fn a_closed_fence_refuses_writes_and_lets_reads_through() {
        use tower::{Layer, Service};
        let (mock, mut handle) = tower_test::mock::pair::<Request<String>, http::Response<String>>();
        let mut service = FenceLayer(Fence::closed()).layer(mock);
        let request =
            |method: Method| Request::builder().method(method).uri("/api/v1/namespaces").body(String::new()).unwrap();
        std::future::poll_fn(|cx| service.poll_ready(cx)).await.unwrap();
        let refused = service.call(request(Method::PATCH)).await;
        assert!(refused.unwrap_err().is::<Fenced>());
        handle.allow(1);
        std::future::poll_fn(|cx| service.poll_ready(cx)).await.unwrap();
        let read = service.call(request(Method::GET));
        let (seen, reply) = handle.next_request().await.unwrap();
        assert_eq!(seen.method(), Method::GET);
        reply.send_response(http::Response::new("ok".into()));
        assert_eq!(read.await.unwrap().into_body(), "ok");
    }

    /// Like the real client: nothing is sent before the response future is first polled.
    struct Lazy(Arc<std::sync::atomic::AtomicBool>);

    impl tower::Service<Request<String>> for Lazy {
        type Response = http::Response<String>;
        type Error = BoxError;
        type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: Request<String>) -> Self::Future {
            let sent = self.0.clone();
            Box::pin(async move {
                sent.store(true, Ordering::Release);
                Ok(http::Response::new(String::new()))
            })
        }
    }

    #[tokio::test]
    async fn a_write_let_through_is_dropped_unsent_if_the_fence_closes_before_it_goes() {
        use tower::{Layer, Service};
        let sent = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let fence = Fence::closed();
        fence.hold_until(Instant::now() + Duration::from_secs(60));
        let mut service = FenceLayer(fence.clone()).layer(Lazy(sent.clone()));
        let request = Request::builder().method(Method::PATCH).uri("/x").body(String::new()).unwrap();
        let write = service.call(request);
        // The process is paused here, and the Lease passes to another replica meanwhile.
        fence.close();
        assert!(write.await.unwrap_err().is::<Fenced>());
        assert!(!sent.load(Ordering::Acquire), "the write never left");
        // Open, the same write goes.
        fence.hold_until(Instant::now() + Duration::from_secs(60));
        let request = Request::builder().method(Method::PATCH).uri("/x").body(String::new()).unwrap();
        service.call(request).await.unwrap();
        assert!(sent.load(Ordering::Acquire));
    }
}
