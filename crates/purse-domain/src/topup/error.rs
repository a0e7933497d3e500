//! Why a top-up command was rejected. Each variant names the gRPC status and reason it maps to.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::types::{TopUpKind, TopUpStatus};
use crate::money::AmountError;
use crate::support::named_enum;
use crate::time::Timestamp;
use crate::wallet::WalletStatus;

named_enum! {
    /// A field of a top-up command named in an error.
    pub enum TopUpField {
        /// The caller's tenant.
        Tenant => "tenant",
        /// The payer's customer id.
        Owner => "owner",
        /// What the payer is charged.
        Amount => "amount",
        /// What the wallet is credited.
        WalletAmount => "wallet_amount",
    }
}

/// A rejected top-up command. Rejections produce no events.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopUpError {
    /// NOT_FOUND `TOP_UP_NOT_FOUND`: no top-up, or one of another tenant (never revealed).
    #[error("top-up not found")]
    NotFound,
    /// ALREADY_EXISTS `TOP_UP_ALREADY_EXISTS`: create of an existing top-up id.
    #[error("top-up already exists")]
    AlreadyExists,
    /// FAILED_PRECONDITION `WALLET_SUSPENDED` / `WALLET_CLOSED`: the wallet cannot receive a
    /// credit, so nobody is asked to pay for one.
    #[error("wallet is {status}")]
    WalletNotOpen {
        /// The wallet's status.
        status: WalletStatus,
    },
    /// NOT_FOUND `PAYMENT_METHOD_NOT_FOUND`: not a stored card of the wallet's owner (or one
    /// removed, or not visible yet: the client retries).
    #[error("payment method not found for the wallet's owner")]
    PaymentMethodNotFound,
    /// INVALID_ARGUMENT `INVALID_AMOUNT`: an amount is malformed or out of range.
    #[error("invalid {field}: {error}")]
    InvalidAmount {
        /// The offending field.
        field: TopUpField,
        /// What is wrong with it.
        error: AmountError,
    },
    /// INVALID_ARGUMENT `INVALID_TEXT`: an empty or over-long tenant or owner.
    #[error("{field} must be 1..={max_bytes} bytes")]
    InvalidText {
        /// The offending field.
        field: TopUpField,
        /// Its byte limit.
        max_bytes: usize,
    },
    /// INVALID_ARGUMENT `WALLET_AMOUNT_BELOW_AMOUNT`: the wallet would get less than was paid.
    #[error("wallet_amount must be at least the amount of {amount}")]
    WalletAmountBelowAmount {
        /// The amount paid.
        amount: Decimal,
    },
    /// INVALID_ARGUMENT `INVALID_TIMEOUT`: the payment deadline is outside the accepted range.
    #[error("timeout must be {min_ms}..={max_ms} ms")]
    InvalidTimeout {
        /// [`super::MIN_TOP_UP_TIMEOUT_MS`].
        min_ms: i64,
        /// [`super::MAX_TOP_UP_TIMEOUT_MS`].
        max_ms: i64,
    },
    /// INVALID_ARGUMENT `LOT_EXPIRY_TOO_SOON`: the credited lots would expire too soon after the
    /// deadline (the credit could come after their expiry).
    #[error("lots_expire_at must be at or after {} ms", earliest.as_millis())]
    LotExpiryTooSoon {
        /// The earliest accepted lot expiry.
        earliest: Timestamp,
    },
    /// INVALID_ARGUMENT `PAYMENT_METHOD_REQUIRED`: a stored-card kind without a payment method.
    #[error("a {kind} top-up needs a payment method")]
    PaymentMethodRequired {
        /// The kind requested.
        kind: TopUpKind,
    },
    /// INVALID_ARGUMENT `PAYMENT_METHOD_NOT_ALLOWED`: a `manual` top-up with a payment method
    /// (use `manual_with_payment_method`).
    #[error("a {kind} top-up takes no payment method")]
    PaymentMethodNotAllowed {
        /// The kind requested.
        kind: TopUpKind,
    },
    /// FAILED_PRECONDITION `TOP_UP_INVALID_STATE`: the top-up is already final.
    #[error("top-up is already {from}")]
    InvalidTransition {
        /// The top-up's status.
        from: TopUpStatus,
    },
    /// INVALID_ARGUMENT `PAYMENT_MISMATCH`: a capture of another payment than the top-up's.
    #[error("payment is not the top-up's {expected}")]
    PaymentMismatch {
        /// The top-up's payment.
        expected: Uuid,
    },
    /// INVALID_ARGUMENT `CAPTURE_AMOUNT_MISMATCH`: a capture of another amount than the top-up's.
    #[error("capture must be the top-up amount of {expected}")]
    CaptureAmountMismatch {
        /// The top-up's amount.
        expected: Decimal,
    },
    /// FAILED_PRECONDITION `PAYMENT_NOT_CAPTURED`: complete, or fail for a refused credit,
    /// before the capture was recorded.
    #[error("the payment has not been captured")]
    PaymentNotCaptured,
    /// FAILED_PRECONDITION `PAYMENT_ALREADY_CAPTURED`: expire, or fail for a decline, after the
    /// capture was recorded.
    #[error("the payment has been captured")]
    AlreadyCaptured,
    /// FAILED_PRECONDITION `DEADLINE_NOT_REACHED`: expire before the deadline.
    #[error("the deadline at {} ms has not been reached", expires_at.as_millis())]
    DeadlineNotReached {
        /// The deadline.
        expires_at: Timestamp,
    },
    /// INVALID_ARGUMENT `GRANTED_CREDIT_MISMATCH`: completion reports a granted credit that the
    /// top-up does not have (or omits one it has).
    #[error("the top-up grants {excess} beyond the amount paid")]
    GrantedCreditMismatch {
        /// `wallet_amount − amount`.
        excess: Decimal,
    },
}
