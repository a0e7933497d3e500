//! Wiring of the wallets service. All-in-one (`pursed`): the process's shared bus to in-process
//! shard workers ([`purse_streams::buses`]) and the wallet projector in the same process. Cluster (the `purse-wallets` binary): a command
//! bus over the log, a shard host in the wallets consumer group, and no projector (that is the
//! projector service's job; queries poll the shared store for `min_sequence`).

use std::sync::Arc;
use std::time::Duration;

use purse_log::{EventLog, LogError};
use purse_runtime::auth::TokenKey;
use purse_runtime::bus::CommandBus;
use purse_runtime::cluster::{HostError, LogBus, ShardHost};
use purse_runtime::projector::{ProjectionWatch, ProjectorError, ProjectorSettings};
use purse_store::ReadStore;
use purse_streams::buses::{cluster_settings, shard_settings};
use purse_streams::config::Config;
use purse_streams::projectors::spawn_wallet_projectors;
use purse_streams::topics;
use purse_streams::wallet::WalletStream;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{info, warn};

use crate::grpc::{ApiSettings, WalletGrpc};

/// Checkpoint name of the wallet projector.
pub const WALLET_PROJECTOR: &str = "wallet-projector";

const READ_BATCH_MAX_RECORDS: usize = 4_096;
const PROJECTOR_READ_WAIT_MS: u64 = 500;

/// The wallet projector's settings.
pub fn projector_settings(config: &Config) -> ProjectorSettings {
    ProjectorSettings {
        name: WALLET_PROJECTOR.to_owned(),
        topic: topics::WALLETS.events.to_owned(),
        partitions: config.partitions,
        read_batch_max_records: READ_BATCH_MAX_RECORDS,
        read_wait_ms: PROJECTOR_READ_WAIT_MS,
    }
}

/// Where the shard workers run.
enum WriteSide {
    /// In-process workers, owned by the process (`pursed`) that shares them between services.
    Local,
    /// A shard host in the consumer group.
    Cluster {
        host: JoinHandle<Result<(), HostError>>,
        stop: watch::Sender<bool>,
    },
}

/// A running wallets service.
pub struct WalletApp {
    grpc: WalletGrpc,
    write: WriteSide,
    projectors: JoinSet<Result<(), ProjectorError>>,
    stop_projectors: watch::Sender<bool>,
}

impl WalletApp {
    /// All-in-one: commands go through `bus` (the process's in-process workers); the wallet
    /// projector runs here over `log` and `store`.
    pub fn start_embedded(
        config: &Config,
        bus: Arc<dyn CommandBus<WalletStream>>,
        log: Arc<dyn EventLog>,
        store: Arc<dyn ReadStore>,
        token_key: TokenKey,
    ) -> Self {
        let watch = Arc::new(ProjectionWatch::default());
        let (stop_projectors, stopped) = watch::channel(false);
        let mut projectors = JoinSet::new();
        spawn_wallet_projectors(
            log,
            store.clone(),
            &projector_settings(config),
            watch.clone(),
            &stopped,
            &mut projectors,
        );
        let grpc = WalletGrpc::new(bus, store, watch, token_key, api_settings(config));
        Self {
            grpc,
            write: WriteSide::Local,
            projectors,
            stop_projectors,
        }
    }

    /// Cluster: a command bus over `log` and a shard host in the wallets group; queries read
    /// `store`, which the projector service keeps.
    pub async fn start_cluster(
        config: &Config,
        log: Arc<dyn EventLog>,
        store: Arc<dyn ReadStore>,
        token_key: TokenKey,
    ) -> Result<Self, LogError> {
        let settings = cluster_settings(config, topics::WALLETS);
        settings.create_topics(log.as_ref()).await?;
        let bus: LogBus<WalletStream> = LogBus::start(log.clone(), settings.clone()).await?;
        let (stop, stopped) = watch::channel(false);
        let host = ShardHost::<WalletStream>::new(log, settings, shard_settings(config));
        let host = tokio::spawn(host.run(stopped));
        let (stop_projectors, _) = watch::channel(false);
        let grpc = WalletGrpc::new(
            Arc::new(bus),
            store,
            Arc::new(ProjectionWatch::default()),
            token_key,
            api_settings(config),
        );
        Ok(Self {
            grpc,
            write: WriteSide::Cluster { host, stop },
            projectors: JoinSet::new(),
            stop_projectors,
        })
    }

    /// The gRPC front (clone it into the server).
    pub fn grpc(&self) -> WalletGrpc {
        self.grpc.clone()
    }

    /// Waits until a shard worker, the shard host or a projector stops on its own, which only an
    /// error causes.
    pub async fn failed(&mut self) -> String {
        let write = async {
            match &mut self.write {
                WriteSide::Local => std::future::pending().await,
                WriteSide::Cluster { host, .. } => format!("shard host stopped: {:?}", host.await),
            }
        };
        tokio::select! {
            failure = write => failure,
            Some(projector) = self.projectors.join_next() => format!("projector stopped: {projector:?}"),
        }
    }

    /// Drains after the server stopped: in cluster mode queued commands are decided and answered,
    /// their offsets committed and the group left (all-in-one: the process drains its shared
    /// workers); then projectors stop at their next checkpoint. Gives up after `grace_ms`.
    pub async fn drain(self, grace_ms: u64) {
        let Self {
            grpc,
            write,
            mut projectors,
            stop_projectors,
        } = self;
        // The bus lives as long as any front holds it; dropping ours lets local workers finish.
        drop(grpc);
        let drained = tokio::time::timeout(Duration::from_millis(grace_ms), async {
            match write {
                WriteSide::Local => {}
                WriteSide::Cluster { host, stop } => {
                    let _ = stop.send(true);
                    if let Ok(Err(err)) = host.await {
                        warn!(error = %err, "shard host failed while draining");
                    }
                }
            }
            let _ = stop_projectors.send(true);
            while projectors.join_next().await.is_some() {}
        })
        .await;
        match drained {
            Ok(()) => info!("drained"),
            Err(_) => warn!(grace_ms, "drain deadline passed; stopping anyway"),
        }
    }
}

fn api_settings(config: &Config) -> ApiSettings {
    ApiSettings {
        read_your_writes_timeout_ms: config.read_your_writes_timeout_ms,
        batch_execute_max_operations: config.batch_execute_max_operations,
    }
}
