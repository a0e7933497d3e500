//! Every coordinator rule. `decide` reads the state and the command and returns events or the
//! first rule broken; it never changes anything.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use uuid::Uuid;

use super::command::{TransactionAction, TransactionCommand, request_fingerprint};
use super::error::TransactionError;
use super::event::{TransactionEvent, TransactionEventKind};
use super::state::{Transaction, TransactionState};
use super::types::{
    Operation, TransactionFailure, TransactionStatus, WalletProgress, transaction_id,
};
use super::{
    MAX_OPERATIONS, MAX_REFERENCE_ID_BYTES, MAX_TRANSACTION_TIMEOUT_MS, MAX_WALLETS,
    MIN_TRANSACTION_TIMEOUT_MS,
};
use crate::decider::Context;
use crate::support::{first_invisible_byte, text_fits};
use crate::time::Timestamp;
use crate::wallet::{CreditSource, MAX_TENANT_BYTES, TransactionFailureReason};

pub(crate) fn decide(
    state: &TransactionState,
    command: &TransactionCommand,
    ctx: &Context,
) -> Result<Vec<TransactionEvent>, TransactionError> {
    let Some(transaction) = state.transaction() else {
        return match &command.action {
            TransactionAction::Start {
                reference_id,
                operations,
                wallet_assets,
                timeout_ms,
            } => start(
                command,
                ctx,
                reference_id,
                operations,
                wallet_assets,
                *timeout_ms,
            ),
            _ => Err(TransactionError::NotFound),
        };
    };
    // Tenancy first, so another tenant learns nothing about this transaction.
    if transaction.tenant != command.tenant || transaction.id != command.transaction_id {
        return Err(TransactionError::NotFound);
    }
    let rules = Rules { transaction, ctx };
    match &command.action {
        TransactionAction::Start {
            reference_id,
            operations,
            ..
        } => rules.start_again(reference_id, operations),
        TransactionAction::RecordPrepared { wallet_id } => rules.record_prepared(*wallet_id),
        TransactionAction::RecordPrepareFailed {
            wallet_id,
            index,
            reason,
            available,
        } => rules.record_prepare_failed(*wallet_id, *index, *reason, *available),
        TransactionAction::RecordCommitted { wallet_id } => rules.record_resolved(
            *wallet_id,
            TransactionStatus::Completed,
            WalletProgress::Committed,
        ),
        TransactionAction::RecordAborted { wallet_id } => rules.record_resolved(
            *wallet_id,
            TransactionStatus::Failed,
            WalletProgress::Aborted,
        ),
        TransactionAction::Expire => Ok(rules.expire().into_iter().collect()),
    }
}

fn event(occurred_at: Timestamp, kind: TransactionEventKind) -> TransactionEvent {
    TransactionEvent { occurred_at, kind }
}

