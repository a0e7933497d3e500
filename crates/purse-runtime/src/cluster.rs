//! Cluster mode write path (DESIGN §5): commands travel through a command topic to whichever
//! instance's consumer-group member owns their partition, and replies come back on the asking
//! instance's partition of the reply topic.
//!
//! - [`LogBus`] is the front's side: it publishes a command (keyed by stream, so it lands on the
//!   partition whose events the owning worker holds) and waits, bounded, for the reply carrying its
//!   request id. On timeout the client retries with the same idempotency key, which is safe.
//! - [`ShardHost`] is the owner's side: a consumer-group member on the command topic that starts a
//!   [`ShardWorker`] for each partition it is assigned, feeds it the partition's commands, publishes
//!   the replies and commits command offsets only after their replies are out. On revocation it
//!   stops feeding the partition and lets the worker finish what it already has: whatever that
//!   worker writes after losing its partition can only lose (first writer wins), and it answers
//!   "retry" for anything that lost.
//!
//! Commands and replies are internal: JSON envelopes with a version, not a public contract (the
//! events are; see the event catalogue).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use purse_domain::idempotency::IdempotencyKey;
use purse_log::{
    EventLog, GroupConsumer, GroupEvent, LogError, Record, StoredRecord, partition_for,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};
use uuid::Uuid;

use crate::bus::CommandBus;
use crate::retry::FIRST_RETRY_MS;
use crate::shard::{
    CommandError, CommandReply, CommandRequest, CommandResult, ShardDecider, ShardError,
    ShardSettings, ShardWorker,
};
use crate::telemetry;

/// Version of the command and reply envelopes; a reader refuses versions it does not know.
const ENVELOPE_VERSION: u32 = 1;
/// Most replies published in one append.
const REPLY_BATCH_MAX: usize = 1024;
/// Most command records taken from the group per poll.
const POLL_MAX_RECORDS: usize = 1024;
/// How long one poll of the group (or one read of the reply partition) waits before the loop
/// checks for shutdown; not a latency: data wakes them at once.
const POLL_WAIT_MS: u64 = 500;

/// A decider whose commands, outcomes and errors can travel between instances.
pub trait WireDecider:
    ShardDecider<
        Command: Serialize + DeserializeOwned,
        Outcome: Serialize + DeserializeOwned,
        Error: Serialize + DeserializeOwned,
    >
{
}

impl<D> WireDecider for D where
    D: ShardDecider<
            Command: Serialize + DeserializeOwned,
            Outcome: Serialize + DeserializeOwned,
            Error: Serialize + DeserializeOwned,
        >
{
}

/// Topics and sizes of one decider's cluster write path.
#[derive(Clone, Debug)]
pub struct ClusterSettings {
    /// This instance's id: names its consumer-group member and its reply partition.
    pub instance_id: String,
    /// Consumer group of the shard hosts (one per decider, e.g. `purse-wallets`).
    pub group: String,
    /// Command topic (`purse.wallet.commands`).
    pub commands_topic: String,
    /// Event topic (`purse.wallet.events`).
    pub events_topic: String,
    /// Reply topic shared by every service (`purse.replies`).
    pub replies_topic: String,
    /// Partitions of the command and event topics (equal, so one stream's commands and events
    /// share a partition number).
    pub partitions: u32,
    /// Partitions of the reply topic; instances hash onto them by id.
    pub reply_partitions: u32,
    /// How long a call waits for its reply.
    pub reply_timeout_ms: u64,
    /// Queued commands per shard worker before the host stops polling.
    pub queue_capacity: usize,
}

impl ClusterSettings {
    fn reply_partition(&self) -> u32 {
        partition_for(self.instance_id.as_bytes(), self.reply_partitions)
    }

    /// Creates the command, event and reply topics if missing.
    pub async fn create_topics(&self, log: &dyn EventLog) -> Result<(), LogError> {
        log.create_topic(&self.commands_topic, self.partitions)
            .await?;
        log.create_topic(&self.events_topic, self.partitions)
            .await?;
        log.create_topic(&self.replies_topic, self.reply_partitions)
            .await
    }
}

