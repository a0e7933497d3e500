//! Connection settings and the parsers that config code uses to build them from `PURSE_SCYLLA_*`
//! values, each failing with an error that names the offending value.

use std::collections::BTreeMap;

pub use scylla::statement::Consistency;

/// Contact points, comma-separated `host:port` (e.g. `scylla-0:9042,scylla-1:9042`).
pub const ENV_NODES: &str = "PURSE_SCYLLA_NODES";
/// Keyspace holding the read models; default [`DEFAULT_KEYSPACE`].
pub const ENV_KEYSPACE: &str = "PURSE_SCYLLA_KEYSPACE";
/// Replication per datacenter, `dc:rf` pairs separated by commas (e.g. `dc1:3,dc2:3`). Required.
pub const ENV_REPLICATION: &str = "PURSE_SCYLLA_REPLICATION";
/// Consistency of every read and write, e.g. `local_quorum` (the default).
pub const ENV_CONSISTENCY: &str = "PURSE_SCYLLA_CONSISTENCY";
/// The datacenter this process runs in; requests go to its nodes only. Optional.
pub const ENV_LOCAL_DATACENTER: &str = "PURSE_SCYLLA_LOCAL_DC";
/// Bound on each request, retries included.
pub const ENV_REQUEST_TIMEOUT_MS: &str = "PURSE_SCYLLA_REQUEST_TIMEOUT_MS";
/// Bound on opening each connection.
pub const ENV_CONNECT_TIMEOUT_MS: &str = "PURSE_SCYLLA_CONNECT_TIMEOUT_MS";

/// Keyspace used when none is configured.
pub const DEFAULT_KEYSPACE: &str = "purse";
/// Consistency used when none is configured: a majority of the local datacenter's replicas, so a
/// read after a write sees it while another datacenter may be down.
pub const DEFAULT_CONSISTENCY: Consistency = Consistency::LocalQuorum;
/// Default of [`ScyllaSettings::request_timeout_ms`].
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 5_000;
/// Default of [`ScyllaSettings::connect_timeout_ms`].
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Longest keyspace name ScyllaDB accepts.
pub const KEYSPACE_LEN_MAX: usize = 48;

/// How to reach ScyllaDB and how the read-model keyspace is laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScyllaSettings {
    /// Contact points, `host:port` each; the driver discovers the rest of the cluster.
    pub nodes: Vec<String>,
    /// Keyspace of the read models: lower-case letters, digits and `_`, starting with a letter.
    pub keyspace: String,
    /// Replication factor per datacenter (NetworkTopologyStrategy). Used when the keyspace is
    /// created; a keyspace that exists with a different replication is reported, never altered.
    pub replication: BTreeMap<String, u32>,
    /// Consistency of every read and write.
    pub consistency: Consistency,
    /// Datacenter whose nodes serve this process's requests (no failover to other datacenters, as
    /// LOCAL_* consistencies expect). `None`: any node.
    pub local_datacenter: Option<String>,
    /// Bound on each request, retries included.
    pub request_timeout_ms: u64,
    /// Bound on opening each connection.
    pub connect_timeout_ms: u64,
}

impl ScyllaSettings {
    /// Settings with the given nodes and replication and every other field at its default.
    pub fn new(nodes: Vec<String>, replication: BTreeMap<String, u32>) -> ScyllaSettings {
        ScyllaSettings {
            nodes,
            keyspace: DEFAULT_KEYSPACE.to_owned(),
            replication,
            consistency: DEFAULT_CONSISTENCY,
            local_datacenter: None,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
        }
    }

