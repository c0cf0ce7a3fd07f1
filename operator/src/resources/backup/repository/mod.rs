//! The province's backup repository servers (`rclone serve restic`), in namespace
//! `concejo-backup-<province INE code>`, the only place the bucket's credentials are:
//! - `repository`: what tenants' backup pods reach. Append-only (snapshots can be added and read,
//!   nothing deleted or rewritten) and one private repository per user: a tenant's user reaches
//!   `/<user>/` and nothing else.
//! - `repository-admin`: retention, drills and copies, from this namespace only, logged in as the
//!   province with credentials no tenant holds. Pure builders; `controllers::province::backup` applies them.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, Namespace, PodSpec, PodTemplateSpec, Secret, SecretVolumeSource, Service, ServicePort,
    ServiceSpec, Volume,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rand::distributions::{Alphanumeric, DistString};

use super::super::collaboration::pod::{container_security, empty_dir, env, mount, pod_security, port};
use super::super::{labels, namespace as tenant_namespace};
use super::credentials::{self, htpasswd_line};
use super::pod::secret_key_env;
use crate::api::v1alpha1::{BackupTarget, Province};
use crate::domain::backup::{self, REPOSITORY, REPOSITORY_ADMIN, REPOSITORY_PORT};

mod network_policies;
pub use network_policies::POLICY_NAMES;
use network_policies::network_policies;

pub const PART_OF: &str = "concejo-backup";
pub const PART_OF_LABEL: &str = "app.kubernetes.io/part-of";
/// Secrets of the namespace: the bucket's credentials (primary, secondary), the tenants' htpasswd
/// lines, the province's own login (for the Jobs, and its line for the admin server). concejo may
/// read Secrets of these names in any namespace (RBAC), so none is generic ("admin").
pub const S3_SECRET: &str = "repository-s3";
pub const SECONDARY_SECRET: &str = "repository-secondary-s3";
pub const HTPASSWD_SECRET: &str = "repository-htpasswd";
pub const ADMIN_SECRET: &str = "repository-admin";
pub const ADMIN_HTPASSWD_SECRET: &str = "repository-admin-htpasswd";
/// Every tenant's repository password, keyed by its user (retention and drills open them).
pub const PASSWORDS_SECRET: &str = "repository-passwords";
pub const SECRETS: &[&str] =
    &[S3_SECRET, SECONDARY_SECRET, HTPASSWD_SECRET, ADMIN_SECRET, ADMIN_HTPASSWD_SECRET, PASSWORDS_SECRET];
pub const ADMIN_USER: &str = "concejo";
/// Annotation of the servers' pods: the bucket Secret's resourceVersion they were started with.
pub const CREDENTIALS_VERSION: &str = "concejo.dev/credentials-version";
/// The image's own unprivileged user is root; rclone needs none.
const UID: i64 = 65532;

/// The province's repository: what the servers are built from.
#[derive(Clone, Debug, PartialEq)]
pub struct Repository {
    pub province: String,
    pub ine_code: String,
    pub province_uid: Option<String>,
    pub target: BackupTarget,
    pub secondary: Option<BackupTarget>,
    pub image: String,
    /// The bucket's credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), primary and secondary.
    pub credentials: BTreeMap<String, ByteString>,
    pub secondary_credentials: Option<BTreeMap<String, ByteString>>,
    /// The resourceVersion of the bucket's Secret: on the servers' pod template, so that new keys
    /// restart them (rclone reads them from its environment once).
    pub credentials_version: String,
    /// Every tenant's htpasswd line, sorted.
    pub tenants: Vec<String>,
    /// Every tenant's repository password, by user.
    pub passwords: BTreeMap<String, String>,
    /// The province's login: kept once made; and its htpasswd line (bcrypt salts each hash, so
    /// the line in place is kept while it still verifies: [`admin_htpasswd`]).
    pub admin_password: String,
    pub admin_htpasswd: String,
}

impl Repository {
    pub fn new(province: &Province, image: String, credentials: BTreeMap<String, ByteString>) -> Option<Repository> {
        let target = province.spec.backup.target.clone()?;
        Some(Repository {
            province: province.metadata.name.clone().unwrap_or_default(),
            ine_code: province.spec.ine_code.clone(),
            province_uid: province.metadata.uid.clone(),
            target,
            secondary: province.spec.backup.secondary_target.clone(),
            image,
            credentials,
            secondary_credentials: None,
            credentials_version: String::new(),
            tenants: vec![],
            passwords: BTreeMap::new(),
            admin_password: String::new(),
            admin_htpasswd: String::new(),
        })
    }

    pub fn namespace(&self) -> String {
        backup::namespace(&self.ine_code)
    }
}

/// A new password for the province's login.
pub fn new_admin_password() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 32)
}

fn metadata(repo: &Repository, name: &str, component: &str) -> ObjectMeta {
    let mut l = labels::for_tenant(&repo.province, &repo.ine_code, &repo.province, component);
    l.insert(PART_OF_LABEL.into(), PART_OF.into());
    ObjectMeta { name: Some(name.into()), namespace: Some(repo.namespace()), labels: Some(l), ..Default::default() }
}

