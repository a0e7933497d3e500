//! Appends: the idempotent producer, and per-partition transactional producers.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use purse_log::{AmbiguousReason, AppendedRecord, LogError, Record};
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};

use crate::blocking::{self, Offloaded};
use crate::config::{self, ClientRole};
use crate::context::LogContext;
use crate::error::{
    KafkaLogError, TransactionStep, delivery_certainly_failed, is_fatal, is_fenced, is_timeout,
};
use crate::settings::KafkaSettings;

/// A producer shared by concurrent appends; destroyed off the async threads when the last
/// append holding it finishes.
type SharedProducer = Arc<Offloaded<FutureProducer<LogContext>>>;

/// Extra time our own deadline on an append allows beyond librdkafka's `message.timeout.ms`,
/// which normally fires first (with a precise error).
const DEADLINE_MARGIN_MS: u64 = 5_000;

/// The outcome of one record.
type Outcome = Result<u64, KafkaLogError>;

/// Hands every record to the producer and collects each one's outcome, in input order.
///
/// A record librdkafka refuses to enqueue (queue full) ends the append there: the records after
/// it are reported as not sent, with the same error.
async fn produce_all(
    producer: &FutureProducer<LogContext>,
    topic: &str,
    records: &[Record],
    deadline_ms: u64,
) -> Result<Vec<Outcome>, KafkaLogError> {
    let mut deliveries: Vec<(u32, DeliveryFuture)> = Vec::with_capacity(records.len());
    let mut refused: Option<KafkaError> = None;
    for record in records {
        // Partitions were checked against the topic (and MAX_PARTITIONS) before producing.
        let message = FutureRecord::to(topic)
            .partition(record.partition as i32)
            .key(record.key.as_slice())
            .payload(record.payload.as_slice());
        match producer.send_result(message) {
            Ok(delivery) => deliveries.push((record.partition, delivery)),
            Err((error, _)) => {
                refused = Some(error);
                break;
            }
        }
    }
    let collect = async {
        let mut outcomes = Vec::with_capacity(records.len());
        for (partition, delivery) in deliveries {
            outcomes.push(match delivery.await {
                Ok(Ok(delivered)) => {
                    u64::try_from(delivered.offset).map_err(|_| KafkaLogError::Produce {
                        topic: topic.to_owned(),
                        partition,
                        source: KafkaError::MessageProduction(
                            rdkafka::error::RDKafkaErrorCode::InvalidArgument,
                        ),
                    })
                }
                Ok(Err((source, _))) => Err(KafkaLogError::Produce {
                    topic: topic.to_owned(),
                    partition,
                    source,
                }),
                Err(_) => Err(KafkaLogError::DeliveryLost {
                    topic: topic.to_owned(),
                    partition,
                }),
            });
        }
        outcomes
    };
    let mut outcomes = tokio::time::timeout(Duration::from_millis(deadline_ms), collect)
        .await
        .map_err(|_| KafkaLogError::TimedOut {
            waited_ms: deadline_ms,
        })?;
    if let Some(error) = refused {
        for record in &records[outcomes.len()..] {
            outcomes.push(Err(KafkaLogError::Produce {
                topic: topic.to_owned(),
                partition: record.partition,
                source: error.clone(),
            }));
        }
    }
    Ok(outcomes)
}

/// True if this record failure leaves the record certainly unwritten.
fn certainly_unwritten(error: &KafkaLogError) -> bool {
    match error {
        KafkaLogError::Produce { source, .. } => delivery_certainly_failed(source),
        _ => false,
    }
}

/// How one append's record outcomes add up.
enum Verdict {
    /// Every record was acknowledged.
    Written(Vec<u64>),
    /// No record was written.
    NotWritten(KafkaLogError),
    /// Some records may have been written (some are, or an outcome is unknown).
    Unknown {
        error: KafkaLogError,
        /// Whether an outcome itself is unknown (rather than a known partial write): the
        /// producer must then be dropped.
        in_doubt: bool,
    },
}

