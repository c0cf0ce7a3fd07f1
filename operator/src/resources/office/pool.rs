//! Who the pool serves and how big it is. Pure: the Province's Municipalities and a way to read
//! their plans' users in; the [`Pool`] every builder reads out.
//!
//! - Served: the Municipalities with `collaboration.enabled`, not being deleted, whose status says
//!   concejo enforces them (`status.namespace` set and `status.hosts` not empty). One Collabora
//!   alias group each, ordered by INE code: hosts in different groups cannot open each other's
//!   documents, and a host in no group cannot use the pool at all.
//! - Replicas: the users of the served tenants' plans / `usersPerReplica`, rounded up, from 1 to
//!   `maxReplicas`; suspended tenants keep their group but count no users. No tenant, no
//!   replica: Collabora without groups would accept the first host that connects.
//! - Each replica is sized for `usersPerReplica` users with openDesk's figures: 1 vCPU per 15
//!   users, 50 MB per user, on top of what coolwsd itself needs.

use std::sync::Arc;

use kube::ResourceExt;

use crate::api::v1alpha1::{Municipality, Province};
use crate::domain::suite::{Container, Size};
use crate::domain::tenant::{WEB_PORT, internal_web_host};
use crate::domain::{images, office_namespace};

/// One tenant the pool serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// `metadata.name` of the Municipality.
    pub name: String,
    pub ine_code: String,
    /// The hosts concejo serves for it (`status.hosts`): `<name>.<baseDomain>` first.
    pub hosts: Vec<String>,
    /// Users of its plan; 0 while suspended.
    pub users: i32,
}

/// Everything the pool's builders read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    /// `metadata.name` of the Province.
    pub province: String,
    /// `metadata.uid` of the Province: the pool's namespace is owned by it, so deleting the
    /// Province deletes its pool.
    pub province_uid: Option<String>,
    /// The province's INE code.
    pub ine_code: String,
    pub base_domain: String,
    /// Collabora Online's image.
    pub image: String,
    pub ingress_class: Option<String>,
    /// The namespace of the ingress controller (`network.ingressNamespace`).
    pub ingress_namespace: Option<String>,
    pub users_per_replica: i32,
    pub replicas: i32,
    /// The tenants served, by INE code.
    pub members: Vec<Member>,
}

impl Pool {
    /// The pool of `province` for `members` (see [`members`]).
    pub fn new(province: &Province, members: Vec<Member>) -> Pool {
        let spec = &province.spec;
        let replicas = replicas(&members, spec.office.users_per_replica, spec.office.max_replicas);
        Pool {
            province: province.name_any(),
            province_uid: province.metadata.uid.clone(),
            ine_code: spec.ine_code.clone(),
            base_domain: spec.base_domain.clone(),
            image: images::resolve(&spec.images).office,
            ingress_class: spec.ingress.class_name.clone(),
            ingress_namespace: spec.network.ingress_namespace.clone(),
            users_per_replica: spec.office.users_per_replica.max(1),
            replicas,
            members,
        }
    }

    /// `concejo-office-<province INE code>`.
    pub fn namespace(&self) -> String {
        office_namespace(&self.ine_code)
    }

    /// `office.<baseDomain>`.
    pub fn host(&self) -> String {
        format!("office.{}", self.base_domain)
    }

    /// `https://office.<baseDomain>`, where tenants reach it.
    pub fn url(&self) -> String {
        format!("https://{}", self.host())
    }

    /// How many hosts may open documents in the pool.
    pub fn hosts(&self) -> usize {
        self.members.iter().map(|m| m.hosts.len()).sum()
    }

    /// One `aliasgroupN` variable per tenant, N from 1 in INE-code order. The first host of a
    /// group is the WOPI host as Collabora parses it (a URL); the others are aliases, which
    /// Collabora reads as regular expressions, so their dots are escaped to match only themselves.
    /// The last alias is the tenant's Nextcloud inside the cluster, where the pool calls back.
    pub fn alias_groups(&self) -> Vec<(String, String)> {
        self.members
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let urls: Vec<String> = m
                    .hosts
                    .iter()
                    .enumerate()
                    .map(
                        |(j, h)| if j == 0 { format!("https://{h}:443") } else { format!("https://{}:443", escape(h)) },
                    )
                    .chain([format!("http://{}:{WEB_PORT}", escape(&internal_web_host(&m.ine_code)))])
                    .collect();
                (format!("aliasgroup{}", i + 1), urls.join(","))
            })
            .collect()
    }

    /// Requests and limits of one replica.
    pub fn size(&self) -> Container {
        size(self.users_per_replica)
    }
}

