//! concejo: a Kubernetes operator that turns each town hall (`Municipality`) into an isolated tenant.
//!
//! - [`api`]: the CRD types; [`crds`] generates their YAML.
//! - [`domain`]: pure rules (identifiers, quantities, durations, plans, validation, claims).
//! - [`index`]: claims and memberships kept from the watch.
//! - [`resources`]: pure builders, one file per component of a tenant, and their registry.
//! - [`controllers`]: the Municipality pipeline (dereference -> validate -> build -> apply ->
//!   status, one file per step) and the Province controller.
//! - [`pki`]: certificates, the provincial CA's rotation policy, the tenant certificate decision.
//! - [`runtime`]: watches and the kinds registry, server-side apply, Events, errors and backoff,
//!   leader election, HTTP endpoints, metrics; [`start`] runs it all for `concejo run`.
//! - [`plugin`]: `kubectl concejo` (the `kubectl-concejo` binary), a client of the API only.
//!
//! Dependencies go one way: api <- domain <- pki <- resources <- index, runtime <- controllers <-
//! start <- cli.

pub mod api;
pub mod cli;
pub mod controllers;
pub mod crds;
pub mod domain;
pub mod generate;
pub mod index;
pub mod pki;
pub mod plugin;
pub mod report;
pub mod resources;
pub mod runtime;
pub mod start;
#[cfg(test)]
pub mod testing;
