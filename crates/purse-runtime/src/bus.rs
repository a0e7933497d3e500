//! The command bus: how a gRPC handler gets a command to its shard and the reply back.
//!
//! All-in-one mode uses in-process channels ([`LocalBus`]; DESIGN §5 allows it; events are still
//! durable before the reply); cluster mode publishes to a command topic and waits on a reply
//! partition ([`crate::cluster::LogBus`]). Routing uses the same partitioner as the log, so a
//! stream's commands and its events meet in the same worker.

use std::sync::Arc;
use std::time::Duration;

use purse_domain::idempotency::IdempotencyKey;
use purse_log::{EventLog, partition_for};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::shard::{
    CommandError, CommandRequest, CommandResult, ShardDecider, ShardError, ShardSettings,
    ShardWorker, report_exit,
};
use crate::telemetry;

/// Gets a command to the worker that owns its stream and returns the worker's reply.
#[async_trait::async_trait]
pub trait CommandBus<D: ShardDecider>: Send + Sync {
    /// Sends a command and waits (bounded) for its outcome. [`CommandError::Timeout`] and
    /// [`CommandError::Unavailable`] leave the outcome unknown: the caller retries with the same
    /// idempotency key, which is safe.
    async fn send(
        &self,
        command: D::Command,
        idempotency_key: Option<IdempotencyKey>,
        correlation_id: String,
    ) -> CommandResult<D>;
}

/// Sends commands to in-process shard workers and waits (bounded) for their replies. A command
/// sent while a gRPC call is handled carries the call's correlation id
/// ([`telemetry::correlation_id_or`]), whatever id the handler passed.
pub struct LocalBus<D: ShardDecider> {
    senders: Vec<mpsc::Sender<CommandRequest<D>>>,
    reply_timeout_ms: u64,
}

/// Sizes of the in-process bus.
#[derive(Clone, Debug)]
pub struct BusSettings {
    /// Partitions of the event topic (one worker each).
    pub partitions: u32,
    /// Queued commands per worker before callers wait.
    pub queue_capacity: usize,
    /// How long a caller waits for its reply.
    pub reply_timeout_ms: u64,
}

impl<D: ShardDecider> LocalBus<D> {
    /// Creates the topic if needed and starts one worker per partition in `tasks`.
    pub async fn start(
        log: Arc<dyn EventLog>,
        topic: &str,
        bus: &BusSettings,
        shard: &ShardSettings,
        tasks: &mut JoinSet<Result<(), ShardError>>,
    ) -> Result<Self, purse_log::LogError> {
        log.create_topic(topic, bus.partitions).await?;
        let mut senders = Vec::with_capacity(bus.partitions as usize);
        for partition in 0..bus.partitions {
            let (sender, receiver) = mpsc::channel(bus.queue_capacity);
            let worker =
                ShardWorker::<D>::new(log.clone(), topic.to_owned(), partition, shard.clone());
            let topic = topic.to_owned();
            tasks.spawn(async move {
                let result = worker.run(receiver).await;
                report_exit(&topic, partition, &result);
                result
            });
            senders.push(sender);
        }
        Ok(Self {
            senders,
            reply_timeout_ms: bus.reply_timeout_ms,
        })
    }
}

#[async_trait::async_trait]
impl<D: ShardDecider> CommandBus<D> for LocalBus<D> {
    async fn send(
        &self,
        command: D::Command,
        idempotency_key: Option<IdempotencyKey>,
        correlation_id: String,
    ) -> CommandResult<D> {
        let stream_id = D::stream_id(&command).to_string();
        let partition = partition_for(stream_id.as_bytes(), self.senders.len() as u32);
        let (reply, receiver) = oneshot::channel();
        let request = CommandRequest {
            command,
            idempotency_key,
            // Inside a gRPC call, the call's id: the handler's own is only a fallback.
            correlation_id: telemetry::correlation_id_or(correlation_id),
            reply: Some(reply),
        };
        let timeout = Duration::from_millis(self.reply_timeout_ms);
        let exchange = async {
            self.senders[partition as usize]
                .send(request)
                .await
                .map_err(|_| CommandError::Unavailable("shard worker stopped".into()))?;
            receiver
                .await
                .map_err(|_| CommandError::Unavailable("shard worker stopped".into()))?
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(CommandError::Timeout {
                timeout_ms: self.reply_timeout_ms,
            }))
    }
}
