//! The Cassandra harness itself: a node starts, answers CQL and leaves no process behind.

use std::path::PathBuf;

use purse_test_engines::{CASSANDRA_VERSION, CassandraNode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_answers_cql_and_is_gone_after_drop() {
    let node = CassandraNode::start()
        .await
        .unwrap_or_else(|e| panic!("starting Cassandra {CASSANDRA_VERSION}: {e}"));
    purse_test_engines::announce(&format!(
        "engine: Apache Cassandra {} at {}",
        node.release_version(),
        node.contact_point()
    ));
    assert_eq!(node.release_version(), CASSANDRA_VERSION);
    let pid = node.pid().expect("running");
    drop(node);
    assert!(
        !PathBuf::from(format!("/proc/{pid}")).exists(),
        "the node's process is gone after drop"
    );
}
