//! `purse-saga`: the saga coordinator in cluster mode. Hosts this instance's share of the top-up
//! and auto top-up saga shards (their timers fire there) and runs the coordinator over Kafka
//! (`PURSE_KAFKA_BROKERS`) and the shared read store (checkpoints). Run one instance per
//! deployment (ADR 0009). Stops gracefully on SIGINT/SIGTERM.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use purse_runtime::service::{self, CommonArgs, announce};
use purse_runtime::{backend, server};
use purse_saga::SagaApp;
use purse_streams::config::Config;

/// How long the coordinator and the saga shard hosts may take to stop after a signal.
const DRAIN_GRACE_MS: u64 = 10_000;

#[derive(Parser, Debug)]
#[command(version, about = "Purse saga coordinator (cluster mode, over Kafka)")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    service::run("purse-saga", Args::parse().common, run)
}

async fn run(config: Config) -> anyhow::Result<()> {
    anyhow::ensure!(
        config.kafka.is_enabled(),
        "purse-saga runs against Kafka: set PURSE_KAFKA_BROKERS (or use pursed)"
    );
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let log = backend::open_log(&config)?;
    let store = backend::open_store(&config).await?;
    let mut app = SagaApp::start_cluster(&config, log, store).await?;
    announce("instance", &config.instance_id)?;
    service::start_metrics(&config).await?;
    tokio::select! {
        () = server::shutdown_signal() => {}
        failure = app.failed() => anyhow::bail!(failure),
    }
    app.drain(DRAIN_GRACE_MS).await;
    Ok(())
}
