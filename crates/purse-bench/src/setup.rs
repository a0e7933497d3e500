//! Setup phase: create the wallets and fund each once, so the measured phases only debit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use purse_client::{RetryPolicy, Retryable, retry};
use purse_proto::wallet::v1::{
    BatchExecuteRequest, BatchExecuteResponse, BatchOperation, CreateWalletRequest,
    CreateWalletResponse, CreditRequest, CreditSource, WalletKind, batch_operation::Operation,
    batch_result,
};
use rust_decimal::Decimal;
use tokio::task::JoinSet;

use crate::args::{BATCH_SIZE_MAX, BenchArgs, Budget};
use crate::client::{Failure, Rpc};
use crate::error::BenchError;

/// The asset of every benchmark wallet.
pub(crate) const ASSET: &str = "USD";
/// Every debit's amount: the smallest USD amount, so funding stays small.
pub(crate) const DEBIT_AMOUNT: Decimal = Decimal::from_parts(1, 0, 0, false, 2);
/// Debits per second assumed when sizing funds for a timed run: well above what one machine
/// serves, so no wallet runs dry however the random choice falls.
const TIMED_RUN_DEBITS_PER_S_MAX: u64 = 1_000_000;
/// Ceiling on one wallet's funding, far inside the 10^15-unit amount bound (DESIGN §2).
const FUNDING_PER_WALLET_MAX: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);
/// Funding calls in flight: each carries up to 1000 credits, so a few saturate the server.
const FUND_CONCURRENCY_MAX: usize = 4;
/// Retries of a setup call whose outcome is unknown (UNAVAILABLE, DEADLINE_EXCEEDED): a few
/// quick ones, then the run stops. Safe: every retry carries the same idempotency keys.
const SETUP_RETRIES: RetryPolicy = RetryPolicy::BRIEF;

/// What setup produced.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    /// The wallets, in creation index order.
    pub(crate) wallet_ids: Arc<Vec<String>>,
    /// Time spent creating them.
    pub(crate) create_elapsed: Duration,
    /// Time spent funding them.
    pub(crate) fund_elapsed: Duration,
    /// BatchExecute calls used to fund them.
    pub(crate) fund_calls: usize,
    /// Each wallet's credit.
    pub(crate) funding_per_wallet: Decimal,
}

/// Creates and funds the wallets of run `run_id`.
pub(crate) async fn run(args: &BenchArgs, rpc: &Rpc, run_id: &str) -> Result<Setup, BenchError> {
    let funding_per_wallet = funding_per_wallet(
        args.budget(),
        args.modes().len(),
        u64::from(args.visibility_samples),
    );

    eprintln!("setup: creating {} wallets", args.wallets);
    let started = Instant::now();
    let wallet_ids = Arc::new(create_wallets(args, rpc, run_id).await?);
    let create_elapsed = started.elapsed();

    let fund_calls = wallet_ids.len().div_ceil(BATCH_SIZE_MAX as usize);
    eprintln!("setup: funding each wallet with {funding_per_wallet} {ASSET} in {fund_calls} calls");
    let started = Instant::now();
    fund_wallets(args, rpc, run_id, &wallet_ids, funding_per_wallet).await?;
    let fund_elapsed = started.elapsed();

    Ok(Setup {
        wallet_ids,
        create_elapsed,
        fund_elapsed,
        fund_calls,
        funding_per_wallet,
    })
}

/// Enough for one wallet to absorb every debit of the run (the visibility samples' included), so
/// no debit fails for lack of funds whatever the random spread: funds are not what is being
/// measured.
pub(crate) fn funding_per_wallet(budget: Budget, modes: usize, samples_per_mode: u64) -> Decimal {
    let debits_per_mode = match budget {
        Budget::Count(debits) => debits,
        Budget::DurationS(seconds) => seconds.saturating_mul(TIMED_RUN_DEBITS_PER_S_MAX),
    }
    .saturating_add(samples_per_mode);
    let debits = debits_per_mode.saturating_mul(modes as u64);
    let mut funding = Decimal::from(debits)
        .checked_mul(DEBIT_AMOUNT)
        .map_or(FUNDING_PER_WALLET_MAX, |total| {
            total.min(FUNDING_PER_WALLET_MAX)
        });
    // USD's two decimal places, also when the (scale 0) ceiling applied.
    funding.rescale(2);
    funding
}

async fn create_wallets(
    args: &BenchArgs,
    rpc: &Rpc,
    run_id: &str,
) -> Result<Vec<String>, BenchError> {
    let wallets = args.wallets;
    let next = Arc::new(AtomicU32::new(0));
    let mut tasks = JoinSet::new();
    for task in 0..args.concurrency.min(wallets) as usize {
        let (rpc, next, run_id) = (rpc.clone(), next.clone(), run_id.to_owned());
        tasks.spawn(async move {
            let mut created = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= wallets {
                    return Ok(created);
                }
                let request = CreateWalletRequest {
                    idempotency_key: format!("bench-{run_id}-create-{index}"),
                    // Unique per run, so runs against one server never share wallets.
                    owner: format!("bench-{run_id}-{index}"),
                    kind: WalletKind::Customer.into(),
                    asset: ASSET.to_owned(),
                    asset_scale: None,
                    limits: None,
                    metadata: Default::default(),
                };
                let failed = |failure: String| BenchError::CreateWallet { index, failure };
                let response: CreateWalletResponse = retry(&SETUP_RETRIES, || {
                    let mut client = rpc.client(task);
                    let request = request.clone();
                    let rpc = &rpc;
                    async move { rpc.finish(client.create_wallet(request)).await }
                })
                .await
                .map_err(|f| failed(f.to_string()))?;
                let wallet = response
                    .wallet
                    .ok_or_else(|| failed("the response carried no wallet".to_owned()))?;
                created.push((index, wallet.wallet_id));
            }
        });
    }
    let mut created: Vec<(u32, String)> = join_all(tasks).await?.into_iter().flatten().collect();
    created.sort_unstable_by_key(|(index, _)| *index);
    Ok(created.into_iter().map(|(_, id)| id).collect())
}

