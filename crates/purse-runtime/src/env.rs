//! Every environment variable Purse reads, in one place.

/// TOML configuration file (same as `--config`).
pub const PURSE_CONFIG: &str = "PURSE_CONFIG";
/// Address the gRPC server listens on.
pub const PURSE_LISTEN: &str = "PURSE_LISTEN";
/// Directory of the embedded log, store and token key.
pub const PURSE_DATA_DIR: &str = "PURSE_DATA_DIR";
/// Partitions of each event topic.
pub const PURSE_PARTITIONS: &str = "PURSE_PARTITIONS";
/// Most commands a shard worker decides and appends together.
pub const PURSE_BATCH_MAX_COMMANDS: &str = "PURSE_BATCH_MAX_COMMANDS";
/// Queued commands per shard before callers wait.
pub const PURSE_COMMAND_QUEUE_CAPACITY: &str = "PURSE_COMMAND_QUEUE_CAPACITY";
/// How long a call waits for its command's reply.
pub const PURSE_REPLY_TIMEOUT_MS: &str = "PURSE_REPLY_TIMEOUT_MS";
/// Longest wait of a query for `min_sequence`.
pub const PURSE_READ_YOUR_WRITES_TIMEOUT_MS: &str = "PURSE_READ_YOUR_WRITES_TIMEOUT_MS";
/// How long idempotency keys are remembered.
pub const PURSE_IDEMPOTENCY_RETENTION_MS: &str = "PURSE_IDEMPOTENCY_RETENTION_MS";
/// Lead time of "expiring soon" notices.
pub const PURSE_EXPIRING_NOTICE_LEAD_MS: &str = "PURSE_EXPIRING_NOTICE_LEAD_MS";
/// Largest accepted gRPC request.
pub const PURSE_MAX_REQUEST_BYTES: &str = "PURSE_MAX_REQUEST_BYTES";
/// Most operations in one BatchExecute.
pub const PURSE_BATCH_EXECUTE_MAX_OPERATIONS: &str = "PURSE_BATCH_EXECUTE_MAX_OPERATIONS";
/// Log filter (tracing EnvFilter syntax), e.g. `info,purse_runtime=debug`.
pub const PURSE_LOG: &str = "PURSE_LOG";

/// This instance's id in cluster mode (consumer-group member and reply partition).
pub const PURSE_INSTANCE_ID: &str = "PURSE_INSTANCE_ID";
/// Partitions of the reply topic.
pub const PURSE_REPLY_PARTITIONS: &str = "PURSE_REPLY_PARTITIONS";
/// Address of the Prometheus `/metrics` endpoint.
pub const PURSE_METRICS_LISTEN: &str = "PURSE_METRICS_LISTEN";
/// Token signing key file, shared by every instance of a cluster.
pub const PURSE_TOKEN_KEY_FILE: &str = "PURSE_TOKEN_KEY_FILE";
/// Kafka bootstrap brokers (`host:port,...`); unset means the embedded log.
pub const PURSE_KAFKA_BROKERS: &str = "PURSE_KAFKA_BROKERS";
/// Replication factor of the topics Purse creates.
pub const PURSE_KAFKA_REPLICATION_FACTOR: &str = "PURSE_KAFKA_REPLICATION_FACTOR";
/// `true` when the brokers offer transactions (Apache Kafka).
pub const PURSE_KAFKA_TRANSACTIONS: &str = "PURSE_KAFKA_TRANSACTIONS";

/// Kafka group session timeout: failover time after a crash or pause.
pub const PURSE_KAFKA_SESSION_TIMEOUT_MS: &str = "PURSE_KAFKA_SESSION_TIMEOUT_MS";

/// Read store: `sqlite` (default) or `scylla` (then `PURSE_SCYLLA_NODES`, `PURSE_SCYLLA_REPLICATION`
/// and the other `PURSE_SCYLLA_*` variables of `purse-store-scylla` apply).
pub const PURSE_STORE: &str = "PURSE_STORE";
/// `true`: the projector applies pending ScyllaDB migrations at start.
pub const PURSE_SCYLLA_MIGRATE_ON_START: &str = "PURSE_SCYLLA_MIGRATE_ON_START";

