//! The Kafka event log, for real, on Apache Kafka 4.4 (KRaft) started by the test: the
//! `EventLog` contract suite with transactions on (as in production) and off (the same broker
//! standing in for brokers without transactions), what only a real broker shows about
//! transactions (a fenced zombie cannot commit, `read_committed` hides aborted records), a broker
//! restart; and injected faults against librdkafka's in-process mock cluster.
//!
//! Run by `scripts/test` with `cargo test` (libtest: every case in one process), so that one
//! broker serves all cases that do not restart it; under nextest each case would start its own.

use std::ops::Deref;

use purse_log::{AmbiguousReason, LogError};
use purse_log_kafka::{KafkaLog, KafkaLogError, KafkaSettings};
use purse_test_engines::KafkaCluster;

/// The broker shared by the cases of this binary (those that restart one start their own).
async fn shared_broker() -> &'static KafkaCluster {
    purse_test_engines::shared_kafka().await
}

/// Settings for tests on `broker`: faster heartbeats so that members notice rebalances quickly.
fn test_settings(broker: &KafkaCluster, transactions: bool) -> KafkaSettings {
    KafkaSettings {
        replication_factor: broker.replication_factor(),
        transactions,
        // Each log its own writer identity: cases share the broker and must not fence each other.
        transactional_id_prefix: purse_log::contract::unique_name("txn"),
        heartbeat_interval_ms: 300,
        session_timeout_ms: 6_000,
        ..KafkaSettings::new(broker.bootstrap())
    }
}

/// Logs to the test's output when `RUST_LOG` is set (e.g. `RUST_LOG=librdkafka=debug`).
fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        // Fails only when another test in this process set it up first.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// A log on the shared broker.
struct SharedLog(KafkaLog);

impl Deref for SharedLog {
    type Target = KafkaLog;

    fn deref(&self) -> &KafkaLog {
        &self.0
    }
}

async fn shared_log(transactions: bool) -> SharedLog {
    init_logs();
    let broker = shared_broker().await;
    SharedLog(KafkaLog::new(test_settings(broker, transactions)).expect("Kafka log"))
}

async fn transactional_log() -> SharedLog {
    shared_log(true).await
}

async fn plain_log() -> SharedLog {
    shared_log(false).await
}

/// The client error inside a `LogError` (either kind), as our own error type.
pub(crate) fn kafka_error(error: &LogError) -> &KafkaLogError {
    let source = match error {
        LogError::Client(source) => source.as_ref(),
        LogError::Ambiguous {
            reason: AmbiguousReason::Client(source),
        } => source.as_ref(),
        other => panic!("expected a client error, got {other:?}"),
    };
    source
        .downcast_ref::<KafkaLogError>()
        .unwrap_or_else(|| panic!("expected a KafkaLogError, got {source:?}"))
}

/// The production configuration: transactional appends, `read_committed` reads.
mod contract_transactional {
    purse_log::event_log_contract_tests!(super::transactional_log);
}

/// A broker without transactions, as far as Purse can tell: idempotent appends only.
mod contract_without_transactions {
    purse_log::event_log_contract_tests!(super::plain_log);
}

mod transactions {
    //! What only a real broker with transactions shows (the mock cluster enforces neither).

    use std::time::Duration;

    use purse_log::{EventLog, Record};
    use purse_log_kafka::{KafkaLog, KafkaLogError};
    use rdkafka::ClientConfig;
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

    use super::kafka_error;

    const CALL_TIMEOUT: Duration = Duration::from_secs(30);

    fn records(tag: &str, count: usize) -> Vec<Record> {
        (0..count)
            .map(|i| Record {
                partition: 0,
                key: format!("{tag}-{i}").into_bytes(),
                payload: format!("{tag}-payload-{i}").into_bytes(),
            })
            .collect()
    }

    /// Keys of partition 0 read from offset 0 until `count` records arrived, with offsets.
    async fn keys(log: &KafkaLog, topic: &str, count: usize) -> Vec<(u64, String)> {
        let mut read = Vec::new();
        while read.len() < count {
            let from = read.last().map_or(0, |(offset, _): &(u64, _)| offset + 1);
            let batch = log.read(topic, 0, from, 100, 30_000).await.expect("read");
            assert!(!batch.is_empty(), "records missing after offset {from}");
            read.extend(
                batch
                    .into_iter()
                    .map(|r| (r.offset, String::from_utf8(r.key).expect("utf-8 key"))),
            );
        }
        read
    }

