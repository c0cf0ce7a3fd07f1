//! The command line: `run` (the operator), `crds` (the CRD YAML), `tenant-roles`, `report ens`, `generate` (Municipality
//! objects for a whole province from the INE register).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::start::{self, RunArgs};

#[derive(Parser)]
#[command(version, about = "Kubernetes operator that turns each town hall into an isolated tenant")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator against the cluster of $KUBECONFIG (or the in-cluster service account).
    Run(RunArgs),
    /// Print the CustomResourceDefinitions as YAML, or write one file per CRD into a folder.
    Crds {
        /// Write `<name>.yaml` files into this folder instead of printing.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Print the tenant roles (ClusterRoles bound in every tenant namespace) as YAML.
    TenantRoles,
    /// Reports of what concejo enforces.
    #[command(subcommand)]
    Report(Report),
    /// Print objects generated from the embedded INE register.
    #[command(subcommand)]
    Generate(Generate),
}

#[derive(Subcommand)]
enum Report {
    /// ENS compliance: a row per town hall, a column per measure (from one list of the cluster of
    /// $KUBECONFIG).
    Ens {
        /// Only the town halls of this Province (its metadata.name).
        #[arg(long)]
        province: Option<String>,
        /// table, json or csv.
        #[arg(long, short = 'o', default_value = "table", value_parser = ["table", "json", "csv"])]
        output: String,
    },
}

#[derive(Subcommand)]
enum Generate {
    /// One Municipality for every municipality of a province, with real INE and DIR3 codes.
    Municipalities {
        /// Two-digit INE province code, e.g. 24 for León.
        #[arg(long)]
        province_code: String,
        /// Name of the Province object they belong to.
        #[arg(long)]
        province: String,
        /// Enable the collaboration suite (files, office documents, calendar) for each.
        #[arg(long)]
        collaboration: bool,
    },
}

/// Parses the command line and runs the command.
pub async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crds { out_dir } => crds(out_dir),
        Command::TenantRoles => {
            print!("{}", crate::resources::rbac::cluster_roles_yaml()?);
            Ok(())
        }
        Command::Generate(Generate::Municipalities { province_code, province, collaboration }) => {
            let yaml =
                crate::generate::municipalities_yaml(&province_code, &province, collaboration).with_context(|| {
                    format!("{province_code:?} is not an INE province code (\"01\" to \"52\", e.g. 24 for León)")
                })?;
            print!("{yaml}");
            Ok(())
        }
        Command::Report(Report::Ens { province, output }) => {
            let client = kube::Client::try_default().await.context("no cluster to report on: set KUBECONFIG")?;
            let rows = crate::report::rows(client, province.as_deref()).await?;
            match output.as_str() {
                "json" => println!("{}", serde_json::to_string_pretty(&rows)?),
                "csv" => print!("{}", crate::report::csv(&rows)),
                _ => print!("{}", crate::report::table(&rows)),
            }
            Ok(())
        }
        Command::Run(args) => start::run(args).await,
    }
}

fn crds(out_dir: Option<PathBuf>) -> anyhow::Result<()> {
    for crd in crate::crds::all() {
        let yaml = crate::crds::to_yaml(&crd)?;
        match &out_dir {
            Some(dir) => {
                let path = dir.join(crate::crds::file_name(&crd));
                std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
            None => print!("---\n{yaml}"),
        }
    }
    Ok(())
}
