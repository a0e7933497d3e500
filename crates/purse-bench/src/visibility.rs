//! Command→projection visibility: how long after a debit is sent (or answered) the read model
//! shows it. In cluster mode a reply means the event is durable in the log; the projector
//! service writes the read store afterwards, so queries without `min_sequence` lag behind.
//!
//! One prober task per mode, beside the load tasks, sends a bounded number of extra debits (so
//! the throughput run is not distorted) and after each reply polls GetBalance with
//! `min_sequence` 0 (the server answers from the store at once, never waits) in a tight loop
//! until the balance's sequence reaches the reply's. The moment of visibility is taken when that
//! GetBalance answer arrives, so the resolution is one GetBalance round trip.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use purse_proto::wallet::v1::GetBalanceRequest;

use crate::args::{Budget, LoadMode};
use crate::latency;
use crate::load::{LoadContext, Tally, Work, debit};
use crate::prng::XorShift64Star;

/// Separates the PRNG stream of the prober from those of the load tasks (unary tasks use
/// streams from 0, batch tasks from 2^32).
const PROBE_STREAM_OFFSET: u64 = 1 << 40;

/// What the prober of one mode measured.
#[derive(Debug, Clone)]
pub(crate) struct Visibility {
    /// The sample debits: command→reply latency, and failures by reason (a failed debit has no
    /// sequence to wait for and is not sampled further).
    pub(crate) debits: Tally,
    /// From sending the debit to the first GetBalance answer showing its sequence, in µs.
    pub(crate) command_to_visible_us: Histogram<u64>,
    /// From the debit's reply to the first GetBalance answer showing its sequence, in µs.
    pub(crate) reply_to_visible_us: Histogram<u64>,
    /// Answered debits whose sequence was not visible within `--timeout-ms` of sending.
    pub(crate) not_visible: u64,
    /// GetBalance calls made.
    pub(crate) polls: u64,
    /// GetBalance calls that failed (polling went on until the deadline).
    pub(crate) poll_failures: u64,
}

impl Visibility {
    fn new() -> Self {
        Visibility {
            debits: Tally::new(),
            command_to_visible_us: latency::histogram_us(),
            reply_to_visible_us: latency::histogram_us(),
            not_visible: 0,
            polls: 0,
            poll_failures: 0,
        }
    }

    /// A sample sent at `sent`, answered at `replied`, seen in the read model at `seen`.
    fn record_visible(&mut self, sent: Instant, replied: Instant, seen: Instant) {
        latency::record(&mut self.command_to_visible_us, seen - sent);
        latency::record(&mut self.reply_to_visible_us, seen - replied);
    }

    /// Samples whose debit was answered and became visible.
    pub(crate) fn visible(&self) -> u64 {
        self.command_to_visible_us.len()
    }
}

/// When sample `index` of `samples` starts, after the mode's start: spread evenly over a timed
/// run, so the figures cover all of it; back to back in a counted run, whose length is unknown.
fn sample_offset(budget: Budget, samples: u32, index: u32) -> Duration {
    match budget {
        Budget::DurationS(seconds) => Duration::from_secs(seconds) * index / samples.max(1),
        Budget::Count(_) => Duration::ZERO,
    }
}

/// Sends up to `ctx.visibility_samples` debits while `work` lasts, waiting after each until the
/// read model shows it. `task` picks the connection.
pub(crate) async fn probe(
    ctx: Arc<LoadContext>,
    work: Arc<Work>,
    mode: LoadMode,
    started: Instant,
    task: usize,
) -> Visibility {
    let mut client = ctx.rpc.client(task);
    let mut rng = XorShift64Star::new(ctx.seed, PROBE_STREAM_OFFSET + task as u64);
    let timeout = ctx.rpc.timeout();
    let samples = ctx.visibility_samples;
    let mut visibility = Visibility::new();
    for index in 0..samples {
        tokio::time::sleep_until((started + sample_offset(ctx.budget, samples, index)).into())
            .await;
        if work.is_done() {
            break;
        }
        let request = debit(
            &ctx,
            &mut rng,
            format!("bench-{}-{}-visibility-{index}", ctx.run_id, mode.name()),
        );
        let wallet_id = request.wallet_id.clone();
        let sent = Instant::now();
        let reply = ctx.rpc.finish(client.debit(request)).await;
        let replied = Instant::now();
        visibility.debits.record_call(replied - sent);
        let sequence = match reply {
            Ok(reply) => {
                visibility.debits.ok += 1;
                reply.sequence
            }
            Err(failure) => {
                visibility.debits.record_failures(&failure, 1);
                continue;
            }
        };
        // No pause between polls: a pause would add up to its length to every figure.
        loop {
            visibility.polls += 1;
            let request = GetBalanceRequest {
                wallet_id: wallet_id.clone(),
                min_sequence: 0,
                as_of_ms: None,
            };
            match ctx.rpc.finish(client.get_balance(request)).await {
                Ok(balance) if balance.sequence >= sequence => {
                    visibility.record_visible(sent, replied, Instant::now());
                    break;
                }
                Ok(_) => {}
                Err(_) => visibility.poll_failures += 1,
            }
            if sent.elapsed() >= timeout {
                visibility.not_visible += 1;
                break;
            }
        }
    }
    visibility
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_spread_over_a_timed_run_and_run_back_to_back_otherwise() {
        let budget = Budget::DurationS(20);
        assert_eq!(sample_offset(budget, 4, 0), Duration::ZERO);
        assert_eq!(sample_offset(budget, 4, 1), Duration::from_secs(5));
        assert_eq!(sample_offset(budget, 4, 3), Duration::from_secs(15));
        assert_eq!(
            sample_offset(Budget::DurationS(1), 3, 1),
            Duration::from_nanos(333_333_333)
        );
        assert_eq!(sample_offset(Budget::Count(100), 4, 3), Duration::ZERO);
    }

    #[test]
    fn visibility_is_measured_from_the_command_and_from_the_reply() {
        let mut v = Visibility::new();
        let sent = Instant::now();
        v.record_visible(
            sent,
            sent + Duration::from_millis(10),
            sent + Duration::from_millis(25),
        );
        assert_eq!(v.visible(), 1);
        assert!(v.command_to_visible_us.max().abs_diff(25_000) <= 25);
        assert!(v.reply_to_visible_us.max().abs_diff(15_000) <= 15);
    }
}
