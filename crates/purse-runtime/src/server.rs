//! gRPC server scaffolding shared by every service: health, reflection, limits, a span per call,
//! graceful stop.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tonic::codegen::http;
use tracing::Instrument;
use tracing::field::Empty;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tracing::{info, warn};

use crate::{status, telemetry};

/// Why the server stopped with an error.
#[derive(thiserror::Error, Debug)]
pub enum ServeError {
    /// The transport failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The reflection descriptors are invalid.
    #[error("gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// Serves `routes` plus `grpc.health.v1` (each of `service_names` reported SERVING) and reflection
/// on `listener` until `shutdown` completes. Then it stops accepting and lets in-flight calls
/// finish for up to `grace_ms`: idle client connections would otherwise hold the stop forever.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    service_names: &[&str],
    shutdown: impl Future<Output = ()>,
    grace_ms: u64,
) -> Result<(), ServeError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in service_names {
        reporter
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(purse_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = Server::builder()
        .layer(CallSpanLayer)
        .add_routes(routes.add_service(health).add_service(reflection))
        // Small replies must not wait for delayed ACKs (Nagle): tens of ms per call otherwise.
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            async {
                let _ = stopped.await;
            },
        );
    tokio::pin!(serving);
    tokio::select! {
        served = &mut serving => return Ok(served?),
        () = shutdown => {}
    }
    let _ = stop.send(());
    match tokio::time::timeout(Duration::from_millis(grace_ms), serving).await {
        Ok(served) => served?,
        Err(_) => warn!(
            grace_ms,
            "connections still open after the grace period; closing them"
        ),
    }
    Ok(())
}

/// Tower layer of the gRPC server: one INFO span `grpc` per call (named after its method) with
/// `rpc.service`, `rpc.method`, the `tenant` its bearer token names, the `correlation_id` and, at
/// the end, `rpc.grpc.status_code`. The correlation id is the client's `x-correlation-id` when
/// it is plain text of at most 128 bytes, else a new UUIDv7; it is echoed in the reply's headers
/// and is the current correlation id ([`telemetry::current_correlation_id`]) while the handler
/// runs. The token itself, and any request field, is never recorded. Health checks and
/// reflection get no span.
#[derive(Clone, Copy, Debug, Default)]
pub struct CallSpanLayer;

impl<S> tower::Layer<S> for CallSpanLayer {
    type Service = CallSpan<S>;

    fn layer(&self, inner: S) -> CallSpan<S> {
        CallSpan { inner }
    }
}

/// The service [`CallSpanLayer`] wraps around the routes.
#[derive(Clone, Debug)]
pub struct CallSpan<S> {
    inner: S,
}

impl<S, B, R> tower::Service<http::Request<B>> for CallSpan<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        let Some((service, method)) = path
            .strip_prefix('/')
            .and_then(|path| path.split_once('/'))
            .filter(|(service, _)| !is_infrastructure(service))
        else {
            return Box::pin(self.inner.call(request));
        };
        let correlation_id = request
            .headers()
            .get(telemetry::CORRELATION_ID_HEADER)
            .and_then(|value| value.to_str().ok())
            .filter(|id| telemetry::is_valid_correlation_id(id))
            .map_or_else(telemetry::new_correlation_id, str::to_owned);
        let span = tracing::info_span!(
            "grpc",
            otel.name = %format_args!("{service}/{method}"),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            tenant = Empty,
            correlation_id = %correlation_id,
            rpc.grpc.status_code = Empty,
        );
        if !span.is_disabled()
            && let Some(tenant) = tenant_claim(request.headers())
        {
            span.record("tenant", tenant);
        }
        let header = http::HeaderValue::from_str(&correlation_id).ok();
        let reply = span.in_scope(|| self.inner.call(request));
        let call = telemetry::with_correlation_id(correlation_id, reply).instrument(span.clone());
        Box::pin(async move {
            let mut reply = call.await;
            if let Ok(response) = &mut reply {
                // A unary reply that fails carries its status in the headers (trailers-only);
                // a success carries OK in the trailers, which this layer does not wait for.
                let code = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|value| value.to_str().ok())
                    .and_then(|code| code.parse::<i64>().ok())
                    .unwrap_or(0);
                span.record("rpc.grpc.status_code", code);
                with_error_info(response.headers_mut());
                if let Some(header) = header {
                    response
                        .headers_mut()
                        .insert(telemetry::CORRELATION_ID_HEADER, header);
                }
            }
            reply
        })
    }
}

/// Gives a failed call's trailers-only reply an ErrorInfo when it has no details: statuses of
/// the gRPC machinery itself (RESOURCE_EXHAUSTED for a request over `max_request_bytes`,
/// UNIMPLEMENTED) carry a reason like every handler's own errors.
fn with_error_info(headers: &mut http::HeaderMap) {
    let Some(status) = tonic::Status::from_header_map(headers) else {
        return;
    };
    if status.code() == tonic::Code::Ok || !status.details().is_empty() {
        return;
    }
    let (code, reason) = status::machinery_status(&status);
    let detailed = status::with_reason(code, reason, status.message(), &[]);
    if detailed.add_header(headers).is_err() {
        warn!(reason, "could not add error details to a reply");
    }
}

/// Health checks and reflection: polled by orchestrators and tools, not commands.
fn is_infrastructure(service: &str) -> bool {
    service.starts_with("grpc.health.") || service.starts_with("grpc.reflection.")
}

/// The tenant a `purse1` bearer token names, read without verifying the signature (the handler
/// verifies; a forged token ends UNAUTHENTICATED, which the span shows). Only a well-formed
/// tenant name is returned: the token's signature and scopes never reach a span.
fn tenant_claim(headers: &http::HeaderMap) -> Option<String> {
    let token = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    let mut parts = token.split('.');
    let (Some("purse1"), Some(payload)) = (parts.next(), parts.next()) else {
        return None;
    };
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let (tenant, _scopes) = std::str::from_utf8(&payload).ok()?.split_once('|')?;
    let well_formed = !tenant.is_empty()
        && tenant.len() <= crate::auth::MAX_TENANT_BYTES
        && tenant
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    well_formed.then(|| tenant.to_owned())
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => info!("SIGINT: shutting down"),
        _ = terminate.recv() => info!("SIGTERM: shutting down"),
    }
}
