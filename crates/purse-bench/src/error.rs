//! Errors that stop a benchmark run. Individual debit (or append) failures are not errors: they
//! are counted (see `load::Tally`).

use purse_client::ClientError;

/// A failure that ends the run (exit 1), or a bad flag value clap could not check (exit 2).
#[derive(Debug, thiserror::Error)]
pub(crate) enum BenchError {
    /// No `--endpoint` was given (exit 2).
    #[error("no endpoint given")]
    NoEndpoint,

    /// A bad `--endpoint` or `--token` (exit 2), or a connection that could not be set up
    /// (exit 1).
    #[error("{0}")]
    Client(#[from] ClientError),

    /// CreateWallet failed during setup (exit 1).
    #[error("setup: creating wallet {index} failed: {failure}")]
    CreateWallet {
        /// Which wallet (0-based).
        index: u32,
        /// Why.
        failure: String,
    },

    /// A funding BatchExecute call, or one of its credits, failed during setup (exit 1).
    #[error("setup: funding failed: {failure}")]
    Fund {
        /// Why, naming the wallet when one credit failed.
        failure: String,
    },

    /// The async runtime could not be started (exit 1).
    #[error("starting the async runtime: {0}")]
    Runtime(#[source] std::io::Error),

    /// A task of the run panicked or was cancelled (exit 1): a bug in the generator.
    #[error("a benchmark task failed: {0}")]
    Task(String),

    /// `token --tenant` is not a valid tenant name (exit 2).
    #[error("invalid --tenant `{tenant}`: [a-z0-9_-], 1 to 64 bytes")]
    Tenant {
        /// The value given.
        tenant: String,
    },

    /// The token key file could not be read or created, or signing failed (exit 1).
    #[error("token: {0}")]
    TokenKey(#[source] purse_runtime::auth::AuthError),

    /// log-readback: the Kafka clients or the run's topic could not be set up (exit 1).
    #[error("log-readback: {what} failed: {source}")]
    Log {
        /// What was being done.
        what: &'static str,
        /// The log's error.
        #[source]
        source: purse_log::LogError,
    },

    /// log-readback: the unmeasured first append and read-back of a partition failed (exit 1).
    #[error("log-readback: warming up partition {partition} failed: {failure}")]
    WarmUp {
        /// The partition.
        partition: u32,
        /// Why.
        failure: String,
    },
}

impl BenchError {
    /// Whether the error is about the flags (exit 2) rather than the run (exit 1).
    pub(crate) fn is_usage(&self) -> bool {
        matches!(
            self,
            BenchError::NoEndpoint
                | BenchError::Client(
                    ClientError::InvalidEndpoint { .. } | ClientError::InvalidToken
                )
                | BenchError::Tenant { .. }
        )
    }
}
