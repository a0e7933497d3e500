package dev.purse.tests.jvm;

import com.google.protobuf.InvalidProtocolBufferException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import purse.event.v1.Event.EventEnvelope;
import purse.event.v1.Event.EventRecord;
import purse.event.v1.Event.Limits;
import purse.event.v1.Event.LotDraw;
import purse.event.v1.Event.WalletEvent;

/**
 * Reads {@code purse.wallet.events} from the beginning up to the end offsets found at start, as a
 * Kafka consumer outside Purse would, and checks every promise of docs/event-catalogue.md.
 *
 * <p>Usage: {@code java -jar purse-jvm-consumer.jar BOOTSTRAP [--topic T] [--expect-streams N]
 * [--timeout-ms N]}. Prints each violation on its own line, then a one-line JSON summary; exits 0
 * when there was none, 1 when there were, 2 when it could not read the topic at all.
 */
public final class WalletEventsCheck {
    static final String DEFAULT_TOPIC = "purse.wallet.events";
    static final long DEFAULT_TIMEOUT_MS = 60_000;
    static final int SCHEMA_VERSION = 1;
    /** Violations printed in full; the rest are only counted (a broken run can have millions). */
    static final int VIOLATIONS_PRINTED_MAX = 200;
    static final Duration POLL_TIMEOUT = Duration.ofMillis(500);

    /**
     * A decimal string as the catalogue promises: plain digits with an optional fraction, no
     * sign, exponent, leading zeros or float spellings ("1e3", "NaN", "1.5E2", "+1", ".5").
     */
    static final Pattern DECIMAL = Pattern.compile("(0|[1-9][0-9]*)(\\.[0-9]+)?");

    static final Set<String> WALLET_KINDS = Set.of("customer", "system");
    static final Set<String> CREDIT_SOURCES =
            Set.of("paid", "granted", "refund", "transfer", "adjustment");
    static final Set<String> DEBIT_KINDS =
            Set.of("purchase", "redemption", "fee", "transfer_out", "payout");
    static final Set<String> RELEASE_REASONS = Set.of("void", "expired");

    /** What one wallet's accepted records have established so far. */
    static final class Stream {
        /** Event ids of the accepted events, index = sequence - 1. */
        final List<String> eventIds = new ArrayList<>();
        /** The asset scale from WalletOpened; -1 until it is seen. */
        int assetScale = -1;
        /** Holds placed and not yet resolved. */
        final Set<String> openHolds = new HashSet<>();
        /** Holds captured or released (a second resolution is a violation). */
        final Set<String> resolvedHolds = new HashSet<>();
        /** Set once a gap was found: the catalogue says stop processing the wallet. */
        boolean stopped;

        long lastSequence() {
            return eventIds.size();
        }

        String lastEventId() {
            return eventIds.isEmpty() ? "" : eventIds.get(eventIds.size() - 1);
        }
    }

    long records;
    long events;
    long losers;
    long duplicates;
    long gaps;
    long violationCount;
    final Map<String, Stream> streams = new HashMap<>();
    final Map<String, Long> eventTypes = new TreeMap<>();

    void violation(String where, String what) {
        violationCount++;
        if (violationCount <= VIOLATIONS_PRINTED_MAX) {
            System.out.println("violation: " + where + ": " + what);
        }
    }

    /** One Kafka record: decode it, apply first writer wins, check the events it adds. */
    void record(ConsumerRecord<byte[], byte[]> kafkaRecord) {
        records++;
        String where = kafkaRecord.topic() + "/" + kafkaRecord.partition() + "@" + kafkaRecord.offset();
        if (kafkaRecord.value() == null) {
            violation(where, "record has no value (the topic is kept forever: no tombstones)");
            return;
        }
        EventRecord record;
        try {
            record = EventRecord.parseFrom(kafkaRecord.value());
        } catch (InvalidProtocolBufferException e) {
            violation(where, "value is not a purse.event.v1.EventRecord: " + e.getMessage());
            return;
        }
        if (!recordShape(where, kafkaRecord, record)) {
            return;
        }
        EventEnvelope first = record.getEvents(0);
        Stream stream = streams.computeIfAbsent(first.getStreamId(), id -> new Stream());
        if (stream.stopped) {
            return;
        }
        long expected = stream.lastSequence() + 1;
        long sequence = first.getStreamSequence();
        if (sequence == expected && record.getPreviousEventId().equals(stream.lastEventId())) {
            for (EventEnvelope envelope : record.getEventsList()) {
                String at = where + " " + envelope.getStreamId() + "#" + envelope.getStreamSequence();
                accept(at, stream, envelope);
            }
        } else if (sequence > expected) {
            gaps++;
            stream.stopped = true;
            violation(where, "gap in " + first.getStreamId() + ": sequence " + sequence
                    + " after " + stream.lastSequence() + " (predecessor never seen); wallet not processed further");
        } else if (sequence < expected
                && first.getEventId().equals(stream.eventIds.get((int) (sequence - 1)))) {
            // At-least-once delivery: the record already counted, delivered again.
            duplicates++;
        } else {
            // A sequence already taken, or the next one on a predecessor that lost: a stale
            // writer's record, which no client was told had succeeded.
            losers++;
        }
    }

