//! `purse-payments`: the payments gateway in cluster mode. The gRPC front, this instance's
//! share of the payment and payment-method shard workers, the hosted checkout page and provider
//! webhooks, over Kafka (`PURSE_KAFKA_BROKERS`) and the shared read store; stops gracefully on
//! SIGINT/SIGTERM (drains, commits, leaves the groups).

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use purse_payments::app::PaymentsApp;
use purse_payments::grpc::PaymentsGrpc;
use purse_proto::payment::v1::payments_service_server::PaymentsServiceServer;
use purse_runtime::auth::TokenKey;
use purse_runtime::service::{self, CommonArgs, announce};
use purse_runtime::{backend, server};
use purse_streams::config::Config;
use tonic::server::NamedService;
use tonic::service::Routes;

/// How long in-flight calls may take to finish after a stop signal.
const CALLS_GRACE_MS: u64 = 5_000;
/// How long queued commands, HTTP requests and reactors may take to finish after the server
/// stopped.
const DRAIN_GRACE_MS: u64 = 10_000;

#[derive(Parser, Debug)]
#[command(version, about = "Purse payments gateway (cluster mode, over Kafka)")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    service::run("purse-payments", Args::parse().common, run)
}

async fn run(config: Config) -> anyhow::Result<()> {
    anyhow::ensure!(
        config.kafka.is_enabled(),
        "purse-payments runs against Kafka: set PURSE_KAFKA_BROKERS (or use pursed)"
    );
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let log = backend::open_log(&config)?;
    let store = backend::open_store(&config).await?;
    let token_key = TokenKey::load_or_create(&config.token_key_path())?;
    let http_listener = tokio::net::TcpListener::bind(config.services.payments.http_listen)
        .await
        .with_context(|| format!("binding {}", config.services.payments.http_listen))?;
    let mut app = PaymentsApp::start_cluster(&config, log, store, token_key, http_listener).await?;

    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    announce(
        "purse endpoint",
        format_args!("http://{}", listener.local_addr()?),
    )?;
    announce("checkout endpoint", app.checkout_endpoint())?;
    announce("instance", &config.instance_id)?;
    service::start_metrics(&config).await?;

    let payments =
        PaymentsServiceServer::new(app.grpc()).max_decoding_message_size(config.max_request_bytes);
    let names = [PaymentsServiceServer::<PaymentsGrpc>::NAME];
    tokio::select! {
        served = server::serve(listener, Routes::new(payments), &names, server::shutdown_signal(), CALLS_GRACE_MS) => served?,
        failure = app.failed() => anyhow::bail!(failure),
    }
    app.drain(DRAIN_GRACE_MS).await;
    Ok(())
}
