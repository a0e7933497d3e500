//! A Purse cluster on loopback: Apache Kafka (one node, or three brokers for fault tests) started
//! for the test, and the service binaries (`purse-wallets`, `purse-topups`, `purse-payments`, `purse-saga`,
//! `purse-projector`) over it, sharing one data directory (read store, token and webhook keys).

use std::path::{Path, PathBuf};
use std::process::Command;

use purse_runtime::auth::{Principal, Scope, TokenKey};
use purse_test_engines::{KAFKA_VERSION, KafkaCluster};

use crate::{
    PaymentsClient, Service, TopUpClient, WalletClient, binary, payments_client, top_up_client,
    wallet_client,
};

/// Tenant of the tests' token.
pub const TENANT: &str = "e2e";

/// The datacenter a single Cassandra node reports (Cassandra's default snitch) and the
/// replication the test keyspaces get in it.
const CQL_REPLICATION: &str = "datacenter1:1";

/// Where the services keep their read models.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadModels {
    /// SQLite, `store.db` in the given data directory.
    Sqlite,
    /// A keyspace of its own on a CQL node (Apache Cassandra here, ScyllaDB in production).
    Cql {
        /// `host:port` of the node's native transport.
        contact_point: String,
        /// The keyspace, migrated by `purse-projector migrate`.
        keyspace: String,
    },
}

static KEYSPACES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Kafka and the shared settings of the services started over it.
pub struct Cluster {
    /// The Kafka nodes (each can be killed, paused and restarted).
    pub broker: KafkaCluster,
    /// Whether the services append through Kafka transactions (production: yes).
    transactions: bool,
    /// The read store of every service started from here.
    read_models: ReadModels,
    dir: tempfile::TempDir,
    /// A token for [`TENANT`] with every scope, signed with the cluster's key.
    pub token: String,
    partitions: u32,
    session_timeout_ms: u64,
}

impl Cluster {
    /// Starts one Kafka node; services append through transactions (the production setting),
    /// share `partitions` and a short group session timeout (so that failover tests are quick).
    pub async fn start(partitions: u32, session_timeout_ms: u64) -> Cluster {
        let broker = KafkaCluster::single()
            .await
            .unwrap_or_else(|e| panic!("Apache Kafka {KAFKA_VERSION} starts: {e}"));
        Cluster::on(broker, true, partitions, session_timeout_ms)
    }

    /// A cluster over `broker`, the services appending through transactions or not.
    pub fn on(
        broker: KafkaCluster,
        transactions: bool,
        partitions: u32,
        session_timeout_ms: u64,
    ) -> Cluster {
        purse_test_engines::announce(&format!(
            "engine: Apache Kafka {KAFKA_VERSION} (KRaft, {} node(s), transactions {}) at {}",
            broker.size(),
            if transactions { "on" } else { "off" },
            broker.bootstrap()
        ));
        let dir = tempfile::tempdir().expect("temp dir");
        let key = TokenKey::load_or_create(&dir.path().join("token.key")).expect("token key");
        let principal = Principal {
            tenant: TENANT.to_owned(),
            scopes: Scope::ALL.to_vec(),
        };
        let token = key.issue(&principal).expect("token");
        Cluster {
            broker,
            transactions,
            read_models: ReadModels::Sqlite,
            dir,
            token,
            partitions,
            session_timeout_ms,
        }
    }

    /// The same cluster with its read models in a new keyspace on the CQL node at
    /// `contact_point`, migrated before any service starts.
    pub fn with_cql_store(mut self, contact_point: &str) -> Cluster {
        self.read_models = self.new_cql_keyspace(contact_point);
        self
    }

