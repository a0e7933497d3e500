//! Spans and correlation ids: a gRPC call through the server's span layer, the command its
//! handler sends to a shard worker and the reaction to the resulting event all carry the
//! correlation id the client chose, exported through the same OpenTelemetry layer as in
//! production (to an in-test exporter); the bearer token never reaches a span.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use purse_domain::idempotency::IdempotencyKey;
use purse_domain::money::Asset;
use purse_domain::wallet::{Limits, WalletAction, WalletCommand, WalletKind};
use purse_log::{EventLog, SqliteLog, SqliteLogOptions};
use purse_runtime::bus::{BusSettings, CommandBus, LocalBus};
use purse_runtime::reactor::{Reacted, Reaction, ReactionError, ReactorSettings, spawn_reactor};
use purse_runtime::server::CallSpanLayer;
use purse_runtime::shard::{ShardSettings, TimerSettings};
use purse_runtime::telemetry::{self, CORRELATION_ID_HEADER};
use purse_store::{ReadStore, SqliteStore};
use purse_streams::wallet::WalletStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tonic::codegen::http;
use tower::{Layer, Service};
use tracing_subscriber::layer::SubscriberExt;
use uuid::Uuid;

const TOPIC: &str = "purse.wallet.events";
const TOKEN_SIGNATURE: &str = "c2lnbmF0dXJlLW5vdC1jaGVja2Vk";
const WAIT: Duration = Duration::from_secs(10);

/// Keeps every finished span.
#[derive(Clone, Debug, Default)]
struct Captured(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Captured {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

impl Captured {
    /// Name and attributes (as text) of every finished span.
    fn spans(&self) -> Vec<(String, HashMap<String, String>)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|span| {
                let attributes = span
                    .attributes
                    .iter()
                    .map(|kv| (kv.key.to_string(), kv.value.to_string()))
                    .collect();
                (span.name.to_string(), attributes)
            })
            .collect()
    }

    fn named(&self, name: &str) -> HashMap<String, String> {
        let spans = self.spans();
        spans
            .iter()
            .find(|(span, _)| span == name)
            .map(|(_, attributes)| attributes.clone())
            .unwrap_or_else(|| panic!("no span {name:?} among {spans:#?}"))
    }
}

/// A handler that opens a wallet through the bus, passing its own (minted) correlation id as
/// the services' handlers do.
#[derive(Clone)]
struct OpenWallet {
    bus: Arc<LocalBus<WalletStream>>,
    wallet_id: Uuid,
}

impl Service<http::Request<()>> for OpenWallet {
    type Response = http::Response<()>;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<()>) -> Self::Future {
        let (bus, wallet_id) = (self.bus.clone(), self.wallet_id);
        Box::pin(async move {
            let command = WalletCommand {
                tenant: "acme".to_owned(),
                wallet_id,
                action: WalletAction::Open {
                    owner: "owner".to_owned(),
                    kind: WalletKind::Customer,
                    asset: Asset::parse("USD", None).unwrap(),
                    limits: Limits::default(),
                    metadata: BTreeMap::new(),
                },
            };
            let key = IdempotencyKey::parse("open-1").unwrap();
            bus.send(command, Some(key), telemetry::new_correlation_id())
                .await
                .expect("wallet opened");
            Ok(http::Response::new(()))
        })
    }
}

/// Tells the test which correlation id each reacted event carried.
struct Seen(mpsc::UnboundedSender<String>);

#[async_trait::async_trait]
impl Reaction<WalletStream> for Seen {
    async fn react(&self, event: &Reacted<'_, WalletStream>) -> Result<(), ReactionError> {
        let _ = self.0.send(event.correlation_id.to_owned());
        Ok(())
    }
}

fn request(correlation_id: &str) -> http::Request<()> {
    let payload = URL_SAFE_NO_PAD.encode("acme|wallets:admin");
    http::Request::builder()
        .uri("/purse.wallet.v1.WalletService/OpenWallet")
        .header(
            "authorization",
            format!("Bearer purse1.{payload}.{TOKEN_SIGNATURE}"),
        )
        .header(CORRELATION_ID_HEADER, correlation_id)
        .body(())
        .unwrap()
}

