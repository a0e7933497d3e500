//! Partition reads: a pool of reader consumers (one partition each, manually assigned, never
//! joining a group), kept between reads so that a reader following a partition's tail has the next
//! records fetched before it is asked for them.

use std::collections::HashMap;
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use purse_log::{LogError, StoredRecord};
use rdkafka::ClientConfig;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tokio::time::Instant;

use crate::blocking::{self, Offloaded, drop_off_runtime};
use crate::config::ClientRole;
use crate::context::LogContext;
use crate::error::{KafkaLogError, is_transient_consume_error};

/// A consumer of one partition.
pub(crate) type ReaderConsumer = StreamConsumer<LogContext>;

/// The record as stored, from a consumed message.
pub(crate) fn stored(message: &BorrowedMessage<'_>) -> Option<StoredRecord> {
    Some(StoredRecord {
        offset: u64::try_from(message.offset()).ok()?,
        key: message.key().map(<[u8]>::to_vec).unwrap_or_default(),
        payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        timestamp_ms: message.timestamp().to_millis().unwrap_or(0),
    })
}

/// Polls `consumer` once without waiting: a message already fetched, or `None`.
///
/// `recv` is cancel-safe, so dropping its future after one poll loses nothing.
pub(crate) fn try_recv<C>(
    consumer: &StreamConsumer<C>,
) -> Option<Result<BorrowedMessage<'_>, KafkaError>>
where
    C: rdkafka::consumer::ConsumerContext + 'static,
{
    let mut recv = pin!(consumer.recv());
    match recv.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(message) => Some(message),
        Poll::Pending => None,
    }
}

/// A reader and where it stands.
struct Reader {
    consumer: Arc<Offloaded<ReaderConsumer>>,
    /// The offset the consumer delivers next (the last delivered + 1), if known.
    next: Option<u64>,
    /// When it was last given back to the pool.
    idle_since: Instant,
}

type Key = (String, u32);

/// The pool's idle readers.
struct Idle {
    by_partition: HashMap<Key, Vec<Reader>>,
    /// When idle readers were last checked for expiry.
    swept_at: Instant,
}

/// How often the pool looks for readers idle beyond their timeout.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Idle readers by partition.
pub(crate) struct Readers {
    config: ClientConfig,
    idle: Mutex<Idle>,
    idle_per_partition_max: usize,
    idle_timeout: Duration,
    /// Bound on waiting for records known to exist (a fetch in progress).
    request_timeout: Duration,
}

impl Readers {
    pub(crate) fn new(
        config: ClientConfig,
        idle_per_partition_max: usize,
        idle_timeout: Duration,
        request_timeout: Duration,
    ) -> Self {
        Self {
            config,
            idle: Mutex::new(Idle {
                by_partition: HashMap::new(),
                // The first give-back sweeps.
                swept_at: Instant::now()
                    .checked_sub(SWEEP_INTERVAL)
                    .unwrap_or_else(Instant::now),
            }),
            idle_per_partition_max,
            idle_timeout,
            request_timeout,
        }
    }

    /// An idle reader of the partition, preferring one already positioned at `from`.
    fn take(&self, key: &Key, from: u64) -> Option<Reader> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let readers = idle.by_partition.get_mut(key)?;
        let index = readers
            .iter()
            .position(|r| r.next == Some(from))
            .unwrap_or(readers.len().checked_sub(1)?);
        Some(readers.swap_remove(index))
    }

    fn give_back(&self, key: Key, mut reader: Reader) {
        let now = Instant::now();
        reader.idle_since = now;
        let mut expired = Vec::new();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let readers = idle.by_partition.entry(key).or_default();
        if readers.len() < self.idle_per_partition_max {
            readers.push(reader);
        } else {
            expired.push(reader);
        }
        if now.duration_since(idle.swept_at) >= SWEEP_INTERVAL {
            idle.swept_at = now;
            let timeout = self.idle_timeout;
            for readers in idle.by_partition.values_mut() {
                let (keep, old): (Vec<Reader>, Vec<Reader>) = readers
                    .drain(..)
                    .partition(|r| now.duration_since(r.idle_since) < timeout);
                *readers = keep;
                expired.extend(old);
            }
            idle.by_partition.retain(|_, readers| !readers.is_empty());
        }
        drop(idle);
        // `Offloaded` closes the consumers off the async threads.
        drop(expired);
    }

    fn create(&self) -> Result<Reader, LogError> {
        let consumer = ReaderConsumer::from_config_and_context(&self.config, LogContext).map_err(
            |source| {
                KafkaLogError::ClientCreation {
                    role: ClientRole::Reader,
                    source,
                }
                .definite()
            },
        )?;
        Ok(Reader {
            consumer: Arc::new(Offloaded::new(consumer)),
            next: None,
            idle_since: Instant::now(),
        })
    }

    /// Records of `topic`/`partition` at offsets `>= from`, at most `max_records`, waiting up to
    /// `wait_ms` for the first (partition already checked; `max_records` already capped).
    pub(crate) async fn read(
        &self,
        topic: &str,
        partition: u32,
        from: u64,
        max_records: usize,
        wait_ms: u64,
    ) -> Result<Vec<StoredRecord>, LogError> {
        let key = (topic.to_owned(), partition);
        let reader = match self.take(&key, from) {
            Some(reader) => reader,
            None => self.create()?,
        };
        // Returned to the pool however this read ends, cancellation included: its position is
        // kept up to date message by message, so it is valid at every await.
        let mut lease = Lease {
            readers: self,
            key,
            reader: Some(reader),
        };
        let result = lease
            .reader_mut()
            .read(
                topic,
                partition,
                from,
                max_records,
                wait_ms,
                self.request_timeout,
            )
            .await;
        if result.is_err() {
            // Its state is unknown after an error: a fresh reader serves the next read.
            lease.discard();
        }
        result
    }
}

