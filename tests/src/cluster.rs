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

/// Kafka and the shared settings of the services started over it.
pub struct Cluster {
    /// The Kafka nodes (each can be killed, paused and restarted).
    pub broker: KafkaCluster,
    /// Whether the services append through Kafka transactions (production: yes).
    transactions: bool,
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
        eprintln!(
            "engine: Apache Kafka {KAFKA_VERSION} (KRaft, {} node(s), transactions {}) at {}",
            broker.size(),
            if transactions { "on" } else { "off" },
            broker.bootstrap()
        );
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
            dir,
            token,
            partitions,
            session_timeout_ms,
        }
    }

    /// The shared data directory (read store `store.db`, `token.key`).
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, package: &str, name: &str, data_dir: &Path) -> Command {
        let mut command = Command::new(binary(package, name));
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
        let command = self.command("purse-projector", "purse-projector", data_dir);
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
