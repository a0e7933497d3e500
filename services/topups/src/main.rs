//! `purse-topups`: the top-ups service in cluster mode. The gRPC front and this instance's share
//! of the top-up shard workers, over Kafka (`PURSE_KAFKA_BROKERS`) and the shared read store;
//! stops gracefully on SIGINT/SIGTERM (drains, commits, leaves the group).

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use purse_proto::topup::v1::top_up_service_server::TopUpServiceServer;
use purse_runtime::auth::TokenKey;
use purse_runtime::service::{self, CommonArgs, announce};
use purse_runtime::{backend, server};
use purse_streams::config::Config;
use purse_topups::app::TopUpApp;
use purse_topups::grpc::TopUpGrpc;
use tonic::server::NamedService;
use tonic::service::Routes;
use tracing::warn;

/// How long in-flight calls may take to finish after a stop signal.
const CALLS_GRACE_MS: u64 = 5_000;
/// How long queued commands may take to be answered and committed after the server stopped.
const DRAIN_GRACE_MS: u64 = 10_000;

#[derive(Parser, Debug)]
#[command(version, about = "Purse top-ups service (cluster mode, over Kafka)")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    service::run("purse-topups", Args::parse().common, run)
}

async fn run(config: Config) -> anyhow::Result<()> {
    anyhow::ensure!(
        config.kafka.is_enabled(),
        "purse-topups runs against Kafka: set PURSE_KAFKA_BROKERS (or use pursed)"
    );
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let checkout_base_url = checkout_base_url(&config);
    let log = backend::open_log(&config)?;
    let store = backend::open_store(&config).await?;
    let token_key = TokenKey::load_or_create(&config.token_key_path())?;
    let mut app =
        TopUpApp::start_cluster(&config, log, store, token_key, checkout_base_url.clone()).await?;

    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    announce(
        "purse endpoint",
        format_args!("http://{}", listener.local_addr()?),
    )?;
    announce("checkout base url", &checkout_base_url)?;
    announce("instance", &config.instance_id)?;
    service::start_metrics(&config).await?;

    let top_ups =
        TopUpServiceServer::new(app.grpc()).max_decoding_message_size(config.max_request_bytes);
    let names = [TopUpServiceServer::<TopUpGrpc>::NAME];
    tokio::select! {
        served = server::serve(listener, Routes::new(top_ups), &names, server::shutdown_signal(), CALLS_GRACE_MS) => served?,
        failure = app.failed() => anyhow::bail!(failure),
    }
    app.drain(DRAIN_GRACE_MS).await;
    Ok(())
}

/// `[topups] checkout_base_url`, or the payments listener's address when it is empty. In a
/// cluster the payments service runs elsewhere, so the fallback is only right on one machine.
fn checkout_base_url(config: &Config) -> String {
    let configured = config.services.topups.checkout_base_url.trim();
    if configured.is_empty() {
        let fallback = format!("http://{}", config.services.payments.http_listen);
        warn!(
            fallback,
            "topups.checkout_base_url is not set; top-up URLs point at the payments listener address"
        );
        fallback
    } else {
        configured.to_owned()
    }
}
