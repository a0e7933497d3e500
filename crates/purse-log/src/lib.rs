//! The event log: the only way Purse services touch Kafka or its embedded stand-in.
//!
//! [`EventLog`] appends records to partitioned topics, reads a partition from an offset (following
//! its tail), and runs consumer groups with assignment, revocation and committed offsets. Two
//! implementations pass the same [`contract`] suite: [`SqliteLog`] here (all-in-one mode) and the
//! Kafka log in `purse-log-kafka`.
//!
//! The log promises durability and per-partition order, nothing more: correctness of the streams
//! carried in it (first writer wins, read-back before replying) is enforced above it, by the
//! stream sequence (DESIGN.md §4).

pub mod contract;
mod partitioner;
mod sqlite;

use std::error::Error as StdError;
use std::sync::Arc;

pub use partitioner::{murmur2, partition_for};
pub use sqlite::{
    DEFAULT_APPEND_TIMEOUT_MS, DEFAULT_CHANNEL_CAPACITY, DEFAULT_GROUP_COMMIT_MAX_RECORDS,
    DEFAULT_REVOKE_TIMEOUT_MS, SqliteGroupConsumer, SqliteLog, SqliteLogOptions,
};

/// Largest partition count a topic may have; far above any deployment and small enough that
/// per-partition bookkeeping stays cheap.
pub const MAX_PARTITIONS: u32 = 10_000;

/// Longest topic name Kafka accepts; the embedded log enforces the same rule so that a name that
/// works in all-in-one mode also works against a broker.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Most records one [`EventLog::read`] or [`GroupConsumer::poll`] returns, whatever the caller
/// asks for, so that one call never materialises an unbounded partition in memory.
pub const MAX_READ_RECORDS: usize = 10_000;

/// One partition of one topic.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition number, from 0.
    pub partition: u32,
}

impl TopicPartition {
    /// Builds a topic partition.
    pub fn new(topic: impl Into<String>, partition: u32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

/// A record to append. The caller chooses the partition (normally with [`partition_for`] over the
/// key) so that every record of one stream lands on one partition.
#[derive(Clone, Debug)]
pub struct Record {
    /// Target partition.
    pub partition: u32,
    /// Record key (for Purse: the stream id).
    pub key: Vec<u8>,
    /// Opaque payload.
    pub payload: Vec<u8>,
}

/// A record as stored in a partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    /// Position in its partition. Increasing, but not necessarily dense (Kafka may skip).
    pub offset: u64,
    /// Record key.
    pub key: Vec<u8>,
    /// Opaque payload.
    pub payload: Vec<u8>,
    /// Wall-clock time of the append, in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// Where an appended record landed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct AppendedRecord {
    /// Partition of the record.
    pub partition: u32,
    /// Offset the record got.
    pub offset: u64,
}

/// Something that happened to a consumer group member, as returned by [`GroupConsumer::poll`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupEvent {
    /// The member now owns these partitions; their records follow, from the committed offset.
    Assigned(Vec<TopicPartition>),
    /// The member no longer owns these partitions: it must stop processing them. It got this
    /// before any other member was given them.
    Revoked(Vec<TopicPartition>),
    /// Records of one owned partition, in offset order.
    Records {
        /// The partition they come from.
        partition: TopicPartition,
        /// At least one record.
        records: Vec<StoredRecord>,
    },
}