/// Validates a new transaction and records it; an operation that cannot succeed whatever the
/// wallets hold (a transfer across assets, an exchange without quotes) fails it at once, so the
/// reference id still names a transaction with a result.
fn start(
    command: &TransactionCommand,
    ctx: &Context,
    reference_id: &str,
    operations: &[Operation],
    wallet_assets: &BTreeMap<Uuid, String>,
    timeout_ms: i64,
) -> Result<Vec<TransactionEvent>, TransactionError> {
    let tenant = command.tenant.as_str();
    if !text_fits(tenant, MAX_TENANT_BYTES, true) {
        return Err(TransactionError::InvalidTenant {
            max_bytes: MAX_TENANT_BYTES,
        });
    }
    if !text_fits(reference_id, MAX_REFERENCE_ID_BYTES, true)
        || first_invisible_byte(reference_id).is_some()
    {
        return Err(TransactionError::InvalidReferenceId {
            max_bytes: MAX_REFERENCE_ID_BYTES,
        });
    }
    let expected = transaction_id(tenant, reference_id);
    if command.transaction_id != expected {
        return Err(TransactionError::TransactionIdMismatch { expected });
    }
    if operations.is_empty() || operations.len() > MAX_OPERATIONS {
        return Err(TransactionError::InvalidOperationCount {
            count: operations.len(),
            max: MAX_OPERATIONS,
        });
    }
    if !(MIN_TRANSACTION_TIMEOUT_MS..=MAX_TRANSACTION_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(TransactionError::InvalidTimeout {
            min_ms: MIN_TRANSACTION_TIMEOUT_MS,
            max_ms: MAX_TRANSACTION_TIMEOUT_MS,
        });
    }
    let mut wallets = BTreeSet::new();
    for (index, operation) in operations.iter().enumerate() {
        check_operation(index as u32, operation, ctx.now)?;
        wallets.extend(operation.wallets());
    }
    if wallets.len() > MAX_WALLETS {
        return Err(TransactionError::TooManyWallets {
            count: wallets.len(),
            max: MAX_WALLETS,
        });
    }
    if let Some(wallet_id) = wallets.iter().find(|id| !wallet_assets.contains_key(id)) {
        return Err(TransactionError::WalletAssetMissing {
            wallet_id: *wallet_id,
        });
    }
    // Only the named wallets' facts are kept: the prepares carry them.
    let wallet_assets: BTreeMap<Uuid, String> = wallet_assets
        .iter()
        .filter(|(id, _)| wallets.contains(id))
        .map(|(id, asset)| (*id, asset.clone()))
        .collect();
    let mut events = vec![event(
        ctx.now,
        TransactionEventKind::TransactionStarted {
            transaction_id: command.transaction_id,
            tenant: tenant.to_owned(),
            reference_id: reference_id.to_owned(),
            request_fingerprint: request_fingerprint(tenant, reference_id, operations),
            operations: operations.to_vec(),
            wallet_assets: wallet_assets.clone(),
            deadline: ctx.now.plus_millis(timeout_ms),
        },
    )];
    let refused = operations
        .iter()
        .enumerate()
        .find_map(|(index, operation)| match operation {
            Operation::Transfer { from, to, .. } if wallet_assets[from] != wallet_assets[to] => {
                Some((index, TransactionFailureReason::AssetMismatch))
            }
            Operation::Exchange { .. } => Some((index, TransactionFailureReason::QuoteNotFound)),
            _ => None,
        });
    if let Some((index, reason)) = refused {
        events.push(event(
            ctx.now,
            TransactionEventKind::TransactionFailed {
                failure: TransactionFailure {
                    index: Some(index as u32),
                    wallet_id: None,
                    reason,
                    available: None,
                },
            },
        ));
    }
    Ok(events)
}

/// The shape of one operation; amounts at the asset's scale are each wallet's check.
fn check_operation(
    index: u32,
    operation: &Operation,
    now: Timestamp,
) -> Result<(), TransactionError> {
    if operation.amount() <= Decimal::ZERO {
        return Err(TransactionError::AmountNotPositive { index });
    }
    match operation {
        Operation::Issue {
            source, expires_at, ..
        } => {
            if let Some(source) = source
                && !matches!(source, CreditSource::Paid | CreditSource::Granted)
            {
                return Err(TransactionError::SourceNotAllowed {
                    index,
                    credit_source: *source,
                });
            }
            if expires_at.is_some_and(|at| at <= now) {
                return Err(TransactionError::ExpiryNotInFuture { index });
            }
        }
        Operation::Redeem { .. } => {}
        Operation::Transfer { from, to, .. } | Operation::Exchange { from, to, .. } => {
            if from == to {
                return Err(TransactionError::SameWallet { index });
            }
        }
    }
    Ok(())
}

/// The rules of an existing transaction of the caller's tenant.
struct Rules<'a> {
    transaction: &'a Transaction,
    ctx: &'a Context,
}

