//! `kubectl concejo report ens`: the ENS compliance report of `concejo report ens` (one paginated
//! list of Municipalities), through the plugin's kubeconfig, context and output options.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::output::{self, Output};
use super::{Global, cluster::Cluster};

#[derive(Subcommand)]
pub enum ReportKind {
    /// ENS compliance: a row per town hall, a column per measure, a line per province.
    Ens(EnsArgs),
}

#[derive(Args)]
pub struct EnsArgs {
    /// Only the town halls of this Province (its metadata.name).
    #[arg(long)]
    province: Option<String>,
    /// CSV for the auditors' spreadsheet instead of the table (the same as `-o csv`).
    #[arg(long, conflicts_with = "output")]
    csv: bool,
}

pub async fn run(global: &Global, kind: ReportKind) -> anyhow::Result<ExitCode> {
    let ReportKind::Ens(args) = kind;
    let cluster = Cluster::connect(global).await?;
    let rows = crate::report::rows(cluster.client, args.province.as_deref()).await?;
    let text = match (args.csv, global.output) {
        (true, _) | (_, Some(Output::Csv)) => crate::report::csv(&rows),
        (false, Some(Output::Yaml)) => output::render(&rows, Output::Yaml)?,
        (false, Some(Output::Json)) => output::render(&rows, Output::Json)?,
        (false, _) => crate::report::table(&rows),
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