    /** The record-level promises: key, one stream, contiguous sequences, schema. */
    boolean recordShape(String where, ConsumerRecord<byte[], byte[]> kafkaRecord, EventRecord record) {
        if (record.getEventsCount() == 0) {
            violation(where, "record holds no events");
            return false;
        }
        EventEnvelope first = record.getEvents(0);
        boolean ok = true;
        for (int i = 0; i < record.getEventsCount(); i++) {
            EventEnvelope envelope = record.getEvents(i);
            if (!envelope.getStreamId().equals(first.getStreamId())) {
                violation(where, "record mixes streams " + first.getStreamId() + " and " + envelope.getStreamId());
                ok = false;
            }
            if (envelope.getStreamSequence() != first.getStreamSequence() + i) {
                violation(where, "sequences inside the record are not contiguous from " + first.getStreamSequence());
                ok = false;
            }
        }
        if (first.getStreamSequence() < 1) {
            violation(where, "stream sequences start at 1, record starts at " + first.getStreamSequence());
            ok = false;
        }
        String key = kafkaRecord.key() == null ? null : new String(kafkaRecord.key(), StandardCharsets.UTF_8);
        if (!first.getStreamId().equals(key)) {
            violation(where, "record key " + key + " is not the wallet id " + first.getStreamId());
            ok = false;
        }
        if (first.getStreamSequence() == 1 && !record.getPreviousEventId().isEmpty()) {
            violation(where, "the record opening a stream names a previous event");
            ok = false;
        }
        return ok;
    }

    /** An event that won its sequence: the envelope, its payload and the wallet invariants. */
    void accept(String at, Stream stream, EventEnvelope envelope) {
        stream.eventIds.add(envelope.getEventId());
        events++;
        eventTypes.merge(envelope.getEventType(), 1L, Long::sum);
        envelope(at, envelope);
        if (envelope.getPayloadCase() != EventEnvelope.PayloadCase.WALLET) {
            violation(at, "payload is " + envelope.getPayloadCase() + ", not a WalletEvent");
            return;
        }
        WalletEvent wallet = envelope.getWallet();
        String type = typeName(wallet.getEventCase());
        if (!type.equals(envelope.getEventType())) {
            violation(at, "event_type " + envelope.getEventType() + " but the payload is " + type);
        }
        if (envelope.getStreamSequence() == 1 != (wallet.getEventCase() == WalletEvent.EventCase.WALLET_OPENED)) {
            violation(at, "a wallet's stream opens with WalletOpened, and only there (" + type + ")");
        }
        payload(at, stream, wallet);
    }

    void envelope(String at, EventEnvelope envelope) {
        uuid(at, "event_id", envelope.getEventId(), 7);
        uuid(at, "stream_id", envelope.getStreamId(), -1);
        required(at, "event_type", envelope.getEventType());
        required(at, "tenant", envelope.getTenant());
        required(at, "correlation_id", envelope.getCorrelationId());
        required(at, "causation_id", envelope.getCausationId());
        if (envelope.getOccurredAtMs() <= 0) {
            violation(at, "occurred_at_ms " + envelope.getOccurredAtMs() + " is not a Unix time in ms");
        }
        if (envelope.getSchemaVersion() != SCHEMA_VERSION) {
            violation(at, "schema_version " + envelope.getSchemaVersion() + ", expected " + SCHEMA_VERSION);
        }
        if (envelope.getIdempotencyKey().isEmpty() != envelope.getRequestFingerprint().isEmpty()) {
            violation(at, "idempotency_key and request_fingerprint come together (or are both empty)");
        }
        if (!envelope.getRequestFingerprint().isEmpty()
                && !envelope.getRequestFingerprint().matches("[0-9a-f]+")) {
            violation(at, "request_fingerprint is not lowercase hex");
        }
    }

