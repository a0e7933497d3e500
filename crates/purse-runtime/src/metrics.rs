//! Prometheus metrics: typed telemetry events, one registry, and the `/metrics` endpoint.
//!
//! Code that observes something notable emits an [`Event`] through [`record`]; only this module
//! knows which counter or histogram an event moves. Every label is an enum or a `&'static str`
//! (a type name or a stream kind), so no wallet id can ever end up in a label (DESIGN §8).
//!
//! Counters are registered without their `_total` suffix because the OpenMetrics encoder adds it:
//! the exposed series keep the names in docs/runbook.md.

use std::sync::LazyLock;
use std::time::Duration;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use tokio::net::TcpListener;

/// Content type of [`render`]'s text.
pub const CONTENT_TYPE_OPENMETRICS: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Declares a label value enum whose exposed text is the given snake_case name.
macro_rules! label_value {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, so each series is exposed (at 0) before its first event.
            const ALL: &[Self] = &[$(Self::$variant),+];

            /// The label value as exposed.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
                EncodeLabelValue::encode(&self.as_str(), encoder)
            }
        }
    };
}

label_value! {
    /// Which kind of log reader ignored a losing record.
    Reader {
        /// The projector (read models).
        Projector => "projector",
        /// A shard worker (rebuild and read-back).
        Shard => "shard",
        /// A reactor (saga coordinator and other event reactions).
        Reactor => "reactor",
    }
}

label_value! {
    /// How a shard worker answered a command.
    Outcome {
        /// Succeeded (including replays).
        Ok => "ok",
        /// The decider rejected it, or its idempotency key was reused.
        Rejected => "rejected",
        /// Its record lost or the append was ambiguous: the caller should retry.
        Retry => "retry",
    }
}

label_value! {
    /// How a command the saga coordinator sent ended.
    SagaOutcome {
        /// The target accepted it.
        Ok => "ok",
        /// The target refused it.
        Rejected => "rejected",
        /// A halted stream or a reused key: an operator must look.
        Failed => "failed",
        /// Timeout, unavailable or a lost race: retried.
        Retried => "retried",
    }
}

label_value! {
    /// What the payments gateway did with a provider webhook.
    WebhookOutcome {
        /// Recorded on the payment.
        Recorded => "recorded",
        /// A repeat of one already recorded.
        Duplicate => "duplicate",
        /// Refused: bad or stale signature.
        RejectedSignature => "rejected_signature",
        /// Refused for any other reason (unreadable, unknown payment, contradiction).
        RejectedOther => "rejected_other",
    }
}

