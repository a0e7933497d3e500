//! Request builders and read helpers shared by the end-to-end tests.

use std::time::Duration;

use purse_client::{Pager, RetryPolicy};
use purse_proto::wallet::v1 as pb;
use tonic::Status;

use crate::WalletClient;

/// How patiently [`until_answered`] retries a call whose outcome is unknown: about a minute
/// (a cluster still settling its consumer groups, a first transactional producer starting).
const UNANSWERED_RETRIES: RetryPolicy = RetryPolicy {
    attempts_max: 120,
    backoff_initial: Duration::from_millis(50),
    backoff_max: Duration::from_millis(500),
};

/// Makes `call` until it is answered, as a careful client does: `DEADLINE_EXCEEDED` and
/// `UNAVAILABLE` leave the outcome unknown, and a retry with the same idempotency key is safe.
/// Any other status is an answer and is returned.
pub async fn until_answered<T, F, Fut>(call: F) -> Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, Status>>,
{
    purse_client::retry(&UNANSWERED_RETRIES, call)
        .await
        .map(tonic::Response::into_inner)
}

/// Creates a wallet for `owner` in `asset` (key derived from both) and returns its id.
pub async fn create_wallet(client: &mut WalletClient, owner: &str, asset: &str) -> String {
    let request = pb::CreateWalletRequest {
        idempotency_key: format!("create-{owner}-{asset}"),
        owner: owner.into(),
        asset: asset.into(),
        ..Default::default()
    };
    let response = until_answered(|| {
        let (mut client, request) = (client.clone(), request.clone());
        async move { client.create_wallet(request).await }
    })
    .await
    .expect("wallet created");
    response.wallet.expect("wallet in response").wallet_id
}

/// A credit request.
pub fn credit(
    wallet_id: &str,
    key: &str,
    amount: &str,
    source: pb::CreditSource,
) -> pb::CreditRequest {
    pb::CreditRequest {
        wallet_id: wallet_id.into(),
        idempotency_key: key.into(),
        amount: amount.into(),
        source: source as i32,
        ..Default::default()
    }
}

/// A purchase debit request whose reference is its key.
pub fn debit(wallet_id: &str, key: &str, amount: &str) -> pb::DebitRequest {
    pb::DebitRequest {
        wallet_id: wallet_id.into(),
        idempotency_key: key.into(),
        amount: amount.into(),
        kind: pb::DebitKind::Purchase as i32,
        reference: key.into(),
        ..Default::default()
    }
}

/// The wallet's balance once the projection reached `min_sequence`.
pub async fn balance(client: &mut WalletClient, wallet_id: &str, min_sequence: u64) -> pb::Balance {
    client
        .get_balance(pb::GetBalanceRequest {
            wallet_id: wallet_id.into(),
            min_sequence,
            as_of_ms: None,
        })
        .await
        .expect("balance")
        .into_inner()
}

/// Every history entry of the wallet (all pages), newest first.
pub async fn history(
    client: &mut WalletClient,
    wallet_id: &str,
    min_sequence: u64,
) -> Vec<pb::Transaction> {
    let request = pb::ListEntriesRequest {
        wallet_id: wallet_id.into(),
        min_sequence,
        ..Default::default()
    };
    Pager::new(request, 100, |request| {
        let mut client = client.clone();
        async move { client.list_entries(request).await }
    })
    .collect()
    .await
    .expect("history")
}
