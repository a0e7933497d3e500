//! Shard workers: the write path (DESIGN §5).
//!
//! A worker owns one partition of a decider's event topic. It keeps the state of every stream on
//! that partition in memory and loops: take a batch of commands, decide each (idempotency first),
//! append every resulting record in one call (the group commit), read the partition back through
//! the [`SequenceGuard`], and only then reply: success only for records that won.
//!
//! Decisions are applied to the in-memory state optimistically, so later commands of the same batch
//! see earlier ones. Anything that breaks the optimism (a record of ours lost, a foreign winner on a
//! stream we wrote, an ambiguous append) makes the worker drop all state and re-read the partition:
//! rare, and correct by construction.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;
use purse_domain::idempotency::{Fingerprint, IdempotencyCheck, IdempotencyKey, IdempotencyLedger};
use purse_domain::{Context, Decider, MAX_IDS_PER_COMMAND, Timestamp};
use purse_log::{EventLog, LogError, Record};
use purse_proto::event::v1::EventRecord;
use tokio::sync::{mpsc, oneshot};
use tracing::field::Empty;
use tracing::{Span, debug, error, warn};
use uuid::Uuid;

use crate::clock;
use crate::codec::{self, CodecError, EventCodec, EventMeta};
use crate::guard::{SequenceGuard, StreamHead, Verdict};
use crate::metrics::{self, Event, Outcome, Reader};
use crate::retry::while_transient;

pub use purse_domain::TimerSettings;

/// What the shard worker needs of a decider: its rules and shard facts ([`Decider`]) and its
/// event contract ([`EventCodec`]). Every such decider is one.
pub trait ShardDecider: EventCodec + 'static {}

impl<D: EventCodec + 'static> ShardDecider for D {}

/// A command's type as spans show it: the command type's own name, never
/// anything taken from the command's fields.
pub fn command_type<D: Decider>() -> &'static str {
    let path = std::any::type_name::<D::Command>();
    path.rsplit("::").next().unwrap_or(path)
}

/// Limits and windows of a shard worker.
#[derive(Clone, Debug)]
pub struct ShardSettings {
    /// Most commands decided and appended together.
    pub batch_max_commands: usize,
    /// Most records read per read-back call.
    pub read_batch_max_records: usize,
    /// How long a read-back waits for the log to show our own records.
    pub read_back_wait_ms: u64,
    /// How long idempotency keys are remembered.
    pub idempotency_retention_ms: i64,
    /// Timer settings.
    pub timers: TimerSettings,
}

/// A successful command's reply.
#[derive(Clone, Debug)]
pub struct CommandReply<O> {
    /// What the decider reports for the command.
    pub outcome: O,
    /// The stream's sequence after the command.
    pub sequence: u64,
    /// True when this is the stored result of an earlier request with the same key.
    pub replayed: bool,
}

/// Why a command did not succeed.
#[derive(thiserror::Error, Debug)]
pub enum CommandError<E: std::error::Error> {
    /// The decider rejected it; nothing was written.
    #[error("rejected: {0}")]
    Rejected(E),
    /// The key was used before with a different request.
    #[error("idempotency key reused with a different request")]
    IdempotencyKeyReused,
    /// Another writer won this stream's sequence, or the append's outcome was unknown; retry with
    /// the same idempotency key (safe).
    #[error("lost to a concurrent writer or outcome unknown; retry with the same idempotency key")]
    Retry,
    /// The stream hit a sequence gap and is halted: an operator must look (see the runbook).
    #[error("stream halted after an invariant violation")]
    StreamHalted,
    /// The worker cannot serve (log unavailable or shutting down).
    #[error("shard unavailable: {0}")]
    Unavailable(String),
    /// No reply within the bound; retry with the same idempotency key.
    #[error("no reply within {timeout_ms} ms")]
    Timeout {
        /// The bound that passed.
        timeout_ms: u64,
    },
}

