//! The summaries: machine, settings, setup, and per mode throughput, failures, latency and
//! projection visibility; and the log-readback run. Latencies are reported in ms as floating
//! point: they are measurements, not money.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::args::{BenchArgs, Budget, LoadMode};
use crate::latency::{Percentiles, per_second};
use crate::load::Tally;
use crate::readback::ReadbackReport;
use crate::visibility::Visibility;

/// One measured mode.
#[derive(Debug, Clone)]
pub(crate) struct ModeReport {
    /// Which mode.
    pub(crate) mode: LoadMode,
    /// What it measured.
    pub(crate) tally: Tally,
    /// From the first call to the last answer.
    pub(crate) elapsed: Duration,
    /// Command→projection visibility, when `--visibility-samples` asked for it.
    pub(crate) visibility: Option<Visibility>,
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

fn budget_text(budget: Budget) -> String {
    match budget {
        Budget::Count(debits) => format!("{debits} debits per mode"),
        Budget::DurationS(seconds) => format!("{seconds} s per mode"),
    }
}

/// One line per failure reason, indented under its mode.
fn failure_lines(tally: &Tally, out: &mut Vec<String>) {
    for (reason, seen) in &tally.failures {
        out.push(format!(
            "  failed {reason}: {} (e.g. {})",
            seen.count, seen.example
        ));
    }
}

/// The failures by reason, for JSON.
fn failures_json(tally: &Tally) -> Vec<Value> {
    tally
        .failures
        .iter()
        .map(|(reason, seen)| {
            json!({
                "reason": reason,
                "count": seen.count,
                "example": seen.example,
            })
        })
        .collect()
}

fn visibility_lines(v: &Visibility, timeout_ms: u64, out: &mut Vec<String>) {
    out.push(format!(
        "  visibility: {} of {} sampled debits seen in the read model ({} answered, {} not seen \
         within {timeout_ms} ms; {} GetBalance polls, {} failed)",
        v.visible(),
        v.debits.operations(),
        v.debits.ok,
        v.not_visible,
        v.polls,
        v.poll_failures
    ));
    failure_lines(&v.debits, out);
    out.push(format!(
        "  command->visible (ms): {}",
        Percentiles::of(&v.command_to_visible_us).text()
    ));
    out.push(format!(
        "  reply->visible (ms): {}",
        Percentiles::of(&v.reply_to_visible_us).text()
    ));
    out.push(format!(
        "  sampled debit command->reply (ms): {}",
        Percentiles::of(&v.debits.latency_us).text()
    ));
}

fn visibility_json(v: &Visibility) -> Value {
    json!({
        "samples": v.debits.operations(),
        "answered": v.debits.ok,
        "failed": v.debits.failed(),
        "failures": failures_json(&v.debits),
        "visible": v.visible(),
        "not_visible": v.not_visible,
        "polls": v.polls,
        "poll_failures": v.poll_failures,
        "command_to_visible_ms": Percentiles::of(&v.command_to_visible_us).json(),
        "reply_to_visible_ms": Percentiles::of(&v.reply_to_visible_us).json(),
        "command_to_reply_ms": Percentiles::of(&v.debits.latency_us).json(),
    })
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
             batch size {} | connections {} per endpoint | timeout {} ms | visibility samples {} \
             per mode",
            a.endpoint.join(","),
            a.wallets,
            budget_text(a.budget()),
            a.concurrency,
            a.batch_concurrency(),
            a.batch_size,
            a.connections,
            a.timeout_ms,
            a.visibility_samples
        ),
        format!(
            "setup: created {} wallets in {:.2} s ({:.0}/s); funded each with {} {} in {} \
             calls, {:.2} s",
            s.wallets,
            s.create_elapsed.as_secs_f64(),
            per_second(s.wallets as u64, s.create_elapsed),
            s.funding_per_wallet,
            crate::setup::ASSET,
            s.fund_calls,
            s.fund_elapsed.as_secs_f64()
        ),
    ];
    for mode in &summary.modes {
        let t = &mode.tally;
        out.push(String::new());
        out.push(format!(
            "{}: {} debits in {} calls, {:.2} s: {:.1} debits/s ({:.1} ok/s)",
            mode.mode.name(),
            t.operations(),
            t.calls,
            mode.elapsed.as_secs_f64(),
            per_second(t.operations(), mode.elapsed),
            per_second(t.ok, mode.elapsed)
        ));
        out.push(format!("  ok {}  failed {}", t.ok, t.failed()));
        failure_lines(t, &mut out);
        out.push(format!(
            "  latency per call (ms): {}",
            Percentiles::of(&t.latency_us).text()
        ));
        if let Some(visibility) = &mode.visibility {
            visibility_lines(visibility, a.timeout_ms, &mut out);
        }
    }
    out.join("\n")
}

