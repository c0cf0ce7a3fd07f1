//! The tenant's ENS compliance: what is in the cluster, read from the watch caches when the
//! reconcile starts (before it puts anything back, so a deleted policy shows as not met until
//! concejo has restored it), and what this reconcile learnt of its backups. A tenant's first
//! provisioning is judged on what it put in place instead: there was nothing to find, and judged
//! before, every new tenant would say "not met" once, then again with a second status write and
//! Event when the next reconcile found its own objects. The verdicts themselves are `domain::ens`.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::jiff::Timestamp;
use kube::api::ApiResource;
use serde_json::Value;

use super::Context;
use super::dereference::Inputs;
use crate::api::v1alpha1::{BackupStatus, ComplianceEntry, Subject, SubjectKind};
use crate::domain::ValidTenant;
use crate::domain::ens::{self, Backups, Certificate, Evidence};
use crate::resources::{Desired, Part, backup, limit_range, quota, rbac, tls};

/// Where the evidence is read from: the watch caches (and the objects [`Inputs`] read from them),
/// and, for a first provisioning, the objects of the parts this reconcile applied.
pub struct Seen<'a> {
    inputs: &'a Inputs,
    ctx: &'a Context,
    applied: Option<(&'a Desired, &'a [Part])>,
}

impl<'a> Seen<'a> {
    /// The cluster as the reconcile found it.
    pub fn found(inputs: &'a Inputs, ctx: &'a Context) -> Self {
        Self { inputs, ctx, applied: None }
    }

    /// The cluster as found, and what this reconcile applied of `parts` (those it applied fully).
    pub fn provisioned(inputs: &'a Inputs, ctx: &'a Context, desired: &'a Desired, parts: &'a [Part]) -> Self {
        Self { inputs, ctx, applied: Some((desired, parts)) }
    }

    fn applied(&self, resource: &ApiResource, namespace: Option<&str>, name: &str) -> Option<&'a Value> {
        let (desired, parts) = self.applied?;
        desired
            .manifests
            .iter()
            .find(|m| {
                parts.contains(&m.part)
                    && m.resource == *resource
                    && m.namespace.as_deref() == namespace
                    && m.name == name
            })
            .map(|m| &m.body)
    }

    fn live(&self, resource: &ApiResource, namespace: Option<&str>, name: &str) -> Option<Value> {
        let cached = self.ctx.caches.live(resource, namespace, name);
        cached.or_else(|| self.applied(resource, namespace, name).cloned())
    }

    fn present(&self, resource: &ApiResource, namespace: Option<&str>, name: &str) -> bool {
        self.ctx.caches.present(resource, namespace, name) || self.applied(resource, namespace, name).is_some()
    }
}

