//! Errors that stop a benchmark run. Individual debit failures are not errors: they are counted
//! (see `load::Tally`).

/// A failure that ends the run (exit 1), or a bad flag value clap could not check (exit 2).
#[derive(Debug, thiserror::Error)]
pub(crate) enum BenchError {
    /// `--endpoint` is not a URI (exit 2).
    #[error("invalid --endpoint `{endpoint}`: {detail}")]
    Endpoint {
        /// The value given.
        endpoint: String,
        /// Why it was refused.
        detail: String,
    },

    /// `--token` cannot be sent as a header value (exit 2).
    #[error("--token contains characters that cannot be sent in a header")]
    Token,

    /// A connection could not be set up (exit 1).
    #[error("could not connect to {endpoint}: {detail}")]
    Connect {
        /// The endpoint tried.
        endpoint: String,
        /// The transport error with its causes.
        detail: String,
    },

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

    /// A task of the run panicked or was cancelled (exit 1): a bug in the generator.
    #[error("a benchmark task failed: {0}")]
    Task(String),
}

impl BenchError {
    /// Whether the error is about the flags (exit 2) rather than the run (exit 1).
    pub(crate) fn is_usage(&self) -> bool {
        matches!(self, BenchError::Endpoint { .. } | BenchError::Token)
    }
}
