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
pub use process::{EngineError, Signal, java};

use tokio::sync::OnceCell;

static SHARED_KAFKA: OnceCell<KafkaCluster> = OnceCell::const_new();
static SHARED_CASSANDRA: OnceCell<CassandraNode> = OnceCell::const_new();

/// One single-node Kafka for every test of this process that asks for it, started by the first.
/// Never dropped (a static): its guardian kills it when the process exits. Panics, naming the
/// cause, when it cannot start: the calling test fails.
pub async fn shared_kafka() -> &'static KafkaCluster {
    SHARED_KAFKA
        .get_or_init(|| async {
            let broker = KafkaCluster::single()
                .await
                .unwrap_or_else(|e| panic!("starting Apache Kafka {KAFKA_VERSION}: {e}"));
            announce(&format!(
                "engine: Apache Kafka {KAFKA_VERSION} (KRaft, 1 node, shared) at {}",
                broker.bootstrap()
            ));
            broker
        })
        .await
}

/// One Cassandra node for every test of this process that asks for it, as [`shared_kafka`].
pub async fn shared_cassandra() -> &'static CassandraNode {
    SHARED_CASSANDRA
        .get_or_init(|| async {
            let node = CassandraNode::start()
                .await
                .unwrap_or_else(|e| panic!("starting Apache Cassandra {CASSANDRA_VERSION}: {e}"));
            announce(&format!(
                "engine: Apache Cassandra {} (1 node, shared) at {}",
                node.release_version(),
                node.contact_point()
            ));
            node
        })
        .await
}

/// Writes `line` to the process's real stderr, past the test harness's output capture (which
/// takes only `print!`-style macros), so that every run shows which engine it used even when
/// the test passes.
pub fn announce(line: &str) {
    use std::io::Write as _;
    // Nothing useful to do if stderr is gone.
    let _ = writeln!(std::io::stderr(), "{line}");
}
