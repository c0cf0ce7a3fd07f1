//! `kubectl concejo status [--province P] [--watch]`: every tenant from one list of
//! Municipalities (or one watch, redrawn as it changes), never a request per tenant.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, ResourceExt as _};
use serde::Serialize;

use super::cluster::Cluster;
use super::output::{self, Output};
use super::table::{self, ProvinceSummary, Row};
use super::{Global, lookup};
use crate::api::v1alpha1::Municipality;

#[derive(clap::Args)]
pub struct StatusArgs {
    /// Only this province: the Province's name (leon) or its 2-digit INE code (24).
    #[arg(long, value_name = "PROVINCE")]
    province: Option<String>,
    /// Keep watching, and redraw the table when a tenant changes.
    #[arg(short, long)]
    watch: bool,
}

/// What `-o json|yaml` prints: the rows and the summaries.
#[derive(Serialize)]
struct Report {
    tenants: Vec<Row>,
    provinces: Vec<ProvinceSummary>,
}

pub async fn run(global: &Global, args: StatusArgs) -> anyhow::Result<ExitCode> {
    if let Some(p) = args.province.as_deref().filter(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_digit())) {
        lookup::province(p).map_err(anyhow::Error::msg)?;
    }
    let cluster = Cluster::connect(global).await?;
    let api = Api::<Municipality>::all(cluster.client.clone());
    if !args.watch {
        let list = api.list(&ListParams::default()).await.map_err(|e| cluster.api_error(e))?;
        print!("{}", render(list.items.iter(), args.province.as_deref(), global.output)?);
        return Ok(ExitCode::SUCCESS);
    }
    watch(api, args.province.as_deref(), global.output).await
}

/// Whether a tenant belongs to `province` (a Province name, or an INE province code).
fn in_province(m: &Municipality, province: Option<&str>) -> bool {
    match province {
        None => true,
        Some(p) if p.len() == 2 && p.chars().all(|c| c.is_ascii_digit()) => m.spec.ine_code.starts_with(p),
        Some(p) => m.spec.province == p,
    }
}

/// The table (or report) of the tenants of `province`, by province and name.
fn render<'a>(
    all: impl Iterator<Item = &'a Municipality>,
    province: Option<&str>,
    format: Option<Output>,
) -> anyhow::Result<String> {
    let mut rows: Vec<Row> = all.filter(|m| in_province(m, province)).map(Row::of).collect();
    rows.sort_by(|a, b| (&a.province, &a.name).cmp(&(&b.province, &b.name)));
    match format {
        Some(f @ (Output::Json | Output::Yaml)) => {
            let provinces = table::summaries(&rows);
            output::render(&Report { tenants: rows, provinces }, f)
        }
        Some(Output::Csv) => {
            anyhow::bail!("`status` prints a table, -o wide, -o yaml or -o json (csv is for `report ens`)")
        }
        wide => Ok(table::status_table(&rows, wide == Some(Output::Wide), Timestamp::now())),
    }
}

/// Municipalities as a watch tells them, complete once its first list is.
#[derive(Default)]
pub struct Tenants {
    pub objects: BTreeMap<String, Municipality>,
    listing: Option<BTreeMap<String, Municipality>>,
    pub synced: bool,
}

impl Tenants {
    pub fn apply(&mut self, event: watcher::Event<Municipality>) {
        match event {
            watcher::Event::Init => self.listing = Some(BTreeMap::new()),
            watcher::Event::InitApply(m) => {
                self.listing.get_or_insert_default().insert(m.name_any(), m);
            }
            watcher::Event::InitDone => {
                self.objects = self.listing.take().unwrap_or_default();
                self.synced = true;
            }
            watcher::Event::Apply(m) => {
                self.objects.insert(m.name_any(), m);
            }
            watcher::Event::Delete(m) => {
                self.objects.remove(&m.name_any());
            }
        }
    }
}

/// A watch of every Municipality (a list first, then changes), retried with backoff.
pub fn watch_all(
    api: Api<Municipality>,
) -> impl futures::Stream<Item = Result<watcher::Event<Municipality>, watcher::Error>> + Send {
    watcher(api, watcher::Config::default()).default_backoff()
}

/// Applies the next event and those that follow it within `settle`; false when the watch ended.
pub async fn next_changes<S>(stream: &mut S, tenants: &mut Tenants, settle: Duration) -> anyhow::Result<bool>
where
    S: futures::Stream<Item = Result<watcher::Event<Municipality>, watcher::Error>> + Unpin,
{
    let Some(event) = stream.next().await else { return Ok(false) };
    tenants.apply(event.map_err(|e| anyhow::anyhow!("watching Municipalities: {e}"))?);
    while let Ok(next) = tokio::time::timeout(settle, stream.next()).await {
        let Some(event) = next else { return Ok(false) };
        tenants.apply(event.map_err(|e| anyhow::anyhow!("watching Municipalities: {e}"))?);
    }
    Ok(true)
}

/// Redraws on every change (a burst of changes once): the screen on a terminal, a new table
/// after a time line otherwise.
async fn watch(api: Api<Municipality>, province: Option<&str>, format: Option<Output>) -> anyhow::Result<ExitCode> {
    let mut stream = std::pin::pin!(watch_all(api));
    let terminal = std::io::stdout().is_terminal();
    let mut tenants = Tenants::default();
    let mut last = String::new();
    while next_changes(&mut stream, &mut tenants, Duration::from_millis(300)).await? {
        if !tenants.synced {
            continue;
        }
        let text = render(tenants.objects.values(), province, format)?;
        if text != last {
            if terminal {
                print!("\x1b[H\x1b[2J{text}");
            } else {
                let now = Timestamp::now();
                println!("--- {}", Timestamp::from_second(now.as_second()).unwrap_or(now));
                print!("{text}");
            }
            last = text;
        }
    }
    Ok(ExitCode::SUCCESS)
}
