//! Every decider's command bus, built once per process and shared by the services in it.
//!
//! All-in-one: one set of in-process shard workers per decider ([`EmbeddedShards`]), so that
//! the wallets, top-ups, payments and saga services of `pursed` reach the same workers. Cluster:
//! a [`LogBus`] per decider over the command topics; each service hosts the shards of its own
//! deciders with a [`purse_runtime::cluster::ShardHost`] built from [`cluster_settings`].

use std::sync::Arc;
use std::time::Duration;

use purse_log::{EventLog, LogError};
use tokio::task::JoinSet;
use tracing::warn;

use crate::config::Config;
use purse_runtime::bus::{BusSettings, CommandBus, LocalBus};
use purse_runtime::cluster::{ClusterSettings, LogBus, WireDecider};
use purse_runtime::shard::{ShardDecider, ShardError, ShardSettings, TimerSettings};

use crate::auto_top_up::AutoTopUpStream;
use crate::payment::PaymentStream;
use crate::payment_methods::PaymentMethodsStream;
use crate::top_up::TopUpStream;
use crate::top_up_saga::TopUpSagaStream;
use crate::topics::{self, DeciderTopics};
use crate::wallet::WalletStream;

/// Most records a worker reads per call, on load and on read-back.
const READ_BATCH_MAX_RECORDS: usize = 4_096;
/// How long a read-back waits for the log to show our own records.
const READ_BACK_WAIT_MS: u64 = 5_000;

/// One command bus per decider.
#[derive(Clone)]
pub struct Buses {
    /// Wallets.
    pub wallets: Arc<dyn CommandBus<WalletStream>>,
    /// Top-ups.
    pub top_ups: Arc<dyn CommandBus<TopUpStream>>,
    /// Payment intents.
    pub payments: Arc<dyn CommandBus<PaymentStream>>,
    /// Stored payment methods.
    pub payment_methods: Arc<dyn CommandBus<PaymentMethodsStream>>,
    /// Top-up sagas.
    pub top_up_sagas: Arc<dyn CommandBus<TopUpSagaStream>>,
    /// Auto top-up sagas.
    pub auto_top_ups: Arc<dyn CommandBus<AutoTopUpStream>>,
}

/// The in-process shard workers of every decider (all-in-one mode).
pub struct EmbeddedShards {
    tasks: JoinSet<Result<(), ShardError>>,
}

impl Buses {
    /// All-in-one: creates every event topic and starts one worker per partition and decider.
    /// The workers stop once every clone of the returned buses is dropped.
    pub async fn start_embedded(
        config: &Config,
        log: Arc<dyn EventLog>,
    ) -> Result<(Self, EmbeddedShards), LogError> {
        let mut tasks = JoinSet::new();
        let bus = BusSettings {
            partitions: config.partitions,
            queue_capacity: config.command_queue_capacity,
            reply_timeout_ms: config.reply_timeout_ms,
        };
        let shard = shard_settings(config);
        let buses = Self {
            wallets: local::<WalletStream>(&log, topics::WALLETS, &bus, &shard, &mut tasks).await?,
            top_ups: local::<TopUpStream>(&log, topics::TOP_UPS, &bus, &shard, &mut tasks).await?,
            payments: local::<PaymentStream>(&log, topics::PAYMENTS, &bus, &shard, &mut tasks)
                .await?,
            payment_methods: local::<PaymentMethodsStream>(
                &log,
                topics::PAYMENT_METHODS,
                &bus,
                &shard,
                &mut tasks,
            )
            .await?,
            top_up_sagas: local::<TopUpSagaStream>(
                &log,
                topics::TOP_UP_SAGAS,
                &bus,
                &shard,
                &mut tasks,
            )
            .await?,
            auto_top_ups: local::<AutoTopUpStream>(
                &log,
                topics::AUTO_TOP_UPS,
                &bus,
                &shard,
                &mut tasks,
            )
            .await?,
        };
        Ok((buses, EmbeddedShards { tasks }))
    }

    /// Cluster: creates every decider's topics and starts a bus over each command topic. Hosting
    /// shards is each service's own business.
    pub async fn start_cluster(config: &Config, log: Arc<dyn EventLog>) -> Result<Self, LogError> {
        Ok(Self {
            wallets: over_log::<WalletStream>(config, &log, topics::WALLETS).await?,
            top_ups: over_log::<TopUpStream>(config, &log, topics::TOP_UPS).await?,
            payments: over_log::<PaymentStream>(config, &log, topics::PAYMENTS).await?,
            payment_methods: over_log::<PaymentMethodsStream>(
                config,
                &log,
                topics::PAYMENT_METHODS,
            )
            .await?,
            top_up_sagas: over_log::<TopUpSagaStream>(config, &log, topics::TOP_UP_SAGAS).await?,
            auto_top_ups: over_log::<AutoTopUpStream>(config, &log, topics::AUTO_TOP_UPS).await?,
        })
    }
}

impl EmbeddedShards {
    /// Waits until a worker stops, which before shutdown only an error causes.
    pub async fn failed(&mut self) -> String {
        match self.tasks.join_next().await {
            Some(shard) => format!("shard worker stopped: {shard:?}"),
            None => std::future::pending().await,
        }
    }

    /// Waits (at most `grace_ms`) for the workers to answer what they hold and stop, which they
    /// do once every bus is dropped.
    pub async fn drain(mut self, grace_ms: u64) {
        let drained = tokio::time::timeout(Duration::from_millis(grace_ms), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!(grace_ms, "shard workers still busy at the drain deadline");
        }
    }
}

async fn local<D: ShardDecider>(
    log: &Arc<dyn EventLog>,
    topics: DeciderTopics,
    bus: &BusSettings,
    shard: &ShardSettings,
    tasks: &mut JoinSet<Result<(), ShardError>>,
) -> Result<Arc<dyn CommandBus<D>>, LogError> {
    let bus = LocalBus::<D>::start(log.clone(), topics.events, bus, shard, tasks).await?;
    Ok(Arc::new(bus))
}

async fn over_log<D: WireDecider>(
    config: &Config,
    log: &Arc<dyn EventLog>,
    topics: DeciderTopics,
) -> Result<Arc<dyn CommandBus<D>>, LogError> {
    let settings = cluster_settings(config, topics);
    settings.create_topics(log.as_ref()).await?;
    Ok(Arc::new(LogBus::<D>::start(log.clone(), settings).await?))
}

/// A shard worker's limits, from the configuration.
pub fn shard_settings(config: &Config) -> ShardSettings {
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

/// One decider's cluster write path, from the configuration.
pub fn cluster_settings(config: &Config, topics: DeciderTopics) -> ClusterSettings {
    ClusterSettings {
        instance_id: config.instance_id.clone(),
        group: topics.group.to_owned(),
        commands_topic: topics.commands.to_owned(),
        events_topic: topics.events.to_owned(),
        replies_topic: topics::REPLIES_TOPIC.to_owned(),
        partitions: config.partitions,
        reply_partitions: config.reply_partitions,
        reply_timeout_ms: config.reply_timeout_ms,
        queue_capacity: config.command_queue_capacity,
    }
}
