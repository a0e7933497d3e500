//! librdkafka callbacks: its logs and errors go to `tracing`, and a group member's rebalances
//! become [`GroupEvent`]s.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use purse_log::{GroupEvent, StoredRecord, TopicPartition};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;

fn log_line(level: RDKafkaLogLevel, facility: &str, message: &str) {
    match level {
        // librdkafka's errors are about connections and requests it retries; they do not by
        // themselves put data at risk (those surface as errors of our calls), hence WARN.
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error
        | RDKafkaLogLevel::Warning => {
            tracing::warn!(target: "librdkafka", facility, "{message}");
        }
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(target: "librdkafka", facility, "{message}");
        }
        RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
    }
}

fn client_error(error: &KafkaError, reason: &str) {
    // "All brokers down" and lost connections are normal while a broker restarts: librdkafka
    // reconnects on its own. Our calls report what actually failed.
    tracing::warn!(target: "librdkafka", %error, reason, "Kafka client error");
}

/// Context of every client except group members: logs to `tracing`.
#[derive(Clone, Debug, Default)]
pub(crate) struct LogContext;

impl ClientContext for LogContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_line(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        client_error(&error, reason);
    }
}

impl ConsumerContext for LogContext {}

/// What a group member's rebalance callback tells its [`GroupConsumer`](purse_log::GroupConsumer).
#[derive(Debug, Default)]
pub(crate) struct Membership {
    /// Assignment changes not yet returned by `poll`, oldest first.
    pub(crate) events: VecDeque<GroupEvent>,
    /// Partitions librdkafka currently has assigned to this member: updated inside the
    /// rebalance callback, so a partition is gone from here before any other member can get it.
    pub(crate) owned: BTreeSet<TopicPartition>,
    /// Records received but not yet returned, per owned partition, in offset order. A revoked
    /// partition's are dropped in the callback, so none of them can follow the revocation, and
    /// records of a later re-assignment are never confused with them.
    pub(crate) pending: BTreeMap<TopicPartition, VecDeque<StoredRecord>>,
    /// Records in `pending`, all partitions together.
    pub(crate) pending_total: usize,
    /// Partitions whose fetching is paused because their pending records reached the bound.
    pub(crate) paused: BTreeSet<TopicPartition>,
    /// Per owned partition, the offset the next record must be at or after: the start we gave
    /// librdkafka at assignment, then the offset after the last record received. A record below
    /// it (delivered again by librdkafka) is not received twice in one assignment.
    pub(crate) next_offsets: BTreeMap<TopicPartition, u64>,
}

impl Membership {
    /// Forgets a partition's pending records (and pause) when it is revoked; true if it was
    /// paused.
    fn forget(&mut self, partition: &TopicPartition) -> bool {
        if let Some(records) = self.pending.remove(partition) {
            self.pending_total -= records.len();
        }
        self.next_offsets.remove(partition);
        self.paused.remove(partition)
    }
}

/// Context of a group member: queues its assignment changes for `poll`.
#[derive(Clone, Debug)]
pub(crate) struct GroupContext {
    membership: Arc<Mutex<Membership>>,
    /// Bound on the committed-offset and watermark lookups made when partitions are assigned.
    request_timeout: Duration,
}

impl GroupContext {
    pub(crate) fn new(request_timeout: Duration) -> Self {
        Self {
            membership: Arc::default(),
            request_timeout,
        }
    }

    /// The membership state shared with the consumer's owner.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Membership> {
        // The state is a queue, maps and sets, each updated in one step: consistent even after
        // a panic elsewhere.
        self.membership
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Where each newly assigned partition starts: its committed offset, or (none committed)
    /// its first offset. Given to librdkafka explicitly, so it starts fetching exactly there.
    ///
    /// Left to itself (offset "stored"), librdkafka may start fetching a partition this member
    /// owned before from where it stopped then, and restart from the committed offset once its
    /// lookup returns: the same records twice, or records skipped (seen with nisshi after a
    /// revoke and re-assign). Blocking: the member polls on the blocking pool.
    fn start_offsets(
        &self,
        consumer: &BaseConsumer<Self>,
        assigned: &TopicPartitionList,
    ) -> TopicPartitionList {
        let mut starts = assigned.clone();
        // One bound for all lookups together: the callback holds up this member's poll.
        let deadline = std::time::Instant::now() + self.request_timeout;
        let committed = match consumer.committed_offsets(assigned.clone(), self.request_timeout) {
            Ok(committed) => committed,
            Err(error) => {
                // librdkafka then looks the offsets up itself.
                tracing::warn!(%error, "reading committed offsets of assigned partitions failed");
                return starts;
            }
        };
        for element in committed.elements() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let start = match element.offset() {
                // A partition-level error (an offset commit still pending in a transaction, say):
                // librdkafka looks this one up itself, waiting as it must.
                _ if element.error().is_err() => None,
                Offset::Offset(offset) if offset >= 0 => Some(offset),
                // Out of time: librdkafka looks this one up itself.
                _ if left.is_zero() => None,
                _ => match consumer.fetch_watermarks(element.topic(), element.partition(), left) {
                    Ok((low, _)) => Some(low),
                    Err(error) => {
                        tracing::warn!(
                            %error,
                            topic = element.topic(),
                            partition = element.partition(),
                            "reading the first offset of an assigned partition failed"
                        );
                        None
                    }
                },
            };
            if let Some(start) = start
                && let Err(error) = starts.set_partition_offset(
                    element.topic(),
                    element.partition(),
                    Offset::Offset(start),
                )
            {
                tracing::warn!(%error, "setting a start offset failed");
            }
        }
        starts
    }
}

