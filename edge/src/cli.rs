//! The command line: parse args, load settings, init telemetry, build, run.
//! A library function so test harnesses can ship the very same entry point.

use crate::config::Settings;
use crate::startup::App;
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "tote-edge", about = "Tote per-warehouse daemon", version)]
struct Args {
    /// Settings file (TOML); TOTE_EDGE__SECTION__KEY variables override it.
    #[arg(long, default_value = "configs/edge.toml")]
    config: PathBuf,
    /// Once listening, write the bound address here (for supervisors and tests using port 0).
    #[arg(long)]
    ready_file: Option<PathBuf>,
}

pub fn main() -> anyhow::Result<()> {
    tote_shared::runtime::system::return_large_buffers();
    let args = Args::parse();
    let settings = Settings::load(&args.config)?;
    tote_shared::runtime::system::init_telemetry(&settings.log);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let app = App::build(settings).await?;
        if let Some(path) = &args.ready_file {
            tote_shared::runtime::system::write_ready_file(path, app.local_addr()?)?;
        }
        app.run_until_stopped(std::future::pending()).await
    })
}
