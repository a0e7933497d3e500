//! Command-line flags of `purse-bench`.

use clap::{Parser, ValueEnum};

/// Endpoint used when neither `--endpoint` nor `PURSE_ENDPOINT` is given: `pursed`'s default.
pub(crate) const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:50051";
/// Environment variable naming the server endpoint (shared with `purse`).
pub(crate) const ENV_ENDPOINT: &str = "PURSE_ENDPOINT";
/// Environment variable holding the bearer token (shared with `purse`).
pub(crate) const ENV_TOKEN: &str = "PURSE_TOKEN";
/// Debits per mode when neither `--debits` nor `--duration-s` is given.
pub(crate) const DEFAULT_DEBITS: u64 = 200_000;
/// Most operations one BatchExecute call may carry (API contract).
pub(crate) const BATCH_SIZE_MAX: u32 = 1000;
/// Upper bound on in-flight calls: beyond this the client, not the server, is measured.
pub(crate) const CONCURRENCY_MAX: u32 = 4096;
/// Upper bound on connections.
pub(crate) const CONNECTIONS_MAX: u32 = 64;
/// Upper bound on wallets, so setup stays a bounded amount of work.
pub(crate) const WALLETS_MAX: u32 = 10_000_000;
/// Upper bound on a timed run (one day).
pub(crate) const DURATION_S_MAX: u64 = 86_400;

const LONG_ABOUT: &str = "\
Load generator for Purse's wallet gRPC API.

Setup creates --wallets USD wallets (owners bench-<run id>-<i>) and funds each with one credit
large enough for the whole run, sent as BatchExecute calls of up to 1000 credits. Then each mode
runs in turn:
  unary  --concurrency tasks each send Debit calls of 0.01 to random wallets
  batch  --batch-concurrency tasks each send BatchExecute calls of --batch-size debits of 0.01
         spread over random wallets
until --debits debits (per mode) have been sent or --duration-s has passed.

Reports, per mode: operations, failures by reason, elapsed time, debits per second and per-call
latency percentiles (p50/p90/p99/max, ms), with the machine and the settings. It measures and
never asserts: failed debits are counted and reported, not fatal.

Exit codes: 0 the run completed (even with failed debits), 1 connecting or setup failed,
2 usage error.";

/// `purse-bench` flags.
#[derive(Debug, Clone, Parser)]
#[command(name = "purse-bench", version, about = "Load generator for Purse's wallet gRPC API", long_about = LONG_ABOUT)]
pub(crate) struct BenchArgs {
    /// Server endpoint (http://host:port).
    #[arg(long, env = ENV_ENDPOINT, default_value = DEFAULT_ENDPOINT)]
    pub(crate) endpoint: String,

    /// Bearer token, sent as `authorization: Bearer <token>` on every call.
    #[arg(long, env = ENV_TOKEN, hide_env_values = true)]
    pub(crate) token: Option<String>,

    /// Wallets to create and spread debits over.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=i64::from(WALLETS_MAX)))]
    pub(crate) wallets: u32,

    /// Concurrent calls in flight (setup and unary mode).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=i64::from(CONCURRENCY_MAX)))]
    pub(crate) concurrency: u32,

    /// Concurrent BatchExecute calls in batch mode [default: --concurrency].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(CONCURRENCY_MAX)))]
    pub(crate) batch_concurrency: Option<u32>,

    /// Debits to send in each mode [default: 200000 unless --duration-s is given].
    #[arg(long, conflicts_with = "duration_s", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) debits: Option<u64>,

    /// Run each mode for this many seconds instead of a fixed count.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=DURATION_S_MAX))]
    pub(crate) duration_s: Option<u64>,

    /// Debits per BatchExecute call in batch mode (1-1000).
    #[arg(long, default_value_t = BATCH_SIZE_MAX, value_parser = clap::value_parser!(u32).range(1..=i64::from(BATCH_SIZE_MAX)))]
    pub(crate) batch_size: u32,

    /// Which modes to run.
    #[arg(long, value_enum, default_value_t = Mode::Both)]
    pub(crate) mode: Mode,

    /// HTTP/2 connections to spread calls over (one connection serialises its frames).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=i64::from(CONNECTIONS_MAX)))]
    pub(crate) connections: u32,

    /// Bound on connecting and on each call, in milliseconds; a debit over it counts as a
    /// DEADLINE_EXCEEDED failure.
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) timeout_ms: u64,

    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Which load to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Mode {
    /// One Debit call per debit.
    Unary,
    /// BatchExecute calls of --batch-size debits.
    Batch,
    /// Unary, then batch.
    Both,
}

/// When a mode stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Budget {
    /// After this many debits.
    Debits(u64),
    /// After this many seconds.
    DurationS(u64),
}

impl BenchArgs {
    /// The modes to run, in order.
    pub(crate) fn modes(&self) -> &'static [LoadMode] {
        match self.mode {
            Mode::Unary => &[LoadMode::Unary],
            Mode::Batch => &[LoadMode::Batch],
            Mode::Both => &[LoadMode::Unary, LoadMode::Batch],
        }
    }

    /// When each mode stops.
    pub(crate) fn budget(&self) -> Budget {
        match (self.debits, self.duration_s) {
            (_, Some(seconds)) => Budget::DurationS(seconds),
            (Some(debits), None) => Budget::Debits(debits),
            (None, None) => Budget::Debits(DEFAULT_DEBITS),
        }
    }

    /// In-flight BatchExecute calls in batch mode.
    pub(crate) fn batch_concurrency(&self) -> u32 {
        self.batch_concurrency.unwrap_or(self.concurrency)
    }
}

/// One load mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoadMode {
    /// Debit calls.
    Unary,
    /// BatchExecute calls.
    Batch,
}

impl LoadMode {
    /// Lower-case name for reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            LoadMode::Unary => "unary",
            LoadMode::Batch => "batch",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        BenchArgs::try_parse_from(std::iter::once("purse-bench").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_consistent() {
        BenchArgs::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.wallets, 10_000);
        assert_eq!(args.concurrency, 64);
        assert_eq!(args.batch_concurrency(), 64);
        assert_eq!(args.batch_size, 1000);
        assert_eq!(args.budget(), Budget::Debits(DEFAULT_DEBITS));
        assert_eq!(args.modes(), &[LoadMode::Unary, LoadMode::Batch]);
    }

    #[test]
    fn count_and_duration_are_exclusive() {
        assert_eq!(
            parse(&["--duration-s", "30"]).unwrap().budget(),
            Budget::DurationS(30)
        );
        assert_eq!(
            parse(&["--debits", "5"]).unwrap().budget(),
            Budget::Debits(5)
        );
        assert!(parse(&["--debits", "5", "--duration-s", "30"]).is_err());
    }

    #[test]
    fn bounds() {
        assert!(parse(&["--batch-size", "1001"]).is_err());
        assert!(parse(&["--batch-size", "0"]).is_err());
        assert!(parse(&["--concurrency", "0"]).is_err());
        assert!(parse(&["--wallets", "0"]).is_err());
        let args = parse(&["--mode", "batch", "--batch-concurrency", "2"]).unwrap();
        assert_eq!(args.modes(), &[LoadMode::Batch]);
        assert_eq!(args.batch_concurrency(), 2);
    }
}
