//! Topic provisioning (admin API) and partition counts (metadata, cached).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use purse_log::{LogError, validate_partition_count, validate_topic_name};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::types::RDKafkaRespErr;

use crate::blocking::{self, Offloaded};
use crate::context::LogContext;
use crate::error::KafkaLogError;

/// What one metadata request says about a topic.
enum Lookup {
    Partitions(u32),
    Missing,
}

/// Topic creation and partition counts. Counts are cached: Purse never shrinks a topic, and a
/// partition beyond the cached count triggers one refresh before it is called unknown.
pub(crate) struct Topics {
    admin: Offloaded<AdminClient<LogContext>>,
    metadata: Arc<Offloaded<BaseConsumer<LogContext>>>,
    counts: RwLock<HashMap<String, u32>>,
    replication_factor: u16,
    request_timeout: Duration,
}

impl Topics {
    pub(crate) fn new(
        admin: AdminClient<LogContext>,
        metadata: Arc<Offloaded<BaseConsumer<LogContext>>>,
        replication_factor: u16,
        request_timeout: Duration,
    ) -> Self {
        Self {
            admin: Offloaded::new(admin),
            metadata,
            counts: RwLock::new(HashMap::new()),
            replication_factor,
            request_timeout,
        }
    }

    fn cached(&self, topic: &str) -> Option<u32> {
        self.counts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(topic)
            .copied()
    }

    fn remember(&self, topic: &str, partitions: u32) {
        self.counts
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(topic.to_owned(), partitions);
    }

    /// Asks the cluster for the topic's partition count (one metadata request).
    async fn lookup(&self, topic: &str) -> Result<Lookup, LogError> {
        let metadata = Arc::clone(&self.metadata);
        let name = topic.to_owned();
        let timeout = self.request_timeout;
        let fetched = blocking::run(move || metadata.fetch_metadata(Some(&name), timeout)).await?;
        let fetched = fetched.map_err(|source| {
            KafkaLogError::Metadata {
                topic: topic.to_owned(),
                source,
            }
            .definite()
        })?;
        let Some(found) = fetched.topics().iter().find(|t| t.name() == topic) else {
            return Ok(Lookup::Missing);
        };
        match found.error() {
            None => {}
            Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => {
                return Ok(Lookup::Missing);
            }
            // Leadership moving or a topic still being created: the partitions are listed.
            Some(error) if !found.partitions().is_empty() => {
                tracing::debug!(
                    topic,
                    ?error,
                    "topic metadata has an error but lists partitions"
                );
            }
            Some(error) => {
                return Err(KafkaLogError::Metadata {
                    topic: topic.to_owned(),
                    source: rdkafka::error::KafkaError::MetadataFetch(error.into()),
                }
                .definite());
            }
        }
        let partitions = u32::try_from(found.partitions().len()).unwrap_or(u32::MAX);
        if partitions == 0 {
            return Ok(Lookup::Missing);
        }
        self.remember(topic, partitions);
        Ok(Lookup::Partitions(partitions))
    }

    /// Partition count of an existing topic.
    pub(crate) async fn partition_count(&self, topic: &str) -> Result<u32, LogError> {
        if let Some(partitions) = self.cached(topic) {
            return Ok(partitions);
        }
        validate_topic_name(topic).map_err(|_| unknown_topic(topic))?;
        match self.lookup(topic).await? {
            Lookup::Partitions(partitions) => Ok(partitions),
            Lookup::Missing => Err(unknown_topic(topic)),
        }
    }

    /// Checks that `partition` exists in `topic`.
    pub(crate) async fn check_partition(
        &self,
        topic: &str,
        partition: u32,
    ) -> Result<(), LogError> {
        let partitions = self.partition_count(topic).await?;
        if partition < partitions {
            return Ok(());
        }
        // Partitions may have been added since we cached the count.
        match self.lookup(topic).await? {
            Lookup::Partitions(partitions) if partition < partitions => Ok(()),
            Lookup::Partitions(_) => Err(LogError::UnknownPartition {
                topic: topic.to_owned(),
                partition,
            }),
            Lookup::Missing => Err(unknown_topic(topic)),
        }
    }

    /// Creates the topic if missing; checks its partition count if it exists.
    pub(crate) async fn create(&self, topic: &str, partitions: u32) -> Result<(), LogError> {
        validate_topic_name(topic)?;
        validate_partition_count(partitions)?;
        // Metadata first: where topics are provisioned by operators, services may lack the
        // permission to create them, and an existing topic needs no admin request.
        if let Lookup::Partitions(existing) = self.lookup(topic).await? {
            return same_count(topic, existing, partitions);
        }
        // Bounded by MAX_PARTITIONS, which fits an i32.
        let new_topic = NewTopic::new(
            topic,
            partitions as i32,
            TopicReplication::Fixed(i32::from(self.replication_factor)),
        );
        let options = AdminOptions::new()
            .request_timeout(Some(self.request_timeout))
            // The broker answers once the topic exists on the brokers (or this passes).
            .operation_timeout(Some(self.request_timeout));
        let results = self
            .admin
            .create_topics([&new_topic], &options)
            .await
            .map_err(|source| {
                KafkaLogError::Admin {
                    topic: topic.to_owned(),
                    source,
                }
                .definite()
            })?;
        match results.into_iter().next() {
            Some(Ok(_)) => {
                self.remember(topic, partitions);
                Ok(())
            }
            Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => {
                // Created concurrently by someone else: compare counts once it is visible.
                let existing = self.await_visible(topic).await?;
                same_count(topic, existing, partitions)
            }
            Some(Err((_, code))) => Err(KafkaLogError::CreateTopic {
                topic: topic.to_owned(),
                code,
            }
            .definite()),
            None => Err(KafkaLogError::CreateTopic {
                topic: topic.to_owned(),
                code: RDKafkaErrorCode::Fail,
            }
            .definite()),
        }
    }

    /// Waits (bounded by the request timeout) until a topic that exists shows in metadata.
    async fn await_visible(&self, topic: &str) -> Result<u32, LogError> {
        let deadline = Instant::now() + self.request_timeout;
        loop {
            if let Lookup::Partitions(partitions) = self.lookup(topic).await? {
                return Ok(partitions);
            }
            if Instant::now() >= deadline {
                return Err(unknown_topic(topic));
            }
            // Metadata propagation has no notification to wait on; a short pause between
            // requests, bounded by the deadline above.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn unknown_topic(topic: &str) -> LogError {
    LogError::UnknownTopic {
        topic: topic.to_owned(),
    }
}

fn same_count(topic: &str, existing: u32, requested: u32) -> Result<(), LogError> {
    if existing == requested {
        Ok(())
    } else {
        Err(LogError::PartitionCountMismatch {
            topic: topic.to_owned(),
            existing,
            requested,
        })
    }
}
