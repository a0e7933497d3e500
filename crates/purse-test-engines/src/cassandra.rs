//! A single Apache Cassandra node (written by the Cassandra work; placeholder).

/// The Cassandra version `scripts/install-test-tools` installs (`tests/engines/cassandra`).
pub const CASSANDRA_VERSION: &str = "5.0.9";

/// A single Cassandra node on loopback (see the crate docs).
#[derive(Debug)]
pub struct CassandraNode {}
