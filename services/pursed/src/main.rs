//! `pursed`: Purse all-in-one. Every service in one process over the embedded log and store in
//! `--data-dir`: wallets, top-ups, the payments gateway (gRPC plus the HTTP checkout pages and
//! webhooks), the saga coordinator and the projectors. Prints its endpoints and a development
//! token, stops gracefully on SIGINT/SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use purse_payments::app::PaymentsApp;
use purse_proto::payment::v1::payments_service_server::PaymentsServiceServer;
use purse_proto::topup::v1::top_up_service_server::TopUpServiceServer;
use purse_proto::wallet::v1::wallet_service_server::WalletServiceServer;
use purse_runtime::auth::{Principal, Scope, TokenKey};
use purse_runtime::projector::ProjectionWatch;
use purse_runtime::service::{self, CommonArgs, announce};
use purse_runtime::{backend, server};
use purse_saga::SagaApp;
use purse_streams::buses::Buses;
use purse_streams::config::Config;
use purse_streams::projectors::{PaymentProjections, spawn_payment_projectors};
use purse_topups::app::TopUpApp;
use purse_wallets::app::{WalletApp, projector_settings};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tonic::server::NamedService;
use tonic::service::Routes;

/// How long in-flight calls may take to finish after a stop signal.
const CALLS_GRACE_MS: u64 = 5_000;
/// How long queued commands, reactors and projectors may take to finish after the server stopped.
const DRAIN_GRACE_MS: u64 = 10_000;
/// Tenant of the development token printed at start.
const DEV_TENANT: &str = "dev";

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Purse all-in-one: wallets, top-ups, payments, sagas, projector and timers in one process"
)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    service::run("pursed", Args::parse().common, run)
}

async fn run(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    // All-in-one always uses the embedded log, whatever `[kafka]` says.
    let log = backend::open_embedded_log(&config)?;
    let store = backend::open_store(&config).await?;
    let token_key = TokenKey::load_or_create(&config.token_key_path())?;
    let (buses, mut shards) = Buses::start_embedded(&config, log.clone()).await?;

    let mut wallets = WalletApp::start_embedded(
        &config,
        buses.wallets.clone(),
        log.clone(),
        store.clone(),
        token_key.clone(),
    );
    let (stop_projectors, projectors_stopped) = watch::channel(false);
    let mut projectors = JoinSet::new();
    let wallet_projector = projector_settings(&config);
    spawn_payment_projectors(
        log.clone(),
        store.clone(),
        &PaymentProjections::new(
            config.partitions,
            wallet_projector.read_batch_max_records,
            wallet_projector.read_wait_ms,
        ),
        Arc::new(ProjectionWatch::default()),
        &projectors_stopped,
        &mut projectors,
    );
    let http_listener = tokio::net::TcpListener::bind(config.services.payments.http_listen)
        .await
        .with_context(|| format!("binding {}", config.services.payments.http_listen))?;
    let mut payments = PaymentsApp::start_embedded(
        &config,
        &buses,
        log.clone(),
        store.clone(),
        token_key.clone(),
        http_listener,
    )?;
    let checkout_base_url = match config.services.topups.checkout_base_url.trim() {
        "" => payments.checkout_endpoint(),
        configured => configured.to_owned(),
    };
    let mut top_ups = TopUpApp::start_embedded(
        &config,
        &buses,
        store.clone(),
        token_key.clone(),
        checkout_base_url,
    )?;
    let mut sagas = SagaApp::start_embedded(&config, &buses, log, store);

    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let dev = Principal {
        tenant: DEV_TENANT.to_owned(),
        scopes: Scope::ALL.to_vec(),
    };
    announce(
        "purse endpoint",
        format_args!("http://{}", listener.local_addr()?),
    )?;
    announce("checkout endpoint", payments.checkout_endpoint())?;
    announce(
        &format!("development token (tenant {DEV_TENANT})"),
        token_key.issue(&dev)?,
    )?;
    service::start_metrics(&config).await?;

    let max_request_bytes = config.max_request_bytes;
    let routes = Routes::new(
        WalletServiceServer::new(wallets.grpc()).max_decoding_message_size(max_request_bytes),
    )
    .add_service(
        TopUpServiceServer::new(top_ups.grpc()).max_decoding_message_size(max_request_bytes),
    )
    .add_service(
        PaymentsServiceServer::new(payments.grpc()).max_decoding_message_size(max_request_bytes),
    );
    let names = [
        WalletServiceServer::<purse_wallets::grpc::WalletGrpc>::NAME,
        TopUpServiceServer::<purse_topups::grpc::TopUpGrpc>::NAME,
        PaymentsServiceServer::<purse_payments::grpc::PaymentsGrpc>::NAME,
    ];
    tokio::select! {
        served = server::serve(listener, routes, &names, server::shutdown_signal(), CALLS_GRACE_MS) => served?,
        failure = wallets.failed() => anyhow::bail!(failure),
        failure = top_ups.failed() => anyhow::bail!(failure),
        failure = payments.failed() => anyhow::bail!(failure),
        failure = sagas.failed() => anyhow::bail!(failure),
        failure = shards.failed() => anyhow::bail!(failure),
        Some(stopped) = projectors.join_next() => anyhow::bail!("projector stopped: {stopped:?}"),
    }
    // Reactors and fronts first (they hold buses), then the workers, which finish what they
    // hold once no bus is left, then the projectors.
    sagas.drain(DRAIN_GRACE_MS).await;
    payments.drain(DRAIN_GRACE_MS).await;
    top_ups.drain(DRAIN_GRACE_MS).await;
    drop(buses);
    wallets.drain(DRAIN_GRACE_MS).await;
    shards.drain(DRAIN_GRACE_MS).await;
    let _ = stop_projectors.send(true);
    while projectors.join_next().await.is_some() {}
    Ok(())
}