/// Result of a command.
pub type CommandResult<D> =
    Result<CommandReply<<D as Decider>::Outcome>, CommandError<<D as Decider>::Error>>;

/// A command on its way to its shard.
pub struct CommandRequest<D: Decider> {
    /// The command.
    pub command: D::Command,
    /// Client key (required for client commands; absent for timers).
    pub idempotency_key: Option<IdempotencyKey>,
    /// Correlation id of the call.
    pub correlation_id: String,
    /// Where the result goes (absent for timers).
    pub reply: ReplyTo<D>,
}

/// Why a shard worker stopped.
#[derive(thiserror::Error, Debug)]
pub enum ShardError {
    /// The log failed in a way a re-read cannot fix.
    #[error("event log: {0}")]
    Log(#[from] LogError),
    /// A record on the partition could not be decoded: data this code does not understand.
    #[error("undecodable record at offset {offset}: {source}")]
    Codec {
        /// Offset of the record.
        offset: u64,
        /// What was wrong.
        source: CodecError,
    },
}

/// How often (in stream events) a stream's idempotency ledger drops expired keys.
const LEDGER_PRUNE_EVERY_EVENTS: u64 = 64;

struct Stream<D: Decider> {
    state: D::State,
    /// Head including our not-yet-read-back records.
    head: StreamHead,
    ledger: IdempotencyLedger<D::Outcome>,
}

impl<D: Decider> Default for Stream<D> {
    fn default() -> Self {
        Self {
            state: D::State::default(),
            head: StreamHead::default(),
            ledger: IdempotencyLedger::default(),
        }
    }
}

type ReplyTo<D> = Option<oneshot::Sender<CommandResult<D>>>;

enum Planned<D: Decider> {
    Done(CommandResult<D>),
    AwaitRecord {
        record: usize,
        reply: CommandReply<D::Outcome>,
    },
}

struct PendingRecord {
    stream_id: Uuid,
    first_event_id: String,
    record: EventRecord,
}

/// One partition's writer.
pub struct ShardWorker<D: ShardDecider> {
    log: Arc<dyn EventLog>,
    topic: String,
    partition: u32,
    settings: ShardSettings,
    streams: HashMap<Uuid, Stream<D>>,
    guard: SequenceGuard,
    next_offset: u64,
    deadlines: BTreeSet<(Timestamp, Uuid)>,
    deadline_of: HashMap<Uuid, Timestamp>,
}

impl<D: ShardDecider> ShardWorker<D> {
    /// A worker for `partition` of `topic`; state is loaded by [`ShardWorker::run`].
    pub fn new(
        log: Arc<dyn EventLog>,
        topic: String,
        partition: u32,
        settings: ShardSettings,
    ) -> Self {
        Self {
            log,
            topic,
            partition,
            settings,
            streams: HashMap::new(),
            guard: SequenceGuard::exporting_to(Reader::Shard),
            next_offset: 0,
            deadlines: BTreeSet::new(),
            deadline_of: HashMap::new(),
        }
    }

    /// Loads the partition, then serves commands until every sender is dropped (graceful drain:
    /// queued commands are still decided and answered).
    pub async fn run(
        mut self,
        mut commands: mpsc::Receiver<CommandRequest<D>>,
    ) -> Result<(), ShardError> {
        self.catch_up().await?;
        let mut batch = Vec::with_capacity(self.settings.batch_max_commands);
        loop {
            let next_deadline = self.deadlines.first().map(|(at, _)| *at);
            tokio::select! {
                received = commands.recv_many(&mut batch, self.settings.batch_max_commands) => {
                    if received == 0 {
                        return Ok(());
                    }
                }
                () = sleep_until(next_deadline), if next_deadline.is_some() => {}
            }
            let now = clock::now();
            self.enqueue_due_timers(now, &mut batch);
            if !batch.is_empty() {
                self.process(std::mem::take(&mut batch), now).await?;
            }
        }
    }

