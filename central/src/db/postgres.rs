//! The PostgreSQL backend: a bounded pool of connections (the sync `postgres` crate, used on
//! tokio's blocking threads), each request in its own READ COMMITTED transaction. Rows that
//! a rule reads before it writes them are locked with `SELECT … FOR UPDATE` by the store
//! code; a transaction PostgreSQL aborts as a serialization failure (40001) or deadlock
//! (40P01) is rolled back and run again, a few times, with a short jittered pause.
//!
//! No SAVEPOINTs: PostgreSQL subtransactions slow down sharply past 64 per transaction, so
//! rules decide before they write instead of writing and rolling back.

use super::{rewrite, DbError, DbErrorKind, DbResult, Dialect, Row, Tx, Value};
use crate::config::DatabaseSettings;
use postgres::error::SqlState;
use postgres::types::private::BytesMut;
use postgres::types::{IsNull, ToSql, Type};
use postgres::{Client, NoTls, Statement, Transaction};
use secrecy::ExposeSecret;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tote_shared::runtime::backoff::Backoff;

/// How often one request's transaction is retried after a serialization failure/deadlock.
const MAX_ATTEMPTS: u32 = 12;

#[derive(Clone)]
pub struct PgDb {
    pool: Arc<Pool>,
}

struct Pool {
    url: String,
    idle: Mutex<Vec<PgConn>>,
    slots: Arc<Semaphore>,
}

/// A connection with its prepared statements (keyed by the portable SQL text).
struct PgConn {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl PgDb {
    pub fn open(settings: &DatabaseSettings) -> DbResult<PgDb> {
        let url = settings.url.as_ref().map(|u| u.expose_secret().to_owned()).unwrap_or_default();
        let pool = Pool { url, idle: Mutex::new(Vec::new()), slots: Arc::new(Semaphore::new(settings.pool_size.max(1))) };
        let mut first = pool.connect()?;
        migrate(&mut first.client)?;
        pool.give_back(first);
        Ok(PgDb { pool: Arc::new(pool) })
    }

    /// Runs `work` in a transaction on a pooled connection, retrying it on 40001/40P01.
    pub async fn run<T, E, F>(&self, mut work: F, read_only: bool) -> Result<T, E>
    where
        F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let unavailable = || E::from(DbError { kind: DbErrorKind::Unavailable, message: "database pool closed".into() });
        let permit = self.pool.slots.clone().acquire_owned().await.map_err(|_| unavailable())?;
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut conn = pool.take().map_err(E::from)?;
            let outcome = run_with_retry(&mut conn, &pool.url, &mut work, read_only);
            pool.give_back(conn);
            outcome
        })
        .await
        .map_err(|_| unavailable())?
    }
}

impl Drop for Pool {
    /// A sync `postgres::Client` closes by blocking on its own runtime, which must not happen
    /// on an async worker thread: idle connections are closed on a thread of their own.
    fn drop(&mut self) {
        let idle = self.idle.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default();
        if !idle.is_empty() {
            let _ = std::thread::Builder::new().name("pg-close".into()).spawn(move || drop(idle));
        }
    }
}

impl Pool {
    fn connect(&self) -> DbResult<PgConn> {
        fresh(&self.url)
    }

    fn take(&self) -> DbResult<PgConn> {
        let idle = self.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
        match idle {
            Some(conn) if !conn.client.is_closed() => Ok(conn),
            _ => self.connect(),
        }
    }

    fn give_back(&self, conn: PgConn) {
        if conn.client.is_closed() {
            return;
        }
        if let Ok(mut v) = self.idle.lock() {
            v.push(conn);
        }
    }
}

fn fresh(url: &str) -> DbResult<PgConn> {
    // Not reaching the server (down, restarting, refusing connections) is being unavailable,
    // not an internal error.
    let client = Client::connect(url, NoTls).map_err(|e| DbError { kind: DbErrorKind::Unavailable, message: format!("cannot connect to PostgreSQL: {e}") })?;
    Ok(PgConn { client, statements: HashMap::new() })
}

