//! What went wrong in the Kafka client, carried inside [`LogError::Client`] (nothing written) or
//! [`AmbiguousReason::Client`] (outcome unknown), and the rules that decide which of the two an
//! rdkafka failure is.

use purse_log::{AmbiguousReason, LogError};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::config::ClientRole;

/// A step of a Kafka transaction, named in transaction errors.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransactionStep {
    /// `init_transactions`: fencing earlier producers with the same `transactional.id`.
    Init,
    /// `begin_transaction`.
    Begin,
    /// Producing the records inside the transaction.
    Produce,
    /// `commit_transaction`.
    Commit,
    /// `abort_transaction`.
    Abort,
}

impl std::fmt::Display for TransactionStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransactionStep::Init => "init",
            TransactionStep::Begin => "begin",
            TransactionStep::Produce => "produce",
            TransactionStep::Commit => "commit",
            TransactionStep::Abort => "abort",
        })
    }
}

/// A failure of the Kafka client, as the source of [`LogError::Client`] (nothing was written) or
/// of [`AmbiguousReason::Client`] (the write may or may not have landed).
///
/// Callers normally only distinguish those two through [`LogError`]; tests and logs use the
/// variants here to see exactly what failed.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum KafkaLogError {
    /// A setting is out of range before any client was built.
    #[error("invalid Kafka setting {field}: {reason}")]
    InvalidSettings {
        /// The [`KafkaSettings`](crate::KafkaSettings) field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// librdkafka refused a configuration or could not create a client.
    #[error("could not create the Kafka {role} client: {source}")]
    ClientCreation {
        /// The client being created.
        role: ClientRole,
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },
    /// A metadata request failed (broker unreachable, request timed out).
    #[error("metadata request for topic {topic:?} failed: {source}")]
    Metadata {
        /// The topic asked about.
        topic: String,
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },
    /// The admin API could not create a topic.
    #[error("creating topic {topic:?} failed: {code}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// The broker's (or librdkafka's) error code.
        code: RDKafkaErrorCode,
    },
    /// The admin request itself failed (no answer, client error).
    #[error("admin request for topic {topic:?} failed: {source}")]
    Admin {
        /// The topic.
        topic: String,
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },
    /// A record of an append failed.
    #[error("producing to {topic:?}/{partition} failed: {source}")]
    Produce {
        /// The topic.
        topic: String,
        /// The record's partition.
        partition: u32,
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },
    /// Some records of an append were acknowledged and others failed: the append happened in
    /// part (always ambiguous to the caller, who re-reads).
    #[error(
        "{acknowledged} of {total} records of an append to {topic:?} were written; \
         first failure: {first_failure}"
    )]
    PartialAppend {
        /// The topic.
        topic: String,
        /// Records acknowledged.
        acknowledged: usize,
        /// Records in the append.
        total: usize,
        /// The first failure.
        #[source]
        first_failure: KafkaError,
    },
    /// The producer went away before reporting a record's outcome.
    #[error("the producer was dropped before reporting a record sent to {topic:?}/{partition}")]
    DeliveryLost {
        /// The topic.
        topic: String,
        /// The record's partition.
        partition: u32,
    },
    /// The broker did not acknowledge in time (an outer deadline on top of librdkafka's).
    #[error("no acknowledgement from the broker within {waited_ms} ms")]
    TimedOut {
        /// How long we waited.
        waited_ms: u64,
    },
    /// Reading a partition failed.
    #[error("reading {topic:?}/{partition} failed: {source}")]
    Fetch {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },
    /// Querying a partition's watermarks (end offset) failed.
    #[error("querying the end offset of {topic:?}/{partition} failed: {source}")]
    Watermarks {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },
    /// Joining or consuming as a group member failed.
    #[error("consumer group {group:?}: {source}")]
    Group {
        /// The group.
        group: String,
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },
    /// Committing a group offset failed.
    #[error(
        "committing offset {next_offset} of {topic:?}/{partition} for group {group:?} \
         failed: {source}"
    )]
    Commit {
        /// The group.
        group: String,
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The offset being committed.
        next_offset: u64,
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },
    /// Reading a group's committed offset failed.
    #[error(
        "reading the committed offset of {topic:?}/{partition} for group {group:?} failed: {source}"
    )]
    CommittedOffset {
        /// The group.
        group: String,
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },
    /// A group member did not finish leaving in time.
    #[error("leaving consumer group {group:?} took more than {waited_ms} ms")]
    LeaveTimedOut {
        /// The group.
        group: String,
        /// How long we waited.
        waited_ms: u64,
    },
    /// Another producer with the same `transactional.id` took over (or the broker bumped our
    /// epoch): this producer is fenced and was dropped; the next append creates a new one.
    #[error("transactional producer {transactional_id:?} was fenced during {step}: {source}")]
    ProducerFenced {
        /// The fenced `transactional.id`.
        transactional_id: String,
        /// Where it was noticed.
        step: TransactionStep,
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },
    /// The transaction failed and was aborted: none of its records are visible to
    /// `read_committed` readers.
    #[error("transaction of {transactional_id:?} aborted after {step} failed: {source}")]
    TransactionAborted {
        /// The `transactional.id`.
        transactional_id: String,
        /// The step that failed.
        step: TransactionStep,
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },
    /// A transaction step failed in another way (coordinator unavailable, timed out, fatal
    /// producer error). The producer was dropped.
    #[error("transaction {step} of {transactional_id:?} failed: {source}")]
    Transaction {
        /// The `transactional.id`.
        transactional_id: String,
        /// The step that failed.
        step: TransactionStep,
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },
}

