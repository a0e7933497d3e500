//! The behaviour every [`EventLog`] must have, as reusable async test cases.
//!
//! Each case takes a log and panics (with a message saying what broke) if the log misbehaves.
//! Cases create their own uniquely named topics and groups, so they may share one log, or one
//! broker across runs. Every wait is bounded and event-driven: a case never sleeps to let
//! something happen.
//!
//! An implementation runs all of them with [`event_log_contract_tests!`](crate::event_log_contract_tests)
//! in one of its test files:
//!
//! ```no_run
//! use std::sync::Arc;
//! use purse_log::{EventLog, SqliteLog, SqliteLogOptions};
//!
//! async fn fresh_log() -> Arc<dyn EventLog> {
//!     let path = std::env::temp_dir().join("purse-contract-example.db");
//!     Arc::new(SqliteLog::open(&path, SqliteLogOptions::default()).expect("open"))
//! }
//!
//! purse_log::event_log_contract_tests!(fresh_log);
//! # fn main() {}
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{
    AppendedRecord, EventLog, GroupConsumer, GroupEvent, LogError, Record, StoredRecord,
    TopicPartition, partition_for,
};

/// Upper bound for anything a case waits for: generous, because a Kafka rebalance or session
/// timeout takes seconds; the embedded log answers at once.
pub const CONTRACT_TIMEOUT_MS: u64 = 60_000;

/// How long one poll of a group member waits while a case drives several members in turn.
const POLL_WAIT_MS: u64 = 100;

/// Records asked for per read or poll in the cases.
const BATCH: usize = 100;

/// Runs every contract case as a `#[tokio::test]` (multi-threaded runtime).
///
/// `$factory` is any expression callable with no arguments that returns a future of a fresh log:
/// an `Arc<dyn EventLog>`, or anything that dereferences to an `EventLog` (e.g. a guard that also
/// owns a temporary directory). The calling crate needs `tokio` (with `macros` and
/// `rt-multi-thread`) among its dev-dependencies. See the [`contract`](crate::contract) module
/// for an example.
#[macro_export]
macro_rules! event_log_contract_tests {
    ($factory:expr) => {
        $crate::event_log_contract_tests!(
            @cases $factory;
            create_topic_is_idempotent_and_rejects_another_count,
            append_assigns_increasing_offsets_per_partition,
            read_returns_the_appended_records_in_order,
            read_is_woken_by_a_concurrent_append,
            read_times_out_empty,
            end_offset_is_the_next_offset,
            partition_for_routes_each_key_to_one_partition,
            unknown_topics_and_partitions_are_errors,
            concurrent_appends_land_exactly_once,
            single_member_gets_every_partition_from_the_start,
            resubscribing_resumes_after_the_commit,
            two_members_split_partitions_revoking_before_assigning,
            leaving_member_hands_its_partitions_over,
            dropped_member_hands_its_partitions_over,
            commit_on_a_partition_not_owned_is_refused,
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let log = ($factory)().await;
                $crate::contract::$case(&*log).await;
            }
        )*
    };
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// A topic or group name no other case (in this process or an earlier run against the same
/// broker) uses.
pub fn unique_name(case: &str) -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!(
        "contract.{case}.{}.{millis}.{}",
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::Relaxed)
    )
}

async fn new_topic(log: &dyn EventLog, case: &str, partitions: u32) -> String {
    let topic = unique_name(case);
    log.create_topic(&topic, partitions)
        .await
        .unwrap_or_else(|e| panic!("create_topic({topic}, {partitions}): {e}"));
    topic
}

