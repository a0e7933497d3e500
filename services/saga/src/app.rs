//! Wiring of the saga service. All-in-one (`pursed`): the coordinator over the process's shared
//! buses, whose in-process workers already host the saga streams. Cluster (the `purse-saga`
//! binary): buses over the log, shard hosts for the two saga deciders in their consumer groups,
//! and the coordinator (one per deployment; ADR 0009).

use std::sync::Arc;
use std::time::Duration;

use crate::coordinator::{CoordinatorSettings, spawn_coordinator};
use purse_log::{EventLog, LogError};
use purse_runtime::cluster::{HostError, ShardHost, WireDecider};
use purse_runtime::reactor::ReactorError;
use purse_store::ReadStore;
use purse_streams::auto_top_up::AutoTopUpStream;
use purse_streams::buses::{Buses, cluster_settings, shard_settings};
use purse_streams::config::Config;
use purse_streams::top_up_saga::TopUpSagaStream;
use purse_streams::topics::{self, DeciderTopics};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

/// Shard hosts of the saga deciders (cluster mode), each with its consumer group's name.
type Hosts = JoinSet<(&'static str, Result<(), HostError>)>;

/// A running saga service.
pub struct SagaApp {
    coordinator: JoinSet<Result<(), ReactorError>>,
    stop_coordinator: watch::Sender<bool>,
    hosts: Hosts,
    stop_hosts: watch::Sender<bool>,
    /// Cluster mode's own buses, kept so the coordinator's replies have somewhere to arrive
    /// until it is drained.
    _buses: Option<Buses>,
}

impl SagaApp {
    /// All-in-one: the coordinator sends through `buses` (the process's in-process workers, which
    /// host the saga streams and fire their timers) and checkpoints in `store`.
    pub fn start_embedded(
        config: &Config,
        buses: &Buses,
        log: Arc<dyn EventLog>,
        store: Arc<dyn ReadStore>,
    ) -> Self {
        let (stop_coordinator, stopped) = watch::channel(false);
        let mut coordinator = JoinSet::new();
        spawn_coordinator(
            log,
            store,
            buses,
            &CoordinatorSettings::from_config(config),
            &stopped,
            &mut coordinator,
        );
        Self {
            coordinator,
            stop_coordinator,
            hosts: JoinSet::new(),
            stop_hosts: watch::Sender::new(false),
            _buses: None,
        }
    }

    /// Cluster: buses over `log` to every decider, shard hosts for the top-up and auto top-up
    /// sagas in their consumer groups, and the coordinator.
    pub async fn start_cluster(
        config: &Config,
        log: Arc<dyn EventLog>,
        store: Arc<dyn ReadStore>,
    ) -> Result<Self, LogError> {
        let buses = Buses::start_cluster(config, log.clone()).await?;
        let (stop_hosts, hosts_stopped) = watch::channel(false);
        let mut hosts = JoinSet::new();
        host::<TopUpSagaStream>(
            config,
            &log,
            topics::TOP_UP_SAGAS,
            &hosts_stopped,
            &mut hosts,
        );
        host::<AutoTopUpStream>(
            config,
            &log,
            topics::AUTO_TOP_UPS,
            &hosts_stopped,
            &mut hosts,
        );
        let mut app = Self::start_embedded(config, &buses, log, store);
        app.hosts = hosts;
        app.stop_hosts = stop_hosts;
        app._buses = Some(buses);
        Ok(app)
    }

    /// Waits until a coordinator reactor or a shard host stops on its own, which only an error
    /// causes.
    pub async fn failed(&mut self) -> String {
        tokio::select! {
            Some(host) = self.hosts.join_next() => format!("saga shard host stopped: {host:?}"),
            Some(reactor) = self.coordinator.join_next() => format!("saga coordinator stopped: {reactor:?}"),
        }
    }

    /// Stops the coordinator at its next checkpoint (what it did not handle is handled after a
    /// restart), then, in cluster mode, drains the saga shard hosts (queued inputs answered,
    /// offsets committed, groups left). Gives up after `grace_ms`.
    pub async fn drain(self, grace_ms: u64) {
        let Self {
            mut coordinator,
            stop_coordinator,
            hosts,
            stop_hosts,
            _buses,
        } = self;
        let drained = tokio::time::timeout(Duration::from_millis(grace_ms), async {
            let _ = stop_coordinator.send(true);
            while let Some(result) = coordinator.join_next().await {
                if let Ok(Err(err)) = result {
                    warn!(error = %err, "saga coordinator reactor failed while draining");
                }
            }
            let _ = stop_hosts.send(true);
            let mut hosts = hosts;
            while let Some(result) = hosts.join_next().await {
                if let Ok((group, Err(err))) = result {
                    warn!(group, error = %err, "shard host failed while draining");
                }
            }
        })
        .await;
        match drained {
            Ok(()) => info!("saga service drained"),
            Err(_) => warn!(grace_ms, "drain deadline passed; stopping anyway"),
        }
    }
}

fn host<D: WireDecider>(
    config: &Config,
    log: &Arc<dyn EventLog>,
    topics: DeciderTopics,
    stop: &watch::Receiver<bool>,
    hosts: &mut Hosts,
) {
    let host = ShardHost::<D>::new(
        log.clone(),
        cluster_settings(config, topics),
        shard_settings(config),
    );
    let stop = stop.clone();
    hosts.spawn(async move { (topics.group, host.run(stop).await) });
}
