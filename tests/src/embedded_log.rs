//! Reads the embedded event log (`log.db` in a `pursed` data directory) from outside the process,
//! read-only, so a test can see exactly what was recorded, even while `pursed` runs or after it
//! was killed.

use std::path::Path;

use purse_proto::event::v1::event_envelope::Payload;
use purse_proto::event::v1::wallet_event::Event as WalletEvent;
use purse_runtime::codec::decode_record;
use purse_streams::topics;

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

/// Every event recorded on `wallet_id`'s stream, in order, each record counted (no
/// deduplication), so an "exactly once" test fails on a duplicate the read model would hide.
pub fn wallet_events(data_dir: &Path, wallet_id: &str) -> Vec<WalletEvent> {
    records(data_dir, topics::WALLETS.events)
        .iter()
        .filter(|record| record.key == wallet_id.as_bytes())
        .flat_map(|record| {
            decode_record(&record.payload)
                .expect("wallet record")
                .events
        })
        .filter_map(|envelope| match envelope.payload {
            Some(Payload::Wallet(wallet)) => wallet.event,
            _ => None,
        })
        .collect()
}
