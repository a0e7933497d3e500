//! The `ReadStore` contract suite against a real CQL node: the ScyllaDB node named by
//! `PURSE_TEST_SCYLLA=host:port` where one exists, otherwise one Apache Cassandra node started for
//! this test binary and shared by all its cases (they use fresh ids, so they share one keyspace).
//!
//! Run by `scripts/test` with `cargo test` (libtest: every case in one process), so that the
//! Cassandra node starts once; under nextest each case would start its own.

use std::collections::BTreeMap;
use std::sync::Arc;

use purse_store_scylla::{ScyllaSettings, ScyllaStore, migrate, open_session, parse_nodes};
use tokio::sync::OnceCell;

/// A ScyllaDB node (`host:port`, or several separated by commas) to run against instead.
const ENV_NODE: &str = "PURSE_TEST_SCYLLA";
/// Keyspace for the suite; cases use fresh ids, so it is shared across cases and runs.
const ENV_KEYSPACE: &str = "PURSE_TEST_SCYLLA_KEYSPACE";
const DEFAULT_KEYSPACE: &str = "purse_contract";

/// The node's contact points, and the keyspace migrated on it once for the whole binary.
struct Node {
    contact_points: Vec<String>,
    keyspace: String,
    datacenter: String,
}

static NODE: OnceCell<Node> = OnceCell::const_new();

async fn node() -> &'static Node {
    NODE.get_or_init(|| async {
        let (contact_points, on_cassandra) = match std::env::var(ENV_NODE) {
            Ok(nodes) if !nodes.trim().is_empty() => (
                parse_nodes(&nodes).unwrap_or_else(|e| panic!("{ENV_NODE}: {e}")),
                false,
            ),
            _ => (
                vec![purse_test_engines::shared_cassandra().await.contact_point()],
                true,
            ),
        };
        let keyspace = std::env::var(ENV_KEYSPACE).unwrap_or_else(|_| DEFAULT_KEYSPACE.to_owned());
        let mut settings = settings(&contact_points, &keyspace, "unknown");
        let session = open_session(&settings)
            .await
            .unwrap_or_else(|e| panic!("connecting to {contact_points:?}: {e}"));
        let (datacenter, version): (String, String) = session
            .query_unpaged("SELECT data_center, release_version FROM system.local", ())
            .await
            .expect("read the node's datacenter")
            .into_rows_result()
            .expect("rows")
            .single_row()
            .expect("one row");
        let engine = if on_cassandra {
            "Apache Cassandra"
        } else {
            "ScyllaDB node"
        };
        purse_test_engines::announce(&format!(
            "engine: {engine} {version} at {}",
            contact_points.join(",")
        ));
        settings.replication = BTreeMap::from([(datacenter.clone(), 1)]);
        migrate(&session, &settings)
            .await
            .unwrap_or_else(|e| panic!("migrate keyspace {keyspace}: {e}"));
        Node {
            contact_points,
            keyspace,
            datacenter,
        }
    })
    .await
}

fn settings(contact_points: &[String], keyspace: &str, datacenter: &str) -> ScyllaSettings {
    // Replication 1 in the node's own datacenter, whatever the node calls it.
    let mut settings = ScyllaSettings::new(
        contact_points.to_vec(),
        BTreeMap::from([(datacenter.to_owned(), 1)]),
    );
    settings.keyspace = keyspace.to_owned();
    settings
}

/// A store over the migrated keyspace, with a session of this case's own runtime.
async fn fresh_store() -> Arc<ScyllaStore> {
    let node = node().await;
    let settings = settings(&node.contact_points, &node.keyspace, &node.datacenter);
    let store = ScyllaStore::connect(&settings)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    Arc::new(store)
}

purse_store::read_store_contract_tests!(fresh_store);
