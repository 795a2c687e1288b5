//! SQLite the way both daemons use it: WAL, `synchronous=FULL`, foreign keys, busy timeout,
//! embedded versioned migrations, one writer thread that batches commits, a few readers.
//!
//! Group commit: the writer takes every job waiting in its queue (up to `max_batch`), runs
//! each inside its own SAVEPOINT of one `BEGIN IMMEDIATE` transaction, commits once, and only
//! then answers the callers. A job that fails is rolled back to its savepoint alone; a commit
//! that fails fails every job of the batch. So an answer always means "durably on disk".

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// The writer thread has stopped (the daemon is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the database writer has stopped")]
pub struct WriterClosed;

pub fn open(path: &Path, read_only: bool) -> rusqlite::Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // rusqlite keeps 16 prepared statements by default; a daemon's write paths use more, and
    // re-preparing on every request costs more than the statements themselves.
    conn.set_prepared_statement_cache_capacity(256);
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Statement journals and sorts in memory: no temp file opened and closed per statement.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(conn)
}

/// Opens (creating its directory), migrates, and starts the writer and readers that
/// `settings` describe.
pub fn start(settings: &super::settings::DatabaseSettings, migrations: &[&str]) -> rusqlite::Result<(Writer, Readers)> {
    if let Some(dir) = settings.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN), Some(e.to_string())))?;
    }
    let mut conn = open(&settings.path, false)?;
    migrate(&mut conn, migrations)?;
    Ok((Writer::start(conn, settings.write_queue, settings.max_batch), Readers::new(&settings.path, settings.max_readers)))
}

/// Applies every migration above the file's `user_version`, each in its own transaction.
pub fn migrate(conn: &mut Connection, migrations: &[&str]) -> rusqlite::Result<()> {
    let current: usize = conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
    for (index, sql) in migrations.iter().enumerate().skip(current) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = index + 1, "database migrated");
    }
    Ok(())
}

trait Job: Send {
    /// Runs inside the open transaction; returns how to answer once the commit is known.
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn FnOnce(Result<(), rusqlite::Error>) + Send>;
    /// Answers the caller with `error` without running the work.
    fn fail(self: Box<Self>, error: rusqlite::Error);
}

struct ClosureJob<F, T, E> {
    work: F,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Job for ClosureJob<F, T, E>
where
    F: FnOnce(&Connection) -> Result<T, E> + Send,
    T: Send + 'static,
    E: From<rusqlite::Error> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn FnOnce(Result<(), rusqlite::Error>) + Send> {
        let job = *self;
        let outcome = run_in_savepoint(conn, job.work);
        let reply = job.reply;
        Box::new(move |commit| {
            let answer = match (commit, outcome) {
                (Ok(()), outcome) => outcome,
                // The job's own failure says more (a full disk in its statement, a refusal)
                // than the batch's; either way nothing of it was written.
                (Err(_), Err(own)) => Err(own),
                (Err(error), Ok(_)) => Err(E::from(error)),
            };
            let _ = reply.send(answer);
        })
    }

    fn fail(self: Box<Self>, error: rusqlite::Error) {
        let _ = self.reply.send(Err(E::from(error)));
    }
}

fn run_in_savepoint<T, E: From<rusqlite::Error>>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, E>,
) -> Result<T, E> {
    // Prepared once: parsing these two statements for every job costs as much as a small
    // job's own statements.
    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    let outcome = work(conn);
    if conn.is_autocommit() {
        // SQLite rolled the whole transaction back (a full disk, an I/O error): the savepoint
        // is gone with it, and the job's own error is the one that says why.
        return match outcome {
            Ok(_) => Err(E::from(transaction_lost())),
            failed => failed,
        };
    }
    if outcome.is_ok() {
        conn.prepare_cached("RELEASE job")?.execute([])?;
    } else {
        conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
        conn.prepare_cached("RELEASE job")?.execute([])?;
    }
    outcome
}

/// The single owner of the write connection.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread. `queue` bounds waiting jobs; `max_batch` bounds one commit.
    pub fn start(conn: Connection, queue: usize, max_batch: usize) -> Writer {
        let (jobs, rx) = mpsc::channel(queue.max(1));
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, max_batch.max(1)))
            .expect("spawning the writer thread at startup");
        Writer { jobs }
    }

    /// Runs `work` in the next group commit and answers once it is durable (or failed).
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<rusqlite::Error> + From<WriterClosed> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Box::new(ClosureJob { work, reply })).await.map_err(|_| E::from(WriterClosed))?;
        answer.await.map_err(|_| E::from(WriterClosed))?
    }
}

