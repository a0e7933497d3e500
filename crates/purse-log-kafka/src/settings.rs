//! What a [`KafkaLog`](crate::KafkaLog) needs to know about its cluster, with units in the names.

/// Default for [`KafkaSettings::replication_factor`].
pub const DEFAULT_REPLICATION_FACTOR: u16 = 3;
/// Default for [`KafkaSettings::transactional_id_prefix`].
pub const DEFAULT_TRANSACTIONAL_ID_PREFIX: &str = "purse";
/// Default for [`KafkaSettings::client_id`].
pub const DEFAULT_CLIENT_ID: &str = "purse";
/// Default for [`KafkaSettings::request_timeout_ms`].
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Default for [`KafkaSettings::message_timeout_ms`].
pub const DEFAULT_MESSAGE_TIMEOUT_MS: u64 = 30_000;
/// Default for [`KafkaSettings::transaction_timeout_ms`].
pub const DEFAULT_TRANSACTION_TIMEOUT_MS: u64 = 60_000;
/// Default for [`KafkaSettings::transaction_call_timeout_ms`].
pub const DEFAULT_TRANSACTION_CALL_TIMEOUT_MS: u64 = 30_000;
/// Default for [`KafkaSettings::session_timeout_ms`].
pub const DEFAULT_SESSION_TIMEOUT_MS: u64 = 10_000;
/// Default for [`KafkaSettings::heartbeat_interval_ms`].
pub const DEFAULT_HEARTBEAT_INTERVAL_MS: u64 = 1_000;
/// Default for [`KafkaSettings::max_poll_interval_ms`].
pub const DEFAULT_MAX_POLL_INTERVAL_MS: u64 = 300_000;
/// Default for [`KafkaSettings::fetch_wait_max_ms`].
pub const DEFAULT_FETCH_WAIT_MAX_MS: u64 = 100;
/// Default for [`KafkaSettings::linger_ms`].
pub const DEFAULT_LINGER_MS: u64 = 1;
/// Default for [`KafkaSettings::idle_readers_per_partition_max`].
pub const DEFAULT_IDLE_READERS_PER_PARTITION_MAX: usize = 2;
/// Default for [`KafkaSettings::reader_idle_timeout_ms`].
pub const DEFAULT_READER_IDLE_TIMEOUT_MS: u64 = 60_000;