/// Append-only partitioned log with consumer groups (Kafka's model).
///
/// Every method bounds its own wait; none retries on its own. A method that fails with
/// [`LogError::Ambiguous`] may or may not have taken effect: the caller re-reads before deciding.
#[async_trait::async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Creates the topic with `partitions` if missing; Ok if it exists with that count;
    /// [`LogError::PartitionCountMismatch`] otherwise.
    async fn create_topic(&self, topic: &str, partitions: u32) -> Result<(), LogError>;

    /// Partition count of an existing topic; [`LogError::UnknownTopic`] otherwise.
    async fn partition_count(&self, topic: &str) -> Result<u32, LogError>;

    /// Appends records, durably when Ok: one [`AppendedRecord`] per record, in input order, with
    /// offsets increasing within each partition. Offsets are dense from 0 in the embedded log;
    /// Kafka may skip, so readers must not assume density.
    async fn append(
        &self,
        topic: &str,
        records: Vec<Record>,
    ) -> Result<Vec<AppendedRecord>, LogError>;

    /// Records at offsets `>= from_offset`, at most `max_records` (capped at
    /// [`MAX_READ_RECORDS`]); waits up to `wait_ms` for at least one and returns an empty `Vec`
    /// on timeout. A waiting read is woken by appends, not by polling.
    async fn read(
        &self,
        topic: &str,
        partition: u32,
        from_offset: u64,
        max_records: usize,
        wait_ms: u64,
    ) -> Result<Vec<StoredRecord>, LogError>;

    /// The offset the next appended record will get. On Kafka with transactions it is the last
    /// stable offset: it passes an acknowledged append only once the commit's markers are
    /// written, a moment after the commit returned (readers see the records at the same moment).
    async fn end_offset(&self, topic: &str, partition: u32) -> Result<u64, LogError>;

    /// Joins consumer group `group` as `member_id` for `topics` (all of which must exist:
    /// [`LogError::UnknownTopic`] otherwise).
    async fn subscribe(
        &self,
        group: &str,
        member_id: &str,
        topics: &[String],
    ) -> Result<Box<dyn GroupConsumer>, LogError>;

    /// The offset `group` committed for a partition (the next offset it will consume), if any.
    async fn committed_offset(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<u64>, LogError>;
}

/// One member of a consumer group.
///
/// Each partition of the subscribed topics is owned by exactly one live member. When membership
/// changes, a member that loses partitions is told ([`GroupEvent::Revoked`]) before any other
/// member is given them, so two members never process one partition at the same time while both
/// keep polling.
#[async_trait::async_trait]
pub trait GroupConsumer: Send {
    /// Next thing that happened for this member, waiting up to `wait_ms` (None if nothing):
    /// partitions assigned or revoked, or a batch of records (at most `max_records`, capped at
    /// [`MAX_READ_RECORDS`]; 0 yields assignment changes only) from one assigned partition, in
    /// offset order, starting at the committed offset (or 0).
    async fn poll(
        &mut self,
        max_records: usize,
        wait_ms: u64,
    ) -> Result<Option<GroupEvent>, LogError>;

    /// Commits `next_offset` (the next offset to consume) for a partition this member owns;
    /// [`LogError::NotAssigned`] otherwise. Durable when Ok.
    async fn commit(
        &mut self,
        topic: &str,
        partition: u32,
        next_offset: u64,
    ) -> Result<(), LogError>;

    /// Leaves the group; its partitions are reassigned to the remaining members. Dropping the
    /// consumer leaves too; this form lets an implementation report a failure to leave cleanly.
    async fn leave(self: Box<Self>) -> Result<(), LogError>;
}

