//! Logs and traces (DESIGN §8, docs/adr/0010).
//!
//! Logs: `tracing` events with an env-style filter, to stderr (stdout is for what a binary prints
//! for people and scripts, such as the endpoint and development token).
//!
//! Traces: the runtime opens a span per gRPC call ([`crate::server`]), per command a shard worker
//! decides ([`crate::shard`]) and per reaction ([`crate::reactor`], [`crate::saga`]), each carrying
//! the correlation id. When `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
//! is set, those spans are exported with OTLP over HTTP (protobuf) in background batches, with
//! the standard OpenTelemetry environment semantics; [`Telemetry::shutdown`] flushes them. An
//! unreachable collector costs a warning, never the service; a value that does not parse is a
//! configuration error.
//!
//! The correlation id of a call lives in a task-local while its handler runs, so a command sent
//! from the handler carries the call's id ([`correlation_id_or`]).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::level_filters::LevelFilter;
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Base URL of the OTLP/HTTP collector; traces go to `<endpoint>/v1/traces`. Unset: no export.
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Full URL for traces only; wins over [`OTEL_EXPORTER_OTLP_ENDPOINT`].
pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// Wire protocol; only `http/protobuf` is built in.
pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// Wire protocol for traces only.
pub const OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
/// Compression; only `none` is built in.
pub const OTEL_EXPORTER_OTLP_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
/// Compression for traces only.
pub const OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION";
/// Longest wait of one export request, in milliseconds (default 10000).
pub const OTEL_EXPORTER_OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
/// Longest wait of one trace export request, in milliseconds.
pub const OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
/// `true` turns export off whatever the endpoint says.
pub const OTEL_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
/// Overrides `service.name` (default: the binary's name).
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// Milliseconds between two batch exports (default 5000); read by the SDK.
pub const OTEL_BSP_SCHEDULE_DELAY: &str = "OTEL_BSP_SCHEDULE_DELAY";
/// Spans queued for export before new ones are dropped (default 2048); read by the SDK.
pub const OTEL_BSP_MAX_QUEUE_SIZE: &str = "OTEL_BSP_MAX_QUEUE_SIZE";
/// Most spans per export request (default 512); read by the SDK.
pub const OTEL_BSP_MAX_EXPORT_BATCH_SIZE: &str = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE";
/// Longest wait of one batch export, in milliseconds (default 30000); read by the SDK.
pub const OTEL_BSP_EXPORT_TIMEOUT: &str = "OTEL_BSP_EXPORT_TIMEOUT";

/// The OTel variables that must hold a non-negative integer when set.
const NUMERIC_VARIABLES: [&str; 6] = [
    OTEL_EXPORTER_OTLP_TIMEOUT,
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
    OTEL_BSP_SCHEDULE_DELAY,
    OTEL_BSP_MAX_QUEUE_SIZE,
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    OTEL_BSP_EXPORT_TIMEOUT,
];

/// Default of [`OTEL_EXPORTER_OTLP_TIMEOUT`] (the OTel specification's).
const EXPORT_REQUEST_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// How long [`Telemetry::shutdown`] may take to export what is queued.
const FLUSH_TIMEOUT_MS: u64 = 5_000;
/// Instrumentation scope of every Purse span.
const TRACER_NAME: &str = "purse";

/// Metadata (HTTP header) a client sets to choose a call's correlation id.
pub const CORRELATION_ID_HEADER: &str = "x-correlation-id";
/// Longest correlation id accepted from a client; longer ones are replaced.
pub const MAX_CORRELATION_ID_BYTES: usize = 128;

