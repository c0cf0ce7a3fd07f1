//! The `kubectl-concejo` binary, run by kubectl as `kubectl concejo`: see [`concejo::plugin`].

#[tokio::main]
async fn main() -> std::process::ExitCode {
    concejo::plugin::main().await
}