    /// A writer that was paused while another took its partition over is a zombie: the
    /// successor's `init_transactions` bumped the epoch of their shared `transactional.id`, so the
    /// zombie's next append fails as fenced, and none of its records is ever visible to a
    /// `read_committed` reader. (DESIGN §4: the read-back rule would catch it anyway; here the
    /// broker refuses it first.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fenced_zombie_cannot_commit() {
        let broker = super::shared_broker().await;
        let settings = super::test_settings(broker, true);
        let zombie = KafkaLog::new(settings.clone()).expect("zombie log");
        let successor = KafkaLog::new(settings).expect("successor log");
        let topic = purse_log::contract::unique_name("fenced");
        zombie.create_topic(&topic, 1).await.expect("create");
        assert_eq!(
            zombie.transactional_id(&topic, 0),
            successor.transactional_id(&topic, 0),
            "both write partition 0 as the same transactional writer"
        );

        zombie
            .append(&topic, records("zombie-before", 2))
            .await
            .expect("zombie's first append");
        successor
            .append(&topic, records("successor", 2))
            .await
            .expect("successor's append");
        let error = zombie
            .append(&topic, records("zombie-after", 2))
            .await
            .expect_err("the fenced zombie's append must fail");
        assert!(
            matches!(kafka_error(&error), KafkaLogError::ProducerFenced { .. }),
            "{error:?}"
        );

        // A marker committed after the fence, so that reading up to it covers everything the
        // zombie could have written.
        successor
            .append(&topic, records("marker", 1))
            .await
            .expect("marker");
        let reader = KafkaLog::new(super::test_settings(broker, true)).expect("reader");
        let read = keys(&reader, &topic, 5).await;
        let read_keys: Vec<&str> = read.iter().map(|(_, key)| key.as_str()).collect();
        assert_eq!(
            read_keys,
            [
                "zombie-before-0",
                "zombie-before-1",
                "successor-0",
                "successor-1",
                "marker-0"
            ],
            "nothing of the fenced append is visible"
        );
    }

    /// Records of an aborted transaction occupy offsets but a `read_committed` reader (every
    /// KafkaLog reader and group member) never receives them; the records committed after them
    /// arrive.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn read_committed_never_sees_aborted_records() {
        let broker = super::shared_broker().await;
        let log = KafkaLog::new(super::test_settings(broker, true)).expect("log");
        let topic = purse_log::contract::unique_name("aborted");
        log.create_topic(&topic, 1).await.expect("create");

        let bootstrap = broker.bootstrap();
        let topic_for_producer = topic.clone();
        tokio::task::spawn_blocking(move || {
            let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("transactional.id", purse_log::contract::unique_name("raw"))
                .create()
                .expect("transactional producer");
            producer.init_transactions(CALL_TIMEOUT).expect("init");
            for (tag, commit) in [
                ("aborted", false),
                ("committed", true),
                ("aborted-again", false),
            ] {
                producer.begin_transaction().expect("begin");
                for i in 0..3 {
                    let key = format!("{tag}-{i}");
                    producer
                        .send(
                            BaseRecord::<String, String>::to(&topic_for_producer)
                                .partition(0)
                                .key(&key)
                                .payload(&key),
                        )
                        .map_err(|(e, _)| e)
                        .expect("send");
                }
                producer.flush(CALL_TIMEOUT).expect("flush");
                if commit {
                    producer.commit_transaction(CALL_TIMEOUT).expect("commit");
                } else {
                    producer.abort_transaction(CALL_TIMEOUT).expect("abort");
                }
            }
        })
        .await
        .expect("producer thread");
        // After the last abort, our own append: reading up to it covers all three transactions.
        log.append(&topic, records("ours", 1))
            .await
            .expect("append");

        let read = keys(&log, &topic, 4).await;
        let read_keys: Vec<&str> = read.iter().map(|(_, key)| key.as_str()).collect();
        assert_eq!(
            read_keys,
            ["committed-0", "committed-1", "committed-2", "ours-0"]
        );
        // Three aborted records and the abort marker come first.
        assert!(read[0].0 >= 4, "the aborted records took offsets: {read:?}");
        // Read from the middle of the aborted range, too: nothing aborted comes back.
        let from_middle = log.read(&topic, 0, 1, 100, 30_000).await.expect("read");
        assert_eq!(
            from_middle.first().map(|r| r.key.clone()),
            Some(b"committed-0".to_vec())
        );
    }
}

