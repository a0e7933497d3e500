//! `purse-bench log-readback`: the Kafka event log alone, used the way a shard worker uses it
//! (DESIGN §5: produce, then read the partition back to the own records before replying). Each
//! writer appends a small batch to its partition, reads the partition from the first appended
//! offset until its last record comes back, and goes again; the report gives records and appends
//! per second and, per append, the acknowledgement and produce→read-back latency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use purse_log::{EventLog, LogError, MAX_READ_RECORDS, Record};
use purse_log_kafka::{KafkaLog, KafkaSettings};
use tokio::task::JoinSet;

use crate::args::ReadbackArgs;
use crate::error::BenchError;
use crate::latency;
use crate::load::{Tally, Work};
use crate::setup::join_all;

/// `client.id` of the generator's Kafka clients, so broker logs tell them from the services'.
const CLIENT_ID: &str = "purse-bench";
/// Record key of every record of a run: keys play no part in where a record goes (the writer
/// names the partition), so one constant key keeps records small.
const RECORD_KEY: &[u8] = b"purse-bench";

/// What a log-readback run measured.
#[derive(Debug, Clone)]
pub(crate) struct ReadbackReport {
    /// The run id (in the topic name).
    pub(crate) run_id: String,
    /// CPUs available to this process.
    pub(crate) nproc: usize,
    /// The flags.
    pub(crate) args: ReadbackArgs,
    /// The topic written, created for the run.
    pub(crate) topic: String,
    /// What the writers measured.
    pub(crate) tally: ReadbackTally,
    /// From the first append to the last read-back.
    pub(crate) elapsed: Duration,
}

/// What a set of writers measured.
#[derive(Debug, Clone)]
pub(crate) struct ReadbackTally {
    /// Appends made (`calls`); records read back (`ok`) or not, by reason (`failures`); and the
    /// produce→read-back latency of each append whose records all came back (`latency_us`).
    pub(crate) appends: Tally,
    /// From sending an append to its acknowledgement, in µs, for every acknowledged append.
    pub(crate) ack_us: Histogram<u64>,
}

impl ReadbackTally {
    /// Nothing measured yet.
    pub(crate) fn new() -> Self {
        ReadbackTally {
            appends: Tally::new(),
            ack_us: latency::histogram_us(),
        }
    }

    fn merge(&mut self, other: ReadbackTally) {
        self.appends.merge(other.appends);
        latency::add(&mut self.ack_us, &other.ack_us);
    }

    /// Counts one append of `records` records and how it ended.
    fn record(&mut self, records: u64, outcome: Result<Timings, ReadbackFailure>) {
        self.appends.calls += 1;
        match outcome {
            Ok(timings) => {
                self.appends.ok += records;
                latency::record(&mut self.ack_us, timings.ack);
                latency::record(&mut self.appends.latency_us, timings.read_back);
            }
            Err(failure) => {
                if let Some(ack) = failure.ack() {
                    latency::record(&mut self.ack_us, ack);
                }
                self.appends
                    .record_failure(failure.key(), &failure.to_string(), records);
            }
        }
    }
}

/// How long one append took to be acknowledged and to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timings {
    /// Send → acknowledgement.
    ack: Duration,
    /// Send → the last record read back.
    read_back: Duration,
}

/// Why an append did not come back whole.
#[derive(Debug, thiserror::Error)]
enum ReadbackFailure {
    /// The append failed (an ambiguous one may still land; the writer goes on regardless).
    #[error("append failed: {0}")]
    Append(#[source] LogError),
    /// The log acknowledged a different number of records than were sent.
    #[error("append of {sent} records acknowledged {acknowledged}")]
    AppendCount {
        /// Records sent.
        sent: usize,
        /// Offsets returned.
        acknowledged: usize,
    },
    /// Reading the partition back failed.
    #[error("read failed after {seen} of {expected} records: {source}")]
    Read {
        /// Send → acknowledgement.
        ack: Duration,
        /// Own records seen before the failure.
        seen: usize,
        /// Records appended.
        expected: usize,
        /// The error.
        #[source]
        source: LogError,
    },
    /// Not every record came back within `--timeout-ms` of sending.
    #[error("{seen} of {expected} records came back within {timeout_ms} ms")]
    TimedOut {
        /// Send → acknowledgement.
        ack: Duration,
        /// Own records seen.
        seen: usize,
        /// Records appended.
        expected: usize,
        /// The bound.
        timeout_ms: u64,
    },
    /// A record came back at an acknowledged offset with another payload.
    #[error("the record at offset {offset} came back with another payload")]
    Mismatch {
        /// Send → acknowledgement.
        ack: Duration,
        /// Where.
        offset: u64,
    },
}

impl ReadbackFailure {
    /// The reason failures are grouped by in the report.
    fn key(&self) -> String {
        let log_kind = |error: &LogError| {
            if error.is_ambiguous() {
                "AMBIGUOUS"
            } else if error.is_transient() {
                "TRANSIENT"
            } else {
                "FAILED"
            }
        };
        match self {
            ReadbackFailure::Append(error) => format!("APPEND {}", log_kind(error)),
            ReadbackFailure::AppendCount { .. } => "APPEND COUNT_MISMATCH".to_owned(),
            ReadbackFailure::Read { source, .. } => format!("READ {}", log_kind(source)),
            ReadbackFailure::TimedOut { .. } => "READ_BACK TIMED_OUT".to_owned(),
            ReadbackFailure::Mismatch { .. } => "READ_BACK PAYLOAD_MISMATCH".to_owned(),
        }
    }