#[derive(Serialize, Deserialize)]
struct CommandEnvelope<C> {
    version: u32,
    request_id: Uuid,
    /// Partition of the reply topic the asker reads.
    reply_partition: u32,
    correlation_id: String,
    idempotency_key: Option<IdempotencyKey>,
    command: C,
}

#[derive(Serialize, Deserialize)]
struct ReplyEnvelope<O, E> {
    version: u32,
    request_id: Uuid,
    result: WireResult<O, E>,
}

/// The part of a reply every bus can read, whichever decider it answers.
#[derive(Deserialize)]
struct ReplyHead {
    request_id: Uuid,
}

/// [`CommandResult`] on the wire. `Timeout` never travels: it is the asker's own verdict.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WireResult<O, E> {
    Ok {
        outcome: O,
        sequence: u64,
        replayed: bool,
    },
    Rejected(E),
    IdempotencyKeyReused,
    Retry,
    StreamHalted,
    Unavailable(String),
}

impl<O, E: std::error::Error> WireResult<O, E> {
    fn from_result(result: Result<CommandReply<O>, CommandError<E>>) -> Self {
        match result {
            Ok(reply) => Self::Ok {
                outcome: reply.outcome,
                sequence: reply.sequence,
                replayed: reply.replayed,
            },
            Err(CommandError::Rejected(error)) => Self::Rejected(error),
            Err(CommandError::IdempotencyKeyReused) => Self::IdempotencyKeyReused,
            Err(CommandError::Retry) => Self::Retry,
            Err(CommandError::StreamHalted) => Self::StreamHalted,
            Err(CommandError::Unavailable(why)) => Self::Unavailable(why),
            Err(CommandError::Timeout { timeout_ms }) => {
                Self::Unavailable(format!("no reply within {timeout_ms} ms"))
            }
        }
    }

    fn into_result(self) -> Result<CommandReply<O>, CommandError<E>> {
        match self {
            Self::Ok {
                outcome,
                sequence,
                replayed,
            } => Ok(CommandReply {
                outcome,
                sequence,
                replayed,
            }),
            Self::Rejected(error) => Err(CommandError::Rejected(error)),
            Self::IdempotencyKeyReused => Err(CommandError::IdempotencyKeyReused),
            Self::Retry => Err(CommandError::Retry),
            Self::StreamHalted => Err(CommandError::StreamHalted),
            Self::Unavailable(why) => Err(CommandError::Unavailable(why)),
        }
    }
}

type Pending<D> = Arc<Mutex<HashMap<Uuid, oneshot::Sender<CommandResult<D>>>>>;

/// The front's side of the cluster bus.
pub struct LogBus<D: WireDecider> {
    log: Arc<dyn EventLog>,
    settings: ClusterSettings,
    pending: Pending<D>,
    listener: JoinHandle<()>,
}

impl<D: WireDecider> LogBus<D> {
    /// Starts listening on this instance's reply partition (from its current end: replies to
    /// requests made before this start are of no use to anyone).
    pub async fn start(
        log: Arc<dyn EventLog>,
        settings: ClusterSettings,
    ) -> Result<Self, LogError> {
        let reply_partition = settings.reply_partition();
        let from_offset = log
            .end_offset(&settings.replies_topic, reply_partition)
            .await?;
        let pending: Pending<D> = Arc::default();
        let listener = tokio::spawn(listen_for_replies::<D>(
            log.clone(),
            settings.replies_topic.clone(),
            reply_partition,
            from_offset,
            pending.clone(),
        ));
        Ok(Self {
            log,
            settings,
            pending,
            listener,
        })
    }

    async fn publish(&self, record: Record) -> Result<(), CommandError<D::Error>> {
        self.log
            .append(&self.settings.commands_topic, vec![record])
            .await
            .map(|_| ())
            .map_err(|err| CommandError::Unavailable(format!("command not published: {err}")))
    }
}

