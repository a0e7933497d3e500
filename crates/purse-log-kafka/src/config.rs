//! The librdkafka configuration of every client this crate creates. Every option we rely on is
//! written out here, with the reason where it is not obvious, so that a librdkafka upgrade that
//! changes a default cannot change our behaviour (STYLE.md: pass library options explicitly).

use rdkafka::ClientConfig;

use crate::settings::KafkaSettings;

/// Which kind of client a configuration is for; part of errors and of `client.id`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientRole {
    /// Admin client (topic creation).
    Admin,
    /// Metadata and watermark queries.
    Metadata,
    /// The idempotent producer of non-transactional appends.
    Producer,
    /// A transactional producer of one partition.
    TransactionalProducer,
    /// A reader consumer of one partition (manual assignment, never joins a group).
    Reader,
    /// A consumer group member.
    GroupMember,
    /// A short-lived consumer that reads a group's committed offsets without joining it.
    OffsetsReader,
}

impl std::fmt::Display for ClientRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientRole::Admin => "admin",
            ClientRole::Metadata => "metadata",
            ClientRole::Producer => "producer",
            ClientRole::TransactionalProducer => "transactional-producer",
            ClientRole::Reader => "reader",
            ClientRole::GroupMember => "group-member",
            ClientRole::OffsetsReader => "offsets-reader",
        })
    }
}

/// Isolation level of every reading client. With transactions, `read_committed` hides aborted and
/// open transactions (and `end_offset` becomes the last stable offset). Without them we still
/// choose `read_committed`: no record of ours is ever transactional then, so it reads exactly
/// what `read_uncommitted` would, and a topic shared with a transactional writer (a migration, a
/// mixed deployment) still never shows us aborted records.
const ISOLATION_LEVEL: &str = "read_committed";

/// Options every client shares.
fn common(settings: &KafkaSettings, role: ClientRole, suffix: Option<&str>) -> ClientConfig {
    let mut config = ClientConfig::new();
    let client_id = match suffix {
        Some(suffix) => format!("{}-{role}-{suffix}", settings.client_id),
        None => format!("{}-{role}", settings.client_id),
    };
    config
        .set("bootstrap.servers", &settings.brokers)
        .set("client.id", client_id)
        // Purse talks to brokers on the same network; plaintext is what the workspace builds
        // librdkafka for (no TLS feature).
        .set("security.protocol", "plaintext")
        // Small records, latency-sensitive request/response (append then read back): never delay
        // a request to coalesce packets.
        .set("socket.nagle.disable", "true")
        // Detect dead connections through a NAT or load balancer that drops idle flows silently.
        .set("socket.keepalive.enable", "true")
        .set("socket.timeout.ms", settings.request_timeout_ms.to_string())
        // Topics are created only by `create_topic`; a typo must be UnknownTopic, not a new topic.
        .set("allow.auto.create.topics", "false")
        // Idle connections closed by the broker are normal, not worth a log line each.
        .set("log.connection.close", "false")
        // How quickly a client retries a broker it lost (e.g. across a broker restart), and the
        // cap of its exponential backoff.
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "1000")
        // Retry backoff of failed requests (produce retries, metadata refresh).
        .set("retry.backoff.ms", "100")
        .set("retry.backoff.max.ms", "1000")
        // Periodic metadata refresh: leadership changes are also picked up on errors at once.
        .set("topic.metadata.refresh.interval.ms", "30000")
        // A topic just created may take a moment to reach every broker's metadata; until this
        // passes, librdkafka treats it as "not yet known" rather than failing records for it.
        .set("topic.metadata.propagation.max.ms", "30000");
    config
}

/// The admin client of `create_topic`.
pub(crate) fn admin(settings: &KafkaSettings) -> ClientConfig {
    common(settings, ClientRole::Admin, None)
}

