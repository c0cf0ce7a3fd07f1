//! `-o yaml|json|wide`, as kubectl reads it, and `-o csv` for `report ens`.

use anyhow::Context as _;
use serde::Serialize;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Yaml,
    Json,
    Wide,
    /// The ENS report for the auditors' spreadsheet (`report ens` only).
    Csv,
}

/// An object (or a report) as YAML or JSON text, ending in a newline.
pub fn render<T: Serialize>(value: &T, format: Output) -> anyhow::Result<String> {
    match format {
        Output::Json => {
            let mut text = serde_json::to_string_pretty(value).context("writing JSON")?;
            text.push('\n');
            Ok(text)
        }
        Output::Yaml | Output::Wide => serde_saphyr::to_string(value).context("writing YAML"),
        Output::Csv => anyhow::bail!("-o csv is for `report ens`"),
    }
}

/// Refuses `-o wide` where a command has no table.
pub fn objects_only(format: Option<Output>, command: &str) -> anyhow::Result<Option<Output>> {
    match format {
        Some(Output::Wide | Output::Csv) => {
            anyhow::bail!("`{command}` prints objects: -o yaml or -o json (wide is for `status`, csv for `report ens`)")
        }
        other => Ok(other),
    }
}