/// The summary as one JSON object.
pub(crate) fn json(summary: &Summary) -> Value {
    let a = &summary.args;
    let s = &summary.setup;
    let (debits, duration_s) = match a.budget() {
        Budget::Count(debits) => (Some(debits), None),
        Budget::DurationS(seconds) => (None, Some(seconds)),
    };
    let modes: Vec<Value> = summary
        .modes
        .iter()
        .map(|mode| {
            let t = &mode.tally;
            json!({
                "mode": mode.mode.name(),
                "calls": t.calls,
                "debits": t.operations(),
                "ok": t.ok,
                "failed": t.failed(),
                "failures": failures_json(t),
                "elapsed_s": mode.elapsed.as_secs_f64(),
                "debits_per_s": per_second(t.operations(), mode.elapsed),
                "ok_per_s": per_second(t.ok, mode.elapsed),
                "latency_ms": Percentiles::of(&t.latency_us).json(),
                "visibility": mode.visibility.as_ref().map(visibility_json),
            })
        })
        .collect();
    json!({
        "run_id": summary.run_id,
        "machine": { "nproc": summary.nproc },
        "settings": {
            // Comma-joined, as the flag takes them.
            "endpoint": a.endpoint.join(","),
            "wallets": a.wallets,
            "debits": debits,
            "duration_s": duration_s,
            "concurrency": a.concurrency,
            "batch_concurrency": a.batch_concurrency(),
            "batch_size": a.batch_size,
            "connections": a.connections,
            "mode": a.modes().iter().map(|m| m.name()).collect::<Vec<_>>(),
            "timeout_ms": a.timeout_ms,
            "visibility_samples": a.visibility_samples,
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

fn readback_budget_text(budget: Budget) -> String {
    match budget {
        Budget::Count(records) => format!("{records} records"),
        Budget::DurationS(seconds) => format!("{seconds} s"),
    }
}

/// The human-readable log-readback summary.
pub(crate) fn readback_human(report: &ReadbackReport) -> String {
    let a = &report.args;
    let t = &report.tally.appends;
    let mut out = vec![
        format!("purse-bench log-readback run {}", report.run_id),
        format!("machine: {} CPUs available", report.nproc),
        format!(
            "settings: brokers {} | topic {} | partitions {} | writers per partition {} | {} | \
             batch size {} | payload {} bytes | fetch.wait.max.ms {} | timeout {} ms",
            a.brokers,
            report.topic,
            a.partitions,
            a.writers_per_partition,
            readback_budget_text(a.budget()),
            a.batch_size,
            a.payload_bytes,
            a.fetch_wait_max_ms,
            a.timeout_ms
        ),
        String::new(),
        format!(
            "log-readback: {} records in {} appends, {:.2} s: {:.1} records/s, {:.1} appends/s",
            t.operations(),
            t.calls,
            report.elapsed.as_secs_f64(),
            per_second(t.ok, report.elapsed),
            per_second(t.calls, report.elapsed)
        ),
        format!("  read back {}  failed {}", t.ok, t.failed()),
    ];
    failure_lines(t, &mut out);
    out.push(format!(
        "  append->ack per append (ms): {}",
        Percentiles::of(&report.tally.ack_us).text()
    ));
    out.push(format!(
        "  produce->read-back per append (ms): {}",
        Percentiles::of(&t.latency_us).text()
    ));
    out.join("\n")
}

/// The log-readback summary as one JSON object.
pub(crate) fn readback_json(report: &ReadbackReport) -> Value {
    let a = &report.args;
    let t = &report.tally.appends;
    let (records, duration_s) = match a.budget() {
        Budget::Count(records) => (Some(records), None),
        Budget::DurationS(seconds) => (None, Some(seconds)),
    };
    json!({
        "run_id": report.run_id,
        "machine": { "nproc": report.nproc },
        "settings": {
            "brokers": a.brokers,
            "topic": report.topic,
            "partitions": a.partitions,
            "writers_per_partition": a.writers_per_partition,
            "appends": records,
            "duration_s": duration_s,
            "batch_size": a.batch_size,
            "payload_bytes": a.payload_bytes,
            "replication_factor": a.replication_factor,
            "fetch_wait_max_ms": a.fetch_wait_max_ms,
            "timeout_ms": a.timeout_ms,
        },
        "appends": t.calls,
        "records": t.operations(),
        "read_back": t.ok,
        "failed": t.failed(),
        "failures": failures_json(t),
        "elapsed_s": report.elapsed.as_secs_f64(),
        "records_per_s": per_second(t.ok, report.elapsed),
        "appends_per_s": per_second(t.calls, report.elapsed),
        "ack_ms": Percentiles::of(&report.tally.ack_us).json(),
        "read_back_ms": Percentiles::of(&t.latency_us).json(),
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::args::Command;
    use crate::latency;
    use crate::readback::ReadbackTally;

    #[test]
    fn readback_report_gives_rates_and_both_latencies() {
        let args = BenchArgs::try_parse_from([
            "purse-bench",
            "log-readback",
            "--brokers",
            "127.0.0.1:9092",
            "--partitions",
            "4",
            "--appends",
            "20",
        ])
        .unwrap();
        let Some(Command::LogReadback(args)) = args.command else {
            panic!("log-readback subcommand");
        };
        let mut tally = ReadbackTally::new();
        tally.appends.calls = 10;
        tally.appends.ok = 18;
        tally
            .appends
            .record_failure("READ_BACK TIMED_OUT".to_owned(), "late", 2);
        latency::record(&mut tally.appends.latency_us, Duration::from_millis(50));
        latency::record(&mut tally.ack_us, Duration::from_millis(2));
        let report = ReadbackReport {
            run_id: "run".to_owned(),
            nproc: 2,
            args,
            topic: "purse-bench.readback.run".to_owned(),
            tally,
            elapsed: Duration::from_secs(2),
        };
        let json = readback_json(&report);
        assert_eq!(json["records"], 20);
        assert_eq!(json["read_back"], 18);
        assert_eq!(json["failed"], 2);
        assert_eq!(json["records_per_s"], 9.0);
        assert_eq!(json["appends_per_s"], 5.0);
        assert_eq!(json["settings"]["partitions"], 4);
        assert_eq!(json["settings"]["appends"], 20);
        assert!((json["read_back_ms"]["p50"].as_f64().unwrap() - 50.0).abs() < 0.1);
        assert!((json["ack_ms"]["p99"].as_f64().unwrap() - 2.0).abs() < 0.01);
        assert_eq!(json["failures"][0]["reason"], "READ_BACK TIMED_OUT");
        let human = readback_human(&report);
        assert!(
            human.contains("20 records in 10 appends, 2.00 s: 9.0 records/s, 5.0 appends/s"),
            "{human}"
        );
        assert!(
            human.contains("failed READ_BACK TIMED_OUT: 2 (e.g. late)"),
            "{human}"
        );
    }
}
