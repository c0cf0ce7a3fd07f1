//! `kubectl concejo onboard <INE code or name>`: a town hall from the INE register as a
//! Municipality, printed for Git or applied (server-side apply, field manager kubectl-concejo).
//! With `--province <code>` and no town hall: every town hall of the province (`province.rs`).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt as _};
use serde::Serialize;

use super::cluster::Cluster;
use super::lookup::{self, Lookup};
use super::output::{self, Output};
use super::{FIELD_MANAGER, Global, parse_duration, province};
use crate::api::v1alpha1::{Collaboration, Municipality, Province};
use crate::domain::identifiers::check_ine_code;
use crate::domain::naming::TownHall;

#[derive(clap::Args)]
pub struct OnboardArgs {
    /// The town hall: its INE code (24089), its name (León, "La Bañeza") or concejo's name for it
    /// (sobrado-24165). Leave it out, with --province, for every town hall of the province.
    #[arg(value_name = "INE_CODE_OR_NAME", required_unless_present = "province")]
    pub town_hall: Option<String>,
    /// The 2-digit INE province code: narrows a name to that province, or, without a town hall,
    /// onboards every town hall of it.
    #[arg(long, value_name = "CODE")]
    pub province: Option<String>,
    /// The Province object (spec.province) to use; default: the one whose spec.ineCode is the
    /// town hall's province code, looked up in the cluster. Lets you print without a cluster.
    #[arg(long, value_name = "NAME")]
    pub province_name: Option<String>,
    /// Enable the collaboration suite (files, office documents, calendar).
    #[arg(long)]
    pub collaboration: bool,
    /// Apply to the cluster (server-side apply, field manager kubectl-concejo) instead of printing.
    #[arg(long)]
    pub apply: bool,
    /// With --province and --apply: how long to wait for every town hall to be Ready.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// A Municipality as onboarding writes it: only what comes from the register (and the suite when
/// asked), so that Git and concejo's defaults own the rest.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: Metadata,
    pub spec: ManifestSpec,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Metadata {
    pub name: String,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManifestSpec {
    pub province: String,
    pub ine_code: String,
    pub display_name: String,
    pub dir3: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collaboration: Option<Collaboration>,
}

impl Manifest {
    pub fn new(town_hall: TownHall, province: &str, collaboration: bool) -> Self {
        Self {
            api_version: "concejo.dev/v1alpha1",
            kind: "Municipality",
            metadata: Metadata { name: town_hall.name },
            spec: ManifestSpec {
                province: province.to_owned(),
                ine_code: town_hall.ine_code.to_owned(),
                display_name: town_hall.display_name,
                dir3: town_hall.dir3,
                collaboration: collaboration.then_some(Collaboration { enabled: true }),
            },
        }
    }
}

pub async fn run(global: &Global, args: OnboardArgs) -> anyhow::Result<ExitCode> {
    let format = output::objects_only(global.output, "onboard")?;
    if let Some(code) = &args.province {
        lookup::province(code).map_err(anyhow::Error::msg)?;
    }
    let Some(query) = args.town_hall.as_deref() else {
        return province::run(global, &args, format).await;
    };
    let found = lookup::lookup(query, args.province.as_deref());
    let Lookup::Found(registered) = found else { bail!(lookup::explain(query, args.province.as_deref(), &found)) };
    let town_hall = TownHall::of(registered);
    let cluster = if args.apply || args.province_name.is_none() { Some(Cluster::connect(global).await?) } else { None };
    let province = match (&args.province_name, &cluster) {
        (Some(name), _) => name.clone(),
        (None, Some(cluster)) => province_object(cluster, town_hall.province_code()).await?,
        (None, None) => unreachable!("connected above"),
    };
    let manifest = Manifest::new(town_hall, &province, args.collaboration);
    let Some(cluster) = cluster.filter(|_| args.apply) else {
        print!("{}", output::render(&manifest, format.unwrap_or(Output::Yaml))?);
        return Ok(ExitCode::SUCCESS);
    };
    let existing = Api::<Municipality>::all(cluster.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| cluster.api_error(e))?;
    if let Some(other) = holder(&existing.items, &manifest) {
        bail!(
            "{} ({}) is already onboarded as Municipality {other:?}; a second one would be refused (Valid=False, Conflict)",
            manifest.spec.display_name,
            manifest.spec.ine_code
        );
    }
    let applied = apply(&cluster, &manifest).await?;
    match format {
        Some(f) => print!("{}", output::render(&applied, f)?),
        None => println!("municipality.concejo.dev/{} serverside-applied", applied.name_any()),
    }
    Ok(ExitCode::SUCCESS)
}

/// The name of another Municipality that already holds the manifest's INE code, if any.
pub fn holder(existing: &[Municipality], manifest: &Manifest) -> Option<String> {
    existing
        .iter()
        .find(|m| m.spec.ine_code == manifest.spec.ine_code && m.name_any() != manifest.metadata.name)
        .map(|m| m.name_any())
}

/// Server-side apply of one manifest.
pub async fn apply(cluster: &Cluster, manifest: &Manifest) -> anyhow::Result<Municipality> {
    let api = Api::<Municipality>::all(cluster.client.clone());
    api.patch(&manifest.metadata.name, &PatchParams::apply(FIELD_MANAGER), &Patch::Apply(manifest))
        .await
        .map_err(|e| cluster.api_error(e))
        .with_context(|| format!("applying Municipality {}", manifest.metadata.name))
}

/// The name of the Province object for a 2-digit INE province code.
pub async fn province_object(cluster: &Cluster, code: &str) -> anyhow::Result<String> {
    let provinces = Api::<Province>::all(cluster.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| cluster.api_error(e))?;
    let names: Vec<String> = provinces.items.iter().filter(|p| p.spec.ine_code == code).map(|p| p.name_any()).collect();
    match names.as_slice() {
        [name] => Ok(name.clone()),
        [] => bail!(
            "no Province with ineCode {code:?} ({}) in the cluster at {}: create it first, or name one with --province-name",
            lookup::province_label(code),
            cluster.url
        ),
        _ => bail!("Provinces {names:?} all have ineCode {code:?}: say which with --province-name"),
    }
}

/// The manifests of a province's town halls, and which ones fail [`check_ine_code`] (none should).
pub fn province_manifests(code: &str, province: &str, collaboration: bool) -> anyhow::Result<Vec<Manifest>> {
    lookup::province(code)
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .map(|m| {
            check_ine_code(m.ine_code, code)?;
            Ok(Manifest::new(TownHall::of(m), province, collaboration))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::identifiers::REGISTER;

    #[test]
    fn a_manifest_is_a_municipality_with_only_the_registers_fields() {
        let manifest = Manifest::new(TownHall::of(&REGISTER["24010"]), "leon", false);
        let yaml = output::render(&manifest, Output::Yaml).unwrap();
        assert_eq!(
            yaml,
            "apiVersion: concejo.dev/v1alpha1\nkind: Municipality\nmetadata:\n  name: la-baneza\nspec:\n  \
             province: leon\n  ineCode: \"24010\"\n  displayName: La Bañeza\n  dir3: L01240107\n"
        );
        let parsed: Municipality = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!((parsed.spec.ine_code.as_str(), parsed.spec.dir3.as_deref()), ("24010", Some("L01240107")));
        let json = output::render(&Manifest::new(TownHall::of(&REGISTER["24165"]), "leon", true), Output::Json);
        let parsed: Municipality = serde_json::from_str(&json.unwrap()).unwrap();
        assert_eq!(parsed.name_any(), "sobrado-24165");
        assert!(parsed.spec.collaboration.enabled);
    }

    #[test]
    fn another_holder_of_the_code_is_found() {
        let manifest = Manifest::new(TownHall::of(&REGISTER["24089"]), "leon", false);
        let mut other: Municipality = serde_json::from_value(serde_json::json!({
            "apiVersion": "concejo.dev/v1alpha1", "kind": "Municipality", "metadata": {"name": "leon-capital"},
            "spec": {"province": "leon", "ineCode": "24089", "displayName": "León"}
        }))
        .unwrap();
        assert_eq!(holder(std::slice::from_ref(&other), &manifest).as_deref(), Some("leon-capital"));
        other.metadata.name = Some("leon".into());
        assert_eq!(holder(&[other], &manifest), None);
    }

    #[test]
    fn a_province_is_every_town_hall_of_it() {
        let all = province_manifests("35", "las-palmas", false).unwrap();
        assert_eq!(all.len(), 34);
        assert!(all.iter().any(|m| m.metadata.name == "moya-35013"));
        assert!(province_manifests("99", "x", false).is_err());
    }
}
