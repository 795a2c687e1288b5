//! CSV files of rows, as HQ imports them (rate cards, remote areas, carriers' statements, the
//! catalog): a fixed header, every bad row named by its line and field and importing nothing
//! of itself, a bound on rows and on the errors listed.

use serde::Serialize;

/// Most rows one file may hold.
pub const MAX_ROWS: usize = 200_000;
/// Most row errors one answer lists (the count is always exact).
pub const MAX_LISTED_ERRORS: usize = 1_000;


/// One refused row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RowError {
    /// Line in the file (the header is line 1).
    pub line: u64,
    pub field: String,
    pub message: String,
}

/// The file as a whole cannot be read (nothing is imported).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the header must be exactly {expected}")]
    Header { expected: String },
    #[error("the file holds more than {MAX_ROWS} rows")]
    TooManyRows,
    #[error("the file is not UTF-8 CSV: {0}")]
    Unreadable(String),
}

/// What a file yields: the good rows and the named bad ones.
#[derive(Debug, Clone, Default)]
pub struct Parsed<T> {
    pub rows: Vec<T>,
    pub errors: Vec<RowError>,
    pub error_count: usize,
}

impl<T> Parsed<T> {
    pub fn refuse(&mut self, line: u64, field: &str, message: String) {
        self.error_count += 1;
        if self.errors.len() < MAX_LISTED_ERRORS {
            self.errors.push(RowError { line, field: field.to_owned(), message });
        }
    }
}

/// Reads every record after the header through `row` (given the record's line), which names
/// the bad field.
pub fn read<T>(bytes: &[u8], header: &[&str], mut row: impl FnMut(u64, &[&str]) -> Result<T, (&'static str, String)>) -> Result<Parsed<T>, FileError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).trim(csv::Trim::All).from_reader(bytes);
    let expected = header.join(",");
    let got = reader.headers().map_err(|e| FileError::Unreadable(e.to_string()))?;
    if got.iter().collect::<Vec<_>>() != header {
        return Err(FileError::Header { expected });
    }
    let mut parsed = Parsed { rows: Vec::new(), errors: Vec::new(), error_count: 0 };
    let mut record = csv::StringRecord::new();
    let mut count = 0usize;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
                parsed.refuse(e.position().map_or(0, |p| p.line()), "", "the row is not UTF-8".into());
                continue;
            }
            Err(e) => return Err(FileError::Unreadable(e.to_string())),
        }
        count += 1;
        if count > MAX_ROWS {
            return Err(FileError::TooManyRows);
        }
        let line = record.position().map_or(0, |p| p.line());
        let fields: Vec<&str> = record.iter().collect();
        if fields.len() != header.len() {
            parsed.refuse(line, "", format!("{} fields where the header has {}", fields.len(), header.len()));
            continue;
        }
        match row(line, &fields) {
            Ok(value) => parsed.rows.push(value),
            Err((field, message)) => parsed.refuse(line, field, message),
        }
    }
    Ok(parsed)
}