fn judge(topic: &str, outcomes: Vec<Outcome>) -> Verdict {
    let total = outcomes.len();
    let acknowledged = outcomes.iter().filter(|o| o.is_ok()).count();
    if acknowledged == total {
        return Verdict::Written(outcomes.into_iter().filter_map(Result::ok).collect());
    }
    let in_doubt = outcomes
        .iter()
        .any(|o| o.as_ref().is_err_and(|e| !certainly_unwritten(e)));
    // The most telling failure: an unknown outcome over a certain one.
    let mut failures: Vec<KafkaLogError> = outcomes.into_iter().filter_map(Result::err).collect();
    let position = failures
        .iter()
        .position(|e| !certainly_unwritten(e))
        .unwrap_or(0);
    let first = failures.swap_remove(position);
    if in_doubt {
        return Verdict::Unknown {
            error: first,
            in_doubt: true,
        };
    }
    if acknowledged == 0 {
        return Verdict::NotWritten(first);
    }
    let first_failure = match first {
        KafkaLogError::Produce { source, .. } => source,
        // Only `Produce` errors are certain failures.
        _ => KafkaError::MessageProduction(rdkafka::error::RDKafkaErrorCode::Fail),
    };
    Verdict::Unknown {
        error: KafkaLogError::PartialAppend {
            topic: topic.to_owned(),
            acknowledged,
            total,
            first_failure,
        },
        in_doubt: false,
    }
}

/// The ambiguous error for an unknown outcome: a timeout says so, anything else carries the
/// client error.
fn ambiguous(error: KafkaLogError, message_timeout_ms: u64) -> LogError {
    match &error {
        KafkaLogError::Produce { source, .. } if is_timeout(source) => LogError::Ambiguous {
            reason: AmbiguousReason::TimedOut {
                waited_ms: message_timeout_ms,
            },
        },
        KafkaLogError::TimedOut { waited_ms } => LogError::Ambiguous {
            reason: AmbiguousReason::TimedOut {
                waited_ms: *waited_ms,
            },
        },
        _ => error.ambiguous(),
    }
}

fn appended(records: &[Record], offsets: Vec<u64>) -> Vec<AppendedRecord> {
    records
        .iter()
        .zip(offsets)
        .map(|(record, offset)| AppendedRecord {
            partition: record.partition,
            offset,
        })
        .collect()
}

fn create_producer(
    config: &rdkafka::ClientConfig,
    role: ClientRole,
) -> Result<SharedProducer, LogError> {
    FutureProducer::from_config_and_context(config, LogContext)
        .map(|producer| Arc::new(Offloaded::new(producer)))
        .map_err(|source| KafkaLogError::ClientCreation { role, source }.definite())
}

/// The idempotent producer of non-transactional appends, replaced after an ambiguous failure.
pub(crate) struct IdempotentProducer {
    settings: KafkaSettings,
    /// The current producer and its generation (so that a failure replaces only the producer it
    /// happened on, not a fresh one another append already created).
    current: Mutex<Option<(u64, SharedProducer)>>,
    next_generation: AtomicU64,
}

impl IdempotentProducer {
    pub(crate) fn new(settings: KafkaSettings) -> Self {
        Self {
            settings,
            current: Mutex::new(None),
            next_generation: AtomicU64::new(1),
        }
    }

    /// Producers created so far.
    pub(crate) fn created(&self) -> u64 {
        self.next_generation.load(Ordering::Relaxed) - 1
    }

    fn get(&self) -> Result<(u64, SharedProducer), LogError> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((generation, producer)) = current.as_ref() {
            return Ok((*generation, Arc::clone(producer)));
        }
        let producer = create_producer(&config::producer(&self.settings), ClientRole::Producer)?;
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        *current = Some((generation, Arc::clone(&producer)));
        Ok((generation, producer))
    }

    /// Drops the producer of `generation` (if still current): its in-flight records may yet
    /// land, and a fresh producer (new producer id) keeps them from landing after what the
    /// caller writes next (DESIGN.md §4: drop the producer, rewind, re-read).
    fn discard(&self, generation: u64) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.as_ref().is_some_and(|(g, _)| *g == generation) {
            tracing::warn!(
                generation,
                "dropping the Kafka producer after an ambiguous append"
            );
            // The last holder drops it off the async threads (`Offloaded`).
            *current = None;
        }
    }

    /// Appends `records` (partitions already checked).
    pub(crate) async fn append(
        &self,
        topic: &str,
        records: &[Record],
    ) -> Result<Vec<AppendedRecord>, LogError> {
        let (generation, producer) = self.get()?;
        let deadline_ms = self.settings.message_timeout_ms + DEADLINE_MARGIN_MS;
        let outcomes = match produce_all(&producer, topic, records, deadline_ms).await {
            Ok(outcomes) => outcomes,
            Err(error) => {
                self.discard(generation);
                return Err(ambiguous(error, self.settings.message_timeout_ms));
            }
        };
        match judge(topic, outcomes) {
            Verdict::Written(offsets) => Ok(appended(records, offsets)),
            Verdict::NotWritten(error) => Err(error.definite()),
            Verdict::Unknown { error, in_doubt } => {
                if in_doubt {
                    self.discard(generation);
                }
                Err(ambiguous(error, self.settings.message_timeout_ms))
            }
        }
    }
}