    void payload(String at, Stream stream, WalletEvent wallet) {
        switch (wallet.getEventCase()) {
            case WALLET_OPENED -> {
                var e = wallet.getWalletOpened();
                required(at, "owner", e.getOwner());
                required(at, "asset", e.getAsset());
                oneOf(at, "kind", e.getKind(), WALLET_KINDS);
                stream.assetScale = e.getAssetScale();
                limits(at, e.getLimits());
            }
            case WALLET_SUSPENDED, WALLET_REACTIVATED, WALLET_CLOSED -> {}
            case LIMITS_CHANGED -> limits(at, wallet.getLimitsChanged().getLimits());
            case FUNDS_CREDITED -> {
                var e = wallet.getFundsCredited();
                required(at, "lot_id", e.getLotId());
                oneOf(at, "source", e.getSource(), CREDIT_SOURCES);
                positive(at, stream, "amount", e.getAmount());
                balances(at, stream, e.getBalanceAfter(), e.getHeldAfter());
            }
            case FUNDS_DEBITED -> {
                var e = wallet.getFundsDebited();
                required(at, "debit_id", e.getDebitId());
                oneOf(at, "kind", e.getKind(), DEBIT_KINDS);
                BigDecimal amount = positive(at, stream, "amount", e.getAmount());
                draws(at, stream, "draws", e.getDrawsList(), amount);
                balances(at, stream, e.getBalanceAfter(), e.getHeldAfter());
            }
            case HOLD_PLACED -> {
                var e = wallet.getHoldPlaced();
                required(at, "hold_id", e.getHoldId());
                BigDecimal amount = positive(at, stream, "amount", e.getAmount());
                draws(at, stream, "reservations", e.getReservationsList(), amount);
                balances(at, stream, e.getBalanceAfter(), e.getHeldAfter());
                if (!stream.openHolds.add(e.getHoldId()) || stream.resolvedHolds.contains(e.getHoldId())) {
                    violation(at, "hold " + e.getHoldId() + " placed twice");
                }
            }
            case HOLD_CAPTURED -> {
                var e = wallet.getHoldCaptured();
                required(at, "debit_id", e.getDebitId());
                BigDecimal amount = positive(at, stream, "amount", e.getAmount());
                draws(at, stream, "draws", e.getDrawsList(), amount);
                if (!e.getReleased().isEmpty()) {
                    amount(at, stream, "released", e.getReleased());
                }
                balances(at, stream, e.getBalanceAfter(), e.getHeldAfter());
                resolve(at, stream, e.getHoldId());
            }
            case HOLD_RELEASED -> {
                var e = wallet.getHoldReleased();
                positive(at, stream, "amount", e.getAmount());
                oneOf(at, "reason", e.getReason(), RELEASE_REASONS);
                balances(at, stream, e.getBalanceAfter(), e.getHeldAfter());
                resolve(at, stream, e.getHoldId());
            }
            case LOT_EXPIRED -> {
                var e = wallet.getLotExpired();
                required(at, "lot_id", e.getLotId());
                amount(at, stream, "amount", e.getAmount());
                amount(at, stream, "remaining_after", e.getRemainingAfter());
                balances(at, stream, e.getBalanceAfter(), e.getHeldAfter());
            }
            case LOT_EXPIRING_SOON -> {
                var e = wallet.getLotExpiringSoon();
                required(at, "lot_id", e.getLotId());
                amount(at, stream, "amount", e.getAmount());
            }
            case EVENT_NOT_SET -> violation(at, "WalletEvent has no event set (unknown to this contract version?)");
        }
    }

