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
use crate::latency;
use crate::prng::XorShift64Star;
use crate::report::ModeReport;
use crate::setup::{DEBIT_AMOUNT, join_all};
use crate::visibility;

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

/// What a set of tasks measured: calls and their latency, and the operations (debits, or
/// appended records) they carried, by outcome.
#[derive(Debug, Clone)]
pub(crate) struct Tally {
    /// Per-call latency in µs.
    pub(crate) latency_us: Histogram<u64>,
    /// Calls made.
    pub(crate) calls: u64,
    /// Operations that succeeded.
    pub(crate) ok: u64,
    /// Operations that failed, by reason (`Failure::key` for gRPC calls).
    pub(crate) failures: BTreeMap<String, FailureCount>,
}

impl Tally {
    /// Nothing measured yet.
    pub(crate) fn new() -> Self {
        Tally {
            latency_us: latency::histogram_us(),
            calls: 0,
            ok: 0,
            failures: BTreeMap::new(),
        }
    }

    /// One call that took `latency`.
    pub(crate) fn record_call(&mut self, latency: Duration) {
        self.calls += 1;
        latency::record(&mut self.latency_us, latency);
    }

    /// `count` operations failed with `failure`.
    pub(crate) fn record_failures(&mut self, failure: &Failure, count: u64) {
        self.record_failure(failure.key(), &failure.message, count);
    }

    /// `count` operations failed for reason `key`; `message` is kept if it is the first.
    pub(crate) fn record_failure(&mut self, key: String, message: &str, count: u64) {
        self.failures
            .entry(key)
            .and_modify(|seen| seen.count += count)
            .or_insert_with(|| FailureCount {
                count,
                example: message.to_owned(),
            });
    }

    /// Adds what `other` measured.
    pub(crate) fn merge(&mut self, other: Tally) {
        self.calls += other.calls;
        self.ok += other.ok;
        latency::add(&mut self.latency_us, &other.latency_us);
        for (key, seen) in other.failures {
            self.failures
                .entry(key)
                .and_modify(|mine| mine.count += seen.count)
                .or_insert(seen);
        }
    }

    /// Operations that failed.
    pub(crate) fn failed(&self) -> u64 {
        self.failures.values().map(|f| f.count).sum()
    }

    /// Operations sent (debits, or records appended).
    pub(crate) fn operations(&self) -> u64 {
        self.ok + self.failed()
    }
}

/// The operations a mode may still send, shared by its tasks.
pub(crate) struct Work {
    issued: AtomicU64,
    limit: Limit,
}

enum Limit {
    Count(u64),
    Until(Instant),
}

impl Work {
    /// The work of a mode that started at `started`.
    pub(crate) fn new(budget: Budget, started: Instant) -> Self {
        let limit = match budget {
            Budget::Count(count) => Limit::Count(count),
            Budget::DurationS(seconds) => Limit::Until(started + Duration::from_secs(seconds)),
        };
        Work {
            issued: AtomicU64::new(0),
            limit,
        }
    }

    /// Claims up to `want` operations: returns the index of the first (for idempotency keys) and
    /// how many, or `None` when the mode is done. A timed run lets calls started before the
    /// deadline finish.
    pub(crate) fn claim(&self, want: u64) -> Option<(u64, u64)> {
        match self.limit {
            Limit::Count(total) => {
                let first = self.issued.fetch_add(want, Ordering::Relaxed);
                (first < total).then(|| (first, want.min(total - first)))
            }
            Limit::Until(deadline) => (Instant::now() < deadline)
                .then(|| (self.issued.fetch_add(want, Ordering::Relaxed), want)),
        }
    }

    /// Whether every operation has been claimed (or the deadline passed), without claiming.
    pub(crate) fn is_done(&self) -> bool {
        match self.limit {
            Limit::Count(total) => self.issued.load(Ordering::Relaxed) >= total,
            Limit::Until(deadline) => Instant::now() >= deadline,
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
    /// Extra debits per mode whose projection is waited for (see `visibility`).
    pub(crate) visibility_samples: u32,
}

/// Runs one mode with `concurrency` tasks, and the visibility prober beside them if samples
/// were asked for; returns what they measured.
pub(crate) async fn run_mode(
    ctx: &Arc<LoadContext>,
    mode: LoadMode,
    concurrency: u32,
) -> Result<ModeReport, BenchError> {
    let started = Instant::now();
    let work = Arc::new(Work::new(ctx.budget, started));
    // Its own connection slot (one past the load tasks') and its own task, so the load keeps
    // `concurrency` calls in flight while a sample waits for the projector.
    let prober = (ctx.visibility_samples > 0).then(|| {
        tokio::spawn(visibility::probe(
            ctx.clone(),
            work.clone(),
            mode,
            started,
            concurrency as usize,
        ))
    });
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
    let tallies = match join_all(tasks).await {
        Ok(tallies) => tallies,
        Err(err) => {
            if let Some(prober) = prober {
                prober.abort();
            }
            return Err(err);
        }
    };
    // Throughput counts the load tasks only: a sample still waiting for the projector does not
    // stretch the mode.
    let elapsed = started.elapsed();
    let visibility = match prober {
        Some(prober) => Some(
            prober
                .await
                .map_err(|err| BenchError::Task(err.to_string()))?,
        ),
        None => None,
    };
    let mut tally = Tally::new();
    for one in tallies {
        tally.merge(one);
    }
    Ok(ModeReport {
        mode,
        tally,
        elapsed,
        visibility,
    })
}

/// A debit of [`DEBIT_AMOUNT`] from a random wallet of the run, under idempotency key `key`.
pub(crate) fn debit(ctx: &LoadContext, rng: &mut XorShift64Star, key: String) -> DebitRequest {
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
        let request = debit(ctx, &mut rng, format!("bench-{}-u-{index}", ctx.run_id));
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
        let request = BatchExecuteRequest { operations };
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
        code: tonic::Code::Unknown,
        reason: Some("NO_RESULT".to_owned()),
        message: "the server returned no result for this operation".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_work_is_claimed_exactly_once() {
        let work = Work::new(Budget::Count(2500), Instant::now());
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
        assert!(work.is_done());
        assert_eq!(work.claim(1), None);
        let work = Work::new(Budget::DurationS(60), Instant::now());
        assert_eq!(work.claim(10), Some((0, 10)));
        assert_eq!(work.claim(10), Some((10, 10)));
        assert!(!work.is_done());
    }

    #[test]
    fn counted_work_is_done_once_all_is_claimed() {
        let work = Work::new(Budget::Count(3), Instant::now());
        assert!(!work.is_done());
        assert_eq!(work.claim(2), Some((0, 2)));
        assert!(!work.is_done());
        assert_eq!(work.claim(2), Some((2, 1)));
        assert!(work.is_done());
    }

    #[test]
    fn tallies_merge() {
        let failure = Failure {
            code: tonic::Code::FailedPrecondition,
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
        assert_eq!(a.operations(), 10);
        let funds = &a.failures["FAILED_PRECONDITION INSUFFICIENT_FUNDS"];
        assert_eq!(funds.count, 3);
        assert_eq!(funds.example, "first");
        assert_eq!(a.failures["UNKNOWN NO_RESULT"].count, 4);
        // 0.1% resolution around 8 ms.
        assert!(a.latency_us.max().abs_diff(8_000) <= 8);
    }
}
