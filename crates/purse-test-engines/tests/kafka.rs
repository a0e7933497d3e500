//! The Kafka harness itself: clusters start, answer with every broker, and leave no process or
//! directory behind.

use std::path::PathBuf;

use purse_test_engines::{KAFKA_VERSION, KafkaCluster};

fn alive(pid: u32) -> bool {
    PathBuf::from(format!("/proc/{pid}")).exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_starts_and_is_gone_after_drop() {
    let cluster = KafkaCluster::single()
        .await
        .unwrap_or_else(|e| panic!("starting Kafka {KAFKA_VERSION}: {e}"));
    purse_test_engines::announce(&format!(
        "engine: Apache Kafka {KAFKA_VERSION}, 1 node at {}",
        cluster.bootstrap()
    ));
    assert_eq!(cluster.replication_factor(), 1);
    let pid = cluster.pid(0).expect("running");
    assert!(alive(pid));
    drop(cluster);
    assert!(!alive(pid), "the broker process is gone after drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_brokers_start_and_one_restarts() {
    let mut cluster = KafkaCluster::three_brokers()
        .await
        .unwrap_or_else(|e| panic!("starting Kafka {KAFKA_VERSION}: {e}"));
    purse_test_engines::announce(&format!(
        "engine: Apache Kafka {KAFKA_VERSION}, 3 nodes at {}",
        cluster.bootstrap()
    ));
    assert_eq!(cluster.size(), 3);
    assert_eq!(cluster.replication_factor(), 3);
    let killed = cluster.pid(1).expect("running");
    cluster.kill(1);
    assert!(!alive(killed));
    cluster.restart(1).await.expect("node 2 restarts");
    assert!(cluster.pid(1).is_some());
}
