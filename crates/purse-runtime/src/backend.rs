//! Choosing the event log and the read store from configuration: the embedded SQLite files in
//! the data directory by default, Kafka when brokers are named.

use std::sync::Arc;

use purse_log::{EventLog, LogError, SqliteLog, SqliteLogOptions};
use purse_log_kafka::{KafkaLog, KafkaSettings};
use purse_store::{ReadStore, SqliteStore, StoreError};

use crate::config::Config;

/// Opens the event log the configuration names.
pub fn open_log(config: &Config) -> Result<Arc<dyn EventLog>, LogError> {
    if !config.kafka.is_enabled() {
        let path = config.data_dir.join("log.db");
        return Ok(Arc::new(SqliteLog::open(&path, SqliteLogOptions::default())?));
    }
    let kafka = &config.kafka;
    let settings = KafkaSettings {
        brokers: kafka.brokers.clone(),
        replication_factor: kafka.replication_factor,
        transactions: kafka.transactions,
        // Command and reply partitions have many writers; a per-instance prefix keeps them from
        // fencing each other. A stale event writer is then caught by first writer wins, not by
        // fencing (DESIGN §4: correctness rests on the sequence).
        transactional_id_prefix: format!("purse-{}", config.instance_id),
        client_id: format!("purse-{}", config.instance_id),
        session_timeout_ms: kafka.session_timeout_ms,
        heartbeat_interval_ms: (kafka.session_timeout_ms / 3).max(100),
        ..KafkaSettings::default()
    };
    Ok(Arc::new(KafkaLog::new(settings)?))
}

/// Opens the read store the configuration names.
pub fn open_store(config: &Config) -> Result<Arc<dyn ReadStore>, StoreError> {
    Ok(Arc::new(SqliteStore::open(
        &config.data_dir.join("store.db"),
    )?))
}