async fn fund_wallets(
    args: &BenchArgs,
    rpc: &Rpc,
    run_id: &str,
    wallet_ids: &Arc<Vec<String>>,
    amount: Decimal,
) -> Result<(), BenchError> {
    let chunk = BATCH_SIZE_MAX as usize;
    let calls = wallet_ids.len().div_ceil(chunk);
    let next = Arc::new(AtomicUsize::new(0));
    let workers = FUND_CONCURRENCY_MAX
        .min(args.concurrency as usize)
        .min(calls);
    let mut tasks = JoinSet::new();
    for task in 0..workers {
        let (rpc, next, ids) = (rpc.clone(), next.clone(), wallet_ids.clone());
        let (run_id, amount) = (run_id.to_owned(), amount.to_string());
        tasks.spawn(async move {
            loop {
                let call = next.fetch_add(1, Ordering::Relaxed);
                if call >= calls {
                    return Ok(());
                }
                let range = call * chunk..((call + 1) * chunk).min(ids.len());
                let operations: Vec<BatchOperation> = range
                    .clone()
                    .map(|index| BatchOperation {
                        operation: Some(Operation::Credit(CreditRequest {
                            wallet_id: ids[index].clone(),
                            idempotency_key: format!("bench-{run_id}-fund-{index}"),
                            amount: amount.clone(),
                            source: CreditSource::Paid.into(),
                            expires_at_ms: None,
                            reference: format!("purse-bench {run_id}"),
                            description: String::new(),
                        })),
                    })
                    .collect();
                let expected = range.len();
                let request = BatchExecuteRequest { operations };
                let response = retry(&SETUP_RETRIES, || {
                    let mut client = rpc.client(task);
                    let request = request.clone();
                    let rpc = &rpc;
                    async move {
                        let response = rpc.finish(client.batch_execute(request)).await?;
                        // One credit whose outcome is unknown retries the whole call: the
                        // credits that succeeded replay under their keys.
                        match first_failure(&response, expected) {
                            Some((_, failure)) if failure.is_retryable() => Err(failure),
                            _ => Ok(response),
                        }
                    }
                })
                .await
                .map_err(|failure| BenchError::Fund {
                    failure: format!("call {call}: {failure}"),
                })?;
                if let Some((offset, failure)) = first_failure(&response, expected) {
                    return Err(BenchError::Fund {
                        failure: format!("wallet {}: {failure}", ids[range.start + offset]),
                    });
                }
            }
        });
    }
    join_all(tasks).await.map(|_| ())
}

/// The first operation of a batch that did not succeed, with its position.
fn first_failure(response: &BatchExecuteResponse, expected: usize) -> Option<(usize, Failure)> {
    (0..expected).find_map(
        |i| match response.results.get(i).and_then(|r| r.result.as_ref()) {
            Some(batch_result::Result::Ok(_)) => None,
            Some(batch_result::Result::Error(error)) => Some((i, Failure::from_batch_error(error))),
            None => Some((
                i,
                Failure {
                    code: tonic::Code::Unknown,
                    reason: Some("NO_RESULT".to_owned()),
                    message: "the server returned no result for this operation".to_owned(),
                },
            )),
        },
    )
}

/// Waits for every task; on the first failure stops the others and returns it.
pub(crate) async fn join_all<T: 'static>(
    mut tasks: JoinSet<Result<T, BenchError>>,
) -> Result<Vec<T>, BenchError> {
    let mut done = Vec::with_capacity(tasks.len());
    while let Some(joined) = tasks.join_next().await {
        let result = joined
            .map_err(|err| BenchError::Task(err.to_string()))
            .and_then(|result| result);
        match result {
            Ok(value) => done.push(value),
            Err(err) => {
                tasks.abort_all();
                return Err(err);
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn funding_covers_every_debit_of_the_run() {
        assert_eq!(DEBIT_AMOUNT.to_string(), "0.01");
        assert_eq!(
            funding_per_wallet(Budget::Count(200_000), 2, 0).to_string(),
            "4000.00"
        );
        assert_eq!(
            funding_per_wallet(Budget::Count(1), 1, 0).to_string(),
            "0.01"
        );
        assert_eq!(
            funding_per_wallet(Budget::Count(200_000), 2, 100).to_string(),
            "4002.00"
        );
        assert_eq!(
            funding_per_wallet(Budget::DurationS(30), 2, 0).to_string(),
            "600000.00"
        );
        assert_eq!(
            funding_per_wallet(Budget::Count(u64::MAX), 2, u64::MAX).to_string(),
            "1000000000.00"
        );
    }
}