fn record(partition: u32, key: &str, payload: &str) -> Record {
    Record {
        partition,
        key: key.as_bytes().to_vec(),
        payload: payload.as_bytes().to_vec(),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Appends and checks the answer has one entry per record, on the requested partitions.
async fn append_ok(log: &dyn EventLog, topic: &str, records: Vec<Record>) -> Vec<AppendedRecord> {
    let partitions: Vec<u32> = records.iter().map(|r| r.partition).collect();
    let appended = log
        .append(topic, records)
        .await
        .unwrap_or_else(|e| panic!("append to {topic}: {e}"));
    assert_eq!(
        appended.iter().map(|a| a.partition).collect::<Vec<_>>(),
        partitions,
        "append must answer one entry per record, in input order"
    );
    appended
}

/// Reads a partition from `from` until `count` records arrived.
async fn read_exactly(
    log: &dyn EventLog,
    topic: &str,
    partition: u32,
    from: u64,
    count: usize,
) -> Vec<StoredRecord> {
    let deadline = Instant::now() + Duration::from_millis(CONTRACT_TIMEOUT_MS);
    let mut records: Vec<StoredRecord> = Vec::new();
    while records.len() < count {
        let next = records.last().map_or(from, |r| r.offset + 1);
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "read {topic}/{partition}: {} of {count} records arrived",
            records.len()
        );
        let batch = log
            .read(topic, partition, next, BATCH, left.as_millis() as u64)
            .await
            .unwrap_or_else(|e| panic!("read {topic}/{partition}: {e}"));
        records.extend(batch);
    }
    assert_eq!(
        records.len(),
        count,
        "read {topic}/{partition} returned more records than appended"
    );
    records
}

/// Polls all futures concurrently on the current task (no spawning, so cases can borrow the
/// log), returning their outputs in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future completed"))
        .collect()
}

/// `create_topic` is idempotent for the same count, refuses another count, and refuses invalid
/// names and counts.
pub async fn create_topic_is_idempotent_and_rejects_another_count(log: &dyn EventLog) {
    let topic = new_topic(log, "create", 3).await;
    log.create_topic(&topic, 3)
        .await
        .expect("creating an existing topic with the same count is Ok");
    assert_eq!(log.partition_count(&topic).await.expect("count"), 3);
    match log.create_topic(&topic, 4).await {
        Err(LogError::PartitionCountMismatch {
            topic: t,
            existing: 3,
            requested: 4,
        }) => assert_eq!(t, topic),
        other => panic!("expected PartitionCountMismatch, got {other:?}"),
    }
    assert_eq!(log.partition_count(&topic).await.expect("count"), 3);
    assert!(matches!(
        log.create_topic("not a topic name", 1).await,
        Err(LogError::InvalidTopicName { .. })
    ));
    assert!(matches!(
        log.create_topic(&unique_name("zero"), 0).await,
        Err(LogError::InvalidPartitionCount { requested: 0, .. })
    ));
}

/// Offsets increase within each partition, in input order, within and across appends.
pub async fn append_assigns_increasing_offsets_per_partition(log: &dyn EventLog) {
    let topic = new_topic(log, "offsets", 2).await;
    let mut last: HashMap<u32, u64> = HashMap::new();
    for round in 0..3 {
        let records = (0..6)
            .map(|i| record(i % 2, &format!("k{round}-{i}"), "v"))
            .collect();
        for appended in append_ok(log, &topic, records).await {
            if let Some(previous) = last.insert(appended.partition, appended.offset) {
                assert!(
                    appended.offset > previous,
                    "partition {}: offset {} after {previous}",
                    appended.partition,
                    appended.offset
                );
            }
        }
    }
    assert_eq!(
        log.append(&topic, Vec::new()).await.expect("empty append"),
        vec![]
    );
}

/// `read` from an offset returns exactly the appended keys and payloads, in order, with their
/// offsets and an append-time timestamp; reading from a later offset skips the earlier ones.
pub async fn read_returns_the_appended_records_in_order(log: &dyn EventLog) {
    let topic = new_topic(log, "read", 2).await;
    let before_ms = now_ms();
    let records: Vec<Record> = (0..10)
        .map(|i| record(1, &format!("key-{i}"), &format!("payload-{i}")))
        .collect();
    let appended = append_ok(log, &topic, records.clone()).await;
    let after_ms = now_ms();

    let read = read_exactly(log, &topic, 1, appended[0].offset, records.len()).await;
    for ((stored, sent), at) in read.iter().zip(&records).zip(&appended) {
        assert_eq!(stored.offset, at.offset);
        assert_eq!(stored.key, sent.key);
        assert_eq!(stored.payload, sent.payload);
        // Generous: a broker's clock may differ a little from ours.
        assert!(
            (before_ms - 60_000..=after_ms + 60_000).contains(&stored.timestamp_ms),
            "timestamp {} far from the append time {before_ms}..{after_ms}",
            stored.timestamp_ms
        );
    }

    let tail = read_exactly(log, &topic, 1, appended[7].offset, 3).await;
    assert_eq!(
        tail.iter().map(|r| r.key.clone()).collect::<Vec<_>>(),
        records[7..]
            .iter()
            .map(|r| r.key.clone())
            .collect::<Vec<_>>()
    );
    let limited = log
        .read(&topic, 1, appended[0].offset, 4, 0)
        .await
        .expect("read");
    assert!(
        !limited.is_empty() && limited.len() <= 4,
        "read returned {} records for max_records 4",
        limited.len()
    );
    let other = log.read(&topic, 0, 0, BATCH, 0).await.expect("read");
    assert!(other.is_empty(), "partition 0 got records appended to 1");
}

