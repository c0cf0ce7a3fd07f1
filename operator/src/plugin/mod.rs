//! `kubectl concejo`: the kubectl plugin (binary `kubectl-concejo`, krew naming). One file per
//! command; what can be pure (looking town halls up, the table, the progress of a province) is,
//! and is tested without a cluster.
//!
//! - `onboard`: a town hall (or a whole province) from the INE register, printed or applied.
//! - `status`: every tenant's phase and conditions from one list (or one watch).
//! - `backup`, `restore`, `suspend`, `resume` of one tenant.

mod cluster;
mod lookup;
mod onboard;
mod output;
mod progress;
mod province;
mod report;
mod status;
mod table;
mod tenant;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub use output::Output;

/// The field manager of every write the plugin makes.
pub const FIELD_MANAGER: &str = "kubectl-concejo";

#[derive(Parser)]
#[command(
    name = "kubectl-concejo",
    bin_name = "kubectl concejo",
    version,
    about = "Onboard town halls and look after concejo's tenants (Municipality objects)"
)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// The options kubectl itself has.
#[derive(Args, Clone, Debug, Default)]
pub struct Global {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Output format: yaml or json (the objects, or the status report), wide (more columns), csv
    /// (`report ens`).
    #[arg(short = 'o', long = "output", global = true, value_enum)]
    pub output: Option<Output>,
}

#[derive(Subcommand)]
enum Command {
    /// A town hall by INE code or name as a Municipality (printed, or applied with --apply); with
    /// --province alone, every town hall of the province.
    Onboard(onboard::OnboardArgs),
    /// A table of tenants: phase, each condition, certificate expiry, last backup and drill.
    Status(status::StatusArgs),
    /// Asks for a backup of a tenant now (a Backup in its namespace).
    Backup(tenant::BackupArgs),
    /// Restores a snapshot of a tenant into a new volume, or in place while it is suspended.
    Restore(tenant::RestoreArgs),
    /// Suspends a tenant: workloads scaled to zero, scheduled backups paused, data kept.
    Suspend(tenant::SuspendArgs),
    /// Brings a suspended tenant back.
    Resume(tenant::SuspendArgs),
    /// Reports: `report ens`, the ENS compliance of every town hall.
    #[command(subcommand)]
    Report(report::ReportKind),
}

/// Parses the command line, runs the command, and turns an error into a message and exit status 1.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Onboard(args) => onboard::run(&cli.global, args).await,
        Command::Status(args) => status::run(&cli.global, args).await,
        Command::Backup(args) => tenant::backup(&cli.global, args).await,
        Command::Restore(args) => tenant::restore(&cli.global, args).await,
        Command::Suspend(args) => tenant::suspend(&cli.global, args, true).await,
        Command::Resume(args) => tenant::suspend(&cli.global, args, false).await,
        Command::Report(kind) => report::run(&cli.global, kind).await,
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// A duration as people write it on a command line: "90s", "10m", "1h" (or seconds alone).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration such as 90s, 10m or 1h"))?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{text:?} is not a duration such as 90s, 10m or 1h")),
    };
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn kubectl_options_go_anywhere_on_the_line() {
        let cli = Cli::try_parse_from([
            "kubectl-concejo",
            "status",
            "--context",
            "prod",
            "-o",
            "wide",
            "--kubeconfig",
            "/tmp/k",
        ])
        .unwrap();
        assert_eq!(cli.global.context.as_deref(), Some("prod"));
        assert_eq!(cli.global.output, Some(Output::Wide));
        assert_eq!(cli.global.kubeconfig, Some(PathBuf::from("/tmp/k")));
        assert!(Cli::try_parse_from(["kubectl-concejo", "status", "-o", "xml"]).is_err());
        let cli = Cli::try_parse_from(["kubectl-concejo", "report", "ens", "-o", "csv"]).unwrap();
        assert_eq!(cli.global.output, Some(Output::Csv), "the report's CSV, as `concejo report ens -o csv`");
    }
}
