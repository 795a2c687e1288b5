//! Both daemons answer as their OpenAPI documents say (issue 11, finding 9: the document was
//! looser than the server and the edge had none). Each document must be valid OpenAPI
//! (openapi-spec-validator), and schemathesis — every check, positive and negative cases, its
//! examples, coverage, fuzzing and stateful phases — must find no request that a real central
//! or a real edge answers otherwise: no 5xx, no undocumented status or content type, no body
//! off its schema, nothing the schema forbids accepted, nothing it allows refused (the few
//! operations whose refusals the schema cannot express are named, with why, in
//! `tests/schemathesis/*.toml`).
//!
//! `tests/run.sh` installs schemathesis; without it this test fails and says so. The number of
//! examples per operation and the seed come from TOTE_SCHEMATHESIS_EXAMPLES (default 20) and
//! TOTE_SCHEMATHESIS_SEED (default 1: CI runs the same cases each time); the soak with 300 per
//! operation and a fresh seed is in BENCHMARKS.md.

use crate::helpers::{edge_token, World, ADMIN, EDGE_API};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The version tests/run.sh installs.
const SCHEMATHESIS: &str = "4.32.5";

fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemathesis")
}

fn python(args: &[&str], env: &[(&str, &str)]) -> Result<Output> {
    let mut command = Command::new("python3");
    command.args(args).current_dir(peer_dir());
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().context("python3 is missing: run `bash tests/run.sh`, which installs schemathesis")
}

/// Fails (never skips) when the peer is missing or another version.
fn require_schemathesis() -> Result<()> {
    let out = python(&["-m", "schemathesis.cli", "--version"], &[])?;
    let version = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !version.contains(SCHEMATHESIS) {
        bail!("schemathesis {SCHEMATHESIS} is missing (found: {:?}): run `bash tests/run.sh`, which installs it", version.trim());
    }
    Ok(())
}

async fn fetch_document(base: &str, dir: &Path, name: &str) -> Result<PathBuf> {
    let body = reqwest::get(format!("{base}/api/v1/openapi.json")).await?.error_for_status()?.text().await?;
    let path = dir.join(name);
    std::fs::write(&path, body)?;
    Ok(path)
}

/// openapi-spec-validator (a schemathesis dependency) on the served document.
fn validate(document: &Path) -> Result<()> {
    let path = document.to_str().context("utf-8 path")?;
    let out = python(&["-m", "openapi_spec_validator", path], &[])?;
    if !out.status.success() {
        bail!("{path} is not valid OpenAPI:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// `schemathesis run` with every check; the output is printed, and is the error on a failure.
async fn schemathesis(daemon: &str, base: &str, env: Vec<(&'static str, String)>) -> Result<()> {
    let examples = std::env::var("TOTE_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "20".into());
    let seed = std::env::var("TOTE_SCHEMATHESIS_SEED").unwrap_or_else(|_| "1".into());
    let config = format!("{daemon}.toml");
    let url = format!("{base}/api/v1/openapi.json");
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        python(
            &["-m", "schemathesis.cli", "--no-color", "--config-file", &config, "run", &url, "--checks", "all", "--max-examples", &examples, "--seed", &seed, "--request-timeout", "30"],
            &env,
        )
    })
    .await??;
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("schemathesis against tote-{daemon} ({:.0?}):\n{report}", started.elapsed());
    if !out.status.success() {
        bail!("schemathesis found tote-{daemon} answering other than its OpenAPI document says ({}):\n{report}", out.status);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_daemons_answer_exactly_as_their_openapi_documents_say() -> Result<()> {
    require_schemathesis()?;
    let world = World::start(&[("SH-01", "Shanghai")]).await?;
    let (central, edge) = (&world.central, world.edge("SH-01"));
    // Something real to find: stock on the edge's shelf (SKU master data came from central).
    edge.receive("A-01-01", crate::helpers::PEGASUS_GTIN, 5).await?;
    // A supplier whose credential the supplier API's operations run with.
    let supplier = crate::procurement::onboard(central, "NIKE-CN", crate::procurement::NIKE).await;
    supplier.context("an approved supplier")?;

    let central_doc = fetch_document(central.base_url(), world.dir.path(), "central.json").await?;
    let edge_doc = fetch_document(&edge.url(""), world.dir.path(), "edge.json").await?;
    validate(&central_doc)?;
    validate(&edge_doc)?;

    schemathesis(
        "central",
        central.base_url(),
        vec![("TOTE_ADMIN_TOKEN", ADMIN.to_owned()), ("TOTE_EDGE_TOKEN", edge_token("SH-01")), ("TOTE_SUPPLIER_TOKEN", crate::procurement::NIKE.to_owned())],
    )
    .await?;
    schemathesis("edge", &edge.url(""), vec![("TOTE_EDGE_API_TOKEN", EDGE_API.to_owned())]).await?;
    Ok(())
}