/// Connection and behaviour settings of a [`KafkaLog`](crate::KafkaLog).
///
/// Other crates build it from configuration (`PURSE_KAFKA_BROKERS`,
/// `PURSE_KAFKA_REPLICATION_FACTOR`, `PURSE_KAFKA_TRANSACTIONS`, ...); this crate only uses it.
/// Every field becomes an explicit librdkafka option (see the crate documentation for the full
/// list), so no behaviour we rely on is left to a library default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaSettings {
    /// Bootstrap brokers, comma-separated `host:port` (librdkafka `bootstrap.servers`). No default:
    /// [`KafkaSettings::new`] takes it.
    pub brokers: String,
    /// Replicas of each partition of a topic created by
    /// [`EventLog::create_topic`](purse_log::EventLog::create_topic). Production: 3, so that
    /// `acks=all` survives one broker loss; a single test broker needs 1.
    pub replication_factor: u16,
    /// Append through Kafka transactions (one `transactional.id` per written partition) and read
    /// with `isolation.level=read_committed`. Only for brokers that implement transactions
    /// (Apache Kafka); correctness does not depend on it (DESIGN.md §4).
    pub transactions: bool,
    /// Start of every `transactional.id`: `{prefix}-{topic}-{partition}`. Two processes with the
    /// same prefix writing one partition fence each other, which is intended for the single writer
    /// of a partition (a stale writer is fenced) and wrong for topics many instances append to:
    /// give each such writer instance its own prefix.
    pub transactional_id_prefix: String,
    /// `client.id` of every connection (readers, consumers and producers append a role), so broker
    /// logs and quotas can tell Purse's clients apart.
    pub client_id: String,
    /// How long one broker request (produce acknowledgement, metadata, offsets, admin) may take
    /// before librdkafka gives up on it (`request.timeout.ms`, `socket.timeout.ms`), and the bound
    /// on our own blocking calls (metadata, watermarks, commits).
    pub request_timeout_ms: u64,
    /// How long a record may wait for its acknowledgement, retries included
    /// (`message.timeout.ms`). When it expires the outcome is unknown: the append fails with
    /// [`LogError::Ambiguous`](purse_log::LogError::Ambiguous). With transactions it must not
    /// exceed [`KafkaSettings::transaction_timeout_ms`].
    pub message_timeout_ms: u64,
    /// How long the broker lets a transaction stay open before aborting it
    /// (`transaction.timeout.ms`).
    pub transaction_timeout_ms: u64,
    /// How long `init_transactions`, `commit_transaction` and `abort_transaction` may block.
    pub transaction_call_timeout_ms: u64,
    /// A group member that sends no heartbeat for this long is removed and its partitions are
    /// reassigned (`session.timeout.ms`): the failover time after a crash.
    pub session_timeout_ms: u64,
    /// Heartbeat period of group members (`heartbeat.interval.ms`); at most a third of
    /// [`KafkaSettings::session_timeout_ms`]. Also how soon a member notices a rebalance.
    pub heartbeat_interval_ms: u64,
    /// A group member that does not poll for this long leaves the group (`max.poll.interval.ms`).
    pub max_poll_interval_ms: u64,
    /// How long the broker may hold a fetch that has nothing to return (`fetch.wait.max.ms`).
    /// Apache Kafka answers a waiting fetch as soon as data arrives, so this only bounds the idle
    /// fetch rate; brokers that re-check storage on a timer (nisshi) also add up to about half of
    /// it to the tail latency of reads.
    pub fetch_wait_max_ms: u64,
    /// How long the producer waits for more records before sending a request (`linger.ms`). The
    /// records of one append are enqueued back to back, so a short linger sends them together.
    pub linger_ms: u64,
    /// Idle reader consumers kept per partition between reads (each is a librdkafka client that
    /// keeps following its partition, so the next read finds its records already fetched).
    pub idle_readers_per_partition_max: usize,
    /// An idle reader not used for this long is closed: it keeps fetching its partition's tail
    /// (a request per `fetch_wait_max_ms`), which is waste once nobody reads that partition.
    pub reader_idle_timeout_ms: u64,
}

impl KafkaSettings {
    /// Settings for the cluster at `brokers` (comma-separated `host:port`), with defaults for the
    /// rest.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            ..Self::default()
        }
    }
}

impl Default for KafkaSettings {
    /// Production defaults, with an empty broker list that must be filled in.
    fn default() -> Self {
        Self {
            brokers: String::new(),
            replication_factor: DEFAULT_REPLICATION_FACTOR,
            transactions: false,
            transactional_id_prefix: DEFAULT_TRANSACTIONAL_ID_PREFIX.to_owned(),
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            message_timeout_ms: DEFAULT_MESSAGE_TIMEOUT_MS,
            transaction_timeout_ms: DEFAULT_TRANSACTION_TIMEOUT_MS,
            transaction_call_timeout_ms: DEFAULT_TRANSACTION_CALL_TIMEOUT_MS,
            session_timeout_ms: DEFAULT_SESSION_TIMEOUT_MS,
            heartbeat_interval_ms: DEFAULT_HEARTBEAT_INTERVAL_MS,
            max_poll_interval_ms: DEFAULT_MAX_POLL_INTERVAL_MS,
            fetch_wait_max_ms: DEFAULT_FETCH_WAIT_MAX_MS,
            linger_ms: DEFAULT_LINGER_MS,
            idle_readers_per_partition_max: DEFAULT_IDLE_READERS_PER_PARTITION_MAX,
            reader_idle_timeout_ms: DEFAULT_READER_IDLE_TIMEOUT_MS,
        }
    }
}
