//! concejo: a Kubernetes operator that turns each town hall (`Municipality`) into an isolated tenant.
//!
//! The pipeline of one reconcile, one module per step: [`tenant`] validates, [`namespace`] (and the
//! other builders) build the desired objects, [`apply`] writes them, [`status`] computes the status;
//! [`controller`] drives it.

pub mod api;
pub mod apply;
pub mod conditions;
pub mod controller;
pub mod crds;
pub mod error;
pub mod http;
pub mod labels;
pub mod metrics;
pub mod namespace;
pub mod status;
pub mod tenant;