    fn enqueue_due_timers(&mut self, now: Timestamp, batch: &mut Vec<CommandRequest<D>>) {
        while batch.len() < self.settings.batch_max_commands {
            let Some(&(at, stream_id)) = self.deadlines.first() else {
                break;
            };
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            self.deadline_of.remove(&stream_id);
            let Some(stream) = self.streams.get(&stream_id) else {
                continue;
            };
            if let Some(command) = D::timer_command(stream_id, &stream.state, &self.settings.timers)
            {
                batch.push(CommandRequest {
                    command,
                    idempotency_key: None,
                    correlation_id: format!("timer-{}", Uuid::now_v7()),
                    reply: None,
                });
            }
        }
    }

    async fn process(
        &mut self,
        batch: Vec<CommandRequest<D>>,
        now: Timestamp,
    ) -> Result<(), ShardError> {
        let started = Instant::now();
        let mut records: Vec<PendingRecord> = Vec::new();
        let mut planned: Vec<(ReplyTo<D>, Planned<D>, Span)> = Vec::with_capacity(batch.len());
        let batch_commands = batch.len();
        for request in batch {
            let span = self.command_span(&request, batch_commands);
            let plan = span.in_scope(|| self.decide_one(&request, now, &mut records));
            planned.push((request.reply, plan, span));
        }
        let won = if records.is_empty() {
            Vec::new()
        } else {
            self.append_and_read_back(&records, batch_commands).await?
        };
        for (reply, plan, span) in planned {
            let result = match plan {
                Planned::Done(result) => result,
                Planned::AwaitRecord { record, reply } if won[record] => Ok(reply),
                Planned::AwaitRecord { .. } => Err(CommandError::Retry),
            };
            record_outcome::<D>(&span, &result);
            metrics::record(Event::CommandAnswered {
                command: command_type::<D>(),
                outcome: match &result {
                    Ok(_) => Outcome::Ok,
                    Err(CommandError::Rejected(_) | CommandError::IdempotencyKeyReused) => {
                        Outcome::Rejected
                    }
                    Err(_) => Outcome::Retry,
                },
                elapsed: started.elapsed(),
            });
            // The span ends before the caller sees the reply.
            drop(span);
            if let Some(sender) = reply {
                // The caller may have timed out and gone; its retry replays the outcome.
                let _ = sender.send(result);
            }
        }
        Ok(())
    }

    /// The span of one command, from its decision to its reply (the batch's append and
    /// read-back included). Identifiers only: never the command's fields.
    fn command_span(&self, request: &CommandRequest<D>, batch_commands: usize) -> Span {
        let command_type = command_type::<D>();
        tracing::info_span!(
            "command",
            otel.name = %format_args!("command {command_type}"),
            command = command_type,
            correlation_id = %request.correlation_id,
            tenant = D::tenant(&request.command),
            stream_id = %D::stream_id(&request.command),
            topic = %self.topic,
            partition = self.partition,
            batch_commands,
            events = Empty,
            outcome = Empty,
            sequence = Empty,
        )
    }

