//! The projector: follows an event topic partition by partition and keeps the read models.
//!
//! Per partition: read from the stored checkpoint, judge every record with the [`SequenceGuard`]
//! (seeded from stored stream positions, so a restart does not need the partition's start), map
//! winners to rows, write rows and then the checkpoint. Writes are version-guarded, so replaying a
//! stretch after a crash changes nothing.
//!
//! The loop is generic over the decider whose events it decodes ([`EventCodec`]); a
//! [`Projection`] names the topic, the checkpoint name, the row mapping and where the streams'
//! guard states are kept; `purse-streams` declares each stream kind's projection.
//!
//! Stream positions share one table across projections, so the non-wallet ones are keyed
//! `{stream kind}:{stream id}` ([`PositionKeys::ByStreamKind`]): an auto top-up saga's stream id
//! *is* its wallet's id, and the two streams' sequences must never mix. The projection whose
//! positions clients wait on keeps the bare stream id ([`PositionKeys::StreamId`]) that [`ProjectionWatch::wait_for`] reads.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use purse_domain::Decider;
use purse_log::{EventLog, LogError};
use purse_store::{Checkpoint, ReadStore, RowWrite, StoreError, StreamPosition};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::{error, warn};
use uuid::Uuid;

use crate::clock;
use crate::codec::{self, CodecError, EventCodec};
use crate::guard::{SequenceGuard, StreamHead, Verdict};
use crate::metrics::{self, Event, Reader};
use crate::retry::while_transient;

/// Why a projector partition stopped.
#[derive(thiserror::Error, Debug)]
pub enum ProjectorError {
    /// Reading the log failed.
    #[error("event log: {0}")]
    Log(#[from] LogError),
    /// Writing the read models failed.
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
}

/// Settings of a projector.
#[derive(Clone, Debug)]
pub struct ProjectorSettings {
    /// Name under which checkpoints are stored.
    pub name: String,
    /// The event topic followed.
    pub topic: String,
    /// Its partition count (one task each).
    pub partitions: u32,
    /// Most records per read (and so per store write).
    pub read_batch_max_records: usize,
    /// How long a read waits for new records before checking for shutdown.
    pub read_wait_ms: u64,
}

/// Maps one event of a stream to the rows it writes: `(stream id, stream sequence, event)`. Pure;
/// the sequence is every row's version.
pub type RowMapper<D> = fn(Uuid, u64, &<D as Decider>::Event) -> Vec<RowWrite>;

/// Under which key a projection records each stream's guard state (last accepted sequence and
/// event id) in the store's stream positions.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PositionKeys {
    /// The stream id itself: wallet streams, as [`ProjectionWatch::wait_for`] reads them.
    StreamId,
    /// `{D::STREAM_KIND}:{stream id}` ([`stream_position_key`]): every other kind, so that
    /// streams of different kinds sharing an id (an auto top-up saga and its wallet) stay apart.
    ByStreamKind,
}

/// The stream-position key of a stream of `D` under [`PositionKeys::ByStreamKind`]: what to pass
/// to [`ProjectionWatch::wait_for_position`] to wait for, e.g., a top-up's projection.
pub fn stream_position_key<D: EventCodec>(stream_id: Uuid) -> String {
    format!("{}:{stream_id}", D::STREAM_KIND)
}

impl PositionKeys {
    /// The key of `stream_id`'s position, a stream of `D`.
    pub fn key<D: EventCodec>(self, stream_id: &str) -> String {
        match self {
            PositionKeys::StreamId => stream_id.to_owned(),
            PositionKeys::ByStreamKind => format!("{}:{stream_id}", D::STREAM_KIND),
        }
    }
}

/// One projection: which topic it follows under which checkpoint name, how events become rows,
/// and where stream positions are kept.
pub struct Projection<D: EventCodec> {
    /// Checkpoint name, topic, partitions and read limits.
    pub settings: ProjectorSettings,
    /// Keys of the streams' guard states.
    pub positions: PositionKeys,
    /// Events to rows.
    pub rows: RowMapper<D>,
}