impl KafkaLogError {
    /// As a [`LogError`] for a failure after which nothing was written.
    pub(crate) fn definite(self) -> LogError {
        LogError::Client(Box::new(self))
    }

    /// As a [`LogError::Ambiguous`]: the write may or may not have landed.
    pub(crate) fn ambiguous(self) -> LogError {
        LogError::Ambiguous {
            reason: AmbiguousReason::Client(Box::new(self)),
        }
    }
}

/// The librdkafka error code inside an error, if any.
pub(crate) fn code_of(error: &KafkaError) -> Option<RDKafkaErrorCode> {
    error.rdkafka_error_code()
}

/// True if a record whose delivery failed with `error` was certainly not written: the broker
/// rejected it, or librdkafka never sent it. Anything else (a timeout, a lost connection, a purge
/// while in flight, a fatal producer state) may have been written.
pub(crate) fn delivery_certainly_failed(error: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code_of(error),
        Some(
            C::MessageSizeTooLarge
                | C::InvalidMessageSize
                | C::InvalidMessage
                | C::InvalidRecord
                | C::MessageBatchTooLarge
                | C::InvalidRequiredAcks
                | C::TopicAuthorizationFailed
                | C::ClusterAuthorizationFailed
                | C::UnknownTopicOrPartition
                | C::UnknownTopic
                | C::UnknownPartition
                | C::InvalidTopic
                | C::PolicyViolation
                | C::QueueFull
                | C::PurgeQueue
                | C::InvalidArgument
        )
    )
}

/// True if a delivery failure means the record's acknowledgement did not arrive in time.
pub(crate) fn is_timeout(error: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code_of(error),
        Some(C::MessageTimedOut | C::RequestTimedOut | C::OperationTimedOut | C::TimedOutQueue)
    )
}

/// True if `error` says the producer was fenced by a newer one with its `transactional.id`.
pub(crate) fn is_fenced(error: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code_of(error),
        Some(C::Fenced | C::ProducerFenced | C::InvalidProducerEpoch)
    )
}

/// True for errors that leave a producer unusable (librdkafka's fatal errors).
pub(crate) fn is_fatal(error: &KafkaError) -> bool {
    match error {
        KafkaError::Transaction(e) => e.is_fatal(),
        other => code_of(other) == Some(RDKafkaErrorCode::Fatal),
    }
}

/// True for consumer errors that librdkafka recovers from on its own (a broker restarting, a
/// connection lost): a read keeps waiting instead of failing.
pub(crate) fn is_transient_consume_error(error: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    match error {
        KafkaError::MessageConsumptionFatal(_) => false,
        other => matches!(
            code_of(other),
            Some(
                C::BrokerTransportFailure
                    | C::AllBrokersDown
                    | C::Resolve
                    | C::OperationTimedOut
                    | C::RequestTimedOut
                    | C::NetworkException
                    | C::NotLeaderForPartition
                    | C::LeaderNotAvailable
                    | C::NotCoordinator
                    | C::CoordinatorNotAvailable
                    | C::CoordinatorLoadInProgress
                    | C::UnknownLeaderEpoch
                    | C::FencedLeaderEpoch
                    | C::OffsetNotAvailable
                    | C::KafkaStorageError
                    | C::ReplicaNotAvailable
                    | C::Interrupted
                    | C::WaitingForCoordinator
                    | C::NoOffset
            )
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_and_lost_connections_are_not_certain_failures() {
        for code in [
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::RequestTimedOut,
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::PurgeInflight,
            RDKafkaErrorCode::Fatal,
            RDKafkaErrorCode::NotEnoughReplicasAfterAppend,
            RDKafkaErrorCode::OutOfOrderSequenceNumber,
        ] {
            assert!(
                !delivery_certainly_failed(&KafkaError::MessageProduction(code)),
                "{code:?}"
            );
        }
        for code in [
            RDKafkaErrorCode::MessageSizeTooLarge,
            RDKafkaErrorCode::QueueFull,
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::PurgeQueue,
        ] {
            assert!(
                delivery_certainly_failed(&KafkaError::MessageProduction(code)),
                "{code:?}"
            );
        }
        assert!(is_timeout(&KafkaError::MessageProduction(
            RDKafkaErrorCode::MessageTimedOut
        )));
    }

    #[test]
    fn fencing_codes_are_recognised() {
        for code in [
            RDKafkaErrorCode::Fenced,
            RDKafkaErrorCode::ProducerFenced,
            RDKafkaErrorCode::InvalidProducerEpoch,
        ] {
            assert!(is_fenced(&KafkaError::MessageProduction(code)));
        }
        assert!(!is_fenced(&KafkaError::MessageProduction(
            RDKafkaErrorCode::MessageTimedOut
        )));
    }

    #[test]
    fn definite_and_ambiguous_wrap_into_log_errors() {
        let error = KafkaLogError::TimedOut { waited_ms: 5 };
        assert!(!error.definite().is_ambiguous());
        let error = KafkaLogError::TimedOut { waited_ms: 5 };
        assert!(error.ambiguous().is_ambiguous());
    }
}
