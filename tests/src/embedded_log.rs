//! Reads the embedded event log (`log.db` in a `pursed` data directory) from outside the process,
//! read-only, so a test can see exactly what was recorded, even while `pursed` runs or after it
//! was killed.

use std::path::Path;

/// One record of a topic.
pub struct LoggedRecord {
    /// The record key (the stream id).
    pub key: Vec<u8>,
    /// The encoded record.
    pub payload: Vec<u8>,
}

/// Every record of `topic`, in offset order per partition.
pub fn records(data_dir: &Path, topic: &str) -> Vec<LoggedRecord> {
    let connection = rusqlite::Connection::open_with_flags(
        data_dir.join("log.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("embedded log opens read-only");
    let mut statement = connection
        .prepare(
            "SELECT key, payload FROM records WHERE topic = ?1 ORDER BY \"partition\", \"offset\"",
        )
        .expect("records query");
    statement
        .query_map([topic], |row| {
            Ok(LoggedRecord {
                key: row.get(0)?,
                payload: row.get(1)?,
            })
        })
        .expect("records")
        .collect::<Result<_, _>>()
        .expect("record rows")
}