    fn decide_one(
        &mut self,
        request: &CommandRequest<D>,
        now: Timestamp,
        records: &mut Vec<PendingRecord>,
    ) -> Planned<D> {
        let stream_id = D::stream_id(&request.command);
        let stream_key = stream_id.to_string();
        if self.guard.is_halted(&stream_key) {
            return Planned::Done(Err(CommandError::StreamHalted));
        }
        let committed_sequence = self.guard.head(&stream_key).map_or(0, |h| h.sequence);
        let retention_ms = self.settings.idempotency_retention_ms;
        let stream = self.streams.entry(stream_id).or_default();
        let fingerprint = D::fingerprint(&request.command);
        if let Some(key) = &request.idempotency_key {
            match stream.ledger.check(key, fingerprint, now, retention_ms) {
                IdempotencyCheck::New => {}
                IdempotencyCheck::KeyReused => {
                    return Planned::Done(Err(CommandError::IdempotencyKeyReused));
                }
                IdempotencyCheck::Replay { sequence, outcome } => {
                    let reply = CommandReply {
                        outcome: outcome.clone(),
                        sequence,
                        replayed: true,
                    };
                    if sequence <= committed_sequence {
                        return Planned::Done(Ok(reply));
                    }
                    // The original is in this very batch: its fate is this request's fate.
                    let record = records
                        .iter()
                        .rposition(|r| r.stream_id == stream_id)
                        .expect("an uncommitted replayed sequence belongs to this batch");
                    return Planned::AwaitRecord { record, reply };
                }
            }
        }
        let ids = (0..MAX_IDS_PER_COMMAND).map(|_| Uuid::now_v7()).collect();
        let events = match D::decide(&stream.state, &request.command, &Context::new(now, ids)) {
            Ok(events) => events,
            Err(rejection) => {
                if stream.head.sequence == 0 {
                    // Rejections are not recorded: don't keep an entry for a stream that does not exist.
                    self.streams.remove(&stream_id);
                }
                return Planned::Done(Err(CommandError::Rejected(rejection)));
            }
        };
        if events.is_empty() {
            return Planned::Done(Ok(CommandReply {
                outcome: D::outcome(&stream.state, &[]),
                sequence: stream.head.sequence,
                replayed: false,
            }));
        }
        let span = Span::current();
        if !span.is_disabled() {
            let event_types: Vec<&str> = events.iter().map(D::event_type).collect();
            span.record("events", event_types.join(","));
        }
        let event_ids: Vec<Uuid> = events.iter().map(|_| Uuid::now_v7()).collect();
        let meta = EventMeta {
            tenant: D::tenant(&request.command).to_owned(),
            correlation_id: request.correlation_id.clone(),
            causation_id: request.correlation_id.clone(),
            idempotency_key: request.idempotency_key.clone(),
            fingerprint: request.idempotency_key.as_ref().map(|_| fingerprint),
        };
        let record = codec::encode_record::<D>(
            stream_id,
            stream.head.sequence + 1,
            &stream.head.event_id,
            &meta,
            &events,
            &event_ids,
        );
        let idempotency = request
            .idempotency_key
            .clone()
            .map(|key| (key, fingerprint));
        let reply = apply_events::<D>(stream, &events, &record, idempotency, retention_ms);
        records.push(PendingRecord {
            stream_id,
            first_event_id: event_ids[0].to_string(),
            record,
        });
        Planned::AwaitRecord {
            record: records.len() - 1,
            reply,
        }
    }

