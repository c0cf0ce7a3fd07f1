//! Pure rules, no client: the Spanish identifiers and the INE register, the names of town halls, quantities and durations
//! as Kubernetes reads them, plans, the ENS measures, the suite's size and images, backups and what retention forgets, the checked tenant,
//! validation and who holds a claim, the audit events and whether auditing is in force.

pub mod audit;
pub mod backup;
pub mod claims;
pub mod duration;
pub mod ens;
pub mod hash;
pub mod identifiers;
pub mod images;
pub mod naming;
pub mod plan;
pub mod quantity;
pub mod retention;
pub mod runs;
pub mod suite;
pub mod tenant;
pub mod validate;
pub mod volumes;

pub use tenant::{TenantCollaboration, TenantNetwork, TenantStorage, ValidTenant, namespace_name, office_namespace};
pub use validate::{Inputs, Invalid, validate};
pub use volumes::{StorageFacts, Volume};