// Not derived: a derive would require `D: Clone`, which the deciders (unit structs) need not be.
impl<D: EventCodec> Clone for Projection<D> {
    fn clone(&self) -> Self {
        Projection {
            settings: self.settings.clone(),
            positions: self.positions,
            rows: self.rows,
        }
    }
}

impl<D: EventCodec> std::fmt::Debug for Projection<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projection")
            .field("stream_kind", &D::STREAM_KIND)
            .field("settings", &self.settings)
            .field("positions", &self.positions)
            .finish_non_exhaustive()
    }
}

/// Wakes readers waiting for a projection to reach a sequence (read-your-writes).
#[derive(Debug, Default)]
pub struct ProjectionWatch {
    advanced: Notify,
}

impl ProjectionWatch {
    /// Waits until the store shows `stream_id` at `min_sequence` or later, or `timeout_ms` passes.
    /// Returns whether it got there. Woken by an in-process projector; polls every
    /// `poll_interval_ms` for one in another process.
    pub async fn wait_for(
        &self,
        store: &dyn ReadStore,
        stream_id: Uuid,
        min_sequence: u64,
        timeout_ms: u64,
        poll_interval_ms: u64,
    ) -> Result<bool, StoreError> {
        self.wait_for_position(
            store,
            &stream_id.to_string(),
            min_sequence,
            timeout_ms,
            poll_interval_ms,
        )
        .await
    }

    /// Like [`ProjectionWatch::wait_for`], for a stream-position key: the stream id for wallets,
    /// [`stream_position_key`] for the streams of the other projections.
    pub async fn wait_for_position(
        &self,
        store: &dyn ReadStore,
        position_key: &str,
        min_sequence: u64,
        timeout_ms: u64,
        poll_interval_ms: u64,
    ) -> Result<bool, StoreError> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms);
        let key = [position_key.to_owned()];
        loop {
            let advanced = self.advanced.notified();
            tokio::pin!(advanced);
            advanced.as_mut().enable();
            let position = store.stream_positions(&key).await?;
            if position
                .get(&key[0])
                .is_some_and(|p| p.sequence >= min_sequence)
            {
                return Ok(true);
            }
            tokio::select! {
                () = &mut advanced => {}
                () = tokio::time::sleep(Duration::from_millis(poll_interval_ms)) => {}
                () = tokio::time::sleep_until(deadline) => return Ok(false),
            }
        }
    }

    fn advance(&self) {
        self.advanced.notify_waiters();
    }
}

/// Starts one task per partition of `projection`'s topic in `tasks`; each stops at its next
/// checkpoint once `shutdown` turns true.
pub fn spawn_projectors<D: EventCodec + 'static>(
    log: Arc<dyn EventLog>,
    store: Arc<dyn ReadStore>,
    projection: &Projection<D>,
    watch: Arc<ProjectionWatch>,
    shutdown: &watch::Receiver<bool>,
    tasks: &mut JoinSet<Result<(), ProjectorError>>,
) {
    for partition in 0..projection.settings.partitions {
        tasks.spawn(project_partition(
            log.clone(),
            store.clone(),
            partition,
            projection.clone(),
            watch.clone(),
            shutdown.clone(),
        ));
    }
}