/// The transactional producer of one partition; `None` until first used and after it failed.
type TransactionalSlot = Arc<tokio::sync::Mutex<Option<SharedProducer>>>;

/// One transactional producer per written partition (`transactional.id` =
/// `{prefix}-{topic}-{partition}`), each running one transaction at a time.
pub(crate) struct TransactionalProducers {
    settings: KafkaSettings,
    slots: Mutex<HashMap<(String, u32), TransactionalSlot>>,
    /// Producers created (and initialised or not) so far.
    created: AtomicU64,
}

impl TransactionalProducers {
    pub(crate) fn new(settings: KafkaSettings) -> Self {
        Self {
            settings,
            slots: Mutex::new(HashMap::new()),
            created: AtomicU64::new(0),
        }
    }

    /// Producers created so far.
    pub(crate) fn created(&self) -> u64 {
        self.created.load(Ordering::Relaxed)
    }

    fn slot(&self, topic: &str, partition: u32) -> TransactionalSlot {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            slots
                .entry((topic.to_owned(), partition))
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(None))),
        )
    }

    /// The `transactional.id` of a partition.
    pub(crate) fn transactional_id(&self, topic: &str, partition: u32) -> String {
        format!(
            "{}-{topic}-{partition}",
            self.settings.transactional_id_prefix
        )
    }

    /// Appends `records` (partitions already checked): one transaction per partition, the
    /// partitions concurrently.
    pub(crate) async fn append(
        self: &Arc<Self>,
        topic: &str,
        records: Vec<Record>,
    ) -> Result<Vec<AppendedRecord>, LogError> {
        let mut by_partition: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (index, record) in records.iter().enumerate() {
            by_partition
                .entry(record.partition)
                .or_default()
                .push(index);
        }
        let records = Arc::new(records);
        // Spawned, not joined in place: a caller that gives up (drops this future) must not cut
        // a transaction between produce and commit. Each runs to its end on its own.
        let tasks: Vec<_> = by_partition
            .into_iter()
            .map(|(partition, indices)| {
                let this = Arc::clone(self);
                let records = Arc::clone(&records);
                let topic = topic.to_owned();
                tokio::spawn(async move {
                    let batch: Vec<Record> = indices.iter().map(|i| records[*i].clone()).collect();
                    let result = this.append_partition(&topic, partition, &batch).await;
                    (partition, indices, result)
                })
            })
            .collect();
        let mut offsets: Vec<Option<u64>> = vec![None; records.len()];
        let mut committed: Vec<u32> = Vec::new();
        let mut failures: Vec<(u32, LogError)> = Vec::new();
        for task in tasks {
            let (partition, indices, result) = match task.await {
                Ok(done) => done,
                Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                Err(_) => return Err(LogError::Closed),
            };
            match result {
                Ok(partition_offsets) => {
                    committed.push(partition);
                    for (index, offset) in indices.into_iter().zip(partition_offsets) {
                        offsets[index] = Some(offset);
                    }
                }
                Err(error) => failures.push((partition, error)),
            }
        }
        if failures.is_empty() {
            let offsets: Vec<u64> = offsets.into_iter().flatten().collect();
            return Ok(appended(&records, offsets));
        }
        failures.sort_by_key(|(partition, _)| *partition);
        // An unknown outcome anywhere makes the whole append unknown.
        if let Some(index) = failures.iter().position(|(_, e)| e.is_ambiguous()) {
            return Err(failures.swap_remove(index).1);
        }
        let (failed_partition, first) = failures.swap_remove(0);
        if committed.is_empty() {
            return Err(first);
        }
        committed.sort_unstable();
        tracing::warn!(
            topic,
            ?committed,
            failed_partition,
            error = %first,
            "a transactional append committed some partitions and not others"
        );
        Err(LogError::Ambiguous {
            reason: AmbiguousReason::Client(Box::new(first)),
        })
    }

    /// One transaction on one partition: begin → produce → commit.
    async fn append_partition(
        &self,
        topic: &str,
        partition: u32,
        records: &[Record],
    ) -> Result<Vec<u64>, LogError> {
        let transactional_id = self.transactional_id(topic, partition);
        let slot = self.slot(topic, partition);
        let mut held = slot.lock().await;
        let producer = match held.as_ref() {
            Some(producer) => Arc::clone(producer),
            None => {
                let producer = self.init(&transactional_id).await?;
                *held = Some(Arc::clone(&producer));
                producer
            }
        };
        let call_timeout = Duration::from_millis(self.settings.transaction_call_timeout_ms);

        let begun = {
            let producer = Arc::clone(&producer);
            blocking::run(move || producer.begin_transaction()).await?
        };
        if let Err(source) = begun {
            // Beginning is local: failing means the producer is in a bad state. Nothing sent.
            *held = None;
            return Err(
                transaction_error(&transactional_id, TransactionStep::Begin, source).definite(),
            );
        }

        let deadline_ms = self.settings.message_timeout_ms + DEADLINE_MARGIN_MS;
        let outcomes = match produce_all(&producer, topic, records, deadline_ms).await {
            Ok(outcomes) => outcomes,
            // Nothing is committed without our commit: aborting settles it.
            Err(error) => {
                let source = KafkaError::MessageProduction(
                    rdkafka::error::RDKafkaErrorCode::MessageTimedOut,
                );
                tracing::warn!(%error, transactional_id, "records not acknowledged in time");
                self.abort(&mut held, &producer, &transactional_id, call_timeout)
                    .await;
                return Err(KafkaLogError::TransactionAborted {
                    transactional_id,
                    step: TransactionStep::Produce,
                    source,
                }
                .definite());
            }
        };
        let mut offsets = Vec::with_capacity(outcomes.len());
        let mut failure: Option<KafkaError> = None;
        for outcome in outcomes {
            match outcome {
                Ok(offset) => offsets.push(offset),
                Err(error) => {
                    failure.get_or_insert(match error {
                        KafkaLogError::Produce { source, .. } => source,
                        _ => KafkaError::MessageProduction(
                            rdkafka::error::RDKafkaErrorCode::MessageTimedOut,
                        ),
                    });
                }
            }
        }
        if let Some(mut source) = failure {
            // A producer fenced by a successor fails fatally, and librdkafka reports the records
            // it still held as purged: the producer's fatal error says why (seen on Apache Kafka).
            if let Some((code, _reason)) = producer.client().fatal_error() {
                source = KafkaError::MessageProduction(code);
            }
            // Records of an open transaction are invisible to read_committed readers until the
            // commit, which we do not send: aborting makes the failure definite.
            self.abort(&mut held, &producer, &transactional_id, call_timeout)
                .await;
            if is_fenced(&source) || is_fatal(&source) {
                // A fenced (or otherwise fatally failed) producer cannot be used again.
                *held = None;
            }
            let error = if is_fenced(&source) {
                KafkaLogError::ProducerFenced {
                    transactional_id,
                    step: TransactionStep::Produce,
                    source,
                }
            } else {
                KafkaLogError::TransactionAborted {
                    transactional_id,
                    step: TransactionStep::Produce,
                    source,
                }
            };
            return Err(error.definite());
        }

        let committed = {
            let producer = Arc::clone(&producer);
            blocking::run(move || producer.commit_transaction(call_timeout)).await?
        };
        match committed {
            Ok(()) => Ok(offsets),
            Err(source) if requires_abort(&source) => {
                // The broker refused the commit: abort, and nothing of it is visible.
                self.abort(&mut held, &producer, &transactional_id, call_timeout)
                    .await;
                Err(KafkaLogError::TransactionAborted {
                    transactional_id,
                    step: TransactionStep::Commit,
                    source,
                }
                .definite())
            }
            Err(source) => {
                // Fenced, fatal, or retriable (timed out, coordinator unavailable): the commit
                // may have been applied by an earlier attempt librdkafka made, so the outcome
                // is unknown. The producer goes; a new one's init_transactions settles the
                // transaction (completing or aborting it) before the next append.
                *held = None;
                tracing::warn!(%source, transactional_id, "transaction commit outcome unknown");
                let error = if is_fenced(&source) {
                    KafkaLogError::ProducerFenced {
                        transactional_id,
                        step: TransactionStep::Commit,
                        source,
                    }
                } else {
                    KafkaLogError::Transaction {
                        transactional_id,
                        step: TransactionStep::Commit,
                        source,
                    }
                };
                Err(error.ambiguous())
            }
        }
    }

    /// Creates the producer of `transactional_id` and fences its predecessors.
    async fn init(&self, transactional_id: &str) -> Result<SharedProducer, LogError> {
        let producer = create_producer(
            &config::transactional_producer(&self.settings, transactional_id),
            ClientRole::TransactionalProducer,
        )?;
        self.created.fetch_add(1, Ordering::Relaxed);
        let call_timeout = Duration::from_millis(self.settings.transaction_call_timeout_ms);
        let initialised = {
            let producer = Arc::clone(&producer);
            blocking::run(move || producer.init_transactions(call_timeout)).await?
        };
        match initialised {
            Ok(()) => Ok(producer),
            // Nothing was produced: whatever failed (coordinator unavailable, timed out,
            // fenced by a newer instance), the append did not happen. The producer is dropped;
            // the next append tries afresh.
            Err(source) => {
                Err(transaction_error(transactional_id, TransactionStep::Init, source).definite())
            }
        }
    }

    /// Aborts the open transaction; if that fails, drops the producer (a new producer's
    /// init_transactions aborts the transaction for us).
    async fn abort(
        &self,
        held: &mut Option<SharedProducer>,
        producer: &SharedProducer,
        transactional_id: &str,
        call_timeout: Duration,
    ) {
        let aborted = {
            let producer = Arc::clone(producer);
            blocking::run(move || producer.abort_transaction(call_timeout)).await
        };
        match aborted {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, transactional_id, "abort failed; dropping the producer");
                *held = None;
            }
            Err(error) => {
                tracing::warn!(
                    %error,
                    transactional_id,
                    "abort did not run; dropping the producer"
                );
                *held = None;
            }
        }
    }
}

