//! Cluster mode end to end, the production topology: `purse-wallets` instances and a
//! `purse-projector` (and `purse-topups`, `purse-payments`, `purse-saga`) as separate processes
//! over Apache Kafka (started per test; transactions on as in production unless a test says
//! otherwise), with the read models in Apache Cassandra through the ScyllaDB store (one node for
//! the whole binary, a keyspace per test).
//!
//! Run by `scripts/test` with `cargo test` (libtest: every case in one process), so that the
//! Cassandra node starts once.
//! Faults: kill -9 of an instance, a paused (SIGSTOP) stale writer with transactions on and off,
//! a broker restart, a kill -9 of one broker of three, a
//! projector rebuilding the read models from scratch, and top-ups over `purse-topups`,
//! `purse-payments` and `purse-saga` with the saga killed between capture and credit.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use purse_e2e::browser::Browser;
use purse_e2e::cluster::{Cluster, ReadModels};
use purse_e2e::jvm_consumer::check_wallet_events;
use purse_e2e::requests::{balance, create_wallet, credit, debit, history, until_answered};
use purse_e2e::topups::{SUCCESS_CARD, create_top_up, pay_on_page, settled};
use purse_e2e::{Service, WalletClient, cli_json};
use purse_proto::topup::v1 as tpb;
use purse_proto::wallet::v1 as pb;
use purse_store::ReadStore;
use purse_store_scylla::{ScyllaSettings, ScyllaStore};
use purse_test_engines::KafkaCluster;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tonic::Code;

const PARTITIONS: u32 = 4;

/// `cluster` with its read models in a keyspace of its own on the Cassandra node shared by this
/// binary's tests.
async fn on_cassandra(cluster: Cluster) -> Cluster {
    let node = purse_test_engines::shared_cassandra().await;
    cluster.with_cql_store(&node.contact_point())
}
/// Group session timeout of the services: how long a silent instance keeps its partitions.
const SESSION_TIMEOUT_MS: u64 = 3_000;
/// How long a client keeps retrying one debit (same key) through faults before giving up.
const RETRY_DEADLINE: Duration = Duration::from_secs(90);

/// Wallets whose ids land on every partition (ids are derived from the creation key).
async fn wallets_on_every_partition(client: &mut WalletClient, count: usize) -> Vec<String> {
    let mut wallets = Vec::with_capacity(count);
    for i in 0..count {
        let wallet = create_wallet(client, &format!("owner-{i}"), "USD").await;
        let funding = credit(&wallet, "fund", "1000.00", pb::CreditSource::Paid);
        until_answered(|| {
            let (mut client, funding) = (client.clone(), funding.clone());
            async move { client.credit(funding).await }
        })
        .await
        .expect("funded");
        wallets.push(wallet);
    }
    wallets
}

