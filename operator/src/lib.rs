//! concejo: a Kubernetes operator that turns each town hall (`Municipality`) into an isolated tenant.
//!
//! One reconcile, one module per step: [`tenant`] validates (with [`identifiers`]), the builders
//! ([`namespace`], [`resource_quota`], [`limit_range`], [`network_policies`], [`roles`], gathered in
//! [`objects`]) make the desired objects, [`apply`] writes them, [`status`] computes the status;
//! [`controller`] drives it all from watch caches.

pub mod api;
pub mod apply;
pub mod ca;
pub mod conditions;
pub mod controller;
pub mod crds;
pub mod error;
pub mod generate;
pub mod http;
pub mod identifiers;
pub mod labels;
pub mod leader;
pub mod limit_range;
pub mod metrics;
pub mod namespace;
pub mod network_policies;
pub mod objects;
pub mod pki;
pub mod quantity;
pub mod resource_quota;
pub mod roles;
pub mod status;
pub mod tenant;
pub mod tls;
