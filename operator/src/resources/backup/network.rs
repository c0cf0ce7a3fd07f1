//! What a tenant's backup pods may reach: the province's tenant-facing repository server, and the
//! tenant's PostgreSQL for the dump (which lets them in: `collaboration::network`). Nothing else
//! leaves the namespace; the province-side server is out of their reach.

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer};

use super::super::collaboration::{POSTGRES, POSTGRES_PORT};
use super::super::netpol::{components, egress, match_labels, namespace, spec, tcp};
use super::super::{Component, Context, Part, labels};
use super::COMPONENT;
use crate::domain::ValidTenant;
use crate::domain::backup::{REPOSITORY, REPOSITORY_PORT};

pub const NAME: &str = "backup";

pub struct BackupPolicy;

impl Component for BackupPolicy {
    type Kind = NetworkPolicy;
    const PART: Part = Part::Backup;
    const NAMES: &'static [&'static str] = &[NAME];
    const KEEP_WHEN_EMPTY: bool = false;

    fn build(tenant: &ValidTenant, _: &Context<'_>) -> Vec<NetworkPolicy> {
        let Some(backup) = &tenant.backup else { return vec![] };
        let mut server = namespace(&backup.namespace);
        server.pod_selector = Some(match_labels(&[(labels::COMPONENT, REPOSITORY)]));
        let database = NetworkPolicyPeer { pod_selector: Some(components("In", &[POSTGRES])), ..Default::default() };
        let mut rules = vec![egress(vec![server], vec![tcp(REPOSITORY_PORT.into())])];
        if tenant.collaboration.is_some() {
            rules.push(egress(vec![database], vec![tcp(POSTGRES_PORT)]));
        }
        vec![NetworkPolicy {
            metadata: labels::metadata(tenant, NAME, Some(tenant.namespace()), "network-policy"),
            spec: Some(spec(components("In", &[COMPONENT]), vec![], rules, &["Egress"])),
        }]
    }
}
