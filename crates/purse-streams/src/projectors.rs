//! The projections of every stream kind with a read model, and how to start them: wallets on
//! their own (the read path clients wait on), the top-up, payment, stored-card and auto top-up
//! ones together.

use std::sync::Arc;

use purse_log::EventLog;
use purse_runtime::projector::{
    PositionKeys, Projection, ProjectionWatch, ProjectorError, ProjectorSettings, spawn_projectors,
};
use purse_store::ReadStore;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::auto_top_up::{AutoTopUpStream, auto_top_up_rows};
use crate::payment::{PaymentStream, payment_rows};
use crate::payment_methods::{PaymentMethodsStream, payment_method_rows};
use crate::top_up::{TopUpStream, top_up_rows};
use crate::topics;
use crate::wallet::{WalletStream, wallet_rows};

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
    let projection = Projection::<WalletStream> {
        settings: settings.clone(),
        positions: PositionKeys::StreamId,
        rows: wallet_rows,
    };
    spawn_projectors(log, store, &projection, watch, shutdown, tasks);
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
    pub top_ups: Projection<TopUpStream>,
    /// Payment intents (`purse.payment.events`) → payment rows.
    pub payments: Projection<PaymentStream>,
    /// Stored cards (`purse.payment_method.events`) → payment method rows.
    pub payment_methods: Projection<PaymentMethodsStream>,
    /// Auto top-up sagas (`purse.saga.auto_topup.events`) → auto top-up rule rows.
    pub auto_top_ups: Projection<AutoTopUpStream>,
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

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use purse_domain::Timestamp;
    use purse_domain::money::Asset;
    use purse_domain::saga::{
        AutoTopUpAmount, AutoTopUpEvent, AutoTopUpEventKind, AutoTopUpRule, DailyCap,
    };
    use purse_domain::topup::{
        FeeRate, GrantedCredit, TopUpCreated, TopUpEvent, TopUpEventKind, TopUpKind,
    };
    use purse_log::{Record, SqliteLog, SqliteLogOptions};
    use purse_store::SqliteStore;
    use rust_decimal::Decimal;

    use super::*;
    use purse_runtime::codec::{EventCodec, EventMeta, encode_record};
    use purse_runtime::projector::stream_position_key;
    use uuid::Uuid;

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
            kind: TopUpEventKind::TopUpCreated(TopUpCreated {
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
            }),
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
        let first = append::<TopUpStream>(log.as_ref(), topic, top_up_id, 1, "", &[created]).await;
        // A stale writer's record for the same sequence: loses, and is not projected.
        let mut stale = top_up_created(top_up_id, wallet_id);
        if let TopUpEventKind::TopUpCreated(TopUpCreated { amount, .. }) = &mut stale.kind {
            *amount = dec("99.00");
        }
        append::<TopUpStream>(log.as_ref(), topic, top_up_id, 1, "", &[stale]).await;
        let completed = TopUpEvent {
            occurred_at: Timestamp::from_millis(AT_MS + 1_000),
            kind: TopUpEventKind::TopUpCompleted {
                paid_lot_id: Uuid::now_v7(),
                granted: GrantedCredit::NotNeeded,
                credited: dec("20.00"),
            },
        };
        append::<TopUpStream>(log.as_ref(), topic, top_up_id, 2, &first, &[completed]).await;

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
        append::<AutoTopUpStream>(
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
            (stream_position_key::<TopUpStream>(top_up_id), 2),
            (stream_position_key::<AutoTopUpStream>(wallet_id), 2),
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
            PositionKeys::StreamId.key::<WalletStream>(&id.to_string()),
            id.to_string()
        );
        assert_eq!(
            PositionKeys::ByStreamKind.key::<AutoTopUpStream>(&id.to_string()),
            stream_position_key::<AutoTopUpStream>(id)
        );
        assert_eq!(
            stream_position_key::<TopUpStream>(id),
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
