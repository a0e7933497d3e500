//! Transaction state and `evolve`: facts applied without rules, invariants asserted.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::event::{TransactionEvent, TransactionEventKind};
use super::types::{
    Operation, TransactionFailure, TransactionStatus, WalletProgress, legs_by_wallet,
};
use crate::idempotency::Fingerprint;
use crate::time::Timestamp;

/// The state of one coordinator stream: nothing before `TransactionStarted`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransactionState(pub(crate) Option<Transaction>);

/// A transaction as its coordinator knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    pub(crate) id: Uuid,
    pub(crate) tenant: String,
    pub(crate) reference_id: String,
    pub(crate) request_fingerprint: Fingerprint,
    pub(crate) operations: Vec<Operation>,
    pub(crate) wallet_assets: BTreeMap<Uuid, String>,
    pub(crate) started_at: Timestamp,
    pub(crate) deadline: Timestamp,
    pub(crate) status: TransactionStatus,
    pub(crate) failure: Option<TransactionFailure>,
    // Every wallet with legs, sorted by id (the dispatch order).
    pub(crate) wallets: BTreeMap<Uuid, WalletProgress>,
}

impl TransactionState {
    /// The transaction, once started.
    pub fn transaction(&self) -> Option<&Transaction> {
        self.0.as_ref()
    }

    /// Applies one event; panics if it contradicts the state (a corrupt log or a bug).
    pub(crate) fn apply(self, event: &TransactionEvent) -> Self {
        let transaction = match (self.0, &event.kind) {
            (
                None,
                TransactionEventKind::TransactionStarted {
                    transaction_id,
                    tenant,
                    reference_id,
                    request_fingerprint,
                    operations,
                    wallet_assets,
                    deadline,
                },
            ) => Transaction {
                id: *transaction_id,
                tenant: tenant.clone(),
                reference_id: reference_id.clone(),
                request_fingerprint: *request_fingerprint,
                operations: operations.clone(),
                wallet_assets: wallet_assets.clone(),
                started_at: event.occurred_at,
                deadline: *deadline,
                status: TransactionStatus::Pending,
                failure: None,
                wallets: legs_by_wallet(operations)
                    .into_keys()
                    .map(|wallet_id| (wallet_id, WalletProgress::Pending))
                    .collect(),
            },
            (Some(_), TransactionEventKind::TransactionStarted { .. }) => {
                panic!("TransactionStarted applied to an existing transaction")
            }
            (None, _) => panic!("{} applied before TransactionStarted", event.event_type()),
            (Some(mut transaction), kind) => {
                transaction.apply(kind);
                transaction
            }
        };
        TransactionState(Some(transaction))
    }
}

impl Transaction {
    /// The transaction (and stream) id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The owning tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The client's reference.
    pub fn reference_id(&self) -> &str {
        &self.reference_id
    }

    /// What tells a retried start from a different one.
    pub fn request_fingerprint(&self) -> Fingerprint {
        self.request_fingerprint
    }

    /// The operations, in order.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// The asset code of every wallet named.
    pub fn wallet_assets(&self) -> &BTreeMap<Uuid, String> {
        &self.wallet_assets
    }

    /// When it started.
    pub fn started_at(&self) -> Timestamp {
        self.started_at
    }

    /// Every wallet must prepare before this instant.
    pub fn deadline(&self) -> Timestamp {
        self.deadline
    }

    /// Pending, completed or failed.
    pub fn status(&self) -> TransactionStatus {
        self.status
    }

    /// Where and why it failed, once failed.
    pub fn failure(&self) -> Option<&TransactionFailure> {
        self.failure.as_ref()
    }

    /// Each wallet with legs and where it is, sorted by wallet id.
    pub fn wallets(&self) -> &BTreeMap<Uuid, WalletProgress> {
        &self.wallets
    }

    /// Whether nothing is left to do: final, and no wallet still holds funds for it.
    pub fn is_finished(&self) -> bool {
        self.status != TransactionStatus::Pending
            && !self
                .wallets
                .values()
                .any(|progress| *progress == WalletProgress::Prepared)
    }

    fn set_progress(&mut self, wallet_id: Uuid, from: WalletProgress, to: WalletProgress) {
        let progress = self
            .wallets
            .get_mut(&wallet_id)
            .unwrap_or_else(|| panic!("event names wallet {wallet_id}, not in the transaction"));
        assert_eq!(
            *progress, from,
            "wallet {wallet_id} moved to {to} from {progress}"
        );
        *progress = to;
    }

    fn apply(&mut self, kind: &TransactionEventKind) {
        match kind {
            TransactionEventKind::TransactionStarted { .. } => {
                unreachable!("handled by TransactionState::apply")
            }
            TransactionEventKind::TransactionWalletPrepared { wallet_id } => {
                assert_ne!(
                    self.status,
                    TransactionStatus::Completed,
                    "prepared after completion"
                );
                self.set_progress(
                    *wallet_id,
                    WalletProgress::Pending,
                    WalletProgress::Prepared,
                );
            }
            TransactionEventKind::TransactionCompleted => {
                assert_eq!(
                    self.status,
                    TransactionStatus::Pending,
                    "completed twice or after failure"
                );
                assert!(
                    self.wallets
                        .values()
                        .all(|p| *p == WalletProgress::Prepared),
                    "completed before every wallet prepared"
                );
                self.status = TransactionStatus::Completed;
            }
            TransactionEventKind::TransactionFailed { failure } => {
                assert_eq!(
                    self.status,
                    TransactionStatus::Pending,
                    "failed twice or after completion"
                );
                if let Some(wallet_id) = failure.wallet_id {
                    self.set_progress(wallet_id, WalletProgress::Pending, WalletProgress::Failed);
                }
                self.status = TransactionStatus::Failed;
                self.failure = Some(failure.clone());
            }
            TransactionEventKind::TransactionWalletCommitted { wallet_id } => {
                assert_eq!(
                    self.status,
                    TransactionStatus::Completed,
                    "commit of an incomplete transaction"
                );
                self.set_progress(
                    *wallet_id,
                    WalletProgress::Prepared,
                    WalletProgress::Committed,
                );
            }
            TransactionEventKind::TransactionWalletAborted { wallet_id } => {
                assert_eq!(
                    self.status,
                    TransactionStatus::Failed,
                    "abort of a transaction that did not fail"
                );
                self.set_progress(
                    *wallet_id,
                    WalletProgress::Prepared,
                    WalletProgress::Aborted,
                );
            }
        }
    }
}
