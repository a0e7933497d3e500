//! The projector: follows an event topic partition by partition and keeps the read models.
//!
//! Per partition: read from the stored checkpoint, judge every record with the [`SequenceGuard`]
//! (seeded from stored stream positions, so a restart does not need the partition's start), map
//! winners to rows, write rows and then the checkpoint. Writes are version-guarded, so replaying a
//! stretch after a crash changes nothing.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use purse_domain::wallet::WalletDecider;
use purse_log::{EventLog, LogError};
use purse_store::{Checkpoint, ReadStore, RowWrite, StoreError, StreamPosition};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::{error, warn};
use uuid::Uuid;

use crate::codec::{self, CodecError, EventCodec};
use crate::guard::{SequenceGuard, StreamHead, Verdict};
use crate::metrics;
use crate::projection::wallet_rows;
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
        let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms);
        let key = [stream_id.to_string()];
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

/// Starts one projector task per partition of the wallet event topic in `tasks`; each stops at
/// its next checkpoint once `shutdown` turns true.
pub fn spawn_wallet_projectors(
    log: Arc<dyn EventLog>,
    store: Arc<dyn ReadStore>,
    settings: &ProjectorSettings,
    watch: Arc<ProjectionWatch>,
    shutdown: &watch::Receiver<bool>,
    tasks: &mut JoinSet<Result<(), ProjectorError>>,
) {
    for partition in 0..settings.partitions {
        tasks.spawn(project_wallet_partition(
            log.clone(),
            store.clone(),
            partition,
            settings.clone(),
            watch.clone(),
            shutdown.clone(),
        ));
    }
}

/// Projects one partition of the wallet event topic until `shutdown` turns true.
async fn project_wallet_partition(
    log: Arc<dyn EventLog>,
    store: Arc<dyn ReadStore>,
    partition: u32,
    settings: ProjectorSettings,
    watch: Arc<ProjectionWatch>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ProjectorError> {
    let topic = settings.topic.clone();
    let mut next_offset = store
        .checkpoint(&settings.name, &topic, partition)
        .await?
        .unwrap_or(0);
    let mut guard = SequenceGuard::exporting_to(&metrics::PROJECTOR_CONFLICTS);
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
        seed_unknown_streams(
            &mut guard,
            store.as_ref(),
            records.iter().map(|(_, r)| r.events[0].stream_id.as_str()),
        )
        .await?;
        let conflicts_before = guard.conflicts();
        let mut writes = Vec::new();
        for (offset, record) in &records {
            if guard.admit(&codec::header(record)) != Verdict::Accepted {
                continue;
            }
            let codec_error = |source| ProjectorError::Codec {
                offset: *offset,
                source,
            };
            let wallet_id =
                codec::uuid_field(&record.events[0].stream_id, "stream_id").map_err(codec_error)?;
            for envelope in &record.events {
                let event = WalletDecider::from_envelope(envelope).map_err(codec_error)?;
                writes.extend(wallet_rows(wallet_id, envelope.stream_sequence, &event));
            }
            let last = record
                .events
                .last()
                .expect("validated records are non-empty");
            writes.push(RowWrite::StreamPosition(StreamPosition {
                stream_id: last.stream_id.clone(),
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
        metrics::PROJECTED_RECORDS.add(records.len() as u64);
        next_offset = last_offset + 1;
        watch.advance();
    }
}

async fn seed_unknown_streams<'a>(
    guard: &mut SequenceGuard,
    store: &dyn ReadStore,
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
    let positions = store.stream_positions(&unknown).await?;
    for stream_id in unknown {
        let head = positions
            .get(&stream_id)
            .map(|p| StreamHead {
                sequence: p.sequence,
                event_id: p.event_id.clone(),
            })
            .unwrap_or_default();
        guard.seed(&stream_id, head);
    }
    Ok(())
}
