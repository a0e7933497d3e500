//! The `EventLog` contract suite, run against the embedded SQLite log.

use std::ops::Deref;

use purse_log::{SqliteLog, SqliteLogOptions};
use tempfile::TempDir;

/// A log in a fresh temporary directory, removed when the test ends.
struct TempLog {
    // Declared first so the log (and its writer thread) closes before the directory goes.
    log: SqliteLog,
    _dir: TempDir,
}

impl Deref for TempLog {
    type Target = SqliteLog;

    fn deref(&self) -> &SqliteLog {
        &self.log
    }
}

async fn fresh_log() -> TempLog {
    let dir = tempfile::tempdir().expect("temp dir");
    let log =
        SqliteLog::open(&dir.path().join("log.db"), SqliteLogOptions::default()).expect("open log");
    TempLog { log, _dir: dir }
}

purse_log::event_log_contract_tests!(fresh_log);
