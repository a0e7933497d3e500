//! One benchmark run: connect, set up, run each mode, summarise.

use std::sync::Arc;

use crate::args::BenchArgs;
use crate::client::Rpc;
use crate::error::BenchError;
use crate::load::{LoadContext, run_mode};
use crate::report::{SetupReport, Summary};
use crate::setup;

/// Runs the benchmark `args` describes. Fails only if connecting or setup fails; failed debits
/// are counted in the summary.
pub(crate) async fn run(args: BenchArgs) -> Result<Summary, BenchError> {
    let run = uuid::Uuid::now_v7();
    let run_id = run.to_string();
    // The low 64 bits of a UUIDv7 are (almost all) random: a fresh seed per run, recorded in
    // the run id.
    let seed = run.as_u128() as u64;
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());

    let rpc = Rpc::connect(
        &args.endpoint,
        args.token.as_deref(),
        args.connections,
        args.timeout_ms,
    )
    .await?;
    let setup = setup::run(&args, &rpc, &run_id).await?;

    let ctx = Arc::new(LoadContext {
        rpc,
        wallet_ids: setup.wallet_ids.clone(),
        run_id: run_id.clone(),
        seed,
        budget: args.budget(),
        batch_size: args.batch_size,
        visibility_samples: args.visibility_samples,
    });
    let mut modes = Vec::new();
    for &mode in args.modes() {
        let concurrency = match mode {
            crate::args::LoadMode::Unary => args.concurrency,
            crate::args::LoadMode::Batch => args.batch_concurrency(),
        };
        eprintln!("{}: running with {concurrency} tasks", mode.name());
        modes.push(run_mode(&ctx, mode, concurrency).await?);
    }

    Ok(Summary {
        run_id,
        nproc,
        setup: SetupReport {
            wallets: setup.wallet_ids.len(),
            create_elapsed: setup.create_elapsed,
            fund_calls: setup.fund_calls,
            fund_elapsed: setup.fund_elapsed,
            funding_per_wallet: setup.funding_per_wallet,
        },
        args,
        modes,
    })
}