impl Rules<'_> {
    /// A start meeting its own transaction: the same request is a retry (no events; the outcome
    /// is the transaction's current state), another is a duplicate reference id.
    fn start_again(
        &self,
        reference_id: &str,
        operations: &[Operation],
    ) -> Result<Vec<TransactionEvent>, TransactionError> {
        let fingerprint = request_fingerprint(&self.transaction.tenant, reference_id, operations);
        if fingerprint != self.transaction.request_fingerprint {
            return Err(TransactionError::DuplicateReferenceId {
                transaction_id: self.transaction.id,
                status: self.transaction.status,
            });
        }
        Ok(Vec::new())
    }

    fn progress(&self, wallet_id: Uuid) -> Result<WalletProgress, TransactionError> {
        self.transaction
            .wallets
            .get(&wallet_id)
            .copied()
            .ok_or(TransactionError::WalletNotInTransaction { wallet_id })
    }

    /// A pending transaction past its deadline fails; the decision that notices says so.
    fn expire(&self) -> Option<TransactionEvent> {
        let due = self.transaction.status == TransactionStatus::Pending
            && self.transaction.deadline <= self.ctx.now;
        due.then(|| {
            self.event(TransactionEventKind::TransactionFailed {
                failure: TransactionFailure {
                    index: None,
                    wallet_id: None,
                    reason: TransactionFailureReason::DeadlineExceeded,
                    available: None,
                },
            })
        })
    }

    fn event(&self, kind: TransactionEventKind) -> TransactionEvent {
        event(self.ctx.now, kind)
    }

    /// A wallet placed its hold. Recorded even after a failure, so that the hold is aborted;
    /// the last prepare before the deadline completes the transaction.
    fn record_prepared(&self, wallet_id: Uuid) -> Result<Vec<TransactionEvent>, TransactionError> {
        match self.progress(wallet_id)? {
            WalletProgress::Pending => {}
            WalletProgress::Failed => {
                return Err(TransactionError::ConflictingAnswer {
                    wallet_id,
                    progress: WalletProgress::Failed,
                });
            }
            // Already recorded: a redelivered answer.
            WalletProgress::Prepared | WalletProgress::Committed | WalletProgress::Aborted => {
                return Ok(Vec::new());
            }
        }
        let mut events =
            vec![self.event(TransactionEventKind::TransactionWalletPrepared { wallet_id })];
        if self.transaction.status == TransactionStatus::Pending {
            if let Some(expired) = self.expire() {
                events.push(expired);
            } else if self
                .transaction
                .wallets
                .iter()
                .all(|(id, progress)| *id == wallet_id || *progress == WalletProgress::Prepared)
            {
                events.push(self.event(TransactionEventKind::TransactionCompleted));
            }
        }
        Ok(events)
    }

    /// A wallet's prepare failed: the first failure fails the transaction; later ones add
    /// nothing (their wallets hold nothing).
    fn record_prepare_failed(
        &self,
        wallet_id: Uuid,
        index: u32,
        reason: TransactionFailureReason,
        available: Option<Decimal>,
    ) -> Result<Vec<TransactionEvent>, TransactionError> {
        let progress = self.progress(wallet_id)?;
        let names_wallet = self
            .transaction
            .operations
            .get(index as usize)
            .is_some_and(|operation| operation.wallets().contains(&wallet_id));
        if !names_wallet {
            return Err(TransactionError::WalletNotInTransaction { wallet_id });
        }
        match progress {
            WalletProgress::Pending => {}
            WalletProgress::Failed => return Ok(Vec::new()),
            progress @ (WalletProgress::Prepared
            | WalletProgress::Committed
            | WalletProgress::Aborted) => {
                return Err(TransactionError::ConflictingAnswer {
                    wallet_id,
                    progress,
                });
            }
        }
        if self.transaction.status != TransactionStatus::Pending {
            return Ok(Vec::new());
        }
        Ok(vec![self.event(TransactionEventKind::TransactionFailed {
            failure: TransactionFailure {
                index: Some(index),
                wallet_id: Some(wallet_id),
                reason,
                available,
            },
        })])
    }

    /// A wallet committed (`status` completed) or aborted (`status` failed). A wallet that never
    /// prepared has nothing to abort, so its abort answer is a no-op.
    fn record_resolved(
        &self,
        wallet_id: Uuid,
        status: TransactionStatus,
        resolved: WalletProgress,
    ) -> Result<Vec<TransactionEvent>, TransactionError> {
        let progress = self.progress(wallet_id)?;
        let current = self.transaction.status;
        match progress {
            _ if current != status => Err(TransactionError::InvalidStep {
                status: current,
                progress,
            }),
            WalletProgress::Prepared => Ok(vec![self.event(match resolved {
                WalletProgress::Committed => {
                    TransactionEventKind::TransactionWalletCommitted { wallet_id }
                }
                _ => TransactionEventKind::TransactionWalletAborted { wallet_id },
            })]),
            done if done == resolved => Ok(Vec::new()),
            WalletProgress::Pending | WalletProgress::Failed
                if resolved == WalletProgress::Aborted =>
            {
                Ok(Vec::new())
            }
            progress => Err(TransactionError::InvalidStep {
                status: current,
                progress,
            }),
        }
    }
}
