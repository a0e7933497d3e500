//! The writer thread: the only owner of the write connection, and the group commit.
//!
//! Every write (appends, topic creation, consumer offset commits) arrives as a request on a
//! bounded channel. The writer takes whatever is pending (up to a record bound), writes it all in
//! one transaction, commits once (one fsync), and only then publishes the new end offsets and
//! answers every request. An answer therefore always means "committed", so a process killed at any
//! point has acknowledged only what is on disk.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use super::Shared;
use crate::{AmbiguousReason, AppendedRecord, LogError, Record};

/// One write handed to the writer thread.
pub(crate) enum WriteRequest {
    Append {
        topic: String,
        records: Vec<Record>,
        reply: oneshot::Sender<Result<Vec<AppendedRecord>, LogError>>,
    },
    CreateTopic {
        topic: String,
        partitions: u32,
        reply: oneshot::Sender<Result<(), LogError>>,
    },
    CommitOffset {
        group: String,
        topic: String,
        partition: u32,
        next_offset: i64,
        reply: oneshot::Sender<Result<(), LogError>>,
    },
}

impl WriteRequest {
    /// How much of a batch this request uses up: its records, and at least 1 so that a flood of
    /// commits or empty requests still ends a batch.
    fn weight(&self) -> usize {
        match self {
            WriteRequest::Append { records, .. } => records.len().max(1),
            WriteRequest::CreateTopic { .. } | WriteRequest::CommitOffset { .. } => 1,
        }
    }
}

/// What one request produced inside the transaction; answered only after the commit.
enum Outcome {
    Appended(Vec<AppendedRecord>),
    Created(Result<(), LogError>),
    Committed,
}