/// A notable occurrence; [`record`] turns it into metric updates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Event {
    /// A shard worker answered a command.
    CommandAnswered {
        /// The command type name (`shard::command_type`), never an id.
        command: &'static str,
        /// How it was answered.
        outcome: Outcome,
        /// From the start of its batch to its answer.
        elapsed: Duration,
    },
    /// A shard worker appended a batch of records and the log confirmed it.
    BatchAppended {
        /// Commands the batch carried.
        commands: usize,
        /// From append to confirmation.
        elapsed: Duration,
    },
    /// The log did not confirm an append (aborted transaction, fenced producer, timeout).
    AppendFailed,
    /// A shard worker dropped its state to re-read its partition.
    ShardReloaded,
    /// A reader ignored a losing record (first writer wins).
    StreamConflict {
        /// Which reader.
        reader: Reader,
    },
    /// The projector wrote a batch of records to the read store.
    Projected {
        /// Records processed (winners written, losers skipped).
        records: usize,
    },
    /// The projector wrote an event's rows.
    EventProjected {
        /// From the event's `occurred_at` to its rows being written.
        lag: Duration,
    },
    /// A reactor step succeeded.
    ReactorHandled,
    /// A reactor retried a transient failure.
    ReactorRetried,
    /// The saga coordinator sent a dispatch.
    SagaDispatched {
        /// The stream kind it was sent to (`EventCodec::STREAM_KIND` of its decider).
        target: &'static str,
        /// How it ended.
        outcome: SagaOutcome,
    },
    /// The saga coordinator fed an observation to a saga.
    SagaInput {
        /// The saga's stream kind (`EventCodec::STREAM_KIND` of its decider).
        saga: &'static str,
        /// How it ended.
        outcome: SagaOutcome,
    },
    /// The payments gateway handled a provider webhook.
    WebhookReceived {
        /// What it did.
        outcome: WebhookOutcome,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReaderLabels {
    reader: Reader,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CommandLabels {
    command: &'static str,
    outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DispatchLabels {
    target: &'static str,
    outcome: SagaOutcome,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SagaInputLabels {
    saga: &'static str,
    outcome: SagaOutcome,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct WebhookLabels {
    outcome: WebhookOutcome,
}

/// Latency buckets from 0.5 ms to about 4 s: local appends take well under a millisecond,
/// Kafka transactions tens of milliseconds, and anything past seconds is an incident anyway.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_5, 2.0, 14))
}

/// The process's metric families and the registry that exposes them.
struct Metrics {
    registry: Registry,
    conflicts: Family<ReaderLabels, Counter>,
    commands: Family<OutcomeLabels, Counter>,
    command_duration: Family<CommandLabels, Histogram, fn() -> Histogram>,
    batch_commands: Histogram,
    log_commit_duration: Histogram,
    projected_records: Counter,
    projection_lag: Histogram,
    shard_reloads: Counter,
    append_failures: Counter,
    reactor_handled: Counter,
    reactor_retries: Counter,
    saga_dispatches: Family<DispatchLabels, Counter>,
    saga_inputs: Family<SagaInputLabels, Counter>,
    webhooks: Family<WebhookLabels, Counter>,
}

impl Metrics {
    fn new() -> Self {
        let metrics = Self {
            registry: Registry::default(),
            conflicts: Family::default(),
            commands: Family::default(),
            command_duration: Family::new_with_constructor(latency_histogram),
            // Up to 512 commands: past `batch_max_commands` defaults with room to spare.
            batch_commands: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            log_commit_duration: latency_histogram(),
            projected_records: Counter::default(),
            // 1 ms to about 33 s: a lag of minutes reads as +Inf, which is alarm enough.
            projection_lag: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            shard_reloads: Counter::default(),
            append_failures: Counter::default(),
            reactor_handled: Counter::default(),
            reactor_retries: Counter::default(),
            saga_dispatches: Family::default(),
            saga_inputs: Family::default(),
            webhooks: Family::default(),
        };
        // Each labelled counter series exists from the start, so a scrape (and a test reading a
        // delta) sees 0 rather than nothing.
        for &reader in Reader::ALL {
            metrics
                .conflicts
                .get_or_create_owned(&ReaderLabels { reader });
        }
        for &outcome in Outcome::ALL {
            metrics
                .commands
                .get_or_create_owned(&OutcomeLabels { outcome });
        }
        for &outcome in WebhookOutcome::ALL {
            metrics
                .webhooks
                .get_or_create_owned(&WebhookLabels { outcome });
        }
        metrics.register()
    }

    /// Registers every family (each metric type is a shared handle, so the registry's copy and
    /// ours are the same series).
    fn register(mut self) -> Self {
        let registry = &mut self.registry;
        registry.register(
            "purse_stream_conflicts",
            "Losing records (a stream sequence already taken) ignored by a reader: first writer wins.",
            self.conflicts.clone(),
        );
        registry.register(
            "purse_commands",
            "Commands answered by shard workers, by outcome.",
            self.commands.clone(),
        );
        registry.register_with_unit(
            "purse_command_duration",
            "Time from a command's batch start to its answer, by command type and outcome.",
            Unit::Seconds,
            self.command_duration.clone(),
        );
        registry.register(
            "purse_batch_commands",
            "Commands per batch a shard worker appended.",
            self.batch_commands.clone(),
        );
        registry.register_with_unit(
            "purse_log_commit_duration",
            "Time from a shard worker's append to the log confirming it.",
            Unit::Seconds,
            self.log_commit_duration.clone(),
        );
        registry.register(
            "purse_projected_records",
            "Event records the projector processed (winners written, losers skipped).",
            self.projected_records.clone(),
        );
        registry.register_with_unit(
            "purse_projection_lag",
            "Time from an event occurring to the projector writing its rows.",
            Unit::Seconds,
            self.projection_lag.clone(),
        );
        registry.register(
            "purse_shard_reloads",
            "Times a shard worker dropped its state and re-read its partition (lost or unknown append).",
            self.shard_reloads.clone(),
        );
        registry.register(
            "purse_shard_append_failures",
            "Appends the log did not confirm (aborted transaction, fenced producer, timeout); the \
             worker answered from what it read back and re-read its partition.",
            self.append_failures.clone(),
        );
        registry.register(
            "purse_reactor_handled",
            "Reactor steps that succeeded (reactions to winning events and caught-up hooks).",
            self.reactor_handled.clone(),
        );
        registry.register(
            "purse_reactor_retries",
            "Transient reaction failures a reactor retried (a steady rise means a stalled partition).",
            self.reactor_retries.clone(),
        );
        registry.register(
            "purse_saga_dispatches",
            "Commands the saga coordinator sent for sagas, by target stream and outcome.",
            self.saga_dispatches.clone(),
        );
        registry.register(
            "purse_saga_inputs",
            "Observations (events and replies) the saga coordinator fed to sagas, by saga and outcome.",
            self.saga_inputs.clone(),
        );
        registry.register(
            "purse_webhooks",
            "Provider webhooks the payments gateway received, by outcome.",
            self.webhooks.clone(),
        );
        self
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// Exposes the saga series of these stream kinds at 0, so a scrape (and a test reading a delta)
/// sees them before their first event; the engine does not know which streams a saga feeds.
pub fn expose_saga_series(dispatch_targets: &[&'static str], sagas: &[&'static str]) {
    let metrics = &*METRICS;
    for &outcome in SagaOutcome::ALL {
        for &target in dispatch_targets {
            metrics
                .saga_dispatches
                .get_or_create_owned(&DispatchLabels { target, outcome });
        }
        for &saga in sagas {
            metrics
                .saga_inputs
                .get_or_create_owned(&SagaInputLabels { saga, outcome });
        }
    }
}

/// Updates the metrics `event` moves.
pub fn record(event: Event) {
    let metrics = &*METRICS;
    match event {
        Event::CommandAnswered {
            command,
            outcome,
            elapsed,
        } => {
            metrics
                .commands
                .get_or_create(&OutcomeLabels { outcome })
                .inc();
            metrics
                .command_duration
                .get_or_create(&CommandLabels { command, outcome })
                .observe(elapsed.as_secs_f64());
        }
        Event::BatchAppended { commands, elapsed } => {
            // Batches are bounded by `batch_max_commands`, far below f64's exact integer range.
            metrics.batch_commands.observe(commands as f64);
            metrics.log_commit_duration.observe(elapsed.as_secs_f64());
        }
        Event::AppendFailed => {
            metrics.append_failures.inc();
        }
        Event::ShardReloaded => {
            metrics.shard_reloads.inc();
        }
        Event::StreamConflict { reader } => {
            metrics
                .conflicts
                .get_or_create(&ReaderLabels { reader })
                .inc();
        }
        Event::Projected { records } => {
            metrics.projected_records.inc_by(records as u64);
        }
        Event::EventProjected { lag } => metrics.projection_lag.observe(lag.as_secs_f64()),
        Event::ReactorHandled => {
            metrics.reactor_handled.inc();
        }
        Event::ReactorRetried => {
            metrics.reactor_retries.inc();
        }
        Event::SagaDispatched { target, outcome } => {
            metrics
                .saga_dispatches
                .get_or_create(&DispatchLabels { target, outcome })
                .inc();
        }
        Event::SagaInput { saga, outcome } => {
            metrics
                .saga_inputs
                .get_or_create(&SagaInputLabels { saga, outcome })
                .inc();
        }
        Event::WebhookReceived { outcome } => {
            metrics
                .webhooks
                .get_or_create(&WebhookLabels { outcome })
                .inc();
        }
    }
}

/// Every metric in the OpenMetrics text format ([`CONTENT_TYPE_OPENMETRICS`]).
pub fn render() -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &METRICS.registry)
        .expect("writing to a String cannot fail");
    text
}

/// `GET /metrics`: [`render`] with its content type, for any axum router.
pub async fn handler() -> ([(axum::http::HeaderName, &'static str); 1], String) {
    ([(CONTENT_TYPE, CONTENT_TYPE_OPENMETRICS)], render())
}

/// Serves `GET /metrics` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new().route("/metrics", get(handler));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample line `series` (name and labels exactly as exposed).
    fn sample(text: &str, series: &str) -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
            .parse()
            .expect("sample value")
    }

    #[test]
    fn counters_keep_their_exposed_names_and_labels() {
        expose_saga_series(&["payment_method"], &["auto_top_up"]);
        let before = render();
        record(Event::StreamConflict {
            reader: Reader::Shard,
        });
        record(Event::StreamConflict {
            reader: Reader::Shard,
        });
        record(Event::ShardReloaded);
        record(Event::SagaDispatched {
            target: "payment_method",
            outcome: SagaOutcome::Retried,
        });
        let after = render();
        for (series, added) in [
            ("purse_stream_conflicts_total{reader=\"shard\"}", 2.0),
            ("purse_shard_reloads_total", 1.0),
            (
                "purse_saga_dispatches_total{target=\"payment_method\",outcome=\"retried\"}",
                1.0,
            ),
        ] {
            assert!(
                sample(&after, series) >= sample(&before, series) + added,
                "{series}"
            );
        }
        assert_eq!(
            after
                .matches("# TYPE purse_stream_conflicts counter")
                .count(),
            1
        );
        // Series that saw no event yet are exposed at their value, so readers see every label.
        sample(&after, "purse_stream_conflicts_total{reader=\"projector\"}");
        sample(
            &after,
            "purse_webhooks_total{outcome=\"rejected_signature\"}",
        );
        sample(
            &after,
            "purse_saga_inputs_total{saga=\"auto_top_up\",outcome=\"failed\"}",
        );
        assert!(after.ends_with("# EOF\n"));
    }

    #[test]
    fn a_command_answer_counts_its_outcome_and_times_it_by_type() {
        let series = "purse_commands_total{outcome=\"rejected\"}";
        let before = sample(&render(), series);
        record(Event::CommandAnswered {
            command: "TestOnlyCommand",
            outcome: Outcome::Rejected,
            elapsed: Duration::from_millis(3),
        });
        let text = render();
        assert!(sample(&text, series) >= before + 1.0);
        assert!(text.contains("# TYPE purse_command_duration_seconds histogram"));
        assert!(text.contains("# UNIT purse_command_duration_seconds seconds"));
        let labels = "command=\"TestOnlyCommand\",outcome=\"rejected\"";
        assert_eq!(
            sample(
                &text,
                &format!("purse_command_duration_seconds_count{{{labels}}}")
            ),
            1.0
        );
        // 3 ms falls past the 2 ms bucket and within the 4 ms one.
        assert_eq!(
            sample(
                &text,
                &format!("purse_command_duration_seconds_bucket{{le=\"0.002\",{labels}}}")
            ),
            0.0
        );
        assert_eq!(
            sample(
                &text,
                &format!("purse_command_duration_seconds_bucket{{le=\"0.004\",{labels}}}")
            ),
            1.0
        );
    }

    #[test]
    fn batches_and_projection_lag_are_histograms() {
        let before = render();
        record(Event::BatchAppended {
            commands: 3,
            elapsed: Duration::from_millis(20),
        });
        record(Event::EventProjected {
            lag: Duration::from_millis(150),
        });
        let text = render();
        for series in [
            "purse_batch_commands_count",
            "purse_log_commit_duration_seconds_count",
            "purse_projection_lag_seconds_count",
        ] {
            assert!(
                sample(&text, series) >= sample(&before, series) + 1.0,
                "{series}"
            );
        }
        assert!(text.contains("purse_batch_commands_bucket{le=\"4.0\"} "));
        assert!(text.contains("# TYPE purse_projection_lag_seconds histogram"));
    }
}