/// Sends one debit until it gets an answer, rotating over `endpoints` on transport errors and
/// "retry" answers, always with the same key (safe: the wallet replays the one outcome).
async fn debit_until_answered(
    clients: &mut [WalletClient],
    wallet: &str,
    key: &str,
) -> pb::MutationResponse {
    let deadline = tokio::time::Instant::now() + RETRY_DEADLINE;
    let mut attempt = 0usize;
    loop {
        let client = &mut clients[attempt % clients.len()];
        let mut request = tonic::Request::new(debit(wallet, key, "1.00"));
        request.set_timeout(Duration::from_secs(5));
        match client.debit(request).await {
            Ok(reply) => return reply.into_inner(),
            Err(status) if status.code() == Code::FailedPrecondition => {
                panic!("debit {key} refused: {status}")
            }
            Err(status) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "debit {key} still failing after {RETRY_DEADLINE:?}: {status}"
                );
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Debit traffic from several clients over several wallets; every debit is retried until
/// acknowledged. Returns, per wallet, the keys acknowledged.
struct DebitStream {
    tasks: JoinSet<Vec<(String, String)>>,
    acks: Arc<AtomicUsize>,
    progress: Arc<Notify>,
}

impl DebitStream {
    fn start(
        endpoints: &[Vec<WalletClient>],
        wallets: &[String],
        debits_per_client: usize,
    ) -> DebitStream {
        DebitStream::start_with_keys("", endpoints, wallets, debits_per_client)
    }

    /// As [`DebitStream::start`], with `key_prefix` in front of every idempotency key (so that
    /// two streams over the same wallets never share a key).
    fn start_with_keys(
        key_prefix: &str,
        endpoints: &[Vec<WalletClient>],
        wallets: &[String],
        debits_per_client: usize,
    ) -> DebitStream {
        let acks = Arc::new(AtomicUsize::new(0));
        let progress = Arc::new(Notify::new());
        let mut tasks = JoinSet::new();
        for (c, clients) in endpoints.iter().enumerate() {
            let mut clients = clients.clone();
            let wallets = wallets.to_vec();
            let (acks, progress) = (acks.clone(), progress.clone());
            let key_prefix = key_prefix.to_owned();
            tasks.spawn(async move {
                let mut acknowledged = Vec::new();
                for i in 0..debits_per_client {
                    let wallet = &wallets[(c + i) % wallets.len()];
                    let key = format!("{key_prefix}c{c}-d{i}");
                    debit_until_answered(&mut clients, wallet, &key).await;
                    acknowledged.push((wallet.clone(), key));
                    acks.fetch_add(1, Ordering::SeqCst);
                    progress.notify_waiters();
                }
                acknowledged
            });
        }
        DebitStream {
            tasks,
            acks,
            progress,
        }
    }

    /// Waits until at least `count` debits were acknowledged in total.
    async fn wait_for_acks(&self, count: usize) {
        loop {
            let notified = self.progress.notified();
            if self.acks.load(Ordering::SeqCst) >= count {
                return;
            }
            notified.await;
        }
    }

    /// Debits acknowledged so far.
    fn acknowledged(&self) -> usize {
        self.acks.load(Ordering::SeqCst)
    }

    async fn finish(mut self) -> HashMap<String, Vec<String>> {
        let mut by_wallet: HashMap<String, Vec<String>> = HashMap::new();
        while let Some(acknowledged) = self.tasks.join_next().await {
            for (wallet, key) in acknowledged.expect("client task") {
                by_wallet.entry(wallet).or_default().push(key);
            }
        }
        by_wallet
    }
}

/// Every acknowledged debit appears exactly once in the projected history, nothing else was
/// debited, and the balance is what the acknowledged debits leave.
async fn assert_exactly_once(
    client: &mut WalletClient,
    acknowledged: &HashMap<String, Vec<String>>,
) {
    for (wallet, keys) in acknowledged {
        // One more debit through the front gives a sequence to wait for in the projection.
        let probe = debit_until_answered(std::slice::from_mut(client), wallet, "probe").await;
        let entries = history(client, wallet, probe.sequence).await;
        let mut debited: HashMap<String, usize> = HashMap::new();
        for entry in entries
            .iter()
            .filter(|t| t.entry_type == pb::EntryType::Debit as i32)
        {
            *debited.entry(entry.reference.clone()).or_default() += 1;
        }
        debited.remove("probe");
        for key in keys {
            assert_eq!(
                debited.get(key),
                Some(&1),
                "acknowledged debit {key} of {wallet} appears exactly once"
            );
        }
        assert_eq!(
            debited.len(),
            keys.len(),
            "no debit beyond the acknowledged ones"
        );
        let expected = 1000 * 100 - 100 * keys.len() as i64 - 100;
        let shown = balance(client, wallet, probe.sequence).await;
        assert_eq!(
            shown.balance,
            format!("{}.{:02}", expected / 100, expected % 100),
            "balance of {wallet}"
        );
    }
}

async fn clients_of(
    cluster: &Cluster,
    instances: &[&Service],
    count: usize,
) -> Vec<Vec<WalletClient>> {
    let mut endpoints = Vec::with_capacity(count);
    for c in 0..count {
        let mut clients = Vec::new();
        // Each client starts on a different instance and fails over to the others.
        for i in 0..instances.len() {
            clients.push(cluster.client(instances[(c + i) % instances.len()]).await);
        }
        endpoints.push(clients);
    }
    endpoints
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_serve_wallets_on_every_partition_and_reads_see_the_writes() {
    let cluster = on_cassandra(Cluster::start(PARTITIONS, SESSION_TIMEOUT_MS).await).await;
    let a = cluster.wallets("instance-a");
    let b = cluster.wallets("instance-b");
    let _projector = cluster.projector(cluster.data_dir());
    let mut via_a = cluster.client(&a).await;
    let mut via_b = cluster.client(&b).await;
    let wallets = wallets_on_every_partition(&mut via_a, 12).await;
    let partitions: std::collections::HashSet<u32> =
        wallets.iter().map(|w| partition_of(w)).collect();
    assert_eq!(
        partitions.len(),
        PARTITIONS as usize,
        "wallets cover every partition"
    );
    for wallet in &wallets {
        // Written through b, read back through a with min_sequence.
        let reply = via_b
            .debit(debit(wallet, "d1", "2.50"))
            .await
            .expect("debit through b")
            .into_inner();
        let shown = balance(&mut via_a, wallet, reply.sequence).await;
        assert_eq!(shown.balance, "997.50");
        assert_eq!(shown.sequence, reply.sequence);
        // The same key through the other instance replays the one outcome.
        let again = via_a
            .debit(debit(wallet, "d1", "2.50"))
            .await
            .expect("replay through a")
            .into_inner();
        assert!(again.replayed);
        assert_eq!(again.sequence, reply.sequence);
    }

    // The CLI works against a wallets instance exactly as against pursed.
    let (via_a, via_b) = (a.announced("purse endpoint"), b.announced("purse endpoint"));
    let created = cli_json(
        via_a,
        &cluster.token,
        &[
            "wallet",
            "create",
            "--owner",
            "cli-owner",
            "--asset",
            "EUR",
            "--idempotency-key",
            "cli-1",
        ],
    );
    let wallet_id = created["wallet"]["walletId"].as_str().unwrap().to_owned();
    let credited = cli_json(
        via_b,
        &cluster.token,
        &["credit", &wallet_id, "12.00", "--source", "paid"],
    );
    // int64 fields are strings in the proto3 JSON mapping.
    let sequence = credited["sequence"].as_str().unwrap().to_owned();
    let shown = cli_json(
        via_a,
        &cluster.token,
        &["balance", &wallet_id, "--min-sequence", &sequence],
    );
    assert_eq!(shown["balance"], "12.00");
    // As of an instant, from the history in Cassandra: now, and the moment it was opened.
    let opened_ms = created["wallet"]["createdAtMs"]
        .as_str()
        .unwrap()
        .to_owned();
    let now_ms = now_ms().to_string();
    let as_of = |instant: &str| {
        let shown = cli_json(
            via_a,
            &cluster.token,
            &[
                "balance",
                &wallet_id,
                "--min-sequence",
                &sequence,
                "--as-of-ms",
                instant,
            ],
        );
        (
            shown["balance"].clone(),
            shown["held"].clone(),
            shown["sequence"].clone(),
        )
    };
    assert_eq!(
        as_of(&now_ms),
        ("12.00".into(), "0.00".into(), sequence.clone().into())
    );
    assert_eq!(
        as_of(&opened_ms),
        ("0.00".into(), "0.00".into(), "0".into())
    );
}

/// The partition a wallet's stream lands on (the services' partitioner).
fn partition_of(wallet_id: &str) -> u32 {
    purse_log::partition_for(wallet_id.as_bytes(), PARTITIONS)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_of_an_instance_hands_its_partitions_over_and_loses_nothing_acknowledged() {
    let cluster = on_cassandra(Cluster::start(PARTITIONS, SESSION_TIMEOUT_MS).await).await;
    let mut a = cluster.wallets("instance-a");
    let b = cluster.wallets("instance-b");
    let _projector = cluster.projector(cluster.data_dir());
    let mut setup = cluster.client(&b).await;
    let wallets = wallets_on_every_partition(&mut setup, 8).await;

    let endpoints = clients_of(&cluster, &[&a, &b], 8).await;
    let stream = DebitStream::start(&endpoints, &wallets, 30);
    stream.wait_for_acks(60).await;
    a.kill9();
    let acknowledged = stream.finish().await;
    assert_eq!(acknowledged.values().map(Vec::len).sum::<usize>(), 8 * 30);
    assert_exactly_once(&mut setup, &acknowledged).await;
}

/// How long after it is placed the hold on the stale writer's quiet wallet expires: a is paused
/// well before that and resumed after it.
const STALE_HOLD_EXPIRES_AFTER_MS: i64 = 5_000;
/// Debits sent at once to the partition that a keeps busy: far more than it answers before it is
/// paused, one command at a time.
const JAM_DEBITS: usize = 80;
/// Debits of each of the 8 clients of the stale writer test's load (through both instances).
const LOAD_DEBITS_PER_CLIENT: usize = 15;

/// `purse_commands_total{outcome="ok"}` of a wallets instance: commands its shard workers answered.
async fn commands_answered(instance: &Service) -> u64 {
    instance
        .counter("purse_commands_total", "outcome=\"ok\"")
        .await
}

/// Waits (bounded) until a counter is above zero and returns it.
async fn counter_above_zero(service: &Service, name: &str, labels: &str) -> u64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let value = service.counter(name, labels).await;
        if value > 0 || tokio::time::Instant::now() >= deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The wallets whose partitions `instance` owns, once the group has settled with half of the
/// partitions each. A replayed command is answered by its owner's worker (and nothing else runs
/// yet), so the owner is the instance whose answered-commands counter moves.
async fn wallets_owned_by(
    instance: &Service,
    via: &mut WalletClient,
    wallets: &[String],
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut owned = Vec::new();
        for wallet in wallets {
            let before = commands_answered(instance).await;
            let funding = credit(wallet, "fund", "1000.00", pb::CreditSource::Paid);
            let replay = until_answered(|| {
                let (mut via, funding) = (via.clone(), funding.clone());
                async move { via.credit(funding).await }
            })
            .await
            .expect("funding replayed");
            assert!(replay.replayed);
            if commands_answered(instance).await > before {
                owned.push(wallet.clone());
            }
        }
        let partitions: HashSet<u32> = owned.iter().map(|w| partition_of(w)).collect();
        if partitions.len() == PARTITIONS as usize / 2 {
            return owned;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the group settles with half of the partitions on each instance ({partitions:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A stale writer, made deterministic. Instance a is slow (one command per append, one queued
/// command per worker) and owns two partitions: on `quiet` nothing runs but one timer (the expiry
/// of a hold on `target`); `jammed` gets a burst of debits, so a's host is blocked handing them to
/// that worker one by one. a is paused before the hold expires; b takes both partitions over,
/// expires the hold itself and debits `target`. When a resumes, the expiry is due and its host is
/// still busy with the burst (it cannot even see the revocation yet), so a's worker on `quiet`
/// decides the expiry on the state it had when paused, for a sequence b has taken: a record that
/// must lose. Meanwhile a debit stream on the other wallets goes through both instances, and the
/// burst's commands (decided by a or not when it stopped) are answered by b.
/// With transactions off (a broker without them), a's late record lands and loses by the
/// stream-sequence rule: the projector skips it and a reloads.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_stale_writer_acknowledges_nothing_that_lost() {
    let broker = KafkaCluster::single().await.expect("Kafka starts");
    stale_writer(on_cassandra(Cluster::on(broker, false, PARTITIONS, SESSION_TIMEOUT_MS)).await)
        .await;
}

/// With transactions on (production), the same: each instance writes under its own
/// `transactional.id` prefix (backend.rs), so b's producer does not fence a's and a's late
/// record commits in a transaction of its own, visible to `read_committed` readers, and loses by
/// the sequence rule all the same (DESIGN §4: correctness rests on the sequence).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_stale_writer_acknowledges_nothing_that_lost_with_transactions() {
    stale_writer(on_cassandra(Cluster::start(PARTITIONS, SESSION_TIMEOUT_MS).await).await).await;
}

async fn stale_writer(cluster: Cluster) {
    let a = cluster.wallets_with(
        "instance-a",
        &[
            ("PURSE_BATCH_MAX_COMMANDS", "1"),
            ("PURSE_COMMAND_QUEUE_CAPACITY", "1"),
        ],
    );
    let b = cluster.wallets("instance-b");
    let projector = cluster.projector(cluster.data_dir());
    let mut setup = cluster.client(&b).await;
    let wallets = wallets_on_every_partition(&mut setup, 8).await;
    let owned_by_a = wallets_owned_by(&a, &mut setup, &wallets).await;
    let target = owned_by_a[0].clone();
    let quiet = partition_of(&target);
    let jammed: Vec<String> = owned_by_a
        .iter()
        .filter(|w| partition_of(w) != quiet)
        .cloned()
        .collect();
    let busy: Vec<String> = wallets
        .iter()
        .filter(|w| partition_of(w) != quiet)
        .cloned()
        .collect();

    // The one pending timer of a on `quiet`.
    let before = commands_answered(&a).await;
    let expires_at_ms = now_ms() + STALE_HOLD_EXPIRES_AFTER_MS;
    setup
        .place_hold(pb::PlaceHoldRequest {
            wallet_id: target.clone(),
            idempotency_key: "stale-hold".into(),
            amount: "5.00".into(),
            expires_at_ms,
            reference: "stale-hold".into(),
            ..Default::default()
        })
        .await
        .expect("hold placed");
    assert!(
        commands_answered(&a).await > before,
        "a owns partition {quiet}"
    );

    // Load on both instances (never on `quiet`), and the burst on `jammed` (through b's front).
    let endpoints = clients_of(&cluster, &[&a, &b], 8).await;
    let stream = DebitStream::start_with_keys("s-", &endpoints, &busy, LOAD_DEBITS_PER_CLIENT);
    let via_b: Vec<Vec<WalletClient>> = (0..JAM_DEBITS).map(|_| vec![setup.clone()]).collect();
    let jam = DebitStream::start_with_keys("jam-", &via_b, &jammed, 1);
    // A few of the burst answered: the rest is fetched and in a's hands. (Bounded: a must be
    // paused well before the hold expires.)
    let _ = tokio::time::timeout(Duration::from_secs(3), jam.wait_for_acks(3)).await;
    let paused_ms = now_ms();
    assert!(
        paused_ms + 1_000 < expires_at_ms,
        "a is paused before its hold expires ({} ms to spare)",
        expires_at_ms - paused_ms
    );
    a.signal("STOP");
    let (load_at_pause, jam_at_pause) = (stream.acknowledged(), jam.acknowledged());

    // b takes a's partitions once a's session expires, and serves the same wallets: it expires
    // the hold (its own timer) and debits `target` through its own front.
    let mut b_only = vec![setup.clone()];
    let mut paused_keys = Vec::new();
    for i in 0..3 {
        let key = format!("while-a-paused-{i}");
        debit_until_answered(&mut b_only, &target, &key).await;
        paused_keys.push(key);
    }
    stream
        .wait_for_acks((load_at_pause + 30).min(8 * LOAD_DEBITS_PER_CLIENT))
        .await;
    let due_in = expires_at_ms + 500 - now_ms();
    if due_in > 0 {
        tokio::time::sleep(Duration::from_millis(due_in as u64)).await;
    }
    let resumed_ms = now_ms();
    a.signal("CONT");

    let mut acknowledged = stream.finish().await;
    for (wallet, keys) in jam.finish().await {
        acknowledged.entry(wallet).or_default().extend(keys);
    }
    acknowledged.insert(target.clone(), paused_keys);
    // a's expiry of the hold lost, one of two ways: its record landed and every reader skips it
    // (the projector counts it), or the log refused it (with transactions: a's transaction
    // aborted because the broker had moved on, and nothing of it is visible). Either way a
    // dropped its state.
    let (conflicts, append_failures) = losing_write_of(&projector, &a).await;
    let reloads = counter_above_zero(&a, "purse_shard_reloads_total", "").await;
    eprintln!(
        "stale writer: paused {} ms with {jam_at_pause} of {JAM_DEBITS} burst debits answered; \
         projector conflicts {conflicts}, a's refused appends {append_failures}, instance a \
         reloads {reloads}, a's shard conflicts {}",
        resumed_ms - paused_ms,
        a.counter("purse_stream_conflicts_total", "reader=\"shard\"")
            .await
    );
    assert!(
        conflicts + append_failures > 0,
        "a's late expiry neither lost to the projector nor was refused by the log"
    );
    assert!(reloads > 0, "a dropped its state after losing");
    assert_exactly_once(&mut setup, &acknowledged).await;
    // The read model released the hold once (b's expiry won; a's copy counts nowhere).
    let released = history(&mut setup, &target, 0)
        .await
        .iter()
        .filter(|t| t.entry_type == pb::EntryType::HoldReleased as i32)
        .count();
    assert_eq!(released, 1, "the hold on {target} released once");
    a_jvm_consumer_reads_what_the_catalogue_promises(&cluster, wallets.len(), &projector).await;
}

/// The projector's conflicts and a's refused appends, once either is above zero (or 30 s on).
async fn losing_write_of(projector: &Service, a: &Service) -> (u64, u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let conflicts = projector
            .counter("purse_stream_conflicts_total", "reader=\"projector\"")
            .await;
        let append_failures = a.counter("purse_shard_append_failures_total", "").await;
        if conflicts + append_failures > 0 || tokio::time::Instant::now() >= deadline {
            return (conflicts, append_failures);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A Kafka consumer outside Purse (`tests/jvm`, Java on `kafka-clients`) reads the whole run's
/// `purse.wallet.events`: every record decodes and keeps the catalogue's promises, each wallet's
/// sequence is gapless from 1, and it recognises as losers, by the first-writer-wins rule, exactly
/// the records the projector skipped (none when the log refused a's late write).
async fn a_jvm_consumer_reads_what_the_catalogue_promises(
    cluster: &Cluster,
    wallets: usize,
    projector: &Service,
) {
    let report = check_wallet_events(&cluster.broker.bootstrap(), wallets);
    eprintln!("JVM consumer: {}", report.summary);
    assert!(
        report.passed,
        "the JVM consumer found violations:\n{}",
        report.output
    );
    assert_eq!(report.count("streams"), wallets as u64, "{}", report.output);
    assert_eq!(report.count("gaps"), 0, "{}", report.output);
    let projector_conflicts = projector
        .counter("purse_stream_conflicts_total", "reader=\"projector\"")
        .await;
    assert_eq!(
        report.count("losers"),
        projector_conflicts,
        "the JVM consumer and the projector disagree on losers: {}",
        report.output
    );
    assert_eq!(report.events_of("WalletOpened"), wallets as u64);
    assert_eq!(report.events_of("HoldPlaced"), 1);
    assert_eq!(report.events_of("HoldReleased"), 1, "b's expiry, not a's");
    assert!(report.events_of("FundsDebited") > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_restart_mid_run_loses_nothing_acknowledged() {
    let cluster = on_cassandra(Cluster::start(PARTITIONS, SESSION_TIMEOUT_MS).await).await;
    debits_through_a_broker_fault(cluster, async |broker: &mut KafkaCluster| {
        broker.restart(0).await.expect("broker restarts");
    })
    .await;
}

/// Three brokers, every topic replicated three times with `min.insync.replicas` 2: one broker
/// killed -9 mid-stream (and left down) costs no acknowledged debit and applies none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_of_three_killed_mid_run_loses_nothing_acknowledged() {
    let broker = KafkaCluster::three_brokers()
        .await
        .expect("three Kafka brokers start");
    let cluster = on_cassandra(Cluster::on(broker, true, PARTITIONS, SESSION_TIMEOUT_MS)).await;
    let (before_fault, total) =
        debits_through_a_broker_fault(cluster, async |broker: &mut KafkaCluster| broker.kill(1))
            .await;
    eprintln!("broker 2 of 3 killed after {before_fault} acknowledged debits; {total} in all");
    assert!(total > before_fault, "debits went on with two brokers");
}

/// Two wallets instances and a projector under debits from 8 clients; once 60 are acknowledged,
/// `fault` hits the brokers. Every acknowledged debit must be there exactly once afterwards.
/// Returns how many were acknowledged before the fault, and in all.
async fn debits_through_a_broker_fault(
    mut cluster: Cluster,
    fault: impl AsyncFnOnce(&mut KafkaCluster),
) -> (usize, usize) {
    let a = cluster.wallets("instance-a");
    let b = cluster.wallets("instance-b");
    let _projector = cluster.projector(cluster.data_dir());
    let mut setup = cluster.client(&a).await;
    let wallets = wallets_on_every_partition(&mut setup, 8).await;

    let endpoints = clients_of(&cluster, &[&a, &b], 8).await;
    let stream = DebitStream::start(&endpoints, &wallets, 30);
    stream.wait_for_acks(60).await;
    let before_fault = stream.acknowledged();
    fault(&mut cluster.broker).await;
    let acknowledged = stream.finish().await;
    assert_exactly_once(&mut setup, &acknowledged).await;
    (before_fault, acknowledged.values().map(Vec::len).sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_projector_started_from_scratch_rebuilds_identical_read_models() {
    let cluster = on_cassandra(Cluster::start(PARTITIONS, SESSION_TIMEOUT_MS).await).await;
    let a = cluster.wallets("instance-a");
    let mut projector = cluster.projector(cluster.data_dir());
    let mut client = cluster.client(&a).await;
    let wallets = wallets_on_every_partition(&mut client, 8).await;
    let mut last_sequence = BTreeMap::new();
    for (i, wallet) in wallets.iter().enumerate() {
        for d in 0..=i {
            let reply = client
                .debit(debit(wallet, &format!("d{d}"), "1.25"))
                .await
                .unwrap()
                .into_inner();
            last_sequence.insert(wallet.clone(), reply.sequence);
        }
        // A hold, voided on every other wallet, so holds and their resolution are rebuilt too.
        let hold = client
            .place_hold(pb::PlaceHoldRequest {
                wallet_id: wallet.clone(),
                idempotency_key: "hold".into(),
                amount: "3.00".into(),
                expires_at_ms: now_ms() + 86_400_000,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let mut sequence = hold.sequence;
        if i % 2 == 0 {
            let void = client
                .void_hold(pb::VoidHoldRequest {
                    wallet_id: wallet.clone(),
                    idempotency_key: "void".into(),
                    hold_id: hold.entry_id,
                })
                .await
                .unwrap()
                .into_inner();
            sequence = void.sequence;
        }
        last_sequence.insert(wallet.clone(), sequence);
    }
    for (wallet, sequence) in &last_sequence {
        balance(&mut client, wallet, *sequence).await;
    }
    projector.terminate();

    let fresh = tempfile::tempdir().unwrap();
    let ReadModels::Cql { contact_point, .. } = cluster.read_models().clone() else {
        panic!("the cluster tests keep their read models in Cassandra");
    };
    let fresh_models = cluster.new_cql_keyspace(&contact_point);
    let _rebuilt = cluster.projector_on(fresh.path(), &fresh_models);
    let original = open_store(cluster.read_models()).await;
    let rebuilt = open_store(&fresh_models).await;
    wait_until_caught_up(rebuilt.as_ref(), &last_sequence).await;
    for wallet in last_sequence.keys() {
        let original = read_models_of(original.as_ref(), wallet).await;
        assert!(
            !original.history.is_empty() && !original.holds.is_empty(),
            "{wallet} has history and holds"
        );
        assert_eq!(
            original,
            read_models_of(rebuilt.as_ref(), wallet).await,
            "read models of {wallet} rebuilt identically"
        );
    }
}

/// A store over `read_models`, read as the services read it.
async fn open_store(read_models: &ReadModels) -> Arc<dyn ReadStore> {
    let ReadModels::Cql {
        contact_point,
        keyspace,
    } = read_models
    else {
        panic!("a CQL keyspace");
    };
    let mut settings = ScyllaSettings::new(
        vec![contact_point.clone()],
        BTreeMap::from([("datacenter1".to_owned(), 1)]),
    );
    settings.keyspace = keyspace.clone();
    Arc::new(
        ScyllaStore::connect(&settings)
            .await
            .expect("store connects"),
    )
}

/// Everything the read models hold about one wallet.
#[derive(Debug, PartialEq)]
struct WalletReadModels {
    wallet: Option<purse_store::WalletRow>,
    balance: Option<purse_store::BalanceRow>,
    history: Vec<purse_store::HistoryRow>,
    lots: Vec<purse_store::LotRow>,
    holds: Vec<purse_store::HoldRow>,
    position: Option<purse_store::StreamPosition>,
}

async fn read_models_of(store: &dyn ReadStore, wallet: &str) -> WalletReadModels {
    let id: uuid::Uuid = wallet.parse().expect("wallet id");
    let mut history = Vec::new();
    let mut page_token = None;
    loop {
        let page = store
            .list_history(
                id,
                purse_store::HistoryFilter::default(),
                purse_store::PageRequest {
                    page_size: 100,
                    page_token,
                },
            )
            .await
            .expect("history");
        history.extend(page.items);
        match page.next_page_token {
            Some(token) => page_token = Some(token),
            None => break,
        }
    }
    WalletReadModels {
        wallet: store.get_wallet(id).await.expect("wallet"),
        balance: store.get_balance(id).await.expect("balance"),
        history,
        lots: store.list_lots(id).await.expect("lots"),
        holds: store.list_holds(id).await.expect("holds"),
        position: store
            .stream_positions(&[wallet.to_owned()])
            .await
            .expect("position")
            .remove(wallet),
    }
}

/// Waits (polling the rebuilt store, bounded) until every wallet's stream position is reached.
async fn wait_until_caught_up(store: &dyn ReadStore, last_sequence: &BTreeMap<String, u64>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let wallets: Vec<String> = last_sequence.keys().cloned().collect();
    loop {
        let positions = store.stream_positions(&wallets).await.expect("positions");
        if last_sequence.iter().all(|(wallet, sequence)| {
            positions
                .get(wallet)
                .is_some_and(|p| p.sequence >= *sequence)
        }) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rebuild did not finish"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The saga coordinator's reply timeout in the top-up test: short, so that a credit sent to a
/// paused wallets instance is soon counted as retried (proof that it was sent).
const SAGA_REPLY_TIMEOUT_MS: &str = "1000";
/// Payment deadline of the top-ups in the cluster top-up test.
const TOP_UP_TIMEOUT_MS: &str = "20000";

/// Polls the projected balance until it shows `expected` (bounded).
async fn balance_reaches(client: &mut WalletClient, wallet: &str, expected: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let shown = balance(client, wallet, 0).await.balance;
        if shown == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "balance of {wallet} stays {shown}, never {expected}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn top_ups_over_separate_binaries_survive_a_kill9_of_the_saga_between_capture_and_credit() {
    let cluster = on_cassandra(Cluster::start(PARTITIONS, SESSION_TIMEOUT_MS).await).await;
    let wallets = cluster.wallets("w1");
    let payments = cluster.payments("p1", &[]);
    let timeout = [("PURSE_TOPUPS_TIMEOUT_MS", TOP_UP_TIMEOUT_MS)];
    let top_ups = cluster.top_ups("t1", &payments, &timeout);
    let saga_environment = [("PURSE_REPLY_TIMEOUT_MS", SAGA_REPLY_TIMEOUT_MS)];
    let mut saga = cluster.saga("s1", &saga_environment);
    let _projector = cluster.projector(cluster.data_dir());

    let mut client = cluster.client(&wallets).await;
    let mut top_up_client = cluster.top_up_client(&top_ups).await;
    let wallet = create_wallet(&mut client, "carol", "USD").await;
    client
        .credit(credit(&wallet, "seed", "1.00", pb::CreditSource::Paid))
        .await
        .expect("seed credit");
    let paid = create_top_up(
        &mut top_up_client,
        &wallet,
        "t1",
        "20.00",
        Some("22.00"),
        "",
    )
    .await;
    let unpaid = create_top_up(&mut top_up_client, &wallet, "t2", "9.00", None, "").await;
    assert!(
        paid.url
            .starts_with(payments.announced("checkout endpoint")),
        "{}",
        paid.url
    );

    // The wallets instance is paused, so the credit the saga sends after the capture waits in
    // the log; once the saga counts it as retried, it was sent.
    wallets.signal("STOP");
    let browser = Browser::start().await;
    let (status, _) = pay_on_page(&browser, &paid.url, SUCCESS_CARD, false).await;
    browser.close().await;
    assert_eq!(status, "succeeded");
    let retried = counter_above_zero(
        &saga,
        "purse_saga_dispatches_total",
        "target=\"wallet\",outcome=\"retried\"",
    )
    .await;
    assert!(
        retried > 0,
        "the saga sent the credit to the paused wallets"
    );
    let pending = top_up_client
        .get_top_up(tpb::GetTopUpRequest {
            top_up_id: unpaid.top_up_id.clone(),
            min_sequence: 0,
        })
        .await
        .expect("unpaid top-up")
        .into_inner();
    assert_eq!(pending.status, tpb::TopUpStatus::Created as i32);

    // Crash between capture and credit; the wallets take the credit while no saga runs.
    saga.kill9();
    wallets.signal("CONT");
    balance_reaches(&mut client, &wallet, "21.00").await;

    let _saga = cluster.saga("s1", &saga_environment);
    let done = settled(&mut top_up_client, &paid.top_up_id).await;
    assert_eq!(done.status, tpb::TopUpStatus::Completed as i32);
    assert_eq!(done.credited, "22.00");
    let expired = settled(&mut top_up_client, &unpaid.top_up_id).await;
    assert_eq!(expired.status, tpb::TopUpStatus::Expired as i32);

    balance_reaches(&mut client, &wallet, "23.00").await;
    let credits: Vec<_> = history(&mut client, &wallet, 0)
        .await
        .into_iter()
        .filter(|entry| entry.reference == paid.top_up_id)
        .map(|entry| (entry.detail, entry.amount))
        .collect();
    assert_eq!(credits.len(), 2, "paid and granted, each once: {credits:?}");
    assert!(credits.contains(&("paid".to_owned(), "20.00".to_owned())));
    assert!(credits.contains(&("granted".to_owned(), "2.00".to_owned())));
}
