//! The embedded event log: one SQLite file in WAL mode, with group commit.

mod group;
mod readers;
mod writer;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot, watch};

pub use group::SqliteGroupConsumer;

use self::group::Coordinator;
use self::readers::Readers;
use self::writer::WriteRequest;
use crate::{
    AmbiguousReason, AppendedRecord, EventLog, GroupConsumer, LogError, MAX_READ_RECORDS, Record,
    StoredRecord, validate_partition_count, validate_topic_name,
};

/// Default for [`SqliteLogOptions::group_commit_max_records`].
pub const DEFAULT_GROUP_COMMIT_MAX_RECORDS: usize = 4096;
/// Default for [`SqliteLogOptions::channel_capacity`].
pub const DEFAULT_CHANNEL_CAPACITY: usize = 1024;
/// Default for [`SqliteLogOptions::revoke_timeout_ms`].
pub const DEFAULT_REVOKE_TIMEOUT_MS: u64 = 10_000;
/// Default for [`SqliteLogOptions::append_timeout_ms`].
pub const DEFAULT_APPEND_TIMEOUT_MS: u64 = 30_000;

/// How long a connection waits on SQLite's file lock before failing. Only the writer thread
/// writes, so this matters only while another handle on the same file (a previous instance still
/// closing) holds it.
const BUSY_TIMEOUT_MS: u64 = 5_000;
/// Idle read connections kept open.
const READERS_IDLE_MAX: usize = 4;
/// Schema version this build writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

/// Options of [`SqliteLog::open`].
#[derive(Clone, Debug)]
pub struct SqliteLogOptions {
    /// Most records the writer puts in one transaction (one fsync). Pending requests beyond it
    /// wait for the next commit; a single larger append is still committed whole. Minimum 1.
    pub group_commit_max_records: usize,
    /// `PRAGMA synchronous = FULL`: fsync on every commit, so nothing acknowledged is lost on
    /// power failure. `false` uses NORMAL: still safe against a killed process, but the last
    /// commits may be lost if the machine loses power.
    pub synchronous_full: bool,
    /// Write requests that may queue for the writer before `append` waits (backpressure).
    /// Minimum 1.
    pub channel_capacity: usize,
    /// How long a member that lost partitions in a rebalance has to poll (and be told
    /// `Revoked`) before the partitions go to their new owner regardless.
    pub revoke_timeout_ms: u64,
    /// How long `append` and `commit` wait for the writer before answering
    /// [`LogError::Ambiguous`].
    pub append_timeout_ms: u64,
}

impl Default for SqliteLogOptions {
    fn default() -> Self {
        Self {
            group_commit_max_records: DEFAULT_GROUP_COMMIT_MAX_RECORDS,
            synchronous_full: true,
            channel_capacity: DEFAULT_CHANNEL_CAPACITY,
            revoke_timeout_ms: DEFAULT_REVOKE_TIMEOUT_MS,
            append_timeout_ms: DEFAULT_APPEND_TIMEOUT_MS,
        }
    }
}

/// The embedded [`EventLog`]: a SQLite file in WAL mode.
///
/// One writer thread owns the write connection and commits whatever appends are pending in one
/// transaction (group commit); readers use their own connections and wait for appends on
/// in-memory signals published after each commit. Consumer groups are in-process; their
/// committed offsets are stored in the file.
///
/// Open one `SqliteLog` per file per process and share it (it is cheap to clone): two instances
/// on one file would write correctly but would not wake each other's readers or share groups.
#[derive(Clone)]
pub struct SqliteLog {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqliteLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteLog")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// State shared by the handles, the consumers and (through [`Shared`]) the writer thread.
pub(crate) struct Inner {
    shared: Arc<Shared>,
    writer: Writer,
    readers: Arc<Readers>,
    coordinator: Coordinator,
    options: SqliteLogOptions,
}

/// What the writer thread publishes: topics, end offsets and the commit counter. Kept apart from
/// [`Inner`] so the writer holds no reference to the handles and stops when they are dropped.
pub(crate) struct Shared {
    topics: RwLock<HashMap<String, Arc<TopicState>>>,
    commits: AtomicU64,
    /// Bumped after every commit that appended records; group members wait on it.
    appended: watch::Sender<u64>,
}

struct TopicState {
    /// Next offset per partition, as committed; `read` waits on these.
    ends: Vec<watch::Sender<u64>>,
}

impl TopicState {
    fn partitions(&self) -> u32 {
        // Bounded by MAX_PARTITIONS when the topic was created.
        self.ends.len() as u32
    }

