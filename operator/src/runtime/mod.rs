//! What runs the controllers: watches and the registry of managed kinds, server-side apply,
//! Events, errors and backoff, leader election, the HTTP endpoints and metrics, the API server's audit
//! events.

pub mod access;
pub mod audit;
pub mod errors;
pub mod events;
pub mod http;
pub mod kinds;
pub mod leader;
pub mod metrics;
pub mod ssa;
pub mod watches;
