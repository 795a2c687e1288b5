//! HTTP requests to both daemons, as their routers take them after the listener: any method,
//! path, query string and body, with a valid credential so the fuzzer reaches the handlers and
//! not just the sign-in check. The answer is never a 500: bad input is the caller's error,
//! named as a 4xx, never the server's. Both daemons run on the repository's example configs
//! (`configs/`), with their SQLite files in a temporary directory.
//!
//! Input: one byte choosing the daemon (even: the edge, odd: central), then
//! `METHOD /path?query`, a newline, and the body (sent as JSON).
#![no_main]

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tower::ServiceExt;

/// The edge's station-software token (every role), given here; central's admin token from its
/// example config.
const EDGE_TOKEN: &str = "fuzz-edge-api-token-not-a-secret";
const CENTRAL_TOKEN: &str = "dev-admin-token-change-me";

struct Daemons {
    runtime: tokio::runtime::Runtime,
    edge: axum::Router,
    central: axum::Router,
    _dir: PathBuf,
}

fn daemons() -> &'static Daemons {
    static DAEMONS: OnceLock<Daemons> = OnceLock::new();
    DAEMONS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        // In memory where there is a tmpfs: every write the daemons make is durable, and a
        // disk's flush per request would be most of each execution.
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        let dir = base.join(format!("tote-fuzz-http-{}", std::process::id()));
        remove_dead_runs(&base);
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let (edge, central) = runtime.block_on(async {
            let central = tote_central::startup::App::build(central_settings(&repo, &dir)).await.expect("central starts");
            let edge = tote_edge::startup::App::build(edge_settings(&repo, &dir)).await.expect("the edge starts");
            (edge.router(), central.router())
        });
        Daemons { runtime, edge, central, _dir: dir }
    })
}

/// Nothing deletes a run's directory when libFuzzer exits: the next run removes those whose
/// process is gone.
fn remove_dead_runs(base: &Path) {
    for entry in std::fs::read_dir(base).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("tote-fuzz-http-") else { continue };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The example config with its ports on 0 and its files in `dir`.
fn config(repo: &Path, dir: &Path, name: &str, swaps: &[(&str, String)]) -> PathBuf {
    let mut text = std::fs::read_to_string(repo.join("configs").join(name)).expect("configs/ beside fuzz/");
    for (from, to) in swaps {
        assert!(text.contains(from), "configs/{name} no longer has {from}");
        text = text.replace(from, to);
    }
    let path = dir.join(name);
    std::fs::write(&path, text).expect("config written");
    path
}

fn central_settings(repo: &Path, dir: &Path) -> tote_central::config::Settings {
    let swaps = [
        ("\"127.0.0.1:8080\"", "\"127.0.0.1:0\"".to_owned()),
        ("\"var/central.sqlite\"", format!("\"{}\"", dir.join("central.sqlite").display())),
        ("log = \"info,tote_central=info\"", "log = \"off\"".to_owned()),
    ];
    tote_central::config::Settings::load(&config(repo, dir, "central.toml", &swaps)).expect("central's example config")
}

fn edge_settings(repo: &Path, dir: &Path) -> tote_edge::config::Settings {
    let swaps = [
        ("\"127.0.0.1:8081\"", "\"127.0.0.1:0\"".to_owned()),
        ("\"127.0.0.1:1884\"", "\"127.0.0.1:0\"".to_owned()),
        ("\"var/edge-SH-01.sqlite\"", format!("\"{}\"", dir.join("edge.sqlite").display())),
        ("\"configs/floor.toml\"", format!("\"{}\"", repo.join("configs/floor.toml").display())),
        ("log = \"info,tote_edge=info\"", "log = \"off\"".to_owned()),
        ("session_minutes = 600", format!("session_minutes = 600\napi_token = \"{EDGE_TOKEN}\"")),
    ];
    tote_edge::config::Settings::load(&config(repo, dir, "edge.toml", &swaps)).expect("the edge's example config")
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let (head, body) = match rest.iter().position(|b| *b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(head) = std::str::from_utf8(head) else { return };
    let Some((method, target)) = head.split_once(' ') else { return };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else { return };
    let daemons = daemons();
    let (router, token) = if which % 2 == 0 { (&daemons.edge, EDGE_TOKEN) } else { (&daemons.central, CENTRAL_TOKEN) };
    let Ok(mut request) = Request::builder()
        .method(method.clone())
        .uri(target)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_vec()))
    else {
        return;
    };
    request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
    let response = daemons.runtime.block_on(router.clone().oneshot(request)).expect("routers are infallible");
    let status = response.status();
    if status.as_u16() == 500 {
        let body = daemons.runtime.block_on(axum::body::to_bytes(response.into_body(), 65_536)).unwrap_or_default();
        panic!("{method} {target} answered 500: {}", String::from_utf8_lossy(&body));
    }
});