fn writer_loop(conn: Connection, mut rx: mpsc::Receiver<Box<dyn Job>>, max_batch: usize) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(error) = conn.execute_batch("BEGIN IMMEDIATE") {
            // Never run the work outside a transaction: it would commit statement by statement
            // while its caller is told it failed, and a retry would do it twice.
            tracing::error!(%error, "cannot begin a write transaction");
            for job in batch.drain(..) {
                job.fail(clone_error(&error));
            }
            continue;
        }
        let mut replies = Vec::with_capacity(batch.len());
        let mut rolled_back = None;
        for job in batch.drain(..) {
            if let Some(error) = &rolled_back {
                job.fail(clone_error(error));
                continue;
            }
            replies.push(job.run(&conn));
            // On a full disk or an I/O error SQLite may roll the whole transaction back by
            // itself: the jobs after it would then commit one by one outside any transaction
            // while the batch's callers are told it failed. The batch is lost; say so to all.
            if conn.is_autocommit() {
                rolled_back = Some(transaction_lost());
            }
        }
        let commit = match rolled_back {
            Some(error) => Err(error),
            None => conn.execute_batch("COMMIT"),
        };
        if let Err(error) = &commit {
            tracing::error!(%error, "group commit failed; rolling back the batch");
            let _ = conn.execute_batch("ROLLBACK");
        }
        for reply in replies {
            reply(commit.as_ref().map(|_| ()).map_err(clone_error));
        }
    }
}

/// The same error for each job of a batch, keeping SQLite's code (a full disk stays a full
/// disk for the caller to report).
fn clone_error(error: &rusqlite::Error) -> rusqlite::Error {
    match error {
        rusqlite::Error::SqliteFailure(code, message) => rusqlite::Error::SqliteFailure(*code, message.clone()),
        other => rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR), Some(other.to_string())),
    }
}

fn transaction_lost() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
        Some("SQLite rolled the write transaction back (a full disk or an I/O error): nothing of this batch was written".into()),
    )
}

/// Whether `error` is SQLite's "database or disk is full".
pub fn is_disk_full(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::DiskFull)
}

/// Whether `error` is the disk failing under SQLite (full, or an I/O error).
pub fn is_storage_fault(error: &rusqlite::Error) -> bool {
    is_disk_full(error) || matches!(error, rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::SystemIoFailure)
}

/// A few read-only connections, used from the blocking pool.
#[derive(Clone)]
pub struct Readers {
    path: PathBuf,
    idle: Arc<Mutex<Vec<Connection>>>,
    slots: Arc<Semaphore>,
}

impl Readers {
    pub fn new(path: &Path, max_readers: usize) -> Readers {
        Readers {
            path: path.to_owned(),
            idle: Arc::new(Mutex::new(Vec::new())),
            slots: Arc::new(Semaphore::new(max_readers.max(1))),
        }
    }

    pub async fn read<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<rusqlite::Error> + From<WriterClosed> + Send + 'static,
    {
        let _slot = self.slots.acquire().await.map_err(|_| E::from(WriterClosed))?;
        let idle = self.idle.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let taken = idle.lock().map(|mut v| v.pop()).unwrap_or(None);
            let conn = match taken {
                Some(conn) => conn,
                None => open(&path, true)?,
            };
            let outcome = work(&conn);
            if let Ok(mut v) = idle.lock() {
                v.push(conn);
            }
            outcome
        })
        .await
        .map_err(|_| E::from(WriterClosed))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    enum TestError {
        Db,
        Refused,
    }
    impl From<rusqlite::Error> for TestError {
        fn from(_: rusqlite::Error) -> Self {
            TestError::Db
        }
    }
    impl From<WriterClosed> for TestError {
        fn from(_: WriterClosed) -> Self {
            TestError::Db
        }
    }

    #[tokio::test]
    async fn a_failed_job_rolls_back_alone_and_its_batch_mates_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.sqlite");
        let mut conn = open(&path, false).expect("open");
        migrate(&mut conn, &["CREATE TABLE t (v INTEGER NOT NULL)"]).expect("migrate");
        let writer = Writer::start(conn, 64, 64);
        let mut handles = Vec::new();
        for v in 0..20i64 {
            let w = writer.clone();
            handles.push(tokio::spawn(async move {
                w.write(move |c| {
                    c.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
                    if v % 2 == 1 {
                        return Err(TestError::Refused);
                    }
                    Ok(())
                })
                .await
            }));
        }
        let mut refused = 0;
        for h in handles {
            if matches!(h.await.expect("join"), Err(TestError::Refused)) {
                refused += 1;
            }
        }
        assert_eq!(refused, 10);
        let readers = Readers::new(&path, 2);
        let count: i64 = readers
            .read(|c| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).map_err(TestError::from))
            .await
            .expect("read");
        assert_eq!(count, 10);
    }
}