    /// Reads the `PURSE_SCYLLA_*` keys through `lookup` (e.g. `|key| std::env::var(key).ok()`):
    /// [`ENV_NODES`] and [`ENV_REPLICATION`] are required, the rest default.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<ScyllaSettings, SettingsError> {
        let required = |key: &'static str| lookup(key).ok_or(SettingsError::Missing { key });
        let nodes = parse_nodes(&required(ENV_NODES)?)?;
        let replication = parse_replication(&required(ENV_REPLICATION)?)?;
        let mut settings = ScyllaSettings::new(nodes, replication);
        if let Some(keyspace) = lookup(ENV_KEYSPACE) {
            validate_keyspace(&keyspace)?;
            settings.keyspace = keyspace;
        }
        if let Some(name) = lookup(ENV_CONSISTENCY) {
            settings.consistency = parse_consistency(&name)?;
        }
        if let Some(datacenter) = lookup(ENV_LOCAL_DATACENTER) {
            settings.local_datacenter = Some(datacenter.trim().to_owned());
        }
        if let Some(value) = lookup(ENV_REQUEST_TIMEOUT_MS) {
            settings.request_timeout_ms = parse_timeout_ms(ENV_REQUEST_TIMEOUT_MS, &value)?;
        }
        if let Some(value) = lookup(ENV_CONNECT_TIMEOUT_MS) {
            settings.connect_timeout_ms = parse_timeout_ms(ENV_CONNECT_TIMEOUT_MS, &value)?;
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Checks every field (settings built in code rather than parsed get the same checks).
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.nodes.is_empty() {
            return Err(SettingsError::NoNodes);
        }
        for node in &self.nodes {
            validate_node(node)?;
        }
        validate_keyspace(&self.keyspace)?;
        if self.replication.is_empty() {
            return Err(SettingsError::NoReplication);
        }
        for (datacenter, factor) in &self.replication {
            validate_datacenter(datacenter)?;
            if *factor == 0 {
                return Err(SettingsError::InvalidReplicationFactor {
                    datacenter: datacenter.clone(),
                    value: "0".to_owned(),
                });
            }
        }
        check_consistency_usable(self.consistency)?;
        if let Some(datacenter) = &self.local_datacenter {
            validate_datacenter(datacenter)?;
            if !self.replication.contains_key(datacenter) {
                return Err(SettingsError::LocalDatacenterNotReplicated {
                    datacenter: datacenter.clone(),
                });
            }
        }
        if self.request_timeout_ms == 0 {
            return Err(SettingsError::ZeroTimeout {
                field: "request_timeout_ms",
            });
        }
        if self.connect_timeout_ms == 0 {
            return Err(SettingsError::ZeroTimeout {
                field: "connect_timeout_ms",
            });
        }
        Ok(())
    }
}

/// Parses comma-separated `host:port` contact points (`[v6addr]:port` for IPv6).
pub fn parse_nodes(value: &str) -> Result<Vec<String>, SettingsError> {
    let nodes: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|node| !node.is_empty())
        .map(str::to_owned)
        .collect();
    if nodes.is_empty() {
        return Err(SettingsError::NoNodes);
    }
    for node in &nodes {
        validate_node(node)?;
    }
    Ok(nodes)
}

fn validate_node(node: &str) -> Result<(), SettingsError> {
    let invalid = |reason| SettingsError::InvalidNode {
        node: node.to_owned(),
        reason,
    };
    let (host, port) = node.rsplit_once(':').ok_or(invalid("expected host:port"))?;
    if host.is_empty() || host == "[]" {
        return Err(invalid("empty host"));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(invalid("an IPv6 address must be written [address]:port"));
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(invalid("port must be a number from 1 to 65535")),
        Ok(_) => Ok(()),
    }
}

/// Parses a replication map, `dc:rf` pairs separated by commas (`datacenter1:3,dc2:3`).
pub fn parse_replication(value: &str) -> Result<BTreeMap<String, u32>, SettingsError> {
    let mut replication = BTreeMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (datacenter, factor) =
            entry
                .split_once(':')
                .ok_or_else(|| SettingsError::InvalidReplicationEntry {
                    entry: entry.to_owned(),
                })?;
        let datacenter = datacenter.trim();
        validate_datacenter(datacenter)?;
        let factor = factor.trim();
        let parsed = factor
            .parse::<u32>()
            .ok()
            .filter(|f| *f > 0)
            .ok_or_else(|| SettingsError::InvalidReplicationFactor {
                datacenter: datacenter.to_owned(),
                value: factor.to_owned(),
            })?;
        if replication.insert(datacenter.to_owned(), parsed).is_some() {
            return Err(SettingsError::DuplicateDatacenter {
                datacenter: datacenter.to_owned(),
            });
        }
    }
    if replication.is_empty() {
        return Err(SettingsError::NoReplication);
    }
    Ok(replication)
}

