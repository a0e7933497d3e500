//! The projector: follows an event topic partition by partition and keeps the read models.
//!
//! Per partition: read from the stored checkpoint, judge every record with the [`SequenceGuard`]
//! (seeded from stored stream positions, so a restart does not need the partition's start), map
//! winners to rows, write rows and then the checkpoint. Writes are version-guarded, so replaying a
//! stretch after a crash changes nothing.
//!
//! The loop is generic over the decider whose events it decodes ([`EventCodec`]); a
//! [`Projection`] names the topic, the checkpoint name, the row mapping and where the streams'
//! guard states are kept. [`spawn_wallet_projectors`] runs the wallet projection;
//! [`spawn_payment_projectors`] runs the top-up, payment, stored-card and auto top-up ones
//! ([`crate::projection_payments`]).
//!
//! Stream positions share one table across projections, so the non-wallet ones are keyed
//! `{stream kind}:{stream id}` ([`PositionKeys::ByStreamKind`]): an auto top-up saga's stream id
//! *is* its wallet's id, and the two streams' sequences must never mix. Wallet positions keep the
//! bare stream id ([`PositionKeys::StreamId`]) that [`ProjectionWatch::wait_for`] reads.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use purse_domain::Decider;
use purse_domain::payment::{PaymentDecider, PaymentMethodsDecider};
use purse_domain::saga::AutoTopUpDecider;
use purse_domain::topup::TopUpDecider;
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
use crate::projection_payments::{
    auto_top_up_rows, payment_method_rows, payment_rows, top_up_rows,
};
use crate::retry::while_transient;
use crate::topics;

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
    fn key<D: EventCodec>(self, stream_id: &str) -> String {
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
    let projection = Projection::<WalletDecider> {
        settings: settings.clone(),
        positions: PositionKeys::StreamId,
        rows: wallet_rows,
    };
    spawn_projectors(log, store, &projection, watch, shutdown, tasks);
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

/// Checkpoint name of the top-up projector.
pub const TOP_UP_PROJECTOR: &str = "top-up-projector";
/// Checkpoint name of the payment projector.
pub const PAYMENT_PROJECTOR: &str = "payment-projector";
/// Checkpoint name of the stored-card projector.
pub const PAYMENT_METHOD_PROJECTOR: &str = "payment-method-projector";
/// Checkpoint name of the auto top-up rule projector.
pub const AUTO_TOP_UP_PROJECTOR: &str = "auto-top-up-projector";

/// The top-up, payment, stored-card and auto top-up projections, run together by
/// [`spawn_payment_projectors`]. Fields are public so a caller may adjust one (another topic
/// name, say) before spawning.
#[derive(Clone, Debug)]
pub struct PaymentProjections {
    /// Top-ups (`purse.topup.events`) → top-up rows.
    pub top_ups: Projection<TopUpDecider>,
    /// Payment intents (`purse.payment.events`) → payment rows.
    pub payments: Projection<PaymentDecider>,
    /// Stored cards (`purse.payment_method.events`) → payment method rows.
    pub payment_methods: Projection<PaymentMethodsDecider>,
    /// Auto top-up sagas (`purse.saga.auto_topup.events`) → auto top-up rule rows.
    pub auto_top_ups: Projection<AutoTopUpDecider>,
}

impl PaymentProjections {
    /// The four projections over their topics of [`crate::topics`], under the checkpoint names
    /// above, each topic with `partitions` partitions, reading at most `read_batch_max_records`
    /// records per read and waiting at most `read_wait_ms` for new ones.
    pub fn new(partitions: u32, read_batch_max_records: usize, read_wait_ms: u64) -> Self {
        let settings = |name: &str, topic: &str| ProjectorSettings {
            name: name.to_owned(),
            topic: topic.to_owned(),
            partitions,
            read_batch_max_records,
            read_wait_ms,
        };
        PaymentProjections {
            top_ups: Projection {
                settings: settings(TOP_UP_PROJECTOR, topics::TOP_UPS.events),
                positions: PositionKeys::ByStreamKind,
                rows: top_up_rows,
            },
            payments: Projection {
                settings: settings(PAYMENT_PROJECTOR, topics::PAYMENTS.events),
                positions: PositionKeys::ByStreamKind,
                rows: payment_rows,
            },
            payment_methods: Projection {
                settings: settings(PAYMENT_METHOD_PROJECTOR, topics::PAYMENT_METHODS.events),
                positions: PositionKeys::ByStreamKind,
                rows: payment_method_rows,
            },
            auto_top_ups: Projection {
                settings: settings(AUTO_TOP_UP_PROJECTOR, topics::AUTO_TOP_UPS.events),
                positions: PositionKeys::ByStreamKind,
                rows: auto_top_up_rows,
            },
        }
    }

    /// The topics followed, with their partition counts (to create them before spawning).
    pub fn topics(&self) -> [(&str, u32); 4] {
        [
            &self.top_ups.settings,
            &self.payments.settings,
            &self.payment_methods.settings,
            &self.auto_top_ups.settings,
        ]
        .map(|s| (s.topic.as_str(), s.partitions))
    }
}

/// Starts the top-up, payment, stored-card and auto top-up projectors (one task per partition
/// of each topic) in `tasks`; each stops at its next checkpoint once `shutdown` turns true.
pub fn spawn_payment_projectors(
    log: Arc<dyn EventLog>,
    store: Arc<dyn ReadStore>,
    projections: &PaymentProjections,
    watch: Arc<ProjectionWatch>,
    shutdown: &watch::Receiver<bool>,
    tasks: &mut JoinSet<Result<(), ProjectorError>>,
) {
    let (log, store, watch) = (&log, &store, &watch);
    spawn_projectors(
        log.clone(),
        store.clone(),
        &projections.top_ups,
        watch.clone(),
        shutdown,
        tasks,
    );
    spawn_projectors(
        log.clone(),
        store.clone(),
        &projections.payments,
        watch.clone(),
        shutdown,
        tasks,
    );
    spawn_projectors(
        log.clone(),
        store.clone(),
        &projections.payment_methods,
        watch.clone(),
        shutdown,
        tasks,
    );
    spawn_projectors(
        log.clone(),
        store.clone(),
        &projections.auto_top_ups,
        watch.clone(),
        shutdown,
        tasks,
    );
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
        seed_unknown_streams::<D>(
            &mut guard,
            store.as_ref(),
            projection.positions,
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
            let stream_id =
                codec::uuid_field(&record.events[0].stream_id, "stream_id").map_err(codec_error)?;
            for envelope in &record.events {
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
        metrics::PROJECTED_RECORDS.add(records.len() as u64);
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

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use purse_domain::Timestamp;
    use purse_domain::money::Asset;
    use purse_domain::saga::{
        AutoTopUpAmount, AutoTopUpEvent, AutoTopUpEventKind, AutoTopUpRule, DailyCap,
    };
    use purse_domain::topup::{FeeRate, GrantedCredit, TopUpEvent, TopUpEventKind, TopUpKind};
    use purse_log::{Record, SqliteLog, SqliteLogOptions};
    use purse_store::SqliteStore;
    use rust_decimal::Decimal;

    use super::*;
    use crate::codec::{EventMeta, encode_record};

    const AT_MS: i64 = 1_700_000_000_000;
    const WAIT_MS: u64 = 10_000;

    fn dec(text: &str) -> Decimal {
        text.parse().expect("decimal")
    }

    /// Appends one record of `D` events for `stream_id`, starting at `first_sequence` after the
    /// event `previous`; returns the last event id.
    async fn append<D: EventCodec>(
        log: &dyn EventLog,
        topic: &str,
        stream_id: Uuid,
        first_sequence: u64,
        previous: &str,
        events: &[D::Event],
    ) -> String {
        let ids: Vec<Uuid> = events.iter().map(|_| Uuid::now_v7()).collect();
        let meta = EventMeta {
            tenant: "acme".to_owned(),
            ..EventMeta::default()
        };
        let record = encode_record::<D>(stream_id, first_sequence, previous, &meta, events, &ids);
        log.append(
            topic,
            vec![Record {
                partition: 0,
                key: stream_id.to_string().into_bytes(),
                payload: record.encode_to_vec(),
            }],
        )
        .await
        .expect("append");
        ids.last().expect("events").to_string()
    }

    fn top_up_created(top_up_id: Uuid, wallet_id: Uuid) -> TopUpEvent {
        TopUpEvent {
            occurred_at: Timestamp::from_millis(AT_MS),
            kind: TopUpEventKind::TopUpCreated {
                top_up_id,
                tenant: "acme".to_owned(),
                wallet_id,
                owner: "alice".to_owned(),
                kind: TopUpKind::Manual,
                asset: Asset::parse("USD", None).expect("USD"),
                amount: dec("20.00"),
                wallet_amount: dec("20.00"),
                fee_rate: FeeRate::ZERO,
                fee: dec("0.00"),
                lots_expire_at: None,
                payment_method_id: None,
                payment_id: Uuid::now_v7(),
                checkout_session_id: Some(Uuid::now_v7()),
                expires_at: Timestamp::from_millis(AT_MS + 300_000),
            },
        }
    }

    /// The payment projectors follow their topics into the store: first writers win, and an
    /// auto top-up saga's positions do not collide with its wallet's (same stream id).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn payment_projectors_project_winners_under_namespaced_positions() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log: Arc<dyn EventLog> = Arc::new(
            SqliteLog::open(&dir.path().join("log.db"), SqliteLogOptions::default()).expect("log"),
        );
        let store: Arc<dyn ReadStore> =
            Arc::new(SqliteStore::open(&dir.path().join("store.db")).expect("store"));
        let projections = PaymentProjections::new(1, 64, 50);
        for (topic, partitions) in projections.topics() {
            log.create_topic(topic, partitions).await.expect("topic");
        }

        let wallet_id = Uuid::now_v7();
        let top_up_id = Uuid::now_v7();
        let topic = topics::TOP_UPS.events;
        let created = top_up_created(top_up_id, wallet_id);
        let first = append::<TopUpDecider>(log.as_ref(), topic, top_up_id, 1, "", &[created]).await;
        // A stale writer's record for the same sequence: loses, and is not projected.
        let mut stale = top_up_created(top_up_id, wallet_id);
        if let TopUpEventKind::TopUpCreated { amount, .. } = &mut stale.kind {
            *amount = dec("99.00");
        }
        append::<TopUpDecider>(log.as_ref(), topic, top_up_id, 1, "", &[stale]).await;
        let completed = TopUpEvent {
            occurred_at: Timestamp::from_millis(AT_MS + 1_000),
            kind: TopUpEventKind::TopUpCompleted {
                paid_lot_id: Uuid::now_v7(),
                granted: GrantedCredit::NotNeeded,
                credited: dec("20.00"),
            },
        };
        append::<TopUpDecider>(log.as_ref(), topic, top_up_id, 2, &first, &[completed]).await;

        // The auto top-up saga of the same wallet: rule set, then removed, in one record.
        let rule = AutoTopUpRule {
            threshold: dec("5.00"),
            amount: AutoTopUpAmount::Fixed {
                amount: dec("20.00"),
            },
            payment_method_id: Uuid::now_v7(),
            daily_cap: DailyCap::default(),
            backoff_ms: 3_600_000,
            fee_rate: FeeRate::ZERO,
            timeout_ms: 300_000,
        };
        let saga_events = [
            AutoTopUpEvent {
                occurred_at: Timestamp::from_millis(AT_MS),
                kind: AutoTopUpEventKind::AutoTopUpRuleSet {
                    wallet_id,
                    tenant: "acme".to_owned(),
                    owner: "alice".to_owned(),
                    asset: Asset::parse("USD", None).expect("USD"),
                    rule,
                    below_threshold: false,
                    pending: false,
                },
            },
            AutoTopUpEvent {
                occurred_at: Timestamp::from_millis(AT_MS + 1),
                kind: AutoTopUpEventKind::AutoTopUpRuleRemoved,
            },
        ];
        append::<AutoTopUpDecider>(
            log.as_ref(),
            topics::AUTO_TOP_UPS.events,
            wallet_id,
            1,
            "",
            &saga_events,
        )
        .await;

        let watch = Arc::new(ProjectionWatch::default());
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        spawn_payment_projectors(
            log.clone(),
            store.clone(),
            &projections,
            watch.clone(),
            &stopped,
            &mut tasks,
        );
        for (key, sequence) in [
            (stream_position_key::<TopUpDecider>(top_up_id), 2),
            (stream_position_key::<AutoTopUpDecider>(wallet_id), 2),
        ] {
            assert!(
                watch
                    .wait_for_position(store.as_ref(), &key, sequence, WAIT_MS, 20)
                    .await
                    .expect("wait"),
                "{key} never reached {sequence}"
            );
        }

        let top_up = store
            .get_top_up(top_up_id)
            .await
            .expect("get")
            .expect("projected");
        assert_eq!(
            (top_up.status.as_str(), top_up.amount, top_up.version),
            ("completed", dec("20.00"), 2)
        );
        assert_eq!(top_up.updated_at_ms, AT_MS + 1_000);
        let rule = store
            .get_auto_top_up_rule(wallet_id)
            .await
            .expect("get")
            .expect("projected");
        assert!(rule.removed);
        // The wallet's own position key (its bare id) is untouched by the saga's stream.
        let positions = store
            .stream_positions(&[wallet_id.to_string()])
            .await
            .expect("positions");
        assert!(positions.is_empty(), "{positions:?}");

        let _ = stop.send(true);
        while let Some(done) = tasks.join_next().await {
            done.expect("task").expect("projector");
        }
        assert_eq!(
            store
                .checkpoint(TOP_UP_PROJECTOR, topics::TOP_UPS.events, 0)
                .await
                .expect("checkpoint"),
            Some(3)
        );
    }

    #[test]
    fn position_keys_are_namespaced_by_stream_kind_except_for_wallets() {
        let id = Uuid::from_u128(7);
        assert_eq!(
            PositionKeys::StreamId.key::<WalletDecider>(&id.to_string()),
            id.to_string()
        );
        assert_eq!(
            PositionKeys::ByStreamKind.key::<AutoTopUpDecider>(&id.to_string()),
            stream_position_key::<AutoTopUpDecider>(id)
        );
        assert_eq!(
            stream_position_key::<TopUpDecider>(id),
            format!("top_up:{id}")
        );
        let projections = PaymentProjections::new(3, 10, 5);
        assert_eq!(
            projections.topics(),
            [
                ("purse.topup.events", 3),
                ("purse.payment.events", 3),
                ("purse.payment_method.events", 3),
                ("purse.saga.auto_topup.events", 3),
            ]
        );
    }
}
