//! The Collabora Online Deployment. It runs under Pod Security `restricted`: non-root (the
//! image's uid 1001), no capabilities, no privilege escalation, the runtime's seccomp profile.
//! Collabora's chroot jails need CHOWN, FOWNER and SYS_CHROOT, so it runs in its mode without
//! capabilities (`security.capabilities=false`, no jail mounts); docs/office.md says what that
//! trades. Which hosts may use it is its `aliasgroupN` variables (`pool::Pool::alias_groups`).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EnvVar, HTTPGetAction, KeyToPath, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    SeccompProfile, SecretVolumeSource, SecurityContext, TopologySpreadConstraint, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{NAME, PART_OF, PART_OF_LABEL, PORT, Pool, labels, tls};
use crate::resources::collaboration::pod::{env, port, resources};

/// The image's own user and group (`cool`).
const UID: i64 = 1001;
/// Where the trusted roots of the province are mounted: Collabora checks the TLS certificates of
/// the tenants' Nextcloud (WOPI callbacks) against them.
const CA_DIR: &str = "/etc/concejo/ca";
/// Long enough for coolwsd to save open documents back to their Nextcloud when stopped.
const GRACE_SECONDS: i64 = 120;

/// The labels that select the pool's pods (never changed: a Deployment's selector is immutable).
pub fn selector_labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::NAME.to_owned(), labels::MANAGER.to_owned()),
        (labels::COMPONENT.to_owned(), "office".to_owned()),
    ])
}

/// coolwsd's settings: TLS ends at the ingress; no capabilities, so no chroot jails and no jail
/// mounts; no admin console (its page and websocket are also refused at the ingress); the
/// tenants' certificates checked against the province's roots.
pub fn extra_params() -> String {
    [
        "--o:ssl.enable=false",
        "--o:ssl.termination=true",
        "--o:security.capabilities=false",
        "--o:mount_jail_tree=false",
        "--o:admin_console.enable=false",
        &format!("--o:storage.ssl.ca_file_path={CA_DIR}/ca.crt"),
        "--o:logging.level=warning",
    ]
    .join(" ")
}

