//! The measured phases: unary Debit calls, or BatchExecute calls of debits, from concurrent
//! tasks, until the debit count or the duration is reached.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use purse_proto::wallet::v1::{
    BatchExecuteRequest, BatchOperation, DebitKind, DebitRequest, batch_operation::Operation,
    batch_result,
};
use tokio::task::JoinSet;

use crate::args::{Budget, LoadMode};
use crate::client::{Failure, Rpc};
use crate::error::BenchError;
use crate::prng::XorShift64Star;
use crate::setup::{DEBIT_AMOUNT, join_all};

/// Highest latency the histogram resolves (one hour, in µs); longer calls count as this.
const LATENCY_US_MAX: u64 = 3_600_000_000;
/// Significant decimal digits kept by the histogram: 0.1% resolution.
const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;
/// Separates the PRNG streams of batch tasks from those of unary tasks.
const BATCH_STREAM_OFFSET: u64 = 1 << 32;

/// How one failure reason was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FailureCount {
    /// Debits that failed for this reason.
    pub(crate) count: u64,
    /// The first message seen, to tell what happened without a log.
    pub(crate) example: String,
}

/// What a set of tasks measured.
#[derive(Debug, Clone)]
pub(crate) struct Tally {
    /// Per-call latency in µs.
    pub(crate) latency_us: Histogram<u64>,
    /// Calls made.
    pub(crate) calls: u64,
    /// Debits that succeeded.
    pub(crate) ok: u64,
    /// Debits that failed, by `Failure::key`.
    pub(crate) failures: BTreeMap<String, FailureCount>,
}

impl Tally {
    fn new() -> Self {
        Tally {
            latency_us: Histogram::new_with_bounds(1, LATENCY_US_MAX, LATENCY_SIGNIFICANT_DIGITS)
                .expect("constant histogram bounds are valid"),
            calls: 0,
            ok: 0,
            failures: BTreeMap::new(),
        }
    }

    fn record_call(&mut self, latency: Duration) {
        self.calls += 1;
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        // The histogram's floor is 1 µs.
        self.latency_us.saturating_record(micros.max(1));
    }

    fn record_failures(&mut self, failure: &Failure, debits: u64) {
        self.failures
            .entry(failure.key())
            .and_modify(|seen| seen.count += debits)
            .or_insert_with(|| FailureCount {
                count: debits,
                example: failure.message.clone(),
            });
    }

    fn merge(&mut self, other: Tally) {
        self.calls += other.calls;
        self.ok += other.ok;
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms built with the same bounds always add");
        for (key, seen) in other.failures {
            self.failures
                .entry(key)
                .and_modify(|mine| mine.count += seen.count)
                .or_insert(seen);
        }
    }

    /// Debits that failed.
    pub(crate) fn failed(&self) -> u64 {
        self.failures.values().map(|f| f.count).sum()
    }

    /// Debits sent.
    pub(crate) fn debits(&self) -> u64 {
        self.ok + self.failed()
    }
}

/// The debits a mode may still send, shared by its tasks.
struct Work {
    issued: AtomicU64,
    limit: Limit,
}

enum Limit {
    Count(u64),
    Until(Instant),
}

impl Work {
    fn new(budget: Budget, started: Instant) -> Self {
        let limit = match budget {
            Budget::Debits(debits) => Limit::Count(debits),
            Budget::DurationS(seconds) => Limit::Until(started + Duration::from_secs(seconds)),
        };
        Work {
            issued: AtomicU64::new(0),
            limit,
        }
    }

    /// Claims up to `want` debits: returns the index of the first (for idempotency keys) and
    /// how many, or `None` when the mode is done. A timed run lets calls started before the
    /// deadline finish.
    fn claim(&self, want: u64) -> Option<(u64, u64)> {
        match self.limit {
            Limit::Count(total) => {
                let first = self.issued.fetch_add(want, Ordering::Relaxed);
                (first < total).then(|| (first, want.min(total - first)))
            }
            Limit::Until(deadline) => (Instant::now() < deadline)
                .then(|| (self.issued.fetch_add(want, Ordering::Relaxed), want)),
        }
    }
}

/// Everything a load task needs.
pub(crate) struct LoadContext {
    /// Connections.
    pub(crate) rpc: Rpc,
    /// The funded wallets.
    pub(crate) wallet_ids: Arc<Vec<String>>,
    /// Run id, in every idempotency key so runs never collide.
    pub(crate) run_id: String,
    /// PRNG seed derived from the run id.
    pub(crate) seed: u64,
    /// When each mode stops.
    pub(crate) budget: Budget,
    /// Debits per BatchExecute call.
    pub(crate) batch_size: u32,
}

/// Runs one mode with `concurrency` tasks; returns what they measured and the elapsed time.
pub(crate) async fn run_mode(
    ctx: &Arc<LoadContext>,
    mode: LoadMode,
    concurrency: u32,
) -> Result<(Tally, Duration), BenchError> {
    let started = Instant::now();
    let work = Arc::new(Work::new(ctx.budget, started));
    let mut tasks = JoinSet::new();
    for task in 0..concurrency as usize {
        let (ctx, work) = (ctx.clone(), work.clone());
        tasks.spawn(async move {
            Ok(match mode {
                LoadMode::Unary => unary_task(&ctx, &work, task).await,
                LoadMode::Batch => batch_task(&ctx, &work, task).await,
            })
        });
    }
    let tallies = join_all(tasks).await?;
    let elapsed = started.elapsed();
    let mut total = Tally::new();
    for tally in tallies {
        total.merge(tally);
    }
    Ok((total, elapsed))
}

