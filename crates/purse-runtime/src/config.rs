//! Layered configuration: defaults → TOML file → `PURSE_*` environment → command-line flags
//! (applied by each `main`). Invalid configuration is reported once, clearly; `main` exits 64.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rust_decimal::Decimal;

use serde::Deserialize;

use crate::env::{CONFIG_KEYS, ValueKind};

/// Exit code for invalid configuration (EX_USAGE).
pub const EXIT_CONFIG: i32 = 64;

/// Settings of a Purse node: the engine's own, and the services' sections `S`.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config<S = NoSections> {
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
    /// The services' own sections (`[topups]`, `[payments]`, …), declared by the code that
    /// uses them; the engine only loads and validates them.
    #[serde(skip)]
    pub services: S,
}

/// Configuration sections the engine does not know, declared where they are used: their TOML
/// tables, their `PURSE_*` variables and their ranges.
pub trait Sections: serde::de::DeserializeOwned + Default + Clone + std::fmt::Debug {
    /// The top-level TOML tables these sections read (`["topups", "payments"]`).
    const TABLES: &'static [&'static str];
    /// Each environment variable with the dotted key it sets and the kind of value it takes.
    const ENVIRONMENT: &'static [(&'static str, &'static str, ValueKind)];

    /// Checks every range.
    fn validate(&self) -> Result<(), ConfigError>;
}

/// No sections beyond the engine's own (the engine's tests, tools that need only the engine).
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoSections {}

impl Sections for NoSections {
    const TABLES: &'static [&'static str] = &[];
    const ENVIRONMENT: &'static [(&'static str, &'static str, ValueKind)] = &[];

    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
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
    /// Bootstrap brokers, `host:port` each (a list, or one comma-separated string); none means
    /// the embedded log.
    #[serde(deserialize_with = "list_setting")]
    pub brokers: Vec<String>,
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
            brokers: Vec::new(),
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
        !self.brokers.is_empty()
    }
}

impl<S: Default> Default for Config<S> {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            data_dir: PathBuf::from("purse-data"),
            partitions: 8,
            batch_max_commands: 1024,
            command_queue_capacity: 4096,
            reply_timeout_ms: 10_000,
            read_your_writes_timeout_ms: 5_000,
            idempotency_retention_ms: purse_domain::idempotency::DEFAULT_IDEMPOTENCY_RETENTION_MS,
            expiring_notice_lead_ms: 7 * purse_domain::time::MILLIS_PER_DAY,
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
            services: S::default(),
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
    /// A `PURSE_*` variable does not read as the kind of value its setting takes.
    #[error("invalid configuration: {variable}={value:?} {problem}")]
    Environment {
        /// The variable.
        variable: &'static str,
        /// What it was set to.
        value: String,
        /// What it must be.
        problem: &'static str,
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

/// A `PURSE_*` lookup for [`Config::load`] over the given pairs instead of the process
/// environment (tests, and tools that take settings from elsewhere).
pub fn fixed_environment<'a>(
    variables: &'a [(&'a str, &'a str)],
) -> impl Fn(&str) -> Option<String> + 'a {
    |name| {
        variables
            .iter()
            .find(|(variable, _)| *variable == name)
            .map(|(_, value)| (*value).to_owned())
    }
}

