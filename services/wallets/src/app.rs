//! Wiring of the wallets service. All-in-one (`pursed`): shard workers behind an in-process bus
//! and the wallet projector in the same process. Cluster (the `purse-wallets` binary): a command
//! bus over the log, a shard host in the wallets consumer group, and no projector (that is the
//! projector service's job; queries poll the shared store for `min_sequence`).

use std::sync::Arc;
use std::time::Duration;

use purse_domain::wallet::WalletDecider;
use purse_log::{EventLog, LogError};
use purse_runtime::auth::TokenKey;
use purse_runtime::bus::{BusSettings, LocalBus};
use purse_runtime::cluster::{ClusterSettings, HostError, LogBus, ShardHost};
use purse_runtime::config::Config;
use purse_runtime::projector::{
    ProjectionWatch, ProjectorError, ProjectorSettings, spawn_wallet_projectors,
};
use purse_runtime::shard::{ShardError, ShardSettings, TimerSettings};
use purse_store::ReadStore;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{info, warn};

use crate::grpc::{ApiSettings, WalletGrpc};

/// Topic of wallet events: the source of truth, kept forever.
pub const WALLET_EVENTS_TOPIC: &str = "purse.wallet.events";
/// Topic of wallet commands (cluster mode), keyed by wallet id.
pub const WALLET_COMMANDS_TOPIC: &str = "purse.wallet.commands";
/// Topic of command replies, one partition per group of instances.
pub const REPLIES_TOPIC: &str = "purse.replies";
/// Consumer group of the wallet shard hosts.
pub const WALLETS_GROUP: &str = "purse-wallets";
/// Checkpoint name of the wallet projector.
pub const WALLET_PROJECTOR: &str = "wallet-projector";

const READ_BACK_WAIT_MS: u64 = 5_000;
const READ_BATCH_MAX_RECORDS: usize = 4_096;
const PROJECTOR_READ_WAIT_MS: u64 = 500;

/// The wallet projector's settings.
pub fn projector_settings(config: &Config) -> ProjectorSettings {
    ProjectorSettings {
        name: WALLET_PROJECTOR.to_owned(),
        topic: WALLET_EVENTS_TOPIC.to_owned(),
        partitions: config.partitions,
        read_batch_max_records: READ_BATCH_MAX_RECORDS,
        read_wait_ms: PROJECTOR_READ_WAIT_MS,
    }
}

/// How commands reach the shard workers.
enum WriteSide {
    /// In-process workers, one per partition.
    Local(JoinSet<Result<(), ShardError>>),
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
    /// All-in-one: shard workers and the projector over `log` and `store`, in this process.
    pub async fn start_embedded(
        config: &Config,
        log: Arc<dyn EventLog>,
        store: Arc<dyn ReadStore>,
        token_key: TokenKey,
    ) -> Result<Self, LogError> {
        let mut shards = JoinSet::new();
        let bus_settings = BusSettings {
            partitions: config.partitions,
            queue_capacity: config.command_queue_capacity,
            reply_timeout_ms: config.reply_timeout_ms,
        };
        let bus = LocalBus::<WalletDecider>::start(
            log.clone(),
            WALLET_EVENTS_TOPIC,
            &bus_settings,
            &shard_settings(config),
            &mut shards,
        )
        .await?;
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
        let grpc = WalletGrpc::new(Arc::new(bus), store, watch, token_key, api_settings(config));
        Ok(Self {
            grpc,
            write: WriteSide::Local(shards),
            projectors,
            stop_projectors,
        })
    }

    /// Cluster: a command bus over `log` and a shard host in the wallets group; queries read
    /// `store`, which the projector service keeps.
    pub async fn start_cluster(
        config: &Config,
        log: Arc<dyn EventLog>,
        store: Arc<dyn ReadStore>,
        token_key: TokenKey,
    ) -> Result<Self, LogError> {
        let settings = cluster_settings(config);
        settings.create_topics(log.as_ref()).await?;
        let bus: LogBus<WalletDecider> = LogBus::start(log.clone(), settings.clone()).await?;
        let (stop, stopped) = watch::channel(false);
        let host = ShardHost::<WalletDecider>::new(log, settings, shard_settings(config));
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
                WriteSide::Local(shards) => match shards.join_next().await {
                    Some(shard) => format!("shard worker stopped: {shard:?}"),
                    None => std::future::pending().await,
                },
                WriteSide::Cluster { host, .. } => format!("shard host stopped: {:?}", host.await),
            }
        };
        tokio::select! {
            failure = write => failure,
            Some(projector) = self.projectors.join_next() => format!("projector stopped: {projector:?}"),
        }
    }

    /// Drains after the server stopped: queued commands are decided and answered (and, in
    /// cluster mode, their offsets committed and the group left), then projectors stop at their
    /// next checkpoint. Gives up after `grace_ms`.
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
                WriteSide::Local(mut shards) => while shards.join_next().await.is_some() {},
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

fn shard_settings(config: &Config) -> ShardSettings {
    ShardSettings {
        batch_max_commands: config.batch_max_commands,
        read_batch_max_records: READ_BATCH_MAX_RECORDS,
        read_back_wait_ms: READ_BACK_WAIT_MS,
        idempotency_retention_ms: config.idempotency_retention_ms,
        timers: TimerSettings {
            expiring_notice_lead_ms: config.expiring_notice_lead_ms,
        },
    }
}

fn api_settings(config: &Config) -> ApiSettings {
    ApiSettings {
        read_your_writes_timeout_ms: config.read_your_writes_timeout_ms,
        batch_execute_max_operations: config.batch_execute_max_operations,
    }
}

fn cluster_settings(config: &Config) -> ClusterSettings {
    ClusterSettings {
        instance_id: config.instance_id.clone(),
        group: WALLETS_GROUP.to_owned(),
        commands_topic: WALLET_COMMANDS_TOPIC.to_owned(),
        events_topic: WALLET_EVENTS_TOPIC.to_owned(),
        replies_topic: REPLIES_TOPIC.to_owned(),
        partitions: config.partitions,
        reply_partitions: config.reply_partitions,
        reply_timeout_ms: config.reply_timeout_ms,
        queue_capacity: config.command_queue_capacity,
    }
}
