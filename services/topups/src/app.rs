//! Wiring of the top-ups service. All-in-one (`pursed`): the process's shared buses to its
//! in-process shard workers ([`purse_streams::buses`]). Cluster (the `purse-topups` binary):
//! command buses over the log and a shard host of the top-up decider in the top-ups consumer
//! group. Either way queries read the shared store, which projectors elsewhere keep (the
//! top-ups service runs no projector of its own).

use std::sync::Arc;
use std::time::Duration;

use purse_domain::topup::{FeeRate, FeeRateError};
use purse_log::{EventLog, LogError};
use purse_runtime::auth::TokenKey;
use purse_runtime::cluster::{HostError, ShardHost};
use purse_store::ReadStore;
use purse_streams::buses::{Buses, cluster_settings, shard_settings};
use purse_streams::config::Config;
use purse_streams::top_up::TopUpStream;
use purse_streams::topics;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::grpc::{ApiSettings, TopUpGrpc};

/// Why the service could not start.
#[derive(thiserror::Error, Debug)]
pub enum StartError {
    /// `[topups] fee_percent` is not a fee rate (0..=100, at most 4 decimal places).
    #[error("topups.fee_percent {percent}: {source}")]
    FeeRate {
        /// The configured percentage.
        percent: rust_decimal::Decimal,
        /// What is wrong with it.
        source: FeeRateError,
    },
    /// Creating topics or starting a command bus failed.
    #[error("event log: {0}")]
    Log(#[from] LogError),
}

/// Where the top-up shard workers run.
enum WriteSide {
    /// In-process workers, owned by the process (`pursed`) that shares them between services.
    Local,
    /// A shard host in the top-ups consumer group.
    Cluster {
        host: JoinHandle<Result<(), HostError>>,
        stop: watch::Sender<bool>,
    },
}

/// A running top-ups service.
pub struct TopUpApp {
    grpc: TopUpGrpc,
    write: WriteSide,
}

impl TopUpApp {
    /// All-in-one: commands go through the process's shared `buses`; queries read `store`.
    /// `checkout_base_url` is where the payments gateway serves the hosted checkout page
    /// (`[topups] checkout_base_url`, or the payments HTTP listener's `http://{addr}`).
    pub fn start_embedded(
        config: &Config,
        buses: &Buses,
        store: Arc<dyn ReadStore>,
        token_key: TokenKey,
        checkout_base_url: String,
    ) -> Result<Self, StartError> {
        let settings = api_settings(config, checkout_base_url)?;
        let grpc = TopUpGrpc::new(
            buses.top_ups.clone(),
            buses.auto_top_ups.clone(),
            store,
            token_key,
            settings,
        );
        Ok(Self {
            grpc,
            write: WriteSide::Local,
        })
    }

    /// Cluster: command buses over `log` and a shard host of the top-up decider in the
    /// top-ups group; auto top-up rules go to the saga coordinator's shards over the log.
    pub async fn start_cluster(
        config: &Config,
        log: Arc<dyn EventLog>,
        store: Arc<dyn ReadStore>,
        token_key: TokenKey,
        checkout_base_url: String,
    ) -> Result<Self, StartError> {
        // Checked before anything starts, so a bad fee leaves nothing running.
        let settings = api_settings(config, checkout_base_url)?;
        let buses = Buses::start_cluster(config, log.clone()).await?;
        let (stop, stopped) = watch::channel(false);
        let host = ShardHost::<TopUpStream>::new(
            log,
            cluster_settings(config, topics::TOP_UPS),
            shard_settings(config),
        );
        let host = tokio::spawn(host.run(stopped));
        let grpc = TopUpGrpc::new(
            buses.top_ups.clone(),
            buses.auto_top_ups.clone(),
            store,
            token_key,
            settings,
        );
        Ok(Self {
            grpc,
            write: WriteSide::Cluster { host, stop },
        })
    }

    /// The gRPC front (clone it into the server).
    pub fn grpc(&self) -> TopUpGrpc {
        self.grpc.clone()
    }

    /// Waits until the shard host stops on its own, which only an error causes (all-in-one:
    /// never; the process watches its shared workers itself).
    pub async fn failed(&mut self) -> String {
        match &mut self.write {
            WriteSide::Local => std::future::pending().await,
            WriteSide::Cluster { host, .. } => format!("shard host stopped: {:?}", host.await),
        }
    }

    /// Drains after the server stopped: in cluster mode queued commands are decided and
    /// answered, their offsets committed and the group left (all-in-one: the process drains its
    /// shared workers once every front dropped its buses). Gives up after `grace_ms`.
    pub async fn drain(self, grace_ms: u64) {
        let Self { grpc, write } = self;
        // The buses live as long as any front holds them; dropping ours lets local workers
        // finish.
        drop(grpc);
        let drained = tokio::time::timeout(Duration::from_millis(grace_ms), async {
            if let WriteSide::Cluster { host, stop } = write {
                let _ = stop.send(true);
                if let Ok(Err(err)) = host.await {
                    warn!(error = %err, "shard host failed while draining");
                }
            }
        })
        .await;
        match drained {
            Ok(()) => info!("drained"),
            Err(_) => warn!(grace_ms, "drain deadline passed; stopping anyway"),
        }
    }
}

fn api_settings(config: &Config, checkout_base_url: String) -> Result<ApiSettings, StartError> {
    let percent = config.services.topups.fee_percent;
    let fee_rate =
        FeeRate::percent(percent).map_err(|source| StartError::FeeRate { percent, source })?;
    Ok(ApiSettings {
        read_your_writes_timeout_ms: config.read_your_writes_timeout_ms,
        fee_rate,
        timeout_ms: config.services.topups.timeout_ms,
        checkout_base_url,
    })
}