/// A read waiting at the end of a partition returns the record a concurrent append adds, well
/// before its deadline.
pub async fn read_is_woken_by_a_concurrent_append(log: &dyn EventLog) {
    let topic = new_topic(log, "wake", 1).await;
    let end = log.end_offset(&topic, 0).await.expect("end_offset");
    let started = Instant::now();
    let (read, appended) = tokio::join!(
        log.read(&topic, 0, end, BATCH, CONTRACT_TIMEOUT_MS),
        async {
            // Let the read start waiting first.
            tokio::task::yield_now().await;
            append_ok(log, &topic, vec![record(0, "woken", "by append")]).await
        },
    );
    let read = read.expect("read");
    assert_eq!(read.len(), 1, "the waiting read must return the new record");
    assert_eq!(read[0].offset, appended[0].offset);
    assert_eq!(read[0].key, b"woken");
    assert!(
        started.elapsed() < Duration::from_millis(CONTRACT_TIMEOUT_MS),
        "the read returned only at its deadline"
    );
}

/// A read with nothing to return waits about `wait_ms` and returns an empty `Vec`.
pub async fn read_times_out_empty(log: &dyn EventLog) {
    let topic = new_topic(log, "timeout", 1).await;
    let appended = append_ok(log, &topic, vec![record(0, "k", "v")]).await;
    // The end passes the record only once it is readable (see `end_offset_is_the_next_offset`).
    read_exactly(log, &topic, 0, appended[0].offset, 1).await;
    let end = log.end_offset(&topic, 0).await.expect("end_offset");
    let started = Instant::now();
    let read = log.read(&topic, 0, end, BATCH, 300).await.expect("read");
    let waited = started.elapsed();
    assert!(
        read.is_empty(),
        "nothing was appended after {end}: {read:?}"
    );
    assert!(
        waited >= Duration::from_millis(150),
        "read returned after {waited:?}, not waiting for its 300 ms"
    );
    assert!(
        waited < Duration::from_millis(CONTRACT_TIMEOUT_MS),
        "read overstayed its wait: {waited:?}"
    );
    let now = log.read(&topic, 0, end, BATCH, 0).await.expect("read");
    assert!(now.is_empty());
}

/// `end_offset` is 0 for a new partition and, after each append, the offset the next record gets.
pub async fn end_offset_is_the_next_offset(log: &dyn EventLog) {
    let topic = new_topic(log, "end", 2).await;
    assert_eq!(log.end_offset(&topic, 0).await.expect("end"), 0);
    assert_eq!(log.end_offset(&topic, 1).await.expect("end"), 0);
    for i in 0..3 {
        let before = log.end_offset(&topic, 0).await.expect("end");
        let appended = append_ok(log, &topic, vec![record(0, &format!("k{i}"), "v")]).await;
        assert_eq!(
            appended[0].offset, before,
            "end_offset must be the offset the next record gets"
        );
        // Once the record is readable the end is past it. Not necessarily at once: on Kafka with
        // transactions the end is the last stable offset, which moves only when the commit's
        // markers land, shortly after the commit was acknowledged.
        read_exactly(log, &topic, 0, appended[0].offset, 1).await;
        let after = log.end_offset(&topic, 0).await.expect("end");
        assert!(after > appended[0].offset);
    }
    assert_eq!(
        log.end_offset(&topic, 1).await.expect("end"),
        0,
        "appends to partition 0 moved partition 1"
    );
}

