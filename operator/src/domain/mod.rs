//! Pure rules, no client: the Spanish identifiers and the INE register, quantities and durations
//! as Kubernetes reads them, plans, the checked tenant, validation and who holds a claim.

pub mod claims;
pub mod duration;
pub mod hash;
pub mod identifiers;
pub mod plan;
pub mod quantity;
pub mod tenant;
pub mod validate;

pub use tenant::{TenantNetwork, ValidTenant, namespace_name};
pub use validate::{Inputs, Invalid, validate};
