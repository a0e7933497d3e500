//! Why a transaction command was rejected. Each variant names the gRPC status and reason it
//! maps to.

use uuid::Uuid;

use super::types::{TransactionStatus, WalletProgress};
use crate::wallet::CreditSource;

/// A rejected transaction command. Rejections produce no events.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionError {
    /// NOT_FOUND `TRANSACTION_NOT_FOUND`: no transaction, or one of another tenant.
    #[error("transaction not found")]
    NotFound,
    /// ALREADY_EXISTS `DUPLICATE_REFERENCE_ID`: the reference id names an earlier transaction
    /// with a different request; its id and status go in the error details.
    #[error("reference id already used by transaction {transaction_id} ({status})")]
    DuplicateReferenceId {
        /// The existing transaction.
        transaction_id: Uuid,
        /// Its status now.
        status: TransactionStatus,
    },
    /// INVALID_ARGUMENT `INVALID_TEXT`: an empty or over-long tenant.
    #[error("tenant must be 1..={max_bytes} bytes")]
    InvalidTenant {
        /// Its byte limit.
        max_bytes: usize,
    },
    /// INVALID_ARGUMENT `INVALID_REFERENCE_ID`: empty, over `max_bytes`, or not visible ASCII.
    #[error("reference id must be 1..={max_bytes} visible ASCII characters")]
    InvalidReferenceId {
        /// [`super::MAX_REFERENCE_ID_BYTES`].
        max_bytes: usize,
    },
    /// INVALID_ARGUMENT `INVALID_TRANSACTION_ID`: a start addressed to another stream than the
    /// one its tenant and reference id derive (a caller bug).
    #[error("transaction id must be {expected}")]
    TransactionIdMismatch {
        /// [`super::transaction_id`] of the tenant and reference id.
        expected: Uuid,
    },
    /// INVALID_ARGUMENT `INVALID_OPERATIONS`: no operations, or more than `max`.
    #[error("a transaction has 1..={max} operations, not {count}")]
    InvalidOperationCount {
        /// How many were given.
        count: usize,
        /// [`super::MAX_OPERATIONS`].
        max: usize,
    },
    /// INVALID_ARGUMENT `TOO_MANY_WALLETS`: the operations name more than `max` wallets.
    #[error("a transaction names at most {max} wallets, not {count}")]
    TooManyWallets {
        /// How many distinct wallets.
        count: usize,
        /// [`super::MAX_WALLETS`].
        max: usize,
    },
    /// FAILED_PRECONDITION `INVALID_TIMEOUT`: a timeout outside `min_ms..=max_ms`. The timeout
    /// is configured, not requested, so the client has no field to fix (as for top-ups).
    #[error("timeout must be {min_ms}..={max_ms} ms")]
    InvalidTimeout {
        /// [`super::MIN_TRANSACTION_TIMEOUT_MS`].
        min_ms: i64,
        /// [`super::MAX_TRANSACTION_TIMEOUT_MS`].
        max_ms: i64,
    },
    /// INVALID_ARGUMENT `INVALID_AMOUNT`: operation `index` has a zero or negative amount (the
    /// scale is checked by the wallet against its asset).
    #[error("operation {index}: amount must be positive")]
    AmountNotPositive {
        /// The operation's index.
        index: u32,
    },
    /// INVALID_ARGUMENT `SAME_WALLET`: a transfer or exchange from a wallet to itself.
    #[error("operation {index}: from and to are the same wallet")]
    SameWallet {
        /// The operation's index.
        index: u32,
    },
    /// INVALID_ARGUMENT `SOURCE_NOT_ALLOWED`: an issue with a source other than paid or granted.
    #[error("operation {index}: issue source {credit_source} is not allowed")]
    SourceNotAllowed {
        /// The operation's index.
        index: u32,
        /// The refused source.
        credit_source: CreditSource,
    },
    /// INVALID_ARGUMENT `EXPIRY_NOT_IN_FUTURE`: an issued lot expiring at or before now.
    #[error("operation {index}: expires_at must be in the future")]
    ExpiryNotInFuture {
        /// The operation's index.
        index: u32,
    },
    /// NOT_FOUND `WALLET_NOT_FOUND`: a wallet named without its asset, which the service sends
    /// only for wallets of the tenant that it knows.
    #[error("wallet {wallet_id} not found")]
    WalletAssetMissing {
        /// The wallet.
        wallet_id: Uuid,
    },
    /// INVALID_ARGUMENT `WALLET_NOT_IN_TRANSACTION`: an answer from a wallet the transaction
    /// does not name, or naming an operation of another wallet.
    #[error("wallet {wallet_id} has no such operation in this transaction")]
    WalletNotInTransaction {
        /// The wallet.
        wallet_id: Uuid,
    },
    /// FAILED_PRECONDITION `CONFLICTING_ANSWER`: a wallet's answer contradicting its earlier one
    /// (prepared after failing, or failed after preparing).
    #[error("wallet {wallet_id} already answered {progress}")]
    ConflictingAnswer {
        /// The wallet.
        wallet_id: Uuid,
        /// What it answered before.
        progress: WalletProgress,
    },
    /// FAILED_PRECONDITION `INVALID_STEP`: a commit on a transaction that did not complete, an
    /// abort on one that did not fail, or either for a wallet that never prepared.
    #[error("step not allowed: transaction is {status}, wallet is {progress}")]
    InvalidStep {
        /// The transaction's status.
        status: TransactionStatus,
        /// The wallet's progress.
        progress: WalletProgress,
    },
}
