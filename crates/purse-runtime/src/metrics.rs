//! Prometheus metrics: a fixed set of process-wide counters and the `/metrics` endpoint.
//!
//! Counters are plain atomics with their labels fixed at definition, so recording costs one
//! relaxed add and no wallet id can ever end up in a label (DESIGN §8).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

/// A monotonically increasing counter with fixed labels.
#[derive(Debug)]
pub struct Counter {
    name: &'static str,
    help: &'static str,
    labels: &'static str,
    value: AtomicU64,
}

impl Counter {
    /// A counter named `name` with Prometheus label text `labels` (`reader="projector"`).
    pub const fn new(name: &'static str, help: &'static str, labels: &'static str) -> Self {
        Self {
            name,
            help,
            labels,
            value: AtomicU64::new(0),
        }
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

const CONFLICTS: &str = "purse_stream_conflicts_total";
const CONFLICTS_HELP: &str =
    "Losing records (a stream sequence already taken) ignored by a reader: first writer wins.";
const COMMANDS: &str = "purse_commands_total";
const COMMANDS_HELP: &str = "Commands answered by shard workers, by outcome.";
const PROJECTED: &str = "purse_projected_records_total";
const PROJECTED_HELP: &str =
    "Event records the projector processed (winners written, losers skipped).";
const RELOADS: &str = "purse_shard_reloads_total";
const RELOADS_HELP: &str =
    "Times a shard worker dropped its state and re-read its partition (lost or unknown append).";
const APPEND_FAILURES: &str = "purse_shard_append_failures_total";
const APPEND_FAILURES_HELP: &str = "Appends the log did not confirm (aborted transaction, fenced \
     producer, timeout); the worker answered from what it read back and re-read its partition.";
const REACTOR_HANDLED_NAME: &str = "purse_reactor_handled_total";
const REACTOR_HANDLED_HELP: &str =
    "Reactor steps that succeeded (reactions to winning events and caught-up hooks).";
const REACTOR_RETRIES_NAME: &str = "purse_reactor_retries_total";
const REACTOR_RETRIES_HELP: &str =
    "Transient reaction failures a reactor retried (a steady rise means a stalled partition).";

/// Losing records ignored by the projector.
pub static PROJECTOR_CONFLICTS: Counter =
    Counter::new(CONFLICTS, CONFLICTS_HELP, "reader=\"projector\"");
/// Losing records ignored by shard workers (rebuild and read-back).
pub static SHARD_CONFLICTS: Counter = Counter::new(CONFLICTS, CONFLICTS_HELP, "reader=\"shard\"");
/// Commands that succeeded (including replays).
pub static COMMANDS_OK: Counter = Counter::new(COMMANDS, COMMANDS_HELP, "outcome=\"ok\"");
/// Commands the decider rejected.
pub static COMMANDS_REJECTED: Counter =
    Counter::new(COMMANDS, COMMANDS_HELP, "outcome=\"rejected\"");
/// Commands whose record lost or whose append was ambiguous (answered "retry").
pub static COMMANDS_RETRY: Counter = Counter::new(COMMANDS, COMMANDS_HELP, "outcome=\"retry\"");
/// Records the projector wrote.
pub static PROJECTED_RECORDS: Counter = Counter::new(PROJECTED, PROJECTED_HELP, "");
/// Shard reloads.
pub static SHARD_RELOADS: Counter = Counter::new(RELOADS, RELOADS_HELP, "");
/// Unconfirmed appends.
pub static SHARD_APPEND_FAILURES: Counter = Counter::new(APPEND_FAILURES, APPEND_FAILURES_HELP, "");
/// Losing records ignored by reactors (saga coordinator and other event reactions).
pub static REACTOR_CONFLICTS: Counter =
    Counter::new(CONFLICTS, CONFLICTS_HELP, "reader=\"reactor\"");
/// Reactor steps that succeeded.
pub static REACTOR_HANDLED: Counter = Counter::new(REACTOR_HANDLED_NAME, REACTOR_HANDLED_HELP, "");
/// Transient reaction failures retried.
pub static REACTOR_RETRIES: Counter = Counter::new(REACTOR_RETRIES_NAME, REACTOR_RETRIES_HELP, "");
const SAGA_DISPATCHES_NAME: &str = "purse_saga_dispatches_total";
const SAGA_DISPATCHES_HELP: &str =
    "Commands the saga coordinator sent for sagas, by target stream and outcome.";
const SAGA_INPUTS_NAME: &str = "purse_saga_inputs_total";
const SAGA_INPUTS_HELP: &str =
    "Observations (events and replies) the saga coordinator fed to sagas, by saga and outcome.";

macro_rules! outcome_counters {
    ($name:expr, $help:expr, $label:literal) => {
        [
            Counter::new($name, $help, concat!($label, ",outcome=\"ok\"")),
            Counter::new($name, $help, concat!($label, ",outcome=\"rejected\"")),
            Counter::new($name, $help, concat!($label, ",outcome=\"failed\"")),
            Counter::new($name, $help, concat!($label, ",outcome=\"retried\"")),
        ]
    };
}

/// Saga dispatches, indexed `[target][outcome]`: targets wallet, top_up, payment,
/// payment_method; outcomes ok, rejected (the target refused), failed (halted stream or reused
/// key: an operator must look), retried (timeout, unavailable, lost race).
pub static SAGA_DISPATCHES: [[Counter; 4]; 4] = [
    outcome_counters!(
        SAGA_DISPATCHES_NAME,
        SAGA_DISPATCHES_HELP,
        "target=\"wallet\""
    ),
    outcome_counters!(
        SAGA_DISPATCHES_NAME,
        SAGA_DISPATCHES_HELP,
        "target=\"top_up\""
    ),
    outcome_counters!(
        SAGA_DISPATCHES_NAME,
        SAGA_DISPATCHES_HELP,
        "target=\"payment\""
    ),
    outcome_counters!(
        SAGA_DISPATCHES_NAME,
        SAGA_DISPATCHES_HELP,
        "target=\"payment_method\""
    ),
];
/// Saga inputs, indexed `[saga][outcome]`: sagas top_up, auto_top_up; outcomes as for
/// [`SAGA_DISPATCHES`].
pub static SAGA_INPUTS: [[Counter; 4]; 2] = [
    outcome_counters!(SAGA_INPUTS_NAME, SAGA_INPUTS_HELP, "saga=\"top_up\""),
    outcome_counters!(SAGA_INPUTS_NAME, SAGA_INPUTS_HELP, "saga=\"auto_top_up\""),
];

static ALL: &[&Counter] = &[
    &PROJECTOR_CONFLICTS,
    &SHARD_CONFLICTS,
    &REACTOR_CONFLICTS,
    &COMMANDS_OK,
    &COMMANDS_REJECTED,
    &COMMANDS_RETRY,
    &PROJECTED_RECORDS,
    &SHARD_RELOADS,
    &SHARD_APPEND_FAILURES,
    &REACTOR_HANDLED,
    &REACTOR_RETRIES,
    &SAGA_DISPATCHES[0][0],
    &SAGA_DISPATCHES[0][1],
    &SAGA_DISPATCHES[0][2],
    &SAGA_DISPATCHES[0][3],
    &SAGA_DISPATCHES[1][0],
    &SAGA_DISPATCHES[1][1],
    &SAGA_DISPATCHES[1][2],
    &SAGA_DISPATCHES[1][3],
    &SAGA_DISPATCHES[2][0],
    &SAGA_DISPATCHES[2][1],
    &SAGA_DISPATCHES[2][2],
    &SAGA_DISPATCHES[2][3],
    &SAGA_DISPATCHES[3][0],
    &SAGA_DISPATCHES[3][1],
    &SAGA_DISPATCHES[3][2],
    &SAGA_DISPATCHES[3][3],
    &SAGA_INPUTS[0][0],
    &SAGA_INPUTS[0][1],
    &SAGA_INPUTS[0][2],
    &SAGA_INPUTS[0][3],
    &SAGA_INPUTS[1][0],
    &SAGA_INPUTS[1][1],
    &SAGA_INPUTS[1][2],
    &SAGA_INPUTS[1][3],
];

/// Every counter in the Prometheus text exposition format.
pub fn render() -> String {
    let mut text = String::new();
    let mut described = Vec::new();
    for counter in ALL {
        if !described.contains(&counter.name) {
            described.push(counter.name);
            let _ = writeln!(text, "# HELP {} {}", counter.name, counter.help);
            let _ = writeln!(text, "# TYPE {} counter", counter.name);
        }
        if counter.labels.is_empty() {
            let _ = writeln!(text, "{} {}", counter.name, counter.get());
        } else {
            let _ = writeln!(
                text,
                "{}{{{}}} {}",
                counter.name,
                counter.labels,
                counter.get()
            );
        }
    }
    text
}

/// Serves `GET /metrics` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new().route("/metrics", get(|| async { render() }));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_family_once_with_labels() {
        SHARD_CONFLICTS.add(2);
        let text = render();
        assert_eq!(
            text.matches("# TYPE purse_stream_conflicts_total counter")
                .count(),
            1
        );
        assert!(text.contains("purse_stream_conflicts_total{reader=\"shard\"} "));
        assert!(text.contains("purse_projected_records_total "));
    }
}
