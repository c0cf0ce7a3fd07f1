//! Pure builders, one file per component of a tenant: each turns a [`ValidTenant`] into the
//! complete objects it wants, and names every object it may own (for pruning and for telling its
//! objects from look-alikes). [`components`] is the registry: one line per component, from which
//! the runtime derives the watches and the reconcile derives what to apply.

pub mod admission;
pub mod backup;
pub mod ca_secret;
pub mod collaboration;
pub mod labels;
pub mod limit_range;
pub mod namespace;
pub mod netpol;
pub mod network_policies;
pub mod office;
pub mod quota;
pub mod rbac;
pub mod storage;
pub mod tls;

use std::fmt::Debug;

use kube::Resource;
use kube::api::ApiResource;
use serde::Serialize;
use serde::de::DeserializeOwned;

use self::collaboration::Credentials;
use crate::domain::{ValidTenant, Volume, tenant};
use crate::pki::Leaf;

/// Every component of a tenant, in the order its objects are applied (the namespace first).
pub fn components(registry: &mut impl Registry) {
    registry.add::<namespace::TenantNamespace>();
    registry.add::<quota::TenantQuota>();
    registry.add::<limit_range::TenantLimits>();
    registry.add::<network_policies::NetworkPolicies>();
    registry.add::<rbac::RoleBindings>();
    registry.add::<tls::TenantTls>();
    registry.add::<storage::Volumes>();
    registry.add::<collaboration::credentials::CredentialsSecret>();
    registry.add::<collaboration::config::Config>();
    registry.add::<collaboration::network::SuitePolicies>();
    registry.add::<collaboration::services::Services>();
    registry.add::<collaboration::postgres::Postgres>();
    registry.add::<collaboration::redis::Redis>();
    registry.add::<collaboration::nextcloud::Nextcloud>();
    registry.add::<collaboration::cron::BackgroundJobs>();
    registry.add::<collaboration::ingress::Web>();
    registry.add::<backup::credentials::TenantCredentials>();
    registry.add::<backup::network::BackupPolicy>();
    registry.add::<backup::schedule::Schedule>();
}

/// A part of a tenant: applied on its own and reported by its own condition, so that a failure
/// in one never blocks another (after isolation, which everything else needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    /// Namespace, quota, limits, network policies, roles: condition `Isolated`.
    Isolation,
    /// The tenant's TLS Secret: condition `CertificateReady`.
    Certificate,
    /// The data volumes: condition `StorageReady`.
    Storage,
    /// Nextcloud, PostgreSQL, Redis, background jobs, their Services, Ingress and policies:
    /// condition `CollaborationReady`.
    Collaboration,
    /// The tenant's backup credentials, schedule and network policy: condition `BackupReady`.
    Backup,
    /// The province's office pool (`office`), applied by the Province controller: condition
    /// `OfficeReady` on the Province.
    Office,
}

/// Any kind concejo manages.
pub trait Kind:
    Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + Debug + Send + Sync + 'static
{
}
impl<K> Kind for K where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + Debug + Send + Sync + 'static
{
}

/// What a builder may read besides the tenant: what earlier steps produced.
#[derive(Clone, Copy, Debug, Default)]
pub struct Context<'a> {
    /// The certificate to store in `tenant-tls` and the trusted roots (`ca.crt`); `None` while
    /// the province's CA cannot sign for the tenant.
    pub certificate: Option<(&'a Leaf, &'a str)>,
    /// The suite's generated credentials (kept once made); `None` until they are known.
    pub credentials: Option<&'a Credentials>,
    /// The tenant's volumes as they are.
    pub volumes: &'a [Volume],
    /// Whether the volumes' StorageClass allows expansion.
    pub expandable: bool,
    /// The tenant's backup key (kept once made); `None` until it is known.
    pub backup_key: Option<&'a backup::Key>,
}

/// One component: a builder file.
pub trait Component {
    type Kind: Kind;
    const PART: Part;
    /// Every name this component's objects may have in a tenant namespace.
    const NAMES: &'static [&'static str];

    /// Whether nothing built means "keep what is there" (the inputs are missing, as for the
    /// TLS Secret without a CA) rather than "none wanted" (a disabled suite is removed).
    const KEEP_WHEN_EMPTY: bool = true;
    /// Whether a change of the live object's status is a reason to look at the tenant again
    /// (a Deployment becoming available, a claim bound).
    const STATUS_MATTERS: bool = false;

    /// The complete desired objects (none when what it needs is not there yet, or not wanted).
    fn build(tenant: &ValidTenant, context: &Context<'_>) -> Vec<Self::Kind>;

    /// Whether an object of this kind, by name and namespace, is one this component makes.
    fn owns(name: &str, namespace: Option<&str>) -> bool {
        namespace.and_then(tenant::ine_code_of_namespace).is_some() && Self::NAMES.contains(&name)
    }
}