    /// Appends the records of a batch of `commands`, reads the partition back and says which of
    /// ours won.
    async fn append_and_read_back(
        &mut self,
        records: &[PendingRecord],
        commands: usize,
    ) -> Result<Vec<bool>, ShardError> {
        let log_records = records
            .iter()
            .map(|pending| Record {
                partition: self.partition,
                key: pending.stream_id.to_string().into_bytes(),
                payload: pending.record.encode_to_vec(),
            })
            .collect();
        let append_started = Instant::now();
        let appended = self.log.append(&self.topic, log_records).await;
        if appended.is_ok() {
            metrics::record(Event::BatchAppended {
                commands,
                elapsed: append_started.elapsed(),
            });
        }
        let ours: HashMap<&str, usize> = records
            .iter()
            .enumerate()
            .map(|(index, pending)| (pending.first_event_id.as_str(), index))
            .collect();
        let mut won = vec![false; records.len()];
        let mut must_reload = false;
        let read_until = match appended {
            Ok(offsets) => offsets
                .iter()
                .map(|a| a.offset + 1)
                .max()
                .unwrap_or(self.next_offset),
            Err(err) => {
                // Unknown outcome: read whatever is there, answer from what we find, then reload.
                warn!(topic = %self.topic, partition = self.partition, error = %err, "append failed; re-reading partition");
                metrics::record(Event::AppendFailed);
                must_reload = true;
                self.end_offset().await?
            }
        };
        let touched: std::collections::HashSet<Uuid> =
            records.iter().map(|r| r.stream_id).collect();
        while self.next_offset < read_until {
            let read = self.next_records().await?;
            if read.is_empty() {
                must_reload = true;
                warn!(topic = %self.topic, partition = self.partition, "read-back did not reach our records in time");
                break;
            }
            for (offset, record) in read {
                let verdict = self.guard.admit(&codec::header(&record));
                match (verdict, ours.get(record.events[0].event_id.as_str())) {
                    (Verdict::Accepted, Some(&index)) => won[index] = true,
                    (Verdict::Accepted, None) => {
                        let stream_id = stream_of(&record, offset)?;
                        if touched.contains(&stream_id) {
                            must_reload = true;
                        } else {
                            self.apply_committed(stream_id, &record, offset)?;
                        }
                    }
                    (Verdict::Conflict, Some(_)) => must_reload = true,
                    (Verdict::Conflict | Verdict::Halted, None) => {}
                    (Verdict::Gap { .. } | Verdict::Halted, _) => must_reload = true,
                }
            }
        }
        if must_reload {
            self.reload().await?;
        } else {
            for pending in records {
                self.refresh_deadline(pending.stream_id);
            }
        }
        Ok(won)
    }

    /// Drops every stream and rebuilds from the partition's beginning.
    async fn reload(&mut self) -> Result<(), ShardError> {
        warn!(topic = %self.topic, partition = self.partition, "dropping shard state and re-reading the partition");
        self.streams.clear();
        self.guard = SequenceGuard::exporting_to(Reader::Shard);
        metrics::record(Event::ShardReloaded);
        self.next_offset = 0;
        self.deadlines.clear();
        self.deadline_of.clear();
        self.catch_up().await
    }

    /// Reads the partition from `next_offset` to its end, applying every winning record.
    async fn catch_up(&mut self) -> Result<(), ShardError> {
        let end = self.end_offset().await?;
        while self.next_offset < end {
            let read = self.next_records().await?;
            if read.is_empty() {
                break;
            }
            for (offset, record) in read {
                if self.guard.admit(&codec::header(&record)) == Verdict::Accepted {
                    self.apply_committed(stream_of(&record, offset)?, &record, offset)?;
                }
            }
        }
        let stream_ids: Vec<Uuid> = self.streams.keys().copied().collect();
        for stream_id in stream_ids {
            self.refresh_deadline(stream_id);
        }
        debug!(topic = %self.topic, partition = self.partition, streams = self.streams.len(), next_offset = self.next_offset, "partition loaded");
        Ok(())
    }

    /// The next decoded records of the partition (waiting up to the read-back bound), advancing
    /// `next_offset` past them.
    async fn next_records(&mut self) -> Result<Vec<(u64, EventRecord)>, ShardError> {
        let (log, topic, partition) = (&self.log, &self.topic, self.partition);
        let (from_offset, max_records) = (self.next_offset, self.settings.read_batch_max_records);
        let wait_ms = self.settings.read_back_wait_ms;
        let stored = while_transient("shard read", || {
            log.read(topic, partition, from_offset, max_records, wait_ms)
        })
        .await?;
        if let Some(last) = stored.last() {
            self.next_offset = last.offset + 1;
        }
        codec::decode_stored(&stored)
            .map_err(|(offset, source)| ShardError::Codec { offset, source })
    }

    async fn end_offset(&self) -> Result<u64, LogError> {
        while_transient("shard end offset", || {
            self.log.end_offset(&self.topic, self.partition)
        })
        .await
    }

