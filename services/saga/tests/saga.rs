//! The saga coordinator in process, over the embedded log and store with every decider's shard
//! workers: a paid top-up completes and credits the wallet exactly once (paid + granted), a
//! decline fails it, no payment expires it, a capture after the deadline is refunded, and a
//! coordinator restarted mid-way still completes exactly once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use purse_domain::idempotency::IdempotencyKey;
use purse_domain::money::Asset;
use purse_domain::payment::{
    CardBrand, CardDetails, DeclineReason, PaymentAction, PaymentCommand, PaymentStatus,
    ProviderEventId, RefundReason,
};
use purse_domain::saga::{
    AutoTopUpAmount, AutoTopUpCommand, AutoTopUpInput, AutoTopUpRule,
    DEFAULT_AUTO_TOP_UP_BACKOFF_MS, DailyCap,
};
use purse_domain::topup::{
    CreateTopUp, FeeRate, TopUpAction, TopUpCommand, TopUpKind, TopUpStatus,
};
use purse_domain::wallet::{
    CreditSource, DebitKind, Limits, WalletAction, WalletCommand, WalletEventKind, WalletKind,
};
use purse_log::{EventLog, SqliteLog, SqliteLogOptions, partition_for};
use purse_runtime::codec::{self, EventCodec};
use purse_runtime::guard::{SequenceGuard, Verdict};
use purse_saga::SagaApp;
use purse_store::{ReadStore, SqliteStore};
use purse_streams::auto_top_up::AutoTopUpStream;
use purse_streams::buses::{Buses, EmbeddedShards};
use purse_streams::config::Config;
use purse_streams::payment::PaymentStream;
use purse_streams::top_up::TopUpStream;
use purse_streams::topics::{self, DeciderTopics};
use purse_streams::wallet::WalletStream;
use rust_decimal::Decimal;
use uuid::Uuid;

const TENANT: &str = "t1";
const OWNER: &str = "owner-1";
/// Bound on every wait for the sagas to get somewhere.
const WAIT_LIMIT_MS: u64 = 20_000;
const DRAIN_GRACE_MS: u64 = 5_000;

struct World {
    _dir: tempfile::TempDir,
    config: Config,
    log: Arc<dyn EventLog>,
    store: Arc<dyn ReadStore>,
    buses: Buses,
    _shards: EmbeddedShards,
    app: Option<SagaApp>,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        partitions: 2,
        data_dir: dir.path().to_owned(),
        instance_id: "saga-test".to_owned(),
        ..Config::default()
    };
    let log: Arc<dyn EventLog> =
        Arc::new(SqliteLog::open(&dir.path().join("log.db"), SqliteLogOptions::default()).unwrap());
    let store: Arc<dyn ReadStore> =
        Arc::new(SqliteStore::open(&dir.path().join("store.db")).unwrap());
    let (buses, shards) = Buses::start_embedded(&config, log.clone()).await.unwrap();
    let app = SagaApp::start_embedded(&config, &buses, log.clone(), store.clone());
    World {
        _dir: dir,
        config,
        log,
        store,
        buses,
        _shards: shards,
        app: Some(app),
    }
}

impl World {
    async fn stop_coordinator(&mut self) {
        self.app.take().unwrap().drain(DRAIN_GRACE_MS).await;
    }

    fn start_coordinator(&mut self) {
        assert!(self.app.is_none());
        self.app = Some(SagaApp::start_embedded(
            &self.config,
            &self.buses,
            self.log.clone(),
            self.store.clone(),
        ));
    }

    /// Winning events of one stream, straight from the log.
    async fn events<D: EventCodec>(&self, topics: DeciderTopics, stream_id: Uuid) -> Vec<D::Event> {
        let key = stream_id.to_string();
        let partition = partition_for(key.as_bytes(), self.config.partitions);
        let mut guard = SequenceGuard::default();
        let mut events = Vec::new();
        let mut next = 0;
        loop {
            let stored = self
                .log
                .read(topics.events, partition, next, 1_000, 0)
                .await
                .unwrap();
            let Some(last) = stored.last() else {
                return events;
            };
            next = last.offset + 1;
            for (_, record) in codec::decode_stored(&stored).unwrap() {
                if guard.admit(&codec::header(&record)) != Verdict::Accepted
                    || record.events[0].stream_id != key
                {
                    continue;
                }
                for envelope in &record.events {
                    events.push(D::from_envelope(envelope).unwrap());
                }
            }
        }
    }