/// Visits every component (see [`components`]).
pub trait Registry {
    fn add<C: Component>(&mut self);
}

/// One desired object with its kind erased, so that one pipeline applies and prunes every kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    pub resource: ApiResource,
    pub part: Part,
    pub namespace: Option<String>,
    pub name: String,
    pub body: serde_json::Value,
}

impl Manifest {
    pub fn of<K: Kind>(part: Part, object: &K) -> Result<Manifest, serde_json::Error> {
        // Typed objects serialize with their apiVersion and kind: what server-side apply needs.
        let body = serde_json::to_value(object)?;
        Ok(Manifest {
            resource: ApiResource::erase::<K>(&()),
            part,
            namespace: object.meta().namespace.clone(),
            name: object.meta().name.clone().unwrap_or_default(),
            body,
        })
    }
}

/// Every desired object of a tenant, and for each part that was built the names it may own
/// (what exists under those names and is not desired is pruned).
#[derive(Clone, Debug, Default)]
pub struct Desired {
    /// The tenant namespace.
    pub namespace: String,
    pub manifests: Vec<Manifest>,
    /// (part, kind, names) for every component that was built.
    pub owned: Vec<(Part, ApiResource, &'static [&'static str])>,
}

impl Desired {
    pub fn of(&self, part: Part) -> impl Iterator<Item = &Manifest> {
        self.manifests.iter().filter(move |m| m.part == part)
    }
}

/// Builds every component. A component that builds nothing (its inputs are not there) owns
/// nothing this time, so its objects are kept as they are.
pub fn build(tenant: &ValidTenant, context: &Context<'_>) -> Result<Desired, serde_json::Error> {
    struct Builder<'a> {
        tenant: &'a ValidTenant,
        context: &'a Context<'a>,
        desired: Desired,
        error: Option<serde_json::Error>,
    }
    impl Registry for Builder<'_> {
        fn add<C: Component>(&mut self) {
            let objects = C::build(self.tenant, self.context);
            if objects.is_empty() && C::KEEP_WHEN_EMPTY {
                return;
            }
            for object in &objects {
                match Manifest::of(C::PART, object) {
                    Ok(m) => self.desired.manifests.push(m),
                    Err(e) => self.error = Some(e),
                }
            }
            self.desired.owned.push((C::PART, ApiResource::erase::<C::Kind>(&()), C::NAMES));
        }
    }
    let desired = Desired { namespace: tenant.namespace(), ..Default::default() };
    let mut builder = Builder { tenant, context, desired, error: None };
    components(&mut builder);
    match builder.error {
        Some(e) => Err(e),
        None => Ok(builder.desired),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{municipality, valid};

    #[test]
    fn every_object_carries_the_tenant_labels_lives_in_its_namespace_and_is_owned() {
        let desired = build(&valid(&municipality("ponferrada", "24115")), &Context::default()).unwrap();
        assert!(!desired.manifests.is_empty());
        for m in &desired.manifests {
            if m.resource.kind != "Namespace" {
                assert_eq!(m.namespace.as_deref(), Some("muni-24115"), "{}", m.name);
                let names = desired.owned.iter().find(|(_, r, _)| *r == m.resource).unwrap().2;
                assert!(names.contains(&m.name.as_str()), "{} is not among the names {names:?}", m.name);
            }
            let labels = m.body["metadata"]["labels"].as_object().unwrap();
            for key in [
                labels::MANAGED_BY,
                labels::INSTANCE,
                labels::INE_CODE,
                labels::PROVINCE,
                labels::NAME,
                labels::COMPONENT,
            ] {
                assert!(labels.contains_key(key), "{key} missing on {}", m.name);
            }
        }
        // Without a certificate the TLS component builds nothing and so owns nothing: no prune.
        assert!(desired.of(Part::Certificate).next().is_none());
        assert!(!desired.owned.iter().any(|(p, _, _)| *p == Part::Certificate));
    }

    #[test]
    fn the_namespace_comes_first() {
        let desired = build(&valid(&municipality("ponferrada", "24115")), &Context::default()).unwrap();
        assert_eq!(desired.manifests[0].resource.kind, "Namespace");
    }
}
