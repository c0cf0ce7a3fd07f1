//! Step 1: read what a reconcile needs from the watch caches and the index. No API requests,
//! and nothing that grows with the number of tenants: the rivals come from the index.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, ResourceQuota, Secret};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use super::Context;
use crate::api::v1alpha1::{Municipality, Province, ServicePlan};
use crate::domain::{self, Inputs as Validation, StorageFacts, ValidTenant, Volume, plan, suite};
use crate::pki::ca::CaState;
use crate::resources::{ca_secret, labels, namespace, quota, tls};

/// The province's CA, as far as a tenant is concerned.
#[derive(Clone, Debug)]
pub enum Ca {
    Missing,
    /// Its Secret exists but cannot be read: nothing is signed until it is fixed.
    Unreadable(String),
    Ready(Box<CaState>),
}

/// Everything a reconcile reads.
pub struct Inputs {
    pub province: Option<Arc<Province>>,
    pub plan: Option<Arc<ServicePlan>>,
    pub rivals: Vec<Arc<Municipality>>,
    pub quota_used: Option<BTreeMap<String, Quantity>>,
    /// The tenant namespace, if it exists and is this Municipality's.
    pub namespace: Option<Arc<Namespace>>,
    pub ca: Ca,
    pub tls_secret: Option<Arc<Secret>>,
    /// Names of the cluster's StorageClasses.
    pub classes: BTreeSet<String>,
    /// The tenant's data volumes as they are.
    pub volumes: Vec<Volume>,
}

impl Inputs {
    /// What validation reads; `rivals` is [`Inputs::rivals`] borrowed.
    pub fn validation<'a>(&'a self, rivals: &'a [&'a Municipality]) -> Validation<'a> {
        Validation {
            province: self.province.as_deref(),
            plan: self.plan.as_deref(),
            rivals,
            quota_used: self.quota_used.as_ref(),
            storage: Some(StorageFacts { classes: &self.classes, volumes: &self.volumes }),
        }
    }

    /// The tenant last enforced in the namespace (see `resources::namespace`): what stays in
    /// force while the spec is invalid.
    pub fn enforced(&self) -> Option<ValidTenant> {
        self.namespace.as_deref().and_then(namespace::enforced)
    }
}

pub fn read(municipality: &Municipality, ctx: &Context) -> Inputs {
    let spec = &municipality.spec;
    let name = municipality.name_any();
    let province = ctx.provinces.get(&ObjectRef::new(&spec.province));
    let plan = province
        .as_ref()
        .and_then(|p| plan::effective_name(spec, &p.spec))
        .and_then(|plan| ctx.plans.get(&ObjectRef::new(plan)));
    let hosts = province.as_ref().map(|p| domain::validate::hosts(municipality, p)).unwrap_or_default();
    let rivals: Vec<Arc<Municipality>> = ctx
        .index
        .rivals(&name, &spec.ine_code, &hosts)
        .iter()
        .filter_map(|n| ctx.municipalities.get(&ObjectRef::new(n)))
        .collect();

    let ns_name = domain::namespace_name(&spec.ine_code);
    let quota_used = ctx
        .caches
        .store::<ResourceQuota>()
        .and_then(|s| s.get(&ObjectRef::new(quota::NAME).within(&ns_name)))
        .and_then(|q| q.status.as_ref()?.used.clone());
    // Only a namespace this Municipality provisioned says what it enforces.
    let namespace = ctx
        .caches
        .store::<Namespace>()
        .and_then(|s| s.get(&ObjectRef::new(&ns_name)))
        .filter(|ns| ns.labels().get(labels::INSTANCE) == Some(&name));
    let ca = match ctx.ca_secrets.get(&ObjectRef::new(&ca_secret::name(&spec.province)).within(&ctx.namespace)) {
        None => Ca::Missing,
        Some(secret) => match CaState::from_secret(&secret, None) {
            Ok(state) => Ca::Ready(Box::new(state)),
            Err(why) => Ca::Unreadable(why),
        },
    };
    let tls_secret = ctx.caches.get::<Secret>(&ObjectRef::new(tls::SECRET_NAME).within(&ns_name));
    let classes = ctx.storage_classes.state().iter().map(|c| c.name_any()).collect();
    let volumes = volumes(ctx, &ns_name);
    Inputs { province, plan, rivals, quota_used, namespace, ca, tls_secret, classes, volumes }
}

/// The tenant's data volumes, as their claims are now.
pub fn volumes(ctx: &Context, namespace: &str) -> Vec<Volume> {
    let Some(claims) = ctx.caches.store::<PersistentVolumeClaim>() else { return vec![] };
    [suite::FILES_VOLUME, suite::DATABASE_VOLUME]
        .into_iter()
        .filter_map(|name| claims.get(&ObjectRef::new(name).within(namespace)))
        .map(|claim| {
            let spec = claim.spec.clone().unwrap_or_default();
            let request = spec.resources.and_then(|r| r.requests?.get("storage").cloned()).unwrap_or_default();
            Volume { name: claim.name_any(), class: spec.storage_class_name, request: request.0 }
        })
        .collect()
}
