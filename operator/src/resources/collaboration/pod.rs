//! What every pod of the suite shares: the template (labels, no token, no Service variables),
//! the restricted security contexts, resources from the suite's size, environment, probes, mounts
//! and volumes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    KeyToPath, PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SeccompProfile, SecretKeySelector, SecurityContext, TCPSocketAction, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{config, credentials, pod_labels};
use crate::domain::ValidTenant;
use crate::domain::suite;

/// A pod that runs as `uid` (group and volume group `uid` too), seccomp RuntimeDefault.
pub fn pod_security(uid: i64) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        fs_group: Some(uid),
        fs_group_change_policy: Some("OnRootMismatch".into()),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), localhost_profile: None }),
        ..Default::default()
    }
}

/// A container with no privileges: what Pod Security `restricted` asks, and a read-only root
/// filesystem where the image allows it.
pub fn container_security(read_only_root: bool) -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), add: None }),
        read_only_root_filesystem: Some(read_only_root),
        run_as_non_root: Some(true),
        ..Default::default()
    }
}

/// Requests and limits of one container of the suite.
pub fn resources(container: suite::Container) -> ResourceRequirements {
    let of = |s: suite::Size| {
        BTreeMap::from([("cpu".to_owned(), Quantity(s.cpu())), ("memory".to_owned(), Quantity(s.memory()))])
    };
    ResourceRequirements { requests: Some(of(container.request)), limits: Some(of(container.limit)), claims: None }
}

/// An environment variable.
pub fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar { name: name.into(), value: Some(value.into()), value_from: None }
}

/// An environment variable read from the credentials Secret (so no credential is ever in a
/// pod spec, a status, an Event or a log).
pub fn secret_env(name: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: credentials::NAME.into(),
                key: key.into(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
    }
}

/// A container with the fields every suite container sets.
pub fn container(name: &str, image: &str, sizing: suite::Container, read_only_root: bool) -> Container {
    Container {
        name: name.into(),
        image: Some(image.into()),
        image_pull_policy: Some("IfNotPresent".into()),
        resources: Some(resources(sizing)),
        security_context: Some(container_security(read_only_root)),
        ..Default::default()
    }
}

/// A pod template of the suite: its labels, no service account token, no Service environment
/// variables (a Service named `postgres` would set POSTGRES_PORT, which images read).
pub fn template(
    tenant: &ValidTenant,
    component: &str,
    uid: i64,
    containers: Vec<Container>,
    volumes: Vec<Volume>,
) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta { labels: Some(pod_labels(tenant, component)), ..Default::default() }),
        spec: Some(PodSpec {
            containers,
            volumes: Some(volumes),
            security_context: Some(pod_security(uid)),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            ..Default::default()
        }),
    }
}

pub fn port(name: &str, number: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: number,
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

pub fn tcp(port: i32, failures: i32) -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction { port: IntOrString::Int(port), host: None }),
        period_seconds: Some(10),
        failure_threshold: Some(failures),
        ..Default::default()
    }
}

pub fn mount(volume: &str, path: &str, sub_path: Option<&str>, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: volume.into(),
        mount_path: path.into(),
        sub_path: sub_path.map(str::to_owned),
        // Only `true` is declared: the API server drops `readOnly: false`, and a field it drops
        // would make every reconcile see a difference and apply again.
        read_only: read_only.then_some(true),
        ..Default::default()
    }
}

pub fn claim_volume(name: &str, claim: &str) -> Volume {
    Volume {
        name: name.into(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource { claim_name: claim.into(), read_only: None }),
        ..Default::default()
    }
}

/// The suite's ConfigMap as a volume; with `only`, just that key, with that mode.
pub fn config_volume(name: &str, only: Option<(&str, i32)>) -> Volume {
    Volume {
        name: name.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: config::NAME.into(),
            items: only.map(|(key, _)| vec![KeyToPath { key: key.into(), path: key.into(), mode: None, user: None }]),
            default_mode: Some(only.map(|(_, mode)| mode).unwrap_or(0o444)),
            optional: Some(false),
            default_user: None,
        }),
        ..Default::default()
    }
}

pub fn empty_dir(name: &str) -> Volume {
    Volume { name: name.into(), empty_dir: Some(EmptyDirVolumeSource::default()), ..Default::default() }
}
