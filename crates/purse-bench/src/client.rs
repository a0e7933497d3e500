//! Connections and calls: the bearer token and deadline on every request, and one way to name
//! what went wrong so failures can be counted by reason.

use purse_proto::status_code_name as code_name;
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use purse_proto::wallet::v1::BatchError;
use purse_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Response, Status};
use tonic_types::StatusExt;

use crate::error::BenchError;

/// Largest response accepted: a BatchExecute answer of 1000 results is far below this.
const RESPONSE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Why one call or one batch operation failed, as counted in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// gRPC code name, e.g. `FAILED_PRECONDITION`.
    pub(crate) code: &'static str,
    /// The `google.rpc.ErrorInfo` reason, e.g. `INSUFFICIENT_FUNDS`, when the server sent one.
    pub(crate) reason: Option<String>,
    /// The server's message (one example per reason is kept for the report).
    pub(crate) message: String,
}

impl Failure {
    /// The key failures are grouped by: code and reason, never the free-text message.
    pub(crate) fn key(&self) -> String {
        match &self.reason {
            Some(reason) => format!("{} {reason}", self.code),
            None => self.code.to_owned(),
        }
    }

    /// A failure reported inside a BatchExecute response.
    pub(crate) fn from_batch_error(error: &BatchError) -> Self {
        Failure {
            code: code_name(Code::from_i32(error.code)),
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
            code: code_name(status.code()),
            reason,
            message: status.message().to_owned(),
        }
    }

    fn timeout(timeout_ms: u64) -> Self {
        Failure {
            code: code_name(Code::DeadlineExceeded),
            reason: None,
            message: format!("no answer within {timeout_ms} ms"),
        }
    }

    /// Whether a retry may succeed (the server was not reached, was busy, or did not finish).
    pub(crate) fn is_transient(&self) -> bool {
        matches!(
            self.code,
            "UNAVAILABLE" | "DEADLINE_EXCEEDED" | "RESOURCE_EXHAUSTED"
        )
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key(), self.message)
    }
}

/// Clients over `--connections` connections, adding the token and deadline to every call.
#[derive(Clone)]
pub(crate) struct Rpc {
    clients: Vec<WalletServiceClient<Channel>>,
    authorization: Option<AsciiMetadataValue>,
    timeout_ms: u64,
}

impl Rpc {
    /// Opens `connections` connections to each of `endpoints`, each within `timeout_ms`.
    pub(crate) async fn connect(
        endpoints: &[String],
        token: Option<&str>,
        connections: u32,
        timeout_ms: u64,
    ) -> Result<Self, BenchError> {
        let authorization = match token {
            None | Some("") => None,
            Some(token) => Some(
                MetadataValue::try_from(format!("Bearer {token}"))
                    .map_err(|_| BenchError::Token)?,
            ),
        };
        let timeout = Duration::from_millis(timeout_ms);
        // Every endpoint is checked before any connection is opened: a typo is a usage error
        // whatever its position.
        let targets = endpoints
            .iter()
            .map(|endpoint| Ok((endpoint, target(endpoint)?.connect_timeout(timeout))))
            .collect::<Result<Vec<_>, BenchError>>()?;
        let mut clients = Vec::with_capacity(connections as usize * targets.len());
        // Round by round, so consecutive tasks (client(task) is round-robin) alternate between
        // the endpoints.
        for _ in 0..connections {
            for (endpoint, target) in &targets {
                let connect_error = |detail: String| BenchError::Connect {
                    endpoint: (*endpoint).clone(),
                    detail,
                };
                let channel = tokio::time::timeout(timeout, target.connect())
                    .await
                    .map_err(|_| connect_error(format!("no connection within {timeout_ms} ms")))?
                    .map_err(|err| connect_error(error_chain(&err)))?;
                clients.push(
                    WalletServiceClient::new(channel).max_decoding_message_size(RESPONSE_BYTES_MAX),
                );
            }
        }
        if clients.is_empty() {
            return Err(BenchError::Endpoint {
                endpoint: String::new(),
                detail: "no endpoint given".to_owned(),
            });
        }
        Ok(Rpc {
            clients,
            authorization,
            timeout_ms,
        })
    }

    /// The client for task `task`: tasks are spread round-robin over the connections (and so
    /// over the endpoints).
    pub(crate) fn client(&self, task: usize) -> WalletServiceClient<Channel> {
        self.clients[task % self.clients.len()].clone()
    }

    /// The bound on each call (`--timeout-ms`).
    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// Wraps a message with the token and deadline.
    pub(crate) fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.set_timeout(Duration::from_millis(self.timeout_ms));
        if let Some(value) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        request
    }

    /// Awaits a call within the deadline. tonic reports an expired deadline as CANCELLED (the
    /// server enforcing grpc-timeout); since this client never cancels calls itself, CANCELLED
    /// after the deadline is counted as DEADLINE_EXCEEDED.
    pub(crate) async fn finish<T>(
        &self,
        call: impl Future<Output = Result<Response<T>, Status>>,
    ) -> Result<T, Failure> {
        let timeout = Duration::from_millis(self.timeout_ms);
        let started = Instant::now();
        match tokio::time::timeout(timeout, call).await {
            Err(_elapsed) => Err(Failure::timeout(self.timeout_ms)),
            Ok(Err(status)) if status.code() == Code::Cancelled && started.elapsed() >= timeout => {
                Err(Failure::timeout(self.timeout_ms))
            }
            Ok(Err(status)) => Err(Failure::from_status(&status)),
            Ok(Ok(response)) => Ok(response.into_inner()),
        }
    }
}

/// The transport endpoint for `endpoint`, refused unless it is `http://host:port`.
fn target(endpoint: &str) -> Result<Endpoint, BenchError> {
    let bad_endpoint = |detail: String| BenchError::Endpoint {
        endpoint: endpoint.to_owned(),
        detail,
    };
    let target =
        Endpoint::from_shared(endpoint.to_owned()).map_err(|err| bad_endpoint(err.to_string()))?;
    // Only plaintext http:// is built in (tonic without a TLS feature).
    match target.uri().scheme_str() {
        Some("http") => Ok(target.tcp_nodelay(true)),
        Some("https") => Err(bad_endpoint(
            "TLS is not supported by this build; use http://".to_owned(),
        )),
        _ => Err(bad_endpoint("expected http://host:port".to_owned())),
    }
}

/// The error and its causes on one line, without repeated layers.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if parts.last() != Some(&part) {
            parts.push(part);
        }
        source = cause.source();
    }
    parts.join(": ")
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
        assert!(!failure.is_transient());
        let plain = Failure::from_status(&Status::unavailable("down"));
        assert_eq!(plain.key(), "UNAVAILABLE");
        assert!(plain.is_transient());
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
        assert!(matches!(err, BenchError::Connect { .. }), "{err}");
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
