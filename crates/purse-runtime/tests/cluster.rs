//! The cluster command bus over the embedded log: commands sent through any front reach the
//! instance that owns their partition, and the group moves partitions when an instance leaves.
//! (The same bus over Kafka, in separate processes, is exercised by the end-to-end tests.)

use std::collections::BTreeMap;
use std::sync::Arc;

use purse_domain::idempotency::IdempotencyKey;
use purse_domain::money::Asset;
use purse_domain::wallet::{
    DebitKind, Limits, WalletAction, WalletCommand, WalletError, WalletKind,
};
use purse_log::{EventLog, SqliteLog, SqliteLogOptions};
use purse_runtime::bus::CommandBus;
use purse_runtime::cluster::{ClusterSettings, HostError, LogBus, ShardHost};
use purse_runtime::shard::{CommandError, ShardSettings, TimerSettings};
use purse_streams::wallet::WalletStream;
use rust_decimal::Decimal;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

const PARTITIONS: u32 = 4;

fn settings(instance_id: &str) -> ClusterSettings {
    ClusterSettings {
        instance_id: instance_id.to_owned(),
        group: "purse-wallets".to_owned(),
        commands_topic: "purse.wallet.commands".to_owned(),
        events_topic: "purse.wallet.events".to_owned(),
        replies_topic: "purse.replies".to_owned(),
        partitions: PARTITIONS,
        reply_partitions: 2,
        reply_timeout_ms: 1_0000,
        queue_capacity: 256,
    }
}

fn shard_settings() -> ShardSettings {
    ShardSettings {
        batch_max_commands: 64,
        read_batch_max_records: 1024,
        read_back_wait_ms: 5_000,
        idempotency_retention_ms: 86_400_000,
        timers: TimerSettings {
            expiring_notice_lead_ms: 86_400_000,
        },
    }
}

struct Instance {
    bus: LogBus<WalletStream>,
    stop: watch::Sender<bool>,
    host: JoinHandle<Result<(), HostError>>,
}

async fn start(log: &Arc<dyn EventLog>, id: &str) -> Instance {
    settings(id).create_topics(log.as_ref()).await.unwrap();
    let bus = LogBus::start(log.clone(), settings(id)).await.unwrap();
    let (stop, stopped) = watch::channel(false);
    let host = ShardHost::<WalletStream>::new(log.clone(), settings(id), shard_settings());
    let host = tokio::spawn(host.run(stopped));
    Instance { bus, stop, host }
}

fn command(wallet_id: Uuid, action: WalletAction) -> WalletCommand {
    WalletCommand {
        tenant: "t1".to_owned(),
        wallet_id,
        action,
    }
}

fn key(text: String) -> Option<IdempotencyKey> {
    Some(IdempotencyKey::parse(&text).unwrap())
}

async fn open_and_credit(bus: &LogBus<WalletStream>, wallet_id: Uuid) {
    let open = WalletAction::Open {
        owner: "owner".to_owned(),
        kind: WalletKind::Customer,
        asset: Asset::parse("USD", None).unwrap(),
        limits: Limits::default(),
        metadata: BTreeMap::new(),
    };
    bus.send(
        command(wallet_id, open),
        key(format!("open-{wallet_id}")),
        "c".into(),
    )
    .await
    .unwrap();
    let credit = WalletAction::Credit {
        amount: Decimal::new(1_000, 2),
        source: purse_domain::wallet::CreditSource::Paid,
        expires_at: None,
        reference: String::new(),
        description: String::new(),
    };
    bus.send(
        command(wallet_id, credit),
        key(format!("credit-{wallet_id}")),
        "c".into(),
    )
    .await
    .unwrap();
}

fn debit(amount_cents: i64) -> WalletAction {
    WalletAction::Debit {
        amount: Decimal::new(amount_cents, 2),
        kind: DebitKind::Purchase,
        reference: String::new(),
        description: String::new(),
    }
}

fn open_log() -> (tempfile::TempDir, Arc<dyn EventLog>) {
    let dir = tempfile::tempdir().unwrap();
    let log = SqliteLog::open(&dir.path().join("log.db"), SqliteLogOptions::default()).unwrap();
    (dir, Arc::new(log))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_through_either_front_reach_the_owner_and_replies_come_back() {
    let (_dir, log) = open_log();
    let a = start(&log, "instance-a").await;
    let b = start(&log, "instance-b").await;
    let wallets: Vec<Uuid> = (0..16).map(|_| Uuid::now_v7()).collect();
    for (i, wallet_id) in wallets.iter().enumerate() {
        let front = if i % 2 == 0 { &a.bus } else { &b.bus };
        open_and_credit(front, *wallet_id).await;
    }
    for wallet_id in &wallets {
        // Same key through the other front: one debit, replayed.
        let first = a
            .bus
            .send(
                command(*wallet_id, debit(250)),
                key(format!("d-{wallet_id}")),
                "c".into(),
            )
            .await
            .unwrap();
        let again = b
            .bus
            .send(
                command(*wallet_id, debit(250)),
                key(format!("d-{wallet_id}")),
                "c".into(),
            )
            .await
            .unwrap();
        assert_eq!(first.outcome.balance, Decimal::new(750, 2));
        assert!(!first.replayed);
        assert!(again.replayed);
        assert_eq!(again.sequence, first.sequence);
        // A rejection travels back as the domain error.
        let refused = b
            .bus
            .send(
                command(*wallet_id, debit(1_0000)),
                key(format!("big-{wallet_id}")),
                "c".into(),
            )
            .await;
        assert!(matches!(
            refused,
            Err(CommandError::Rejected(WalletError::InsufficientFunds { available }))
                if available == Decimal::new(750, 2)
        ));
    }
    for instance in [a, b] {
        instance.stop.send(true).unwrap();
        instance.host.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaving_instance_hands_its_partitions_over() {
    let (_dir, log) = open_log();
    let a = start(&log, "instance-a").await;
    let b = start(&log, "instance-b").await;
    let wallets: Vec<Uuid> = (0..16).map(|_| Uuid::now_v7()).collect();
    for wallet_id in &wallets {
        open_and_credit(&a.bus, *wallet_id).await;
    }
    b.stop.send(true).unwrap();
    b.host.await.unwrap().unwrap();
    // Every partition is now a's; state rebuilt from the events b wrote.
    for wallet_id in &wallets {
        let reply = b
            .bus
            .send(
                command(*wallet_id, debit(100)),
                key(format!("after-{wallet_id}")),
                "c".into(),
            )
            .await
            .unwrap();
        assert_eq!(reply.outcome.balance, Decimal::new(900, 2));
        assert_eq!(reply.sequence, 3);
    }
    a.stop.send(true).unwrap();
    a.host.await.unwrap().unwrap();
}