    fn apply_committed(
        &mut self,
        stream_id: Uuid,
        record: &EventRecord,
        offset: u64,
    ) -> Result<(), ShardError> {
        let events = record
            .events
            .iter()
            .map(D::from_envelope)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| ShardError::Codec { offset, source })?;
        let retention_ms = self.settings.idempotency_retention_ms;
        let stream = self.streams.entry(stream_id).or_default();
        apply_events::<D>(
            stream,
            &events,
            record,
            codec::idempotency_of(record),
            retention_ms,
        );
        Ok(())
    }

    fn refresh_deadline(&mut self, stream_id: Uuid) {
        if let Some(previous) = self.deadline_of.remove(&stream_id) {
            self.deadlines.remove(&(previous, stream_id));
        }
        let Some(stream) = self.streams.get(&stream_id) else {
            return;
        };
        if let Some(at) = D::next_deadline(&stream.state, &self.settings.timers) {
            self.deadlines.insert((at, stream_id));
            self.deadline_of.insert(stream_id, at);
        }
    }
}

/// Applies one record's events to a stream: state, head and idempotency ledger. The same code
/// serves optimistic application and rebuild, so both give the same state.
fn apply_events<D: Decider>(
    stream: &mut Stream<D>,
    events: &[D::Event],
    record: &EventRecord,
    idempotency: Option<(IdempotencyKey, Fingerprint)>,
    retention_ms: i64,
) -> CommandReply<D::Outcome> {
    for event in events {
        stream.state = D::evolve(std::mem::take(&mut stream.state), event);
    }
    let last = record
        .events
        .last()
        .expect("validated records are non-empty");
    stream.head = StreamHead {
        sequence: last.stream_sequence,
        event_id: last.event_id.clone(),
    };
    let outcome = D::outcome(&stream.state, events);
    if let Some((key, fingerprint)) = idempotency {
        let at = Timestamp::from_millis(last.occurred_at_ms);
        // Expired keys already count as absent; pruning only bounds memory, so it runs now and then.
        if last
            .stream_sequence
            .is_multiple_of(LEDGER_PRUNE_EVERY_EVENTS)
        {
            stream.ledger.prune(at, retention_ms);
        }
        stream
            .ledger
            .record(key, fingerprint, at, last.stream_sequence, outcome.clone());
    }
    CommandReply {
        outcome,
        sequence: last.stream_sequence,
        replayed: false,
    }
}

/// Records how a command ended on its span (`outcome`, and `sequence` when it succeeded).
fn record_outcome<D: Decider>(span: &Span, result: &CommandResult<D>) {
    let outcome = match result {
        Ok(reply) => {
            span.record("sequence", reply.sequence);
            if reply.replayed { "replayed" } else { "ok" }
        }
        Err(CommandError::Rejected(_)) => "rejected",
        Err(CommandError::IdempotencyKeyReused) => "idempotency_key_reused",
        Err(CommandError::Retry) => "retry",
        Err(CommandError::StreamHalted) => "stream_halted",
        Err(CommandError::Unavailable(_)) => "unavailable",
        Err(CommandError::Timeout { .. }) => "timeout",
    };
    span.record("outcome", outcome);
}

fn stream_of(record: &EventRecord, offset: u64) -> Result<Uuid, ShardError> {
    codec::uuid_field(&record.events[0].stream_id, "stream_id")
        .map_err(|source| ShardError::Codec { offset, source })
}

async fn sleep_until(deadline: Option<Timestamp>) {
    let wait_ms = deadline.map_or(0, |at| (at.as_millis() - clock::now().as_millis()).max(0));
    tokio::time::sleep(Duration::from_millis(wait_ms as u64)).await;
}

/// Logs a worker's exit; an error here means a partition stopped being served.
pub fn report_exit(topic: &str, partition: u32, result: &Result<(), ShardError>) {
    if let Err(err) = result {
        error!(topic, partition, error = %err, "shard worker stopped");
    }
}