/// A hostname as a regular expression that matches only itself (hostnames are letters, digits,
/// dots and hyphens; only the dot means something else in a regex).
fn escape(host: &str) -> String {
    host.replace('.', "\\.")
}

/// The tenants the pool serves, by INE code. `users_of_plan` gives a plan's collaboration users
/// (None: the plan is gone or offers no collaboration, counted as 0).
pub fn members(tenants: &[Arc<Municipality>], users_of_plan: impl Fn(&str) -> Option<i32>) -> Vec<Member> {
    let mut members: Vec<Member> = tenants
        .iter()
        .filter(|m| m.spec.collaboration.enabled && m.metadata.deletion_timestamp.is_none())
        .filter_map(|m| {
            let status = m.status.as_ref()?;
            status.namespace.as_ref()?;
            if status.hosts.is_empty() {
                return None;
            }
            let users = match (&status.plan, m.spec.suspend) {
                (Some(plan), false) => users_of_plan(plan).unwrap_or(0).max(0),
                _ => 0,
            };
            Some(Member { name: m.name_any(), ine_code: m.spec.ine_code.clone(), hosts: status.hosts.clone(), users })
        })
        .collect();
    members.sort_by(|a, b| (&a.ine_code, &a.name).cmp(&(&b.ine_code, &b.name)));
    members
}

/// Replicas for `members`: total users / `users_per_replica` rounded up, from 1 to `max`; 0
/// when the pool serves nobody.
pub fn replicas(members: &[Member], users_per_replica: i32, max: i32) -> i32 {
    if members.is_empty() {
        return 0;
    }
    let users: i64 = members.iter().map(|m| i64::from(m.users)).sum();
    let per = i64::from(users_per_replica.max(1));
    let wanted = (users + per - 1) / per;
    wanted.clamp(1, i64::from(max.max(1))) as i32
}

/// What coolwsd, its pre-spawned document process and the Kubernetes overhead need with no user.
const BASE_MEMORY_MI: i64 = 256;
/// openDesk: 50 MB of memory per active user.
const MEMORY_PER_USER_MI: i64 = 50;
/// openDesk: one vCPU per 15 active users.
const USERS_PER_CPU: i64 = 15;