    fn end(&self, topic: &str, partition: u32) -> Result<&watch::Sender<u64>, LogError> {
        self.ends
            .get(partition as usize)
            .ok_or_else(|| LogError::UnknownPartition {
                topic: topic.to_owned(),
                partition,
            })
    }
}

impl Shared {
    fn topic(&self, topic: &str) -> Result<Arc<TopicState>, LogError> {
        self.topics
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(topic)
            .cloned()
            .ok_or_else(|| LogError::UnknownTopic {
                topic: topic.to_owned(),
            })
    }

    /// Makes a committed topic visible, with the end offset of each of its partitions.
    fn register_topic(&self, topic: String, ends: Vec<u64>) {
        let state = TopicState {
            ends: ends.into_iter().map(watch::Sender::new).collect(),
        };
        self.topics
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(topic, Arc::new(state));
    }

    fn publish_end(&self, topic: &str, partition: u32, end: u64) {
        // Appends are validated against registered topics before they reach the writer, and
        // topics are never removed: the lookup cannot miss.
        if let Ok(state) = self.topic(topic)
            && let Ok(sender) = state.end(topic, partition)
        {
            sender.send_replace(end);
        }
    }

    fn end_offset(&self, topic: &str, partition: u32) -> Result<u64, LogError> {
        let state = self.topic(topic)?;
        let end = *state.end(topic, partition)?.borrow();
        Ok(end)
    }
}

/// The sending side of the writer thread; dropping it stops the thread and waits for it, so a
/// reopened log finds the file closed.
struct Writer {
    requests: Option<mpsc::Sender<WriteRequest>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(thread) = self.thread.take() {
            // The thread finishes the batch in hand (answering it) and exits; a panic in it was
            // already reported to the waiting callers as `WriterStopped`.
            let _ = thread.join();
        }
    }
}

/// Connection settings for every connection to the file.
fn configure_common(conn: &Connection) -> Result<(), LogError> {
    conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))?;
    Ok(())
}

