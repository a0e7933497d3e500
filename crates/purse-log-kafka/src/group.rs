//! Consumer group members: cooperative-sticky rebalancing, assignment changes as events, and
//! synchronous commits of owned partitions only.

use std::sync::Arc;
use std::time::Duration;

use purse_log::{GroupConsumer, GroupEvent, LogError, MAX_READ_RECORDS, TopicPartition};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tokio::time::Instant;

use crate::blocking::{self, Offloaded};
use crate::context::GroupContext;
use crate::error::{KafkaLogError, is_timeout, is_transient_consume_error};
use crate::read::stored;

/// A group member's librdkafka consumer.
pub(crate) type MemberConsumer = BaseConsumer<GroupContext>;

/// Records a partition may have waiting in a member before its fetching is paused: one full
/// poll's worth, so a member polled with a small `max_records` (or 0) cannot buffer without
/// bound.
const PENDING_PER_PARTITION_MAX: usize = MAX_READ_RECORDS;

/// Longest single wait of one blocking poll: a long `wait_ms` is served in slices, so a
/// cancelled `poll` leaves at most this much work behind on the blocking pool.
const POLL_SLICE_MS: u64 = 500;

/// A member of a Kafka consumer group, from [`KafkaLog::subscribe`](crate::KafkaLog).
///
/// librdkafka's consumer is polled on the blocking pool, where it also runs the rebalance
/// callback. A revocation is recorded there (the partitions' buffered records dropped, commits
/// to them refused) before librdkafka lets the partitions go, and `poll` returns it before
/// anything else. `poll` is cancel-safe: what a cancelled poll received is kept for the next.
/// Dropping the member leaves the group (closing the consumer off the async threads).
pub struct KafkaGroupConsumer {
    group: String,
    consumer: Option<Arc<Offloaded<MemberConsumer>>>,
    context: GroupContext,
    /// Where the next batch is taken among partitions with pending records, so one busy
    /// partition cannot starve the others.
    cursor: usize,
    request_timeout: Duration,
    /// Bound on `leave`.
    leave_timeout: Duration,
}

impl std::fmt::Debug for KafkaGroupConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaGroupConsumer")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// Keeps a received record for a later batch, if its partition is still owned and the record is
/// new in this assignment. Runs on the polling thread, in delivery order, so a record is judged
/// against the assignment as it was when librdkafka delivered it.
fn stash(context: &GroupContext, consumer: &MemberConsumer, message: &BorrowedMessage<'_>) {
    let Ok(partition) = u32::try_from(message.partition()) else {
        return;
    };
    let partition = TopicPartition::new(message.topic(), partition);
    let Some(record) = stored(message) else {
        return;
    };
    let mut membership = context.lock();
    // Revoked since librdkafka fetched it: not ours to process.
    if !membership.owned.contains(&partition) {
        return;
    }
    if membership
        .next_offsets
        .get(&partition)
        .is_some_and(|next| record.offset < *next)
    {
        tracing::warn!(
            ?partition,
            offset = record.offset,
            "dropping a record before the assignment's position (delivered again)"
        );
        return;
    }
    membership
        .next_offsets
        .insert(partition.clone(), record.offset + 1);
    let queue = membership.pending.entry(partition.clone()).or_default();
    queue.push_back(record);
    let full = queue.len() >= PENDING_PER_PARTITION_MAX;
    membership.pending_total += 1;
    if full && membership.paused.insert(partition.clone()) {
        let mut list = TopicPartitionList::with_capacity(1);
        // Partitions come from librdkafka's assignment, so they fit an i32.
        list.add_partition(&partition.topic, partition.partition as i32);
        if let Err(error) = consumer.pause(&list) {
            tracing::warn!(%error, ?partition, "pausing a full partition failed");
        }
    }
}

/// Polls librdkafka once (waiting up to `wait`), then takes what else is already fetched, up to
/// `max_records`, stopping at an assignment change. Blocking.
fn poll_blocking(
    consumer: &MemberConsumer,
    context: &GroupContext,
    wait: Duration,
    max_records: usize,
) -> Result<(), KafkaError> {
    let mut timeout = wait;
    for _ in 0..max_records.max(1) {
        match consumer.poll(timeout) {
            // Nothing, or a rebalance was served (the callback queued its event).
            None => break,
            Some(Ok(message)) => stash(context, consumer, &message),
            Some(Err(error)) if is_transient_consume_error(&error) => {
                tracing::debug!(%error, "transient consumer error");
            }
            Some(Err(error)) => return Err(error),
        }
        if !context.lock().events.is_empty() {
            break;
        }
        timeout = Duration::ZERO;
    }
    Ok(())
}

impl KafkaGroupConsumer {
    pub(crate) fn new(
        group: &str,
        consumer: MemberConsumer,
        context: GroupContext,
        request_timeout: Duration,
        leave_timeout: Duration,
    ) -> Self {
        Self {
            group: group.to_owned(),
            consumer: Some(Arc::new(Offloaded::new(consumer))),
            context,
            cursor: 0,
            request_timeout,
            leave_timeout,
        }
    }

    fn consumer(&self) -> Result<Arc<Offloaded<MemberConsumer>>, LogError> {
        self.consumer
            .as_ref()
            .map(Arc::clone)
            .ok_or(LogError::Closed)
    }

    /// The oldest assignment change not yet returned.
    fn next_event(&self) -> Option<GroupEvent> {
        self.context.lock().events.pop_front()
    }