impl<S: Sections> Config<S> {
    /// Defaults, then the file (if any), then the `PURSE_*` variables of `environment`.
    pub fn load(
        file: Option<&Path>,
        environment: impl Fn(&str) -> Option<String>,
    ) -> Result<Config<S>, ConfigError> {
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
        for &(variable, key, kind) in CONFIG_KEYS.iter().chain(S::ENVIRONMENT) {
            if let Some(text) = environment(variable) {
                let value =
                    environment_value(kind, &text).map_err(|problem| ConfigError::Environment {
                        variable,
                        value: text.clone(),
                        problem,
                    })?;
                insert_dotted(&mut table, key, value);
            }
        }
        // The services' tables are theirs to refuse unknown keys in; everything else is ours.
        let mut sections = toml::Table::new();
        for &name in S::TABLES {
            if let Some(value) = table.remove(name) {
                sections.insert(name.to_owned(), value);
            }
        }
        let mut config: Config<S> = toml::Value::Table(table).try_into()?;
        config.services = toml::Value::Table(sections).try_into()?;
        config.validate()?;
        config.services.validate()?;
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

/// The value of a `PURSE_*` variable, read as the kind of its setting.
fn environment_value(kind: ValueKind, text: &str) -> Result<toml::Value, &'static str> {
    let trimmed = text.trim();
    Ok(match kind {
        ValueKind::Text => toml::Value::String(text.to_owned()),
        ValueKind::Integer => toml::Value::Integer(
            parse_integer(trimmed).ok_or("must be a whole number (e.g. 8 or 10_000)")?,
        ),
        ValueKind::DurationMs => {
            toml::Value::Integer(parse_duration_ms(trimmed).ok_or(
                "must be milliseconds (e.g. 5000) or a number with a unit: ms, s, m, h or d",
            )?)
        }
        ValueKind::Decimal => {
            let decimal = Decimal::from_str(trimmed)
                .map_err(|_| "must be a decimal number (e.g. 3 or 2.5)")?;
            toml::Value::String(decimal.to_string())
        }
        ValueKind::Bool => toml::Value::Boolean(match trimmed.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return Err("must be true or false"),
        }),
        ValueKind::List => toml::Value::Array(
            split_list(trimmed)
                .into_iter()
                .map(toml::Value::String)
                .collect(),
        ),
    })
}

/// A whole number as TOML writes them: an optional sign, digits, `_` between digits.
fn parse_integer(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let well_formed = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.chars().all(|c| c.is_ascii_digit() || c == '_');
    well_formed
        .then(|| text.replace('_', "").parse().ok())
        .flatten()
}

/// Milliseconds, plain or with a unit suffix; never negative.
fn parse_duration_ms(text: &str) -> Option<i64> {
    const UNITS: &[(&str, i64)] = &[
        ("ms", 1),
        ("s", 1_000),
        ("m", 60_000),
        ("h", 3_600_000),
        ("d", 86_400_000),
    ];
    let (number, factor) = UNITS
        .iter()
        .find_map(|(unit, factor)| Some((text.strip_suffix(unit)?, *factor)))
        .unwrap_or((text, 1));
    let value = parse_integer(number.trim_end())?;
    (value >= 0).then(|| value.checked_mul(factor)).flatten()
}

/// Comma-separated items, trimmed, blanks dropped.
fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Deserialises a decimal setting as people write it in TOML: a string (`"2.5"`), an integer (`3`) or a
/// float (`2.5`, read back through its shortest spelling, which is what was typed).
pub fn decimal_setting<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Decimal, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Text(String),
        Integer(i64),
        Float(f64),
    }
    let text = match Written::deserialize(deserializer)? {
        Written::Text(text) => text,
        Written::Integer(number) => number.to_string(),
        Written::Float(number) => number.to_string(),
    };
    Decimal::from_str(text.trim())
        .map_err(|_| serde::de::Error::custom(format!("{text:?} is not a decimal number")))
}

