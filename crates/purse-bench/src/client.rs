//! Connections and calls through `purse-client` (token and deadline on every call), and one way
//! to name what went wrong so failures can be counted by reason.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use purse_client::{Client, ClientError, Retryable, Target, WalletClient, outcome_unknown};
use purse_proto::status_code_name as code_name;
use purse_proto::wallet::v1::BatchError;
use tonic::{Code, Response, Status};
use tonic_types::StatusExt;

use crate::error::BenchError;

/// Why one call or one batch operation failed, as counted in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// gRPC code, shown by name, e.g. `FAILED_PRECONDITION`.
    pub(crate) code: Code,
    /// The `google.rpc.ErrorInfo` reason, e.g. `INSUFFICIENT_FUNDS`, when the server sent one.
    pub(crate) reason: Option<String>,
    /// The server's message (one example per reason is kept for the report).
    pub(crate) message: String,
}

impl Failure {
    /// The key failures are grouped by: code and reason, never the free-text message.
    pub(crate) fn key(&self) -> String {
        match &self.reason {
            Some(reason) => format!("{} {reason}", code_name(self.code)),
            None => code_name(self.code).to_owned(),
        }
    }

    /// A failure reported inside a BatchExecute response.
    pub(crate) fn from_batch_error(error: &BatchError) -> Self {
        Failure {
            code: Code::from_i32(error.code),
            reason: Some(error.reason.clone()).filter(|r| !r.is_empty()),
            message: error.message.clone(),
        }
    }

    fn from_status(status: &Status) -> Self {
        let reason = status
            .get_error_details()
            .error_info()
            .map(|info| info.reason.clone())
            .filter(|r| !r.is_empty());
        Failure {
            code: status.code(),
            reason,
            message: status.message().to_owned(),
        }
    }

    fn from_client_error(err: &ClientError) -> Self {
        match err {
            ClientError::Status(status) => Failure::from_status(status),
            ClientError::Timeout { .. } => Failure {
                code: Code::DeadlineExceeded,
                reason: None,
                message: err.to_string(),
            },
            other => Failure {
                code: Code::Unavailable,
                reason: None,
                message: other.to_string(),
            },
        }
    }
}

impl Retryable for Failure {
    /// The server was not reached or did not finish: the same request (same idempotency keys)
    /// may be sent again.
    fn is_retryable(&self) -> bool {
        outcome_unknown(self.code)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key(), self.message)
    }
}

/// Clients over `--connections` connections to each endpoint, each adding the token and
/// deadline to every call.
#[derive(Clone)]
pub(crate) struct Rpc {
    clients: Vec<Client>,
    timeout: Duration,
}

impl Rpc {
    /// Opens `connections` connections to each of `endpoints`, each within `timeout_ms`.
    pub(crate) async fn connect(
        endpoints: &[String],
        token: Option<&str>,
        connections: u32,
        timeout_ms: u64,
    ) -> Result<Self, BenchError> {
        let timeout = Duration::from_millis(timeout_ms);
        // Every endpoint is checked before any connection is opened: a typo is a usage error
        // whatever its position.
        let targets = endpoints
            .iter()
            .map(|endpoint| Target::parse(endpoint))
            .collect::<Result<Vec<_>, ClientError>>()?;
        let mut clients = Vec::with_capacity(connections as usize * targets.len());
        // Round by round, so consecutive tasks (client(task) is round-robin) alternate between
        // the endpoints.
        for _ in 0..connections {
            for target in &targets {
                clients.push(Client::connect_within(target, token, timeout).await?);
            }
        }
        if clients.is_empty() {
            return Err(BenchError::NoEndpoint);
        }
        Ok(Rpc { clients, timeout })
    }

    /// The wallet client for task `task`: tasks are spread round-robin over the connections
    /// (and so over the endpoints).
    pub(crate) fn client(&self, task: usize) -> WalletClient {
        self.clients[task % self.clients.len()].wallets()
    }

    /// The bound on each call (`--timeout-ms`).
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Awaits a call within the deadline; an expired one counts as DEADLINE_EXCEEDED.
    pub(crate) async fn finish<T>(
        &self,
        call: impl Future<Output = Result<Response<T>, Status>>,
    ) -> Result<T, Failure> {
        // Every client has the same deadline; the first one enforces it.
        self.clients[0]
            .call(call)
            .await
            .map_err(|err| Failure::from_client_error(&err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use tonic_types::ErrorDetails;

    #[test]
    fn failures_group_by_code_and_reason() {
        let status = Status::with_error_details(
            Code::FailedPrecondition,
            "insufficient funds",
            ErrorDetails::with_error_info("INSUFFICIENT_FUNDS", "purse", HashMap::new()),
        );
        let failure = Failure::from_status(&status);
        assert_eq!(failure.key(), "FAILED_PRECONDITION INSUFFICIENT_FUNDS");
        assert!(!failure.is_retryable());
        let plain = Failure::from_status(&Status::unavailable("down"));
        assert_eq!(plain.key(), "UNAVAILABLE");
        assert!(plain.is_retryable());
        let late = Failure::from_client_error(&ClientError::Timeout { timeout_ms: 5 });
        assert_eq!(late.to_string(), "DEADLINE_EXCEEDED: no answer within 5 ms");
        assert!(late.is_retryable());
        let batch = Failure::from_batch_error(&BatchError {
            code: Code::ResourceExhausted as i32,
            reason: "LIMIT_EXCEEDED".into(),
            message: "velocity".into(),
            metadata: HashMap::new(),
        });
        assert_eq!(batch.key(), "RESOURCE_EXHAUSTED LIMIT_EXCEEDED");
        assert_eq!(
            batch.to_string(),
            "RESOURCE_EXHAUSTED LIMIT_EXCEEDED: velocity"
        );
    }

    #[tokio::test]
    async fn unreachable_and_bad_endpoints() {
        // Port 1 on loopback: nothing listens, so the connection is refused at once.
        let err = Rpc::connect(&["http://127.0.0.1:1".to_owned()], None, 1, 2_000)
            .await
            .err()
            .expect("connect fails");
        assert!(
            matches!(err, BenchError::Client(ClientError::Connect { .. })),
            "{err}"
        );
        assert!(!err.is_usage());
        for bad in ["not a uri", "127.0.0.1:50051", "https://127.0.0.1:1"] {
            // A bad endpoint after a good one is still refused before connecting.
            let endpoints = ["http://127.0.0.1:1".to_owned(), bad.to_owned()];
            let err = Rpc::connect(&endpoints, None, 1, 2_000)
                .await
                .err()
                .expect("bad endpoint");
            assert!(err.is_usage(), "{bad}: {err}");
        }
    }
}