/// A reader taken from the pool for one read.
struct Lease<'a> {
    readers: &'a Readers,
    key: Key,
    reader: Option<Reader>,
}

impl Lease<'_> {
    fn reader_mut(&mut self) -> &mut Reader {
        self.reader
            .as_mut()
            .expect("a lease holds its reader until it is dropped or discarded")
    }

    fn discard(&mut self) {
        if let Some(reader) = self.reader.take() {
            drop_off_runtime(reader.consumer);
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.take() {
            self.readers.give_back(self.key.clone(), reader);
        }
    }
}

impl Reader {
    /// Points the consumer at `from` unless it is there already (a reader following the tail
    /// usually is, and keeps what it prefetched).
    fn position_at(&mut self, topic: &str, partition: u32, from: u64) -> Result<(), LogError> {
        if self.next == Some(from) {
            return Ok(());
        }
        let offset =
            i64::try_from(from).map_err(|_| LogError::OffsetOutOfRange { offset: from })?;
        let mut assignment = TopicPartitionList::with_capacity(1);
        // Partitions were checked against the topic, and MAX_PARTITIONS fits an i32.
        assignment
            .add_partition_offset(topic, partition as i32, Offset::Offset(offset))
            .and_then(|()| self.consumer.assign(&assignment))
            .map_err(|source| {
                KafkaLogError::Fetch {
                    topic: topic.to_owned(),
                    partition,
                    source,
                }
                .definite()
            })?;
        self.next = Some(from);
        Ok(())
    }

    /// Takes a delivered message: its record if it is at or after `from`.
    fn accept(&mut self, message: &BorrowedMessage<'_>, from: u64) -> Option<StoredRecord> {
        let record = stored(message)?;
        self.next = Some(record.offset + 1);
        // Earlier offsets arrive only after librdkafka reset an out-of-range position
        // (auto.offset.reset=earliest): they are not what was asked for.
        (record.offset >= from).then_some(record)
    }

    async fn read(
        &mut self,
        topic: &str,
        partition: u32,
        from: u64,
        max_records: usize,
        wait_ms: u64,
        request_timeout: Duration,
    ) -> Result<Vec<StoredRecord>, LogError> {
        self.position_at(topic, partition, from)?;
        let fetch_error = |source| {
            KafkaLogError::Fetch {
                topic: topic.to_owned(),
                partition,
                source,
            }
            .definite()
        };
        let mut deadline = Instant::now() + Duration::from_millis(wait_ms);
        let mut extended = false;
        let mut records = Vec::new();
        // Wait for the first record (woken by the consumer's queue, not by polling).
        while records.is_empty() {
            let consumer = Arc::clone(&self.consumer);
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(Ok(message)) => records.extend(self.accept(&message, from)),
                Ok(Err(error)) if is_transient_consume_error(&error) => {
                    tracing::debug!(%error, topic, partition, "transient fetch error");
                }
                Ok(Err(error)) => return Err(fetch_error(error)),
                Err(_) if extended => return Ok(records),
                Err(_) => {
                    // Nothing arrived in time. If records at `from` exist, a fetch is still on
                    // its way (a new reader connecting, a broker that polls its storage): a read
                    // never reports "nothing" for records that are there, so it waits for them,
                    // bounded by the request timeout.
                    if self.end(topic, partition, request_timeout).await? <= from {
                        return Ok(records);
                    }
                    extended = true;
                    deadline = Instant::now() + request_timeout;
                }
            }
        }
        // Then take what is already fetched, without waiting.
        let consumer = Arc::clone(&self.consumer);
        while records.len() < max_records {
            match try_recv(&consumer) {
                Some(Ok(message)) => records.extend(self.accept(&message, from)),
                Some(Err(error)) => {
                    // The records in hand are good; the error (if it persists) fails the next
                    // read.
                    tracing::debug!(%error, topic, partition, "fetch error after records");
                    break;
                }
                None => break,
            }
        }
        Ok(records)
    }

    /// The partition's end offset, asked of the broker by this reader (with its isolation
    /// level, so it is the last stable offset under read_committed).
    async fn end(&self, topic: &str, partition: u32, timeout: Duration) -> Result<u64, LogError> {
        end_offset(Arc::clone(&self.consumer), topic, partition, timeout).await
    }
}

