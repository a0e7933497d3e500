//! Why a wallet command was rejected. Each variant names the gRPC status and reason it maps to,
//! so the service's one exhaustive mapping has a single source of truth.

use std::borrow::Cow;
use std::fmt;

use rust_decimal::Decimal;

use uuid::Uuid;

use super::transaction::WalletTransactionStatus;
use super::types::{
    CreditSource, HoldStatus, MAX_VELOCITY_OPERATIONS, MAX_VELOCITY_WINDOW_MS, WalletStatus,
    named_enum,
};
use crate::money::AmountError;

/// A rejected wallet command. Rejections produce no events.
// Display and Error are written out because thiserror would treat the `source` field of
// `SourceNotAllowed` as an underlying error.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WalletError {
    /// NOT_FOUND `WALLET_NOT_FOUND`: no wallet, or a wallet of another tenant (never revealed).
    NotFound,
    /// ALREADY_EXISTS `WALLET_ALREADY_EXISTS`: open of an existing wallet id.
    AlreadyExists,
    /// FAILED_PRECONDITION `WALLET_SUSPENDED`: money movement on a suspended wallet.
    Suspended,
    /// FAILED_PRECONDITION `WALLET_CLOSED`: anything on a closed wallet.
    Closed,
    /// FAILED_PRECONDITION `INSUFFICIENT_FUNDS`: a debit or hold above the available amount
    /// (the available amount goes in the error details).
    InsufficientFunds {
        /// Balance minus held, after any expiry due at decision time.
        available: Decimal,
    },
    /// FAILED_PRECONDITION `LIMIT_EXCEEDED` (the limit kind and value go in the error details):
    /// the operation would break one of the wallet's limits.
    LimitExceeded {
        /// Which limit.
        limit: LimitKind,
        /// The limit rendered for the client ("100.00", "5 per 60000 ms").
        limit_value: String,
    },
    /// INVALID_ARGUMENT `INVALID_AMOUNT`: an amount (command or limit) is malformed or out of range.
    InvalidAmount {
        /// The offending field ("amount", "limits.max_balance").
        field: Cow<'static, str>,
        /// What is wrong with it.
        error: AmountError,
    },
    /// INVALID_ARGUMENT `INVALID_VELOCITY`: velocity limit with zero or too many operations, or a
    /// window outside 1 ms..=31 days.
    InvalidVelocity,
    /// INVALID_ARGUMENT `INVALID_TEXT`: empty owner or tenant, or a text field over its byte limit.
    InvalidText {
        /// The offending field ("owner", "reference", "description", "reason").
        field: Cow<'static, str>,
        /// Its byte limit.
        max_bytes: usize,
    },
    /// INVALID_ARGUMENT `INVALID_METADATA`: metadata outside its bounds.
    InvalidMetadata {
        /// Which bound.
        error: MetadataError,
    },
    /// INVALID_ARGUMENT `EXPIRY_NOT_IN_FUTURE`: an expiry at or before the decision time.
    ExpiryNotInFuture {
        /// The offending field ("expires_at").
        field: Cow<'static, str>,
    },
    /// INVALID_ARGUMENT `HOLD_TOO_LONG`: a hold deadline beyond the maximum duration.
    HoldTooLong {
        /// The maximum duration ([`super::MAX_HOLD_DURATION_MS`]).
        max_ms: i64,
    },
    /// NOT_FOUND `HOLD_NOT_FOUND`: no hold with that id on this wallet.
    HoldNotFound,
    /// FAILED_PRECONDITION `HOLD_NOT_ACTIVE`: the hold was already captured, voided or expired
    /// (including a hold past its deadline that the timer has not released yet).
    HoldNotActive {
        /// How the hold ended.
        status: HoldStatus,
    },
    /// FAILED_PRECONDITION `CAPTURE_EXCEEDS_HOLD`: capture above the held amount.
    CaptureExceedsHold {
        /// The hold's amount.
        held: Decimal,
    },
    /// NOT_FOUND `DEBIT_NOT_FOUND`: no debit with that id on this wallet, or one already fully
    /// refunded (fully refunded debits are forgotten to keep state bounded).
    DebitNotFound,
    /// FAILED_PRECONDITION `REFUND_EXCEEDS_DEBIT`: refund above what remains refundable.
    RefundExceedsDebit {
        /// What may still be refunded of that debit.
        refundable: Decimal,
    },
    /// INVALID_ARGUMENT `SOURCE_NOT_ALLOWED`: a credit with source `refund` (use `Refund`).
    SourceNotAllowed {
        /// The refused source.
        source: CreditSource,
    },
    /// FAILED_PRECONDITION `INVALID_TRANSITION`: suspend a non-open wallet, reactivate a
    /// non-suspended one.
    InvalidTransition {
        /// The wallet's current status.
        from: WalletStatus,
    },
    /// FAILED_PRECONDITION `BALANCE_NOT_ZERO`: close with funds left.
    BalanceNotZero {
        /// The current balance.
        balance: Decimal,
    },
    /// FAILED_PRECONDITION `OPEN_HOLDS`: close with active holds.
    OpenHolds {
        /// How many holds are active.
        count: usize,
    },
    /// FAILED_PRECONDITION `HOLD_OWNED_BY_TRANSACTION`: capture or void of a hold that a
    /// transaction placed; only its transaction's commit or abort resolves it.
    HoldOwnedByTransaction {
        /// The transaction that placed the hold.
        transaction_id: Uuid,
    },
    /// INVALID_ARGUMENT `INVALID_TRANSACTION_LEGS`: a prepare with no legs, more than `max`, or
    /// indexes not strictly increasing.
    InvalidTransactionLegs {
        /// [`super::MAX_TRANSACTION_LEGS`].
        max: usize,
    },
    /// NOT_FOUND `TRANSACTION_NOT_FOUND`: commit of a transaction never prepared here.
    TransactionNotFound,
    /// FAILED_PRECONDITION `TRANSACTION_NOT_PREPARED`: commit of a transaction that failed,
    /// was aborted or expired here, or abort of one already committed.
    TransactionNotPrepared {
        /// Where the transaction stands on this wallet.
        status: WalletTransactionStatus,
    },
    /// FAILED_PRECONDITION `BALANCE_CEILING_EXCEEDED`: a credit or refund would take the balance
    /// above the asset's largest amount ([`crate::money::Asset::max_amount`]), past which sums
    /// could no longer be exact.
    BalanceCeilingExceeded {
        /// The largest balance of this asset.
        ceiling: Decimal,
    },
}