mod restart {
    use purse_log::{EventLog, Record};
    use purse_log_kafka::KafkaLog;
    use purse_test_engines::KafkaCluster;

    fn records(tag: &str, count: usize) -> Vec<Record> {
        (0..count)
            .map(|i| Record {
                partition: (i % 2) as u32,
                key: format!("{tag}-key-{i}").into_bytes(),
                payload: format!("{tag}-payload-{i}").into_bytes(),
            })
            .collect()
    }

    /// Everything acknowledged before a broker restart is there after it, and the same log keeps
    /// working across the restart (its clients reconnect).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn acknowledged_records_survive_a_broker_restart() {
        super::init_logs();
        // Its own broker: restarting the shared one would disturb the other cases.
        let mut broker = KafkaCluster::single().await.expect("Kafka starts");
        let log = KafkaLog::new(super::test_settings(&broker, true)).expect("Kafka log");
        let topic = "restart.events";
        log.create_topic(topic, 2).await.expect("create");
        let before = records("before", 20);
        let acked_before = log.append(topic, before.clone()).await.expect("append");

        broker.restart(0).await.expect("restart");

        let after = records("after", 20);
        let acked_after = log.append(topic, after.clone()).await.expect("append");

        // A log created after the restart sees the same partitions and records.
        let fresh = KafkaLog::new(super::test_settings(&broker, true)).expect("fresh log");
        assert_eq!(fresh.partition_count(topic).await.expect("count"), 2);
        for partition in 0..2u32 {
            let expected: Vec<(u64, Vec<u8>, Vec<u8>)> = before
                .iter()
                .zip(&acked_before)
                .chain(after.iter().zip(&acked_after))
                .filter(|(record, _)| record.partition == partition)
                .map(|(record, at)| (at.offset, record.key.clone(), record.payload.clone()))
                .collect();
            for log in [&log, &fresh] {
                let mut read = Vec::new();
                while read.len() < expected.len() {
                    let from = read
                        .last()
                        .map_or(0, |(offset, _, _): &(u64, _, _)| offset + 1);
                    let batch = log
                        .read(topic, partition, from, 100, 30_000)
                        .await
                        .expect("read");
                    assert!(!batch.is_empty(), "partition {partition}: records missing");
                    read.extend(batch.into_iter().map(|r| (r.offset, r.key, r.payload)));
                }
                assert_eq!(read, expected, "partition {partition}");
            }
            // Past the last record; with transactions, its commit marker takes an offset too.
            let end = fresh.end_offset(topic, partition).await.expect("end");
            let last = expected.last().expect("records").0;
            assert!(end > last, "partition {partition}: end {end} after {last}");
        }
    }
}

mod group {
    //! Kafka-specific group behaviour beyond the contract: a partition that goes to another
    //! member and comes back, again and again.

    use std::collections::{BTreeMap, BTreeSet};
    use std::time::{Duration, Instant};

    use purse_log::{EventLog, GroupConsumer, GroupEvent, Record};

    const PARTITIONS: u32 = 2;
    const DEADLINE: Duration = Duration::from_secs(60);

    /// What a member was told, checked as it goes: records only of owned partitions, and within
    /// one assignment strictly increasing offsets (nothing delivered twice).
    struct Member {
        name: &'static str,
        consumer: Box<dyn GroupConsumer>,
        owned: BTreeSet<u32>,
        /// Offsets received per partition since it was last assigned.
        since_assigned: BTreeMap<u32, Vec<u64>>,
    }

    impl Member {
        async fn join(
            log: &super::SharedLog,
            group: &str,
            topic: &str,
            name: &'static str,
        ) -> Self {
            let consumer = log
                .subscribe(group, name, &[topic.to_owned()])
                .await
                .expect("subscribe");
            Self {
                name,
                consumer,
                owned: BTreeSet::new(),
                since_assigned: BTreeMap::new(),
            }
        }

