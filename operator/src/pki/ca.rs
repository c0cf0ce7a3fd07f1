//! The CA of one Province, kept in Secret `concejo-ca-<province>` of the operator's namespace:
//! deciding when to create or rotate the root and the intermediate. Pure; time is passed in.

use k8s_openapi::api::core::v1::Secret;
use serde::{Deserialize, Serialize};

use crate::api::v1alpha1::KeyAlgorithm;
use crate::domain::duration;
use crate::pki::{self, Authority, PkiError};

/// Name of the Secret holding a province's CA.
pub fn secret_name(province: &str) -> String {
    format!("concejo-ca-{province}")
}

/// How long things live, in seconds, and with which keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    pub algorithm: KeyAlgorithm,
    pub leaf_lifetime: i64,
    pub intermediate_lifetime: i64,
    pub root_lifetime: i64,
}

const DAY: i64 = 86_400;

impl Settings {
    /// The defaults of a Province's `pki`: ECDSA P-256, 90 days, a year, ten years.
    pub const DEFAULTS: Settings = Settings {
        algorithm: KeyAlgorithm::EcdsaP256,
        leaf_lifetime: 90 * DAY,
        intermediate_lifetime: 365 * DAY,
        root_lifetime: 3650 * DAY,
    };

    /// A Province's settings. The durations are Go durations, as the API server's CEL rules
    /// check them; one that still does not parse falls back to its default.
    pub fn of(pki: &crate::api::v1alpha1::ProvincePki) -> Settings {
        let d = Settings::DEFAULTS;
        let seconds = |s: &str, default| duration::parse_seconds(s).unwrap_or(default);
        Settings {
            algorithm: pki.key_algorithm,
            leaf_lifetime: seconds(&pki.certificate_duration, d.leaf_lifetime),
            intermediate_lifetime: seconds(&pki.intermediate_duration, d.intermediate_lifetime),
            root_lifetime: seconds(&pki.root_duration, d.root_lifetime),
        }
    }
}

/// A root that is no longer current but still trusted, until `until` (unix seconds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredRoot {
    pub cert_pem: String,
    pub until: i64,
}

/// Everything a province's CA consists of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaState {
    /// The current root; its key is stored only when concejo generated it.
    pub root: Authority,
    pub root_generated: bool,
    pub intermediate: Authority,
    /// Older roots still trusted, so that certificates they signed stay valid during a rotation.
    pub retired: Vec<RetiredRoot>,
    /// The last `concejo.dev/rotate-root` value acted upon.
    pub rotation_token: Option<String>,
}

impl CaState {
    /// The trusted roots, current first: what tenants get as `ca.crt`.
    pub fn trust_bundle(&self) -> String {
        let mut bundle = self.root.cert_pem.clone();
        for r in &self.retired {
            bundle.push_str(&r.cert_pem);
        }
        bundle
    }

    /// Reads the state back from its Secret. A root brought by the Diputación has no key here:
    /// pass it as `byo_root` where the root must sign. An error says what is unreadable: the
    /// caller must then stop (a Secret that exists but cannot be read is never replaced by a
    /// new CA, which would re-issue every tenant and drop the old root from their trust).
    pub fn from_secret(secret: &Secret, byo_root: Option<&Authority>) -> Result<Self, String> {
        let data = secret.data.as_ref().ok_or("it has no data")?;
        let text = |k: &str| {
            data.get(k).and_then(|v| String::from_utf8(v.0.clone()).ok()).ok_or_else(|| format!("{k} is missing"))
        };
        let stored_key = text("root.key").ok();
        let root_generated = stored_key.is_some();
        let key_pem = stored_key.or_else(|| byo_root.map(|r| r.key_pem.clone())).unwrap_or_default();
        let root = Authority { cert_pem: text("root.crt")?, key_pem };
        let intermediate = Authority { cert_pem: text("intermediate.crt")?, key_pem: text("intermediate.key")? };
        for (key, pem) in [("root.crt", &root.cert_pem), ("intermediate.crt", &intermediate.cert_pem)] {
            pki::inspect(pem).map_err(|e| format!("{key} is not a certificate ({e})"))?;
        }
        if root_generated && !pki::key_matches(&root.cert_pem, &root.key_pem) {
            return Err("root.key does not match root.crt".into());
        }
        if !pki::key_matches(&intermediate.cert_pem, &intermediate.key_pem) {
            return Err("intermediate.key does not match intermediate.crt".into());
        }
        let retired = match data.get("retired-roots.json") {
            None => vec![],
            Some(json) => serde_json::from_slice(&json.0).map_err(|e| format!("retired-roots.json: {e}"))?,
        };
        Ok(CaState {
            root,
            root_generated,
            intermediate,
            retired,
            rotation_token: secret.metadata.annotations.as_ref().and_then(|a| a.get(ROTATION_HANDLED)).cloned(),
        })
    }
}