    /// Send → acknowledgement, if the append was acknowledged.
    fn ack(&self) -> Option<Duration> {
        match self {
            ReadbackFailure::Append(_) | ReadbackFailure::AppendCount { .. } => None,
            ReadbackFailure::Read { ack, .. }
            | ReadbackFailure::TimedOut { ack, .. }
            | ReadbackFailure::Mismatch { ack, .. } => Some(*ack),
        }
    }
}

/// The payload of record `index` of a run: the index, then filler derived from it, so a record
/// that comes back can be checked byte for byte without keeping what was sent.
fn payload(index: u64, payload_bytes: usize) -> Vec<u8> {
    let head = index.to_le_bytes();
    let mut payload = Vec::with_capacity(payload_bytes);
    payload.extend_from_slice(&head[..head.len().min(payload_bytes)]);
    // 251 is prime: neighbouring indexes get different filler.
    let filler = (index % 251) as u8;
    payload.resize(payload_bytes, filler);
    payload
}

/// Everything a writer needs.
struct Writer {
    log: KafkaLog,
    topic: String,
    partition: u32,
    payload_bytes: usize,
    timeout: Duration,
}

impl Writer {
    /// Appends records `first_index..first_index + count` to the partition and reads them back.
    async fn append_and_read_back(
        &self,
        first_index: u64,
        count: u64,
    ) -> Result<Timings, ReadbackFailure> {
        let records: Vec<Record> = (first_index..first_index + count)
            .map(|index| Record {
                partition: self.partition,
                key: RECORD_KEY.to_vec(),
                payload: payload(index, self.payload_bytes),
            })
            .collect();
        let expected = records.len();
        let sent = Instant::now();
        let appended = self
            .log
            .append(&self.topic, records)
            .await
            .map_err(ReadbackFailure::Append)?;
        let ack = sent.elapsed();
        if appended.len() != expected {
            return Err(ReadbackFailure::AppendCount {
                sent: expected,
                acknowledged: appended.len(),
            });
        }
        // Increasing within the partition (EventLog::append), so sorted for the search below.
        let offsets: Vec<u64> = appended.iter().map(|a| a.offset).collect();
        let deadline = sent + self.timeout;
        let Some(&first_offset) = offsets.first() else {
            // Nothing was sent, so nothing is awaited.
            return Ok(Timings {
                ack,
                read_back: ack,
            });
        };
        let mut from = first_offset;
        let mut seen = 0;
        while seen < expected {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(ReadbackFailure::TimedOut {
                    ack,
                    seen,
                    expected,
                    timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
                });
            }
            let wait_ms = u64::try_from(remaining.as_millis())
                .unwrap_or(u64::MAX)
                .max(1);
            let read = self
                .log
                .read(&self.topic, self.partition, from, MAX_READ_RECORDS, wait_ms)
                .await
                .map_err(|source| ReadbackFailure::Read {
                    ack,
                    seen,
                    expected,
                    source,
                })?;
            for record in read {
                from = record.offset + 1;
                // Other writers' records of the partition are passed over.
                let Ok(position) = offsets.binary_search(&record.offset) else {
                    continue;
                };
                if record.payload != payload(first_index + position as u64, self.payload_bytes) {
                    return Err(ReadbackFailure::Mismatch {
                        ack,
                        offset: record.offset,
                    });
                }
                seen += 1;
            }
        }
        Ok(Timings {
            ack,
            read_back: sent.elapsed(),
        })
    }

    /// Appends and reads back batches of `batch_size` until `work` is done.
    async fn run(self, work: Arc<Work>, batch_size: u64) -> ReadbackTally {
        let mut tally = ReadbackTally::new();
        while let Some((first_index, count)) = work.claim(batch_size) {
            let outcome = self.append_and_read_back(first_index, count).await;
            tally.record(count, outcome);
        }
        tally
    }
}

