//! Everything a call through [`crate::Client`] can fail with.

use tonic::Status;

use crate::retry::{Retryable, outcome_unknown};

/// Why connecting or a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint is not `http://host:port` (a usage error: nothing was sent).
    #[error("invalid endpoint `{endpoint}`: {detail}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        detail: String,
    },

    /// The token has characters an HTTP/2 header cannot carry (a usage error: nothing was sent).
    #[error("the token contains characters that cannot be sent in a header")]
    InvalidToken,

    /// The connection could not be set up. Nothing was sent, so a retry is safe.
    #[error("could not connect to {endpoint}: {detail}")]
    Connect {
        /// The endpoint tried.
        endpoint: String,
        /// The transport error, flattened with its causes.
        detail: String,
    },

    /// No answer within the client's deadline: the outcome of a mutation is unknown.
    #[error("no answer within {timeout_ms} ms")]
    Timeout {
        /// The bound that elapsed.
        timeout_ms: u64,
    },

    /// The server answered with an error status. Boxed: a `Status` is large and errors travel
    /// by value.
    #[error("{}: {}", purse_proto::status_code_name(.0.code()), .0.message())]
    Status(Box<Status>),
}

impl From<Status> for ClientError {
    fn from(status: Status) -> Self {
        ClientError::Status(Box::new(status))
    }
}

impl Retryable for ClientError {
    fn is_retryable(&self) -> bool {
        match self {
            ClientError::Connect { .. } | ClientError::Timeout { .. } => true,
            ClientError::Status(status) => outcome_unknown(status.code()),
            ClientError::InvalidEndpoint { .. } | ClientError::InvalidToken => false,
        }
    }
}
