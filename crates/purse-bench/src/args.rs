//! Command-line flags of `purse-bench`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use purse_runtime::env::{PURSE_KAFKA_BROKERS, PURSE_KAFKA_REPLICATION_FACTOR};

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
/// Upper bound on visibility samples per mode: each is a debit followed by a tight GetBalance
/// loop, so a few hundred already give stable percentiles without weighing on the load.
pub(crate) const VISIBILITY_SAMPLES_MAX: u32 = 100_000;
/// Appends per log-readback run when neither `--appends` nor `--duration-s` is given.
pub(crate) const DEFAULT_APPENDS: u64 = 10_000;
/// Upper bound on log-readback partitions: each has its own writer tasks and reader clients.
pub(crate) const READBACK_PARTITIONS_MAX: u32 = 256;
/// Upper bound on writers per partition: each concurrent read of a partition needs a reader
/// client of its own (librdkafka keeps two idle per partition), so many writers measure client
/// churn rather than the log.
pub(crate) const WRITERS_PER_PARTITION_MAX: u32 = 64;
/// Most records one log-readback append carries.
pub(crate) const READBACK_BATCH_MAX: u32 = 1000;
/// Largest log-readback payload (64 KiB): wallet event records are far smaller.
pub(crate) const PAYLOAD_BYTES_MAX: u32 = 64 * 1024;
/// Tenant of a minted token when `--tenant` is not given.
pub(crate) const DEFAULT_TENANT: &str = "bench";

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

With --visibility-samples N, one more task sends N further debits per mode (spread over a timed
run) and after each reply polls GetBalance (min_sequence 0, so the server answers at once) in a
tight loop until the read model shows the reply's sequence: command->visible and reply->visible
latency (p50/p90/p99/max, ms), i.e. how long the projector takes to catch up.

--endpoint takes several comma-separated endpoints (cluster instances); --connections are opened
to each and calls are spread over all of them.

Subcommands: `token` mints a bearer token from a cluster's key file; `log-readback` measures the
Kafka event log alone (produce -> read-back).

Exit codes: 0 the run completed (even with failed debits), 1 connecting or setup failed,
2 usage error.";

const READBACK_ABOUT: &str = "\
Measures the Kafka event log alone, the way a shard worker uses it (DESIGN section 5): create a
fresh topic of --partitions partitions, then --writers-per-partition tasks per partition each
append --batch-size records of --payload-bytes to their partition and read the partition from the
first appended offset until their last record comes back, then append again; until --appends
records were appended or --duration-s has passed. One append and read-back per partition comes
first, unmeasured, so client start-up is not counted.

Reports records appended per second, appends per second, and per append the acknowledgement
latency and the produce -> read-back latency (p50/p90/p99/max, ms). Failed appends and read-backs
are counted by reason, not fatal.";

/// `purse-bench` flags.
#[derive(Debug, Clone, Parser)]
#[command(name = "purse-bench", version, about = "Load generator for Purse's wallet gRPC API", long_about = LONG_ABOUT)]
pub(crate) struct BenchArgs {
    /// Something other than the wallet load.
    #[command(subcommand)]
    pub(crate) command: Option<Command>,

    /// Server endpoints (http://host:port), comma-separated: calls are spread over all.
    #[arg(long, env = ENV_ENDPOINT, default_value = DEFAULT_ENDPOINT, value_delimiter = ',')]
    pub(crate) endpoint: Vec<String>,

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

    /// HTTP/2 connections per endpoint to spread calls over (one connection serialises its
    /// frames).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=i64::from(CONNECTIONS_MAX)))]
    pub(crate) connections: u32,

    /// Bound on connecting and on each call, in milliseconds; a debit over it counts as a
    /// DEADLINE_EXCEEDED failure.
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) timeout_ms: u64,

    /// Debits per mode sampled for command->projection visibility (0: none).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=i64::from(VISIBILITY_SAMPLES_MAX)))]
    pub(crate) visibility_samples: u32,

    /// Print the summary as one JSON object on stdout.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

/// What to do instead of the wallet load.
#[derive(Debug, Clone, Subcommand)]
pub(crate) enum Command {
    /// Print a bearer token (every scope) signed with a cluster's token key file, creating the
    /// key file if it does not exist yet (start the services after this, so they load it).
    Token(TokenArgs),
    /// Measure the Kafka event log alone: appends/s and produce->read-back latency.
    #[command(long_about = READBACK_ABOUT)]
    LogReadback(ReadbackArgs),
}

/// `purse-bench token` flags.
#[derive(Debug, Clone, Args)]
pub(crate) struct TokenArgs {
    /// The token key file (`token.key` in the services' shared data directory).
    #[arg(long)]
    pub(crate) key_file: PathBuf,

    /// Tenant of the token ([a-z0-9_-], at most 64 bytes).
    #[arg(long, default_value = DEFAULT_TENANT)]
    pub(crate) tenant: String,
}

/// `purse-bench log-readback` flags.
#[derive(Debug, Clone, Args)]
pub(crate) struct ReadbackArgs {
    /// Kafka bootstrap brokers (host:port,...).
    #[arg(long, env = PURSE_KAFKA_BROKERS)]
    pub(crate) brokers: String,

    /// Replication factor of the topic created for the run (1 on a single broker).
    #[arg(long, env = PURSE_KAFKA_REPLICATION_FACTOR, default_value_t = purse_log_kafka::DEFAULT_REPLICATION_FACTOR, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) replication_factor: u16,

