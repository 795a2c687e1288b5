//! Central's database layer: one small executor over SQLite (rusqlite) and PostgreSQL
//! (the sync `postgres` crate on blocking threads), so every system's SQL is written once.
//!
//! Store code takes `&mut dyn Tx` and writes portable SQL: `?N` placeholders (rewritten to
//! `$N` for PostgreSQL), `INSERT … ON CONFLICT`, `RETURNING`, and `FOR UPDATE` on the reads
//! that must lock rows on PostgreSQL (dropped for SQLite, whose single writer already
//! serialises every write). Values cross as `Value` (64-bit integers, doubles, text, null):
//! the schema uses only those types on both backends.
//!
//! What it is not: an ORM or a query builder. No business rule lives here.

pub mod doc;
mod migrate;
pub mod postgres;
pub mod sqlite;
#[doc(hidden)]
pub mod testing;

pub use migrate::{render, Dialect, MIGRATIONS};

use std::borrow::Cow;
use std::sync::Arc;

/// A parameter or a column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<u64> for Value {
    /// Ids and sequence numbers are u64 in the API and BIGINT in the database; ours never
    /// reach 2^63.
    fn from(v: u64) -> Self {
        Value::Int(v as i64)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(v.into())
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::Int(v as i64)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// `params![a, b, c]` → `[Value; 3]`.
#[macro_export]
macro_rules! params {
    ($($v:expr),* $(,)?) => { [$($crate::db::Value::from($v)),*] };
}

/// What went wrong in the database. `kind` says what callers may act on.
#[derive(Debug, Clone, thiserror::Error)]
#[error("database error: {message}")]
pub struct DbError {
    pub kind: DbErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbErrorKind {
    /// A unique or primary key constraint refused the write.
    Unique,
    /// PostgreSQL gave up on the transaction (serialization failure or deadlock): retry it.
    Retry,
    /// The stored data does not have the shape the code expects.
    Corrupt,
    /// The database is shutting down or unreachable.
    Unavailable,
    /// The disk under the database is full: nothing was written.
    Full,
    Other,
}

impl DbError {
    pub fn corrupt(message: impl Into<String>) -> DbError {
        DbError {
            kind: DbErrorKind::Corrupt,
            message: message.into(),
        }
    }

    pub fn is_unique_violation(&self) -> bool {
        self.kind == DbErrorKind::Unique
    }
}

impl From<tote_shared::runtime::sqlite::WriterClosed> for DbError {
    fn from(e: tote_shared::runtime::sqlite::WriterClosed) -> Self {
        DbError {
            kind: DbErrorKind::Unavailable,
            message: e.to_string(),
        }
    }
}

pub type DbResult<T> = Result<T, DbError>;

/// One result row.
#[derive(Debug, Clone)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> DbResult<&Value> {
        self.0
            .get(i)
            .ok_or_else(|| DbError::corrupt(format!("no column {i}")))
    }

    pub fn int(&self, i: usize) -> DbResult<i64> {
        match self.at(i)? {
            Value::Int(v) => Ok(*v),
            other => Err(DbError::corrupt(format!(
                "column {i}: expected an integer, found {other:?}"
            ))),
        }
    }

    pub fn opt_int(&self, i: usize) -> DbResult<Option<i64>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    pub fn uint(&self, i: usize) -> DbResult<u64> {
        let v = self.int(i)?;
        u64::try_from(v).map_err(|_| DbError::corrupt(format!("column {i}: negative id {v}")))
    }

    pub fn real(&self, i: usize) -> DbResult<f64> {
        match self.at(i)? {
            Value::Real(v) => Ok(*v),
            Value::Int(v) => Ok(*v as f64),
            other => Err(DbError::corrupt(format!(
                "column {i}: expected a number, found {other:?}"
            ))),
        }
    }

    pub fn text(&self, i: usize) -> DbResult<String> {
        match self.at(i)? {
            Value::Text(v) => Ok(v.clone()),
            other => Err(DbError::corrupt(format!(
                "column {i}: expected text, found {other:?}"
            ))),
        }
    }

    pub fn opt_text(&self, i: usize) -> DbResult<Option<String>> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }
}

