//! Reactors: at-least-once reactions to a decider's events (the saga coordinator's inputs and
//! dispatches, and later notifications).
//!
//! Per partition of the decider's event topic, a reactor reads every record from offset 0,
//! judges it with the [`SequenceGuard`] (losers are ignored, exactly as the projector does),
//! folds each stream's state with [`Decider::evolve`] and calls the [`Reaction`] for every
//! winning event at or after the partition's checkpoint, retrying transient failures with a
//! capped back-off: an event is never skipped. The checkpoint (the read store's, under the
//! reactor's name) moves after the events before it were handled, so a restart re-handles at
//! most the stretch since the last checkpoint: reactions must be idempotent.
//!
//! Why re-read from 0 rather than from the checkpoint: reactions need the stream's state (a
//! payment event means nothing without its intent), and the log is the only place it lives.
//! Events before the checkpoint only rebuild state and the guard ([`Reaction::replay`]).
//! The cost (every stream's state in memory, a full read at start) is recorded in
//! docs/adr/0009-reactors-and-saga-coordinator.md, with the one-instance rule for cluster mode.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use purse_domain::Decider;
use purse_log::{EventLog, LogError};
use purse_store::{Checkpoint, ReadStore, StoreError};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{Instrument, error, warn};
use uuid::Uuid;

use crate::codec::{self, CodecError};
use crate::guard::{SequenceGuard, Verdict};
use crate::metrics::{self, Event, Reader};
use crate::retry::while_transient;
use crate::shard::ShardDecider;

/// First pause after a transient reaction or store failure; doubled per failure up to
/// [`MAX_RETRY_PAUSE_MS`].
const FIRST_RETRY_PAUSE_MS: u64 = 100;
/// Longest pause between attempts: a dependency that comes back is noticed within this.
const MAX_RETRY_PAUSE_MS: u64 = 5_000;
/// Failed attempts of one event after which each further failure is logged at ERROR (someone
/// should look: the reactor is stalled on this partition, though it keeps trying).
const STALLED_AFTER_ATTEMPTS: u32 = 20;

/// Settings of one reactor.
#[derive(Clone, Debug)]
pub struct ReactorSettings {
    /// Name under which checkpoints are stored; unique per reactor and stable across releases
    /// (renaming it re-handles every event).
    pub name: String,
    /// The event topic followed.
    pub topic: String,
    /// Its partition count (one task each).
    pub partitions: u32,
    /// Most records per read.
    pub read_batch_max_records: usize,
    /// How long a read waits for new records before checking for shutdown.
    pub read_wait_ms: u64,
}

/// One winning event, with what a reaction needs around it.
pub struct Reacted<'a, D: Decider> {
    /// The event's stream.
    pub stream_id: Uuid,
    /// The event's stream sequence.
    pub sequence: u64,
    /// The event's id (stable: the same event read again has the same id).
    pub event_id: &'a str,
    /// Partition the event was read from.
    pub partition: u32,
    /// Offset of the record that carries it.
    pub offset: u64,
    /// Tenant of the envelope (empty for saga streams, whose envelopes carry none).
    pub tenant: &'a str,
    /// Correlation id of the request that caused the event (for logs and follow-up commands).
    pub correlation_id: &'a str,
    /// The event.
    pub event: &'a D::Event,
    /// The stream's state after this event.
    pub state: &'a D::State,
}

/// Why a reaction did not complete.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ReactionError {
    /// May pass by itself (a bus timeout, a shard unavailable, a lost race, a store hiccup):
    /// the reactor retries the same event with a capped back-off.
    #[error("transient: {0}")]
    Transient(String),
    /// Can never succeed as is (a bug, data this code does not understand): the partition's
    /// reactor stops with [`ReactorError::Reaction`] rather than skip the event.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// What a reactor does with winning events. Implementations must be idempotent: after a crash,