/// Why telemetry could not start. Each is a configuration error (exit 64).
#[derive(thiserror::Error, Debug)]
pub enum TelemetryError {
    /// The filter does not parse.
    #[error("invalid log filter {filter:?}: {source}")]
    Filter {
        /// The filter text.
        filter: String,
        /// Why.
        source: tracing_subscriber::filter::ParseError,
    },
    /// An OpenTelemetry variable holds a value this build cannot use.
    #[error("invalid {variable}={value:?}: {problem}")]
    Otel {
        /// The environment variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// The exporter refused its settings.
    #[error("OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// Where and how traces are exported, from the OTel environment variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtlpSettings {
    /// The endpoint variable in effect and its value (for the start-up log line).
    pub endpoint: String,
    /// Longest wait of one export request.
    pub request_timeout_ms: u64,
}

impl OtlpSettings {
    /// Reads and checks the OTel variables of `environment`: `None` when export is off.
    pub fn from_env(
        environment: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, TelemetryError> {
        let set = |name: &str| environment(name).filter(|value| !value.trim().is_empty());
        let invalid = |variable, value: String, problem| {
            Err(TelemetryError::Otel {
                variable,
                value,
                problem,
            })
        };
        if set(OTEL_SDK_DISABLED).is_some_and(|value| value.trim().eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let (variable, endpoint) = match (
            set(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT),
            set(OTEL_EXPORTER_OTLP_ENDPOINT),
        ) {
            (Some(endpoint), _) => (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, endpoint),
            (None, Some(endpoint)) => (OTEL_EXPORTER_OTLP_ENDPOINT, endpoint),
            (None, None) => return Ok(None),
        };
        match endpoint.parse::<tonic::codegen::http::Uri>() {
            Ok(uri) if uri.scheme_str() == Some("http") && uri.host().is_some() => {}
            Ok(uri) if uri.scheme_str() == Some("https") => {
                return invalid(
                    variable,
                    endpoint,
                    "https is not built in (no TLS client); send to a collector over http",
                );
            }
            _ => return invalid(variable, endpoint, "must be an http://host:port URL"),
        }
        for protocol in [
            OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
            OTEL_EXPORTER_OTLP_PROTOCOL,
        ] {
            if let Some(value) = set(protocol)
                && value.trim() != "http/protobuf"
            {
                return invalid(protocol, value, "only http/protobuf is built in");
            }
        }
        for compression in [
            OTEL_EXPORTER_OTLP_TRACES_COMPRESSION,
            OTEL_EXPORTER_OTLP_COMPRESSION,
        ] {
            if let Some(value) = set(compression)
                && value.trim() != "none"
            {
                return invalid(compression, value, "only none is built in");
            }
        }
        for numeric in NUMERIC_VARIABLES {
            if let Some(value) = set(numeric)
                && value.trim().parse::<u64>().is_err()
            {
                return invalid(numeric, value, "must be a whole number");
            }
        }
        let timeout_ms = |name| set(name).and_then(|value| value.trim().parse::<u64>().ok());
        let request_timeout_ms = timeout_ms(OTEL_EXPORTER_OTLP_TRACES_TIMEOUT)
            .or_else(|| timeout_ms(OTEL_EXPORTER_OTLP_TIMEOUT))
            .unwrap_or(EXPORT_REQUEST_TIMEOUT_MS_DEFAULT);
        Ok(Some(Self {
            endpoint: format!("{variable}={endpoint}"),
            request_timeout_ms,
        }))
    }
}

/// Running telemetry. Keep it for the life of the process; [`Telemetry::shutdown`] (or dropping
/// it) exports the spans still queued.
#[derive(Debug)]
#[must_use = "dropping the telemetry handle flushes and stops trace export"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports what is queued (waiting at most 5 s) and stops exporting. Blocks:
    /// call it outside the runtime's worker threads, while the runtime still runs (the export
    /// requests run on it).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) =
                provider.shutdown_with_timeout(Duration::from_millis(FLUSH_TIMEOUT_MS))
        {
            warn!(error = %err, "trace export did not flush cleanly; the last spans may be lost");
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Installs the global subscriber: logs filtered by `filter` (e.g. `info,purse_runtime=debug`) to
/// stderr and, when the OTel environment asks for it, span export as `service_name` with export
/// requests run on `runtime`.
pub fn init(
    service_name: &str,
    filter: &str,
    runtime: tokio::runtime::Handle,
) -> Result<Telemetry, TelemetryError> {
    let env_filter = EnvFilter::try_new(filter).map_err(|source| TelemetryError::Filter {
        filter: filter.to_owned(),
        source,
    })?;
    let environment = |name: &str| std::env::var(name).ok();
    let otlp = OtlpSettings::from_env(environment)?;
    let provider = match &otlp {
        Some(settings) => Some(otlp_provider(service_name, settings, runtime, environment)?),
        None => None,
    };
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(env_filter);
    tracing_subscriber::registry()
        .with(logs)
        .with(provider.as_ref().map(span_layer))
        .init();
    if let Some(settings) = otlp {
        info!(endpoint = %settings.endpoint, service_name, "exporting traces over OTLP/HTTP");
    }
    Ok(Telemetry { provider })
}

/// The layer that turns Purse's spans (INFO and above, whatever the log filter) into OTel spans
/// of `provider`. Public for tests that export to their own provider.
pub fn span_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + use<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    // Only our own crates' spans: library internals (hyper, h2, the exporter's own requests)
    // would be noise, and exporting the exporter's spans would feed itself.
    let ours = Targets::new().with_target("purse", LevelFilter::INFO);
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(TRACER_NAME))
        .with_filter(ours)
}

fn otlp_provider(
    service_name: &str,
    settings: &OtlpSettings,
    runtime: tokio::runtime::Handle,
    environment: impl Fn(&str) -> Option<String>,
) -> Result<SdkTracerProvider, TelemetryError> {
    let timeout = Duration::from_millis(settings.request_timeout_ms);
    let client = OnRuntime {
        runtime,
        inner: HyperClient::with_default_connector(timeout, None),
        failing: Arc::new(AtomicBool::new(false)),
    };
    // The endpoint, headers and timeout come from the standard variables, read by the builder.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(timeout)
        .with_http_client(client)
        .build()?;
    let mut resource = Resource::builder().with_attribute(opentelemetry::KeyValue::new(
        "service.version",
        env!("CARGO_PKG_VERSION"),
    ));
    if environment(OTEL_SERVICE_NAME).is_none_or(|name| name.trim().is_empty()) {
        resource = resource.with_service_name(service_name.to_owned());
    }
    // The batch processor exports from its own thread every OTEL_BSP_SCHEDULE_DELAY.
    Ok(SdkTracerProvider::builder()
        .with_resource(resource.build())
        .with_batch_exporter(exporter)
        .build())
}

/// The exporter's HTTP client: hyper, which needs a Tokio runtime, while the SDK's batch
/// processor exports from a thread of its own. Each request runs on the service's runtime.
/// Failures are logged once when they start and once when export recovers, not per batch.
#[derive(Clone, Debug)]
struct OnRuntime {
    runtime: tokio::runtime::Handle,
    inner: HyperClient,
    failing: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let uri = request.uri().to_string();
        let inner = self.inner.clone();
        let sent = self
            .runtime
            .spawn(async move { inner.send_bytes(request).await })
            .await
            .map_err(|err| -> HttpError { Box::new(err) })
            .and_then(|sent| sent);
        let problem = match &sent {
            Ok(response) if response.status().is_success() => None,
            Ok(response) => Some(format!("collector answered {}", response.status())),
            Err(err) => Some(err.to_string()),
        };
        match problem {
            Some(problem) if !self.failing.swap(true, Ordering::Relaxed) => {
                warn!(%uri, %problem, "trace export failing; spans are dropped until it recovers");
            }
            None if self.failing.swap(false, Ordering::Relaxed) => {
                info!(%uri, "trace export recovered");
            }
            _ => {}
        }
        sent
    }
}

tokio::task_local! {
    static CORRELATION_ID: String;
}

/// Runs `future` with `correlation_id` as the current call's correlation id.
pub async fn with_correlation_id<F: Future>(correlation_id: String, future: F) -> F::Output {
    CORRELATION_ID.scope(correlation_id, future).await
}

/// The correlation id of the gRPC call being handled on this task, if any.
pub fn current_correlation_id() -> Option<String> {
    CORRELATION_ID.try_with(Clone::clone).ok()
}

/// The current call's correlation id, or `minted` outside a call. A command sent while a call is
/// handled belongs to that call: its events, the reactions to them and the commands those send
/// all carry the id the client chose (or the one minted for the call).
pub fn correlation_id_or(minted: String) -> String {
    current_correlation_id().unwrap_or(minted)
}

/// A new correlation id (UUIDv7: sortable by time).
pub fn new_correlation_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Whether a client's correlation id is usable: 1..=[`MAX_CORRELATION_ID_BYTES`] bytes of
/// letters, digits and `-_.:`. Anything else could smuggle text into logs and traces.
pub fn is_valid_correlation_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CORRELATION_ID_BYTES
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Option<OtlpSettings>, TelemetryError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        OtlpSettings::from_env(move |name| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, value)| value.clone())
        })
    }

    fn rejected(pairs: &[(&str, &str)]) -> &'static str {
        match settings(pairs) {
            Err(TelemetryError::Otel { variable, .. }) => variable,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    #[test]
    fn export_is_off_without_an_endpoint_or_when_disabled() {
        assert_eq!(settings(&[]).unwrap(), None);
        assert_eq!(
            settings(&[(OTEL_EXPORTER_OTLP_ENDPOINT, " ")]).unwrap(),
            None
        );
        assert_eq!(
            settings(&[
                (OTEL_EXPORTER_OTLP_ENDPOINT, "http://collector:4318"),
                (OTEL_SDK_DISABLED, "TRUE"),
            ])
            .unwrap(),
            None
        );
    }

    #[test]
    fn an_endpoint_turns_export_on_with_the_traces_variable_winning() {
        let on = settings(&[
            (OTEL_EXPORTER_OTLP_ENDPOINT, "http://collector:4318"),
            (OTEL_EXPORTER_OTLP_TIMEOUT, "2500"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(on.request_timeout_ms, 2_500);
        assert_eq!(
            on.endpoint,
            "OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318"
        );
        let traces = settings(&[
            (OTEL_EXPORTER_OTLP_ENDPOINT, "http://a:4318"),
            (
                OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
                "http://b:4318/v1/traces",
            ),
        ])
        .unwrap()
        .unwrap();
        assert!(
            traces
                .endpoint
                .starts_with(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
        );
        assert_eq!(traces.request_timeout_ms, EXPORT_REQUEST_TIMEOUT_MS_DEFAULT);
    }

    #[test]
    fn values_this_build_cannot_use_are_configuration_errors() {
        let endpoint = (OTEL_EXPORTER_OTLP_ENDPOINT, "http://collector:4318");
        assert_eq!(
            rejected(&[(OTEL_EXPORTER_OTLP_ENDPOINT, "collector:4318")]),
            OTEL_EXPORTER_OTLP_ENDPOINT
        );
        assert_eq!(
            rejected(&[(OTEL_EXPORTER_OTLP_ENDPOINT, "https://collector:4318")]),
            OTEL_EXPORTER_OTLP_ENDPOINT
        );
        assert_eq!(
            rejected(&[endpoint, (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc")]),
            OTEL_EXPORTER_OTLP_PROTOCOL
        );
        assert_eq!(
            rejected(&[endpoint, (OTEL_EXPORTER_OTLP_COMPRESSION, "gzip")]),
            OTEL_EXPORTER_OTLP_COMPRESSION
        );
        assert_eq!(
            rejected(&[endpoint, (OTEL_BSP_SCHEDULE_DELAY, "5s")]),
            OTEL_BSP_SCHEDULE_DELAY
        );
        assert!(
            settings(&[endpoint, (OTEL_EXPORTER_OTLP_PROTOCOL, "http/protobuf")])
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn client_correlation_ids_are_bounded_plain_text() {
        assert!(is_valid_correlation_id("order-42:retry_1.a"));
        assert!(is_valid_correlation_id(&new_correlation_id()));
        assert!(!is_valid_correlation_id(""));
        assert!(!is_valid_correlation_id("two words"));
        assert!(!is_valid_correlation_id("line\nbreak"));
        assert!(!is_valid_correlation_id(
            &"x".repeat(MAX_CORRELATION_ID_BYTES + 1)
        ));
    }

    #[tokio::test]
    async fn a_call_correlation_id_wins_over_a_minted_one_only_inside_the_call() {
        assert_eq!(correlation_id_or("minted".into()), "minted");
        let inside = with_correlation_id("call-1".into(), async {
            correlation_id_or("minted".into())
        })
        .await;
        assert_eq!(inside, "call-1");
        assert_eq!(current_correlation_id(), None);
    }
}
