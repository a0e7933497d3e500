//! Given/when/then tests of the transaction coordinator, plus a property test that drives
//! random transfer batches through real wallets.

mod lifecycle;
mod model;
mod start;

use std::collections::BTreeMap;

use uuid::Uuid;

use super::*;
use crate::support::harness::*;
use crate::time::Timestamp;
use crate::wallet::{CreditSource, TransactionFailureReason};

pub(super) const REFERENCE: &str = "order-1";

pub(super) fn txn() -> Uuid {
    transaction_id(TENANT, REFERENCE)
}

/// Three wallets; their ids sort W1 < W2 < W3.
pub(super) fn w1() -> Uuid {
    id(0xA1)
}

pub(super) fn w2() -> Uuid {
    id(0xA2)
}

pub(super) fn w3() -> Uuid {
    id(0xA3)
}

pub(super) fn assets() -> BTreeMap<Uuid, String> {
    [w1(), w2(), w3()]
        .into_iter()
        .map(|wallet| (wallet, "USD".to_owned()))
        .collect()
}

pub(super) fn transfer(from: Uuid, to: Uuid, amount: &str) -> Operation {
    Operation::Transfer {
        from,
        to,
        amount: d(amount),
    }
}

pub(super) fn issue(wallet_id: Uuid, amount: &str) -> Operation {
    Operation::Issue {
        wallet_id,
        amount: d(amount),
        source: None,
        expires_at: None,
    }
}

pub(super) fn command(action: TransactionAction) -> TransactionCommand {
    TransactionCommand {
        tenant: TENANT.into(),
        transaction_id: txn(),
        action,
    }
}

pub(super) fn start(operations: Vec<Operation>) -> TransactionCommand {
    command(TransactionAction::Start {
        reference_id: REFERENCE.into(),
        operations,
        wallet_assets: assets(),
        timeout_ms: DEFAULT_TRANSACTION_TIMEOUT_MS,
    })
}

pub(super) fn deadline() -> Timestamp {
    now_plus(DEFAULT_TRANSACTION_TIMEOUT_MS)
}

/// The W1/W2 example in its completing order: [issue 6 W1, transfer 11 W1→W2].
pub(super) fn example() -> Vec<Operation> {
    vec![issue(w1(), "6"), transfer(w1(), w2(), "11")]
}

pub(super) fn started_kind(operations: Vec<Operation>) -> TransactionEventKind {
    let wallets: Vec<Uuid> = operations.iter().flat_map(Operation::wallets).collect();
    TransactionEventKind::TransactionStarted {
        transaction_id: txn(),
        tenant: TENANT.into(),
        reference_id: REFERENCE.into(),
        request_fingerprint: request_fingerprint(TENANT, REFERENCE, &operations),
        operations,
        wallet_assets: assets()
            .into_iter()
            .filter(|(wallet, _)| wallets.contains(wallet))
            .collect(),
        deadline: deadline(),
    }
}

/// The example, started at `NOW`.
pub(super) fn started() -> TransactionEvent {
    TransactionEvent::at(NOW, started_kind(example()))
}

pub(super) fn prepared(wallet_id: Uuid) -> TransactionEvent {
    TransactionEvent::at(
        NOW,
        TransactionEventKind::TransactionWalletPrepared { wallet_id },
    )
}

pub(super) fn insufficient(index: u32, wallet: Uuid, available: &str) -> TransactionFailure {
    TransactionFailure {
        index: Some(index),
        wallet_id: Some(wallet),
        reason: TransactionFailureReason::InsufficientFunds,
        available: Some(d(available)),
    }
}

/// The steps and wallets of the commands an outcome still wants.
pub(super) fn wanted(outcome: &TransactionOutcome) -> Vec<(String, Uuid)> {
    outcome
        .dispatch
        .iter()
        .map(|dispatch| {
            let step = match dispatch.command.action {
                crate::wallet::WalletAction::PrepareTransaction { .. } => "prepare",
                crate::wallet::WalletAction::CommitTransaction { .. } => "commit",
                crate::wallet::WalletAction::AbortTransaction { .. } => "abort",
                _ => "other",
            };
            (step.to_owned(), dispatch.command.wallet_id)
        })
        .collect()
}

#[test]
fn legs_by_wallet_splits_transfers_in_order_and_sorts_wallets() {
    let legs = legs_by_wallet(&[
        transfer(w2(), w1(), "1"),
        issue(w2(), "2"),
        Operation::Redeem {
            wallet_id: w1(),
            amount: d("3"),
        },
    ]);
    let wallets: Vec<Uuid> = legs.keys().copied().collect();
    assert_eq!(wallets, vec![w1(), w2()]);
    let indexes = |wallet: Uuid| -> Vec<(u32, &'static str)> {
        legs[&wallet]
            .iter()
            .map(|leg| (leg.index, leg.entry_type().as_str()))
            .collect()
    };
    assert_eq!(indexes(w1()), vec![(0, "transfer_credit"), (2, "redeem")]);
    assert_eq!(indexes(w2()), vec![(0, "transfer_debit"), (1, "issue")]);
    let crate::wallet::LegEntry::Issue { source, .. } = legs[&w2()][1].entry else {
        panic!("issue leg");
    };
    assert_eq!(source, CreditSource::Paid);
}
