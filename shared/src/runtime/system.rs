//! Process-level concerns: logging, clocks, shutdown signals and systemd notification.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Logs to stderr; `RUST_LOG` overrides `default_filter`. Safe to call more than once (the
/// simulator runs both daemons in one process).
pub fn init_telemetry(default_filter: &str) {
    // rumqttd logs every client that drops its connection (robots do, routinely) as an ERROR;
    // the edge counts robot connection trouble itself, so those lines are only noise.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{default_filter},rumqttd::server::broker=off")));
    // A log that cannot be written (its disk full, its pipe gone) is dropped: reporting that
    // on stderr too would panic the thread that logged, and take a request down with it.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).log_internal_errors(false).try_init();
}

/// Makes the allocator give buffers of 128 KiB and more back to the system when they are freed.
/// glibc's default raises its mmap threshold each time such a buffer is freed, after which
/// large buffers (a robot's 256 KiB message, a big HTTP body) come from the heap arenas and
/// fragment them: a 300 MB flood of large MQTT messages then grew the edge by 20 to 100 MB
/// depending on thread timing; with the fixed threshold by under 20 MB, every run. Call once,
/// first thing in `main`, before any thread starts.
pub fn return_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: mallopt only sets an allocator parameter; it takes and returns plain integers and
    // is called before the process starts other threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received, stopping"),
        _ = term => tracing::info!("SIGTERM received, stopping"),
    }
}

/// Tells systemd we are ready and, when it asked for a watchdog, keeps petting it.
/// Outside systemd (no NOTIFY_SOCKET) this does nothing.
pub fn notify_ready() {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    let mut usec = 0u64;
    if sd_notify::watchdog_enabled(false, &mut usec) && usec > 0 {
        let period = Duration::from_micros(usec / 2);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
            }
        });
    }
}

/// Writes the bound address to `path` atomically (temp file + rename), so a supervisor or a
/// test that started us on port 0 can find us and never reads half a file.
pub fn write_ready_file(path: &std::path::Path, addr: std::net::SocketAddr) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, addr.to_string())?;
    std::fs::rename(&tmp, path)
}
