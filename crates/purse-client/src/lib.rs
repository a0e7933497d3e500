//! Typed client for Purse's gRPC APIs, shared by the `purse` CLI, `purse-bench` and the
//! end-to-end tests: one connection per [`Client`] with the bearer token (and, when asked, a
//! deadline) on every call, [`retry`] of calls whose outcome is unknown with the same request
//! (so the same idempotency key), and [`Pager`] over the List* RPCs.

mod error;
mod pager;
mod retry;

use std::future::Future;
use std::time::{Duration, Instant};

use purse_proto::payment::v1::payments_service_client::PaymentsServiceClient;
use purse_proto::topup::v1::top_up_service_client::TopUpServiceClient;
use purse_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use tonic::metadata::AsciiMetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Response, Status};

pub use crate::error::ClientError;
pub use crate::pager::{PageRequest, PageResponse, Pager};
pub use crate::retry::{RetryPolicy, Retryable, outcome_unknown, retry};

/// Largest response accepted: a BatchExecute answer of 1000 results or a page of 1000 entries
/// is far below this, and tonic's 4 MiB default is not.
const RESPONSE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Wallet service client with the token and deadline attached.
pub type WalletClient = WalletServiceClient<InterceptedService<Channel, CallHeaders>>;
/// Top-up service client with the token and deadline attached.
pub type TopUpClient = TopUpServiceClient<InterceptedService<Channel, CallHeaders>>;
/// Payments service client with the token and deadline attached.
pub type PaymentsClient = PaymentsServiceClient<InterceptedService<Channel, CallHeaders>>;

/// A server address checked to be `http://host:port`, before anything is connected.
#[derive(Debug, Clone)]
pub struct Target {
    endpoint: String,
    inner: Endpoint,
}

impl Target {
    /// Parses `endpoint`; only plaintext `http://` is built in (tonic without a TLS feature),
    /// and saying so up front beats a confusing transport error later.
    pub fn parse(endpoint: &str) -> Result<Target, ClientError> {
        let invalid = |detail: String| ClientError::InvalidEndpoint {
            endpoint: endpoint.to_owned(),
            detail,
        };
        let inner =
            Endpoint::from_shared(endpoint.to_owned()).map_err(|err| invalid(err.to_string()))?;
        match inner.uri().scheme_str() {
            Some("http") => Ok(Target {
                endpoint: endpoint.to_owned(),
                inner: inner.tcp_nodelay(true),
            }),
            Some("https") => Err(invalid(
                "TLS is not supported by this build; use http://".to_owned(),
            )),
            _ => Err(invalid("expected http://host:port".to_owned())),
        }
    }

    /// The endpoint as given.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

/// Adds `authorization: Bearer <token>` and, when the client has one, the `grpc-timeout`
/// deadline to every call, so the server stops working on a call nobody waits for.
#[derive(Debug, Clone)]
pub struct CallHeaders {
    authorization: Option<AsciiMetadataValue>,
    timeout: Option<Duration>,
}

impl CallHeaders {
    fn new(token: Option<&str>, timeout: Option<Duration>) -> Result<Self, ClientError> {
        let authorization = match token {
            // An empty token (PURSE_TOKEN="") means "no token", as if unset.
            None | Some("") => None,
            Some(token) => Some(
                format!("Bearer {token}")
                    .parse()
                    .map_err(|_| ClientError::InvalidToken)?,
            ),
        };
        Ok(CallHeaders {
            authorization,
            timeout,
        })
    }
}

impl Interceptor for CallHeaders {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(timeout) = self.timeout {
            request.set_timeout(timeout);
        }
        if let Some(value) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// One connection to a Purse endpoint. `pursed` serves every service on one port and a cluster
/// puts them behind one gateway address, so one channel serves all three service clients.
#[derive(Debug, Clone)]
pub struct Client {
    channel: Channel,
    headers: CallHeaders,
}

impl Client {
    /// Connects to `endpoint` sending `token` (none when `None` or empty), with no deadline on
    /// connecting or on calls.
    pub async fn connect(endpoint: &str, token: Option<&str>) -> Result<Client, ClientError> {
        let headers = CallHeaders::new(token, None)?;
        Client::open(&Target::parse(endpoint)?, headers).await
    }

    /// Connects to `target` sending `token` within `timeout`, which then also bounds every call
    /// made through [`Client::call`] (and is sent to the server as `grpc-timeout`).
    pub async fn connect_within(
        target: &Target,
        token: Option<&str>,
        timeout: Duration,
    ) -> Result<Client, ClientError> {
        let headers = CallHeaders::new(token, Some(timeout))?;
        Client::open(target, headers).await
    }

