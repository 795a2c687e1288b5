//! The SQLite backend: the daemons' shared writer thread with group commit (each request in
//! its own SAVEPOINT of one `BEGIN IMMEDIATE`, one fsync per batch) and a few read-only
//! connections. `FOR UPDATE` is dropped: the single writer already serialises all writes.

use super::{rewrite, DbError, DbErrorKind, DbResult, Dialect, Row, Tx, Value};
use crate::config::DatabaseSettings;
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use tote_shared::runtime::sqlite::{start, Readers, Writer, WriterClosed};

#[derive(Clone)]
pub struct SqliteDb {
    writer: Writer,
    readers: Readers,
}

impl SqliteDb {
    pub fn open(settings: &DatabaseSettings) -> DbResult<SqliteDb> {
        let migrations = super::render(Dialect::Sqlite);
        let refs: Vec<&str> = migrations.iter().map(String::as_str).collect();
        let (writer, readers) = start(&settings.sqlite(), &refs).map_err(DbError::from)?;
        Ok(SqliteDb { writer, readers })
    }

    pub async fn write<T, E, F>(&self, mut work: F) -> Result<T, E>
    where
        F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let outcome = self.writer.write(move |conn| work(&mut SqliteTx { conn }).map_err(Inner::App)).await;
        outcome.map_err(Inner::into_app)
    }

    pub async fn read<T, E, F>(&self, mut work: F) -> Result<T, E>
    where
        F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let outcome = self.readers.read(move |conn| work(&mut SqliteTx { conn }).map_err(Inner::App)).await;
        outcome.map_err(Inner::into_app)
    }
}

/// The writer speaks rusqlite errors; callers speak their own.
enum Inner<E> {
    Db(DbError),
    App(E),
}

impl<E: From<DbError>> Inner<E> {
    fn into_app(self) -> E {
        match self {
            Inner::Db(e) => E::from(e),
            Inner::App(e) => e,
        }
    }
}

impl<E> From<rusqlite::Error> for Inner<E> {
    fn from(e: rusqlite::Error) -> Self {
        Inner::Db(e.into())
    }
}

impl<E> From<WriterClosed> for Inner<E> {
    fn from(e: WriterClosed) -> Self {
        Inner::Db(e.into())
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        let kind = match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
            {
                DbErrorKind::Unique
            }
            e if tote_shared::runtime::sqlite::is_disk_full(e) => DbErrorKind::Full,
            // The disk failed under the write: not confirmed, worth sending again.
            e if tote_shared::runtime::sqlite::is_storage_fault(e) => DbErrorKind::Unavailable,
            _ => DbErrorKind::Other,
        };
        DbError { kind, message: e.to_string() }
    }
}

struct SqliteTx<'a> {
    conn: &'a Connection,
}

/// Bound by reference: no copy of a text parameter.
impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Real(r) => ValueRef::Real(*r),
            Value::Text(t) => ValueRef::Text(t.as_bytes()),
        }))
    }
}

fn from_sqlite(v: ValueRef<'_>) -> DbResult<Value> {
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8(t.to_vec()).map_err(|e| DbError::corrupt(e.to_string()))?),
        ValueRef::Blob(_) => return Err(DbError::corrupt("unexpected blob")),
    })
}

impl Tx for SqliteTx<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<u64> {
        let mut stmt = self.conn.prepare_cached(&rewrite(sql, Dialect::Sqlite))?;
        // A statement with RETURNING yields rows; `execute` would refuse it.
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
        let mut n = 0;
        while rows.next()?.is_some() {
            n += 1;
        }
        Ok(if n > 0 { n } else { self.conn.changes() })
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> DbResult<Vec<Row>> {
        let mut stmt = self.conn.prepare_cached(&rewrite(sql, Dialect::Sqlite))?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut cells = Vec::with_capacity(columns);
            for i in 0..columns {
                cells.push(from_sqlite(row.get_ref(i)?)?);
            }
            out.push(Row(cells));
        }
        Ok(out)
    }
}
