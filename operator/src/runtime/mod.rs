//! What runs the controllers: watches and the registry of managed kinds, server-side apply,
//! Events, errors and backoff, leader election, the HTTP endpoints and metrics, and the activity
//! log (concejo's own writes, the API server's audit events).

pub mod access;
pub mod activity;
pub mod audit;
pub mod coalesce;
pub mod errors;
pub mod events;
pub mod fence;
pub mod http;
pub mod kinds;
pub mod leader;
pub mod metrics;
pub mod packed;
pub mod ssa;
pub mod watches;
