//! The `nofx` binary: serve, migrate, users, API keys and demo data.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    nofx::cli::main().await
}