/// Requests for `users` (1 vCPU per 15, rounded up to the millicore, at least 100m; 256Mi + 50Mi
/// per user); limits twice that, so that loading a large document may burst.
pub fn size(users: i32) -> Container {
    let u = i64::from(users.max(1));
    let request = Size {
        cpu_m: ((1000 * u + USERS_PER_CPU - 1) / USERS_PER_CPU).max(100),
        memory_mi: BASE_MEMORY_MI + MEMORY_PER_USER_MI * u,
    };
    Container { request, limit: Size { cpu_m: request.cpu_m * 2, memory_mi: request.memory_mi * 2 } }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::api::v1alpha1::MunicipalityStatus;
    use crate::testing::{leon, municipality};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    /// A Municipality of León with collaboration, enforced on plan `town` with its usual host.
    pub fn enforced(mut m: Municipality) -> Municipality {
        m.spec.collaboration.enabled = true;
        m.status = Some(MunicipalityStatus {
            namespace: Some(format!("muni-{}", m.spec.ine_code)),
            plan: Some("town".into()),
            hosts: vec![format!("{}.nube.dipuleon.es", m.name_any())],
            ..Default::default()
        });
        m
    }

    /// León's pool (plan `town`: 25 users) for these tenants.
    pub fn serving(tenants: &[Arc<Municipality>]) -> Pool {
        let mut province = leon();
        province.metadata.uid = Some("uid-leon".into());
        Pool::new(&province, members(tenants, |plan| (plan == "town").then_some(25)))
    }

    #[test]
    fn only_enforced_tenants_with_collaboration_are_served_in_ine_order() {
        let mut leon_city = enforced(municipality("leon", "24089"));
        leon_city.status.as_mut().unwrap().hosts.push("nube.aytoleon.es".into());
        let ponferrada = enforced(municipality("ponferrada", "24115"));
        let astorga = enforced(municipality("astorga", "24008"));
        let without = municipality("villablino", "24206");
        let mut pending = enforced(municipality("bembibre", "24014"));
        pending.status.as_mut().unwrap().namespace = None;
        let mut unserved = enforced(municipality("cacabelos", "24019"));
        unserved.status.as_mut().unwrap().hosts.clear();
        let mut leaving = enforced(municipality("sahagun", "24142"));
        leaving.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        let tenants: Vec<Arc<Municipality>> =
            [ponferrada, without, leon_city, pending, astorga, unserved, leaving].into_iter().map(Arc::new).collect();
        let pool = serving(&tenants);
        let codes: Vec<&str> = pool.members.iter().map(|m| m.ine_code.as_str()).collect();
        assert_eq!(codes, ["24008", "24089", "24115"]);
        assert_eq!(
            pool.alias_groups(),
            [
                (
                    "aliasgroup1".to_owned(),
                    "https://astorga.nube.dipuleon.es:443,http://nextcloud\\.muni-24008\\.svc\\.cluster\\.local:8080"
                        .to_owned()
                ),
                (
                    "aliasgroup2".to_owned(),
                    "https://leon.nube.dipuleon.es:443,https://nube\\.aytoleon\\.es:443,\
                     http://nextcloud\\.muni-24089\\.svc\\.cluster\\.local:8080"
                        .to_owned()
                ),
                (
                    "aliasgroup3".to_owned(),
                    "https://ponferrada.nube.dipuleon.es:443,http://nextcloud\\.muni-24115\\.svc\\.cluster\\.local:8080"
                        .to_owned()
                ),
            ]
        );
        assert_eq!(pool.hosts(), 4);
        assert_eq!(pool.url(), "https://office.nube.dipuleon.es");
    }

    #[test]
    fn replicas_follow_the_users_between_one_and_the_maximum() {
        let member = |users| Member { name: "x".into(), ine_code: "24001".into(), hosts: vec!["h".into()], users };
        assert_eq!(replicas(&[], 15, 20), 0, "nobody served: nothing runs");
        assert_eq!(replicas(&[member(0)], 15, 20), 1, "a suspended tenant alone still has its replica");
        assert_eq!(replicas(&[member(15)], 15, 20), 1);
        assert_eq!(replicas(&[member(16)], 15, 20), 2);
        assert_eq!(replicas(&[member(25), member(25)], 15, 20), 4, "50 users / 15 rounded up");
        assert_eq!(replicas(&[member(10_000)], 15, 20), 20, "capped at maxReplicas");
        assert_eq!(replicas(&[member(30)], 0, 0), 1, "nonsense settings still give a sane pool");
    }

    #[test]
    fn suspended_tenants_keep_their_group_but_count_no_users() {
        let mut suspended = enforced(municipality("ponferrada", "24115"));
        suspended.spec.suspend = true;
        let tenants = [Arc::new(suspended), Arc::new(enforced(municipality("astorga", "24008")))];
        let pool = serving(&tenants);
        assert_eq!(pool.members.len(), 2);
        assert_eq!(pool.members.iter().map(|m| m.users).sum::<i32>(), 25);
        assert_eq!(pool.replicas, 2);
    }

    #[test]
    fn a_plan_that_is_gone_counts_no_users() {
        let mut other = enforced(municipality("ponferrada", "24115"));
        other.status.as_mut().unwrap().plan = Some("gone".into());
        let pool = serving(&[Arc::new(other)]);
        assert_eq!((pool.members[0].users, pool.replicas), (0, 1));
    }

    #[test]
    fn a_replica_is_sized_with_opendesk_figures() {
        let fifteen = size(15);
        assert_eq!(fifteen.request, Size { cpu_m: 1000, memory_mi: 1006 });
        assert_eq!(fifteen.limit, Size { cpu_m: 2000, memory_mi: 2012 });
        assert_eq!(size(1).request, Size { cpu_m: 100, memory_mi: 306 }, "at least 100m");
        assert_eq!(size(20).request.cpu_m, 1334, "rounded up");
    }
}