/// The selector of every object of every province's repository, for watches.
pub fn selector() -> String {
    format!("{},{PART_OF_LABEL}={PART_OF}", labels::managed_selector())
}

/// What `rclone serve restic` runs with (the data-path tests run exactly these): the bucket as an
/// rclone remote configured from the environment; tenant-facing: private repositories and
/// append-only.
pub fn server_args(admin: bool, bucket: &str) -> Vec<String> {
    let mut args: Vec<String> = ["serve", "restic", &format!("s3:{bucket}"), "--addr", &format!(":{REPOSITORY_PORT}")]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if !admin {
        args.extend(["--private-repos".into(), "--append-only".into()]);
    }
    args.extend(["--htpasswd".into(), "/etc/concejo/htpasswd/htpasswd".into()]);
    args
}

/// The remote `s3` of rclone, from the environment (credentials by reference to [`S3_SECRET`]).
pub fn server_env(target: &BackupTarget) -> Vec<EnvVar> {
    let s3 = &target.s3;
    vec![
        env("HOME", "/tmp"),
        env("RCLONE_CONFIG", "/tmp/rclone.conf"),
        env("RCLONE_CONFIG_S3_TYPE", "s3"),
        env("RCLONE_CONFIG_S3_PROVIDER", "Other"),
        env("RCLONE_CONFIG_S3_ENDPOINT", &s3.endpoint),
        env("RCLONE_CONFIG_S3_REGION", s3.region.as_deref().unwrap_or("us-east-1")),
        // Buckets are the Diputación's to make; checking them needs rights the key may not have.
        env("RCLONE_CONFIG_S3_NO_CHECK_BUCKET", "true"),
        secret_key_env("RCLONE_CONFIG_S3_ACCESS_KEY_ID", S3_SECRET, "AWS_ACCESS_KEY_ID"),
        secret_key_env("RCLONE_CONFIG_S3_SECRET_ACCESS_KEY", S3_SECRET, "AWS_SECRET_ACCESS_KEY"),
    ]
}

/// Every object of the repository. The apply step destructures it without `..`.
#[derive(Clone, Debug)]
pub struct Objects {
    pub namespace: Namespace,
    pub network_policies: Vec<NetworkPolicy>,
    pub secrets: Vec<Secret>,
    pub services: Vec<Service>,
    pub deployments: Vec<Deployment>,
}

pub fn build(repo: &Repository) -> Objects {
    let mut ns_meta = metadata(repo, &repo.namespace(), PART_OF);
    ns_meta.namespace = None;
    ns_meta
        .labels
        .get_or_insert_default()
        .extend(tenant_namespace::POD_SECURITY.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    ns_meta.owner_references = repo.province_uid.as_ref().map(|uid| {
        vec![OwnerReference {
            api_version: "concejo.dev/v1alpha1".into(),
            kind: "Province".into(),
            name: repo.province.clone(),
            uid: uid.clone(),
            ..Default::default()
        }]
    });
    let secret = |name: &str, data: BTreeMap<String, ByteString>| Secret {
        metadata: metadata(repo, name, "backup-key"),
        data: Some(data),
        type_: Some("Opaque".into()),
        ..Default::default()
    };
    let text = |pairs: &[(&str, String)]| -> BTreeMap<String, ByteString> {
        pairs.iter().map(|(k, v)| (k.to_string(), ByteString(v.clone().into_bytes()))).collect()
    };
    let mut tenants = repo.tenants.join("\n");
    tenants.push('\n');
    let mut secrets = vec![
        secret(S3_SECRET, repo.credentials.clone()),
        secret(HTPASSWD_SECRET, text(&[("htpasswd", tenants)])),
        secret(
            ADMIN_SECRET,
            text(&[
                (credentials::USERNAME, ADMIN_USER.to_owned()),
                (credentials::PASSWORD, repo.admin_password.clone()),
            ]),
        ),
        secret(ADMIN_HTPASSWD_SECRET, text(&[("htpasswd", format!("{}\n", repo.admin_htpasswd))])),
        secret(
            PASSWORDS_SECRET,
            repo.passwords.iter().map(|(u, p)| (u.clone(), ByteString(p.clone().into()))).collect(),
        ),
    ];
    if let Some(data) = &repo.secondary_credentials {
        secrets.push(secret(SECONDARY_SECRET, data.clone()));
    }
    Objects {
        namespace: Namespace { metadata: ns_meta, ..Default::default() },
        network_policies: network_policies(repo),
        secrets,
        services: [REPOSITORY, REPOSITORY_ADMIN].iter().map(|n| service(repo, n)).collect(),
        deployments: [false, true].iter().map(|admin| deployment(repo, *admin)).collect(),
    }
}

/// The province's htpasswd line: `live` (the line in place) while it verifies `password`, else a
/// new one.
pub fn admin_htpasswd(password: &str, live: Option<&str>) -> String {
    let verifies = |line: &str| {
        line.split_once(':')
            .is_some_and(|(user, hash)| user == ADMIN_USER && bcrypt::verify(password, hash).unwrap_or(false))
    };
    match live.map(str::trim) {
        Some(line) if verifies(line) => line.to_owned(),
        _ => htpasswd_line(ADMIN_USER, password),
    }
}

fn pod_selector(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(labels::NAME.into(), labels::MANAGER.into()), (labels::COMPONENT.into(), name.into())])
}