fn partitions_of(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements()
        .iter()
        .filter_map(|element| {
            u32::try_from(element.partition())
                .ok()
                .map(|partition| TopicPartition::new(element.topic(), partition))
        })
        .collect()
}

impl ClientContext for GroupContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_line(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        client_error(&error, reason);
    }
}

impl ConsumerContext for GroupContext {
    /// Runs inside the member's poll (librdkafka serves rebalances on the polling thread, here a
    /// blocking-pool thread).
    ///
    /// Revocation is recorded (and queued for `poll`) before the partitions are unassigned:
    /// librdkafka rejoins the group, and so lets the partitions go to another member, only after
    /// this callback returns, so this member always learns of the loss first. Assignment is
    /// recorded after librdkafka accepted it, with explicit start offsets.
    fn rebalance(
        &self,
        base_consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        tracing::debug!(?err, partitions = ?partitions_of(tpl), "rebalance");
        let cooperative = matches!(
            base_consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
            let starts = if tpl.count() > 0 {
                self.start_offsets(base_consumer, tpl)
            } else {
                tpl.clone()
            };
            let result: KafkaResult<()> = if cooperative {
                base_consumer.incremental_assign(&starts)
            } else {
                base_consumer.assign(&starts)
            };
            match result {
                Ok(()) => {
                    let mut membership = self.lock();
                    let mut gained = Vec::new();
                    for element in starts.elements() {
                        let Ok(partition) = u32::try_from(element.partition()) else {
                            continue;
                        };
                        let partition = TopicPartition::new(element.topic(), partition);
                        if !membership.owned.insert(partition.clone()) {
                            continue;
                        }
                        match element.offset() {
                            Offset::Offset(start) if start >= 0 => {
                                // Known non-negative.
                                membership
                                    .next_offsets
                                    .insert(partition.clone(), start as u64);
                            }
                            _ => {
                                membership.next_offsets.remove(&partition);
                            }
                        }
                        gained.push(partition);
                    }
                    if !gained.is_empty() {
                        membership.events.push_back(GroupEvent::Assigned(gained));
                    }
                }
                // librdkafka rejects an assignment only when the member's state changed under it
                // (it is closing, say): the partitions are not ours.
                Err(error) => tracing::warn!(%error, "assigning partitions failed"),
            }
            return;
        }
        if err != RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS {
            // librdkafka then wants the listed partitions dropped, as for a revocation.
            tracing::warn!(error = ?err, "consumer group rebalance error");
        }
        {
            let mut membership = self.lock();
            let lost: Vec<TopicPartition> = partitions_of(tpl)
                .into_iter()
                .filter(|partition| membership.owned.remove(partition))
                .collect();
            let mut paused = TopicPartitionList::new();
            for partition in &lost {
                if membership.forget(partition) {
                    // Partitions come from librdkafka's assignment, so they fit an i32.
                    paused.add_partition(&partition.topic, partition.partition as i32);
                }
            }
            // A pause we set outlives the assignment in librdkafka: lift it, so the partition
            // fetches if it comes back.
            if paused.count() > 0
                && let Err(error) = base_consumer.resume(&paused)
            {
                tracing::warn!(%error, "resuming revoked partitions failed");
            }
            if !lost.is_empty() {
                membership.events.push_back(GroupEvent::Revoked(lost));
            }
        }
        if base_consumer.assignment_lost() {
            tracing::warn!(
                partitions = tpl.count(),
                "consumer group assignment lost (session timed out or member fenced)"
            );
        }
        let result: KafkaResult<()> = if cooperative {
            base_consumer.incremental_unassign(tpl)
        } else {
            base_consumer.unassign()
        };
        if let Err(error) = result {
            tracing::warn!(%error, "unassigning revoked partitions failed");
        }
    }
}
