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
use crate::api::v1alpha1::{BackupStatus, ComplianceEntry};
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
    let bindings = rbac::BINDINGS
        .iter()
        .map(|b| {
            let live = ctx.caches.live(&ApiResource::erase::<RoleBinding>(&()), Some(&ns), b);
            let role = live
                .and_then(|l| Some(format!("{}/{}", l["roleRef"]["kind"].as_str()?, l["roleRef"]["name"].as_str()?)));
            (b.to_string(), role)
        })
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
        certificate,
        volumes: inputs.volumes.iter().map(|v| (v.name.clone(), v.class.clone())).collect(),
        encrypted_classes,
        backup,
        audit: crate::domain::audit::in_force(*ctx.audit_seen.lock().expect("poisoned"), Timestamp::now()),
    }
}

/// The verdicts, with the backup status this reconcile read (or the one recorded before).
pub fn assess(mut evidence: Evidence, backup: Option<&BackupStatus>, now: Timestamp) -> Vec<ComplianceEntry> {
    if let Backups::On { status, .. } = &mut evidence.backup {
        *status = backup.cloned().map(Box::new);
    }
    ens::assess(&evidence, now)
}
