//! The `nofx` binary: serve, migrate, users, API keys and demo data.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    nofx::cli::main().await
}
