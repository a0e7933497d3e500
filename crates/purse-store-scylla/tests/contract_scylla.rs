//! The `ReadStore` contract suite against a real ScyllaDB node.
//!
//! Built with `PURSE_TEST_SCYLLA=host:port` (see `build.rs` and the crate docs), every contract
//! case is an ordinary test against that node. Built without it, the cases do not exist, so
//! nothing reports them as passed; one ignored test says why instead.

#[cfg(purse_test_scylla)]
mod against_a_node {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use purse_store_scylla::{ScyllaSettings, ScyllaStore, migrate, open_session, parse_nodes};

    /// The node (`host:port`, or several separated by commas).
    const ENV_NODE: &str = "PURSE_TEST_SCYLLA";
    /// Keyspace for the suite; cases use fresh ids, so it is shared across cases and runs.
    const ENV_KEYSPACE: &str = "PURSE_TEST_SCYLLA_KEYSPACE";
    const DEFAULT_KEYSPACE: &str = "purse_contract";

    /// A store over a migrated test keyspace (each nextest case is its own process, so each
    /// connects and migrates; after the first, migrating finds nothing to do).
    async fn fresh_store() -> Arc<ScyllaStore> {
        let nodes = std::env::var(ENV_NODE).unwrap_or_else(|_| {
            panic!(
                "this test binary was built with {ENV_NODE} set but it is not set now; \
                 set it to the ScyllaDB node (host:port)"
            )
        });
        let nodes = parse_nodes(&nodes).unwrap_or_else(|e| panic!("{ENV_NODE}: {e}"));
        let keyspace = std::env::var(ENV_KEYSPACE).unwrap_or_else(|_| DEFAULT_KEYSPACE.to_owned());
        // Replication 1 in the node's own datacenter, whatever the node calls it.
        let mut settings = ScyllaSettings::new(nodes, BTreeMap::from([("unknown".to_owned(), 1)]));
        settings.keyspace = keyspace;
        let session = open_session(&settings)
            .await
            .unwrap_or_else(|e| panic!("{ENV_NODE}: {e}"));
        let (datacenter,): (String,) = session
            .query_unpaged("SELECT data_center FROM system.local", ())
            .await
            .expect("read the node's datacenter")
            .into_rows_result()
            .expect("rows")
            .single_row()
            .expect("one row");
        settings.replication = BTreeMap::from([(datacenter, 1)]);
        migrate(&session, &settings)
            .await
            .unwrap_or_else(|e| panic!("migrate keyspace {}: {e}", settings.keyspace));
        let store = ScyllaStore::with_session(Arc::new(session), &settings)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        Arc::new(store)
    }

    purse_store::read_store_contract_tests!(fresh_store);
}

/// Stands in for the contract suite when no node was named at build time, so that runners count
/// the suite as skipped (the build prints why); run anyway, it fails: it never passes.
#[cfg(not(purse_test_scylla))]
#[test]
#[ignore = "needs a ScyllaDB node: build and run with PURSE_TEST_SCYLLA=host:port"]
fn scylla_contract_suite() {
    panic!(
        "the ScyllaDB contract suite was not built: build and run with \
         PURSE_TEST_SCYLLA=host:port"
    );
}
