//! The summary: machine, settings, setup, and per mode throughput, failures and latency.
//! Latencies are reported in ms as floating point: they are measurements, not money.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::args::{BenchArgs, Budget, LoadMode};
use crate::load::Tally;

/// One measured mode.
#[derive(Debug, Clone)]
pub(crate) struct ModeReport {
    /// Which mode.
    pub(crate) mode: LoadMode,
    /// What it measured.
    pub(crate) tally: Tally,
    /// From the first call to the last answer.
    pub(crate) elapsed: Duration,
}

/// Setup figures.
#[derive(Debug, Clone)]
pub(crate) struct SetupReport {
    /// Wallets created.
    pub(crate) wallets: usize,
    /// Time to create them.
    pub(crate) create_elapsed: Duration,
    /// Funding calls made.
    pub(crate) fund_calls: usize,
    /// Time to fund them.
    pub(crate) fund_elapsed: Duration,
    /// Each wallet's credit.
    pub(crate) funding_per_wallet: Decimal,
}

/// The whole run.
#[derive(Debug, Clone)]
pub(crate) struct Summary {
    /// The run id (in every owner and idempotency key of the run).
    pub(crate) run_id: String,
    /// CPUs available to this process.
    pub(crate) nproc: usize,
    /// The flags (the token is never reported).
    pub(crate) args: BenchArgs,
    /// Setup.
    pub(crate) setup: SetupReport,
    /// Each mode, in run order.
    pub(crate) modes: Vec<ModeReport>,
}

/// Latency percentiles of one mode, per call, in ms.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Latency {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

impl ModeReport {
    fn latency(&self) -> Latency {
        let h = &self.tally.latency_us;
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }

    fn per_second(&self, count: u64) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            count as f64 / seconds
        } else {
            0.0
        }
    }
}

fn budget_text(budget: Budget) -> String {
    match budget {
        Budget::Debits(debits) => format!("{debits} debits per mode"),
        Budget::DurationS(seconds) => format!("{seconds} s per mode"),
    }
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// The human-readable summary.
pub(crate) fn human(summary: &Summary) -> String {
    let a = &summary.args;
    let s = &summary.setup;
    let mut out = vec![
        format!("purse-bench run {}", summary.run_id),
        format!("machine: {} CPUs available", summary.nproc),
        format!(
            "settings: endpoint {} | wallets {} | {} | concurrency {} | batch concurrency {} | \
             batch size {} | connections {} | timeout {} ms",
            a.endpoint,
            a.wallets,
            budget_text(a.budget()),
            a.concurrency,
            a.batch_concurrency(),
            a.batch_size,
            a.connections,
            a.timeout_ms
        ),
        format!(
            "setup: created {} wallets in {:.2} s ({:.0}/s); funded each with {} {} in {} \
             calls, {:.2} s",
            s.wallets,
            s.create_elapsed.as_secs_f64(),
            rate(s.wallets, s.create_elapsed),
            s.funding_per_wallet,
            crate::setup::ASSET,
            s.fund_calls,
            s.fund_elapsed.as_secs_f64()
        ),
    ];
    for mode in &summary.modes {
        let t = &mode.tally;
        let l = mode.latency();
        out.push(String::new());
        out.push(format!(
            "{}: {} debits in {} calls, {:.2} s: {:.1} debits/s ({:.1} ok/s)",
            mode.mode.name(),
            t.debits(),
            t.calls,
            mode.elapsed.as_secs_f64(),
            mode.per_second(t.debits()),
            mode.per_second(t.ok)
        ));
        out.push(format!("  ok {}  failed {}", t.ok, t.failed()));
        for (reason, seen) in &t.failures {
            out.push(format!(
                "  failed {reason}: {} (e.g. {})",
                seen.count, seen.example
            ));
        }
        out.push(format!(
            "  latency per call (ms): p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
            l.p50, l.p90, l.p99, l.max
        ));
    }
    out.join("\n")
}

/// The summary as one JSON object.
pub(crate) fn json(summary: &Summary) -> Value {
    let a = &summary.args;
    let s = &summary.setup;
    let (debits, duration_s) = match a.budget() {
        Budget::Debits(debits) => (Some(debits), None),
        Budget::DurationS(seconds) => (None, Some(seconds)),
    };
    let modes: Vec<Value> = summary
        .modes
        .iter()
        .map(|mode| {
            let t = &mode.tally;
            let l = mode.latency();
            json!({
                "mode": mode.mode.name(),
                "calls": t.calls,
                "debits": t.debits(),
                "ok": t.ok,
                "failed": t.failed(),
                "failures": t.failures.iter().map(|(reason, seen)| json!({
                    "reason": reason,
                    "count": seen.count,
                    "example": seen.example,
                })).collect::<Vec<_>>(),
                "elapsed_s": mode.elapsed.as_secs_f64(),
                "debits_per_s": mode.per_second(t.debits()),
                "ok_per_s": mode.per_second(t.ok),
                "latency_ms": { "p50": l.p50, "p90": l.p90, "p99": l.p99, "max": l.max },
            })
        })
        .collect();
    json!({
        "run_id": summary.run_id,
        "machine": { "nproc": summary.nproc },
        "settings": {
            "endpoint": a.endpoint,
            "wallets": a.wallets,
            "debits": debits,
            "duration_s": duration_s,
            "concurrency": a.concurrency,
            "batch_concurrency": a.batch_concurrency(),
            "batch_size": a.batch_size,
            "connections": a.connections,
            "mode": a.modes().iter().map(|m| m.name()).collect::<Vec<_>>(),
            "timeout_ms": a.timeout_ms,
        },
        "setup": {
            "wallets": s.wallets,
            "create_s": s.create_elapsed.as_secs_f64(),
            "fund_calls": s.fund_calls,
            "fund_s": s.fund_elapsed.as_secs_f64(),
            // A decimal string like every amount on the API.
            "funding_per_wallet": s.funding_per_wallet.to_string(),
        },
        "modes": modes,
    })
}
