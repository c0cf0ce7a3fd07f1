//! The `concejo` binary: everything is in the library; see [`concejo::cli`].

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    concejo::cli::main().await
}