fn deployment(repo: &Repository, admin: bool) -> Deployment {
    let name = if admin { REPOSITORY_ADMIN } else { REPOSITORY };
    let htpasswd = if admin { ADMIN_HTPASSWD_SECRET } else { HTPASSWD_SECRET };
    let container = Container {
        name: "rclone".into(),
        image: Some(repo.image.clone()),
        args: Some(server_args(admin, &repo.target.s3.bucket)),
        env: Some(server_env(&repo.target)),
        ports: Some(vec![port("http", REPOSITORY_PORT.into())]),
        volume_mounts: Some(vec![
            mount("htpasswd", "/etc/concejo/htpasswd", None, true),
            mount("tmp", "/tmp", None, false),
        ]),
        security_context: Some(container_security(true)),
        ..Default::default()
    };
    let mut labels = metadata(repo, name, name).labels.unwrap_or_default();
    labels.extend(pod_selector(name));
    Deployment {
        metadata: metadata(repo, name, name),
        spec: DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector { match_labels: Some(pod_selector(name)), ..Default::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    annotations: Some(BTreeMap::from([(
                        CREDENTIALS_VERSION.to_owned(),
                        repo.credentials_version.clone(),
                    )])),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    volumes: Some(vec![
                        Volume {
                            name: "htpasswd".into(),
                            secret: Some(SecretVolumeSource {
                                secret_name: Some(htpasswd.into()),
                                default_mode: Some(0o440),
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                        empty_dir("tmp"),
                    ]),
                    security_context: Some(pod_security(UID)),
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

fn service(repo: &Repository, name: &str) -> Service {
    Service {
        metadata: metadata(repo, name, name),
        spec: Some(ServiceSpec {
            selector: Some(pod_selector(name)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: REPOSITORY_PORT.into(),
                target_port: Some(IntOrString::String("http".into())),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{leon, s3_target};

    #[test]
    fn only_the_tenant_facing_server_is_append_only_and_private_and_the_key_stays_in_its_secret() {
        let mut province = leon();
        province.spec.backup.target = Some(s3_target("concejo"));
        let mut repo = Repository::new(&province, "rclone".into(), BTreeMap::new()).unwrap();
        repo.admin_password = new_admin_password();
        repo.admin_htpasswd = admin_htpasswd(&repo.admin_password, None);
        assert_eq!(admin_htpasswd(&repo.admin_password, Some(&repo.admin_htpasswd)), repo.admin_htpasswd, "kept");
        assert_ne!(admin_htpasswd("another", Some(&repo.admin_htpasswd)), repo.admin_htpasswd, "made again");
        let o = build(&repo);
        assert_eq!(o.namespace.metadata.name.as_deref(), Some("concejo-backup-24"));
        let args = |i: usize| o.deployments[i].spec.template.spec.as_ref().unwrap().containers[0].args.clone().unwrap();
        assert!(args(0).contains(&"--append-only".to_owned()) && args(0).contains(&"--private-repos".to_owned()));
        assert!(!args(1).contains(&"--append-only".to_owned()));
        let text = serde_json::to_string(&o.deployments).unwrap();
        assert!(!text.contains(&repo.admin_password), "no credential in a pod spec");
        let names: Vec<_> = o.network_policies.iter().map(|p| p.metadata.name.clone().unwrap()).collect();
        assert_eq!(names, POLICY_NAMES);
    }

    #[test]
    fn the_servers_may_reach_the_port_each_bucket_names_and_restart_with_new_keys() {
        let mut province = leon();
        province.spec.backup.target = Some(s3_target("concejo"));
        province.spec.backup.target.as_mut().unwrap().s3.endpoint = "https://s3.dipuleon.es:9443".into();
        let mut repo = Repository::new(&province, "rclone".into(), BTreeMap::new()).unwrap();
        repo.credentials_version = "812".into();
        let o = build(&repo);
        let out = o.network_policies[1].spec.as_ref().unwrap().egress.as_ref().unwrap()[1].ports.clone().unwrap();
        let ports: Vec<_> = out.iter().map(|p| p.port.clone().unwrap()).collect();
        assert_eq!(ports, [IntOrString::Int(443), IntOrString::Int(80), IntOrString::Int(9443)]);
        let pod = o.deployments[0].spec.template.metadata.clone().unwrap();
        assert_eq!(pod.annotations.unwrap()[CREDENTIALS_VERSION], "812");
    }
}