/// Kafka `fetch.wait.max.ms`: lower it (e.g. 10) on brokers that re-check fetches on a timer.
pub const PURSE_KAFKA_FETCH_WAIT_MAX_MS: &str = "PURSE_KAFKA_FETCH_WAIT_MAX_MS";
/// `kafka.transaction_timeout_ms`.
pub const PURSE_KAFKA_TRANSACTION_TIMEOUT_MS: &str = "PURSE_KAFKA_TRANSACTION_TIMEOUT_MS";

/// What a configuration value is, so that the text a person sets in a `PURSE_*` variable is read
/// as that (a variable set to `3` for a decimal setting is the decimal 3, not an integer that a
/// decimal setting refuses).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// A whole number (`8`, `10_000`).
    Integer,
    /// A decimal number (`3`, `2.5`), kept exact.
    Decimal,
    /// Milliseconds (`5000`), or a number with a unit: `250ms`, `5s`, `2m`, `1h`, `7d`.
    DurationMs,
    /// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`, in any case).
    Bool,
    /// Comma-separated items (`a:9092, b:9092`); blanks are dropped.
    List,
    /// Text as written (addresses, paths, names).
    Text,
}

/// Each environment variable with the config key it sets and the kind of value it takes.
pub(crate) const CONFIG_KEYS: &[(&str, &str, ValueKind)] = &[
    (PURSE_LISTEN, "listen", ValueKind::Text),
    (PURSE_DATA_DIR, "data_dir", ValueKind::Text),
    (PURSE_PARTITIONS, "partitions", ValueKind::Integer),
    (
        PURSE_BATCH_MAX_COMMANDS,
        "batch_max_commands",
        ValueKind::Integer,
    ),
    (
        PURSE_COMMAND_QUEUE_CAPACITY,
        "command_queue_capacity",
        ValueKind::Integer,
    ),
    (
        PURSE_REPLY_TIMEOUT_MS,
        "reply_timeout_ms",
        ValueKind::DurationMs,
    ),
    (
        PURSE_READ_YOUR_WRITES_TIMEOUT_MS,
        "read_your_writes_timeout_ms",
        ValueKind::DurationMs,
    ),
    (
        PURSE_IDEMPOTENCY_RETENTION_MS,
        "idempotency_retention_ms",
        ValueKind::DurationMs,
    ),
    (
        PURSE_EXPIRING_NOTICE_LEAD_MS,
        "expiring_notice_lead_ms",
        ValueKind::DurationMs,
    ),
    (
        PURSE_MAX_REQUEST_BYTES,
        "max_request_bytes",
        ValueKind::Integer,
    ),
    (
        PURSE_BATCH_EXECUTE_MAX_OPERATIONS,
        "batch_execute_max_operations",
        ValueKind::Integer,
    ),
    (PURSE_LOG, "log", ValueKind::Text),
    (PURSE_INSTANCE_ID, "instance_id", ValueKind::Text),
    (
        PURSE_REPLY_PARTITIONS,
        "reply_partitions",
        ValueKind::Integer,
    ),
    (PURSE_METRICS_LISTEN, "metrics_listen", ValueKind::Text),
    (PURSE_TOKEN_KEY_FILE, "token_key_file", ValueKind::Text),
    (PURSE_KAFKA_BROKERS, "kafka.brokers", ValueKind::List),
    (
        PURSE_KAFKA_REPLICATION_FACTOR,
        "kafka.replication_factor",
        ValueKind::Integer,
    ),
    (
        PURSE_KAFKA_TRANSACTIONS,
        "kafka.transactions",
        ValueKind::Bool,
    ),
    (
        PURSE_KAFKA_SESSION_TIMEOUT_MS,
        "kafka.session_timeout_ms",
        ValueKind::DurationMs,
    ),
    (
        PURSE_KAFKA_FETCH_WAIT_MAX_MS,
        "kafka.fetch_wait_max_ms",
        ValueKind::DurationMs,
    ),
    (
        PURSE_KAFKA_TRANSACTION_TIMEOUT_MS,
        "kafka.transaction_timeout_ms",
        ValueKind::DurationMs,
    ),
    (PURSE_STORE, "store", ValueKind::Text),
    (
        PURSE_SCYLLA_MIGRATE_ON_START,
        "scylla_migrate_on_start",
        ValueKind::Bool,
    ),
];
