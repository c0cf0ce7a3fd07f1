//! The collaboration suite of a tenant: Nextcloud (php-fpm behind an unprivileged nginx),
//! PostgreSQL, Redis, background jobs, their Services, the Ingress and the suite's network
//! policies, one file per object. Every pod runs as a fixed non-root user under Pod Security
//! `restricted`; sizes come from `domain::suite`, so what validation checked is what runs.
//! docs/collaboration.md says why each image and setting.

pub mod config;
pub mod credentials;
pub mod cron;
pub mod ingress;
pub mod network;
pub mod nextcloud;
pub mod pod;
pub mod postgres;
pub mod redis;
pub mod services;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

pub use self::credentials::Credentials;
use super::labels;
use crate::domain::suite::Sizing;
use crate::domain::{TenantCollaboration, ValidTenant, tenant};

/// Values of `app.kubernetes.io/component` of the suite's pods (network policies select them).
pub const NEXTCLOUD: &str = "nextcloud";
pub const POSTGRES: &str = "postgres";
pub const REDIS: &str = "redis";
pub const CRON: &str = "cron";
/// Every component label the suite's pods carry.
pub const POD_COMPONENTS: &[&str] = &[NEXTCLOUD, POSTGRES, REDIS, CRON];

/// Ports.
pub const WEB_PORT: i32 = tenant::WEB_PORT as i32;
pub const FPM_PORT: i32 = 9000;
pub const POSTGRES_PORT: i32 = 5432;
pub const REDIS_PORT: i32 = 6379;
/// The office pool's port (Collabora Online).
pub const OFFICE_PORT: i32 = tenant::OFFICE_PORT as i32;

/// The database and its owner.
pub const DATABASE: &str = "nextcloud";

/// The suite, when the tenant has it.
pub fn suite(tenant: &ValidTenant) -> Option<(&TenantCollaboration, Sizing)> {
    tenant.collaboration.as_ref().map(|c| (c, Sizing::for_users(c.users)))
}

/// Replicas of a workload: none while the tenant is suspended.
pub fn replicas(tenant: &ValidTenant) -> i32 {
    if tenant.suspend { 0 } else { 1 }
}

/// The labels of one workload's pods (and its selector).
pub fn pod_labels(tenant: &ValidTenant, component: &str) -> BTreeMap<String, String> {
    labels::for_tenant(&tenant.name, &tenant.ine_code, &tenant.province, component)
}

/// Selects one workload's pods.
pub fn selector(tenant: &ValidTenant, component: &str) -> LabelSelector {
    let labels = [(labels::INSTANCE, tenant.name.as_str()), (labels::COMPONENT, component)];
    LabelSelector {
        match_labels: Some(labels.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()),
        ..Default::default()
    }
}