/// Records placed with [`partition_for`] are found on that partition, every record of a key on
/// the same one.
pub async fn partition_for_routes_each_key_to_one_partition(log: &dyn EventLog) {
    const PARTITIONS: u32 = 4;
    let topic = new_topic(log, "route", PARTITIONS).await;
    let keys: Vec<String> = (0..20).map(|i| format!("wallet-{i}")).collect();
    let mut expected: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    let mut records = Vec::new();
    for round in 0..2 {
        for key in &keys {
            let partition = partition_for(key.as_bytes(), PARTITIONS);
            assert!(partition < PARTITIONS);
            expected.entry(partition).or_default().push(key.clone());
            records.push(record(partition, key, &format!("{round}")));
        }
    }
    append_ok(log, &topic, records).await;
    for (partition, keys) in expected {
        let read = read_exactly(log, &topic, partition, 0, keys.len()).await;
        let read_keys: Vec<String> = read
            .iter()
            .map(|r| String::from_utf8_lossy(&r.key).into_owned())
            .collect();
        assert_eq!(read_keys, keys, "partition {partition}");
    }
}

/// Unknown topics and partitions are precise errors everywhere, and a rejected append writes
/// nothing.
pub async fn unknown_topics_and_partitions_are_errors(log: &dyn EventLog) {
    let missing = unique_name("missing");
    let unknown_topic = |result: Result<(), LogError>, what: &str| match result {
        Err(LogError::UnknownTopic { topic }) => assert_eq!(topic, missing, "{what}"),
        other => panic!("{what}: expected UnknownTopic, got {other:?}"),
    };
    unknown_topic(
        log.partition_count(&missing).await.map(drop),
        "partition_count",
    );
    unknown_topic(
        log.append(&missing, vec![record(0, "k", "v")])
            .await
            .map(drop),
        "append",
    );
    unknown_topic(log.read(&missing, 0, 0, BATCH, 0).await.map(drop), "read");
    unknown_topic(log.end_offset(&missing, 0).await.map(drop), "end_offset");
    unknown_topic(
        log.subscribe(&unique_name("group"), "m", std::slice::from_ref(&missing))
            .await
            .map(drop),
        "subscribe",
    );

    let topic = new_topic(log, "partitions", 2).await;
    let unknown_partition = |result: Result<(), LogError>, what: &str| match result {
        Err(LogError::UnknownPartition { partition: 2, .. }) => {}
        other => panic!("{what}: expected UnknownPartition 2, got {other:?}"),
    };
    unknown_partition(
        log.append(&topic, vec![record(0, "k", "v"), record(2, "k", "v")])
            .await
            .map(drop),
        "append",
    );
    unknown_partition(log.read(&topic, 2, 0, BATCH, 0).await.map(drop), "read");
    unknown_partition(log.end_offset(&topic, 2).await.map(drop), "end_offset");
    assert_eq!(
        log.end_offset(&topic, 0).await.expect("end"),
        0,
        "an append with a bad partition must write none of its records"
    );
}

/// Many concurrent appends all land exactly once, with distinct offsets, in each append's order.
pub async fn concurrent_appends_land_exactly_once(log: &dyn EventLog) {
    const PARTITIONS: u32 = 4;
    const APPENDS: usize = 64;
    const RECORDS_PER_APPEND: usize = 3;
    let topic = new_topic(log, "concurrent", PARTITIONS).await;
    let appends = (0..APPENDS).map(|a| {
        let records: Vec<Record> = (0..RECORDS_PER_APPEND)
            .map(|r| record((a as u32 + r as u32) % PARTITIONS, &format!("{a}-{r}"), "v"))
            .collect();
        let keys: Vec<String> = (0..RECORDS_PER_APPEND)
            .map(|r| format!("{a}-{r}"))
            .collect();
        let topic = topic.as_str();
        async move { (keys, log.append(topic, records).await) }
    });
    let mut expected: BTreeMap<u32, BTreeMap<u64, String>> = BTreeMap::new();
    for (keys, result) in join_all(appends.collect()).await {
        let appended = result.expect("concurrent append");
        let mut last: HashMap<u32, u64> = HashMap::new();
        for (at, key) in appended.iter().zip(keys) {
            if let Some(previous) = last.insert(at.partition, at.offset) {
                assert!(at.offset > previous, "one append's records out of order");
            }
            let clash = expected
                .entry(at.partition)
                .or_default()
                .insert(at.offset, key);
            assert!(
                clash.is_none(),
                "offset {} of partition {} given twice",
                at.offset,
                at.partition
            );
        }
    }
    let total: usize = expected.values().map(BTreeMap::len).sum();
    assert_eq!(total, APPENDS * RECORDS_PER_APPEND);
    for (partition, by_offset) in expected {
        let first = *by_offset.keys().next().expect("non-empty");
        let read = read_exactly(log, &topic, partition, first, by_offset.len()).await;
        let read: Vec<(u64, String)> = read
            .into_iter()
            .map(|r| (r.offset, String::from_utf8_lossy(&r.key).into_owned()))
            .collect();
        assert_eq!(
            read,
            by_offset.into_iter().collect::<Vec<_>>(),
            "partition {partition} holds something other than what was acknowledged"
        );
    }
}