/// The evidence of the cluster as `seen`.
pub fn observe(tenant: &ValidTenant, seen: &Seen<'_>) -> Evidence {
    let (inputs, ctx) = (seen.inputs, seen.ctx);
    let ns = tenant.namespace();
    let present = |resource: ApiResource, name: &str| seen.present(&resource, Some(&ns), name);
    const ENFORCE: &str = "pod-security.kubernetes.io/enforce";
    let namespace = match inputs.namespace.as_deref() {
        Some(n) => n
            .metadata
            .deletion_timestamp
            .is_none()
            .then(|| n.metadata.labels.as_ref().and_then(|l| l.get(ENFORCE)).cloned()),
        None => seen
            .applied(&ApiResource::erase::<Namespace>(&()), None, &ns)
            .map(|n| n["metadata"]["labels"][ENFORCE].as_str().map(str::to_owned)),
    };
    let isolation = vec![
        ("NetworkPolicy deny-all".to_owned(), present(ApiResource::erase::<NetworkPolicy>(&()), "deny-all")),
        (format!("ResourceQuota {}", quota::NAME), present(ApiResource::erase::<ResourceQuota>(&()), quota::NAME)),
        (
            format!("LimitRange {}", limit_range::NAME),
            present(ApiResource::erase::<LimitRange>(&()), limit_range::NAME),
        ),
    ];
    let live_bindings: Vec<(&str, Option<serde_json::Value>)> =
        rbac::BINDINGS.iter().map(|b| (*b, seen.live(&ApiResource::erase::<RoleBinding>(&()), Some(&ns), b))).collect();
    let bindings = live_bindings
        .iter()
        .map(|(b, live)| {
            let role = live
                .as_ref()
                .and_then(|l| Some(format!("{}/{}", l["roleRef"]["kind"].as_str()?, l["roleRef"]["name"].as_str()?)));
            (b.to_string(), role)
        })
        .collect();
    let unlisted_subjects = live_bindings
        .iter()
        .zip([&tenant.admins, &tenant.auditors])
        .map(|((b, live), listed)| (b.to_string(), unlisted(live.as_ref(), listed)))
        .collect();
    let roles = rbac::BINDINGS
        .iter()
        .zip([rbac::ADMIN, rbac::AUDITOR])
        .map(|(b, r)| (b.to_string(), format!("ClusterRole/{r}")));
    let applied_tls = || seen.applied(&ApiResource::erase::<Secret>(&()), Some(&ns), tls::SECRET_NAME);
    let applied_tls = inputs.tls_secret.is_none().then(applied_tls).flatten();
    let applied_tls = applied_tls.and_then(|s| serde_json::from_value::<Secret>(s.clone()).ok()).map(Arc::new);
    let certificate = inputs
        .tls_secret
        .clone()
        .or(applied_tls)
        .and_then(|s| s.data.as_ref()?.get("tls.crt").map(|c| String::from_utf8_lossy(&c.0).into_owned()))
        .and_then(|pem| crate::pki::inspect(&pem).ok())
        .and_then(|info| {
            let not_after = Timestamp::from_second(info.not_after).ok()?;
            Some(Certificate { not_after, is_rsa: info.is_rsa, key_bits: info.key_bits })
        });
    let encrypted_classes = inputs
        .province
        .as_deref()
        .map(|p| p.spec.storage.classes.iter().filter(|c| c.encrypted).map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    let backup = match (&tenant.storage, &tenant.backup) {
        (None, _) => Backups::NoVolumes,
        (Some(_), None) => Backups::Disabled,
        (Some(_), Some(b)) => Backups::On {
            missing: b.missing.clone(),
            scheduled: seen.present(
                &ApiResource::erase::<k8s_openapi::api::batch::v1::CronJob>(&()),
                Some(&ns),
                backup::schedule::NAME,
            ),
            schedule: b.schedule.clone(),
            retention: format!(
                "{} daily, {} weekly, {} monthly, {} yearly",
                b.keep.daily, b.keep.weekly, b.keep.monthly, b.keep.yearly
            ),
            secondary: b.secondary.as_ref().map(|s| format!("{}/{}", s.endpoint.trim_end_matches('/'), s.bucket)),
            status: None,
        },
    };
    Evidence {
        category: tenant.ens_category,
        namespace,
        isolation,
        bindings,
        roles: roles.collect(),
        unlisted_subjects,
        certificate,
        volumes: inputs.volumes.iter().map(|v| (v.name.clone(), v.class.clone())).collect(),
        encrypted_classes,
        backup,
        audit: crate::domain::audit::in_force(*ctx.audit_seen.lock().expect("poisoned"), Timestamp::now()),
    }
}

/// The subjects of a live binding that the Municipality does not list, as "Kind name".
fn unlisted(live: Option<&serde_json::Value>, listed: &[Subject]) -> Vec<String> {
    let subjects = live.and_then(|l| l["subjects"].as_array()).map(Vec::as_slice).unwrap_or_default();
    subjects
        .iter()
        .filter_map(|s| Some((s["kind"].as_str()?, s["name"].as_str()?)))
        .filter(|(kind, name)| {
            let kind_of = |l: &Subject| match l.kind {
                SubjectKind::Group => "Group",
                SubjectKind::User => "User",
            };
            !listed.iter().any(|l| kind_of(l) == *kind && l.name == *name)
        })
        .map(|(kind, name)| format!("{kind} {name}"))
        .collect()
}

/// The verdicts, with the backup status this reconcile read (or the one recorded before).
pub fn assess(mut evidence: Evidence, backup: Option<&BackupStatus>, now: Timestamp) -> Vec<ComplianceEntry> {
    if let Backups::On { status, .. } = &mut evidence.backup {
        *status = backup.cloned().map(Box::new);
    }
    ens::assess(&evidence, now)
}
