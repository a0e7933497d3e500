//! The event log over Kafka: [`KafkaLog`] implements [`purse_log::EventLog`] with rdkafka and
//! passes the same contract suite as the embedded log.
//!
//! - **Topics** are created through the admin API (partition count from the caller, replication
//!   factor from [`KafkaSettings`]); partition counts come from metadata and are cached.
//! - **Appends** go through an idempotent producer (`acks=all`, `enable.idempotence=true`) to the
//!   partition each [`Record`] names; `append` returns once every record is acknowledged by all
//!   in-sync replicas, with offsets in input order. A record whose outcome is unknown (timed out,
//!   connection lost) makes the append [`LogError::Ambiguous`] and drops the producer, so that
//!   nothing it still has in flight can land after what the caller writes next (DESIGN.md §4:
//!   drop the producer, rewind, re-read; the caller rewinds and re-reads).
//! - With `transactions = true`, each partition is written by its own transactional producer
//!   (`transactional.id = {prefix}-{topic}-{partition}`): begin → produce → commit per append,
//!   aborting on failure.
//! - **Reads** use reader consumers (one partition each, manually assigned, never joining a
//!   group) kept in a pool between reads; a reader already where the next read starts keeps what
//!   it prefetched, and a read waits on the consumer's queue (woken by data, not by polling).
//! - **Consumer groups** use cooperative-sticky rebalancing; a member learns of revocations in
//!   its rebalance callback, before the partitions can go to anyone else, and starts assigned
//!   partitions at explicit offsets (see [`KafkaGroupConsumer`]).
//! - Every reading client uses `isolation.level=read_committed`, with or without transactions:
//!   without them it reads exactly what `read_uncommitted` would (no record of ours is
//!   transactional), and a topic shared with a transactional writer never shows us aborted
//!   records.
//!
//! Every librdkafka option we rely on is set explicitly in the `config` module (with why), so a
//! library default cannot change our behaviour: `acks`, `enable.idempotence`,
//! `max.in.flight.requests.per.connection`, `retries`, `message.timeout.ms`,
//! `request.timeout.ms`, `socket.timeout.ms`, `linger.ms`, `compression.type`, `partitioner`,
//! `queue.buffering.max.*`, `transactional.id`, `transaction.timeout.ms`, `isolation.level`,
//! `enable.auto.commit`, `enable.auto.offset.store`, `auto.offset.reset`,
//! `enable.partition.eof`, `fetch.min.bytes`, `fetch.wait.max.ms`, `queued.min.messages`,
//! `queued.max.messages.kbytes`, `check.crcs`, `group.id`, `partition.assignment.strategy`,
//! `session.timeout.ms`, `heartbeat.interval.ms`, `max.poll.interval.ms`,
//! `allow.auto.create.topics`, `socket.nagle.disable`, `socket.keepalive.enable`,
//! `security.protocol`, `reconnect.backoff.*`, `retry.backoff.*`,
//! `topic.metadata.refresh.interval.ms`, `topic.metadata.propagation.max.ms`,
//! `log.connection.close`, `client.id`, `bootstrap.servers`.

mod blocking;
mod config;
mod context;
mod error;
mod group;
mod produce;
mod read;
mod settings;
mod topics;

use std::sync::Arc;
use std::time::Duration;

use purse_log::{
    AppendedRecord, EventLog, GroupConsumer, LogError, MAX_READ_RECORDS, Record, StoredRecord,
};
use rdkafka::admin::AdminClient;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

pub use config::ClientRole;
pub use error::{KafkaLogError, TransactionStep};
pub use group::KafkaGroupConsumer;
pub use settings::{
    DEFAULT_CLIENT_ID, DEFAULT_FETCH_WAIT_MAX_MS, DEFAULT_HEARTBEAT_INTERVAL_MS,
    DEFAULT_IDLE_READERS_PER_PARTITION_MAX, DEFAULT_LINGER_MS, DEFAULT_MAX_POLL_INTERVAL_MS,
    DEFAULT_MESSAGE_TIMEOUT_MS, DEFAULT_READER_IDLE_TIMEOUT_MS, DEFAULT_REPLICATION_FACTOR,
    DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_SESSION_TIMEOUT_MS, DEFAULT_TRANSACTION_CALL_TIMEOUT_MS,
    DEFAULT_TRANSACTION_TIMEOUT_MS, DEFAULT_TRANSACTIONAL_ID_PREFIX, KafkaSettings,
};

use crate::blocking::Offloaded;
use crate::context::{GroupContext, LogContext};
use crate::group::MemberConsumer;
use crate::produce::{IdempotentProducer, TransactionalProducers};
use crate::read::Readers;
use crate::topics::Topics;