/// events since the last checkpoint are handled again.
#[async_trait::async_trait]
pub trait Reaction<D: ShardDecider>: Send + Sync + 'static {
    /// Handles one winning event at or after the checkpoint. Called in partition order, one
    /// event at a time per partition; partitions run concurrently.
    async fn react(&self, event: &Reacted<'_, D>) -> Result<(), ReactionError>;

    /// Sees a winning event before the checkpoint (handled before a restart): lets a reaction
    /// rebuild in-memory indexes. Must not act. Default: nothing.
    fn replay(&self, _event: &Reacted<'_, D>) {}

    /// Called once per partition, when the reactor has re-read it up to its checkpoint and
    /// before the first [`Reaction::react`] there (also when nothing is left to handle).
    /// Errors are retried like [`Reaction::react`]'s. Default: nothing.
    async fn caught_up(&self, _partition: u32) -> Result<(), ReactionError> {
        Ok(())
    }
}

/// Why a reactor partition stopped.
#[derive(thiserror::Error, Debug)]
pub enum ReactorError {
    /// Reading the log failed in a way retrying cannot fix.
    #[error("event log: {0}")]
    Log(#[from] LogError),
    /// Reading or writing the checkpoint failed in a way retrying cannot fix.
    #[error("read store: {0}")]
    Store(#[from] StoreError),
    /// A record could not be decoded.
    #[error("undecodable record at offset {offset}: {source}")]
    Codec {
        /// Offset of the record.
        offset: u64,
        /// What was wrong.
        source: CodecError,
    },
    /// The reaction failed permanently on an event (it is not skipped: an operator must look).
    #[error("reaction failed at offset {offset} of partition {partition}: {source}")]
    Reaction {
        /// Partition of the event.
        partition: u32,
        /// Offset of its record.
        offset: u64,
        /// The reaction's error.
        source: ReactionError,
    },
}

/// Starts one reactor task per partition of `settings.topic` in `tasks`. Each stops, after
/// checkpointing what it handled, once `stop` turns true.
///
/// Only one instance of a given reactor should run at a time (see the ADR): two would both
/// handle every event, which idempotent reactions tolerate but which doubles the work.
pub fn spawn_reactor<D: ShardDecider>(
    log: Arc<dyn EventLog>,
    store: Arc<dyn ReadStore>,
    settings: ReactorSettings,
    reaction: Arc<dyn Reaction<D>>,
    stop: &watch::Receiver<bool>,
    tasks: &mut JoinSet<Result<(), ReactorError>>,
) {
    for partition in 0..settings.partitions {
        let partition_reactor = PartitionReactor::<D> {
            log: log.clone(),
            store: store.clone(),
            settings: settings.clone(),
            partition,
            reaction: reaction.clone(),
            stop: stop.clone(),
            guard: SequenceGuard::exporting_to(Reader::Reactor),
            states: HashMap::new(),
        };
        tasks.spawn(partition_reactor.run());
    }
}

/// What a pass over one record asks the loop to do next.
enum Flow {
    Continue,
    Stop,
}

struct PartitionReactor<D: ShardDecider> {
    log: Arc<dyn EventLog>,
    store: Arc<dyn ReadStore>,
    settings: ReactorSettings,
    partition: u32,
    reaction: Arc<dyn Reaction<D>>,
    stop: watch::Receiver<bool>,
    guard: SequenceGuard,
    states: HashMap<Uuid, D::State>,
}

impl<D: ShardDecider> PartitionReactor<D> {
    async fn run(mut self) -> Result<(), ReactorError> {
        let result = self.follow().await;
        if let Err(err) = &result {
            error!(reactor = %self.settings.name, partition = self.partition, error = %err, "reactor stopped");
        }
        result
    }

    async fn follow(&mut self) -> Result<(), ReactorError> {
        let checkpoint = self.load_checkpoint().await?;
        let mut next_offset = 0;
        let mut caught_up = false;
        loop {
            if *self.stop.borrow() {
                return Ok(());
            }
            let (log, topic, partition) = (&self.log, &self.settings.topic, self.partition);
            let (max_records, wait_ms) = (
                self.settings.read_batch_max_records,
                self.settings.read_wait_ms,
            );
            let mut stop = self.stop.clone();
            let stored = tokio::select! {
                read = while_transient("reactor read", || log.read(topic, partition, next_offset, max_records, wait_ms)) => read?,
                _ = stop.changed() => return Ok(()),
            };
            let Some(last) = stored.last() else {
                // Nothing more to read: the checkpoint (if any) is behind us.
                if !caught_up && next_offset >= checkpoint {
                    caught_up = true;
                    if let Flow::Stop = self.signal_caught_up().await? {
                        return Ok(());
                    }
                }
                continue;
            };
            let last_offset = last.offset;
            let records = codec::decode_stored(&stored)
                .map_err(|(offset, source)| ReactorError::Codec { offset, source })?;
            let conflicts_before = self.guard.conflicts();
            // Next offset whose handling is complete, to checkpoint: moves past every record
            // that was handled (or ignored) in this batch.
            let mut handled_until: Option<u64> = None;
            let mut stopped = false;
            for (offset, record) in &records {
                let live = *offset >= checkpoint;
                if live && !caught_up {
                    caught_up = true;
                    if let Flow::Stop = self.signal_caught_up().await? {
                        stopped = true;
                        break;
                    }
                }
                if let Flow::Stop = self.apply(*offset, record, live).await? {
                    stopped = true;
                    break;
                }
                if live {
                    handled_until = Some(offset + 1);
                }
            }
            if self.guard.conflicts() > conflicts_before {
                warn!(
                    reactor = %self.settings.name,
                    topic = %self.settings.topic,
                    partition = self.partition,
                    conflicts_total = self.guard.conflicts(),
                    "ignored losing records (first writer wins)"
                );
            }
            if let Some(until) = handled_until {
                self.save_checkpoint(until).await?;
            }
            if stopped {
                return Ok(());
            }
            next_offset = last_offset + 1;
        }
    }

    /// Judges one record, folds its events into the stream's state and hands each winning
    /// event to the reaction (`live`) or to its replay hook.
    async fn apply(
        &mut self,
        offset: u64,
        record: &purse_proto::event::v1::EventRecord,
        live: bool,
    ) -> Result<Flow, ReactorError> {
        // Losers and halted streams are not ours to act on (the guard logs and counts them).
        if self.guard.admit(&codec::header(record)) != Verdict::Accepted {
            return Ok(Flow::Continue);
        }
        let codec_error = |source| ReactorError::Codec { offset, source };
        let stream_id = Uuid::parse_str(&record.events[0].stream_id)
            .map_err(|_| codec_error(CodecError::Field { field: "stream_id" }))?;
        for envelope in &record.events {
            let event = D::from_envelope(envelope).map_err(codec_error)?;
            let state = self.states.remove(&stream_id).unwrap_or_default();
            let state = D::evolve(state, &event);
            let reacted = Reacted::<D> {
                stream_id,
                sequence: envelope.stream_sequence,
                event_id: &envelope.event_id,
                partition: self.partition,
                offset,
                tenant: &envelope.tenant,
                correlation_id: &envelope.correlation_id,
                event: &event,
                state: &state,
            };
            let flow = if live {
                self.react_until_done(&reacted).await?
            } else {
                self.reaction.replay(&reacted);
                Flow::Continue
            };
            self.states.insert(stream_id, state);
            if let Flow::Stop = flow {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }

    async fn react_until_done(&self, reacted: &Reacted<'_, D>) -> Result<Flow, ReactorError> {
        let partition = self.partition;
        let offset = reacted.offset;
        let event_type = D::event_type(reacted.event);
        // One span per reaction, retries included; the commands it sends are its children.
        let span = tracing::info_span!(
            "reaction",
            otel.name = %format_args!("{} {event_type}", self.settings.name),
            reactor = %self.settings.name,
            event = event_type,
            correlation_id = %reacted.correlation_id,
            tenant = reacted.tenant,
            stream_id = %reacted.stream_id,
            sequence = reacted.sequence,
            topic = %self.settings.topic,
            partition,
            offset,
        );
        self.retrying("reaction", || self.reaction.react(reacted))
            .instrument(span)
            .await
            .map_err(|source| ReactorError::Reaction {
                partition,
                offset,
                source,
            })
    }

    async fn signal_caught_up(&self) -> Result<Flow, ReactorError> {
        let partition = self.partition;
        let span = tracing::info_span!(
            "caught_up",
            otel.name = %format_args!("{} caught up", self.settings.name),
            reactor = %self.settings.name,
            topic = %self.settings.topic,
            partition,
        );
        self.retrying("caught-up hook", || self.reaction.caught_up(partition))
            .instrument(span)
            .await
            .map_err(|source| ReactorError::Reaction {
                partition,
                offset: 0,
                source,
            })
    }

    /// Runs `attempt` until it succeeds, fails permanently, or the reactor is told to stop
    /// (then [`Flow::Stop`]: the event stays unhandled and is handled after the restart).
    async fn retrying<F, Fut>(&self, what: &str, mut attempt: F) -> Result<Flow, ReactionError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), ReactionError>>,
    {
        let mut pause_ms = FIRST_RETRY_PAUSE_MS;
        let mut attempts: u32 = 0;
        let mut stop = self.stop.clone();
        loop {
            match attempt().await {
                Ok(()) => {
                    metrics::record(Event::ReactorHandled);
                    return Ok(Flow::Continue);
                }
                Err(ReactionError::Transient(reason)) => {
                    attempts += 1;
                    metrics::record(Event::ReactorRetried);
                    if attempts >= STALLED_AFTER_ATTEMPTS {
                        error!(reactor = %self.settings.name, partition = self.partition, what, attempts, reason, "reaction keeps failing; partition stalled, still retrying");
                    } else {
                        warn!(reactor = %self.settings.name, partition = self.partition, what, attempts, reason, retry_in_ms = pause_ms, "reaction failed; retrying");
                    }
                }
                Err(permanent) => return Err(permanent),
            }
            if *stop.borrow() {
                return Ok(Flow::Stop);
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(pause_ms)) => {}
                _ = stop.changed() => return Ok(Flow::Stop),
            }
            pause_ms = (pause_ms * 2).min(MAX_RETRY_PAUSE_MS);
        }
    }

    async fn load_checkpoint(&self) -> Result<u64, ReactorError> {
        let (store, settings, partition) = (&self.store, &self.settings, self.partition);
        let loaded = store_retrying("reactor checkpoint read", || {
            store.checkpoint(&settings.name, &settings.topic, partition)
        })
        .await?;
        Ok(loaded.unwrap_or(0))
    }

    async fn save_checkpoint(&self, next_offset: u64) -> Result<(), ReactorError> {
        let checkpoint = Checkpoint {
            projector: self.settings.name.clone(),
            topic: self.settings.topic.clone(),
            partition: self.partition,
            next_offset,
        };
        let store = &self.store;
        store_retrying("reactor checkpoint write", || {
            store.apply(Vec::new(), vec![checkpoint.clone()])
        })
        .await?;
        Ok(())
    }
}

/// Retries a store call while its error may pass (a database client failure); a checkpoint
/// that cannot be written only means re-handling more after a restart, but a reactor that
/// cannot record progress should not race ahead of it either.
async fn store_retrying<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut pause_ms = FIRST_RETRY_PAUSE_MS;
    loop {
        match attempt().await {
            Err(err @ StoreError::Client(_)) => {
                warn!(what, error = %err, retry_in_ms = pause_ms, "read store unavailable; retrying");
                tokio::time::sleep(Duration::from_millis(pause_ms)).await;
                pause_ms = (pause_ms * 2).min(MAX_RETRY_PAUSE_MS);
            }
            result => return result,
        }
    }
}
