//! What the embedded log promises beyond the contract: durability across reopen, group commit,
//! dense offsets, the revoke timeout, and refusal of files it does not understand.

use std::path::Path;
use std::time::{Duration, Instant};

use purse_log::{
    EventLog, GroupEvent, LogError, Record, SqliteLog, SqliteLogOptions, TopicPartition,
};

fn open(path: &Path) -> SqliteLog {
    SqliteLog::open(path, SqliteLogOptions::default()).expect("open log")
}

fn record(partition: u32, key: &str) -> Record {
    Record {
        partition,
        key: key.as_bytes().to_vec(),
        payload: format!("payload of {key}").into_bytes(),
    }
}

/// Polls until the member reports an event (records ignored), within `wait_ms`.
async fn next_assignment_event(
    consumer: &mut Box<dyn purse_log::GroupConsumer>,
    wait_ms: u64,
) -> Option<GroupEvent> {
    let deadline = Instant::now() + Duration::from_millis(wait_ms);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        match consumer
            .poll(0, left.as_millis() as u64)
            .await
            .expect("poll")
        {
            Some(GroupEvent::Records { .. }) => {}
            other => return other,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_records_and_committed_offsets_survive_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log.db");
    let (appended, stored) = {
        let log = open(&path);
        log.create_topic("events", 3).await.expect("create");
        log.create_topic("commands", 1).await.expect("create");
        let appended = log
            .append(
                "events",
                (0..9).map(|i| record(i % 3, &format!("k{i}"))).collect(),
            )
            .await
            .expect("append");
        let stored = log.read("events", 1, 0, 100, 0).await.expect("read");
        let mut consumer = log
            .subscribe("projector", "m1", &["events".to_owned()])
            .await
            .expect("subscribe");
        assert!(matches!(
            next_assignment_event(&mut consumer, 5_000).await,
            Some(GroupEvent::Assigned(_))
        ));
        consumer.commit("events", 1, 2).await.expect("commit");
        (appended, stored)
    };

    let log = open(&path);
    assert_eq!(log.partition_count("events").await.expect("count"), 3);
    assert_eq!(log.partition_count("commands").await.expect("count"), 1);
    assert_eq!(log.end_offset("events", 1).await.expect("end"), 3);
    assert_eq!(log.end_offset("commands", 0).await.expect("end"), 0);
    assert_eq!(
        log.read("events", 1, 0, 100, 0).await.expect("read"),
        stored
    );
    assert_eq!(
        log.committed_offset("projector", "events", 1)
            .await
            .expect("committed"),
        Some(2)
    );
    // New appends continue after the stored ones.
    let next = log
        .append("events", vec![record(1, "after")])
        .await
        .expect("append");
    assert_eq!(next[0].offset, 3);
    assert_eq!(appended.len(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_are_dense_from_zero() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = open(&dir.path().join("log.db"));
    log.create_topic("t", 2).await.expect("create");
    let mut offsets = Vec::new();
    for i in 0..5 {
        let appended = log
            .append(
                "t",
                vec![record(0, &format!("a{i}")), record(0, &format!("b{i}"))],
            )
            .await
            .expect("append");
        offsets.extend(appended.iter().map(|a| a.offset));
    }
    assert_eq!(offsets, (0..10).collect::<Vec<u64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_commits() {
    const SMALL_APPENDS: usize = 200;
    let dir = tempfile::tempdir().expect("temp dir");
    let log = open(&dir.path().join("log.db"));
    log.create_topic("t", 4).await.expect("create");
    let before = log.commit_count();

    let mut tasks = tokio::task::JoinSet::new();
    // A large append first keeps the writer busy while the small ones queue behind it, so the
    // batching does not depend on how fast this machine's fsync is.
    let large = log.clone();
    tasks.spawn(async move {
        let records = (0..20_000)
            .map(|i| record(i % 4, &format!("large-{i}")))
            .collect();
        large.append("t", records).await.map(|a| a.len())
    });
    for i in 0..SMALL_APPENDS {
        let log = log.clone();
        tasks.spawn(async move {
            log.append("t", vec![record(i as u32 % 4, &format!("small-{i}"))])
                .await
                .map(|a| a.len())
        });
    }
    let mut records = 0;
    while let Some(joined) = tasks.join_next().await {
        records += joined.expect("task").expect("append");
    }
    assert_eq!(records, 20_000 + SMALL_APPENDS);

    let commits = log.commit_count() - before;
    assert!(commits >= 1);
    assert!(
        commits < SMALL_APPENDS as u64 / 2,
        "{} appends took {commits} commits: group commit is not batching",
        SMALL_APPENDS + 1
    );
    let mut total = 0;
    for partition in 0..4 {
        total += log.end_offset("t", partition).await.expect("end");
    }
    assert_eq!(total, 20_000 + SMALL_APPENDS as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_never_polls_loses_its_partitions_after_the_revoke_timeout() {
    const REVOKE_TIMEOUT_MS: u64 = 300;
    let dir = tempfile::tempdir().expect("temp dir");
    let options = SqliteLogOptions {
        revoke_timeout_ms: REVOKE_TIMEOUT_MS,
        ..SqliteLogOptions::default()
    };
    let log = SqliteLog::open(&dir.path().join("log.db"), options).expect("open");
    log.create_topic("t", 2).await.expect("create");
    let topics = ["t".to_owned()];

    let mut a = log.subscribe("g", "a", &topics).await.expect("subscribe a");
    let Some(GroupEvent::Assigned(all)) = next_assignment_event(&mut a, 5_000).await else {
        panic!("a alone must get every partition");
    };
    assert_eq!(all.len(), 2);

    let mut b = log.subscribe("g", "b", &topics).await.expect("subscribe b");
    let started = Instant::now();
    let Some(GroupEvent::Assigned(moved)) = next_assignment_event(&mut b, 5_000).await else {
        panic!("b must get a partition once a's revoke timeout passes");
    };
    let waited = started.elapsed();
    assert_eq!(moved.len(), 1);
    assert!(
        waited >= Duration::from_millis(REVOKE_TIMEOUT_MS - 50),
        "b got {moved:?} after {waited:?}, before a was told or timed out"
    );
    let TopicPartition { topic, partition } = moved[0].clone();
    assert!(
        matches!(
            a.commit(&topic, partition, 1).await,
            Err(LogError::NotAssigned { .. })
        ),
        "a lost the partition: its commits must be refused"
    );
    assert_eq!(
        next_assignment_event(&mut a, 5_000).await,
        Some(GroupEvent::Revoked(moved)),
        "a learns of the takeover on its next poll"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_member_waits_for_the_owner_to_be_told() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = open(&dir.path().join("log.db"));
    log.create_topic("t", 2).await.expect("create");
    let topics = ["t".to_owned()];
    let mut a = log.subscribe("g", "a", &topics).await.expect("subscribe a");
    assert!(matches!(
        next_assignment_event(&mut a, 5_000).await,
        Some(GroupEvent::Assigned(_))
    ));
    let mut b = log.subscribe("g", "b", &topics).await.expect("subscribe b");
    assert_eq!(
        b.poll(100, 200).await.expect("poll"),
        None,
        "b must not get a partition a still owns"
    );
    let Some(GroupEvent::Revoked(revoked)) = next_assignment_event(&mut a, 5_000).await else {
        panic!("a must be told first");
    };
    assert_eq!(
        next_assignment_event(&mut b, 5_000).await,
        Some(GroupEvent::Assigned(revoked))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_beyond_sqlite_integers_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = open(&dir.path().join("log.db"));
    log.create_topic("t", 1).await.expect("create");
    let mut a = log
        .subscribe("g", "a", &["t".to_owned()])
        .await
        .expect("subscribe");
    assert!(matches!(
        next_assignment_event(&mut a, 5_000).await,
        Some(GroupEvent::Assigned(_))
    ));
    assert!(matches!(
        a.commit("t", 0, u64::MAX).await,
        Err(LogError::OffsetOutOfRange { offset: u64::MAX })
    ));
    assert_eq!(
        log.read("t", 0, u64::MAX, 10, 0).await.expect("read"),
        vec![]
    );
}

#[test]
fn a_file_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log.db");
    rusqlite::Connection::open(&path)
        .expect("sqlite")
        .pragma_update(None, "user_version", 99)
        .expect("user_version");
    assert!(matches!(
        SqliteLog::open(&path, SqliteLogOptions::default()),
        Err(LogError::UnsupportedSchema { found: 99, .. })
    ));
}