/// The [`EventLog`] over a Kafka cluster (any broker speaking the Kafka protocol).
///
/// Cheap to clone; clones share clients. Create one per process and share it: each instance has
/// its own producer, reader pool and metadata cache.
#[derive(Clone)]
pub struct KafkaLog {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for KafkaLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaLog")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

struct Inner {
    settings: KafkaSettings,
    topics: Topics,
    /// Metadata and watermark queries (no group).
    metadata: Arc<Offloaded<BaseConsumer<LogContext>>>,
    producer: IdempotentProducer,
    transactional: Arc<TransactionalProducers>,
    readers: Readers,
}

fn check_settings(settings: &KafkaSettings) -> Result<(), LogError> {
    let invalid = |field, reason| Err(KafkaLogError::InvalidSettings { field, reason }.definite());
    if settings.brokers.trim().is_empty() {
        return invalid("brokers", "at least one bootstrap broker is needed");
    }
    if settings.replication_factor == 0 {
        return invalid("replication_factor", "must be at least 1");
    }
    if settings.heartbeat_interval_ms == 0
        || settings.heartbeat_interval_ms * 3 > settings.session_timeout_ms
    {
        return invalid(
            "heartbeat_interval_ms",
            "must be positive and at most a third of session_timeout_ms",
        );
    }
    if settings.transactions && settings.message_timeout_ms > settings.transaction_timeout_ms {
        return invalid(
            "message_timeout_ms",
            "must not exceed transaction_timeout_ms when transactions are on",
        );
    }
    if settings.transactions && settings.transactional_id_prefix.is_empty() {
        return invalid("transactional_id_prefix", "must not be empty");
    }
    Ok(())
}

impl KafkaLog {
    /// A log over the cluster in `settings`. Creates the admin and metadata clients (no network
    /// wait: librdkafka connects in the background); producers and readers are created on first
    /// use.
    pub fn new(settings: KafkaSettings) -> Result<KafkaLog, LogError> {
        check_settings(&settings)?;
        let creation =
            |role| move |source| KafkaLogError::ClientCreation { role, source }.definite();
        let admin = AdminClient::from_config_and_context(&config::admin(&settings), LogContext)
            .map_err(creation(ClientRole::Admin))?;
        let metadata =
            BaseConsumer::from_config_and_context(&config::metadata(&settings), LogContext)
                .map_err(creation(ClientRole::Metadata))?;
        let metadata = Arc::new(Offloaded::new(metadata));
        let request_timeout = Duration::from_millis(settings.request_timeout_ms);
        Ok(KafkaLog {
            inner: Arc::new(Inner {
                topics: Topics::new(
                    admin,
                    Arc::clone(&metadata),
                    settings.replication_factor,
                    request_timeout,
                ),
                metadata,
                producer: IdempotentProducer::new(settings.clone()),
                transactional: Arc::new(TransactionalProducers::new(settings.clone())),
                readers: Readers::new(
                    config::reader(&settings),
                    settings.idle_readers_per_partition_max,
                    Duration::from_millis(settings.reader_idle_timeout_ms),
                    request_timeout,
                ),
                settings,
            }),
        })
    }

    /// The settings this log was built with.
    pub fn settings(&self) -> &KafkaSettings {
        &self.inner.settings
    }

    /// The `transactional.id` that appends to `topic`/`partition` use when transactions are on.
    pub fn transactional_id(&self, topic: &str, partition: u32) -> String {
        self.inner.transactional.transactional_id(topic, partition)
    }

    /// Idempotent producers this log has created: one, plus one after each append whose outcome
    /// was unknown (the producer is dropped then). Worth a metric.
    pub fn producers_created(&self) -> u64 {
        self.inner.producer.created()
    }

    /// Transactional producers this log has created: one per written partition, plus one after
    /// each fenced or failed producer was dropped. Worth a metric.
    pub fn transactional_producers_created(&self) -> u64 {
        self.inner.transactional.created()
    }

    fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.inner.settings.request_timeout_ms)
    }
}

#[async_trait::async_trait]
impl EventLog for KafkaLog {
    async fn create_topic(&self, topic: &str, partitions: u32) -> Result<(), LogError> {
        self.inner.topics.create(topic, partitions).await
    }

    async fn partition_count(&self, topic: &str) -> Result<u32, LogError> {
        self.inner.topics.partition_count(topic).await
    }

    async fn append(
        &self,
        topic: &str,
        records: Vec<Record>,
    ) -> Result<Vec<AppendedRecord>, LogError> {
        // Every partition is checked before anything is produced, so a bad one writes nothing.
        let partitions = self.inner.topics.partition_count(topic).await?;
        for record in &records {
            if record.partition >= partitions {
                self.inner
                    .topics
                    .check_partition(topic, record.partition)
                    .await?;
            }
        }
        if records.is_empty() {
            return Ok(Vec::new());
        }
        if self.inner.settings.transactions {
            self.inner.transactional.append(topic, records).await
        } else {
            self.inner.producer.append(topic, &records).await
        }
    }

