//! A network label printer (raw TCP, ZPL): accepts connections, reads each job to the end and
//! keeps it as a file (and the last `KEPT_JOBS` in memory), the way a Zebra on port 9100 would
//! print it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// Largest job accepted (a label is a few KB).
const MAX_JOB_BYTES: usize = 1 << 20;
/// Jobs kept in memory for `jobs()`: the files are the record, and an hour's soak prints ~60,000.
const KEPT_JOBS: usize = 1_000;

#[derive(Default)]
struct Jobs {
    printed: usize,
    last: std::collections::VecDeque<String>,
}

pub struct Printer {
    pub addr: SocketAddr,
    jobs: Arc<Mutex<Jobs>>,
    task: tokio::task::JoinHandle<()>,
}

impl Printer {
    /// Starts printing on `addr` (port 0 picks one); jobs also land in `dir` as job-N.zpl.
    pub async fn start(addr: SocketAddr, dir: PathBuf) -> std::io::Result<Printer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let jobs: Arc<Mutex<Jobs>> = Arc::default();
        let store = jobs.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (store, dir) = (store.clone(), dir.clone());
                tokio::spawn(async move {
                    let mut data = Vec::new();
                    let mut limited = (&mut socket).take(MAX_JOB_BYTES as u64);
                    if limited.read_to_end(&mut data).await.is_ok() && !data.is_empty() {
                        let text = String::from_utf8_lossy(&data).into_owned();
                        let mut jobs = store.lock().unwrap_or_else(|p| p.into_inner());
                        jobs.printed += 1;
                        let _ = std::fs::write(dir.join(format!("job-{}.zpl", jobs.printed)), &text);
                        if jobs.last.len() == KEPT_JOBS {
                            jobs.last.pop_front();
                        }
                        jobs.last.push_back(text);
                    }
                });
            }
        });
        Ok(Printer { addr, jobs, task })
    }

    /// The last `KEPT_JOBS` jobs, oldest first.
    pub fn jobs(&self) -> Vec<String> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).last.iter().cloned().collect()
    }
}

impl Drop for Printer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
