//! The transaction coordinator: an ordered list of operations over several wallets, performed
//! all together or not at all (DESIGN §10, ADR 0017).
//!
//! One transaction is one coordinator stream, whose id derives from the tenant and the client's
//! reference id ([`transaction_id`]), so the reference id is unique per tenant and a retried
//! start meets its transaction. The coordinator splits the operations into each wallet's legs
//! ([`legs_by_wallet`]) and runs two phases over the wallets' shards:
//!
//! 1. `TransactionStarted`; each wallet is sent `PrepareTransaction` with its legs. A wallet
//!    walks them in order on its running balance and either places one hold for its largest
//!    running drawdown or records the first failing leg;
//! 2. every wallet prepared → `TransactionCompleted`, and each wallet is sent
//!    `CommitTransaction` (it posts exactly the legs it validated, from its hold); any failure or
//!    the deadline → `TransactionFailed`, and each prepared wallet is sent `AbortTransaction`.
//!
//! The coordinator is level-triggered like the sagas: its outcome lists every wallet command
//! still wanted ([`TransactionOutcome::dispatch`]) with idempotency keys derived from the
//! transaction id, the step and the wallet, so sending them again after a crash is harmless.
//! `TransactionWalletCommitted` / `TransactionWalletAborted` tell it when it is done.

#![warn(missing_docs)]

mod command;
mod decide;
mod error;
mod event;
mod state;
mod types;

#[cfg(test)]
mod tests;

use uuid::Uuid;

pub use command::{TransactionAction, TransactionCommand, request_fingerprint};
pub use error::TransactionError;
pub use event::{TransactionEvent, TransactionEventKind};
pub use state::{Transaction, TransactionState};
pub use types::{
    DEFAULT_ISSUE_SOURCE, Operation, TransactionFailure, TransactionStatus, WalletProgress,
    legs_by_wallet, transaction_id,
};

use crate::decider::{Context, Decider, TimerSettings};
use crate::idempotency::{Fingerprint, IdempotencyKey};
use crate::saga::dispatch::derived_key;
use crate::time::Timestamp;
use crate::wallet::{WalletAction, WalletCommand};

/// Most operations in one transaction.
pub const MAX_OPERATIONS: usize = crate::wallet::MAX_TRANSACTION_LEGS;
/// Most distinct wallets one transaction names: bounds the coordinator's state and its fan-out
/// of prepares (a transfer names two, so 100 operations could name 200 otherwise).
pub const MAX_WALLETS: usize = 50;
/// Longest reference id, in bytes (as long as an idempotency key).
pub const MAX_REFERENCE_ID_BYTES: usize = crate::idempotency::MAX_IDEMPOTENCY_KEY_LEN;
/// How long the wallets have to prepare unless configured otherwise.
pub const DEFAULT_TRANSACTION_TIMEOUT_MS: i64 = 30_000;
/// Shortest configurable prepare deadline.
pub const MIN_TRANSACTION_TIMEOUT_MS: i64 = 1_000;
/// Longest configurable prepare deadline: holds for a transaction should not outlive a short
/// outage by much.
pub const MAX_TRANSACTION_TIMEOUT_MS: i64 = 3_600_000;
/// How long after the deadline a prepared wallet keeps its hold: a transaction that completed
/// just before its deadline still needs its commits delivered, and a hold released before its
/// commit arrives would leave the transaction half-posted. An orphan (a hold whose abort never
/// arrives) is released by the wallet's timer at `deadline + PREPARED_HOLD_GRACE_MS`.
pub const PREPARED_HOLD_GRACE_MS: i64 = 3_600_000;

/// The transaction coordinator decider.
#[derive(Copy, Clone, Debug, Default)]
pub struct TransactionDecider;

/// A wallet command the coordinator wants executed, with the key that makes resending it
/// harmless (the wallet replays its first outcome).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TransactionDispatch {
    /// `txn-<transaction id>-<prepare|commit|abort>-<wallet id>`.
    pub idempotency_key: IdempotencyKey,
    /// The command.
    pub command: WalletCommand,
}