/// A datacenter name ends up inside a CQL string literal (the replication map): only characters
/// that need no quoting are accepted.
fn validate_datacenter(datacenter: &str) -> Result<(), SettingsError> {
    let valid = !datacenter.is_empty()
        && datacenter
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if valid {
        Ok(())
    } else {
        Err(SettingsError::InvalidDatacenter {
            datacenter: datacenter.to_owned(),
        })
    }
}

/// Parses a consistency name, case-insensitively: `one`, `two`, `three`, `quorum`, `all`,
/// `local_quorum`, `each_quorum`, `local_one` (`-` may replace `_`). `any`, `serial` and
/// `local_serial` are refused: they cannot serve both the reads and the writes of the store.
pub fn parse_consistency(name: &str) -> Result<Consistency, SettingsError> {
    let normalized = name.trim().to_ascii_lowercase().replace('-', "_");
    let consistency = match normalized.as_str() {
        "one" => Consistency::One,
        "two" => Consistency::Two,
        "three" => Consistency::Three,
        "quorum" => Consistency::Quorum,
        "all" => Consistency::All,
        "local_quorum" => Consistency::LocalQuorum,
        "each_quorum" => Consistency::EachQuorum,
        "local_one" => Consistency::LocalOne,
        "any" => Consistency::Any,
        "serial" => Consistency::Serial,
        "local_serial" => Consistency::LocalSerial,
        _ => {
            return Err(SettingsError::UnknownConsistency {
                name: name.to_owned(),
            });
        }
    };
    check_consistency_usable(consistency)?;
    Ok(consistency)
}

fn check_consistency_usable(consistency: Consistency) -> Result<(), SettingsError> {
    let reason = match consistency {
        Consistency::Any => "ANY only applies to writes; reads would fail",
        Consistency::Serial | Consistency::LocalSerial => {
            "SERIAL levels are for lightweight transactions, which the read models do not use"
        }
        Consistency::EachQuorum => "EACH_QUORUM only applies to writes; reads would fail",
        _ => return Ok(()),
    };
    Err(SettingsError::UnsupportedConsistency {
        consistency: format!("{consistency:?}"),
        reason,
    })
}

/// Checks a keyspace name: 1 to [`KEYSPACE_LEN_MAX`] lower-case ASCII letters, digits or `_`,
/// starting with a letter. Lower case only, because unquoted CQL identifiers are folded to lower
/// case and the name is also used in quoted form (system tables).
pub fn validate_keyspace(keyspace: &str) -> Result<(), SettingsError> {
    let invalid = |reason| SettingsError::InvalidKeyspace {
        keyspace: keyspace.to_owned(),
        reason,
    };
    if keyspace.is_empty() || keyspace.len() > KEYSPACE_LEN_MAX {
        return Err(invalid("must be 1 to 48 characters"));
    }
    if !keyspace.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(invalid("must start with a lower-case letter"));
    }
    if !keyspace
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(invalid(
            "may hold only lower-case letters, digits and underscores",
        ));
    }
    Ok(())
}

fn parse_timeout_ms(key: &'static str, value: &str) -> Result<u64, SettingsError> {
    match value.trim().parse::<u64>() {
        Ok(0) => Err(SettingsError::ZeroTimeout { field: key }),
        Ok(ms) => Ok(ms),
        Err(_) => Err(SettingsError::InvalidNumber {
            key,
            value: value.to_owned(),
        }),
    }
}

