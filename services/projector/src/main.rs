//! `purse-projector`: follows the wallet, top-up, payment, stored-card and auto top-up event
//! topics partition by partition and keeps the read
//! models in the configured store. Idempotent by construction (version-guarded writes, then a
//! checkpoint), so a restart, or a rebuild from an empty store, converges on the same rows.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use purse_runtime::config::StoreKind;
use purse_runtime::projector::ProjectionWatch;
use purse_runtime::service::{self, CommonArgs};
use purse_runtime::{backend, server};
use purse_streams::config::Config;
use purse_streams::projectors::{
    PaymentProjections, spawn_payment_projectors, spawn_wallet_projectors,
};
use purse_streams::topics;
use purse_wallets::app::projector_settings;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

/// How long projector tasks may take to reach their next checkpoint after a stop signal.
const DRAIN_GRACE_MS: u64 = 10_000;

#[derive(Parser, Debug)]
#[command(version, about = "Purse projector: event topics into read models")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    command: Option<Step>,
}

#[derive(clap::Subcommand, Debug)]
enum Step {
    /// Apply pending ScyllaDB schema migrations (deploy/scylla/*.cql) and exit; idempotent.
    Migrate,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.command {
        Some(Step::Migrate) => service::run("purse-projector migrate", args.common, migrate),
        None => service::run("purse-projector", args.common, run),
    }
}

async fn migrate(_config: Config) -> anyhow::Result<()> {
    let applied = backend::migrate_scylla().await?;
    service::announce("migrations applied", format_args!("{applied:?}"))?;
    Ok(())
}

async fn run(config: Config) -> anyhow::Result<()> {
    if config.store == StoreKind::Scylla && config.scylla_migrate_on_start {
        backend::migrate_scylla().await?;
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let log = backend::open_log(&config)?;
    let store = backend::open_store(&config).await?;
    let wallet_projector = projector_settings(&config);
    let payment_projections = PaymentProjections::new(
        config.partitions,
        wallet_projector.read_batch_max_records,
        wallet_projector.read_wait_ms,
    );
    log.create_topic(topics::WALLETS.events, config.partitions)
        .await?;
    for (topic, partitions) in payment_projections.topics() {
        log.create_topic(topic, partitions).await?;
    }
    service::start_metrics(&config).await?;

    let (stop, stopped) = watch::channel(false);
    let mut projectors = JoinSet::new();
    spawn_wallet_projectors(
        log.clone(),
        store.clone(),
        &wallet_projector,
        Arc::new(ProjectionWatch::default()),
        &stopped,
        &mut projectors,
    );
    spawn_payment_projectors(
        log,
        store,
        &payment_projections,
        Arc::new(ProjectionWatch::default()),
        &stopped,
        &mut projectors,
    );
    info!(partitions = config.partitions, "projecting");
    tokio::select! {
        () = server::shutdown_signal() => {}
        Some(stopped) = projectors.join_next() => anyhow::bail!("projector stopped: {stopped:?}"),
    }
    let _ = stop.send(true);
    let drained = tokio::time::timeout(Duration::from_millis(DRAIN_GRACE_MS), async {
        while projectors.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(DRAIN_GRACE_MS, "drain deadline passed; stopping anyway");
    }
    Ok(())
}