    /// Append through Kafka transactions, as the services do with `kafka.transactions = true`.
    #[arg(long, env = "PURSE_KAFKA_TRANSACTIONS", default_value_t = false, action = clap::ArgAction::Set)]
    pub(crate) transactions: bool,

    /// Partitions of the topic, each written by its own tasks.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=i64::from(READBACK_PARTITIONS_MAX)))]
    pub(crate) partitions: u32,

    /// Writer tasks per partition (1 is how a shard worker writes: one writer per partition).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=i64::from(WRITERS_PER_PARTITION_MAX)))]
    pub(crate) writers_per_partition: u32,

    /// Records per append (a shard worker appends one record per command of its batch).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=i64::from(READBACK_BATCH_MAX)))]
    pub(crate) batch_size: u32,

    /// Payload bytes per record.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=i64::from(PAYLOAD_BYTES_MAX)))]
    pub(crate) payload_bytes: u32,

    /// Records to append in all [default: 10000 unless --duration-s is given].
    #[arg(long, conflicts_with = "duration_s", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) appends: Option<u64>,

    /// Run for this many seconds instead of a fixed count.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=DURATION_S_MAX))]
    pub(crate) duration_s: Option<u64>,

    /// How long the broker may hold an empty fetch (librdkafka `fetch.wait.max.ms`); the services
    /// use the default. Brokers that re-check storage on a timer add up to about half of it to
    /// read-back latency.
    #[arg(long, default_value_t = purse_log_kafka::DEFAULT_FETCH_WAIT_MAX_MS, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) fetch_wait_max_ms: u64,

    /// Bound on one append and on its read-back, in milliseconds; a read-back over it counts as
    /// a failure.
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) timeout_ms: u64,
}

impl ReadbackArgs {
    /// When the run stops, in records.
    pub(crate) fn budget(&self) -> Budget {
        budget(self.appends, self.duration_s, DEFAULT_APPENDS)
    }
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
    /// After this many operations (debits, or records appended).
    Count(u64),
    /// After this many seconds.
    DurationS(u64),
}

/// A timed run if `duration_s` is given, else `count` operations, else `default_count`.
fn budget(count: Option<u64>, duration_s: Option<u64>, default_count: u64) -> Budget {
    match (count, duration_s) {
        (_, Some(seconds)) => Budget::DurationS(seconds),
        (Some(count), None) => Budget::Count(count),
        (None, None) => Budget::Count(default_count),
    }
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
        budget(self.debits, self.duration_s, DEFAULT_DEBITS)
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
        assert_eq!(args.budget(), Budget::Count(DEFAULT_DEBITS));
        assert_eq!(args.modes(), &[LoadMode::Unary, LoadMode::Batch]);
        assert_eq!(args.endpoint, vec![DEFAULT_ENDPOINT.to_owned()]);
        assert_eq!(args.visibility_samples, 0);
        assert!(args.command.is_none());
    }

    #[test]
    fn several_endpoints_and_visibility_samples() {
        let args = parse(&[
            "--endpoint",
            "http://127.0.0.1:1,http://127.0.0.1:2",
            "--visibility-samples",
            "200",
        ])
        .unwrap();
        assert_eq!(args.endpoint, ["http://127.0.0.1:1", "http://127.0.0.1:2"]);
        assert_eq!(args.visibility_samples, 200);
        assert!(parse(&["--visibility-samples", "100001"]).is_err());
    }

    #[test]
    fn token_subcommand() {
        let args = parse(&["token", "--key-file", "/tmp/k"]).unwrap();
        let Some(Command::Token(token)) = args.command else {
            panic!("token subcommand");
        };
        assert_eq!(token.key_file, PathBuf::from("/tmp/k"));
        assert_eq!(token.tenant, DEFAULT_TENANT);
        assert!(parse(&["token"]).is_err(), "--key-file is required");
    }

    #[test]
    fn log_readback_subcommand() {
        let args = parse(&[
            "log-readback",
            "--brokers",
            "127.0.0.1:9092",
            "--partitions",
            "4",
            "--duration-s",
            "10",
            "--json",
        ])
        .unwrap();
        assert!(args.json, "--json goes after the subcommand too");
        let Some(Command::LogReadback(readback)) = args.command else {
            panic!("log-readback subcommand");
        };
        assert_eq!(readback.brokers, "127.0.0.1:9092");
        assert_eq!(readback.partitions, 4);
        assert_eq!(readback.writers_per_partition, 1);
        assert_eq!(readback.batch_size, 1);
        assert_eq!(readback.budget(), Budget::DurationS(10));
        let counted = |extra: &[&str]| {
            let mut all = vec!["log-readback", "--brokers", "b:1"];
            all.extend_from_slice(extra);
            parse(&all)
        };
        let Some(Command::LogReadback(readback)) = counted(&[]).unwrap().command else {
            panic!("log-readback subcommand");
        };
        assert_eq!(readback.budget(), Budget::Count(DEFAULT_APPENDS));
        assert!(counted(&["--appends", "5", "--duration-s", "5"]).is_err());
        assert!(counted(&["--partitions", "0"]).is_err());
        assert!(counted(&["--batch-size", "1001"]).is_err());
        assert!(counted(&["--payload-bytes", "0"]).is_err());
    }

    #[test]
    fn count_and_duration_are_exclusive() {
        assert_eq!(
            parse(&["--duration-s", "30"]).unwrap().budget(),
            Budget::DurationS(30)
        );
        assert_eq!(
            parse(&["--debits", "5"]).unwrap().budget(),
            Budget::Count(5)
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
