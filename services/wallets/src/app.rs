//! Wiring of the wallets service: shard workers behind an in-process bus, the wallet projector,
//! and the gRPC front. Used by `pursed` (all-in-one) and, with the Kafka log, by the wallets binary.

use std::sync::Arc;
use std::time::Duration;

use purse_domain::wallet::WalletDecider;
use purse_log::{EventLog, LogError};
use purse_runtime::auth::TokenKey;
use purse_runtime::bus::{BusSettings, LocalBus};
use purse_runtime::config::Config;
use purse_runtime::projector::{
    ProjectionWatch, ProjectorError, ProjectorSettings, project_wallet_partition,
};
use purse_runtime::shard::{ShardError, ShardSettings, TimerSettings};
use purse_store::ReadStore;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::grpc::{ApiSettings, WalletGrpc};

/// Topic of wallet events: the source of truth, kept forever.
pub const WALLET_EVENTS_TOPIC: &str = "purse.wallet.events";
/// Checkpoint name of the wallet projector.
pub const WALLET_PROJECTOR: &str = "wallet-projector";

const READ_BACK_WAIT_MS: u64 = 5_000;
const READ_BATCH_MAX_RECORDS: usize = 4_096;
const PROJECTOR_READ_WAIT_MS: u64 = 500;

/// A running wallets service.
pub struct WalletApp {
    grpc: WalletGrpc,
    shards: JoinSet<Result<(), ShardError>>,
    projectors: JoinSet<Result<(), ProjectorError>>,
    stop_projectors: watch::Sender<bool>,
}

impl WalletApp {
    /// Starts shard workers and the projector over `log` and `store`.
    pub async fn start(
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
        let shard_settings = ShardSettings {
            batch_max_commands: config.batch_max_commands,
            read_batch_max_records: READ_BATCH_MAX_RECORDS,
            read_back_wait_ms: READ_BACK_WAIT_MS,
            idempotency_retention_ms: config.idempotency_retention_ms,
            timers: TimerSettings {
                expiring_notice_lead_ms: config.expiring_notice_lead_ms,
            },
        };
        let bus = LocalBus::<WalletDecider>::start(
            log.clone(),
            WALLET_EVENTS_TOPIC,
            &bus_settings,
            &shard_settings,
            &mut shards,
        )
        .await?;
        let watch = Arc::new(ProjectionWatch::default());
        let (stop_projectors, stopped) = watch::channel(false);
        let mut projectors = JoinSet::new();
        let projector_settings = ProjectorSettings {
            name: WALLET_PROJECTOR.to_owned(),
            read_batch_max_records: READ_BATCH_MAX_RECORDS,
            read_wait_ms: PROJECTOR_READ_WAIT_MS,
        };
        for partition in 0..config.partitions {
            projectors.spawn(project_wallet_partition(
                log.clone(),
                store.clone(),
                WALLET_EVENTS_TOPIC.to_owned(),
                partition,
                projector_settings.clone(),
                watch.clone(),
                stopped.clone(),
            ));
        }
        let api_settings = ApiSettings {
            read_your_writes_timeout_ms: config.read_your_writes_timeout_ms,
            batch_execute_max_operations: config.batch_execute_max_operations,
        };
        let grpc = WalletGrpc::new(Arc::new(bus), store, watch, token_key, api_settings);
        Ok(Self {
            grpc,
            shards,
            projectors,
            stop_projectors,
        })
    }

    /// The gRPC front (clone it into the server).
    pub fn grpc(&self) -> WalletGrpc {
        self.grpc.clone()
    }

    /// Waits until a shard worker or projector stops on its own, which only an error causes.
    pub async fn failed(&mut self) -> String {
        tokio::select! {
            Some(shard) = self.shards.join_next() => format!("shard worker stopped: {shard:?}"),
            Some(projector) = self.projectors.join_next() => format!("projector stopped: {projector:?}"),
        }
    }

    /// Drains after the server stopped: queued commands are decided and answered, then projectors
    /// stop at their next checkpoint. Gives up after `grace_ms`.
    pub async fn drain(self, grace_ms: u64) {
        let Self {
            grpc,
            mut shards,
            mut projectors,
            stop_projectors,
        } = self;
        // The bus lives as long as any front holds it; dropping ours lets the workers finish.
        drop(grpc);
        let drained = tokio::time::timeout(Duration::from_millis(grace_ms), async {
            while shards.join_next().await.is_some() {}
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
