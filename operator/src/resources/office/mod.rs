//! The province's office-document pool (Collabora Online), one per Province with `office.enabled`,
//! in namespace `concejo-office-<province INE code>`. Pure builders, one file per object kind;
//! [`pool`] decides who the pool serves and how big it is. Not part of any tenant: the Province
//! controller applies what [`build`] returns (`controllers::province::office`).

pub mod deployment;
pub mod ingress;
pub mod namespace;
pub mod network_policies;
pub mod pool;
pub mod service;
pub mod tls;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use kube::api::ObjectMeta;

pub use self::pool::Pool;
use super::labels;
use crate::pki::Leaf;

/// The port Collabora listens on (plain HTTP: TLS ends at the ingress). Tenants' NetworkPolicies
/// allow their Nextcloud pods to reach the pool's namespace on it.
pub const PORT: i32 = crate::domain::tenant::OFFICE_PORT as i32;
/// Name of the Deployment, the Service and the main Ingress.
pub const NAME: &str = "office";
/// Value of `app.kubernetes.io/part-of` on every object of a pool: what the pool's watches select.
pub const PART_OF: &str = "concejo-office";
pub const PART_OF_LABEL: &str = "app.kubernetes.io/part-of";

/// Selects every object of every office pool, for watches (which then keep only the objects in
/// an office namespace, and map them back to their Province by that namespace's name).
pub fn selector() -> String {
    format!("{},{PART_OF_LABEL}={PART_OF}", labels::managed_selector())
}

/// The labels of one object of the pool. `concejo.dev/ine-code` is the province's code, as on
/// its CA Secret.
pub fn object_labels(pool: &Pool, component: &str) -> BTreeMap<String, String> {
    let mut l = labels::for_tenant(&pool.province, &pool.ine_code, &pool.province, component);
    l.insert(PART_OF_LABEL.into(), PART_OF.into());
    l
}

/// Metadata of one namespaced object of the pool.
pub fn metadata(pool: &Pool, name: &str, component: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(pool.namespace()),
        labels: Some(object_labels(pool, component)),
        ..ObjectMeta::default()
    }
}

/// Every object of a pool. The apply step destructures it without `..`, so a kind added here
/// cannot be forgotten there.
#[derive(Clone, Debug)]
pub struct Objects {
    pub namespace: Namespace,
    pub network_policies: Vec<NetworkPolicy>,
    pub tls: Secret,
    pub service: Service,
    pub deployment: Deployment,
    pub ingresses: Vec<Ingress>,
}

/// The complete desired pool, with the certificate to serve and the trusted roots (`ca.crt`).
pub fn build(pool: &Pool, leaf: &Leaf, trust: &str) -> Objects {
    Objects {
        namespace: namespace::build(pool),
        network_policies: network_policies::build(pool),
        tls: tls::build(pool, leaf, trust),
        service: service::build(pool),
        deployment: deployment::build(pool),
        ingresses: ingress::build(pool),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::municipality;
    use kube::ResourceExt;
    use std::sync::Arc;

    /// León's pool serving Ponferrada, with a certificate from León's CA.
    fn built() -> (Pool, Objects) {
        let pool = pool::tests::serving(&[Arc::new(pool::tests::enforced(municipality("ponferrada", "24115")))]);
        let (leaf, trust) = tls::tests::certificate(&pool);
        let objects = build(&pool, &leaf, &trust);
        (pool, objects)
    }

    #[test]
    fn every_object_lives_in_the_pool_namespace_and_carries_the_labels() {
        let (pool, o) = built();
        assert_eq!(pool.namespace(), "concejo-office-24");
        assert_eq!(o.namespace.name_any(), "concejo-office-24");
        let mut metas: Vec<&ObjectMeta> = vec![&o.tls.metadata, &o.service.metadata, &o.deployment.metadata];
        metas.extend(o.network_policies.iter().map(|p| &p.metadata));
        metas.extend(o.ingresses.iter().map(|i| &i.metadata));
        for m in metas.iter().copied().chain([&o.namespace.metadata]) {
            let l = m.labels.as_ref().unwrap();
            assert_eq!(l[labels::MANAGED_BY], "concejo");
            assert_eq!(l[labels::PROVINCE], "leon");
            assert_eq!(l[labels::INE_CODE], "24");
            assert_eq!(l[PART_OF_LABEL], PART_OF);
        }
        for m in metas {
            assert_eq!(m.namespace.as_deref(), Some("concejo-office-24"), "{:?}", m.name);
        }
    }
}