    /** A hold resolves (captured or released) exactly once, and only after it was placed. */
    void resolve(String at, Stream stream, String holdId) {
        required(at, "hold_id", holdId);
        if (!stream.openHolds.remove(holdId)) {
            violation(at, stream.resolvedHolds.contains(holdId)
                    ? "hold " + holdId + " resolved twice"
                    : "hold " + holdId + " resolved but never placed");
        }
        stream.resolvedHolds.add(holdId);
    }

    /** The sum of a debit's draws (or a hold's reservations) equals its amount. */
    void draws(String at, Stream stream, String field, List<LotDraw> draws, BigDecimal amount) {
        BigDecimal sum = BigDecimal.ZERO;
        for (LotDraw draw : draws) {
            required(at, field + ".lot_id", draw.getLotId());
            BigDecimal drawn = amount(at, stream, field + ".amount", draw.getAmount());
            amount(at, stream, field + ".remaining_after", draw.getRemainingAfter());
            if (drawn != null) {
                sum = sum.add(drawn);
            }
        }
        if (amount != null && sum.compareTo(amount) != 0) {
            violation(at, field + " sum to " + sum.toPlainString() + ", not the amount " + amount.toPlainString());
        }
    }

    /** balance_after ≥ held_after ≥ 0. */
    void balances(String at, Stream stream, String balanceAfter, String heldAfter) {
        BigDecimal balance = amount(at, stream, "balance_after", balanceAfter);
        BigDecimal held = amount(at, stream, "held_after", heldAfter);
        if (balance != null && held != null && balance.compareTo(held) < 0) {
            violation(at, "balance_after " + balanceAfter + " below held_after " + heldAfter);
        }
    }

    void limits(String at, Limits limits) {
        if (limits.hasMaxBalance()) decimal(at, "limits.max_balance", limits.getMaxBalance());
        if (limits.hasDailyDebitLimit()) decimal(at, "limits.daily_debit_limit", limits.getDailyDebitLimit());
        if (limits.hasPerTransactionMax()) decimal(at, "limits.per_transaction_max", limits.getPerTransactionMax());
        if (limits.hasLowBalanceThreshold()) decimal(at, "limits.low_balance_threshold", limits.getLowBalanceThreshold());
    }

    BigDecimal positive(String at, Stream stream, String field, String text) {
        BigDecimal value = amount(at, stream, field, text);
        if (value != null && value.signum() <= 0) {
            violation(at, field + " " + text + " is not positive");
        }
        return value;
    }

    /** A money amount: a decimal string written at the wallet's asset scale ("12.30"). */
    BigDecimal amount(String at, Stream stream, String field, String text) {
        BigDecimal value = decimal(at, field, text);
        if (value != null && stream.assetScale >= 0 && value.scale() != stream.assetScale) {
            violation(at, field + " \"" + text + "\" is not at the asset scale " + stream.assetScale);
        }
        return value;
    }

    BigDecimal decimal(String at, String field, String text) {
        if (!DECIMAL.matcher(text).matches()) {
            violation(at, field + " \"" + text + "\" is not a plain decimal string");
            return null;
        }
        return new BigDecimal(text);
    }

    void required(String at, String field, String value) {
        if (value.isEmpty()) {
            violation(at, field + " is empty");
        }
    }

    void oneOf(String at, String field, String value, Set<String> allowed) {
        if (!allowed.contains(value)) {
            violation(at, field + " \"" + value + "\" is none of " + new java.util.TreeSet<>(allowed));
        }
    }

    void uuid(String at, String field, String text, int version) {
        try {
            UUID id = UUID.fromString(text);
            if (!id.toString().equals(text)) {
                violation(at, field + " \"" + text + "\" is not a UUID in canonical form");
            } else if (version > 0 && id.version() != version) {
                violation(at, field + " " + text + " is a UUIDv" + id.version() + ", not v" + version);
            }
        } catch (IllegalArgumentException e) {
            violation(at, field + " \"" + text + "\" is not a UUID");
        }
    }

    /** The stable event type name of a payload: its message name (FUNDS_DEBITED → FundsDebited). */
    static String typeName(WalletEvent.EventCase eventCase) {
        StringBuilder name = new StringBuilder();
        for (String word : eventCase.name().split("_")) {
            name.append(word.charAt(0)).append(word.substring(1).toLowerCase());
        }
        return name.toString();
    }