/// Options of every consumer (reader, group member, metadata, offsets reader).
fn consumer(settings: &KafkaSettings, role: ClientRole, suffix: Option<&str>) -> ClientConfig {
    let mut config = common(settings, role, suffix);
    config
        .set("isolation.level", ISOLATION_LEVEL)
        // Offsets are committed only by `GroupConsumer::commit`, synchronously, for what the
        // caller processed: never automatically, never from the position librdkafka delivered.
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // A group with no committed offset starts at the beginning: every event counts.
        .set("auto.offset.reset", "earliest")
        // Reaching the end of a partition is not an event for us (reads wait for more instead).
        .set("enable.partition.eof", "false")
        // A fetch is answered as soon as one byte is available (latency over batching); the
        // broker holds an empty fetch for at most `fetch.wait.max.ms`.
        .set("fetch.min.bytes", "1")
        .set("fetch.wait.max.ms", settings.fetch_wait_max_ms.to_string())
        // Prefetch bounds: one full read (MAX_READ_RECORDS) ahead, at most 16 MiB per consumer,
        // instead of librdkafka's 100 000 messages / 64 MiB, because a process may keep a reader
        // per partition.
        .set(
            "queued.min.messages",
            purse_log::MAX_READ_RECORDS.to_string(),
        )
        .set("queued.max.messages.kbytes", "16384")
        // Verify record checksums: a corrupted event must not be applied.
        .set("check.crcs", "true");
    config
}

/// The metadata and watermark client (a consumer without a group).
pub(crate) fn metadata(settings: &KafkaSettings) -> ClientConfig {
    consumer(settings, ClientRole::Metadata, None)
}

/// A reader of one partition: manually assigned, never commits.
pub(crate) fn reader(settings: &KafkaSettings) -> ClientConfig {
    let mut config = consumer(settings, ClientRole::Reader, None);
    // librdkafka's `assign` needs a `group.id` (without one it fails with "unknown group"). A
    // reader never subscribes, so it never joins this group, and never commits to it.
    config.set("group.id", format!("{}-readers", settings.client_id));
    config
}

/// A member of consumer group `group`, identified in `client.id` by `member_id`.
pub(crate) fn group_member(settings: &KafkaSettings, group: &str, member_id: &str) -> ClientConfig {
    let mut config = consumer(settings, ClientRole::GroupMember, Some(member_id));
    config
        .set("group.id", group)
        // Incremental rebalancing: a member keeps the partitions it is not losing while others
        // join or leave, and is told (Revoked) exactly what it loses.
        .set("partition.assignment.strategy", "cooperative-sticky")
        // No `group.instance.id` (static membership): a static member that leaves does not send
        // LeaveGroup, so its partitions would wait a whole session timeout for a new owner.
        .set(
            "session.timeout.ms",
            settings.session_timeout_ms.to_string(),
        )
        .set(
            "heartbeat.interval.ms",
            settings.heartbeat_interval_ms.to_string(),
        )
        .set(
            "max.poll.interval.ms",
            settings.max_poll_interval_ms.to_string(),
        );
    config
}

/// A consumer with `group.id = group` that only reads the group's committed offsets; it never
/// subscribes, so it never joins the group or disturbs its members.
pub(crate) fn offsets_reader(settings: &KafkaSettings, group: &str) -> ClientConfig {
    let mut config = consumer(settings, ClientRole::OffsetsReader, None);
    config
        .set("group.id", group)
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set(
            "session.timeout.ms",
            settings.session_timeout_ms.to_string(),
        )
        .set(
            "heartbeat.interval.ms",
            settings.heartbeat_interval_ms.to_string(),
        );
    config
}

