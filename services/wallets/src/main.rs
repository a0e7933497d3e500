//! `purse-wallets`: the wallets service in cluster mode. The gRPC front and this instance's share
//! of the wallet shard workers, over Kafka (`PURSE_KAFKA_BROKERS`) and the shared read store;
//! stops gracefully on SIGINT/SIGTERM (drains, commits, leaves the group).

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use purse_proto::wallet::v1::wallet_service_server::WalletServiceServer;
use purse_runtime::auth::TokenKey;
use purse_runtime::service::{self, CommonArgs, announce};
use purse_runtime::{backend, server};
use purse_streams::config::Config;
use purse_wallets::app::WalletApp;
use purse_wallets::grpc::WalletGrpc;
use tonic::server::NamedService;
use tonic::service::Routes;

/// How long in-flight calls may take to finish after a stop signal.
const CALLS_GRACE_MS: u64 = 5_000;
/// How long queued commands may take to be answered and committed after the server stopped.
const DRAIN_GRACE_MS: u64 = 10_000;

#[derive(Parser, Debug)]
#[command(version, about = "Purse wallets service (cluster mode, over Kafka)")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    service::run("purse-wallets", Args::parse().common, run)
}

async fn run(config: Config) -> anyhow::Result<()> {
    anyhow::ensure!(
        config.kafka.is_enabled(),
        "purse-wallets runs against Kafka: set PURSE_KAFKA_BROKERS (or use pursed)"
    );
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let log = backend::open_log(&config)?;
    let store = backend::open_store(&config).await?;
    let token_key = TokenKey::load_or_create(&config.token_key_path())?;
    let mut app = WalletApp::start_cluster(&config, log, store, token_key).await?;

    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    announce(
        "purse endpoint",
        format_args!("http://{}", listener.local_addr()?),
    )?;
    announce("instance", &config.instance_id)?;
    service::start_metrics(&config).await?;

    let wallets =
        WalletServiceServer::new(app.grpc()).max_decoding_message_size(config.max_request_bytes);
    let names = [WalletServiceServer::<WalletGrpc>::NAME];
    tokio::select! {
        served = server::serve(listener, Routes::new(wallets), &names, server::shutdown_signal(), CALLS_GRACE_MS) => served?,
        failure = app.failed() => anyhow::bail!(failure),
    }
    app.drain(DRAIN_GRACE_MS).await;
    Ok(())
}