    async fn read(
        &self,
        topic: &str,
        partition: u32,
        from_offset: u64,
        max_records: usize,
        wait_ms: u64,
    ) -> Result<Vec<StoredRecord>, LogError> {
        self.inner.topics.check_partition(topic, partition).await?;
        let max_records = max_records.min(MAX_READ_RECORDS);
        if max_records == 0 {
            return Ok(Vec::new());
        }
        self.inner
            .readers
            .read(topic, partition, from_offset, max_records, wait_ms)
            .await
    }

    async fn end_offset(&self, topic: &str, partition: u32) -> Result<u64, LogError> {
        self.inner.topics.check_partition(topic, partition).await?;
        read::end_offset(
            Arc::clone(&self.inner.metadata),
            topic,
            partition,
            self.request_timeout(),
        )
        .await
    }

    async fn subscribe(
        &self,
        group: &str,
        member_id: &str,
        topics: &[String],
    ) -> Result<Box<dyn GroupConsumer>, LogError> {
        for topic in topics {
            self.inner.topics.partition_count(topic).await?;
        }
        let settings = &self.inner.settings;
        let context = GroupContext::new(self.request_timeout());
        let group_error = |source| {
            KafkaLogError::Group {
                group: group.to_owned(),
                source,
            }
            .definite()
        };
        let consumer = MemberConsumer::from_config_and_context(
            &config::group_member(settings, group, member_id),
            context.clone(),
        )
        .map_err(|source| {
            KafkaLogError::ClientCreation {
                role: ClientRole::GroupMember,
                source,
            }
            .definite()
        })?;
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names).map_err(group_error)?;
        Ok(Box::new(KafkaGroupConsumer::new(
            group,
            consumer,
            context,
            self.request_timeout(),
            // Closing waits for the final revocation and LeaveGroup; a session timeout is the
            // longest that can sensibly take.
            Duration::from_millis(settings.session_timeout_ms.max(settings.request_timeout_ms)),
        )))
    }

    async fn committed_offset(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<u64>, LogError> {
        self.inner.topics.check_partition(topic, partition).await?;
        let config = config::offsets_reader(&self.inner.settings, group);
        let timeout = self.request_timeout();
        let name = topic.to_owned();
        let fetched = blocking::run(move || {
            let consumer: BaseConsumer<LogContext> =
                BaseConsumer::from_config_and_context(&config, LogContext)?;
            let mut asked = TopicPartitionList::with_capacity(1);
            // Checked against the topic above; MAX_PARTITIONS fits an i32.
            asked.add_partition(&name, partition as i32);
            // OffsetFetch only: this consumer never subscribes, so it never joins the group.
            // Dropped here, off the async threads.
            consumer.committed_offsets(asked, timeout)
        })
        .await?;
        let error = |source| {
            KafkaLogError::CommittedOffset {
                group: group.to_owned(),
                topic: topic.to_owned(),
                partition,
                source,
            }
            .definite()
        };
        let fetched = fetched.map_err(error)?;
        let Some(element) = fetched.find_partition(topic, partition as i32) else {
            return Ok(None);
        };
        element.error().map_err(error)?;
        Ok(match element.offset() {
            Offset::Offset(offset) => u64::try_from(offset).ok(),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(settings: KafkaSettings) -> &'static str {
        match KafkaLog::new(settings) {
            Err(LogError::Client(error)) => match error.downcast_ref::<KafkaLogError>() {
                Some(KafkaLogError::InvalidSettings { field, .. }) => field,
                other => panic!("expected InvalidSettings, got {other:?}"),
            },
            other => panic!("expected a client error, got {other:?}"),
        }
    }

    #[test]
    fn settings_are_checked_before_any_client_is_built() {
        assert_eq!(invalid(KafkaSettings::default()), "brokers");
        let base = KafkaSettings::new("127.0.0.1:1");
        assert_eq!(
            invalid(KafkaSettings {
                replication_factor: 0,
                ..base.clone()
            }),
            "replication_factor"
        );
        assert_eq!(
            invalid(KafkaSettings {
                heartbeat_interval_ms: base.session_timeout_ms,
                ..base.clone()
            }),
            "heartbeat_interval_ms"
        );
        assert_eq!(
            invalid(KafkaSettings {
                transactions: true,
                message_timeout_ms: base.transaction_timeout_ms + 1,
                ..base.clone()
            }),
            "message_timeout_ms"
        );
        KafkaLog::new(base).expect("valid settings build a log without a broker");
    }
}
