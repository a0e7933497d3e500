//! Layered configuration: defaults → TOML file → `PURSE_*` environment → command-line flags
//! (applied by each `main`). Invalid configuration is reported once, clearly; `main` exits 64.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rust_decimal::Decimal;

use serde::Deserialize;

use crate::env::CONFIG_KEYS;

/// Exit code for invalid configuration (EX_USAGE).
pub const EXIT_CONFIG: i32 = 64;

/// Settings of a Purse node.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// gRPC listen address.
    pub listen: SocketAddr,
    /// Directory of the embedded log and store and of the token key.
    pub data_dir: PathBuf,
    /// Partitions of each event topic (one shard worker and one projector task each).
    pub partitions: u32,
    /// Most commands decided and appended together (the group commit).
    pub batch_max_commands: usize,
    /// Queued commands per shard before callers wait.
    pub command_queue_capacity: usize,
    /// How long a call waits for its reply; the client then retries with the same key.
    pub reply_timeout_ms: u64,
    /// Longest wait of a query for `min_sequence`.
    pub read_your_writes_timeout_ms: u64,
    /// How long idempotency keys are remembered (documented for clients: 7 days).
    pub idempotency_retention_ms: i64,
    /// Lead time of "expiring soon" notices.
    pub expiring_notice_lead_ms: i64,
    /// Largest accepted gRPC request.
    pub max_request_bytes: usize,
    /// Most operations in one BatchExecute.
    pub batch_execute_max_operations: usize,
    /// Log filter.
    pub log: String,
    /// This instance's id in cluster mode: names its consumer-group member and its reply
    /// partition. Empty: a fresh id per start (`instance-<uuid>`), which is what a stateless
    /// replica wants; set it to keep the id across restarts.
    pub instance_id: String,
    /// Partitions of the reply topic (`purse.replies`); instances hash onto them by id.
    pub reply_partitions: u32,
    /// Address of the Prometheus `/metrics` endpoint; none when absent.
    pub metrics_listen: Option<SocketAddr>,
    /// Token signing key file; default `token.key` in the data directory. Every instance of a
    /// cluster must share it.
    pub token_key_file: Option<PathBuf>,
    /// The event log: embedded SQLite unless Kafka brokers are named.
    pub kafka: KafkaConfig,
    /// The read store: `sqlite` (in the data directory) or `scylla` (nodes and keyspace from the
    /// `PURSE_SCYLLA_*` variables).
    pub store: StoreKind,
    /// Whether the projector applies pending ScyllaDB schema migrations when it starts (otherwise
    /// a deployment runs `purse-projector migrate` first).
    pub scylla_migrate_on_start: bool,
    /// The `[topups]` section.
    pub topups: TopUpsConfig,
    /// The `[payments]` section.
    pub payments: PaymentsConfig,
}

/// The `[topups]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopUpsConfig {
    /// How long a payer has to pay a top-up (its `expires_at` is this after creation).
    pub timeout_ms: i64,
    /// The fee, a percentage of the amount paid as a decimal string (`"2.5"`); recorded on the
    /// top-up for settlement, never deducted from the credit.
    pub fee_percent: String,
    /// Public base URL of the hosted checkout pages (`https://pay.example.com`); empty means the
    /// payments HTTP listener's own address, which suits all-in-one and tests.
    pub checkout_base_url: String,
}

impl Default for TopUpsConfig {
    fn default() -> Self {
        Self {
            timeout_ms: 5 * 60_000,
            fee_percent: "0".to_owned(),
            checkout_base_url: String::new(),
        }
    }
}

/// The `[payments]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentsConfig {
    /// Address of the HTTP listener: hosted checkout pages, provider webhooks, health.
    pub http_listen: SocketAddr,
    /// Provider adapter; `simulator` (test mode, DESIGN §7) is the one built in.
    pub provider: String,
    /// File holding the provider's webhook signing secret; default `webhook.key` in the data
    /// directory, created on first start in test mode.
    pub webhook_secret_file: Option<PathBuf>,
    /// How old a webhook's signed timestamp may be (either way) before it is rejected.
    pub webhook_tolerance_ms: i64,
    /// How long the simulator's delayed test card takes to succeed.
    pub simulator_delay_ms: u64,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        Self {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            provider: "simulator".to_owned(),
            webhook_secret_file: None,
            webhook_tolerance_ms: 5 * 60_000,
            simulator_delay_ms: 10_000,
        }
    }
}

/// Which read store to use.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// `store.db` in the data directory (all-in-one, single-machine clusters, tests).
    Sqlite,
    /// A ScyllaDB cluster.
    Scylla,
}