/// Projects one partition of a projection's topic until `shutdown` turns true.
async fn project_partition<D: EventCodec>(
    log: Arc<dyn EventLog>,
    store: Arc<dyn ReadStore>,
    partition: u32,
    projection: Projection<D>,
    watch: Arc<ProjectionWatch>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ProjectorError> {
    let settings = &projection.settings;
    let topic = settings.topic.clone();
    let mut next_offset = store
        .checkpoint(&settings.name, &topic, partition)
        .await?
        .unwrap_or(0);
    let mut guard = SequenceGuard::exporting_to(Reader::Projector);
    loop {
        let stored = tokio::select! {
            read = while_transient("projector read", || log.read(&topic, partition, next_offset, settings.read_batch_max_records, settings.read_wait_ms)) => read?,
            _ = shutdown.changed() => return Ok(()),
        };
        let Some(last) = stored.last() else {
            if *shutdown.borrow() {
                return Ok(());
            }
            continue;
        };
        let last_offset = last.offset;
        let records = codec::decode_stored(&stored)
            .map_err(|(offset, source)| ProjectorError::Codec { offset, source })?;
        seed_unknown_streams::<D>(
            &mut guard,
            store.as_ref(),
            projection.positions,
            records.iter().map(|(_, r)| r.events[0].stream_id.as_str()),
        )
        .await?;
        let conflicts_before = guard.conflicts();
        let mut writes = Vec::new();
        let mut occurred_at_ms = Vec::new();
        for (offset, record) in &records {
            if guard.admit(&codec::header(record)) != Verdict::Accepted {
                continue;
            }
            let codec_error = |source| ProjectorError::Codec {
                offset: *offset,
                source,
            };
            let stream_id =
                codec::uuid_field(&record.events[0].stream_id, "stream_id").map_err(codec_error)?;
            for envelope in &record.events {
                occurred_at_ms.push(envelope.occurred_at_ms);
                let event = D::from_envelope(envelope).map_err(codec_error)?;
                writes.extend((projection.rows)(
                    stream_id,
                    envelope.stream_sequence,
                    &event,
                ));
            }
            let last = record
                .events
                .last()
                .expect("validated records are non-empty");
            writes.push(RowWrite::StreamPosition(StreamPosition {
                stream_id: projection.positions.key::<D>(&last.stream_id),
                sequence: last.stream_sequence,
                event_id: last.event_id.clone(),
            }));
        }
        if guard.conflicts() > conflicts_before {
            warn!(
                topic,
                partition,
                conflicts_total = guard.conflicts(),
                "ignored losing records (first writer wins)"
            );
        }
        let checkpoint = Checkpoint {
            projector: settings.name.clone(),
            topic: topic.clone(),
            partition,
            next_offset: last_offset + 1,
        };
        if let Err(err) = store.apply(writes, vec![checkpoint]).await {
            error!(topic, partition, error = %err, "projection write failed");
            return Err(err.into());
        }
        metrics::record(Event::Projected {
            records: records.len(),
        });
        let written_ms = clock::now().as_millis();
        for occurred in occurred_at_ms {
            // An event stamped ahead of this host's clock (skew) counts as no lag, not negative.
            let lag_ms = u64::try_from(written_ms.saturating_sub(occurred)).unwrap_or(0);
            metrics::record(Event::EventProjected {
                lag: Duration::from_millis(lag_ms),
            });
        }
        next_offset = last_offset + 1;
        watch.advance();
    }
}

/// Seeds the guard with the stored positions of the streams it has not seen yet. The guard knows
/// streams by id; the store by position key.
async fn seed_unknown_streams<'a, D: EventCodec>(
    guard: &mut SequenceGuard,
    store: &dyn ReadStore,
    positions: PositionKeys,
    stream_ids: impl Iterator<Item = &'a str>,
) -> Result<(), StoreError> {
    let unknown: Vec<String> = stream_ids
        .filter(|id| !guard.knows(id))
        .map(str::to_owned)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = unknown.iter().map(|id| positions.key::<D>(id)).collect();
    let stored = store.stream_positions(&keys).await?;
    for (stream_id, key) in unknown.into_iter().zip(keys) {
        let head = stored
            .get(&key)
            .map(|p| StreamHead {
                sequence: p.sequence,
                event_id: p.event_id.clone(),
            })
            .unwrap_or_default();
        guard.seed(&stream_id, head);
    }
    Ok(())
}