/// A group member as a case sees it: what it was told it owns, and what it received. Every poll
/// checks the member's own story is consistent.
struct Member {
    name: &'static str,
    consumer: Box<dyn GroupConsumer>,
    owned: BTreeSet<TopicPartition>,
    assigned: Vec<TopicPartition>,
    revoked: Vec<TopicPartition>,
    /// Records received per partition, in arrival order.
    received: BTreeMap<TopicPartition, Vec<StoredRecord>>,
    /// Offset of the first record received for a partition since it was last assigned.
    first_since_assigned: BTreeMap<TopicPartition, u64>,
}

impl Member {
    async fn join(log: &dyn EventLog, group: &str, name: &'static str, topics: &[String]) -> Self {
        let consumer = log
            .subscribe(group, name, topics)
            .await
            .unwrap_or_else(|e| panic!("{name} subscribe: {e}"));
        Self {
            name,
            consumer,
            owned: BTreeSet::new(),
            assigned: Vec::new(),
            revoked: Vec::new(),
            received: BTreeMap::new(),
            first_since_assigned: BTreeMap::new(),
        }
    }

    async fn poll(&mut self) {
        let name = self.name;
        let event = self
            .consumer
            .poll(BATCH, POLL_WAIT_MS)
            .await
            .unwrap_or_else(|e| panic!("{name} poll: {e}"));
        match event {
            None => {}
            Some(GroupEvent::Assigned(partitions)) => {
                for partition in partitions {
                    assert!(
                        self.owned.insert(partition.clone()),
                        "{name} assigned {partition:?}, which it already owns"
                    );
                    self.first_since_assigned.remove(&partition);
                    self.assigned.push(partition);
                }
            }
            Some(GroupEvent::Revoked(partitions)) => {
                for partition in partitions {
                    assert!(
                        self.owned.remove(&partition),
                        "{name} revoked {partition:?}, which it does not own"
                    );
                    self.revoked.push(partition);
                }
            }
            Some(GroupEvent::Records { partition, records }) => {
                assert!(
                    self.owned.contains(&partition),
                    "{name} got records of {partition:?}, which it does not own"
                );
                assert!(!records.is_empty(), "{name}: an empty Records event");
                let received = self.received.entry(partition.clone()).or_default();
                let mut previous = if self.first_since_assigned.contains_key(&partition) {
                    received.last().map(|r| r.offset)
                } else {
                    None
                };
                for record in &records {
                    if let Some(previous) = previous {
                        assert!(
                            record.offset > previous,
                            "{name} {partition:?}: offset {} after {previous}",
                            record.offset
                        );
                    }
                    previous = Some(record.offset);
                }
                self.first_since_assigned
                    .entry(partition)
                    .or_insert(records[0].offset);
                received.extend(records);
            }
        }
    }

    /// Offsets received for a partition (all assignments together).
    fn offsets(&self, partition: &TopicPartition) -> BTreeSet<u64> {
        self.received
            .get(partition)
            .map(|records| records.iter().map(|r| r.offset).collect())
            .unwrap_or_default()
    }

    fn forget_history(&mut self) {
        self.assigned.clear();
        self.revoked.clear();
    }
}

/// Polls every member in turn until `done` holds, checking after every poll that no partition is
/// owned by two members at once (so a member is told `Revoked` before another gets `Assigned`).
async fn converge(members: &mut [&mut Member], what: &str, done: impl Fn(&[&mut Member]) -> bool) {
    let deadline = Instant::now() + Duration::from_millis(CONTRACT_TIMEOUT_MS);
    while !done(members) {
        assert!(
            Instant::now() < deadline,
            "{what}: not reached in {CONTRACT_TIMEOUT_MS} ms; owned: {:?}",
            members
                .iter()
                .map(|m| (m.name, &m.owned))
                .collect::<Vec<_>>()
        );
        for i in 0..members.len() {
            members[i].poll().await;
            for (j, other) in members.iter().enumerate() {
                if j != i {
                    let both: Vec<_> = members[i].owned.intersection(&other.owned).collect();
                    assert!(
                        both.is_empty(),
                        "{what}: {} and {} both own {both:?}",
                        members[i].name,
                        other.name
                    );
                }
            }
        }
    }
}

