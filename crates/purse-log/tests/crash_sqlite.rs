//! Nothing the embedded log acknowledged is lost when its process is killed with SIGKILL in the
//! middle of appending, and the log reopens with dense, unique offsets.
//!
//! The test runs itself again as a child process (selected by an environment variable) that
//! appends from several tasks and prints every acknowledgement; the parent kills it once enough
//! acknowledgements arrived, then checks the file.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use purse_log::{EventLog, Record, SqliteLog, SqliteLogOptions};

/// Names the log file when this test runs as the appending child.
const CHILD_ENV: &str = "PURSE_LOG_CRASH_CHILD_DB";
const TOPIC: &str = "crash";
const PARTITIONS: u32 = 4;
const WRITERS: u32 = 8;
/// Acknowledgements the parent waits for before killing the child.
const ACKS_BEFORE_KILL: usize = 3_000;
/// The child stops on its own after this long, so an abandoned child never runs forever.
const CHILD_MAX_RUN: Duration = Duration::from_secs(60);

#[test]
fn acknowledged_appends_survive_kill_9() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        append_until_killed(Path::new(&path));
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log.db");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "acknowledged_appends_survive_kill_9",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn child");

    // key -> (partition, offset) as acknowledged by the child.
    let mut acked: BTreeMap<String, (u32, u64)> = BTreeMap::new();
    // Kept open until the kill, so the child never sees a closed pipe and stops on its own.
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    for line in lines.by_ref() {
        let line = line.expect("child output");
        let Some(ack) = line.strip_prefix("acked ") else {
            continue;
        };
        let mut fields = ack.split(' ');
        let (Some(key), Some(partition), Some(offset)) =
            (fields.next(), fields.next(), fields.next())
        else {
            panic!("malformed acknowledgement {line:?}");
        };
        acked.insert(
            key.to_owned(),
            (
                partition.parse().expect("partition"),
                offset.parse().expect("offset"),
            ),
        );
        if acked.len() >= ACKS_BEFORE_KILL {
            break;
        }
    }
    assert!(
        acked.len() >= ACKS_BEFORE_KILL,
        "the child stopped after {} acknowledgements",
        acked.len()
    );
    // Child::kill sends SIGKILL: no destructor, no final commit, appends in flight.
    child.kill().expect("kill child");
    child.wait().expect("reap child");
    drop(lines);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let log = SqliteLog::open(&path, SqliteLogOptions::default()).expect("reopen");
        let mut stored: BTreeMap<String, (u32, u64)> = BTreeMap::new();
        for partition in 0..PARTITIONS {
            let end = log.end_offset(TOPIC, partition).await.expect("end");
            let mut offset = 0;
            while offset < end {
                for record in log
                    .read(TOPIC, partition, offset, 1000, 0)
                    .await
                    .expect("read")
                {
                    assert_eq!(record.offset, offset, "offsets must stay dense");
                    let key = String::from_utf8(record.key).expect("utf-8 key");
                    assert!(
                        stored.insert(key.clone(), (partition, offset)).is_none(),
                        "{key} stored twice"
                    );
                    offset += 1;
                }
            }
        }
        let lost: Vec<&String> = acked
            .iter()
            .filter(|(key, at)| stored.get(*key) != Some(at))
            .map(|(key, _)| key)
            .collect();
        assert!(lost.is_empty(), "acknowledged but lost or moved: {lost:?}");
    });
}

/// The child: appends from several tasks, printing each acknowledged record, until killed.
fn append_until_killed(path: &Path) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let log = SqliteLog::open(path, SqliteLogOptions::default()).expect("open");
        log.create_topic(TOPIC, PARTITIONS).await.expect("create");
        let started = Instant::now();
        let mut writers = tokio::task::JoinSet::new();
        for writer in 0..WRITERS {
            let log = log.clone();
            writers.spawn(async move {
                let mut n = 0u64;
                while started.elapsed() < CHILD_MAX_RUN {
                    let keys: Vec<String> = (0..3).map(|i| format!("w{writer}-{n}-{i}")).collect();
                    let records = keys
                        .iter()
                        .map(|key| Record {
                            partition: (writer + n as u32) % PARTITIONS,
                            key: key.as_bytes().to_vec(),
                            payload: vec![0; 64],
                        })
                        .collect();
                    let appended = log.append(TOPIC, records).await.expect("append");
                    let mut out = std::io::stdout().lock();
                    for (key, at) in keys.iter().zip(appended) {
                        writeln!(out, "acked {key} {} {}", at.partition, at.offset)
                            .expect("stdout");
                    }
                    out.flush().expect("flush");
                    n += 1;
                }
            });
        }
        while writers.join_next().await.is_some() {}
    });
}
