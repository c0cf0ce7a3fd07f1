//! Step 3: the tenant's certificate. Decides (pure, `pki::tls::decide`) whether the one in
//! `tenant-tls` stays, needs only new trusted roots, or must be re-issued (a new key, on blocking
//! threads: RSA key generation takes about a second).

use super::Context;
use super::announce::Said;
use super::dereference::{Ca, Inputs};
use super::status::Part;
use crate::api::v1alpha1::CertificateStatus;
use crate::domain::ValidTenant;
use crate::pki::{self, Leaf, ca, tls};
use k8s_openapi::jiff::Timestamp;

/// The certificate the tenant should have now, or why there is none.
pub enum Prepared {
    Ready { leaf: Leaf, trust: String, issued: Option<&'static str>, status: Box<CertificateStatus> },
    Waiting(Part),
}

impl Prepared {
    /// What the builders get: the certificate and the trusted roots.
    pub fn certificate(&self) -> Option<(&Leaf, &str)> {
        match self {
            Prepared::Ready { leaf, trust, .. } => Some((leaf, trust.as_str())),
            Prepared::Waiting(_) => None,
        }
    }

    /// Why the certificate part cannot be applied, if it cannot.
    pub fn waiting(&self) -> Option<Part> {
        match self {
            Prepared::Waiting(part) => Some(part.clone()),
            Prepared::Ready { .. } => None,
        }
    }

    pub fn status(&self) -> Option<&CertificateStatus> {
        match self {
            Prepared::Ready { status, .. } => Some(&**status),
            Prepared::Waiting(_) => None,
        }
    }

    /// Once the Secret is in place: the expiry metric, and an Event when it was (re-)issued.
    pub fn announce(&self, tenant: &ValidTenant, ctx: &Context, said: &Said) {
        let Prepared::Ready { leaf, issued, status, .. } = self else { return };
        ctx.metrics.certificate_expires(&tenant.ine_code, Some(leaf.info.not_after));
        if let Some(reason) = issued {
            let note = format!(
                "certificate {} for {} issued by the intermediate of Province {}, valid until {}",
                leaf.info.serial,
                leaf.info.dns_names.join(", "),
                tenant.province,
                status.not_after
            );
            said.step(true, &format!("Certificate{reason}"), note);
        }
    }
}

pub async fn prepare(tenant: &ValidTenant, inputs: &Inputs) -> Prepared {
    let province = &tenant.province;
    let ca = match &inputs.ca {
        Ca::Ready(ca) => ca,
        Ca::Missing => {
            let message = format!("waiting for the CA of Province {province}");
            return Prepared::Waiting(Part::Waiting { reason: "WaitingForCA", message });
        }
        Ca::Unreadable(why) => {
            let message = format!(
                "the CA Secret of Province {province} cannot be read ({why}); the certificate in place is kept \
                 and nothing is issued until the Secret is repaired"
            );
            return Prepared::Waiting(Part::Waiting { reason: "CAUnreadable", message });
        }
    };
    let covered = pki::inspect(&ca.intermediate.cert_pem).is_ok_and(|i| tenant.hosts.iter().all(|h| i.permits(h)));
    if !covered {
        let message = format!("waiting for the intermediate CA of Province {province} to cover {:?}", tenant.hosts);
        return Prepared::Waiting(Part::Waiting { reason: "WaitingForCA", message });
    }
    let algorithm = tenant.pki.key_algorithm;
    let lifetime = ca::Settings::of(&tenant.pki).leaf_lifetime;
    let jitter = tls::jitter(tenant);
    let now = Timestamp::now().as_second();
    let trust = ca.trust_bundle();
    match tls::obtain(inputs.tls_secret.as_deref(), &tenant.hosts, ca, algorithm, lifetime, jitter, now).await {
        Ok((leaf, issued)) => {
            let status = Box::new(tls::status(&leaf.info, jitter));
            Prepared::Ready { leaf, trust, issued, status }
        }
        Err(e) => Prepared::Waiting(Part::Failed { reason: "IssueFailed", message: e.to_string() }),
    }
}