impl<D: WireDecider> Drop for LogBus<D> {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

#[async_trait::async_trait]
impl<D: WireDecider> CommandBus<D> for LogBus<D> {
    async fn send(
        &self,
        command: D::Command,
        idempotency_key: Option<IdempotencyKey>,
        correlation_id: String,
    ) -> CommandResult<D> {
        let stream_id = D::stream_id(&command).to_string();
        let request_id = Uuid::now_v7();
        let envelope = CommandEnvelope {
            version: ENVELOPE_VERSION,
            request_id,
            reply_partition: self.settings.reply_partition(),
            // Inside a gRPC call, the call's id: the handler's own is only a fallback.
            correlation_id: telemetry::correlation_id_or(correlation_id),
            idempotency_key,
            command,
        };
        let payload = serde_json::to_vec(&envelope).expect("commands serialize");
        let record = Record {
            partition: partition_for(stream_id.as_bytes(), self.settings.partitions),
            key: stream_id.into_bytes(),
            payload,
        };
        let (sender, receiver) = oneshot::channel();
        self.pending
            .lock()
            .expect("pending map lock")
            .insert(request_id, sender);
        let timeout_ms = self.settings.reply_timeout_ms;
        let exchange = async {
            self.publish(record).await?;
            receiver
                .await
                .map_err(|_| CommandError::Unavailable("reply listener stopped".into()))?
        };
        let result = tokio::time::timeout(Duration::from_millis(timeout_ms), exchange)
            .await
            .unwrap_or(Err(CommandError::Timeout { timeout_ms }));
        self.pending
            .lock()
            .expect("pending map lock")
            .remove(&request_id);
        result
    }
}

/// Follows one reply partition and hands each reply to the call waiting for it; replies nobody
/// waits for (other instances on the same partition, calls that timed out, duplicates after a
/// re-delivered command) are dropped.
async fn listen_for_replies<D: WireDecider>(
    log: Arc<dyn EventLog>,
    topic: String,
    partition: u32,
    mut next_offset: u64,
    pending: Pending<D>,
) {
    loop {
        let records = match log
            .read(
                &topic,
                partition,
                next_offset,
                REPLY_BATCH_MAX,
                POLL_WAIT_MS,
            )
            .await
        {
            Ok(records) => records,
            Err(err) => {
                warn!(topic, partition, error = %err, "reading replies failed; retrying");
                tokio::time::sleep(Duration::from_millis(FIRST_RETRY_MS)).await;
                continue;
            }
        };
        for record in records {
            next_offset = record.offset + 1;
            // Every decider's bus of this instance reads the same reply partition: look at the
            // request id first and decode only replies to our own requests.
            let request_id = match serde_json::from_slice::<ReplyHead>(&record.payload) {
                Ok(head) => head.request_id,
                Err(err) => {
                    error!(topic, partition, offset = record.offset, error = %err, "undecodable reply skipped");
                    continue;
                }
            };
            let waiter = pending
                .lock()
                .expect("pending map lock")
                .remove(&request_id);
            let Some(waiter) = waiter else { continue };
            match serde_json::from_slice::<ReplyEnvelope<D::Outcome, D::Error>>(&record.payload) {
                Ok(reply) => {
                    let _ = waiter.send(reply.result.into_result());
                }
                Err(err) => {
                    error!(topic, partition, offset = record.offset, error = %err, "undecodable reply skipped");
                    let _ = waiter.send(Err(CommandError::Unavailable(format!(
                        "undecodable reply: {err}"
                    ))));
                }
            }
        }
    }
}

/// Why a shard host stopped.
#[derive(thiserror::Error, Debug)]
pub enum HostError {
    /// The consumer group or the log failed.
    #[error("event log: {0}")]
    Log(#[from] LogError),
    /// A shard worker stopped on an error.
    #[error("shard worker for partition {partition}: {source}")]
    Shard {
        /// Its partition.
        partition: u32,
        /// Why it stopped.
        source: ShardError,
    },
}

/// A command of the partition waiting for its worker's answer, in partition order.
struct InFlight<D: WireDecider> {
    offset: u64,
    reply_partition: u32,
    request_id: Uuid,
    /// None for a record that could not be decoded (nothing to answer; its offset still counts).
    reply: Option<oneshot::Receiver<CommandResult<D>>>,
}

/// A reply ready to publish, with the command offset it completes.
struct OutgoingReply {
    partition: u32,
    /// Which ownership of the partition produced it.
    generation: u64,
    offset: u64,
    record: Option<Record>,
}

struct OwnedPartition<D: WireDecider> {
    generation: u64,
    commands: mpsc::Sender<CommandRequest<D>>,
    in_flight: mpsc::UnboundedSender<InFlight<D>>,
}

/// How far a partition's replies are out: the next command offset, for the current ownership
/// only (a drained worker of an earlier ownership must not move a later one's commit back).
#[derive(Clone, Copy, Debug)]
struct PartitionProgress {
    generation: u64,
    next_offset: Option<u64>,
}

type Progress = Arc<Mutex<HashMap<u32, PartitionProgress>>>;

/// The owner's side of the cluster bus: one consumer-group member hosting shard workers.
pub struct ShardHost<D: WireDecider> {
    log: Arc<dyn EventLog>,
    settings: ClusterSettings,
    shard: ShardSettings,
    owned: HashMap<u32, OwnedPartition<D>>,
    workers: HashMap<u32, JoinHandle<Result<(), ShardError>>>,
    committed: HashMap<u32, u64>,
    progress: Progress,
    next_generation: u64,
    replies: Option<mpsc::Sender<OutgoingReply>>,
    reply_publisher: JoinHandle<()>,
}

impl<D: WireDecider> ShardHost<D> {
    /// A host that will join `settings.group`; [`ShardHost::run`] does the work.
    pub fn new(log: Arc<dyn EventLog>, settings: ClusterSettings, shard: ShardSettings) -> Self {
        let progress = Progress::default();
        let (replies, outgoing) = mpsc::channel(settings.queue_capacity);
        let reply_publisher = tokio::spawn(publish_replies(
            log.clone(),
            settings.replies_topic.clone(),
            outgoing,
            progress.clone(),
        ));
        Self {
            log,
            settings,
            shard,
            owned: HashMap::new(),
            workers: HashMap::new(),
            committed: HashMap::new(),
            progress,
            next_generation: 0,
            replies: Some(replies),
            reply_publisher,
        }
    }

