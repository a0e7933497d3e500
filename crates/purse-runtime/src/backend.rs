//! Choosing the event log and the read store from configuration: the embedded SQLite files in
//! the data directory by default, Kafka when brokers are named, ScyllaDB when `store = scylla`.

use std::sync::Arc;

use purse_log::{EventLog, LogError, SqliteLog, SqliteLogOptions};
use purse_log_kafka::{KafkaLog, KafkaSettings};
use purse_store::{ReadStore, SqliteStore, StoreError};
use purse_store_scylla::{
    ConnectError, MigrateError, ScyllaSettings, ScyllaStore, SettingsError, migrate, open_session,
};
use tracing::info;

use crate::config::{Config, StoreKind};

/// Why the read store could not be opened.
#[derive(thiserror::Error, Debug)]
pub enum BackendError {
    /// The embedded store failed to open.
    #[error("read store: {0}")]
    Store(#[from] StoreError),
    /// The `PURSE_SCYLLA_*` settings are missing or invalid.
    #[error("ScyllaDB settings: {0}")]
    ScyllaSettings(#[from] SettingsError),
    /// ScyllaDB is unreachable, or its schema is missing or behind.
    #[error("ScyllaDB: {0}")]
    ScyllaConnect(#[from] ConnectError),
    /// A schema migration failed.
    #[error("ScyllaDB migration: {0}")]
    ScyllaMigrate(#[from] MigrateError),
}

/// Opens the embedded log, `log.db` in the data directory.
pub fn open_embedded_log<S>(config: &Config<S>) -> Result<Arc<dyn EventLog>, LogError> {
    let path = config.data_dir.join("log.db");
    Ok(Arc::new(SqliteLog::open(
        &path,
        SqliteLogOptions::default(),
    )?))
}

/// Opens the event log the configuration names.
pub fn open_log<S>(config: &Config<S>) -> Result<Arc<dyn EventLog>, LogError> {
    if !config.kafka.is_enabled() {
        return open_embedded_log(config);
    }
    let kafka = &config.kafka;
    let settings = KafkaSettings {
        brokers: kafka.brokers.join(","),
        replication_factor: kafka.replication_factor,
        transactions: kafka.transactions,
        // Command and reply partitions have many writers; a per-instance prefix keeps them from
        // fencing each other. A stale event writer is then caught by first writer wins, not by
        // fencing (DESIGN §4: correctness rests on the sequence).
        transactional_id_prefix: format!("purse-{}", config.instance_id),
        client_id: format!("purse-{}", config.instance_id),
        session_timeout_ms: kafka.session_timeout_ms,
        heartbeat_interval_ms: (kafka.session_timeout_ms / 3).max(100),
        fetch_wait_max_ms: kafka.fetch_wait_max_ms,
        transaction_timeout_ms: kafka.transaction_timeout_ms,
        // A record may not outlive the transaction it was sent in.
        message_timeout_ms: purse_log_kafka::DEFAULT_MESSAGE_TIMEOUT_MS
            .min(kafka.transaction_timeout_ms),
        ..KafkaSettings::default()
    };
    Ok(Arc::new(KafkaLog::new(settings)?))
}

/// The ScyllaDB settings of the environment (`PURSE_SCYLLA_*`).
pub fn scylla_settings() -> Result<ScyllaSettings, SettingsError> {
    ScyllaSettings::from_lookup(|key| std::env::var(key).ok())
}

/// Applies pending ScyllaDB migrations; returns the versions applied now.
pub async fn migrate_scylla() -> Result<Vec<u32>, BackendError> {
    let settings = scylla_settings()?;
    let session = open_session(&settings).await?;
    let applied = migrate(&session, &settings).await?;
    info!(
        keyspace = settings.keyspace,
        ?applied,
        "ScyllaDB schema current"
    );
    Ok(applied)
}

/// Opens the read store the configuration names.
pub async fn open_store<S>(config: &Config<S>) -> Result<Arc<dyn ReadStore>, BackendError> {
    match config.store {
        StoreKind::Sqlite => Ok(Arc::new(SqliteStore::open(
            &config.data_dir.join("store.db"),
        )?)),
        StoreKind::Scylla => Ok(Arc::new(ScyllaStore::connect(&scylla_settings()?).await?)),
    }
}