/// Why the outcome of a write is unknown.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum AmbiguousReason {
    /// No acknowledgement arrived within the deadline; the write may still land.
    #[error("no acknowledgement within {waited_ms} ms")]
    TimedOut {
        /// How long the caller waited.
        waited_ms: u64,
    },
    /// The writer stopped (panicked or shut down) after it took the request.
    #[error("the log writer stopped before answering")]
    WriterStopped,
    /// The write transaction failed; SQLite may or may not have made it durable (an fsync error
    /// after the WAL write, for instance).
    #[error("the write transaction failed: {0}")]
    CommitFailed(#[source] Arc<rusqlite::Error>),
    /// Another implementation's client library (e.g. rdkafka) failed after the request left.
    #[error("the log client failed after sending: {0}")]
    Client(#[source] Box<dyn StdError + Send + Sync + 'static>),
}

/// Errors of [`EventLog`] and [`GroupConsumer`].
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum LogError {
    /// The topic does not exist.
    #[error("unknown topic {topic:?}")]
    UnknownTopic {
        /// The topic asked for.
        topic: String,
    },
    /// The topic exists but has no such partition.
    #[error("topic {topic:?} has no partition {partition}")]
    UnknownPartition {
        /// The topic asked for.
        topic: String,
        /// The partition asked for.
        partition: u32,
    },
    /// `create_topic` found the topic with another partition count.
    #[error("topic {topic:?} exists with {existing} partitions, not {requested}")]
    PartitionCountMismatch {
        /// The topic.
        topic: String,
        /// Its partition count.
        existing: u32,
        /// The count asked for.
        requested: u32,
    },
    /// Not a name Kafka accepts: 1 to [`MAX_TOPIC_NAME_LEN`] characters of `[a-zA-Z0-9._-]`,
    /// not `.` or `..`.
    #[error("invalid topic name {topic:?}")]
    InvalidTopicName {
        /// The rejected name.
        topic: String,
    },
    /// A topic needs 1 to [`MAX_PARTITIONS`] partitions.
    #[error("a topic needs 1 to {max} partitions, not {requested}")]
    InvalidPartitionCount {
        /// The count asked for.
        requested: u32,
        /// [`MAX_PARTITIONS`].
        max: u32,
    },
    /// A commit for a partition this member does not own (never had, or lost in a rebalance).
    #[error("partition {partition} of {topic:?} is not assigned to this member")]
    NotAssigned {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
    },
    /// The outcome of a write is unknown: the caller must re-read before deciding.
    #[error("outcome unknown: {reason}")]
    Ambiguous {
        /// Why it is unknown.
        #[source]
        reason: AmbiguousReason,
    },
    /// An offset beyond what the log can store (SQLite integers are signed 64-bit).
    #[error("offset {offset} is beyond the largest storable offset")]
    OffsetOutOfRange {
        /// The offending offset.
        offset: u64,
    },
    /// The log is shut down (or the runtime is); nothing was written.
    #[error("the event log is closed")]
    Closed,
    /// The log file was written by a newer build.
    #[error("log schema version {found} is newer than this build supports ({supported})")]
    UnsupportedSchema {
        /// Schema version in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// SQLite refused write-ahead logging (e.g. on a file system without shared memory), which
    /// concurrent readers and group commit rely on.
    #[error("SQLite could not enable WAL mode; journal mode is {mode:?}")]
    WalUnavailable {
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// The embedded log could not start its writer thread.
    #[error("could not start the log writer thread: {0}")]
    WriterSpawn(#[source] std::io::Error),
    /// SQLite failed (embedded log).
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Another implementation's client library failed before anything was sent (nothing written).
    #[error("log client: {0}")]
    Client(#[source] Box<dyn StdError + Send + Sync + 'static>),
}

impl LogError {
    /// True for errors after which the caller should rewind and re-read ([`LogError::Ambiguous`]):
    /// the write may or may not be in the log.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, LogError::Ambiguous { .. })
    }

    /// True for errors that may pass by themselves (a broker restarting, a timeout): retrying
    /// the same call later is reasonable. Everything else is a bug or a configuration problem.
    pub fn is_transient(&self) -> bool {
        matches!(self, LogError::Ambiguous { .. } | LogError::Client(_))
    }
}

/// Checks a topic name against Kafka's rules, so that both implementations accept the same names.
pub fn validate_topic_name(topic: &str) -> Result<(), LogError> {
    let valid = !topic.is_empty()
        && topic.len() <= MAX_TOPIC_NAME_LEN
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(LogError::InvalidTopicName {
            topic: topic.to_owned(),
        })
    }
}

/// Checks a partition count for `create_topic`.
pub fn validate_partition_count(partitions: u32) -> Result<(), LogError> {
    if (1..=MAX_PARTITIONS).contains(&partitions) {
        Ok(())
    } else {
        Err(LogError::InvalidPartitionCount {
            requested: partitions,
            max: MAX_PARTITIONS,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ambiguous_errors_are_ambiguous() {
        let ambiguous = LogError::Ambiguous {
            reason: AmbiguousReason::TimedOut { waited_ms: 5 },
        };
        assert!(ambiguous.is_ambiguous());
        assert!(!LogError::Closed.is_ambiguous());
        assert!(
            !LogError::UnknownTopic {
                topic: "t".to_owned()
            }
            .is_ambiguous()
        );
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        for ok in ["purse.wallet.events", "a", "A-b_c.9", &"x".repeat(249)] {
            assert!(validate_topic_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "with space", "slash/", "ü", &"x".repeat(250)] {
            assert!(
                matches!(
                    validate_topic_name(bad),
                    Err(LogError::InvalidTopicName { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn partition_counts_are_bounded() {
        assert!(validate_partition_count(1).is_ok());
        assert!(validate_partition_count(MAX_PARTITIONS).is_ok());
        assert!(validate_partition_count(0).is_err());
        assert!(validate_partition_count(MAX_PARTITIONS + 1).is_err());
    }
}
