//! `pursed`: Purse all-in-one. Every service in one process over the embedded log and store in
//! `--data-dir`; prints its endpoint and a development token, stops gracefully on SIGINT/SIGTERM.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use purse_proto::wallet::v1::wallet_service_server::WalletServiceServer;
use purse_runtime::auth::{Principal, Scope, TokenKey};
use purse_runtime::buses::Buses;
use purse_runtime::config::Config;
use purse_runtime::service::{self, CommonArgs, announce};
use purse_runtime::{backend, server, telemetry};
use purse_wallets::app::WalletApp;
use tonic::server::NamedService;
use tonic::service::Routes;

/// How long in-flight calls may take to finish after a stop signal.
const CALLS_GRACE_MS: u64 = 5_000;
/// How long queued commands and projectors may take to finish after the server stopped.
const DRAIN_GRACE_MS: u64 = 10_000;
/// Tenant of the development token printed at start.
const DEV_TENANT: &str = "dev";

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Purse all-in-one: wallets, projector and timers in one process"
)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    service::run("pursed", Args::parse().common, run)
}

async fn run(config: Config) -> anyhow::Result<()> {
    telemetry::init(&config.log)?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    // All-in-one always uses the embedded log, whatever `[kafka]` says.
    let log = backend::open_embedded_log(&config)?;
    let store = backend::open_store(&config).await?;
    let token_key = TokenKey::load_or_create(&config.token_key_path())?;
    let (buses, mut shards) = Buses::start_embedded(&config, log.clone()).await?;
    let mut app = WalletApp::start_embedded(
        &config,
        buses.wallets.clone(),
        log,
        store,
        token_key.clone(),
    );

    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let dev = Principal {
        tenant: DEV_TENANT.to_owned(),
        scopes: Scope::ALL.to_vec(),
    };
    announce(
        "purse endpoint",
        format_args!("http://{}", listener.local_addr()?),
    )?;
    announce(
        &format!("development token (tenant {DEV_TENANT})"),
        token_key.issue(&dev)?,
    )?;
    service::start_metrics(&config).await?;

    let wallets =
        WalletServiceServer::new(app.grpc()).max_decoding_message_size(config.max_request_bytes);
    let names = [WalletServiceServer::<purse_wallets::grpc::WalletGrpc>::NAME];
    tokio::select! {
        served = server::serve(listener, Routes::new(wallets), &names, server::shutdown_signal(), CALLS_GRACE_MS) => served?,
        failure = app.failed() => anyhow::bail!(failure),
        failure = shards.failed() => anyhow::bail!(failure),
    }
    // Workers finish what they hold once no bus is left: drop ours before waiting for them.
    drop(buses);
    app.drain(DRAIN_GRACE_MS).await;
    shards.drain(DRAIN_GRACE_MS).await;
    Ok(())
}