/// Runs until every sender is gone (the log was dropped), then closes the write connection.
pub(crate) fn run(
    mut conn: Connection,
    mut requests: mpsc::Receiver<WriteRequest>,
    shared: Arc<Shared>,
    batch_max_records: usize,
) {
    while let Some(first) = requests.blocking_recv() {
        let mut weight = first.weight();
        let mut batch = vec![first];
        // Whatever queued up while the previous commit was syncing rides on this commit.
        while weight < batch_max_records {
            match requests.try_recv() {
                Ok(next) => {
                    weight += next.weight();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        write_batch(&mut conn, batch, &shared);
    }
}

/// Next offset per touched partition after the batch.
type Ends = HashMap<(String, u32), u64>;

fn write_batch(conn: &mut Connection, batch: Vec<WriteRequest>, shared: &Shared) {
    let mut new_topics = Vec::new();
    match write_in_transaction(conn, &batch, &mut new_topics) {
        Ok((outcomes, ends)) => {
            shared.commits.fetch_add(1, Ordering::Relaxed);
            // Publish before answering, so a writer that reads its own partition right after its
            // append finds the records (read-your-writes).
            for (topic, partitions) in new_topics {
                shared.register_topic(topic, vec![0; partitions as usize]);
            }
            for ((topic, partition), end) in &ends {
                shared.publish_end(topic, *partition, *end);
            }
            if !ends.is_empty() {
                shared.appended.send_modify(|n| *n = n.wrapping_add(1));
            }
            for (request, outcome) in batch.into_iter().zip(outcomes) {
                answer(request, outcome);
            }
        }
        Err(error) => {
            // The transaction rolled back, unless the failure was in the commit itself (a failed
            // fsync, say): the caller cannot tell, so every request in the batch is ambiguous.
            // The next batch recomputes end offsets from the table, so nothing stale is reused.
            tracing::error!(%error, requests = batch.len(), "event log write transaction failed");
            let error = Arc::new(error);
            for request in batch {
                let ambiguous = || LogError::Ambiguous {
                    reason: AmbiguousReason::CommitFailed(Arc::clone(&error)),
                };
                // A requester that gave up has nobody to tell; ignoring the send error is right.
                match request {
                    WriteRequest::Append { reply, .. } => drop(reply.send(Err(ambiguous()))),
                    WriteRequest::CreateTopic { reply, .. } => drop(reply.send(Err(ambiguous()))),
                    WriteRequest::CommitOffset { reply, .. } => drop(reply.send(Err(ambiguous()))),
                }
            }
        }
    }
}

fn answer(request: WriteRequest, outcome: Outcome) {
    // A requester that was cancelled no longer listens; its write is durable all the same.
    match (request, outcome) {
        (WriteRequest::Append { reply, .. }, Outcome::Appended(appended)) => {
            drop(reply.send(Ok(appended)));
        }
        (WriteRequest::CreateTopic { reply, .. }, Outcome::Created(result)) => {
            drop(reply.send(result));
        }
        (WriteRequest::CommitOffset { reply, .. }, Outcome::Committed) => {
            drop(reply.send(Ok(())));
        }
        _ => unreachable!("outcomes are produced in request order, one per request"),
    }
}

fn write_in_transaction(
    conn: &mut Connection,
    batch: &[WriteRequest],
    new_topics: &mut Vec<(String, u32)>,
) -> Result<(Vec<Outcome>, Ends), rusqlite::Error> {
    let timestamp_ms = now_ms();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut ends = Ends::new();
    let mut outcomes = Vec::with_capacity(batch.len());
    for request in batch {
        let outcome = match request {
            WriteRequest::Append { topic, records, .. } => {
                Outcome::Appended(append(&tx, topic, records, timestamp_ms, &mut ends)?)
            }
            WriteRequest::CreateTopic {
                topic, partitions, ..
            } => Outcome::Created(create_topic(&tx, topic, *partitions, new_topics)?),
            WriteRequest::CommitOffset {
                group,
                topic,
                partition,
                next_offset,
                ..
            } => {
                tx.prepare_cached(
                    "INSERT INTO group_offsets (group_id, topic, \"partition\", next_offset)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (group_id, topic, \"partition\")
                     DO UPDATE SET next_offset = excluded.next_offset",
                )?
                .execute(params![group, topic, partition, next_offset])?;
                Outcome::Committed
            }
        };
        outcomes.push(outcome);
    }
    tx.commit()?;
    Ok((outcomes, ends))
}

fn append(
    tx: &rusqlite::Transaction<'_>,
    topic: &str,
    records: &[Record],
    timestamp_ms: i64,
    ends: &mut Ends,
) -> Result<Vec<AppendedRecord>, rusqlite::Error> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO records (topic, \"partition\", \"offset\", key, payload, timestamp_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut appended = Vec::with_capacity(records.len());
    for record in records {
        let next = match ends.entry((topic.to_owned(), record.partition)) {
            Entry::Occupied(entry) => entry.into_mut(),
            // The table, not memory, is the truth: after an ambiguous failure the in-memory end
            // may be stale, and the primary key index makes this lookup a single seek.
            Entry::Vacant(entry) => entry.insert(stored_end(tx, topic, record.partition)?),
        };
        insert.execute(params![
            topic,
            record.partition,
            *next,
            record.key,
            record.payload,
            timestamp_ms
        ])?;
        appended.push(AppendedRecord {
            partition: record.partition,
            offset: *next,
        });
        *next += 1;
    }
    Ok(appended)
}

/// The next offset of a partition according to the table.
pub(crate) fn stored_end(
    conn: &Connection,
    topic: &str,
    partition: u32,
) -> Result<u64, rusqlite::Error> {
    // Reading the offset as u64 rejects a negative (corrupt) value instead of wrapping it.
    let last: Option<u64> = conn
        .prepare_cached(
            "SELECT \"offset\" FROM records WHERE topic = ?1 AND \"partition\" = ?2
             ORDER BY \"offset\" DESC LIMIT 1",
        )?
        .query_row(params![topic, partition], |row| row.get(0))
        .optional()?;
    match last {
        None => Ok(0),
        Some(last) => Ok(last + 1),
    }
}

fn create_topic(
    tx: &rusqlite::Transaction<'_>,
    topic: &str,
    partitions: u32,
    new_topics: &mut Vec<(String, u32)>,
) -> Result<Result<(), LogError>, rusqlite::Error> {
    let existing: Option<u32> = tx
        .prepare_cached("SELECT partitions FROM topics WHERE name = ?1")?
        .query_row(params![topic], |row| row.get(0))
        .optional()?;
    Ok(match existing {
        Some(existing) if existing == partitions => Ok(()),
        Some(existing) => Err(LogError::PartitionCountMismatch {
            topic: topic.to_owned(),
            existing,
            requested: partitions,
        }),
        None => {
            tx.prepare_cached("INSERT INTO topics (name, partitions) VALUES (?1, ?2)")?
                .execute(params![topic, partitions])?;
            new_topics.push((topic.to_owned(), partitions));
            Ok(())
        }
    })
}

/// Wall-clock milliseconds since the Unix epoch; a clock before 1970 reads as 0 rather than
/// failing an append.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