/// The `[kafka]` section (cluster mode).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, comma-separated `host:port`; empty means the embedded log.
    pub brokers: String,
    /// Replication factor of the topics Purse creates (3 for production; 1 on a single broker).
    pub replication_factor: u16,
    /// Whether the broker offers transactions (Apache Kafka does; DESIGN §4): losers are then
    /// normally never visible. Correctness does not depend on it.
    pub transactions: bool,
    /// A group member silent for this long loses its partitions: the failover time after a
    /// crash or a pause (heartbeats go every third of it).
    pub session_timeout_ms: u64,
    /// Longest time a broker may hold an empty fetch (`fetch.wait.max.ms`). Apache Kafka answers
    /// as soon as data arrives, so this only bounds idle fetches; brokers that re-check on a
    /// timer (nisshi) add up to about half of it to every tail read, so lower it for them.
    pub fetch_wait_max_ms: u64,
    /// With transactions: how long the broker lets a transaction stay open before aborting it.
    /// A writer paused mid-transaction (SIGSTOP, a long GC) holds back every `read_committed`
    /// reader of that partition, the new owner's read-back included, for up to this long, since
    /// instances write under their own `transactional.id`s and cannot abort each other's. The
    /// producers' delivery timeout is capped at it.
    pub transaction_timeout_ms: u64,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: String::new(),
            replication_factor: 3,
            transactions: false,
            session_timeout_ms: 10_000,
            fetch_wait_max_ms: 100,
            transaction_timeout_ms: 60_000,
        }
    }
}

impl KafkaConfig {
    /// Whether Kafka brokers are configured (cluster mode).
    pub fn is_enabled(&self) -> bool {
        !self.brokers.trim().is_empty()
    }
}

impl Default for Config {
    fn default() -> Self {
        const DAY_MS: i64 = 86_400_000;
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            data_dir: PathBuf::from("purse-data"),
            partitions: 8,
            batch_max_commands: 1024,
            command_queue_capacity: 4096,
            reply_timeout_ms: 10_000,
            read_your_writes_timeout_ms: 5_000,
            idempotency_retention_ms: 7 * DAY_MS,
            expiring_notice_lead_ms: 7 * DAY_MS,
            max_request_bytes: 4 * 1024 * 1024,
            batch_execute_max_operations: 1000,
            log: "info".to_owned(),
            instance_id: String::new(),
            reply_partitions: 16,
            metrics_listen: None,
            token_key_file: None,
            kafka: KafkaConfig::default(),
            store: StoreKind::Sqlite,
            scylla_migrate_on_start: false,
            topups: TopUpsConfig::default(),
            payments: PaymentsConfig::default(),
        }
    }
}

/// What is wrong with the configuration.
#[derive(thiserror::Error, Debug)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file, or a variable, does not parse into the settings.
    #[error("invalid configuration: {0}")]
    Parse(#[from] toml::de::Error),
    /// A value is out of its range.
    #[error("invalid configuration: {key} {problem}")]
    Invalid {
        /// The setting.
        key: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
}

impl Config {
    /// Defaults, then the file (if any), then the `PURSE_*` variables of `environment`.
    pub fn load(
        file: Option<&Path>,
        environment: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                text.parse::<toml::Table>()?
            }
            None => toml::Table::new(),
        };
        for (variable, key) in CONFIG_KEYS {
            if let Some(value) = environment(variable) {
                insert_dotted(&mut table, key, environment_value(&value));
            }
        }
        let mut config: Config = toml::Value::Table(table).try_into()?;
        config.validate()?;
        if config.instance_id.is_empty() {
            config.instance_id = format!("instance-{}", uuid::Uuid::now_v7());
        }
        Ok(config)
    }

    /// The token key file in effect.
    pub fn token_key_path(&self) -> PathBuf {
        self.token_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("token.key"))
    }

    /// The webhook signing secret file in effect.
    pub fn webhook_secret_path(&self) -> PathBuf {
        self.payments
            .webhook_secret_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("webhook.key"))
    }

    /// The top-up fee as a percentage (validated by [`Config::validate`]).
    pub fn top_up_fee_percent(&self) -> Decimal {
        Decimal::from_str(self.topups.fee_percent.trim()).unwrap_or_default()
    }

    /// Checks every range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, problem| Err(ConfigError::Invalid { key, problem });
        if !(1..=1024).contains(&self.partitions) {
            return invalid("partitions", "must be 1..=1024");
        }
        if !(1..=65_536).contains(&self.batch_max_commands) {
            return invalid("batch_max_commands", "must be 1..=65536");
        }
        if self.command_queue_capacity == 0 {
            return invalid("command_queue_capacity", "must be at least 1");
        }
        if self.reply_timeout_ms == 0 {
            return invalid("reply_timeout_ms", "must be at least 1");
        }
        if self.idempotency_retention_ms < 60_000 {
            return invalid("idempotency_retention_ms", "must be at least 60000");
        }
        if self.expiring_notice_lead_ms < 0 {
            return invalid("expiring_notice_lead_ms", "must not be negative");
        }
        if !(1..=10_000).contains(&self.batch_execute_max_operations) {
            return invalid("batch_execute_max_operations", "must be 1..=10000");
        }
        if self.max_request_bytes < 1024 {
            return invalid("max_request_bytes", "must be at least 1024");
        }
        if !(1..=1024).contains(&self.reply_partitions) {
            return invalid("reply_partitions", "must be 1..=1024");
        }
        if self.instance_id.len() > 200 {
            return invalid("instance_id", "must be at most 200 bytes");
        }
        if !(1..=16).contains(&self.kafka.replication_factor) {
            return invalid("kafka.replication_factor", "must be 1..=16");
        }
        if !(1..=10_000).contains(&self.kafka.fetch_wait_max_ms) {
            return invalid("kafka.fetch_wait_max_ms", "must be 1..=10000");
        }
        // Kafka's default transaction.max.timeout.ms is 15 minutes.
        if !(5_000..=900_000).contains(&self.kafka.transaction_timeout_ms) {
            return invalid("kafka.transaction_timeout_ms", "must be 5000..=900000");
        }
        if !(1_000..=300_000).contains(&self.kafka.session_timeout_ms) {
            return invalid("kafka.session_timeout_ms", "must be 1000..=300000");
        }
        if !(1_000..=86_400_000).contains(&self.topups.timeout_ms) {
            return invalid("topups.timeout_ms", "must be 1000..=86400000");
        }
        match Decimal::from_str(self.topups.fee_percent.trim()) {
            Ok(fee) if fee >= Decimal::ZERO && fee <= Decimal::ONE_HUNDRED => {}
            _ => return invalid("topups.fee_percent", "must be a decimal 0..=100"),
        }
        if self.payments.provider != "simulator" {
            return invalid(
                "payments.provider",
                "must be simulator (the only adapter built in)",
            );
        }
        if !(1_000..=3_600_000).contains(&self.payments.webhook_tolerance_ms) {
            return invalid("payments.webhook_tolerance_ms", "must be 1000..=3600000");
        }
        if self.payments.simulator_delay_ms > 3_600_000 {
            return invalid("payments.simulator_delay_ms", "must be at most 3600000");
        }
        Ok(())
    }
}

