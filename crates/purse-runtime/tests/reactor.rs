//! Reactors over the embedded log and store: every winning event is handled once, losing
//! records never, a restart resumes after the checkpoint with the state rebuilt, and transient
//! reaction failures are retried rather than skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message;
use purse_domain::idempotency::IdempotencyKey;
use purse_domain::money::Asset;
use purse_domain::wallet::{CreditSource, Limits, WalletAction, WalletCommand, WalletKind};
use purse_log::{EventLog, Record, SqliteLog, SqliteLogOptions, partition_for};
use purse_runtime::bus::{BusSettings, CommandBus, LocalBus};
use purse_runtime::codec;
use purse_runtime::metrics;
use purse_runtime::reactor::{
    Reacted, Reaction, ReactionError, ReactorError, ReactorSettings, spawn_reactor,
};
use purse_runtime::shard::{ShardError, ShardSettings, TimerSettings};
use purse_store::{ReadStore, SqliteStore};
use purse_streams::wallet::WalletStream;
use rust_decimal::Decimal;
use tokio::sync::watch;
use tokio::task::JoinSet;
use uuid::Uuid;

const PARTITIONS: u32 = 2;
const TOPIC: &str = "purse.wallet.events";
const WAIT_LIMIT_MS: u64 = 10_000;

struct World {
    _dir: tempfile::TempDir,
    log: Arc<dyn EventLog>,
    store: Arc<dyn ReadStore>,
    bus: LocalBus<WalletStream>,
    _shards: JoinSet<Result<(), ShardError>>,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> =
        Arc::new(SqliteLog::open(&dir.path().join("log.db"), SqliteLogOptions::default()).unwrap());
    let store: Arc<dyn ReadStore> =
        Arc::new(SqliteStore::open(&dir.path().join("store.db")).unwrap());
    let mut shards = JoinSet::new();
    let bus = LocalBus::start(
        log.clone(),
        TOPIC,
        &BusSettings {
            partitions: PARTITIONS,
            queue_capacity: 64,
            reply_timeout_ms: 10_000,
        },
        &ShardSettings {
            batch_max_commands: 64,
            read_batch_max_records: 1_024,
            read_back_wait_ms: 5_000,
            idempotency_retention_ms: 86_400_000,
            timers: TimerSettings {
                expiring_notice_lead_ms: 86_400_000,
            },
        },
        &mut shards,
    )
    .await
    .unwrap();
    World {
        _dir: dir,
        log,
        store,
        bus,
        _shards: shards,
    }
}

fn settings() -> ReactorSettings {
    ReactorSettings {
        name: "test-reactor".to_owned(),
        topic: TOPIC.to_owned(),
        partitions: PARTITIONS,
        read_batch_max_records: 3,
        read_wait_ms: 50,
    }
}

async fn send(
    bus: &LocalBus<WalletStream>,
    wallet_id: Uuid,
    action: WalletAction,
    key: &str,
) -> u64 {
    let command = WalletCommand {
        tenant: "t1".to_owned(),
        wallet_id,
        action,
    };
    let key = IdempotencyKey::parse(&format!("{key}-{wallet_id}")).unwrap();
    bus.send(command, Some(key), "test".to_owned())
        .await
        .unwrap()
        .sequence
}

async fn open(bus: &LocalBus<WalletStream>, wallet_id: Uuid) -> u64 {
    let action = WalletAction::Open {
        owner: "owner".to_owned(),
        kind: WalletKind::Customer,
        asset: Asset::parse("USD", None).unwrap(),
        limits: Limits::default(),
        metadata: BTreeMap::new(),
    };
    send(bus, wallet_id, action, "open").await
}

async fn credit(bus: &LocalBus<WalletStream>, wallet_id: Uuid, key: &str) -> u64 {
    let action = WalletAction::Credit {
        amount: Decimal::new(1_000, 2),
        source: CreditSource::Paid,
        expires_at: None,
        reference: String::new(),
        description: String::new(),
    };
    send(bus, wallet_id, action, key).await
}

