//! Every object of one tenant, built together. `controller` destructures [`TenantObjects`]
//! without `..`, so a new kind added here cannot be forgotten when applying.

use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};

use crate::tenant::ValidTenant;
use crate::{limit_range, namespace, network_policies, resource_quota, roles};

/// The complete desired state of a tenant, in the order it is applied.
#[derive(Clone, Debug)]
pub struct TenantObjects {
    pub namespace: Namespace,
    pub resource_quota: ResourceQuota,
    pub limit_range: LimitRange,
    pub network_policies: Vec<NetworkPolicy>,
    pub roles: Vec<Role>,
    pub role_bindings: Vec<RoleBinding>,
}

pub fn build(tenant: &ValidTenant) -> TenantObjects {
    TenantObjects {
        namespace: namespace::build(tenant),
        resource_quota: resource_quota::build(tenant),
        limit_range: limit_range::build(tenant),
        network_policies: network_policies::build(tenant),
        roles: roles::build_roles(tenant),
        role_bindings: roles::build_bindings(tenant),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels;
    use crate::tenant::tests::*;

    #[test]
    fn every_object_carries_the_tenant_labels_and_lives_in_its_namespace() {
        let TenantObjects { namespace, resource_quota, limit_range, network_policies, roles, role_bindings } =
            build(&valid(&municipality("ponferrada", "24115")));
        let mut metas = vec![resource_quota.metadata, limit_range.metadata];
        metas.extend(network_policies.into_iter().map(|o| o.metadata));
        metas.extend(roles.into_iter().map(|o| o.metadata));
        metas.extend(role_bindings.into_iter().map(|o| o.metadata));
        for meta in &metas {
            assert_eq!(meta.namespace.as_deref(), Some("muni-24115"), "{meta:?}");
        }
        metas.push(namespace.metadata);
        for meta in metas {
            let l = meta.labels.unwrap();
            for key in [
                labels::MANAGED_BY,
                labels::INSTANCE,
                labels::INE_CODE,
                labels::PROVINCE,
                labels::NAME,
                labels::COMPONENT,
            ] {
                assert!(l.contains_key(key), "{key} missing on {:?}", meta.name);
            }
        }
    }
}