/// A setting that cannot be used; each variant names the value at fault.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SettingsError {
    /// A required key has no value.
    #[error("{key} is not set")]
    Missing {
        /// The environment key.
        key: &'static str,
    },
    /// No contact point.
    #[error("no ScyllaDB node given (expected host:port[,host:port...])")]
    NoNodes,
    /// A contact point that is not `host:port`.
    #[error("ScyllaDB node {node:?}: {reason}")]
    InvalidNode {
        /// The value given.
        node: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A keyspace name that cannot be used unquoted.
    #[error("keyspace {keyspace:?}: {reason}")]
    InvalidKeyspace {
        /// The value given.
        keyspace: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An empty replication map.
    #[error("no replication given (expected datacenter:factor[,datacenter:factor...])")]
    NoReplication,
    /// A replication entry that is not `datacenter:factor`.
    #[error("replication entry {entry:?} is not datacenter:factor")]
    InvalidReplicationEntry {
        /// The entry given.
        entry: String,
    },
    /// A datacenter name with characters other than ASCII letters, digits, `_`, `-` and `.`.
    #[error(
        "datacenter name {datacenter:?} is empty or has characters other than A-Z a-z 0-9 _ - ."
    )]
    InvalidDatacenter {
        /// The value given.
        datacenter: String,
    },
    /// A replication factor that is not a whole number of at least 1.
    #[error(
        "replication factor {value:?} for datacenter {datacenter:?} is not a whole number of at least 1"
    )]
    InvalidReplicationFactor {
        /// The datacenter.
        datacenter: String,
        /// The value given.
        value: String,
    },
    /// The same datacenter twice in the replication map.
    #[error("datacenter {datacenter:?} appears twice in the replication map")]
    DuplicateDatacenter {
        /// The datacenter.
        datacenter: String,
    },
    /// A consistency name that is not a CQL consistency level.
    #[error(
        "unknown consistency {name:?} (expected one of one, two, three, quorum, all, local_quorum, local_one)"
    )]
    UnknownConsistency {
        /// The value given.
        name: String,
    },
    /// A real consistency level that cannot serve the store.
    #[error("consistency {consistency} cannot be used: {reason}")]
    UnsupportedConsistency {
        /// The level.
        consistency: String,
        /// Why.
        reason: &'static str,
    },
    /// The local datacenter has no replicas, so LOCAL_* requests there could never succeed.
    #[error("local datacenter {datacenter:?} is not in the replication map")]
    LocalDatacenterNotReplicated {
        /// The datacenter.
        datacenter: String,
    },
    /// A value that is not a whole number.
    #[error("{key}={value:?} is not a whole number")]
    InvalidNumber {
        /// The environment key.
        key: &'static str,
        /// The value given.
        value: String,
    },
    /// A timeout of zero, which would fail every request.
    #[error("{field} must be at least 1")]
    ZeroTimeout {
        /// The field or environment key.
        field: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |key| map.get(key).cloned()
    }

    #[test]
    fn settings_from_env_with_defaults() {
        let settings = ScyllaSettings::from_lookup(env(&[
            (ENV_NODES, "scylla-0:9042, scylla-1:9042,"),
            (ENV_REPLICATION, "datacenter1:3"),
        ]))
        .expect("valid");
        assert_eq!(settings.nodes, ["scylla-0:9042", "scylla-1:9042"]);
        assert_eq!(settings.keyspace, "purse");
        assert_eq!(
            settings.replication,
            BTreeMap::from([("datacenter1".to_owned(), 3)])
        );
        assert_eq!(settings.consistency, Consistency::LocalQuorum);
        assert_eq!(settings.local_datacenter, None);
        assert_eq!(settings.request_timeout_ms, DEFAULT_REQUEST_TIMEOUT_MS);
        assert_eq!(settings.connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS);
    }

    #[test]
    fn settings_from_env_with_every_key() {
        let settings = ScyllaSettings::from_lookup(env(&[
            (ENV_NODES, "[::1]:9042"),
            (ENV_REPLICATION, "dc1:3,dc2:2"),
            (ENV_KEYSPACE, "purse_eu"),
            (ENV_CONSISTENCY, "QUORUM"),
            (ENV_LOCAL_DATACENTER, "dc2"),
            (ENV_REQUEST_TIMEOUT_MS, "2500"),
            (ENV_CONNECT_TIMEOUT_MS, "1000"),
        ]))
        .expect("valid");
        assert_eq!(settings.keyspace, "purse_eu");
        assert_eq!(settings.consistency, Consistency::Quorum);
        assert_eq!(settings.local_datacenter.as_deref(), Some("dc2"));
        assert_eq!(settings.request_timeout_ms, 2500);
        assert_eq!(settings.connect_timeout_ms, 1000);
    }

    #[test]
    fn missing_and_invalid_env_values_are_named() {
        assert_eq!(
            ScyllaSettings::from_lookup(env(&[(ENV_REPLICATION, "dc1:1")])),
            Err(SettingsError::Missing { key: ENV_NODES })
        );
        assert_eq!(
            ScyllaSettings::from_lookup(env(&[(ENV_NODES, "a:9042")])),
            Err(SettingsError::Missing {
                key: ENV_REPLICATION
            })
        );
        assert_eq!(
            ScyllaSettings::from_lookup(env(&[
                (ENV_NODES, "a:9042"),
                (ENV_REPLICATION, "dc1:1"),
                (ENV_LOCAL_DATACENTER, "dc9"),
            ])),
            Err(SettingsError::LocalDatacenterNotReplicated {
                datacenter: "dc9".to_owned()
            })
        );
        assert_eq!(
            ScyllaSettings::from_lookup(env(&[
                (ENV_NODES, "a:9042"),
                (ENV_REPLICATION, "dc1:1"),
                (ENV_REQUEST_TIMEOUT_MS, "soon"),
            ])),
            Err(SettingsError::InvalidNumber {
                key: ENV_REQUEST_TIMEOUT_MS,
                value: "soon".to_owned()
            })
        );
        assert_eq!(
            ScyllaSettings::from_lookup(env(&[
                (ENV_NODES, "a:9042"),
                (ENV_REPLICATION, "dc1:1"),
                (ENV_CONNECT_TIMEOUT_MS, "0"),
            ])),
            Err(SettingsError::ZeroTimeout {
                field: ENV_CONNECT_TIMEOUT_MS
            })
        );
    }

    #[test]
    fn replication_maps_parse() {
        assert_eq!(
            parse_replication("datacenter1:3,dc2:3").expect("valid"),
            BTreeMap::from([("datacenter1".to_owned(), 3), ("dc2".to_owned(), 3)])
        );
        assert_eq!(
            parse_replication(" eu-west-1 : 2 ,").expect("valid"),
            BTreeMap::from([("eu-west-1".to_owned(), 2)])
        );
    }

    #[test]
    fn malformed_replication_maps_are_refused_precisely() {
        assert_eq!(parse_replication(""), Err(SettingsError::NoReplication));
        assert_eq!(parse_replication(" , "), Err(SettingsError::NoReplication));
        assert_eq!(
            parse_replication("dc1"),
            Err(SettingsError::InvalidReplicationEntry {
                entry: "dc1".to_owned()
            })
        );
        for factor in ["0", "-1", "three", ""] {
            assert_eq!(
                parse_replication(&format!("dc1:{factor}")),
                Err(SettingsError::InvalidReplicationFactor {
                    datacenter: "dc1".to_owned(),
                    value: factor.to_owned()
                }),
                "factor {factor:?}"
            );
        }
        assert_eq!(
            parse_replication("dc1:3,dc1:2"),
            Err(SettingsError::DuplicateDatacenter {
                datacenter: "dc1".to_owned()
            })
        );
        for datacenter in ["", "dc'1", "dc 1", "dc}"] {
            assert_eq!(
                parse_replication(&format!("{datacenter}:3")),
                Err(SettingsError::InvalidDatacenter {
                    datacenter: datacenter.to_owned()
                }),
                "datacenter {datacenter:?}"
            );
        }
    }

    #[test]
    fn consistency_names_parse() {
        for (name, expected) in [
            ("local_quorum", Consistency::LocalQuorum),
            ("LOCAL_QUORUM", Consistency::LocalQuorum),
            ("local-quorum", Consistency::LocalQuorum),
            (" quorum ", Consistency::Quorum),
            ("one", Consistency::One),
            ("two", Consistency::Two),
            ("three", Consistency::Three),
            ("all", Consistency::All),
            ("local_one", Consistency::LocalOne),
        ] {
            assert_eq!(parse_consistency(name), Ok(expected), "{name:?}");
        }
        assert_eq!(
            parse_consistency("strong"),
            Err(SettingsError::UnknownConsistency {
                name: "strong".to_owned()
            })
        );
        for name in ["any", "serial", "local_serial", "each_quorum"] {
            assert!(
                matches!(
                    parse_consistency(name),
                    Err(SettingsError::UnsupportedConsistency { .. })
                ),
                "{name:?}"
            );
        }
    }

    #[test]
    fn nodes_parse_and_malformed_nodes_are_refused() {
        assert_eq!(
            parse_nodes("a:9042,10.0.0.1:19042,[::1]:9042").expect("valid"),
            ["a:9042", "10.0.0.1:19042", "[::1]:9042"]
        );
        assert_eq!(parse_nodes(" , "), Err(SettingsError::NoNodes));
        for (node, reason) in [
            ("scylla", "expected host:port"),
            (":9042", "empty host"),
            ("a:0", "port must be a number from 1 to 65535"),
            ("a:70000", "port must be a number from 1 to 65535"),
            ("a:b", "port must be a number from 1 to 65535"),
            ("::1:9042", "an IPv6 address must be written [address]:port"),
        ] {
            assert_eq!(
                parse_nodes(node),
                Err(SettingsError::InvalidNode {
                    node: node.to_owned(),
                    reason
                }),
                "{node:?}"
            );
        }
    }

    #[test]
    fn keyspace_names_are_checked() {
        for keyspace in ["purse", "purse_test_2", "p"] {
            assert_eq!(validate_keyspace(keyspace), Ok(()), "{keyspace:?}");
        }
        for keyspace in [
            "",
            "Purse",
            "2purse",
            "_purse",
            "purse-eu",
            "purse;drop",
            &"p".repeat(49),
        ] {
            assert!(
                matches!(
                    validate_keyspace(keyspace),
                    Err(SettingsError::InvalidKeyspace { .. })
                ),
                "{keyspace:?}"
            );
        }
    }

    #[test]
    fn settings_built_in_code_are_validated() {
        let valid = ScyllaSettings::new(
            vec!["a:9042".to_owned()],
            BTreeMap::from([("dc1".to_owned(), 1)]),
        );
        assert_eq!(valid.validate(), Ok(()));
        let mut no_nodes = valid.clone();
        no_nodes.nodes.clear();
        assert_eq!(no_nodes.validate(), Err(SettingsError::NoNodes));
        let mut zero_factor = valid.clone();
        zero_factor.replication.insert("dc2".to_owned(), 0);
        assert!(matches!(
            zero_factor.validate(),
            Err(SettingsError::InvalidReplicationFactor { .. })
        ));
        let mut serial = valid.clone();
        serial.consistency = Consistency::Serial;
        assert!(matches!(
            serial.validate(),
            Err(SettingsError::UnsupportedConsistency { .. })
        ));
        let mut no_timeout = valid;
        no_timeout.request_timeout_ms = 0;
        assert_eq!(
            no_timeout.validate(),
            Err(SettingsError::ZeroTimeout {
                field: "request_timeout_ms"
            })
        );
    }
}