    /// Serves assigned partitions until `shutdown` turns true, then drains: queued commands are
    /// decided and answered, offsets committed, and the group left.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<(), HostError> {
        let topics = [self.settings.commands_topic.clone()];
        let mut consumer = self
            .log
            .subscribe(&self.settings.group, &self.settings.instance_id, &topics)
            .await?;
        loop {
            let polled = tokio::select! {
                polled = consumer.poll(POLL_MAX_RECORDS, POLL_WAIT_MS) => polled,
                _ = shutdown.changed() => break,
            };
            self.check_workers().await?;
            match polled {
                Ok(Some(GroupEvent::Assigned(partitions))) => {
                    for tp in partitions {
                        self.start_partition(tp.partition).await?;
                    }
                }
                Ok(Some(GroupEvent::Revoked(partitions))) => {
                    for tp in partitions {
                        self.stop_partition(tp.partition);
                    }
                }
                Ok(Some(GroupEvent::Records { partition, records })) => {
                    self.dispatch(partition.partition, records).await;
                }
                Ok(None) => {}
                Err(err) if err.is_transient() => {
                    warn!(group = self.settings.group, error = %err, "polling the command group failed; retrying");
                    tokio::time::sleep(Duration::from_millis(FIRST_RETRY_MS)).await;
                }
                Err(err) => return Err(err.into()),
            }
            self.commit_progress(consumer.as_mut()).await;
        }
        info!(group = self.settings.group, "draining shard host");
        // Close every worker's queue; ownership (for the final commit) stays in `committed`.
        for owned in self.owned.values_mut() {
            let (closed, _) = mpsc::channel(1);
            owned.commands = closed;
        }
        for (partition, worker) in self.workers.drain() {
            match worker.await {
                Ok(Ok(())) => {}
                Ok(Err(source)) => return Err(HostError::Shard { partition, source }),
                Err(join) => warn!(partition, error = %join, "shard worker did not finish"),
            }
        }
        for owned in self.owned.values_mut() {
            let (closed, _) = mpsc::unbounded_channel();
            owned.in_flight = closed;
        }
        self.replies = None;
        let _ = (&mut self.reply_publisher).await;
        self.commit_progress(consumer.as_mut()).await;
        consumer.leave().await?;
        Ok(())
    }