/// A list setting: a TOML array of strings, or one comma-separated string.
fn list_setting<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Items(Vec<String>),
        Text(String),
    }
    Ok(match Written::deserialize(deserializer)? {
        Written::Items(items) => split_list(&items.join(",")),
        Written::Text(text) => split_list(&text),
    })
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
        let config = Config::<NoSections>::load(Some(&file), env).unwrap();
        assert_eq!(config.partitions, 2);
        assert_eq!(config.reply_timeout_ms, 2000);
        assert_eq!(
            config.batch_max_commands,
            Config::<NoSections>::default().batch_max_commands
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
        let config = Config::<NoSections>::load(Some(&file), env).unwrap();
        assert!(config.kafka.is_enabled());
        assert_eq!(config.kafka.brokers, ["127.0.0.1:9092"]);
        assert_eq!(config.kafka.replication_factor, 1);
        assert!(config.kafka.transactions);
        assert!(config.instance_id.starts_with("instance-"));
        assert!(
            !Config::<NoSections>::load(None, |_| None)
                .unwrap()
                .kafka
                .is_enabled()
        );
    }

    #[test]
    fn unknown_keys_and_bad_ranges_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("purse.toml");
        std::fs::write(&file, "partitons = 4\n").unwrap();
        assert!(matches!(
            Config::<NoSections>::load(Some(&file), |_| None),
            Err(ConfigError::Parse(_))
        ));
        let env = |name: &str| (name == "PURSE_PARTITIONS").then(|| "0".to_owned());
        assert!(matches!(
            Config::<NoSections>::load(None, env),
            Err(ConfigError::Invalid {
                key: "partitions",
                ..
            })
        ));
        let env = |name: &str| (name == "PURSE_LISTEN").then(|| "not-an-address".to_owned());
        assert!(matches!(
            Config::<NoSections>::load(None, env),
            Err(ConfigError::Parse(_))
        ));
    }

    /// `Config::load` with only the given `PURSE_*` variables set.
    fn with_environment(variables: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::<NoSections>::load(None, fixed_environment(variables))
    }

    fn refused(variable: &str, value: &str) -> String {
        match with_environment(&[(variable, value)]) {
            Err(err @ ConfigError::Environment { .. }) => err.to_string(),
            other => panic!("{variable}={value:?} refused by kind, got {other:?}"),
        }
    }

    #[test]
    fn an_integer_setting_takes_digits_with_separators() {
        let config = with_environment(&[("PURSE_PARTITIONS", " 12 ")]).unwrap();
        assert_eq!(config.partitions, 12);
        let config = with_environment(&[("PURSE_MAX_REQUEST_BYTES", "8_388_608")]).unwrap();
        assert_eq!(config.max_request_bytes, 8_388_608);
        assert!(refused("PURSE_PARTITIONS", "4.0").contains("PURSE_PARTITIONS=\"4.0\""));
        refused("PURSE_PARTITIONS", "four");
        refused("PURSE_PARTITIONS", "1__0");
    }

    #[test]
    fn a_duration_setting_takes_milliseconds_or_a_unit() {
        for (text, ms) in [
            ("2500", 2_500),
            ("250ms", 250),
            ("5s", 5_000),
            ("2m", 120_000),
        ] {
            let config = with_environment(&[("PURSE_REPLY_TIMEOUT_MS", text)]).unwrap();
            assert_eq!(config.reply_timeout_ms, ms, "{text}");
        }
        let config = with_environment(&[("PURSE_IDEMPOTENCY_RETENTION_MS", "7d")]).unwrap();
        assert_eq!(config.idempotency_retention_ms, 7 * 86_400_000);
        refused("PURSE_REPLY_TIMEOUT_MS", "-5");
        refused("PURSE_REPLY_TIMEOUT_MS", "5 seconds");
        refused("PURSE_REPLY_TIMEOUT_MS", "1.5s");
    }

    #[test]
    fn a_bool_setting_takes_the_usual_spellings() {
        for (text, expected) in [("true", true), ("TRUE", true), ("1", true), ("yes", true)] {
            let config = with_environment(&[("PURSE_KAFKA_TRANSACTIONS", text)]).unwrap();
            assert_eq!(config.kafka.transactions, expected, "{text}");
        }
        for text in ["false", "False", "0", "no", "off"] {
            let config = with_environment(&[("PURSE_SCYLLA_MIGRATE_ON_START", text)]).unwrap();
            assert!(!config.scylla_migrate_on_start, "{text}");
        }
        assert!(refused("PURSE_KAFKA_TRANSACTIONS", "maybe").contains("true or false"));
    }

    #[test]
    fn a_list_setting_takes_comma_separated_items() {
        let config =
            with_environment(&[("PURSE_KAFKA_BROKERS", " a:9092, b:9092 ,,c:9092 ")]).unwrap();
        assert_eq!(config.kafka.brokers, ["a:9092", "b:9092", "c:9092"]);
        let config = with_environment(&[("PURSE_KAFKA_BROKERS", " , ")]).unwrap();
        assert!(!config.kafka.is_enabled(), "blank items are dropped");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("purse.toml");
        std::fs::write(&file, "[kafka]\nbrokers = [\"a:9092\", \"b:9092\"]\n").unwrap();
        let config = Config::<NoSections>::load(Some(&file), |_| None).unwrap();
        assert_eq!(config.kafka.brokers, ["a:9092", "b:9092"]);
    }

    #[test]
    fn a_string_setting_takes_the_text_as_written() {
        // Digits and booleans stay text where the setting is text.
        let config =
            with_environment(&[("PURSE_INSTANCE_ID", "42"), ("PURSE_LOG", "true")]).unwrap();
        assert_eq!(config.instance_id, "42");
        assert_eq!(config.log, "true");
    }
}