impl fmt::Display for WalletError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound => f.write_str("wallet not found"),
            Self::AlreadyExists => f.write_str("wallet already exists"),
            Self::Suspended => f.write_str("wallet is suspended"),
            Self::Closed => f.write_str("wallet is closed"),
            Self::InsufficientFunds { available } => {
                write!(f, "insufficient funds: {available} available")
            }
            Self::LimitExceeded { limit, limit_value } => {
                write!(f, "{limit} limit of {limit_value} exceeded")
            }
            Self::InvalidAmount { field, error } => write!(f, "invalid {field}: {error}"),
            Self::InvalidVelocity => write!(
                f,
                "velocity limit needs 1..={MAX_VELOCITY_OPERATIONS} operations within \
                 1..={MAX_VELOCITY_WINDOW_MS} ms"
            ),
            Self::InvalidText { field, max_bytes } => write!(
                f,
                "{field} must be at most {max_bytes} bytes (and not empty if required)"
            ),
            Self::InvalidMetadata { error } => write!(f, "invalid metadata: {error}"),
            Self::ExpiryNotInFuture { field } => write!(f, "{field} must be in the future"),
            Self::HoldTooLong { max_ms } => write!(f, "hold may last at most {max_ms} ms"),
            Self::HoldNotFound => f.write_str("hold not found"),
            Self::HoldNotActive { status } => write!(f, "hold is {status}, not active"),
            Self::CaptureExceedsHold { held } => write!(f, "capture exceeds the held {held}"),
            Self::DebitNotFound => f.write_str("debit not found"),
            Self::RefundExceedsDebit { refundable } => {
                write!(f, "refund exceeds the refundable {refundable}")
            }
            Self::SourceNotAllowed { source } => {
                write!(f, "credit source {source} is not allowed here")
            }
            Self::InvalidTransition { from } => write!(f, "not allowed from status {from}"),
            Self::BalanceNotZero { balance } => write!(f, "balance is {balance}, not zero"),
            Self::OpenHolds { count } => write!(f, "{count} holds are still active"),
            Self::HoldOwnedByTransaction { transaction_id } => {
                write!(f, "hold belongs to transaction {transaction_id}")
            }
            Self::InvalidTransactionLegs { max } => write!(
                f,
                "a prepare needs 1..={max} legs with strictly increasing indexes"
            ),
            Self::TransactionNotFound => f.write_str("transaction not found on this wallet"),
            Self::TransactionNotPrepared { status } => {
                write!(f, "transaction is {status} on this wallet, not prepared")
            }
            Self::BalanceCeilingExceeded { ceiling } => {
                write!(f, "balance may not exceed {ceiling}")
            }
        }
    }
}

// The inner amount or metadata error is already part of the message, so it is not also
// reported as a source (which would print it twice in error chains).
impl std::error::Error for WalletError {}

named_enum! {
    /// Which wallet limit a command would break.
    pub enum LimitKind {
        /// `limits.max_balance`.
        MaxBalance => "max_balance",
        /// `limits.daily_debit_limit`.
        DailyDebit => "daily_debit",
        /// `limits.per_transaction_max`.
        PerTransaction => "per_transaction",
        /// `limits.velocity`.
        Velocity => "velocity",
    }
}

/// Which metadata bound was broken.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MetadataError {
    /// More than `max` entries.
    #[error("more than {max} entries")]
    TooManyEntries {
        /// [`super::MAX_METADATA_ENTRIES`].
        max: usize,
    },
    /// A key over `max` bytes.
    #[error("a key is longer than {max} bytes")]
    KeyTooLong {
        /// [`super::MAX_METADATA_KEY_BYTES`].
        max: usize,
    },
    /// A value over `max` bytes.
    #[error("a value is longer than {max} bytes")]
    ValueTooLong {
        /// [`super::MAX_METADATA_VALUE_BYTES`].
        max: usize,
    },
    /// An empty key.
    #[error("a key is empty")]
    EmptyKey,
}