    async fn state<D: EventCodec>(&self, topics: DeciderTopics, stream_id: Uuid) -> D::State {
        self.events::<D>(topics, stream_id)
            .await
            .iter()
            .fold(D::State::default(), D::evolve)
    }

    async fn top_up_status(&self, top_up_id: Uuid) -> Option<TopUpStatus> {
        self.state::<TopUpStream>(topics::TOP_UPS, top_up_id)
            .await
            .top_up()
            .map(|top_up| top_up.status())
    }

    async fn payment_status(&self, payment_id: Uuid) -> Option<PaymentStatus> {
        self.state::<PaymentStream>(topics::PAYMENTS, payment_id)
            .await
            .intent()
            .map(|intent| intent.status())
    }

    /// (source, amount) of every credit the wallet received.
    async fn credits(&self, wallet_id: Uuid) -> Vec<(CreditSource, Decimal)> {
        self.events::<WalletStream>(topics::WALLETS, wallet_id)
            .await
            .into_iter()
            .filter_map(|event| match event.kind {
                WalletEventKind::FundsCredited { source, amount, .. } => Some((source, amount)),
                _ => None,
            })
            .collect()
    }

    async fn open_wallet(&self) -> Uuid {
        let wallet_id = Uuid::now_v7();
        let command = WalletCommand {
            tenant: TENANT.to_owned(),
            wallet_id,
            action: WalletAction::Open {
                owner: OWNER.to_owned(),
                kind: WalletKind::Customer,
                asset: usd(),
                limits: Limits::default(),
                metadata: BTreeMap::new(),
            },
        };
        self.buses
            .wallets
            .send(command, key(&format!("open-{wallet_id}")), "test".into())
            .await
            .unwrap();
        wallet_id
    }

    /// Creates a manual top-up; returns (top-up id, payment id).
    async fn create_top_up(
        &self,
        wallet_id: Uuid,
        amount: Decimal,
        wallet_amount: Decimal,
        timeout_ms: i64,
    ) -> (Uuid, Uuid) {
        let top_up_id = Uuid::now_v7();
        let command = TopUpCommand {
            tenant: TENANT.to_owned(),
            top_up_id,
            action: TopUpAction::Create(CreateTopUp {
                wallet_id,
                owner: OWNER.to_owned(),
                kind: TopUpKind::Manual,
                asset: usd(),
                amount,
                wallet_amount,
                fee_rate: FeeRate::ZERO,
                timeout_ms,
                lots_expire_at: None,
                payment_method_id: None,
                facts: Some(purse_domain::topup::WalletFacts {
                    wallet_status: purse_domain::wallet::WalletStatus::Open,
                    payment_method_on_file: false,
                }),
            }),
        };
        let reply = self
            .buses
            .top_ups
            .send(command, key(&format!("create-{top_up_id}")), "test".into())
            .await
            .unwrap();
        (top_up_id, reply.outcome.payment_id)
    }

    async fn pay(&self, payment_id: Uuid, action: PaymentAction, step: &str) {
        let command = PaymentCommand {
            tenant: TENANT.to_owned(),
            payment_id,
            action,
        };
        self.buses
            .payments
            .send(command, key(&format!("{step}-{payment_id}")), "test".into())
            .await
            .unwrap();
    }

    /// The payer submits a card once the saga has created the intent.
    async fn submit(&self, payment_id: Uuid) {
        self.eventually("the payment intent", || async {
            self.payment_status(payment_id).await.is_some()
        })
        .await;
        let card = CardDetails::new(CardBrand::Visa, "4242", 12, 2030, "tok_test").unwrap();
        let submit = PaymentAction::Submit {
            card,
            payment_method_id: None,
            save_card: false,
        };
        self.pay(payment_id, submit, "submit").await;
    }

    async fn capture(&self, payment_id: Uuid, amount: Decimal) {
        let capture = PaymentAction::RecordSucceeded {
            provider_event_id: ProviderEventId::parse(&format!("evt-ok-{payment_id}")).unwrap(),
            amount,
        };
        self.pay(payment_id, capture, "capture").await;
    }