fn debit(ctx: &LoadContext, rng: &mut XorShift64Star, key: String) -> DebitRequest {
    let wallet = rng.below(ctx.wallet_ids.len() as u64) as usize;
    DebitRequest {
        wallet_id: ctx.wallet_ids[wallet].clone(),
        idempotency_key: key,
        amount: DEBIT_AMOUNT.to_string(),
        kind: DebitKind::Purchase.into(),
        reference: String::new(),
        description: String::new(),
    }
}

async fn unary_task(ctx: &LoadContext, work: &Work, task: usize) -> Tally {
    let mut client = ctx.rpc.client(task);
    let mut rng = XorShift64Star::new(ctx.seed, task as u64);
    let mut tally = Tally::new();
    while let Some((index, _)) = work.claim(1) {
        let request = ctx.rpc.request(debit(
            ctx,
            &mut rng,
            format!("bench-{}-u-{index}", ctx.run_id),
        ));
        let started = Instant::now();
        let result = ctx.rpc.finish(client.debit(request)).await;
        tally.record_call(started.elapsed());
        match result {
            Ok(_) => tally.ok += 1,
            Err(failure) => tally.record_failures(&failure, 1),
        }
    }
    tally
}

async fn batch_task(ctx: &LoadContext, work: &Work, task: usize) -> Tally {
    let mut client = ctx.rpc.client(task);
    let mut rng = XorShift64Star::new(ctx.seed, BATCH_STREAM_OFFSET + task as u64);
    let mut tally = Tally::new();
    while let Some((first, count)) = work.claim(u64::from(ctx.batch_size)) {
        let operations = (first..first + count)
            .map(|index| BatchOperation {
                operation: Some(Operation::Debit(debit(
                    ctx,
                    &mut rng,
                    format!("bench-{}-b-{index}", ctx.run_id),
                ))),
            })
            .collect();
        let request = ctx.rpc.request(BatchExecuteRequest { operations });
        let started = Instant::now();
        let result = ctx.rpc.finish(client.batch_execute(request)).await;
        tally.record_call(started.elapsed());
        match result {
            Ok(response) => {
                let mut answered = 0;
                for result in response.results.iter().take(count as usize) {
                    answered += 1;
                    match &result.result {
                        Some(batch_result::Result::Ok(_)) => tally.ok += 1,
                        Some(batch_result::Result::Error(error)) => {
                            tally.record_failures(&Failure::from_batch_error(error), 1);
                        }
                        None => tally.record_failures(&no_result(), 1),
                    }
                }
                if answered < count {
                    tally.record_failures(&no_result(), count - answered);
                }
            }
            Err(failure) => tally.record_failures(&failure, count),
        }
    }
    tally
}

fn no_result() -> Failure {
    Failure {
        code: "UNKNOWN",
        reason: Some("NO_RESULT".to_owned()),
        message: "the server returned no result for this operation".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_work_is_claimed_exactly_once() {
        let work = Work::new(Budget::Debits(2500), Instant::now());
        let mut claimed = Vec::new();
        while let Some(claim) = work.claim(1000) {
            claimed.push(claim);
        }
        assert_eq!(claimed, vec![(0, 1000), (1000, 1000), (2000, 500)]);
        assert_eq!(work.claim(1), None);
    }

    #[test]
    fn timed_work_stops_at_the_deadline() {
        let work = Work::new(
            Budget::DurationS(1),
            Instant::now() - Duration::from_secs(2),
        );
        assert_eq!(work.claim(1), None);
        let work = Work::new(Budget::DurationS(60), Instant::now());
        assert_eq!(work.claim(10), Some((0, 10)));
        assert_eq!(work.claim(10), Some((10, 10)));
    }

    #[test]
    fn tallies_merge() {
        let failure = Failure {
            code: "FAILED_PRECONDITION",
            reason: Some("INSUFFICIENT_FUNDS".into()),
            message: "first".into(),
        };
        let mut a = Tally::new();
        a.record_call(Duration::from_millis(2));
        a.ok += 3;
        a.record_failures(&failure, 2);
        let mut b = Tally::new();
        b.record_call(Duration::from_millis(8));
        b.record_failures(
            &Failure {
                message: "second".into(),
                ..failure.clone()
            },
            1,
        );
        b.record_failures(&no_result(), 4);
        a.merge(b);
        assert_eq!(a.calls, 2);
        assert_eq!(a.ok, 3);
        assert_eq!(a.failed(), 7);
        assert_eq!(a.debits(), 10);
        let funds = &a.failures["FAILED_PRECONDITION INSUFFICIENT_FUNDS"];
        assert_eq!(funds.count, 3);
        assert_eq!(funds.example, "first");
        assert_eq!(a.failures["UNKNOWN NO_RESULT"].count, 4);
        // 0.1% resolution around 8 ms.
        assert!(a.latency_us.max().abs_diff(8_000) <= 8);
    }
}