/// Sets `section.key` (or a top-level `key`) in `table`, creating the section if needed.
fn insert_dotted(table: &mut toml::Table, key: &str, value: toml::Value) {
    match key.split_once('.') {
        Some((section, rest)) => {
            let entry = table
                .entry(section.to_owned())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(inner) = entry {
                insert_dotted(inner, rest, value);
            }
        }
        None => {
            table.insert(key.to_owned(), value);
        }
    }
}

/// Numbers and booleans keep their type so typed fields parse; everything else is a string.
fn environment_value(text: &str) -> toml::Value {
    if let Ok(number) = text.parse::<i64>() {
        return toml::Value::Integer(number);
    }
    match text {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order_file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("purse.toml");
        std::fs::write(&file, "partitions = 4\nreply_timeout_ms = 2000\n").unwrap();
        let env = |name: &str| (name == "PURSE_PARTITIONS").then(|| "2".to_owned());
        let config = Config::load(Some(&file), env).unwrap();
        assert_eq!(config.partitions, 2);
        assert_eq!(config.reply_timeout_ms, 2000);
        assert_eq!(
            config.batch_max_commands,
            Config::default().batch_max_commands
        );
    }

    #[test]
    fn kafka_section_comes_from_file_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("purse.toml");
        std::fs::write(&file, "[kafka]\nreplication_factor = 1\n").unwrap();
        let env = |name: &str| match name {
            "PURSE_KAFKA_BROKERS" => Some("127.0.0.1:9092".to_owned()),
            "PURSE_KAFKA_TRANSACTIONS" => Some("true".to_owned()),
            _ => None,
        };
        let config = Config::load(Some(&file), env).unwrap();
        assert!(config.kafka.is_enabled());
        assert_eq!(config.kafka.brokers, "127.0.0.1:9092");
        assert_eq!(config.kafka.replication_factor, 1);
        assert!(config.kafka.transactions);
        assert!(config.instance_id.starts_with("instance-"));
        assert!(!Config::load(None, |_| None).unwrap().kafka.is_enabled());
    }

    #[test]
    fn unknown_keys_and_bad_ranges_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("purse.toml");
        std::fs::write(&file, "partitons = 4\n").unwrap();
        assert!(matches!(
            Config::load(Some(&file), |_| None),
            Err(ConfigError::Parse(_))
        ));
        let env = |name: &str| (name == "PURSE_PARTITIONS").then(|| "0".to_owned());
        assert!(matches!(
            Config::load(None, env),
            Err(ConfigError::Invalid {
                key: "partitions",
                ..
            })
        ));
        let env = |name: &str| (name == "PURSE_LISTEN").then(|| "not-an-address".to_owned());
        assert!(matches!(
            Config::load(None, env),
            Err(ConfigError::Parse(_))
        ));
    }
}