    /// Fails the host when a worker stopped on an error; forgets workers that finished draining.
    async fn check_workers(&mut self) -> Result<(), HostError> {
        let finished: Vec<u32> = self
            .workers
            .iter()
            .filter(|(_, worker)| worker.is_finished())
            .map(|(partition, _)| *partition)
            .collect();
        for partition in finished {
            let worker = self.workers.remove(&partition).expect("listed above");
            if let Ok(Err(source)) = worker.await {
                return Err(HostError::Shard { partition, source });
            }
        }
        Ok(())
    }

    async fn start_partition(&mut self, partition: u32) -> Result<(), HostError> {
        if let Some(previous) = self.workers.remove(&partition) {
            // The partition came back before its previous worker finished draining: two writers
            // in one process would only fight each other.
            if let Ok(Err(source)) = previous.await {
                return Err(HostError::Shard { partition, source });
            }
        }
        info!(
            topic = self.settings.events_topic,
            partition, "partition assigned; loading"
        );
        self.next_generation += 1;
        let generation = self.next_generation;
        let (commands, receiver) = mpsc::channel(self.settings.queue_capacity);
        let (in_flight, waiting) = mpsc::unbounded_channel();
        let worker = ShardWorker::<D>::new(
            self.log.clone(),
            self.settings.events_topic.clone(),
            partition,
            self.shard.clone(),
        );
        self.workers
            .insert(partition, tokio::spawn(worker.run(receiver)));
        if let Some(replies) = &self.replies {
            tokio::spawn(forward_replies::<D>(
                partition,
                generation,
                waiting,
                replies.clone(),
            ));
        }
        self.progress.lock().expect("progress lock").insert(
            partition,
            PartitionProgress {
                generation,
                next_offset: None,
            },
        );
        self.owned.insert(
            partition,
            OwnedPartition {
                generation,
                commands,
                in_flight,
            },
        );
        Ok(())
    }

    /// Stops feeding a partition; its worker answers what it already has and ends.
    fn stop_partition(&mut self, partition: u32) {
        if self.owned.remove(&partition).is_some() {
            info!(
                topic = self.settings.events_topic,
                partition, "partition revoked; draining its worker"
            );
        }
        self.committed.remove(&partition);
    }

    async fn dispatch(&mut self, partition: u32, records: Vec<StoredRecord>) {
        let Some(owned) = self.owned.get(&partition) else {
            // Records of a partition revoked since they were fetched: the new owner has them.
            return;
        };
        for record in records {
            let envelope = match serde_json::from_slice::<CommandEnvelope<D::Command>>(
                &record.payload,
            ) {
                Ok(envelope) if envelope.version == ENVELOPE_VERSION => envelope,
                Ok(envelope) => {
                    error!(
                        partition,
                        offset = record.offset,
                        version = envelope.version,
                        "command envelope of an unknown version skipped"
                    );
                    let _ = owned.in_flight.send(InFlight::skipped(record.offset));
                    continue;
                }
                Err(err) => {
                    error!(partition, offset = record.offset, error = %err, "undecodable command skipped");
                    let _ = owned.in_flight.send(InFlight::skipped(record.offset));
                    continue;
                }
            };
            let (reply, receiver) = oneshot::channel();
            let request = CommandRequest {
                command: envelope.command,
                idempotency_key: envelope.idempotency_key,
                correlation_id: envelope.correlation_id,
                reply: Some(reply),
            };
            if owned.commands.send(request).await.is_err() {
                // The worker stopped; check_workers reports why on the next round.
                return;
            }
            let _ = owned.in_flight.send(InFlight {
                offset: record.offset,
                reply_partition: envelope.reply_partition,
                request_id: envelope.request_id,
                reply: Some(receiver),
            });
        }
    }