/// What a transaction command returns (and what a replay returns again).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TransactionOutcome {
    /// The transaction.
    pub transaction_id: Uuid,
    /// Its status after the command.
    pub status: TransactionStatus,
    /// Where and why it failed, if it did.
    pub failure: Option<TransactionFailure>,
    /// True when the command changed nothing: a retried start with the same request (the
    /// client's "replayed"), or an answer already recorded.
    pub unchanged: bool,
    /// Every wallet command still wanted, in wallet-id order.
    pub dispatch: Vec<TransactionDispatch>,
}

impl Transaction {
    /// Every wallet command still wanted: prepares to unanswered wallets while pending, commits
    /// to prepared wallets once completed, aborts to prepared wallets once failed.
    pub fn dispatch(&self) -> Vec<TransactionDispatch> {
        let (step, wanted) = match self.status {
            TransactionStatus::Pending => ("prepare", WalletProgress::Pending),
            TransactionStatus::Completed => ("commit", WalletProgress::Prepared),
            TransactionStatus::Failed => ("abort", WalletProgress::Prepared),
        };
        let mut legs = legs_by_wallet(&self.operations);
        self.wallets
            .iter()
            .filter(|(_, progress)| **progress == wanted)
            .map(|(wallet_id, _)| {
                let action = match self.status {
                    TransactionStatus::Pending => WalletAction::PrepareTransaction {
                        transaction_id: self.id,
                        asset: self.wallet_assets[wallet_id].clone(),
                        legs: legs.remove(wallet_id).unwrap_or_default(),
                        expires_at: self.deadline.plus_millis(PREPARED_HOLD_GRACE_MS),
                    },
                    TransactionStatus::Completed => WalletAction::CommitTransaction {
                        transaction_id: self.id,
                    },
                    TransactionStatus::Failed => WalletAction::AbortTransaction {
                        transaction_id: self.id,
                    },
                };
                TransactionDispatch {
                    idempotency_key: derived_key(format!("txn-{}-{step}-{wallet_id}", self.id)),
                    command: WalletCommand {
                        tenant: self.tenant.clone(),
                        wallet_id: *wallet_id,
                        action,
                    },
                }
            })
            .collect()
    }
}

impl Decider for TransactionDecider {
    type State = TransactionState;
    type Command = TransactionCommand;
    type Event = TransactionEvent;
    type Error = TransactionError;
    type Outcome = TransactionOutcome;

    fn decide(
        state: &TransactionState,
        command: &TransactionCommand,
        ctx: &Context,
    ) -> Result<Vec<TransactionEvent>, TransactionError> {
        decide::decide(state, command, ctx)
    }

    fn evolve(state: TransactionState, event: &TransactionEvent) -> TransactionState {
        state.apply(event)
    }

    fn outcome(state: &TransactionState, events: &[TransactionEvent]) -> TransactionOutcome {
        match state.transaction() {
            Some(transaction) => TransactionOutcome {
                transaction_id: transaction.id(),
                status: transaction.status(),
                failure: transaction.failure().cloned(),
                unchanged: events.is_empty(),
                dispatch: transaction.dispatch(),
            },
            // Only reachable for a caller that asks about a command that created nothing.
            None => TransactionOutcome {
                transaction_id: Uuid::nil(),
                status: TransactionStatus::Pending,
                failure: None,
                unchanged: true,
                dispatch: Vec::new(),
            },
        }
    }

    fn stream_id(command: &TransactionCommand) -> Uuid {
        command.transaction_id
    }

    fn tenant(command: &TransactionCommand) -> &str {
        &command.tenant
    }

    fn fingerprint(command: &TransactionCommand) -> Fingerprint {
        command.fingerprint()
    }

    fn next_deadline(state: &TransactionState, _timers: &TimerSettings) -> Option<Timestamp> {
        let transaction = state.transaction()?;
        (transaction.status() == TransactionStatus::Pending).then_some(transaction.deadline())
    }

    fn timer_command(
        stream_id: Uuid,
        state: &TransactionState,
        _timers: &TimerSettings,
    ) -> Option<TransactionCommand> {
        let transaction = state.transaction()?;
        Some(TransactionCommand {
            tenant: transaction.tenant().to_owned(),
            transaction_id: stream_id,
            action: TransactionAction::Expire,
        })
    }
}
