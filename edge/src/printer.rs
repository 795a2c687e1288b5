//! Sends queued labels to the packing station's printer over raw TCP (port 9100 style). A
//! printer that is off or refuses connections leaves the jobs queued with the error, retried
//! with backoff; a job is marked printed only after the printer accepted all of it.

use crate::store::EdgeStore;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tote_shared::runtime::supervise::Stop;

/// Prints queued labels on `printer` until `stop`. Stops between jobs, never between sending a
/// label and recording that it printed: a label cut off there would print twice.
pub async fn run(store: EdgeStore, printer: String, stop: Stop) {
    let signal = store.label_signal();
    let mut delay = Duration::from_millis(200);
    while !stop.is_stopped() {
        let jobs = match store.queued_labels(20).await {
            Ok(jobs) => jobs,
            Err(error) => {
                tracing::error!(%error, "cannot read the print queue");
                Vec::new()
            }
        };
        let mut failed = false;
        for job in &jobs {
            if stop.is_stopped() {
                return;
            }
            let outcome = send(&printer, &job.zpl).await;
            failed |= outcome.is_err();
            if let Err(error) = &outcome {
                tracing::warn!(job = job.id, %error, "label not printed; will retry");
            }
            if let Err(error) = store.print_attempt(job.id, outcome).await {
                tracing::error!(%error, "cannot record a print attempt");
            }
            if failed {
                break; // the printer is away: do not hammer it with the rest
            }
        }
        if failed {
            let _ = stop.run_until_stopped(tokio::time::sleep(delay)).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        } else {
            delay = Duration::from_millis(200);
            if jobs.is_empty() {
                let _ = stop.run_until_stopped(tokio::time::timeout(Duration::from_secs(5), signal.notified())).await;
            }
        }
    }
}

async fn send(address: &str, zpl: &str) -> Result<(), String> {
    let connect = tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(address));
    let mut stream = connect.await.map_err(|_| "printer did not answer".to_owned())?.map_err(|e| e.to_string())?;
    stream.write_all(zpl.as_bytes()).await.map_err(|e| e.to_string())?;
    stream.shutdown().await.map_err(|e| e.to_string())?;
    Ok(())
}