    async fn open(target: &Target, headers: CallHeaders) -> Result<Client, ClientError> {
        let connect_error = |detail: String| ClientError::Connect {
            endpoint: target.endpoint.clone(),
            detail,
        };
        let channel = match headers.timeout {
            Some(timeout) => {
                // connect_timeout covers the TCP handshake only; the outer bound covers the rest.
                let endpoint = target.inner.clone().connect_timeout(timeout);
                tokio::time::timeout(timeout, endpoint.connect())
                    .await
                    .map_err(|_| {
                        connect_error(format!("no connection within {} ms", timeout.as_millis()))
                    })?
            }
            None => target.inner.connect().await,
        }
        .map_err(|err| connect_error(error_chain(&err)))?;
        Ok(Client { channel, headers })
    }

    /// The wallet service.
    pub fn wallets(&self) -> WalletClient {
        WalletServiceClient::with_interceptor(self.channel.clone(), self.headers.clone())
            .max_decoding_message_size(RESPONSE_BYTES_MAX)
    }

    /// The top-up service.
    pub fn top_ups(&self) -> TopUpClient {
        TopUpServiceClient::with_interceptor(self.channel.clone(), self.headers.clone())
            .max_decoding_message_size(RESPONSE_BYTES_MAX)
    }

    /// The payments service (stored payment methods).
    pub fn payments(&self) -> PaymentsClient {
        PaymentsServiceClient::with_interceptor(self.channel.clone(), self.headers.clone())
            .max_decoding_message_size(RESPONSE_BYTES_MAX)
    }

    /// The per-call deadline given to [`Client::connect_within`], if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.headers.timeout
    }

    /// Awaits `call` within the client's deadline. tonic reports an expired deadline as
    /// CANCELLED (the server enforcing grpc-timeout), which would read as a rejection; since
    /// this client never cancels a call itself, CANCELLED once the deadline has passed is
    /// reported as [`ClientError::Timeout`], like no answer at all.
    pub async fn call<T>(
        &self,
        call: impl Future<Output = Result<Response<T>, Status>>,
    ) -> Result<T, ClientError> {
        let Some(timeout) = self.headers.timeout else {
            return Ok(call.await?.into_inner());
        };
        let timed_out = || ClientError::Timeout {
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        };
        let started = Instant::now();
        match tokio::time::timeout(timeout, call).await {
            Err(_elapsed) => Err(timed_out()),
            Ok(Err(status)) if status.code() == Code::Cancelled && started.elapsed() >= timeout => {
                Err(timed_out())
            }
            Ok(Err(status)) => Err(status.into()),
            Ok(Ok(response)) => Ok(response.into_inner()),
        }
    }
}

/// The error and its causes on one line: tonic's transport error alone says only
/// "transport error".
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        // Layers often wrap with the same words ("tcp connect error: tcp connect error").
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

    #[test]
    fn tokens_become_bearer_headers() {
        let header = |token| {
            CallHeaders::new(token, None)
                .unwrap()
                .authorization
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(header(None), None);
        assert_eq!(header(Some("")), None);
        assert_eq!(header(Some("abc.def")).as_deref(), Some("Bearer abc.def"));
        assert!(matches!(
            CallHeaders::new(Some("bad\ntoken"), None),
            Err(ClientError::InvalidToken)
        ));
    }

    #[test]
    fn headers_carry_the_token_and_deadline() {
        let mut headers = CallHeaders::new(Some("t"), Some(Duration::from_millis(1_500))).unwrap();
        let request = headers.call(Request::new(())).unwrap();
        assert_eq!(request.metadata().get("authorization").unwrap(), "Bearer t");
        assert_eq!(request.metadata().get("grpc-timeout").unwrap(), "1500000u");
    }

    #[test]
    fn only_plain_http_endpoints() {
        assert!(Target::parse("http://127.0.0.1:50051").is_ok());
        for bad in ["not a uri", "127.0.0.1:50051", "https://127.0.0.1:1"] {
            let err = Target::parse(bad).unwrap_err();
            assert!(
                matches!(&err, ClientError::InvalidEndpoint { endpoint, .. } if endpoint == bad),
                "{bad}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn unreachable_endpoints_are_connect_errors() {
        // Port 1 on loopback: nothing listens, so the connection is refused at once.
        let target = Target::parse("http://127.0.0.1:1").unwrap();
        let err = Client::connect_within(&target, None, Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Connect { .. }), "{err}");
        assert!(err.is_retryable());
        let err = Client::connect("http://127.0.0.1:1", Some("t"))
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Connect { .. }), "{err}");
    }
}
