//! The Kafka event log, for real: the `EventLog` contract suite and a restart against a nisshi
//! broker in a child process, and the transactional path and injected faults against
//! librdkafka's in-process mock cluster.

use std::ops::Deref;

use purse_log_kafka::testing::NisshiBroker;
use purse_log_kafka::{KafkaLog, KafkaSettings};

/// Settings for tests against nisshi: the broker's, with a faster heartbeat so that members
/// notice rebalances quickly.
fn nisshi_settings(broker: &NisshiBroker) -> KafkaSettings {
    KafkaSettings {
        heartbeat_interval_ms: 300,
        session_timeout_ms: 6_000,
        ..broker.settings()
    }
}

/// A log on its own broker; the broker is killed (and its data removed) when the test ends.
struct BrokerLog {
    // Declared first so the log's clients close before the broker goes away.
    log: KafkaLog,
    broker: NisshiBroker,
}

impl Deref for BrokerLog {
    type Target = KafkaLog;

    fn deref(&self) -> &KafkaLog {
        &self.log
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

async fn broker_log() -> BrokerLog {
    init_logs();
    let broker = NisshiBroker::start()
        .await
        .unwrap_or_else(|e| panic!("starting nisshi: {e}"));
    let log = KafkaLog::new(nisshi_settings(&broker)).expect("Kafka log");
    BrokerLog { log, broker }
}

mod contract {
    purse_log::event_log_contract_tests!(super::broker_log);
}

mod restart {
    use purse_log::{EventLog, Record};
    use purse_log_kafka::KafkaLog;

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
        let mut setup = super::broker_log().await;
        let topic = "restart.events";
        setup.create_topic(topic, 2).await.expect("create");
        let before = records("before", 20);
        let acked_before = setup.append(topic, before.clone()).await.expect("append");

        setup.broker.restart().await.expect("restart");

        let after = records("after", 20);
        let acked_after = setup.append(topic, after.clone()).await.expect("append");

        // A log created after the restart sees the same partitions and records.
        let fresh = KafkaLog::new(super::nisshi_settings(&setup.broker)).expect("fresh log");
        assert_eq!(fresh.partition_count(topic).await.expect("count"), 2);
        for partition in 0..2u32 {
            let expected: Vec<(u64, Vec<u8>, Vec<u8>)> = before
                .iter()
                .zip(&acked_before)
                .chain(after.iter().zip(&acked_after))
                .filter(|(record, _)| record.partition == partition)
                .map(|(record, at)| (at.offset, record.key.clone(), record.payload.clone()))
                .collect();
            for log in [&*setup, &fresh] {
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
            assert_eq!(
                fresh.end_offset(topic, partition).await.expect("end"),
                expected.last().expect("records").0 + 1
            );
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
            log: &super::BrokerLog,
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

    async fn append_round(log: &super::BrokerLog, topic: &str, tag: &str) -> BTreeMap<u32, u64> {
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
        let log = super::broker_log().await;
        let topic = "group.comeback";
        let group = "group.comeback.g";
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

    /// The client error inside a `LogError` (either kind), as our own error type.
    fn kafka_error(error: &LogError) -> &KafkaLogError {
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