    /// A batch of pending records from the next partition (round robin) that has any.
    fn take_batch(&mut self, consumer: &MemberConsumer, max_records: usize) -> Option<GroupEvent> {
        let mut membership = self.context.lock();
        let ready: Vec<TopicPartition> = membership
            .pending
            .iter()
            .filter(|(_, records)| !records.is_empty())
            .map(|(partition, _)| partition.clone())
            .collect();
        if ready.is_empty() {
            return None;
        }
        let partition = ready[self.cursor % ready.len()].clone();
        self.cursor = self.cursor.wrapping_add(1);
        let queue = membership.pending.get_mut(&partition)?;
        let count = queue.len().min(max_records);
        let records: Vec<_> = queue.drain(..count).collect();
        if queue.is_empty() {
            membership.pending.remove(&partition);
        }
        membership.pending_total -= records.len();
        if membership.paused.remove(&partition) {
            let mut list = TopicPartitionList::with_capacity(1);
            // Partitions come from librdkafka's assignment, so they fit an i32.
            list.add_partition(&partition.topic, partition.partition as i32);
            if let Err(error) = consumer.resume(&list) {
                tracing::warn!(%error, ?partition, "resuming a drained partition failed");
            }
        }
        Some(GroupEvent::Records { partition, records })
    }
}

#[async_trait::async_trait]
impl GroupConsumer for KafkaGroupConsumer {
    async fn poll(
        &mut self,
        max_records: usize,
        wait_ms: u64,
    ) -> Result<Option<GroupEvent>, LogError> {
        let max_records = max_records.min(MAX_READ_RECORDS);
        let deadline = Instant::now() + Duration::from_millis(wait_ms);
        let consumer = self.consumer()?;
        let mut polled = false;
        loop {
            // Assignment changes first: a revocation must reach the caller before anything else.
            if let Some(event) = self.next_event() {
                tracing::debug!(group = %self.group, ?event, "group event");
                return Ok(Some(event));
            }
            if max_records > 0
                && let Some(batch) = self.take_batch(&consumer, max_records)
            {
                return Ok(Some(batch));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            // At least one poll, even with nothing to wait: it serves pending rebalances.
            if polled && left.is_zero() {
                return Ok(None);
            }
            polled = true;
            let wait = left.min(Duration::from_millis(POLL_SLICE_MS));
            let (member, context) = (Arc::clone(&consumer), self.context.clone());
            blocking::run(move || poll_blocking(&member, &context, wait, max_records))
                .await?
                .map_err(|source| {
                    KafkaLogError::Group {
                        group: self.group.clone(),
                        source,
                    }
                    .definite()
                })?;
        }
    }

    async fn commit(
        &mut self,
        topic: &str,
        partition: u32,
        next_offset: u64,
    ) -> Result<(), LogError> {
        let owned = TopicPartition::new(topic, partition);
        if !self.context.lock().owned.contains(&owned) {
            return Err(LogError::NotAssigned {
                topic: topic.to_owned(),
                partition,
            });
        }
        let offset = i64::try_from(next_offset).map_err(|_| LogError::OffsetOutOfRange {
            offset: next_offset,
        })?;
        let mut offsets = TopicPartitionList::with_capacity(1);
        let commit_error = |source| KafkaLogError::Commit {
            group: self.group.clone(),
            topic: topic.to_owned(),
            partition,
            next_offset,
            source,
        };
        // Owned partitions come from librdkafka's assignment, so they fit an i32.
        offsets
            .add_partition_offset(topic, partition as i32, Offset::Offset(offset))
            .map_err(|source| commit_error(source).definite())?;
        let consumer = self.consumer()?;
        let bound = self.request_timeout * 2;
        let committed = tokio::time::timeout(
            bound,
            blocking::run(move || consumer.commit(&offsets, CommitMode::Sync)),
        )
        .await;
        match committed {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(source))) if is_timeout(&source) || commit_in_doubt(&source) => {
                Err(commit_error(source).ambiguous())
            }
            // The coordinator refused it (rebalance in progress, member no longer in the
            // group): not stored.
            Ok(Ok(Err(source))) => Err(commit_error(source).definite()),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(KafkaLogError::TimedOut {
                waited_ms: u64::try_from(bound.as_millis()).unwrap_or(u64::MAX),
            }
            .ambiguous()),
        }
    }

    async fn leave(mut self: Box<Self>) -> Result<(), LogError> {
        let Some(consumer) = self.consumer.take() else {
            return Ok(());
        };
        // Closing sends LeaveGroup (after the final revocation), so the partitions move at once
        // rather than after a session timeout. It blocks: off the async threads, bounded.
        let closed = tokio::time::timeout(
            self.leave_timeout,
            blocking::run(move || {
                // A poll cancelled just before may still hold a reference for a moment; then the
                // last holder closes it (off the async threads too).
                if let Ok(consumer) = Arc::try_unwrap(consumer) {
                    // Dropping a group consumer closes it, waiting for the close.
                    drop(consumer.into_inner());
                }
            }),
        )
        .await;
        match closed {
            Ok(result) => result,
            Err(_) => Err(KafkaLogError::LeaveTimedOut {
                group: self.group.clone(),
                waited_ms: u64::try_from(self.leave_timeout.as_millis()).unwrap_or(u64::MAX),
            }
            .definite()),
        }
    }
}

/// Commit failures after which the commit may have been stored.
fn commit_in_doubt(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::NetworkException
        )
    )
}