fn all_partitions(topic: &str, partitions: u32) -> BTreeSet<TopicPartition> {
    (0..partitions)
        .map(|p| TopicPartition::new(topic, p))
        .collect()
}

/// Appends `per_partition` records to every partition; returns their offsets per partition.
async fn fill(
    log: &dyn EventLog,
    topic: &str,
    partitions: u32,
    per_partition: usize,
    tag: &str,
) -> BTreeMap<TopicPartition, Vec<u64>> {
    let records = (0..partitions)
        .flat_map(|p| (0..per_partition).map(move |i| (p, i)))
        .map(|(p, i)| record(p, &format!("{tag}-{p}-{i}"), tag))
        .collect();
    let mut offsets: BTreeMap<TopicPartition, Vec<u64>> = BTreeMap::new();
    for at in append_ok(log, topic, records).await {
        offsets
            .entry(TopicPartition::new(topic, at.partition))
            .or_default()
            .push(at.offset);
    }
    offsets
}

/// True once the members together received every listed offset.
fn received_all(members: &[&mut Member], expected: &BTreeMap<TopicPartition, Vec<u64>>) -> bool {
    expected.iter().all(|(partition, offsets)| {
        let got: BTreeSet<u64> = members.iter().flat_map(|m| m.offsets(partition)).collect();
        offsets.iter().all(|o| got.contains(o))
    })
}

/// A lone member is assigned every partition and receives every record, in order, from the
/// start (nothing committed yet), then follows the tail.
pub async fn single_member_gets_every_partition_from_the_start(log: &dyn EventLog) {
    const PARTITIONS: u32 = 3;
    let topic = new_topic(log, "single", PARTITIONS).await;
    let group = unique_name("single-group");
    let first = fill(log, &topic, PARTITIONS, 5, "a").await;
    let mut a = Member::join(log, &group, "a", std::slice::from_ref(&topic)).await;
    let all = all_partitions(&topic, PARTITIONS);
    converge(&mut [&mut a], "single member owns all and read all", |m| {
        m[0].owned == all && received_all(m, &first)
    })
    .await;
    for (partition, offsets) in &first {
        let received: Vec<u64> = a.received[partition].iter().map(|r| r.offset).collect();
        assert_eq!(
            &received, offsets,
            "{partition:?}: exactly the records, in order"
        );
        let keys: Vec<Vec<u8>> = a.received[partition]
            .iter()
            .map(|r| r.key.clone())
            .collect();
        let expected: Vec<Vec<u8>> = (0..5)
            .map(|i| format!("a-{}-{i}", partition.partition).into_bytes())
            .collect();
        assert_eq!(keys, expected);
    }
    let tail = fill(log, &topic, PARTITIONS, 2, "b").await;
    converge(&mut [&mut a], "single member follows the tail", |m| {
        received_all(m, &tail)
    })
    .await;
    assert_eq!(a.revoked, vec![], "nobody else joined: nothing to revoke");
}

/// After a member commits and leaves, a new member of the group starts each partition at the
/// committed offset; `committed_offset` reports it.
pub async fn resubscribing_resumes_after_the_commit(log: &dyn EventLog) {
    let topic = new_topic(log, "resume", 2).await;
    let group = unique_name("resume-group");
    let first = fill(log, &topic, 2, 4, "a").await;
    let p0 = TopicPartition::new(&topic, 0);
    let p1 = TopicPartition::new(&topic, 1);
    let mut a = Member::join(log, &group, "a", std::slice::from_ref(&topic)).await;
    converge(&mut [&mut a], "first member read all", |m| {
        received_all(m, &first)
    })
    .await;
    assert_eq!(
        log.committed_offset(&group, &topic, 0)
            .await
            .expect("committed"),
        None,
        "nothing committed yet"
    );
    let resume_p0 = first[&p0][2];
    let resume_p1 = first[&p1][3] + 1;
    a.consumer
        .commit(&topic, 0, resume_p0)
        .await
        .expect("commit p0");
    a.consumer
        .commit(&topic, 1, resume_p1)
        .await
        .expect("commit p1");
    a.consumer.leave().await.expect("leave");
    assert_eq!(
        log.committed_offset(&group, &topic, 0)
            .await
            .expect("committed"),
        Some(resume_p0)
    );
    assert_eq!(
        log.committed_offset(&group, &topic, 1)
            .await
            .expect("committed"),
        Some(resume_p1)
    );
    assert_eq!(
        log.committed_offset(&unique_name("other-group"), &topic, 0)
            .await
            .expect("committed"),
        None,
        "offsets are per group"
    );

    let later = fill(log, &topic, 2, 1, "b").await;
    let mut b = Member::join(log, &group, "b", std::slice::from_ref(&topic)).await;
    converge(&mut [&mut b], "second member read the rest", |m| {
        received_all(m, &later) && m[0].offsets(&p0).contains(&first[&p0][3])
    })
    .await;
    let expected_p0: Vec<u64> = first[&p0][2..].iter().chain(&later[&p0]).copied().collect();
    assert_eq!(
        b.received[&p0].iter().map(|r| r.offset).collect::<Vec<_>>(),
        expected_p0,
        "partition 0 resumes at the committed offset"
    );
    assert_eq!(
        b.received[&p1].iter().map(|r| r.offset).collect::<Vec<_>>(),
        later[&p1],
        "partition 1 was committed past its end: only the new record"
    );
}