fn configure_writer(conn: &Connection, options: &SqliteLogOptions) -> Result<(), LogError> {
    configure_common(conn)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(LogError::WalUnavailable { mode });
    }
    let synchronous = if options.synchronous_full {
        "FULL"
    } else {
        "NORMAL"
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<(), LogError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(LogError::UnsupportedSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction()?;
    // `partition` and `offset` are SQL keywords, hence the quotes.
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS topics (
             name TEXT PRIMARY KEY NOT NULL,
             partitions INTEGER NOT NULL
         ) STRICT;
         CREATE TABLE IF NOT EXISTS records (
             topic TEXT NOT NULL,
             \"partition\" INTEGER NOT NULL,
             \"offset\" INTEGER NOT NULL,
             key BLOB NOT NULL,
             payload BLOB NOT NULL,
             timestamp_ms INTEGER NOT NULL,
             PRIMARY KEY (topic, \"partition\", \"offset\")
         ) STRICT, WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS group_offsets (
             group_id TEXT NOT NULL,
             topic TEXT NOT NULL,
             \"partition\" INTEGER NOT NULL,
             next_offset INTEGER NOT NULL,
             PRIMARY KEY (group_id, topic, \"partition\")
         ) STRICT, WITHOUT ROWID;",
    )?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// Registers the stored topics with their end offsets.
fn load_topics(conn: &Connection, shared: &Shared) -> Result<(), LogError> {
    let topics: Vec<(String, u32)> = conn
        .prepare("SELECT name, partitions FROM topics")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (topic, partitions) in topics {
        let ends = (0..partitions)
            .map(|partition| writer::stored_end(conn, &topic, partition))
            .collect::<Result<_, _>>()?;
        shared.register_topic(topic, ends);
    }
    Ok(())
}

impl SqliteLog {
    /// Opens (creating if needed) the log file at `path` and starts its writer thread.
    ///
    /// Synchronous: it does blocking file I/O, once, at start-up.
    pub fn open(path: &Path, options: SqliteLogOptions) -> Result<SqliteLog, LogError> {
        let mut conn = Connection::open(path)?;
        configure_writer(&conn, &options)?;
        migrate(&mut conn)?;
        let shared = Arc::new(Shared {
            topics: RwLock::new(HashMap::new()),
            commits: AtomicU64::new(0),
            appended: watch::Sender::new(0),
        });
        load_topics(&conn, &shared)?;
        let (requests, receiver) = mpsc::channel(options.channel_capacity.max(1));
        let thread = std::thread::Builder::new()
            .name("purse-log-writer".to_owned())
            .spawn({
                let shared = Arc::clone(&shared);
                let batch_max_records = options.group_commit_max_records.max(1);
                move || writer::run(conn, receiver, shared, batch_max_records)
            })
            .map_err(LogError::WriterSpawn)?;
        Ok(SqliteLog {
            inner: Arc::new(Inner {
                shared,
                writer: Writer {
                    requests: Some(requests),
                    thread: Some(thread),
                },
                readers: Arc::new(Readers::new(path.to_owned(), READERS_IDLE_MAX)),
                coordinator: Coordinator::new(Duration::from_millis(options.revoke_timeout_ms)),
                options,
            }),
        })
    }

    /// Write transactions committed since this log was opened. Group commit shows as fewer
    /// commits than appends.
    pub fn commit_count(&self) -> u64 {
        self.inner.shared.commits.load(Ordering::Relaxed)
    }
}

impl Inner {
    /// Hands a request to the writer and waits (bounded) for its answer.
    async fn write<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<Result<T, LogError>>) -> WriteRequest,
    ) -> Result<T, LogError> {
        let requests = self.writer.requests.as_ref().ok_or(LogError::Closed)?;
        let (reply, answer) = oneshot::channel();
        let timeout_ms = self.options.append_timeout_ms;
        let waited = tokio::time::timeout(Duration::from_millis(timeout_ms), async {
            // Not yet handed over: a closed channel means nothing was written.
            requests
                .send(request(reply))
                .await
                .map_err(|_| LogError::Closed)?;
            answer.await.map_err(|_| LogError::Ambiguous {
                reason: AmbiguousReason::WriterStopped,
            })?
        })
        .await;
        waited.unwrap_or(Err(LogError::Ambiguous {
            reason: AmbiguousReason::TimedOut {
                waited_ms: timeout_ms,
            },
        }))
    }

    async fn commit_offset(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
        next_offset: u64,
    ) -> Result<(), LogError> {
        let next_offset = i64::try_from(next_offset).map_err(|_| LogError::OffsetOutOfRange {
            offset: next_offset,
        })?;
        self.write(|reply| WriteRequest::CommitOffset {
            group: group.to_owned(),
            topic: topic.to_owned(),
            partition,
            next_offset,
            reply,
        })
        .await
    }

    async fn committed(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<u64>, LogError> {
        let (group, topic) = (group.to_owned(), topic.to_owned());
        self.readers
            .run(move |conn| {
                let offset = conn
                    .prepare_cached(
                        "SELECT next_offset FROM group_offsets
                         WHERE group_id = ?1 AND topic = ?2 AND \"partition\" = ?3",
                    )?
                    .query_row(params![group, topic, partition], |row| row.get(0))
                    .optional()?;
                Ok(offset)
            })
            .await
    }

    /// Reads committed records without waiting.
    async fn read_stored(
        &self,
        topic: &str,
        partition: u32,
        from_offset: u64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>, LogError> {
        // Offsets never exceed i64::MAX, so a larger start finds nothing.
        let Ok(from_offset) = i64::try_from(from_offset) else {
            return Ok(Vec::new());
        };
        let topic = topic.to_owned();
        // Bounded by MAX_READ_RECORDS.
        let limit = max_records as i64;
        self.readers
            .run(move |conn| {
                let mut statement = conn.prepare_cached(
                    "SELECT \"offset\", key, payload, timestamp_ms FROM records
                     WHERE topic = ?1 AND \"partition\" = ?2 AND \"offset\" >= ?3
                     ORDER BY \"offset\" LIMIT ?4",
                )?;
                let records = statement
                    .query_map(params![topic, partition, from_offset, limit], |row| {
                        Ok(StoredRecord {
                            offset: row.get(0)?,
                            key: row.get(1)?,
                            payload: row.get(2)?,
                            timestamp_ms: row.get(3)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(records)
            })
            .await
    }
}

#[async_trait::async_trait]
impl EventLog for SqliteLog {
    async fn create_topic(&self, topic: &str, partitions: u32) -> Result<(), LogError> {
        validate_topic_name(topic)?;
        validate_partition_count(partitions)?;
        if let Ok(existing) = self.inner.shared.topic(topic) {
            return match existing.partitions() {
                n if n == partitions => Ok(()),
                existing => Err(LogError::PartitionCountMismatch {
                    topic: topic.to_owned(),
                    existing,
                    requested: partitions,
                }),
            };
        }
        self.inner
            .write(|reply| WriteRequest::CreateTopic {
                topic: topic.to_owned(),
                partitions,
                reply,
            })
            .await
    }

    async fn partition_count(&self, topic: &str) -> Result<u32, LogError> {
        Ok(self.inner.shared.topic(topic)?.partitions())
    }

    async fn append(
        &self,
        topic: &str,
        records: Vec<Record>,
    ) -> Result<Vec<AppendedRecord>, LogError> {
        let state = self.inner.shared.topic(topic)?;
        // Checked here, against the in-memory topics, so one bad request never fails the batch
        // it would have shared with others.
        for record in &records {
            state.end(topic, record.partition)?;
        }
        if records.is_empty() {
            return Ok(Vec::new());
        }
        self.inner
            .write(|reply| WriteRequest::Append {
                topic: topic.to_owned(),
                records,
                reply,
            })
            .await
    }

    async fn read(
        &self,
        topic: &str,
        partition: u32,
        from_offset: u64,
        max_records: usize,
        wait_ms: u64,
    ) -> Result<Vec<StoredRecord>, LogError> {
        let state = self.inner.shared.topic(topic)?;
        let mut end = state.end(topic, partition)?.subscribe();
        let max_records = max_records.min(MAX_READ_RECORDS);
        if max_records == 0 {
            return Ok(Vec::new());
        }
        let available = tokio::time::timeout(
            Duration::from_millis(wait_ms),
            end.wait_for(|end| *end > from_offset),
        )
        .await
        // The guard borrows the watch; only whether the end moved past `from_offset` matters.
        .is_ok_and(|waited| waited.is_ok());
        // Timed out, or (impossible while `state` is held) the sender is gone: nothing to read.
        if !available {
            return Ok(Vec::new());
        }
        self.inner
            .read_stored(topic, partition, from_offset, max_records)
            .await
    }

    async fn end_offset(&self, topic: &str, partition: u32) -> Result<u64, LogError> {
        self.inner.shared.end_offset(topic, partition)
    }

    async fn subscribe(
        &self,
        group: &str,
        member_id: &str,
        topics: &[String],
    ) -> Result<Box<dyn GroupConsumer>, LogError> {
        let mut subscribed = Vec::with_capacity(topics.len());
        for topic in topics {
            let partitions = self.inner.shared.topic(topic)?.partitions();
            if !subscribed.iter().any(|(t, _)| t == topic) {
                subscribed.push((topic.clone(), partitions));
            }
        }
        Ok(Box::new(SqliteGroupConsumer::new(
            Arc::clone(&self.inner),
            group,
            member_id,
            subscribed,
        )))
    }

    async fn committed_offset(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<u64>, LogError> {
        self.inner.shared.topic(topic)?.end(topic, partition)?;
        self.inner.committed(group, topic, partition).await
    }
}