/// The end offset (high watermark, or last stable offset under read_committed) of a partition,
/// queried with `consumer`.
pub(crate) async fn end_offset<C>(
    consumer: Arc<Offloaded<C>>,
    topic: &str,
    partition: u32,
    timeout: Duration,
) -> Result<u64, LogError>
where
    C: Consumer<LogContext> + Send + Sync + 'static,
{
    let name = topic.to_owned();
    let watermarks = blocking::run(move || {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            // Partitions were checked against the topic, and MAX_PARTITIONS fits an i32.
            let result = consumer.fetch_watermarks(&name, partition as i32, timeout);
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match result {
                // The client's metadata cache may predate the topic (a topic just created, or
                // asked about before it existed): refresh it once the partition's leader is
                // needed, then ask again, within the same deadline.
                Err(error) if stale_metadata(&error) && !left.is_zero() => {
                    if let Err(refresh) = consumer.fetch_metadata(Some(&name), left) {
                        tracing::debug!(%refresh, topic = %name, "metadata refresh failed");
                    }
                }
                other => return other,
            }
        }
    })
    .await?;
    let (_, high) = watermarks.map_err(|source| {
        KafkaLogError::Watermarks {
            topic: topic.to_owned(),
            partition,
            source,
        }
        .definite()
    })?;
    Ok(u64::try_from(high).unwrap_or(0))
}

/// Errors of a watermark query that mean the client's metadata does not know the partition yet.
fn stale_metadata(error: &KafkaError) -> bool {
    use rdkafka::error::RDKafkaErrorCode as C;
    matches!(
        error.rdkafka_error_code(),
        Some(
            C::UnknownPartition
                | C::UnknownTopic
                | C::UnknownTopicOrPartition
                | C::LeaderNotAvailable
                | C::NotLeaderForPartition
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::KafkaSettings;

    fn pool(idle_timeout: Duration) -> Readers {
        // Creating a consumer does not connect, so no broker is needed here.
        let settings = KafkaSettings::new("127.0.0.1:1");
        Readers::new(
            crate::config::reader(&settings),
            2,
            idle_timeout,
            Duration::from_secs(1),
        )
    }

    fn key() -> Key {
        ("t".to_owned(), 0)
    }

    #[tokio::test]
    async fn the_pool_prefers_a_reader_already_at_the_offset_and_bounds_idle_readers() {
        let readers = pool(Duration::from_secs(3600));
        for next in [Some(3), Some(7), Some(9)] {
            let mut reader = readers.create().expect("reader");
            reader.next = next;
            readers.give_back(key(), reader);
        }
        // At most two idle per partition: the third was closed.
        let first = readers.take(&key(), 7).expect("an idle reader");
        assert_eq!(first.next, Some(7));
        let second = readers.take(&key(), 100).expect("another idle reader");
        assert_eq!(second.next, Some(3));
        assert!(readers.take(&key(), 3).is_none(), "only two were kept");
        assert!(readers.take(&("t".to_owned(), 1), 0).is_none());
    }

    #[tokio::test]
    async fn readers_idle_beyond_their_timeout_are_closed() {
        let readers = pool(Duration::ZERO);
        let reader = readers.create().expect("reader");
        readers.give_back(key(), reader);
        assert!(
            readers.take(&key(), 0).is_none(),
            "a reader idle beyond the timeout is not kept"
        );
    }
}