/// On a Province: set to a new value to introduce a new root now (e.g. after a compromise).
pub const ROTATE_ROOT_ANNOTATION: &str = "concejo.dev/rotate-root";
/// On the CA Secret: the last `concejo.dev/rotate-root` value acted upon.
pub const ROTATION_HANDLED: &str = "concejo.dev/rotate-root-handled";

/// What changed, for Events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    RootCreated,
    RootRotated(&'static str),
    IntermediateIssued(&'static str),
    RetiredRootDropped,
}

/// Brings a province's CA to where it should be at `now`. `permitted` are the DNS subtrees the
/// intermediate may sign for; `byo_root` is the Diputación's own root, if it brings one.
pub fn reconcile(
    current: Option<CaState>,
    byo_root: Option<&Authority>,
    province: &str,
    permitted: &[String],
    settings: Settings,
    rotate_token: Option<&str>,
    now: i64,
) -> Result<(CaState, Vec<Change>), PkiError> {
    let mut changes = Vec::new();
    let retire = |old: &Authority, retired: &mut Vec<RetiredRoot>| {
        let old_not_after = pki::inspect(&old.cert_pem).map(|i| i.not_after).unwrap_or(now);
        // Trusted until every certificate the old chain signed has been renewed and expired.
        retired.push(RetiredRoot {
            cert_pem: old.cert_pem.clone(),
            until: (now + settings.leaf_lifetime).min(old_not_after),
        });
    };

    let (mut root, mut retired, token) = match current.clone() {
        None => {
            let root = match byo_root {
                Some(r) => r.clone(),
                None => {
                    changes.push(Change::RootCreated);
                    pki::new_root(province, settings.algorithm, now, settings.root_lifetime)?
                }
            };
            (root, vec![], rotate_token.map(str::to_owned))
        }
        Some(state) => (state.root, state.retired, state.rotation_token),
    };
    let mut token = token;
    match byo_root {
        Some(brought) if brought.cert_pem != root.cert_pem => {
            retire(&root, &mut retired);
            root = brought.clone();
            changes.push(Change::RootRotated("the Diputación's root Secret changed"));
        }
        Some(_) => {}
        None => {
            let info = pki::inspect(&root.cert_pem)?;
            let requested = rotate_token.is_some() && rotate_token != token.as_deref();
            let due = now >= info.renewal_time(0.0);
            if current.is_some() && (requested || due || root.key_pem.is_empty()) {
                retire(&root, &mut retired);
                root = pki::new_root(province, settings.algorithm, now, settings.root_lifetime)?;
                changes.push(Change::RootRotated(if requested {
                    "rotation requested"
                } else {
                    "two thirds of its lifetime"
                }));
            }
        }
    }
    if rotate_token.is_some() {
        token = rotate_token.map(str::to_owned);
    }
    let before = retired.len();
    retired.retain(|r| r.until > now);
    if retired.len() < before {
        changes.push(Change::RetiredRootDropped);
    }

    let mut wanted: Vec<String> = permitted.to_vec();
    wanted.sort();
    wanted.dedup();
    let reason = match current.as_ref().map(|c| (&c.intermediate, pki::inspect(&c.intermediate.cert_pem))) {
        None | Some((_, Err(_))) => Some("created"),
        Some((_, Ok(info))) => {
            let mut has = info.permitted.clone();
            has.sort();
            let root_subject = pki::inspect(&root.cert_pem)?.subject;
            if info.issuer != root_subject {
                Some("new root")
            } else if has != wanted {
                Some("the province's hostnames changed")
            } else if now >= info.renewal_time(0.0) {
                Some("two thirds of its lifetime")
            } else if info.is_rsa != (settings.algorithm == KeyAlgorithm::Rsa3072) {
                Some("key algorithm changed")
            } else {
                None
            }
        }
    };
    let intermediate = match reason {
        Some(why) => {
            changes.push(Change::IntermediateIssued(why));
            pki::new_intermediate(&root, province, &wanted, settings.algorithm, now, settings.intermediate_lifetime)?
        }
        None => current.as_ref().map(|c| c.intermediate.clone()).expect("an intermediate exists when none is due"),
    };
    Ok((CaState { root, root_generated: byo_root.is_none(), intermediate, retired, rotation_token: token }, changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000;
    const SETTINGS: Settings = Settings::DEFAULTS;

    fn permitted() -> Vec<String> {
        vec!["nube.dipuleon.es".into()]
    }

    #[test]
    fn province_settings_default_to_the_api_defaults() {
        assert_eq!(Settings::of(&Default::default()), Settings::DEFAULTS);
    }

    #[test]
    fn fractional_durations_are_honoured() {
        let pki = crate::api::v1alpha1::ProvincePki { certificate_duration: "1.5h".into(), ..Default::default() };
        assert_eq!(Settings::of(&pki).leaf_lifetime, 5400);
    }

    #[test]
    fn first_reconcile_creates_root_and_intermediate_and_the_next_changes_nothing() {
        let (ca, changes) = reconcile(None, None, "leon", &permitted(), SETTINGS, None, T0).unwrap();
        assert_eq!(changes, [Change::RootCreated, Change::IntermediateIssued("created")]);
        let (again, changes) =
            reconcile(Some(ca.clone()), None, "leon", &permitted(), SETTINGS, None, T0 + DAY).unwrap();
        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(again, ca);
    }

    #[test]
    fn intermediate_rotates_at_two_thirds_and_when_hostnames_change() {
        let (ca, _) = reconcile(None, None, "leon", &permitted(), SETTINGS, None, T0).unwrap();
        let (_, changes) =
            reconcile(Some(ca.clone()), None, "leon", &permitted(), SETTINGS, None, T0 + 244 * DAY).unwrap();
        assert_eq!(changes, [Change::IntermediateIssued("two thirds of its lifetime")]);
        let more = vec!["nube.dipuleon.es".to_owned(), "nube.aytoleon.es".to_owned()];
        let (ca2, changes) = reconcile(Some(ca.clone()), None, "leon", &more, SETTINGS, None, T0 + DAY).unwrap();
        assert_eq!(changes, [Change::IntermediateIssued("the province's hostnames changed")]);
        assert_eq!(ca2.root, ca.root, "the root stays");
    }

    #[test]
    fn root_rotation_keeps_the_old_root_trusted_for_a_certificate_lifetime() {
        let (ca, _) = reconcile(None, None, "leon", &permitted(), SETTINGS, None, T0).unwrap();
        let old_root = ca.root.cert_pem.clone();
        let leaf = pki::issue_leaf(&ca.intermediate, &["a.nube.dipuleon.es".into()], SETTINGS.algorithm, T0, 90 * DAY)
            .unwrap();

        let t1 = T0 + 10 * DAY;
        let (rotated, changes) =
            reconcile(Some(ca), None, "leon", &permitted(), SETTINGS, Some("2026-11"), t1).unwrap();
        assert_eq!(changes, [Change::RootRotated("rotation requested"), Change::IntermediateIssued("new root")]);
        assert_ne!(rotated.root.cert_pem, old_root);
        assert!(rotated.trust_bundle().contains(&old_root), "the old root must stay trusted");
        // The same token does not rotate again.
        let (same, changes) =
            reconcile(Some(rotated.clone()), None, "leon", &permitted(), SETTINGS, Some("2026-11"), t1 + 1).unwrap();
        assert!(changes.is_empty());
        // The old root stays trusted until the leaf it signed has expired...
        assert!(leaf.info.not_after <= same.retired[0].until);
        // ...and is dropped after that.
        let later = t1 + 91 * DAY;
        let (dropped, changes) = reconcile(Some(same), None, "leon", &permitted(), SETTINGS, None, later).unwrap();
        assert!(changes.contains(&Change::RetiredRootDropped));
        assert!(!dropped.trust_bundle().contains(&old_root));
    }

    #[test]
    fn a_generated_root_rotates_by_itself_at_two_thirds() {
        let (ca, _) = reconcile(None, None, "leon", &permitted(), SETTINGS, None, T0).unwrap();
        let (_, changes) = reconcile(Some(ca), None, "leon", &permitted(), SETTINGS, None, T0 + 2434 * DAY).unwrap();
        assert_eq!(changes[0], Change::RootRotated("two thirds of its lifetime"));
    }

    #[test]
    fn a_brought_root_is_used_and_never_stored_with_its_key() {
        let brought = pki::new_root("leon", KeyAlgorithm::EcdsaP256, T0, 3650 * DAY).unwrap();
        let (ca, changes) = reconcile(None, Some(&brought), "leon", &permitted(), SETTINGS, None, T0).unwrap();
        assert_eq!(changes, [Change::IntermediateIssued("created")]);
        assert_eq!(ca.root, brought);
        assert!(!ca.root_generated, "a brought root is never stored with its key");
        // A new brought root is a rotation with overlap.
        let newer = pki::new_root("leon", KeyAlgorithm::EcdsaP256, T0 + DAY, 3650 * DAY).unwrap();
        let (ca2, changes) = reconcile(Some(ca), Some(&newer), "leon", &permitted(), SETTINGS, None, T0 + DAY).unwrap();
        assert_eq!(changes[0], Change::RootRotated("the Diputación's root Secret changed"));
        assert!(ca2.trust_bundle().contains(&brought.cert_pem));
    }
}