/// Re-appends the winning record at `sequence` of a wallet with fresh event ids: a second
/// writer that lost the race for that sequence.
async fn append_loser(log: &Arc<dyn EventLog>, wallet_id: Uuid, sequence: u64) -> Vec<String> {
    let key = wallet_id.to_string();
    let partition = partition_for(key.as_bytes(), PARTITIONS);
    let stored = log.read(TOPIC, partition, 0, 1_000, 0).await.unwrap();
    let mut record = stored
        .iter()
        .map(|stored| codec::decode_record(&stored.payload).unwrap())
        .find(|record| {
            record.events[0].stream_id == key && record.events[0].stream_sequence == sequence
        })
        .expect("the winning record");
    for envelope in &mut record.events {
        envelope.event_id = Uuid::now_v7().to_string();
    }
    let ids = record.events.iter().map(|e| e.event_id.clone()).collect();
    log.append(
        TOPIC,
        vec![Record {
            partition,
            key: key.into_bytes(),
            payload: record.encode_to_vec(),
        }],
    )
    .await
    .unwrap();
    ids
}

/// What one reactor instance saw.
#[derive(Default)]
struct Recorder {
    /// (wallet, sequence, event id, balance after) per handled event.
    handled: Mutex<Vec<(Uuid, u64, String, Decimal)>>,
    replayed: Mutex<Vec<(Uuid, u64)>>,
    caught_up: Mutex<BTreeSet<u32>>,
    /// Transient failures still to inject, on the first event offered.
    failures_left: AtomicU32,
    attempts: AtomicU32,
    /// Fail permanently on every event.
    broken: bool,
}

#[async_trait::async_trait]
impl Reaction<WalletStream> for Recorder {
    async fn react(&self, event: &Reacted<'_, WalletStream>) -> Result<(), ReactionError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.broken {
            return Err(ReactionError::Permanent("broken on purpose".to_owned()));
        }
        if self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(ReactionError::Transient("not yet".to_owned()));
        }
        let balance = event
            .state
            .wallet()
            .map(|w| w.balance())
            .unwrap_or_default();
        self.handled.lock().unwrap().push((
            event.stream_id,
            event.sequence,
            event.event_id.to_owned(),
            balance,
        ));
        Ok(())
    }

    fn replay(&self, event: &Reacted<'_, WalletStream>) {
        self.replayed
            .lock()
            .unwrap()
            .push((event.stream_id, event.sequence));
    }

    async fn caught_up(&self, partition: u32) -> Result<(), ReactionError> {
        self.caught_up.lock().unwrap().insert(partition);
        Ok(())
    }
}

impl Recorder {
    fn handled_keys(&self) -> Vec<(Uuid, u64)> {
        self.handled
            .lock()
            .unwrap()
            .iter()
            .map(|(w, s, _, _)| (*w, *s))
            .collect()
    }
}

struct Running {
    stop: watch::Sender<bool>,
    tasks: JoinSet<Result<(), ReactorError>>,
}

fn start(world: &World, reaction: Arc<Recorder>) -> Running {
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    spawn_reactor::<WalletStream>(
        world.log.clone(),
        world.store.clone(),
        settings(),
        reaction,
        &stopped,
        &mut tasks,
    );
    Running { stop, tasks }
}

impl Running {
    async fn stop(mut self) {
        self.stop.send(true).unwrap();
        while let Some(result) = self.tasks.join_next().await {
            result.unwrap().unwrap();
        }
    }
}

async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(WAIT_LIMIT_MS);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every (wallet, sequence) from 1 to each wallet's head.
fn expected(heads: &[(Uuid, u64)]) -> BTreeSet<(Uuid, u64)> {
    heads
        .iter()
        .flat_map(|(w, head)| (1..=*head).map(move |s| (*w, s)))
        .collect()
}