        async fn poll(&mut self) {
            let name = self.name;
            match self.consumer.poll(100, 100).await.expect("poll") {
                None => {}
                Some(GroupEvent::Assigned(partitions)) => {
                    for p in partitions {
                        assert!(self.owned.insert(p.partition), "{name}: assigned twice");
                        self.since_assigned.insert(p.partition, Vec::new());
                    }
                }
                Some(GroupEvent::Revoked(partitions)) => {
                    for p in partitions {
                        assert!(self.owned.remove(&p.partition), "{name}: revoked unowned");
                        self.since_assigned.remove(&p.partition);
                    }
                }
                Some(GroupEvent::Records { partition, records }) => {
                    let p = partition.partition;
                    assert!(self.owned.contains(&p), "{name}: records of unowned {p}");
                    let seen = self.since_assigned.entry(p).or_default();
                    for record in records {
                        if let Some(last) = seen.last() {
                            assert!(
                                record.offset > *last,
                                "{name}: partition {p} offset {} after {last} in one assignment",
                                record.offset
                            );
                        }
                        seen.push(record.offset);
                    }
                }
            }
        }
    }

    async fn until(members: &mut [&mut Member], what: &str, done: impl Fn(&[&mut Member]) -> bool) {
        let started = Instant::now();
        while !done(members) {
            assert!(started.elapsed() < DEADLINE, "{what}: not reached");
            for member in members.iter_mut() {
                member.poll().await;
            }
            let (a, b) = (&members[0].owned, members.get(1).map(|m| &m.owned));
            if let Some(b) = b {
                assert!(a.is_disjoint(b), "{what}: a partition owned twice");
            }
        }
    }

    async fn append_round(log: &super::SharedLog, topic: &str, tag: &str) -> BTreeMap<u32, u64> {
        let records = (0..PARTITIONS)
            .flat_map(|p| (0..2).map(move |i| (p, i)))
            .map(|(p, i)| Record {
                partition: p,
                key: format!("{tag}-{p}-{i}").into_bytes(),
                payload: Vec::new(),
            })
            .collect();
        log.append(topic, records).await.expect("append");
        let mut ends = BTreeMap::new();
        for p in 0..PARTITIONS {
            ends.insert(p, log.end_offset(topic, p).await.expect("end"));
        }
        ends
    }

    fn read_to(member: &Member, partition: u32, end: u64) -> bool {
        member
            .since_assigned
            .get(&partition)
            .and_then(|seen| seen.last())
            .is_some_and(|last| last + 1 >= end)
    }

    /// A partition moves to a second member and back to the first, four times, the second
    /// member committing an offset behind what the first had read (then leaving) or not
    /// committing (then being dropped) in turn. Each time the first member gets it back, it reads
    /// it from the committed offset (or the start), every record once, in order, including the
    /// records appended while it was away. Guards the explicit start offsets given to librdkafka
    /// on assignment: left to itself, librdkafka may resume a returning partition where this
    /// member stopped, then rewind to the commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_partition_that_comes_back_restarts_at_the_commit_without_redelivery() {
        // Without transactions, so that offsets are consecutive (no commit markers) and the
        // expected deliveries are a plain range.
        let log = super::plain_log().await;
        let topic = &purse_log::contract::unique_name("group.comeback");
        let group = &purse_log::contract::unique_name("group.comeback.g");
        log.create_topic(topic, PARTITIONS).await.expect("create");
        let mut a = Member::join(&log, group, topic, "a").await;
        until(&mut [&mut a], "a owns all", |m| m[0].owned.len() == 2).await;
        for round in 0..4u32 {
            let before = append_round(&log, topic, &format!("{round}-before")).await;
            until(&mut [&mut a], "a read everything", |m| {
                (0..PARTITIONS).all(|p| read_to(m[0], p, before[&p]))
            })
            .await;

            let mut b = Member::join(&log, group, topic, "b").await;
            until(&mut [&mut b, &mut a], "split", |m| {
                m[0].owned.len() == 1 && m[1].owned.len() == 1
            })
            .await;
            let moved = *b.owned.first().expect("b owns one");
            let after = append_round(&log, topic, &format!("{round}-after")).await;
            let end = after[&moved];
            until(&mut [&mut b, &mut a], "b read its partition", |m| {
                read_to(m[0], moved, end)
            })
            .await;
            if round % 2 == 0 {
                // Behind what `a` had read before it lost the partition.
                let behind = before[&moved] - 1;
                b.consumer
                    .commit(topic, moved, behind)
                    .await
                    .expect("commit");
                b.consumer.leave().await.expect("leave");
            } else {
                drop(b);
            }
            let start = log
                .committed_offset(group, topic, moved)
                .await
                .expect("committed")
                .unwrap_or(0);
            until(&mut [&mut a], "a has it back and read it", |m| {
                m[0].owned.len() == 2 && read_to(m[0], moved, end)
            })
            .await;
            let expected: Vec<u64> = (start..end).collect();
            assert_eq!(
                a.since_assigned[&moved], expected,
                "round {round}: partition {moved} back at a, from the committed offset {start}"
            );
        }
    }
}