/// Options of both producers.
fn producer_common(
    settings: &KafkaSettings,
    role: ClientRole,
    suffix: Option<&str>,
) -> ClientConfig {
    let mut config = common(settings, role, suffix);
    config
        // A record is acknowledged only once every in-sync replica has it: what "durable when
        // Ok" means for `append`.
        .set("acks", "all")
        // Retries cannot duplicate or reorder records within a partition (sequence numbers), so
        // the offsets of one append increase in input order.
        .set("enable.idempotence", "true")
        // Idempotence keeps order with up to 5 requests in flight per connection; 5 is the most
        // it allows and what pipelining needs.
        .set("max.in.flight.requests.per.connection", "5")
        // Retry for as long as `message.timeout.ms` allows; that timeout is the one bound.
        .set("retries", i32::MAX.to_string())
        .set(
            "message.timeout.ms",
            settings.message_timeout_ms.to_string(),
        )
        .set(
            "request.timeout.ms",
            settings.request_timeout_ms.to_string(),
        )
        .set("linger.ms", settings.linger_ms.to_string())
        // `enable.gapless.guarantee` stays at its default (false) and is deliberately not set:
        // librdkafka warns about any explicit value of this experimental property on every
        // producer. We do not need it: each append waits for every record's own outcome, so a
        // failed record is reported to the caller (who re-reads).
        // The workspace builds librdkafka without compression codecs.
        .set("compression.type", "none")
        // Partitions are always explicit (from `Record::partition`); this only documents that
        // librdkafka's own key hash (CRC32, unlike Java's murmur2) is never used.
        .set("partitioner", "murmur2_random")
        // Local queue bounds: an append beyond them fails at once (QueueFull) rather than
        // buffering without limit.
        .set("queue.buffering.max.messages", "100000")
        .set("queue.buffering.max.kbytes", "1048576");
    config
}

/// The idempotent producer of non-transactional appends.
pub(crate) fn producer(settings: &KafkaSettings) -> ClientConfig {
    producer_common(settings, ClientRole::Producer, None)
}

/// The transactional producer with `transactional_id`.
pub(crate) fn transactional_producer(
    settings: &KafkaSettings,
    transactional_id: &str,
) -> ClientConfig {
    let mut config = producer_common(
        settings,
        ClientRole::TransactionalProducer,
        Some(transactional_id),
    );
    config
        .set("transactional.id", transactional_id)
        // Back-to-back transactions: the coordinator answers CONCURRENT_TRANSACTIONS while it
        // still writes the previous commit's markers, and librdkafka waits `retry.backoff.ms`
        // (100 ms by default) before asking again. Measured on Apache Kafka 4.4, that wait set
        // the pace of a partition's appends.
        .set("retry.backoff.ms", "5")
        .set("retry.backoff.max.ms", "20");
    config.set(
        "transaction.timeout.ms",
        settings.transaction_timeout_ms.to_string(),
    );
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(config: &'a ClientConfig, key: &str) -> Option<&'a str> {
        config.get(key)
    }

    #[test]
    fn producers_are_idempotent_with_acks_all() {
        let settings = KafkaSettings::new("localhost:9092");
        for config in [
            producer(&settings),
            transactional_producer(&settings, "purse-t-0"),
        ] {
            assert_eq!(get(&config, "acks"), Some("all"));
            assert_eq!(get(&config, "enable.idempotence"), Some("true"));
            assert_eq!(
                get(&config, "max.in.flight.requests.per.connection"),
                Some("5")
            );
            assert_eq!(get(&config, "message.timeout.ms"), Some("30000"));
            assert_eq!(get(&config, "allow.auto.create.topics"), Some("false"));
        }
        assert_eq!(
            get(
                &transactional_producer(&settings, "purse-t-0"),
                "transactional.id"
            ),
            Some("purse-t-0")
        );
        assert_eq!(get(&producer(&settings), "transactional.id"), None);
    }

    #[test]
    fn consumers_never_commit_on_their_own() {
        let settings = KafkaSettings::new("localhost:9092");
        for config in [
            reader(&settings),
            metadata(&settings),
            group_member(&settings, "g", "m"),
            offsets_reader(&settings, "g"),
        ] {
            assert_eq!(get(&config, "enable.auto.commit"), Some("false"));
            assert_eq!(get(&config, "enable.auto.offset.store"), Some("false"));
            assert_eq!(get(&config, "auto.offset.reset"), Some("earliest"));
            assert_eq!(get(&config, "isolation.level"), Some("read_committed"));
        }
        let member = group_member(&settings, "g", "m");
        assert_eq!(
            get(&member, "partition.assignment.strategy"),
            Some("cooperative-sticky")
        );
        assert_eq!(get(&member, "group.id"), Some("g"));
        assert_eq!(get(&reader(&settings), "group.id"), Some("purse-readers"));
        assert_eq!(get(&metadata(&settings), "group.id"), None);
    }
}