/// The complete desired Deployment.
pub fn build(pool: &Pool) -> Deployment {
    let mut variables: Vec<EnvVar> = pool.alias_groups().into_iter().map(|(k, v)| env(&k, v)).collect();
    variables.extend([
        env("server_name", pool.host()),
        env("extra_params", extra_params()),
        // The image would make a self-signed certificate for its own TLS, which is off.
        env("DONT_GEN_SSL_CERT", "true"),
    ]);
    let http = |path: &str| HTTPGetAction {
        path: Some(path.to_owned()),
        port: IntOrString::String("http".into()),
        scheme: Some("HTTP".into()),
        ..Default::default()
    };
    let probe = |path: &str, period: i32, failures: i32| Probe {
        http_get: Some(http(path)),
        period_seconds: Some(period),
        timeout_seconds: Some(5),
        failure_threshold: Some(failures),
        ..Default::default()
    };
    let container = Container {
        name: NAME.to_owned(),
        image: Some(pool.image.clone()),
        ports: Some(vec![port("http", PORT)]),
        env: Some(variables),
        resources: Some(resources(pool.size())),
        // The first start copies the office template: slow.
        startup_probe: Some(probe("/hosting/discovery", 5, 60)),
        readiness_probe: Some(probe("/hosting/discovery", 10, 3)),
        liveness_probe: Some(probe("/", 30, 4)),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            privileged: Some(false),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities { add: None, drop: Some(vec!["ALL".into()]) }),
            // coolwsd rewrites its configuration and builds document directories at start.
            read_only_root_filesystem: Some(false),
            ..Default::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "ca".into(),
            mount_path: CA_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let mut pod_labels = selector_labels();
    pod_labels.insert(labels::INSTANCE.into(), pool.province.clone());
    pod_labels.insert(labels::PROVINCE.into(), pool.province.clone());
    pod_labels.insert(PART_OF_LABEL.into(), PART_OF.into());
    let selector = LabelSelector { match_labels: Some(selector_labels()), ..Default::default() };
    let pod = PodSpec {
        containers: vec![container],
        // Collabora never talks to the Kubernetes API.
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        termination_grace_period_seconds: Some(GRACE_SECONDS),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(UID),
            run_as_group: Some(UID),
            fs_group: Some(UID),
            seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), localhost_profile: None }),
            ..Default::default()
        }),
        topology_spread_constraints: Some(vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "kubernetes.io/hostname".into(),
            when_unsatisfiable: "ScheduleAnyway".into(),
            label_selector: Some(selector.clone()),
            ..Default::default()
        }]),
        volumes: Some(vec![Volume {
            name: "ca".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(tls::SECRET_NAME.into()),
                items: Some(vec![KeyToPath { key: "ca.crt".into(), path: "ca.crt".into(), ..Default::default() }]),
                ..Default::default()
            }),
            ..Default::default()
        }]),
        ..Default::default()
    };
    Deployment {
        metadata: super::metadata(pool, NAME, "office"),
        spec: DeploymentSpec {
            replicas: Some(pool.replicas),
            selector,
            // A new set of hosts restarts the pods (Collabora reads its groups at start): one
            // new pod at a time, each old one stopped only once its replacement is ready.
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            revision_history_limit: Some(3),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(pod_labels), ..Default::default() }),
                spec: Some(pod),
            },
            ..Default::default()
        },
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::office::pool::tests::{enforced, serving};
    use crate::testing::municipality;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use std::sync::Arc;

    fn variables(d: &Deployment) -> BTreeMap<String, String> {
        let c = &d.spec.template.spec.as_ref().unwrap().containers[0];
        c.env.clone().unwrap().into_iter().map(|e| (e.name, e.value.unwrap_or_default())).collect()
    }

    #[test]
    fn one_alias_group_per_tenant_and_replicas_from_the_users() {
        let tenants: Vec<_> = [municipality("ponferrada", "24115"), municipality("astorga", "24008")]
            .into_iter()
            .map(|m| Arc::new(enforced(m)))
            .collect();
        let d = build(&serving(&tenants));
        let env = variables(&d);
        let back = |code: &str| format!(",http://nextcloud\\.muni-{code}\\.svc\\.cluster\\.local:8080");
        assert_eq!(env["aliasgroup1"], format!("https://astorga.nube.dipuleon.es:443{}", back("24008")));
        assert_eq!(env["aliasgroup2"], format!("https://ponferrada.nube.dipuleon.es:443{}", back("24115")));
        assert!(!env.contains_key("aliasgroup3"));
        assert_eq!(env["server_name"], "office.nube.dipuleon.es");
        assert!(env["extra_params"].contains("--o:security.capabilities=false"));
        assert!(env["extra_params"].contains("--o:admin_console.enable=false"));
        // 2 tenants of 25 users, 15 per replica.
        assert_eq!(d.spec.replicas, Some(4));
        assert_eq!(d.metadata.namespace.as_deref(), Some("concejo-office-24"));
    }

    #[test]
    fn nobody_served_no_replica_and_no_group() {
        let d = build(&serving(&[]));
        assert_eq!(d.spec.replicas, Some(0));
        assert!(!variables(&d).keys().any(|k| k.starts_with("aliasgroup")));
    }

    /// What Pod Security `restricted` checks of a pod (v1.37), as the API server does.
    #[test]
    fn the_pod_meets_pod_security_restricted() {
        let d = build(&serving(&[]));
        let pod = d.spec.template.spec.unwrap();
        let psc = pod.security_context.as_ref().unwrap();
        assert_eq!(psc.run_as_non_root, Some(true));
        assert_ne!(psc.run_as_user, Some(0));
        assert_eq!(psc.seccomp_profile.as_ref().unwrap().type_, "RuntimeDefault");
        assert!(pod.host_network.is_none() && pod.host_pid.is_none() && pod.host_ipc.is_none());
        for v in pod.volumes.iter().flatten() {
            assert!(v.host_path.is_none(), "restricted allows no hostPath");
        }
        for c in &pod.containers {
            let sc = c.security_context.as_ref().unwrap();
            assert_eq!(sc.allow_privilege_escalation, Some(false));
            assert_ne!(sc.privileged, Some(true));
            let caps = sc.capabilities.as_ref().unwrap();
            assert_eq!(caps.drop.as_deref(), Some(&["ALL".to_owned()][..]));
            assert!(caps.add.iter().flatten().all(|c| c == "NET_BIND_SERVICE"));
            assert!(c.ports.iter().flatten().all(|p| p.host_port.is_none()));
        }
    }

    #[test]
    fn replicas_are_sized_and_the_selector_is_stable() {
        let d = build(&serving(&[]));
        let spec = d.spec;
        assert_eq!(spec.selector.match_labels, Some(selector_labels()));
        let template = spec.template;
        let labels = template.metadata.unwrap().labels.unwrap();
        assert!(selector_labels().iter().all(|(k, v)| labels.get(k) == Some(v)));
        let resources = template.spec.unwrap().containers[0].resources.clone().unwrap();
        assert_eq!(resources.requests.unwrap()["cpu"], Quantity("1000m".into()));
        assert_eq!(resources.limits.unwrap()["memory"], Quantity("2012Mi".into()));
    }
}