mod mock {
    //! The transactional path and fault handling, on librdkafka's mock cluster. The mock does
    //! not enforce fencing or hide aborted records (TESTING.md): these tests exercise our code
    //! path and error mapping, not isolation.

    use std::error::Error as _;
    use std::sync::atomic::{AtomicU64, Ordering};

    use purse_log::{AmbiguousReason, AppendedRecord, EventLog, LogError, Record};
    use purse_log_kafka::{KafkaLog, KafkaLogError, KafkaSettings, TransactionStep};

    use super::kafka_error;
    use rdkafka::mocking::{MockCluster, MockCoordinator};
    use rdkafka::producer::DefaultProducerContext;
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

    type Mock = MockCluster<'static, DefaultProducerContext>;

    const PARTITIONS: u32 = 2;
    /// The broker that leads every partition; the transaction coordinator is another one, so it
    /// can fail alone.
    const LEADER: i32 = 1;
    const COORDINATOR: i32 = 2;

    static UNIQUE: AtomicU64 = AtomicU64::new(0);

    fn unique(what: &str) -> String {
        format!(
            "mock.{what}.{}.{}",
            std::process::id(),
            UNIQUE.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// A three-broker mock cluster with one topic, and a log on it.
    fn setup(transactions: bool) -> (Mock, KafkaLog, String) {
        let mock = MockCluster::new(3).expect("mock cluster");
        let topic = unique("topic");
        mock.create_topic(&topic, PARTITIONS as i32, 3)
            .expect("mock topic");
        for partition in 0..PARTITIONS {
            mock.partition_leader(&topic, partition as i32, Some(LEADER))
                .expect("leader");
        }
        let settings = KafkaSettings {
            replication_factor: 3,
            transactions,
            transactional_id_prefix: unique("txn"),
            // Short, so that injected faults surface within seconds.
            request_timeout_ms: 2_000,
            message_timeout_ms: 3_000,
            transaction_timeout_ms: 10_000,
            transaction_call_timeout_ms: 3_000,
            ..KafkaSettings::new(mock.bootstrap_servers())
        };
        let log = KafkaLog::new(settings).expect("Kafka log");
        for partition in 0..PARTITIONS {
            mock.coordinator(
                MockCoordinator::Transaction(log.transactional_id(&topic, partition)),
                COORDINATOR,
            )
            .expect("coordinator");
        }
        (mock, log, topic)
    }

    fn records(partition: u32, tag: &str, count: usize) -> Vec<Record> {
        (0..count)
            .map(|i| Record {
                partition,
                key: format!("{tag}-{i}").into_bytes(),
                payload: format!("{tag}-payload-{i}").into_bytes(),
            })
            .collect()
    }

    /// Reads `partition` from `from` until `count` records arrived.
    async fn read_back(
        log: &KafkaLog,
        topic: &str,
        partition: u32,
        from: u64,
        count: usize,
    ) -> Vec<(u64, Vec<u8>)> {
        let mut read = Vec::new();
        while read.len() < count {
            let next = read
                .last()
                .map_or(from, |(offset, _): &(u64, _)| offset + 1);
            let batch = log
                .read(topic, partition, next, 100, 10_000)
                .await
                .expect("read");
            assert!(!batch.is_empty(), "records missing after {next}");
            read.extend(batch.into_iter().map(|r| (r.offset, r.key)));
        }
        read
    }

    fn assert_in_order(appended: &[AppendedRecord], partition: u32) {
        assert!(appended.iter().all(|a| a.partition == partition));
        assert!(appended.windows(2).all(|w| w[0].offset < w[1].offset));
    }

    /// Appends work again, through a new producer, and read back.
    async fn recovers(log: &KafkaLog, topic: &str, created_before: u64) {
        let appended = log
            .append(topic, records(0, "recovered", 3))
            .await
            .expect("the append after recovery");
        assert_in_order(&appended, 0);
        let read = read_back(log, topic, 0, appended[0].offset, 3).await;
        assert_eq!(
            read.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
            appended.iter().map(|a| a.offset).collect::<Vec<_>>()
        );
        assert!(
            log.transactional_producers_created() > created_before,
            "the failed producer must have been replaced"
        );
    }

    /// Transactional appends to several partitions commit, return offsets in input order, reuse
    /// one producer per partition, and read back under read_committed; the end offset is past
    /// the commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn transactional_appends_commit_and_read_back() {
        let (_mock, log, topic) = setup(true);
        let mut input = records(0, "a", 3);
        input.extend(records(1, "b", 2));
        input.extend(records(0, "c", 2));
        let first = log.append(&topic, input.clone()).await.expect("append");
        assert_eq!(
            first.iter().map(|a| a.partition).collect::<Vec<_>>(),
            input.iter().map(|r| r.partition).collect::<Vec<_>>()
        );
        let second = log
            .append(&topic, records(0, "d", 2))
            .await
            .expect("second append");
        assert_eq!(
            log.transactional_producers_created(),
            2,
            "one producer per partition, reused"
        );
        let p0: Vec<&AppendedRecord> = first
            .iter()
            .chain(&second)
            .filter(|a| a.partition == 0)
            .collect();
        assert!(p0.windows(2).all(|w| w[0].offset < w[1].offset));

        let read = read_back(&log, &topic, 0, p0[0].offset, p0.len()).await;
        let expected: Vec<(u64, Vec<u8>)> = input
            .iter()
            .chain(&records(0, "d", 2))
            .filter(|r| r.partition == 0)
            .zip(&p0)
            .map(|(r, a)| (a.offset, r.key.clone()))
            .collect();
        assert_eq!(read, expected);
        let end = log.end_offset(&topic, 0).await.expect("end offset");
        assert!(end > p0.last().expect("records").offset);
        let p1 = read_back(&log, &topic, 1, 0, 2).await;
        assert_eq!(
            p1.iter().map(|(_, k)| k.clone()).collect::<Vec<_>>(),
            vec![b"b-0".to_vec(), b"b-1".to_vec()]
        );
    }

    /// EndTxn answered PRODUCER_FENCED: the commit's outcome is unknown (an earlier attempt may
    /// have committed), so the append is ambiguous; the producer is dropped and the next append
    /// uses a new one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fenced_on_commit_is_ambiguous_and_the_producer_is_replaced() {
        let (mock, log, topic) = setup(true);
        log.append(&topic, records(0, "warm", 1))
            .await
            .expect("first append");
        let created = log.transactional_producers_created();
        mock.request_errors(
            RDKafkaApiKey::EndTxn,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_PRODUCER_FENCED],
        );
        let error = log
            .append(&topic, records(0, "fenced", 2))
            .await
            .expect_err("a fenced commit must fail");
        assert!(error.is_ambiguous(), "{error:?}");
        assert!(
            matches!(
                kafka_error(&error),
                KafkaLogError::ProducerFenced {
                    step: TransactionStep::Commit,
                    ..
                }
            ),
            "{error:?}"
        );
        recovers(&log, &topic, created).await;
    }

    /// Produce answered INVALID_PRODUCER_EPOCH: the producer is fenced before anything was
    /// committed, so the append failed definitely; the producer is replaced.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fenced_on_produce_fails_definitely_and_the_producer_is_replaced() {
        let (mock, log, topic) = setup(true);
        log.append(&topic, records(0, "warm", 1))
            .await
            .expect("first append");
        let created = log.transactional_producers_created();
        mock.request_errors(
            RDKafkaApiKey::Produce,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH],
        );
        let error = log
            .append(&topic, records(0, "fenced", 2))
            .await
            .expect_err("a fenced produce must fail");
        assert!(!error.is_ambiguous(), "{error:?}");
        assert!(
            matches!(
                kafka_error(&error),
                KafkaLogError::ProducerFenced {
                    step: TransactionStep::Produce,
                    ..
                }
            ),
            "{error:?}"
        );
        recovers(&log, &topic, created).await;
    }

    /// AddPartitionsToTxn answered TOPIC_AUTHORIZATION_FAILED, an abortable error: the
    /// transaction is aborted and the append failed definitely; the producer survives the abort.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_abortable_error_aborts_the_transaction() {
        let (mock, log, topic) = setup(true);
        log.append(&topic, records(0, "warm", 1))
            .await
            .expect("first append");
        let created = log.transactional_producers_created();
        mock.request_errors(
            RDKafkaApiKey::AddPartitionsToTxn,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED],
        );
        let error = log
            .append(&topic, records(0, "aborted", 2))
            .await
            .expect_err("an abortable error must fail the append");
        assert!(!error.is_ambiguous(), "{error:?}");
        assert!(
            matches!(
                kafka_error(&error),
                KafkaLogError::TransactionAborted { .. }
            ),
            "{error:?}"
        );
        let appended = log
            .append(&topic, records(0, "after-abort", 2))
            .await
            .expect("the append after the abort");
        assert_in_order(&appended, 0);
        assert_eq!(
            log.transactional_producers_created(),
            created,
            "an aborted transaction keeps its producer"
        );
    }

    /// The transaction coordinator is down before the producer exists: init_transactions times
    /// out, nothing was produced (a definite error); once it is back, appends work.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_coordinator_down_at_init_fails_definitely_then_recovers() {
        let (mock, log, topic) = setup(true);
        mock.broker_down(COORDINATOR).expect("coordinator down");
        let error = log
            .append(&topic, records(0, "no-coordinator", 2))
            .await
            .expect_err("no coordinator, no transaction");
        assert!(!error.is_ambiguous(), "{error:?}");
        assert!(
            matches!(
                kafka_error(&error),
                KafkaLogError::Transaction {
                    step: TransactionStep::Init,
                    ..
                }
            ),
            "{error:?}"
        );
        mock.broker_up(COORDINATOR).expect("coordinator up");
        recovers(&log, &topic, log.transactional_producers_created()).await;
    }

    /// The coordinator stops answering EndTxn: the commit outcome is unknown, so the append is
    /// ambiguous and the producer is replaced; once it answers again, appends work.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_coordinator_lost_at_commit_is_ambiguous_then_recovers() {
        let (mock, log, topic) = setup(true);
        log.append(&topic, records(0, "warm", 1))
            .await
            .expect("first append");
        let created = log.transactional_producers_created();
        // librdkafka retries EndTxn on this error until the commit call times out.
        mock.request_errors(
            RDKafkaApiKey::EndTxn,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE; 1000],
        );
        let error = log
            .append(&topic, records(0, "lost-commit", 2))
            .await
            .expect_err("an unanswered commit must fail");
        assert!(error.is_ambiguous(), "{error:?}");
        assert!(
            matches!(
                kafka_error(&error),
                KafkaLogError::Transaction {
                    step: TransactionStep::Commit,
                    ..
                }
            ),
            "{error:?}: {:?}",
            error.source()
        );
        mock.clear_request_errors(RDKafkaApiKey::EndTxn);
        recovers(&log, &topic, created).await;
    }

    /// Without transactions: the partition leader is down, records time out, the append is
    /// ambiguous (timed out) and the idempotent producer is replaced; once the leader is back,
    /// appends work through the new producer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_produce_timeout_is_ambiguous_and_replaces_the_producer() {
        let (mock, log, topic) = setup(false);
        log.append(&topic, records(0, "warm", 1))
            .await
            .expect("first append");
        assert_eq!(log.producers_created(), 1);
        mock.broker_down(LEADER).expect("leader down");
        let error = log
            .append(&topic, records(0, "lost", 2))
            .await
            .expect_err("no leader, no acknowledgement");
        assert!(
            matches!(
                error,
                LogError::Ambiguous {
                    reason: AmbiguousReason::TimedOut { .. }
                }
            ),
            "{error:?}"
        );
        mock.broker_up(LEADER).expect("leader up");
        let appended = log
            .append(&topic, records(0, "after", 2))
            .await
            .expect("the append after recovery");
        assert_in_order(&appended, 0);
        assert_eq!(
            log.producers_created(),
            2,
            "the producer of the ambiguous append was replaced"
        );
    }
}