    /// A new migrated keyspace on the node at `contact_point` (for a rebuild next to the first).
    pub fn new_cql_keyspace(&self, contact_point: &str) -> ReadModels {
        let keyspace = format!(
            "e2e_{}_{}",
            std::process::id(),
            KEYSPACES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let read_models = ReadModels::Cql {
            contact_point: contact_point.to_owned(),
            keyspace,
        };
        let mut command = self.command_on(
            "purse-projector",
            "purse-projector",
            self.data_dir(),
            &read_models,
        );
        let output = command
            .arg("migrate")
            .output()
            .expect("purse-projector migrate runs");
        assert!(
            output.status.success(),
            "purse-projector migrate: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        read_models
    }

    /// Where the services started from here keep their read models.
    pub fn read_models(&self) -> &ReadModels {
        &self.read_models
    }

    /// The shared data directory (read store `store.db`, `token.key`).
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, package: &str, name: &str, data_dir: &Path) -> Command {
        self.command_on(package, name, data_dir, &self.read_models)
    }

    fn command_on(
        &self,
        package: &str,
        name: &str,
        data_dir: &Path,
        read_models: &ReadModels,
    ) -> Command {
        let mut command = Command::new(binary(package, name));
        if let ReadModels::Cql {
            contact_point,
            keyspace,
        } = read_models
        {
            command
                .env("PURSE_STORE", "scylla")
                .env("PURSE_SCYLLA_NODES", contact_point)
                .env("PURSE_SCYLLA_KEYSPACE", keyspace)
                .env("PURSE_SCYLLA_REPLICATION", CQL_REPLICATION)
                .env("PURSE_SCYLLA_LOCAL_DC", "datacenter1");
        }
        command
            .arg("--data-dir")
            .arg(data_dir)
            .env("PURSE_LOG", "warn")
            .env("PURSE_KAFKA_BROKERS", self.broker.bootstrap())
            .env(
                "PURSE_KAFKA_REPLICATION_FACTOR",
                self.broker.replication_factor().to_string(),
            )
            .env("PURSE_KAFKA_TRANSACTIONS", self.transactions.to_string())
            // A paused instance's open transaction holds back read_committed readers of its
            // partition until the broker aborts it: 10 s instead of 60 s keeps the stale-writer
            // tests within their retry deadlines (docs/runbook.md).
            .env("PURSE_KAFKA_TRANSACTION_TIMEOUT_MS", "10000")
            .env(
                "PURSE_KAFKA_SESSION_TIMEOUT_MS",
                self.session_timeout_ms.to_string(),
            )
            .env("PURSE_PARTITIONS", self.partitions.to_string())
            .env("PURSE_METRICS_LISTEN", "127.0.0.1:0");
        command
    }

    /// Starts a `purse-wallets` instance with `instance_id`.
    pub fn wallets(&self, instance_id: &str) -> Service {
        self.wallets_with(instance_id, &[])
    }

    /// Starts a `purse-wallets` instance with `instance_id` and extra `PURSE_*` settings (e.g.
    /// `PURSE_BATCH_MAX_COMMANDS`).
    pub fn wallets_with(&self, instance_id: &str, environment: &[(&str, &str)]) -> Service {
        self.instance(
            "purse-wallets",
            instance_id,
            environment,
            &["purse endpoint"],
        )
    }

    /// Starts a `purse-payments` instance (gRPC, checkout page and webhooks on loopback ports it
    /// picks) with extra `PURSE_*` settings.
    pub fn payments(&self, instance_id: &str, environment: &[(&str, &str)]) -> Service {
        let mut environment = environment.to_vec();
        environment.push(("PURSE_PAYMENTS_HTTP_LISTEN", "127.0.0.1:0"));
        self.instance(
            "purse-payments",
            instance_id,
            &environment,
            &["purse endpoint", "checkout endpoint"],
        )
    }

    /// Starts a `purse-topups` instance whose top-up URLs point at `payments`' checkout page,
    /// with extra `PURSE_*` settings (e.g. `PURSE_TOPUPS_TIMEOUT_MS`).
    pub fn top_ups(
        &self,
        instance_id: &str,
        payments: &Service,
        environment: &[(&str, &str)],
    ) -> Service {
        let mut environment = environment.to_vec();
        environment.push((
            "PURSE_TOPUPS_CHECKOUT_BASE_URL",
            payments.announced("checkout endpoint"),
        ));
        self.instance(
            "purse-topups",
            instance_id,
            &environment,
            &["purse endpoint"],
        )
    }

    /// Starts a `purse-saga` coordinator with extra `PURSE_*` settings.
    pub fn saga(&self, instance_id: &str, environment: &[(&str, &str)]) -> Service {
        self.instance("purse-saga", instance_id, environment, &["instance"])
    }

    /// Starts the binary of `package` as cluster instance `instance_id` once it has announced
    /// `wanted` and its metrics endpoint.
    fn instance(
        &self,
        package: &str,
        instance_id: &str,
        environment: &[(&str, &str)],
        wanted: &[&str],
    ) -> Service {
        let mut command = self.command(package, package, self.data_dir());
        command
            .args(["--listen", "127.0.0.1:0"])
            .env("PURSE_INSTANCE_ID", instance_id);
        for (name, value) in environment {
            command.env(name, value);
        }
        let mut wanted = wanted.to_vec();
        wanted.push("metrics endpoint");
        Service::start(command, &wanted)
    }

    /// Starts a `purse-projector` writing the store in `data_dir` (the shared one, or another
    /// for a rebuild).
    pub fn projector(&self, data_dir: &Path) -> Service {
        self.projector_on(data_dir, &self.read_models)
    }

    /// Starts a `purse-projector` writing `read_models` (another keyspace, for a rebuild).
    pub fn projector_on(&self, data_dir: &Path, read_models: &ReadModels) -> Service {
        let command = self.command_on("purse-projector", "purse-projector", data_dir, read_models);
        Service::start(command, &["metrics endpoint"])
    }

    /// A client of a wallets instance with the cluster's token.
    pub async fn client(&self, wallets: &Service) -> WalletClient {
        wallet_client(wallets.announced("purse endpoint"), &self.token).await
    }

    /// A top-up service client of a `purse-topups` instance with the cluster's token.
    pub async fn top_up_client(&self, top_ups: &Service) -> TopUpClient {
        top_up_client(top_ups.announced("purse endpoint"), &self.token).await
    }

    /// A payments service client of a `purse-payments` instance with the cluster's token.
    pub async fn payments_client(&self, payments: &Service) -> PaymentsClient {
        payments_client(payments.announced("purse endpoint"), &self.token).await
    }

    /// Path of the shared read store.
    pub fn store_path(&self) -> PathBuf {
        self.data_dir().join("store.db")
    }
}
