//! One benchmark run: connect, set up, run each mode, summarise.

use std::sync::Arc;

use crate::args::BenchArgs;
use crate::client::Rpc;
use crate::error::BenchError;
use crate::load::{LoadContext, run_mode};
use crate::report::{ModeReport, SetupReport, Summary};
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
    });
    let mut modes = Vec::new();
    for &mode in args.modes() {
        let concurrency = match mode {
            crate::args::LoadMode::Unary => args.concurrency,
            crate::args::LoadMode::Batch => args.batch_concurrency(),
        };
        eprintln!("{}: running with {concurrency} tasks", mode.name());
        let (tally, elapsed) = run_mode(&ctx, mode, concurrency).await?;
        modes.push(ModeReport {
            mode,
            tally,
            elapsed,
        });
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    async fn run_against_fake(extra: &[&str]) -> Result<Summary, BenchError> {
        let addr = crate::fake_server::start().await;
        let endpoint = format!("http://{addr}");
        let base = [
            "purse-bench",
            "--endpoint",
            &endpoint,
            "--token",
            crate::fake_server::TOKEN,
        ];
        let args = BenchArgs::try_parse_from(base.iter().chain(extra)).expect("flags parse");
        run(args).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_run_against_the_fake_counts_everything() {
        let summary = run_against_fake(&[
            "--wallets",
            "1500",
            "--debits",
            "100",
            "--concurrency",
            "8",
            "--batch-size",
            "30",
            "--connections",
            "2",
        ])
        .await
        .expect("run completes");
        assert_eq!(summary.setup.wallets, 1500);
        // 1500 wallets: one full funding call and one of 500.
        assert_eq!(summary.setup.fund_calls, 2);
        assert_eq!(summary.setup.funding_per_wallet.to_string(), "2.00");
        assert_eq!(summary.modes.len(), 2);

        let unary = &summary.modes[0].tally;
        assert_eq!(unary.calls, 100);
        assert_eq!(unary.debits(), 100);
        // Keys ...-u-0 to ...-u-99: ten end in 7, and the fake refuses those.
        assert_eq!(unary.failed(), 10);
        assert_eq!(
            unary.failures["FAILED_PRECONDITION INSUFFICIENT_FUNDS"].count,
            10
        );

        let batch = &summary.modes[1].tally;
        // 100 debits in calls of 30: 30 + 30 + 30 + 10.
        assert_eq!(batch.calls, 4);
        assert_eq!(batch.debits(), 100);
        assert_eq!(batch.failed(), 10);

        let text = crate::report::human(&summary);
        assert!(text.contains("unary: 100 debits in 100 calls"), "{text}");
        assert!(
            text.contains("failed FAILED_PRECONDITION INSUFFICIENT_FUNDS: 10"),
            "{text}"
        );
        let json = crate::report::json(&summary);
        assert_eq!(json["modes"][1]["mode"], "batch");
        assert_eq!(json["modes"][1]["calls"], 4);
        assert_eq!(json["setup"]["funding_per_wallet"], "2.00");
        assert!(json["settings"].get("token").is_none());
    }

    #[tokio::test]
    async fn setup_failure_is_an_error() {
        let addr = crate::fake_server::start().await;
        let args = BenchArgs::try_parse_from([
            "purse-bench",
            "--endpoint",
            &format!("http://{addr}"),
            "--token",
            "wrong",
            "--wallets",
            "3",
        ])
        .expect("flags parse");
        let err = run(args).await.expect_err("setup fails");
        assert!(matches!(err, BenchError::CreateWallet { .. }), "{err}");
        assert!(err.to_string().contains("UNAUTHENTICATED"), "{err}");
    }
}