    String summary(int partitions, Long expectStreams) {
        long openStreams = streams.values().stream().filter(s -> s.lastSequence() > 0).count();
        StringBuilder types = new StringBuilder("{");
        for (Map.Entry<String, Long> entry : eventTypes.entrySet()) {
            if (types.length() > 1) types.append(',');
            types.append('"').append(entry.getKey()).append("\":").append(entry.getValue());
        }
        types.append('}');
        return "{\"partitions\":" + partitions + ",\"records\":" + records + ",\"events\":" + events
                + ",\"streams\":" + openStreams + ",\"losers\":" + losers + ",\"duplicates\":" + duplicates
                + ",\"gaps\":" + gaps + ",\"violations\":" + violationCount
                + (expectStreams == null ? "" : ",\"expected_streams\":" + expectStreams)
                + ",\"event_types\":" + types + "}";
    }

    public static void main(String[] args) {
        // Before any logger exists: the client's INFO chatter would drown the report's stderr.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
        String bootstrap = null;
        String topic = DEFAULT_TOPIC;
        Long expectStreams = null;
        long timeoutMs = DEFAULT_TIMEOUT_MS;
        try {
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--topic" -> topic = args[++i];
                    case "--expect-streams" -> expectStreams = Long.parseLong(args[++i]);
                    case "--timeout-ms" -> timeoutMs = Long.parseLong(args[++i]);
                    default -> {
                        if (args[i].startsWith("-") || bootstrap != null) {
                            throw new IllegalArgumentException("unexpected argument " + args[i]);
                        }
                        bootstrap = args[i];
                    }
                }
            }
            if (bootstrap == null) {
                throw new IllegalArgumentException("bootstrap servers missing");
            }
        } catch (RuntimeException e) {
            System.err.println("usage: purse-jvm-consumer BOOTSTRAP [--topic T] [--expect-streams N] [--timeout-ms N]: "
                    + e.getMessage());
            System.exit(64);
        }
        System.exit(run(bootstrap, topic, expectStreams, timeoutMs));
    }

    static int run(String bootstrap, String topic, Long expectStreams, long timeoutMs) {
        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        // Only committed transactions count: an aborted append was never acknowledged.
        config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        // Manual assignment: no group, nothing committed, every run reads everything.
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        config.put(ConsumerConfig.CLIENT_ID_CONFIG, "purse-jvm-consumer-check");
        config.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "1000");
        config.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, Long.toString(timeoutMs));
        WalletEventsCheck check = new WalletEventsCheck();
        long deadline = System.currentTimeMillis() + timeoutMs;
        int partitionCount;
        try (KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(config, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofMillis(timeoutMs));
            if (infos == null || infos.isEmpty()) {
                System.err.println("topic " + topic + " not found at " + bootstrap);
                return 2;
            }
            List<TopicPartition> partitions = new ArrayList<>();
            for (PartitionInfo info : infos) {
                partitions.add(new TopicPartition(topic, info.partition()));
            }
            partitionCount = partitions.size();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            // Under read_committed these are the last stable offsets: everything committed by now.
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
            Set<TopicPartition> pending = new HashSet<>();
            for (TopicPartition partition : partitions) {
                if (consumer.position(partition) < end.get(partition)) {
                    pending.add(partition);
                }
            }
            while (!pending.isEmpty()) {
                if (System.currentTimeMillis() > deadline) {
                    System.err.println("did not reach the end offsets " + end + " within " + timeoutMs + " ms; still "
                            + pending);
                    return 2;
                }
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(POLL_TIMEOUT)) {
                    TopicPartition partition = new TopicPartition(record.topic(), record.partition());
                    if (record.offset() < end.get(partition)) {
                        check.record(record);
                    }
                }
                // Positions, not the last record's offset: transaction markers take offsets too.
                pending.removeIf(partition -> consumer.position(partition) >= end.get(partition));
            }
        }
        if (expectStreams != null && check.streams.size() != expectStreams) {
            check.violation("summary", check.streams.size() + " wallets, expected " + expectStreams);
        }
        if (check.violationCount > VIOLATIONS_PRINTED_MAX) {
            System.out.println("violation: " + (check.violationCount - VIOLATIONS_PRINTED_MAX) + " more not printed");
        }
        System.out.println(check.summary(partitionCount, expectStreams));
        return check.violationCount == 0 ? 0 : 1;
    }
}