/// An open transaction on either backend. Every write of one request runs in one `Tx`.
pub trait Tx {
    fn dialect(&self) -> Dialect;
    /// Runs a statement; returns the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<u64>;
    fn query(&mut self, sql: &str, params: &[Value]) -> DbResult<Vec<Row>>;

    fn query_opt(&mut self, sql: &str, params: &[Value]) -> DbResult<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    fn query_one(&mut self, sql: &str, params: &[Value]) -> DbResult<Row> {
        self.query_opt(sql, params)?
            .ok_or_else(|| DbError::corrupt(format!("no row from: {}", first_line(sql))))
    }
}

fn first_line(sql: &str) -> &str {
    sql.trim().lines().next().unwrap_or("")
}

/// Portable SQL → the dialect's SQL. `?N` becomes `$N` for PostgreSQL (SQLite reads `$1` as a
/// *named* parameter, so `?N` is the portable spelling); a trailing `FOR UPDATE` or `FOR NO KEY
/// UPDATE` is dropped for SQLite, where the single writer already holds the whole database.
pub fn rewrite(sql: &str, dialect: Dialect) -> Cow<'_, str> {
    match dialect {
        Dialect::Sqlite => {
            let trimmed = sql.trim_end();
            match trimmed
                .strip_suffix("FOR NO KEY UPDATE")
                .or_else(|| trimmed.strip_suffix("FOR UPDATE"))
            {
                Some(rest) => Cow::Owned(rest.trim_end().to_owned()),
                None => Cow::Borrowed(sql),
            }
        }
        Dialect::Postgres => {
            if !sql.contains('?') {
                return Cow::Borrowed(sql);
            }
            let mut out = String::with_capacity(sql.len() + 8);
            let mut in_string = false;
            let mut chars = sql.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '\'' {
                    in_string = !in_string;
                }
                if c == '?' && !in_string && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                    out.push('$');
                } else {
                    out.push(c);
                }
            }
            Cow::Owned(out)
        }
    }
}

/// `?first, ?first+1, …` (`n` of them), for `IN (…)`.
pub fn placeholders(n: usize, first: usize) -> String {
    (first..first + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `(?1, ?2), (?3, ?4)` for a multi-row `VALUES` of `rows` rows of `columns` values each,
/// numbered from `?first`.
pub fn values_clause(rows: usize, columns: usize, first: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 5);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..columns {
            if c > 0 {
                out.push_str(", ");
            }
            out.push('?');
            out.push_str(&(first + r * columns + c).to_string());
        }
        out.push(')');
    }
    out
}

/// What a request adds to every write transaction it makes (`in_scope`): the audit log's
/// entry for an HQ caller's change, written in the transaction of the change itself, so there
/// is no change without its entry and no entry for a change that rolled back. Set by the HTTP
/// layer; `db` knows nothing of what the entry says.
pub trait RequestScope: Send + Sync {
    /// Who is acting, as `acting()` tells store code inside the transaction.
    fn actor(&self) -> &str;
    /// Runs after the request's work succeeded, in its transaction.
    fn after(&self, tx: &mut dyn Tx) -> DbResult<()>;
}

tokio::task_local! {
    static SCOPE: Arc<dyn RequestScope>;
}

