//! Real engines for the tests (../shared/TESTING.md): Apache Kafka 4.4 in KRaft mode, as one
//! combined broker + controller or as a three-broker cluster, and a single Apache Cassandra node
//! as the CQL store of the ScyllaDB store's contract suite.
//!
//! Each engine runs from the jars that `scripts/install-test-tools` copied from Maven Central into
//! `~/.cache/purse/tools/<engine>-<version>/lib`, on the machine's Java (17 or later), on free
//! loopback ports, in a temporary directory. It is ready when it answers its protocol (a Kafka
//! metadata request naming every broker, a CQL `SELECT release_version`), never after a sleep.
//! Dropping the handle kills it by pid and removes its directory; a guardian process does the same
//! when the test process exits without dropping it (a `static` shared by the tests of one
//! binary, or a test killed by its runner).

mod cassandra;
mod kafka;
mod process;

pub use cassandra::{CASSANDRA_VERSION, CassandraNode};
pub use kafka::{KAFKA_VERSION, KafkaBroker, KafkaCluster};
pub use process::{EngineError, Signal};

/// Writes `line` to the process's real stderr, past the test harness's output capture (which
/// takes only `print!`-style macros), so that every run shows which engine it used even when
/// the test passes.
pub fn announce(line: &str) {
    use std::io::Write as _;
    // Nothing useful to do if stderr is gone.
    let _ = writeln!(std::io::stderr(), "{line}");
}