/// When a second member joins, the first is told `Revoked` for exactly the partitions the second
/// then gets `Assigned`, never both owning one; together they cover every partition, and each
/// receives records only of its own partitions.
pub async fn two_members_split_partitions_revoking_before_assigning(log: &dyn EventLog) {
    const PARTITIONS: u32 = 4;
    let topic = new_topic(log, "split", PARTITIONS).await;
    let group = unique_name("split-group");
    let all = all_partitions(&topic, PARTITIONS);
    let topics = std::slice::from_ref(&topic);
    let mut a = Member::join(log, &group, "a", topics).await;
    converge(&mut [&mut a], "first member owns all", |m| {
        m[0].owned == all
    })
    .await;
    a.forget_history();

    let mut b = Member::join(log, &group, "b", topics).await;
    // The newcomer polls first: it must not be given anything before the owner was told.
    converge(&mut [&mut b, &mut a], "two members split", |m| {
        !m[0].owned.is_empty()
            && !m[1].owned.is_empty()
            && m[0]
                .owned
                .union(&m[1].owned)
                .cloned()
                .collect::<BTreeSet<_>>()
                == all
    })
    .await;
    let revoked: BTreeSet<_> = a.revoked.iter().cloned().collect();
    let assigned: BTreeSet<_> = b.assigned.iter().cloned().collect();
    assert_eq!(
        revoked, assigned,
        "the first member must lose exactly what the second gains"
    );

    let records = fill(log, &topic, PARTITIONS, 3, "after-split").await;
    converge(
        &mut [&mut a, &mut b],
        "both members read their partitions",
        |m| received_all(m, &records),
    )
    .await;
    for partition in &all {
        let owner = if a.owned.contains(partition) { &a } else { &b };
        assert!(
            records[partition]
                .iter()
                .all(|o| owner.offsets(partition).contains(o)),
            "{partition:?}: its owner {} must have its records",
            owner.name
        );
    }
}

/// Splits a 4-partition topic between members "a" and "b" and lets them read a first batch.
async fn split_two(
    log: &dyn EventLog,
    case: &str,
) -> (
    String,
    String,
    Member,
    Member,
    BTreeMap<TopicPartition, Vec<u64>>,
) {
    const PARTITIONS: u32 = 4;
    let topic = new_topic(log, case, PARTITIONS).await;
    let group = unique_name(&format!("{case}-group"));
    let all = all_partitions(&topic, PARTITIONS);
    let topics = std::slice::from_ref(&topic);
    let mut a = Member::join(log, &group, "a", topics).await;
    let mut b = Member::join(log, &group, "b", topics).await;
    let records = fill(log, &topic, PARTITIONS, 2, "first").await;
    converge(&mut [&mut a, &mut b], "two members split and read", |m| {
        !m[0].owned.is_empty()
            && !m[1].owned.is_empty()
            && m[0]
                .owned
                .union(&m[1].owned)
                .cloned()
                .collect::<BTreeSet<_>>()
                == all
            && received_all(m, &records)
    })
    .await;
    a.forget_history();
    b.forget_history();
    (topic, group, a, b, records)
}