std::thread_local! {
    static ACTOR: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

std::thread_local! {
    static UNAUDITED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Called inside a write's work: this transaction makes no change the caller asked for (an
/// idempotent replay, a sign-in attempt counted before its comparison), so the request's
/// scope does not write its entry with it.
pub fn unaudited() {
    UNAUDITED.with(|u| u.set(true));
}

/// Runs `future` (a request's handling) with `scope` around every write it makes.
pub async fn in_scope<F: std::future::Future>(
    scope: Arc<dyn RequestScope>,
    future: F,
) -> F::Output {
    SCOPE.scope(scope, future).await
}

/// Who is acting in the write transaction running on this thread (None outside a request's
/// scope: background tasks, edges, suppliers).
pub fn acting() -> Option<String> {
    ACTOR.with(|a| a.borrow().clone())
}

/// Clears `ACTOR` however the work ends (a panic included).
struct ActingGuard;

impl Drop for ActingGuard {
    fn drop(&mut self) {
        ACTOR.with(|a| a.borrow_mut().take());
    }
}

fn scoped<T, E, F>(
    scope: Option<Arc<dyn RequestScope>>,
    mut work: F,
) -> impl FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static
where
    F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    E: From<DbError>,
{
    move |tx| match &scope {
        None => work(tx),
        Some(scope) => {
            ACTOR.with(|a| *a.borrow_mut() = Some(scope.actor().to_owned()));
            let _clear = ActingGuard;
            UNAUDITED.with(|u| u.set(false));
            let out = work(tx)?;
            if !UNAUDITED.with(|u| u.replace(false)) {
                scope.after(tx)?;
            }
            Ok(out)
        }
    }
}

/// The database central runs on: SQLite (one writer with group commit, a few readers) or
/// PostgreSQL (a pool of connections, concurrent transactions, retried on serialization
/// failures and deadlocks).
#[derive(Clone)]
pub enum Database {
    Sqlite(sqlite::SqliteDb),
    Postgres(postgres::PgDb),
}

impl Database {
    /// Opens (and migrates) the database `settings` name. Blocking work runs off the async
    /// threads.
    pub async fn open(settings: &crate::config::DatabaseSettings) -> DbResult<Database> {
        use crate::config::Backend;
        let settings = settings.clone();
        let opened = tokio::task::spawn_blocking(move || match settings.backend {
            Backend::Sqlite => Ok(Database::Sqlite(sqlite::SqliteDb::open(&settings)?)),
            Backend::Postgres => Ok(Database::Postgres(postgres::PgDb::open(&settings)?)),
        })
        .await;
        opened.map_err(|e| DbError {
            kind: DbErrorKind::Unavailable,
            message: e.to_string(),
        })?
    }

    /// Runs `work` in one write transaction and answers once it is durable. On PostgreSQL
    /// `work` may run more than once (a serialization failure or deadlock retries the whole
    /// transaction), so it must not have effects outside the transaction.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let work = scoped(SCOPE.try_with(Arc::clone).ok(), work);
        match self {
            Database::Sqlite(db) => db.write(work).await,
            Database::Postgres(db) => db.run(work, false).await,
        }
    }

    /// Runs `work` in a read-only transaction.
    pub async fn read<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        match self {
            Database::Sqlite(db) => db.read(work).await,
            Database::Postgres(db) => db.run(work, true).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollar_numbers_for_postgres_only() {
        let sql = "SELECT a FROM t WHERE b = ?1 AND c = ?12";
        assert_eq!(
            rewrite(sql, Dialect::Postgres),
            "SELECT a FROM t WHERE b = $1 AND c = $12"
        );
        assert_eq!(rewrite(sql, Dialect::Sqlite), sql);
    }

    #[test]
    fn a_question_mark_inside_a_string_literal_is_left_alone() {
        let sql = "SELECT '?1' || ?1";
        assert_eq!(rewrite(sql, Dialect::Postgres), "SELECT '?1' || $1");
    }

    #[test]
    fn for_update_is_dropped_for_sqlite_and_kept_for_postgres() {
        let sql = "SELECT x FROM t WHERE k = ?1 FOR UPDATE";
        assert_eq!(
            rewrite(sql, Dialect::Sqlite),
            "SELECT x FROM t WHERE k = ?1"
        );
        assert_eq!(
            rewrite(sql, Dialect::Postgres),
            "SELECT x FROM t WHERE k = $1 FOR UPDATE"
        );
        let shared_keys = "SELECT x FROM t WHERE k = ?1 FOR NO KEY UPDATE";
        assert_eq!(
            rewrite(shared_keys, Dialect::Sqlite),
            "SELECT x FROM t WHERE k = ?1"
        );
    }

    #[test]
    fn a_values_clause_numbers_every_placeholder_once() {
        assert_eq!(values_clause(2, 3, 1), "(?1, ?2, ?3), (?4, ?5, ?6)");
        assert_eq!(values_clause(1, 2, 5), "(?5, ?6)");
    }

    #[test]
    fn rows_refuse_values_of_the_wrong_type() {
        let row = Row(vec![Value::Int(3), Value::Null, Value::Text("x".into())]);
        assert_eq!(row.int(0).ok(), Some(3));
        assert_eq!(row.opt_int(1).ok(), Some(None));
        assert!(row.int(2).is_err());
        assert!(row.text(5).is_err());
    }
}
