//! `tote-central --config configs/central.toml`

use clap::Parser;
use std::path::PathBuf;
use tote_central::config::Settings;
use tote_central::startup::App;

#[derive(Parser)]
#[command(name = "tote-central", about = "Tote HQ daemon", version)]
struct Args {
    /// Settings file (TOML); TOTE_CENTRAL__SECTION__KEY variables override it.
    #[arg(long, default_value = "configs/central.toml")]
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