/// A member that leaves (after committing) hands its partitions to the remaining member, which
/// keeps its own (no revocation) and resumes the new ones at the committed offsets.
pub async fn leaving_member_hands_its_partitions_over(log: &dyn EventLog) {
    let (topic, _group, mut a, mut b, first) = split_two(log, "leave").await;
    let from_b = b.owned.clone();
    for partition in &from_b {
        let next = first[partition].last().expect("records") + 1;
        b.consumer
            .commit(&topic, partition.partition, next)
            .await
            .expect("commit before leaving");
    }
    b.consumer.leave().await.expect("leave");
    let all = all_partitions(&topic, 4);
    converge(&mut [&mut a], "remaining member owns all", |m| {
        m[0].owned == all
    })
    .await;
    assert_eq!(
        a.revoked,
        vec![],
        "the remaining member keeps its partitions"
    );
    assert_eq!(
        a.assigned.iter().cloned().collect::<BTreeSet<_>>(),
        from_b,
        "it gains exactly the leaver's partitions"
    );
    let more = fill(log, &topic, 4, 1, "more").await;
    converge(&mut [&mut a], "remaining member reads on", |m| {
        received_all(m, &more)
    })
    .await;
    for partition in &from_b {
        assert_eq!(
            a.first_since_assigned.get(partition),
            Some(&more[partition][0]),
            "{partition:?} must resume after the leaver's commit"
        );
    }
}

/// A member dropped without leaving or committing hands its partitions over too; the remaining
/// member reads them from the start (nothing committed).
pub async fn dropped_member_hands_its_partitions_over(log: &dyn EventLog) {
    let (topic, _group, mut a, b, first) = split_two(log, "drop").await;
    let from_b = b.owned.clone();
    drop(b);
    let all = all_partitions(&topic, 4);
    converge(
        &mut [&mut a],
        "remaining member owns all after a drop",
        |m| {
            // Records received since the new assignment: a member that owned these partitions
            // before (Kafka may give every partition to the first member until the second
            // joins) already has their offsets from then.
            m[0].owned == all
                && from_b.iter().all(|p| {
                    m[0].first_since_assigned.contains_key(p)
                        && m[0].offsets(p).contains(&first[p][1])
                })
        },
    )
    .await;
    for partition in &from_b {
        assert_eq!(
            a.first_since_assigned.get(partition),
            Some(&first[partition][0]),
            "{partition:?}: nothing was committed, so reading starts over"
        );
    }
}

/// Commits are accepted only for partitions the member owns right now.
pub async fn commit_on_a_partition_not_owned_is_refused(log: &dyn EventLog) {
    let topic = new_topic(log, "not-owned", 2).await;
    let other = new_topic(log, "not-subscribed", 1).await;
    let group = unique_name("not-owned-group");
    let topics = std::slice::from_ref(&topic);
    let not_assigned = |result: Result<(), LogError>, what: &str| {
        assert!(
            matches!(result, Err(LogError::NotAssigned { .. })),
            "{what}: expected NotAssigned, got {result:?}"
        );
    };
    let mut a = Member::join(log, &group, "a", topics).await;
    not_assigned(
        a.consumer.commit(&topic, 0, 1).await,
        "commit before any assignment",
    );
    let all = all_partitions(&topic, 2);
    converge(&mut [&mut a], "member owns all", |m| m[0].owned == all).await;
    not_assigned(
        a.consumer.commit(&other, 0, 1).await,
        "commit on another topic",
    );
    not_assigned(
        a.consumer.commit(&topic, 7, 1).await,
        "commit on a missing partition",
    );
    a.consumer
        .commit(&topic, 0, 0)
        .await
        .expect("commit an owned partition");

    let mut b = Member::join(log, &group, "b", topics).await;
    converge(&mut [&mut b, &mut a], "two members split", |m| {
        m[0].owned.len() == 1 && m[1].owned.len() == 1
    })
    .await;
    let b_partition = b.owned.first().expect("one partition").partition;
    let a_partition = a.owned.first().expect("one partition").partition;
    not_assigned(
        a.consumer.commit(&topic, b_partition, 1).await,
        "commit on the other member's partition",
    );
    b.consumer
        .commit(&topic, b_partition, 0)
        .await
        .expect("own partition");
    a.consumer
        .commit(&topic, a_partition, 0)
        .await
        .expect("own partition");
    assert_eq!(
        log.committed_offset(&group, &topic, b_partition)
            .await
            .expect("committed"),
        Some(0),
        "the refused commit must not have been stored"
    );
}
