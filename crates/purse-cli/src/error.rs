//! Everything that can make `purse` exit non-zero, and the exit code each maps to.

use std::path::PathBuf;

use purse_client::{ClientError, outcome_unknown};
use purse_proto::status_code_name as code_name;

/// Exit code: success.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit code: the server rejected the request.
pub(crate) const EXIT_REJECTED: u8 = 1;
/// Exit code: usage error (clap uses the same code for its own errors).
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit code: the server could not be reached or did not answer in time.
pub(crate) const EXIT_UNREACHABLE: u8 = 3;
/// Exit code: bad local input.
pub(crate) const EXIT_LOCAL_INPUT: u8 = 4;

/// A failed `purse` invocation. Each variant documents its exit code.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// A flag value clap could not check on its own (exit 2).
    #[error("{0}")]
    Usage(String),

    /// The connection could not be set up (exit 3): a [`ClientError::Connect`].
    #[error("{0}")]
    Connect(ClientError),

    /// No answer within `--timeout-ms` (exit 3). The outcome of a mutation is unknown.
    #[error("no answer within {timeout_ms} ms")]
    Timeout {
        /// The bound that elapsed.
        timeout_ms: u64,
        /// The key to retry a mutation with, when `purse` generated it.
        idempotency_key: Option<String>,
    },

    /// The server answered with an error status (exit 1, or 3 for UNAVAILABLE and
    /// DEADLINE_EXCEEDED). Boxed: a `Status` is large and errors travel by value.
    #[error("{}: {}", code_name(.status.code()), .status.message())]
    Status {
        /// The status as received, details included.
        status: Box<tonic::Status>,
        /// The key to retry a mutation with, when `purse` generated it.
        idempotency_key: Option<String>,
    },

    /// The batch file could not be read (exit 4).
    #[error("cannot read {}: {source}", display_path(.path))]
    ReadInput {
        /// The path given (`-` for standard input).
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// A batch line is not a valid operation (exit 4).
    #[error("line {line}: {detail}")]
    BadBatchLine {
        /// 1-based line number in the file.
        line: usize,
        /// What is wrong with it.
        detail: String,
    },

    /// The batch as a whole cannot be sent (empty, or over the per-call limit) (exit 4).
    #[error("{0}")]
    BadBatch(String),

    /// Some operations of a sent batch were rejected (exit 1, or 3 when any of them failed with
    /// UNAVAILABLE or DEADLINE_EXCEEDED and may succeed on retry). Results are already printed.
    #[error("{failed} of {total} operations failed")]
    BatchFailures {
        /// Operations that failed.
        failed: usize,
        /// Operations sent.
        total: usize,
        /// Whether any failure was UNAVAILABLE or DEADLINE_EXCEEDED.
        retryable: bool,
    },

    /// Writing the results to standard output failed (exit 4).
    #[error("cannot write output: {0}")]
    Output(std::io::Error),
}

impl CliError {
    /// The process exit code for this error (documented in `purse --help`).
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Connect(_) | CliError::Timeout { .. } => EXIT_UNREACHABLE,
            CliError::Status { status, .. } => {
                if outcome_unknown(status.code()) {
                    EXIT_UNREACHABLE
                } else {
                    EXIT_REJECTED
                }
            }
            CliError::BatchFailures { retryable, .. } => {
                if *retryable {
                    EXIT_UNREACHABLE
                } else {
                    EXIT_REJECTED
                }
            }
            CliError::ReadInput { .. }
            | CliError::BadBatchLine { .. }
            | CliError::BadBatch(_)
            | CliError::Output(_) => EXIT_LOCAL_INPUT,
        }
    }
}

impl From<ClientError> for CliError {
    fn from(err: ClientError) -> Self {
        match err {
            ClientError::InvalidEndpoint { endpoint, detail } => {
                CliError::Usage(format!("invalid --endpoint `{endpoint}`: {detail}"))
            }
            ClientError::InvalidToken => CliError::Usage(
                "--token contains characters that cannot be sent in a header".to_owned(),
            ),
            ClientError::Connect { .. } => CliError::Connect(err),
            ClientError::Timeout { timeout_ms } => CliError::Timeout {
                timeout_ms,
                idempotency_key: None,
            },
            ClientError::Status(status) => CliError::Status {
                status,
                idempotency_key: None,
            },
        }
    }
}

fn display_path(path: &std::path::Path) -> String {
    if path.as_os_str() == "-" {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn status_error(code: Code) -> CliError {
        CliError::Status {
            status: Box::new(tonic::Status::new(code, "x")),
            idempotency_key: None,
        }
    }

    #[test]
    fn exit_codes() {
        assert_eq!(
            status_error(Code::FailedPrecondition).exit_code(),
            EXIT_REJECTED
        );
        assert_eq!(
            status_error(Code::Unauthenticated).exit_code(),
            EXIT_REJECTED
        );
        assert_eq!(status_error(Code::Internal).exit_code(), EXIT_REJECTED);
        assert_eq!(
            status_error(Code::Unavailable).exit_code(),
            EXIT_UNREACHABLE
        );
        assert_eq!(
            status_error(Code::DeadlineExceeded).exit_code(),
            EXIT_UNREACHABLE
        );
        assert_eq!(
            CliError::Timeout {
                timeout_ms: 1,
                idempotency_key: None
            }
            .exit_code(),
            EXIT_UNREACHABLE
        );
        assert_eq!(CliError::Usage("x".into()).exit_code(), EXIT_USAGE);
        assert_eq!(CliError::BadBatch("x".into()).exit_code(), EXIT_LOCAL_INPUT);
        assert_eq!(
            CliError::BatchFailures {
                failed: 1,
                total: 2,
                retryable: false
            }
            .exit_code(),
            EXIT_REJECTED
        );
    }

    #[test]
    fn code_names_round_trip_through_numbers() {
        assert_eq!(code_name(Code::from_i32(9)), "FAILED_PRECONDITION");
        assert_eq!(code_name(Code::from_i32(16)), "UNAUTHENTICATED");
    }
}