#[tokio::test]
async fn the_call_its_command_and_the_reaction_carry_the_clients_correlation_id() {
    let captured = Captured::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(captured.clone())
        .build();
    let subscriber = tracing_subscriber::registry().with(telemetry::span_layer(&provider));
    // The runtime is single-threaded: the shard worker and reactor tasks see this subscriber.
    let _subscriber = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> =
        Arc::new(SqliteLog::open(&dir.path().join("log.db"), SqliteLogOptions::default()).unwrap());
    let store: Arc<dyn ReadStore> =
        Arc::new(SqliteStore::open(&dir.path().join("store.db")).unwrap());
    let mut shards = JoinSet::new();
    let bus = LocalBus::start(
        log.clone(),
        TOPIC,
        &BusSettings {
            partitions: 1,
            queue_capacity: 8,
            reply_timeout_ms: 10_000,
        },
        &ShardSettings {
            batch_max_commands: 8,
            read_batch_max_records: 64,
            read_back_wait_ms: 5_000,
            idempotency_retention_ms: 86_400_000,
            timers: TimerSettings {
                expiring_notice_lead_ms: 86_400_000,
            },
        },
        &mut shards,
    )
    .await
    .unwrap();
    let (seen, mut reacted) = mpsc::unbounded_channel();
    let (_stop, stopped) = watch::channel(false);
    let mut reactors = JoinSet::new();
    spawn_reactor(
        log,
        store,
        ReactorSettings {
            name: "telemetry-test".to_owned(),
            topic: TOPIC.to_owned(),
            partitions: 1,
            read_batch_max_records: 64,
            read_wait_ms: 50,
        },
        Arc::new(Seen(seen)),
        &stopped,
        &mut reactors,
    );

    let wallet_id = Uuid::now_v7();
    let mut server = CallSpanLayer.layer(OpenWallet {
        bus: Arc::new(bus),
        wallet_id,
    });
    let response = server.call(request("order-42.attempt-1")).await.unwrap();
    assert_eq!(
        response.headers()[CORRELATION_ID_HEADER],
        "order-42.attempt-1",
        "the reply names the call's correlation id"
    );
    let reacted_with = tokio::time::timeout(WAIT, reacted.recv())
        .await
        .expect("the reactor sees the event")
        .unwrap();
    assert_eq!(reacted_with, "order-42.attempt-1", "the event carries it");
    // The reaction's span ends once the reaction returned: wait for it.
    let deadline = tokio::time::Instant::now() + WAIT;
    while !captured
        .spans()
        .iter()
        .any(|(name, _)| name.starts_with("telemetry-test"))
    {
        assert!(tokio::time::Instant::now() < deadline, "no reaction span");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let call = captured.named("purse.wallet.v1.WalletService/OpenWallet");
    assert_eq!(call["correlation_id"], "order-42.attempt-1");
    assert_eq!(call["tenant"], "acme");
    assert_eq!(call["rpc.service"], "purse.wallet.v1.WalletService");
    assert_eq!(call["rpc.method"], "OpenWallet");
    assert_eq!(call["rpc.grpc.status_code"], "0");
    let command = captured.named("command WalletCommand");
    assert_eq!(command["correlation_id"], "order-42.attempt-1");
    assert_eq!(command["events"], "WalletOpened");
    assert_eq!(command["outcome"], "ok");
    assert_eq!(command["stream_id"], wallet_id.to_string());
    assert_eq!(command["tenant"], "acme");
    let reaction = captured.named("telemetry-test WalletOpened");
    assert_eq!(reaction["correlation_id"], "order-42.attempt-1");
    assert_eq!(reaction["stream_id"], wallet_id.to_string());

    let everything = format!("{:?}", captured.spans());
    assert!(
        !everything.contains(TOKEN_SIGNATURE) && !everything.contains("wallets:admin"),
        "the bearer token stays out of spans: {everything}"
    );
}

#[tokio::test]
async fn a_call_without_a_usable_correlation_id_gets_a_new_one() {
    let captured = Captured::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(captured.clone())
        .build();
    let subscriber = tracing_subscriber::registry().with(telemetry::span_layer(&provider));
    let _subscriber = tracing::subscriber::set_default(subscriber);

    #[derive(Clone)]
    struct Echo;
    impl Service<http::Request<()>> for Echo {
        type Response = http::Response<()>;
        type Error = std::convert::Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            // Like tonic's, the handler runs in the future; a failure travels in the headers.
            Box::pin(async {
                let mut response = http::Response::new(());
                let id = telemetry::current_correlation_id().unwrap_or_default();
                response.headers_mut().insert("x-seen", id.parse().unwrap());
                response
                    .headers_mut()
                    .insert("grpc-status", http::HeaderValue::from_static("7"));
                Ok(response)
            })
        }
    }

    let mut server = CallSpanLayer.layer(Echo);
    let response = server
        .call(request("has spaces; and <markup>"))
        .await
        .unwrap();
    let minted = response.headers()[CORRELATION_ID_HEADER].to_str().unwrap();
    assert!(Uuid::parse_str(minted).is_ok(), "{minted}");
    assert_eq!(response.headers()["x-seen"], minted, "the handler saw it");
    let call = captured.named("purse.wallet.v1.WalletService/OpenWallet");
    assert_eq!(call["correlation_id"], minted);
    assert_eq!(call["rpc.grpc.status_code"], "7");
    // Health checks are not calls worth a span.
    let health = http::Request::builder()
        .uri("/grpc.health.v1.Health/Check")
        .body(())
        .unwrap();
    let _ = server.call(health).await;
    assert_eq!(captured.spans().len(), 1, "{:#?}", captured.spans());
}