/// Runs the log-readback benchmark `args` describes. Fails only if the client, the topic or the
/// warm-up fails; failed appends of the measured run are counted.
pub(crate) async fn run(args: ReadbackArgs) -> Result<ReadbackReport, BenchError> {
    let run_id = uuid::Uuid::now_v7().to_string();
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    let settings = KafkaSettings {
        replication_factor: args.replication_factor,
        transactions: args.transactions,
        fetch_wait_max_ms: args.fetch_wait_max_ms,
        client_id: CLIENT_ID.to_owned(),
        // Nothing else is written to the run's topic; the services' settings otherwise.
        ..KafkaSettings::new(args.brokers.clone())
    };
    let log = KafkaLog::new(settings).map_err(|source| BenchError::Log {
        what: "creating the Kafka clients",
        source,
    })?;
    // Fresh per run, so a run never reads another's records and offsets start at 0.
    let topic = format!("purse-bench.readback.{run_id}");
    eprintln!(
        "log-readback: creating topic {topic} with {} partitions",
        args.partitions
    );
    log.create_topic(&topic, args.partitions)
        .await
        .map_err(|source| BenchError::Log {
            what: "creating the topic",
            source,
        })?;
    let writer = |partition| Writer {
        log: log.clone(),
        topic: topic.clone(),
        partition,
        payload_bytes: args.payload_bytes as usize,
        timeout: Duration::from_millis(args.timeout_ms),
    };

    // The first append creates the producer and the first read a reader client and its
    // connection: seconds that say nothing about the log, so they are not measured. Warm-up
    // records take indexes past any the run uses.
    eprintln!("log-readback: warming up each partition");
    for partition in 0..args.partitions {
        writer(partition)
            .append_and_read_back(u64::MAX - u64::from(partition), 1)
            .await
            .map_err(|failure| BenchError::WarmUp {
                partition,
                failure: failure.to_string(),
            })?;
    }

    let writers = args.partitions * args.writers_per_partition;
    eprintln!(
        "log-readback: {writers} writers, {} per partition, batches of {}",
        args.writers_per_partition, args.batch_size
    );
    let started = Instant::now();
    let work = Arc::new(Work::new(args.budget(), started));
    let mut tasks = JoinSet::new();
    for index in 0..writers {
        let (writer, work) = (writer(index % args.partitions), work.clone());
        let batch_size = u64::from(args.batch_size);
        tasks.spawn(async move { Ok(writer.run(work, batch_size).await) });
    }
    let tallies = join_all(tasks).await?;
    let elapsed = started.elapsed();
    let mut tally = ReadbackTally::new();
    for one in tallies {
        tally.merge(one);
    }
    Ok(ReadbackReport {
        run_id,
        nproc,
        args,
        topic,
        tally,
        elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_their_index_and_differ() {
        let a = payload(7, 256);
        assert_eq!(a.len(), 256);
        assert_eq!(&a[..8], &7u64.to_le_bytes());
        assert_ne!(a, payload(8, 256));
        assert_eq!(payload(7, 256), a, "deterministic");
        // Shorter than the index: a prefix of it.
        assert_eq!(payload(0x0102, 1), vec![0x02]);
    }

    #[test]
    fn outcomes_are_counted_per_record_and_latency_per_append() {
        let mut tally = ReadbackTally::new();
        tally.record(
            4,
            Ok(Timings {
                ack: Duration::from_millis(2),
                read_back: Duration::from_millis(5),
            }),
        );
        tally.record(
            4,
            Err(ReadbackFailure::TimedOut {
                ack: Duration::from_millis(3),
                seen: 1,
                expected: 4,
                timeout_ms: 100,
            }),
        );
        tally.record(
            2,
            Err(ReadbackFailure::Append(LogError::Ambiguous {
                reason: purse_log::AmbiguousReason::TimedOut { waited_ms: 30_000 },
            })),
        );
        assert_eq!(tally.appends.calls, 3);
        assert_eq!(tally.appends.ok, 4);
        assert_eq!(tally.appends.failed(), 6);
        assert_eq!(tally.appends.failures["READ_BACK TIMED_OUT"].count, 4);
        assert_eq!(tally.appends.failures["APPEND AMBIGUOUS"].count, 2);
        assert_eq!(
            tally.appends.failures["READ_BACK TIMED_OUT"].example,
            "1 of 4 records came back within 100 ms"
        );
        // Read-back latency of whole appends only; acknowledgements of every acknowledged one.
        assert_eq!(tally.appends.latency_us.len(), 1);
        assert_eq!(tally.ack_us.len(), 2);
        let mut total = ReadbackTally::new();
        total.merge(tally.clone());
        total.merge(tally);
        assert_eq!(total.appends.calls, 6);
        assert_eq!(total.ack_us.len(), 4);
    }
}