async fn wallets_with_credit(world: &World, count: usize) -> Vec<(Uuid, u64)> {
    let mut heads = Vec::new();
    for _ in 0..count {
        let wallet_id = Uuid::now_v7();
        open(&world.bus, wallet_id).await;
        heads.push((wallet_id, credit(&world.bus, wallet_id, "credit-1").await));
    }
    heads
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_winning_event_is_handled_once_and_losers_never() {
    let world = world().await;
    let heads = wallets_with_credit(&world, 6).await;
    let loser_ids = append_loser(&world.log, heads[0].0, heads[0].1).await;
    // A winner after the loser still counts.
    let (wallet_id, _) = heads[0];
    let head = credit(&world.bus, wallet_id, "credit-2").await;
    let mut heads = heads;
    heads[0].1 = head;

    let recorder = Arc::new(Recorder::default());
    let running = start(&world, recorder.clone());
    let want = expected(&heads);
    eventually("every winning event", || {
        recorder.handled_keys().len() >= want.len()
    })
    .await;
    // Let a duplicate show up if there were going to be one.
    tokio::time::sleep(Duration::from_millis(200)).await;
    running.stop().await;

    let handled = recorder.handled_keys();
    assert_eq!(handled.len(), want.len(), "no event handled twice");
    assert_eq!(handled.into_iter().collect::<BTreeSet<_>>(), want);
    let handled = recorder.handled.lock().unwrap();
    assert!(handled.iter().all(|(_, _, id, _)| !loser_ids.contains(id)));
    // The state handed over is the stream's state after the event: two credits of 10.00.
    let last = handled
        .iter()
        .find(|(w, s, _, _)| *w == wallet_id && *s == head)
        .unwrap();
    assert_eq!(last.3, Decimal::new(2_000, 2));
    assert_eq!(
        *recorder.caught_up.lock().unwrap(),
        (0..PARTITIONS).collect::<BTreeSet<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_after_the_checkpoint_with_state_rebuilt() {
    let world = world().await;
    let heads = wallets_with_credit(&world, 4).await;
    let first = Arc::new(Recorder::default());
    let running = start(&world, first.clone());
    let want_first = expected(&heads);
    eventually("the first run", || {
        first.handled_keys().len() >= want_first.len()
    })
    .await;
    running.stop().await;

    let mut later = Vec::new();
    for (wallet_id, _) in &heads {
        later.push((*wallet_id, credit(&world.bus, *wallet_id, "credit-2").await));
    }
    let second = Arc::new(Recorder::default());
    let running = start(&world, second.clone());
    eventually("the second run", || {
        second.handled_keys().len() >= later.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    running.stop().await;

    assert_eq!(
        second.handled_keys().into_iter().collect::<BTreeSet<_>>(),
        later.iter().copied().collect::<BTreeSet<_>>(),
        "only what came after the checkpoint is handled again"
    );
    assert_eq!(second.handled_keys().len(), later.len());
    assert_eq!(
        second
            .replayed
            .lock()
            .unwrap()
            .iter()
            .copied()
            .collect::<BTreeSet<_>>(),
        want_first,
        "earlier events rebuild state through the replay hook"
    );
    for (_, _, _, balance) in second.handled.lock().unwrap().iter() {
        assert_eq!(
            *balance,
            Decimal::new(2_000, 2),
            "state includes replayed events"
        );
    }
}

/// `purse_reactor_retries_total` as `/metrics` exposes it.
fn reactor_retries() -> u64 {
    metrics::render()
        .lines()
        .find_map(|line| line.strip_prefix("purse_reactor_retries_total "))
        .expect("purse_reactor_retries_total is exposed")
        .parse()
        .expect("counter value")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_and_nothing_is_skipped() {
    let world = world().await;
    let heads = wallets_with_credit(&world, 3).await;
    let retries_before = reactor_retries();
    let recorder = Arc::new(Recorder {
        failures_left: AtomicU32::new(3),
        ..Recorder::default()
    });
    let running = start(&world, recorder.clone());
    let want = expected(&heads);
    eventually("every event despite failures", || {
        recorder.handled_keys().len() >= want.len()
    })
    .await;
    running.stop().await;

    let handled = recorder.handled_keys();
    assert_eq!(handled.len(), want.len());
    assert_eq!(handled.into_iter().collect::<BTreeSet<_>>(), want);
    assert_eq!(
        recorder.attempts.load(Ordering::SeqCst) as usize,
        want.len() + 3
    );
    assert!(reactor_retries() >= retries_before + 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_failure_stops_the_partition_instead_of_skipping() {
    let world = world().await;
    let wallet_id = Uuid::now_v7();
    open(&world.bus, wallet_id).await;
    let recorder = Arc::new(Recorder {
        broken: true,
        ..Recorder::default()
    });
    let mut running = start(&world, recorder.clone());
    let stopped = tokio::time::timeout(
        Duration::from_millis(WAIT_LIMIT_MS),
        running.tasks.join_next(),
    )
    .await
    .expect("the partition with the event stops")
    .unwrap()
    .unwrap();
    assert!(matches!(
        stopped,
        Err(ReactorError::Reaction {
            source: ReactionError::Permanent(_),
            ..
        })
    ));
    assert_eq!(recorder.attempts.load(Ordering::SeqCst), 1);
    // Nothing was checkpointed past the event: it is offered again after a restart.
    let partition = partition_for(wallet_id.to_string().as_bytes(), PARTITIONS);
    let checkpoint = world
        .store
        .checkpoint("test-reactor", TOPIC, partition)
        .await
        .unwrap();
    assert_eq!(checkpoint.unwrap_or(0), 0);
    running.stop().await;
}
