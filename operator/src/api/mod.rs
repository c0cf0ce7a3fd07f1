//! The user-facing API of concejo (group `concejo.dev`), one module per version.
//!
//! The contract lives in `docs/api.md`; the doc comments on these types become `kubectl explain` text.

pub mod v1alpha1;

/// The API group of every concejo kind.
pub const GROUP: &str = "concejo.dev";