    async fn eventually<F, Fut>(&self, what: &str, condition: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(WAIT_LIMIT_MS);
        while !condition().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_status(&self, top_up_id: Uuid, status: TopUpStatus) {
        self.eventually(&format!("top-up {status}"), || async {
            self.top_up_status(top_up_id).await == Some(status)
        })
        .await;
    }
}

fn usd() -> Asset {
    Asset::parse("USD", None).unwrap()
}

fn key(text: &str) -> Option<IdempotencyKey> {
    Some(IdempotencyKey::parse(text).unwrap())
}

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_top_up_completes_and_credits_paid_and_granted_once() {
    let world = world().await;
    let wallet_id = world.open_wallet().await;
    let (top_up_id, payment_id) = world
        .create_top_up(wallet_id, dec("20.00"), dec("22.00"), 60_000)
        .await;
    world.submit(payment_id).await;
    world.capture(payment_id, dec("20.00")).await;
    world.wait_status(top_up_id, TopUpStatus::Completed).await;

    // Give a duplicate credit every chance to appear.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        world.credits(wallet_id).await,
        vec![
            (CreditSource::Paid, dec("20.00")),
            (CreditSource::Granted, dec("2.00"))
        ]
    );
    let top_up = world.state::<TopUpStream>(topics::TOP_UPS, top_up_id).await;
    assert_eq!(top_up.top_up().unwrap().credited(), dec("22.00"));
    world.app.unwrap().drain(DRAIN_GRACE_MS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_payment_fails_the_top_up_and_credits_nothing() {
    let world = world().await;
    let wallet_id = world.open_wallet().await;
    let (top_up_id, payment_id) = world
        .create_top_up(wallet_id, dec("20.00"), dec("20.00"), 60_000)
        .await;
    world.submit(payment_id).await;
    let decline = PaymentAction::RecordFailed {
        provider_event_id: ProviderEventId::parse(&format!("evt-no-{payment_id}")).unwrap(),
        reason: DeclineReason::Declined,
    };
    world.pay(payment_id, decline, "decline").await;
    world.wait_status(top_up_id, TopUpStatus::Failed).await;
    assert!(world.credits(wallet_id).await.is_empty());
    world.app.unwrap().drain(DRAIN_GRACE_MS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_payment_before_the_deadline_expires_the_top_up() {
    let world = world().await;
    let wallet_id = world.open_wallet().await;
    let (top_up_id, payment_id) = world
        .create_top_up(wallet_id, dec("20.00"), dec("20.00"), 1_000)
        .await;
    world.wait_status(top_up_id, TopUpStatus::Expired).await;
    assert_eq!(
        world.payment_status(payment_id).await,
        Some(PaymentStatus::Canceled),
        "the intent is cancelled before the top-up expires"
    );
    assert!(world.credits(wallet_id).await.is_empty());
    world.app.unwrap().drain(DRAIN_GRACE_MS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_after_the_deadline_is_refunded_and_the_top_up_stays_expired() {
    let world = world().await;
    let wallet_id = world.open_wallet().await;
    let (top_up_id, payment_id) = world
        .create_top_up(wallet_id, dec("20.00"), dec("20.00"), 1_000)
        .await;
    world.submit(payment_id).await;
    world.wait_status(top_up_id, TopUpStatus::Expired).await;
    world.capture(payment_id, dec("20.00")).await;

    world
        .eventually("the compensating refund", || async {
            let payment = world
                .state::<PaymentStream>(topics::PAYMENTS, payment_id)
                .await;
            payment.intent().is_some_and(|intent| {
                intent
                    .refunds()
                    .iter()
                    .any(|refund| refund.reason() == RefundReason::LateCapture)
            })
        })
        .await;
    world
        .eventually("the late capture recorded on the top-up", || async {
            let top_up = world.state::<TopUpStream>(topics::TOP_UPS, top_up_id).await;
            top_up
                .top_up()
                .is_some_and(|top_up| top_up.late_capture() == Some(dec("20.00")))
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let payment = world
        .state::<PaymentStream>(topics::PAYMENTS, payment_id)
        .await;
    assert_eq!(
        payment.intent().unwrap().refunds().len(),
        1,
        "exactly one refund"
    );
    assert_eq!(
        world.top_up_status(top_up_id).await,
        Some(TopUpStatus::Expired)
    );
    assert!(world.credits(wallet_id).await.is_empty());
    world.app.unwrap().drain(DRAIN_GRACE_MS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_restarted_mid_way_completes_exactly_once() {
    let mut world = world().await;
    let wallet_id = world.open_wallet().await;
    let (top_up_id, payment_id) = world
        .create_top_up(wallet_id, dec("20.00"), dec("25.00"), 60_000)
        .await;
    world.submit(payment_id).await;
    // The capture lands while no coordinator runs.
    world.stop_coordinator().await;
    world.capture(payment_id, dec("20.00")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        world.top_up_status(top_up_id).await,
        Some(TopUpStatus::Created)
    );
    world.start_coordinator();
    world.wait_status(top_up_id, TopUpStatus::Completed).await;

    // And once more after completion: a restart re-reads everything and changes nothing.
    world.stop_coordinator().await;
    world.start_coordinator();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        world.credits(wallet_id).await,
        vec![
            (CreditSource::Paid, dec("20.00")),
            (CreditSource::Granted, dec("5.00"))
        ]
    );
    world.app.take().unwrap().drain(DRAIN_GRACE_MS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_the_threshold_starts_one_auto_top_up_that_completes() {
    let world = world().await;
    let wallet_id = world.open_wallet().await;
    let wallet = |action| WalletCommand {
        tenant: TENANT.to_owned(),
        wallet_id,
        action,
    };
    let credit = WalletAction::Credit {
        amount: dec("10.00"),
        source: CreditSource::Paid,
        expires_at: None,
        reference: String::new(),
        description: String::new(),
    };
    world
        .buses
        .wallets
        .send(wallet(credit), key("initial-credit"), "test".into())
        .await
        .unwrap();
    let rule = AutoTopUpRule {
        threshold: dec("5.00"),
        amount: AutoTopUpAmount::Fixed {
            amount: dec("20.00"),
        },
        payment_method_id: Uuid::now_v7(),
        daily_cap: DailyCap::default(),
        backoff_ms: DEFAULT_AUTO_TOP_UP_BACKOFF_MS,
        fee_rate: FeeRate::ZERO,
        timeout_ms: 60_000,
    };
    let set_rule = AutoTopUpCommand {
        wallet_id,
        input: AutoTopUpInput::SetRule {
            tenant: TENANT.to_owned(),
            owner: OWNER.to_owned(),
            asset: usd(),
            rule,
            facts: purse_domain::topup::WalletFacts {
                wallet_status: purse_domain::wallet::WalletStatus::Open,
                payment_method_on_file: true,
            },
        },
    };
    world
        .buses
        .auto_top_ups
        .send(set_rule, key("set-rule"), "test".into())
        .await
        .unwrap();
    // Two debits below the threshold: one crossing, one auto top-up.
    for step in ["debit-1", "debit-2"] {
        let debit = WalletAction::Debit {
            amount: dec("3.00"),
            kind: DebitKind::Purchase,
            reference: String::new(),
            description: String::new(),
        };
        world
            .buses
            .wallets
            .send(wallet(debit), key(step), "test".into())
            .await
            .unwrap();
    }
    world
        .eventually("the auto top-up", || async {
            let saga = world
                .state::<AutoTopUpStream>(topics::AUTO_TOP_UPS, wallet_id)
                .await;
            let in_flight = saga
                .auto_top_up()
                .and_then(|saga| saga.in_flight())
                .map(|flight| flight.top_up_id());
            in_flight.is_some()
        })
        .await;
    let saga = world
        .state::<AutoTopUpStream>(topics::AUTO_TOP_UPS, wallet_id)
        .await;
    let top_up_id = saga.auto_top_up().unwrap().in_flight().unwrap().top_up_id();
    world
        .eventually("the auto top-up's payment", || async {
            match world.top_up_status(top_up_id).await {
                Some(_) => {
                    let top_up = world.state::<TopUpStream>(topics::TOP_UPS, top_up_id).await;
                    let payment_id = top_up.top_up().unwrap().payment_id();
                    world.payment_status(payment_id).await.is_some()
                }
                None => false,
            }
        })
        .await;
    let top_up = world.state::<TopUpStream>(topics::TOP_UPS, top_up_id).await;
    let payment_id = top_up.top_up().unwrap().payment_id();
    world.capture(payment_id, dec("20.00")).await;
    world.wait_status(top_up_id, TopUpStatus::Completed).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        world.credits(wallet_id).await,
        vec![
            (CreditSource::Paid, dec("10.00")),
            (CreditSource::Paid, dec("20.00"))
        ],
        "exactly one auto top-up"
    );
    world.app.unwrap().drain(DRAIN_GRACE_MS).await;
}