fn requires_abort(error: &KafkaError) -> bool {
    matches!(error, KafkaError::Transaction(e) if e.txn_requires_abort() && !e.is_fatal())
}

fn transaction_error(
    transactional_id: &str,
    step: TransactionStep,
    source: KafkaError,
) -> KafkaLogError {
    if is_fenced(&source) {
        KafkaLogError::ProducerFenced {
            transactional_id: transactional_id.to_owned(),
            step,
            source,
        }
    } else {
        KafkaLogError::Transaction {
            transactional_id: transactional_id.to_owned(),
            step,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::error::RDKafkaErrorCode;

    // An `Outcome` is what `produce_all` builds; its size does not matter in a test.
    #[allow(clippy::result_large_err)]
    fn failed(code: RDKafkaErrorCode) -> Outcome {
        Err(KafkaLogError::Produce {
            topic: "t".to_owned(),
            partition: 0,
            source: KafkaError::MessageProduction(code),
        })
    }

    #[test]
    fn all_acknowledged_is_written() {
        assert!(matches!(judge("t", vec![Ok(1), Ok(2)]), Verdict::Written(o) if o == vec![1, 2]));
    }

    #[test]
    fn certain_failures_of_every_record_write_nothing() {
        assert!(matches!(
            judge(
                "t",
                vec![
                    failed(RDKafkaErrorCode::MessageSizeTooLarge),
                    failed(RDKafkaErrorCode::QueueFull)
                ]
            ),
            Verdict::NotWritten(_)
        ));
    }

    #[test]
    fn a_partial_write_is_unknown_but_not_in_doubt() {
        match judge(
            "t",
            vec![Ok(1), failed(RDKafkaErrorCode::MessageSizeTooLarge)],
        ) {
            Verdict::Unknown {
                error:
                    KafkaLogError::PartialAppend {
                        acknowledged: 1,
                        total: 2,
                        ..
                    },
                in_doubt: false,
            } => {}
            _ => panic!("expected a known partial write"),
        }
    }

    #[test]
    fn a_timeout_is_in_doubt_and_reported_as_such() {
        match judge("t", vec![Ok(1), failed(RDKafkaErrorCode::MessageTimedOut)]) {
            Verdict::Unknown {
                error,
                in_doubt: true,
            } => {
                let error = ambiguous(error, 123);
                assert!(matches!(
                    error,
                    LogError::Ambiguous {
                        reason: AmbiguousReason::TimedOut { waited_ms: 123 }
                    }
                ));
            }
            _ => panic!("expected an unknown outcome"),
        }
    }
}
