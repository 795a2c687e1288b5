//! `tote-edge --config configs/edge.toml`

use clap::Parser;
use std::path::PathBuf;
use tote_edge::config::Settings;
use tote_edge::startup::App;

#[derive(Parser)]
#[command(name = "tote-edge", about = "Tote per-warehouse daemon", version)]
struct Args {
    /// Settings file (TOML); TOTE_EDGE__SECTION__KEY variables override it.
    #[arg(long, default_value = "configs/edge.toml")]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let settings = Settings::load(&args.config)?;
    tote_shared::runtime::system::init_telemetry(&settings.log);
    let app = App::build(settings).await?;
    app.run_until_stopped(std::future::pending()).await
}