fn run_with_retry<T, E, F>(conn: &mut PgConn, url: &str, work: &mut F, read_only: bool) -> Result<T, E>
where
    F: FnMut(&mut dyn Tx) -> Result<T, E>,
    E: From<DbError>,
{
    let mut attempt = 0;
    let mut pause = Backoff::new(Duration::from_millis(1), Duration::from_millis(32));
    loop {
        attempt += 1;
        // A connection found closed (the server restarted since it was pooled) is replaced.
        // The first request to meet a broken one fails and closes it; the next reconnects.
        if conn.client.is_closed() {
            *conn = fresh(url).map_err(E::from)?;
        }
        let PgConn { client, statements } = conn;
        // READ COMMITTED is what the locking above is written for; say so rather than rely on
        // the server's default.
        let tx = client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::ReadCommitted)
            .read_only(read_only)
            .start()
            .map_err(|e| E::from(e.into()))?;
        let mut pg = PgTx { tx, statements, retry: false, unavailable: false, failed: false };
        let outcome = work(&mut pg);
        // A statement that failed aborted the transaction: PostgreSQL would take COMMIT as
        // ROLLBACK without a word. Work that swallowed the error must not be told it stuck.
        let outcome = match outcome {
            Ok(_) if pg.failed => {
                // Said as what failed: a lost connection is the client's to retry, not a bug.
                let kind = if pg.retry {
                    DbErrorKind::Retry
                } else if pg.unavailable {
                    DbErrorKind::Unavailable
                } else {
                    DbErrorKind::Other
                };
                Err(E::from(DbError { kind, message: "a statement failed inside work that went on".into() }))
            }
            other => other,
        };
        let retry = match outcome {
            Ok(value) => match pg.tx.commit() {
                Ok(()) => return Ok(value),
                Err(e) => {
                    let e = DbError::from(e);
                    if e.kind != DbErrorKind::Retry || attempt >= MAX_ATTEMPTS {
                        return Err(E::from(e));
                    }
                    true
                }
            },
            Err(e) => {
                let retry = pg.retry;
                drop(pg); // rolls back
                if !retry || attempt >= MAX_ATTEMPTS {
                    return Err(e);
                }
                true
            }
        };
        if retry {
            // Jitter keeps the transactions that collided from colliding again in step.
            std::thread::sleep(pause.next_delay());
        }
    }
}

/// Schema migrations, numbered like SQLite's `user_version`, under an advisory lock so two
/// central processes starting together do not race.
fn migrate(client: &mut Client) -> DbResult<()> {
    const LOCK: i64 = 0x746f_7465; // "tote"
    client.execute("SELECT pg_advisory_lock($1)", &[&LOCK])?;
    let outcome = (|| -> DbResult<()> {
        client.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
        let rows = client.query("SELECT version FROM schema_version", &[])?;
        let current: i64 = match rows.first() {
            Some(row) => row.get(0),
            None => {
                client.execute("INSERT INTO schema_version (version) VALUES (0)", &[])?;
                0
            }
        };
        for (index, sql) in super::render(Dialect::Postgres).iter().enumerate().skip(current as usize) {
            let mut tx = client.transaction()?;
            tx.batch_execute(sql)?;
            tx.execute("UPDATE schema_version SET version = $1", &[&(index as i64 + 1)])?;
            tx.commit()?;
            tracing::info!(version = index + 1, "database migrated");
        }
        Ok(())
    })();
    client.execute("SELECT pg_advisory_unlock($1)", &[&LOCK])?;
    outcome
}

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> Self {
        let kind = match e.code() {
            Some(c) if *c == SqlState::UNIQUE_VIOLATION => DbErrorKind::Unique,
            Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED => DbErrorKind::Retry,
            // The server shut the session down (57P01 admin shutdown, a restart, a failover) or
            // the connection broke (class 08): the next request gets a fresh connection.
            Some(c) if c.code().starts_with("57P") || c.code().starts_with("08") => DbErrorKind::Unavailable,
            Some(c) if *c == SqlState::DISK_FULL => DbErrorKind::Full,
            _ if e.is_closed() => DbErrorKind::Unavailable,
            // "error communicating with the server": the socket failed under a statement.
            None if std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()) => DbErrorKind::Unavailable,
            _ => DbErrorKind::Other,
        };
        let message = match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        };
        DbError { kind, message }
    }
}

