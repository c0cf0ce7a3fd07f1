//! The tenant's ENS compliance: what is in the cluster, read from the watch caches when the
//! reconcile starts (before it puts anything back, so a deleted policy shows as not met until
//! concejo has restored it), and what this reconcile learnt of its backups. The verdicts
//! themselves are `domain::ens`.

use k8s_openapi::api::core::v1::{LimitRange, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::jiff::Timestamp;
use kube::api::ApiResource;

use super::Context;
use super::dereference::Inputs;
use crate::api::v1alpha1::{BackupStatus, ComplianceEntry, Subject, SubjectKind};
use crate::domain::ValidTenant;
use crate::domain::ens::{self, Backups, Certificate, Evidence};
use crate::resources::{backup, limit_range, quota, rbac};

/// The evidence of the cluster as the reconcile found it.
pub fn observe(tenant: &ValidTenant, inputs: &Inputs, ctx: &Context) -> Evidence {
    let ns = tenant.namespace();
    let present = |resource: ApiResource, name: &str| ctx.caches.present(&resource, Some(&ns), name);
    let namespace = inputs
        .namespace
        .as_deref()
        .filter(|n| n.metadata.deletion_timestamp.is_none())
        .map(|n| n.metadata.labels.as_ref().and_then(|l| l.get("pod-security.kubernetes.io/enforce")).cloned());
    let isolation = vec![
        ("NetworkPolicy deny-all".to_owned(), present(ApiResource::erase::<NetworkPolicy>(&()), "deny-all")),
        (format!("ResourceQuota {}", quota::NAME), present(ApiResource::erase::<ResourceQuota>(&()), quota::NAME)),
        (
            format!("LimitRange {}", limit_range::NAME),
            present(ApiResource::erase::<LimitRange>(&()), limit_range::NAME),
        ),
    ];
    let live_bindings: Vec<(&str, Option<serde_json::Value>)> = rbac::BINDINGS
        .iter()
        .map(|b| (*b, ctx.caches.live(&ApiResource::erase::<RoleBinding>(&()), Some(&ns), b)))
        .collect();
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
    let certificate = inputs
        .tls_secret
        .as_deref()
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
            scheduled: ctx.caches.present(
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