    /// Commits, for each owned partition, the offset after the last command whose reply is out.
    async fn commit_progress(&mut self, consumer: &mut dyn GroupConsumer) {
        let due: Vec<(u32, u64)> = {
            let progress = self.progress.lock().expect("progress lock");
            self.owned
                .iter()
                .filter_map(|(partition, owned)| {
                    let current = progress.get(partition)?;
                    let next_offset = current.next_offset?;
                    (current.generation == owned.generation
                        && self.committed.get(partition) != Some(&next_offset))
                    .then_some((*partition, next_offset))
                })
                .collect()
        };
        for (partition, next_offset) in due {
            match consumer
                .commit(&self.settings.commands_topic, partition, next_offset)
                .await
            {
                Ok(()) => {
                    self.committed.insert(partition, next_offset);
                }
                // Not fatal: the next owner re-reads from the last commit, and a command consumed
                // twice replays its outcome.
                Err(err) => warn!(partition, error = %err, "command offset commit failed"),
            }
        }
    }
}

impl<D: WireDecider> InFlight<D> {
    /// A record with nothing to answer whose offset still counts as done.
    fn skipped(offset: u64) -> Self {
        Self {
            offset,
            reply_partition: 0,
            request_id: Uuid::nil(),
            reply: None,
        }
    }
}

/// Waits for a partition's answers in command order and passes them to the reply publisher, so
/// that the partition's progress only moves past commands whose replies are out.
async fn forward_replies<D: WireDecider>(
    partition: u32,
    generation: u64,
    mut waiting: mpsc::UnboundedReceiver<InFlight<D>>,
    replies: mpsc::Sender<OutgoingReply>,
) {
    while let Some(in_flight) = waiting.recv().await {
        let record = match in_flight.reply {
            Some(receiver) => {
                let result = receiver.await.unwrap_or_else(|_| {
                    Err(CommandError::Unavailable("shard worker stopped".into()))
                });
                let reply = ReplyEnvelope {
                    version: ENVELOPE_VERSION,
                    request_id: in_flight.request_id,
                    result: WireResult::from_result(result),
                };
                Some(Record {
                    partition: in_flight.reply_partition,
                    key: in_flight.request_id.as_bytes().to_vec(),
                    payload: serde_json::to_vec(&reply).expect("replies serialize"),
                })
            }
            None => None,
        };
        let outgoing = OutgoingReply {
            partition,
            generation,
            offset: in_flight.offset,
            record,
        };
        if replies.send(outgoing).await.is_err() {
            warn!(partition, "reply publisher stopped; replies dropped");
            return;
        }
    }
}

/// Publishes replies in batches (one append each) and records how far each partition got.
async fn publish_replies(
    log: Arc<dyn EventLog>,
    topic: String,
    mut outgoing: mpsc::Receiver<OutgoingReply>,
    progress: Progress,
) {
    let mut batch = Vec::with_capacity(REPLY_BATCH_MAX);
    while outgoing.recv_many(&mut batch, REPLY_BATCH_MAX).await > 0 {
        let records: Vec<Record> = batch.iter_mut().filter_map(|r| r.record.take()).collect();
        if !records.is_empty()
            && let Err(err) = log.append(&topic, records).await
        {
            // The askers time out and retry with the same key; the commands stay uncommitted,
            // so a new owner would answer them again.
            warn!(topic, error = %err, "replies not published");
            batch.clear();
            continue;
        }
        let mut progress = progress.lock().expect("progress lock");
        for reply in batch.drain(..) {
            if let Some(current) = progress.get_mut(&reply.partition)
                && current.generation == reply.generation
            {
                current.next_offset = Some(reply.offset + 1);
            }
        }
    }
}