struct PgTx<'a> {
    tx: Transaction<'a>,
    statements: &'a mut HashMap<String, Statement>,
    /// Set when PostgreSQL aborted this transaction in a way a rerun can fix.
    retry: bool,
    /// Set when a statement failed because the session or its connection went away.
    unavailable: bool,
    /// Set when any statement failed (the transaction is then aborted).
    failed: bool,
}

/// Prepared statements kept per connection; past this the cache starts over (dropping a
/// statement closes it on the server), so batch statements of many sizes cannot pile up.
const MAX_STATEMENTS: usize = 512;

impl PgTx<'_> {
    fn statement(&mut self, sql: &str) -> DbResult<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let prepared = self.tx.prepare(&rewrite(sql, Dialect::Postgres)).map_err(|e| self.note(e))?;
        if self.statements.len() >= MAX_STATEMENTS {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), prepared.clone());
        Ok(prepared)
    }

    fn note(&mut self, e: postgres::Error) -> DbError {
        let e = DbError::from(e);
        self.failed = true;
        match e.kind {
            DbErrorKind::Retry => self.retry = true,
            DbErrorKind::Unavailable => self.unavailable = true,
            _ => {}
        }
        e
    }
}

impl Tx for PgTx<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<u64> {
        let statement = self.statement(sql)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        if statement.columns().is_empty() {
            self.tx.execute(&statement, &refs).map_err(|e| self.note(e))
        } else {
            let rows = self.tx.query(&statement, &refs).map_err(|e| self.note(e))?;
            Ok(rows.len() as u64)
        }
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> DbResult<Vec<Row>> {
        let statement = self.statement(sql)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let rows = self.tx.query(&statement, &refs).map_err(|e| self.note(e))?;
        rows.iter().map(convert_row).collect()
    }
}

fn convert_row(row: &postgres::Row) -> DbResult<Row> {
    let mut cells = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let value = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i)?.map(Value::Int)
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)?.map(|v| Value::Int(v.into()))
        } else if *ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(i)?.map(|v| Value::Int(v.into()))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)?.map(|v| Value::Int(v.into()))
        } else if *ty == Type::FLOAT8 {
            row.try_get::<_, Option<f64>>(i)?.map(Value::Real)
        } else if *ty == Type::FLOAT4 {
            row.try_get::<_, Option<f32>>(i)?.map(|v| Value::Real(v.into()))
        } else if *ty == Type::TEXT || *ty == Type::VARCHAR || *ty == Type::BPCHAR || *ty == Type::NAME {
            row.try_get::<_, Option<String>>(i)?.map(Value::Text)
        } else {
            return Err(DbError::corrupt(format!("column {} has type {ty}, which central does not use", column.name())));
        };
        cells.push(value.unwrap_or(Value::Null));
    }
    Ok(Row(cells))
}

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let text = [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME, Type::UNKNOWN];
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) if *ty == Type::INT8 => v.to_sql(ty, out),
            Value::Int(v) if *ty == Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
            Value::Int(v) if *ty == Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
            Value::Int(v) if *ty == Type::BOOL => (*v != 0).to_sql(ty, out),
            Value::Int(v) if *ty == Type::FLOAT8 => (*v as f64).to_sql(ty, out),
            Value::Real(v) if *ty == Type::FLOAT8 => v.to_sql(ty, out),
            Value::Real(v) if *ty == Type::FLOAT4 => (*v as f32).to_sql(ty, out),
            Value::Text(v) if text.contains(ty) => v.as_str().to_sql(ty, out),
            // Bound to the wrong column type: refuse rather than send bytes the server would
            // read as something else.
            other => Err(format!("cannot bind {other:?} to a {ty} parameter").into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value in `to_sql`, where the type is known.
        true
    }

    postgres::types::to_sql_checked!();
}
