//! Why a payment or payment-method command was rejected. Each variant names the gRPC status and
//! reason it maps to.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::types::{PaymentStatus, RefundStatus};
use crate::money::AmountError;
use crate::support::named_enum;
use crate::time::Timestamp;

named_enum! {
    /// A field of a payment command named in an error.
    pub enum PaymentField {
        /// The caller's tenant.
        Tenant => "tenant",
        /// The payer's customer id.
        Owner => "owner",
        /// An amount.
        Amount => "amount",
    }
}

/// A rejected payment command. Rejections produce no events.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentError {
    /// NOT_FOUND `PAYMENT_NOT_FOUND`: no intent, or one of another tenant (never revealed).
    #[error("payment not found")]
    NotFound,
    /// ALREADY_EXISTS `PAYMENT_ALREADY_EXISTS`: create of an existing intent id.
    #[error("payment already exists")]
    AlreadyExists,
    /// INVALID_ARGUMENT `INVALID_AMOUNT`: an amount is malformed or out of range.
    #[error("invalid {field}: {error}")]
    InvalidAmount {
        /// The offending field.
        field: PaymentField,
        /// What is wrong with it.
        error: AmountError,
    },
    /// INVALID_ARGUMENT `INVALID_TEXT`: an empty or over-long text field.
    #[error("{field} must be 1..={max_bytes} bytes")]
    InvalidText {
        /// The offending field.
        field: PaymentField,
        /// Its byte limit.
        max_bytes: usize,
    },
    /// INVALID_ARGUMENT `EXPIRY_NOT_IN_FUTURE`: the intent's deadline is not after the decision.
    #[error("expires_at must be in the future")]
    ExpiryNotInFuture,
    /// FAILED_PRECONDITION `PAYMENT_INVALID_STATE`: the action is not possible in this status
    /// (submit twice, cancel after capture, a second capture, refund before capture, ...).
    #[error("not allowed while the payment is {from}")]
    InvalidTransition {
        /// The intent's current status.
        from: PaymentStatus,
    },
    /// FAILED_PRECONDITION `PAYMENT_EXPIRED`: a card submitted at or after the intent's deadline.
    #[error("payment expired at {} ms", expires_at.as_millis())]
    Expired {
        /// The deadline.
        expires_at: Timestamp,
    },
    /// FAILED_PRECONDITION `CARD_EXPIRED`: the card's expiry month has passed.
    #[error("card has expired")]
    CardExpired,
    /// INVALID_ARGUMENT `PAYMENT_METHOD_MISMATCH`: the submitted stored card is not the one the
    /// intent was created for.
    #[error("payment method does not match the intent's")]
    PaymentMethodMismatch {
        /// The stored card the intent names, if any.
        expected: Option<Uuid>,
    },
    /// INVALID_ARGUMENT `CARD_ALREADY_STORED`: `save_card` with a card that is already stored.
    #[error("the card is already a stored payment method")]
    CardAlreadyStored,
    /// FAILED_PRECONDITION `CAPTURE_AMOUNT_MISMATCH`: the provider reports a capture of another
    /// amount than the intent's (partial captures are not supported).
    #[error("capture must be the intent's amount of {expected}")]
    CaptureAmountMismatch {
        /// The intent's amount.
        expected: Decimal,
    },
    /// FAILED_PRECONDITION `REFUND_EXCEEDS_CAPTURED`: a refund above what is still refundable.
    #[error("refund exceeds the refundable {refundable}")]
    RefundExceedsCaptured {
        /// Captured minus succeeded and pending refunds.
        refundable: Decimal,
    },
    /// RESOURCE_EXHAUSTED `TOO_MANY_REFUNDS`: the intent already has `max` refunds.
    #[error("at most {max} refunds per payment")]
    TooManyRefunds {
        /// [`super::MAX_REFUNDS_PER_PAYMENT`].
        max: usize,
    },
    /// NOT_FOUND `REFUND_NOT_FOUND`: no refund with that id on this intent.
    #[error("refund not found")]
    RefundNotFound,
    /// FAILED_PRECONDITION `REFUND_NOT_PENDING`: the refund already succeeded or failed.
    #[error("refund is {status}, not pending")]
    RefundNotPending {
        /// How the refund ended.
        status: RefundStatus,
    },
}

named_enum! {
    /// A field of a payment-methods command named in an error.
    pub enum PaymentMethodsField {
        /// The caller's tenant.
        Tenant => "tenant",
        /// The card owner's customer id.
        Owner => "owner",
    }
}

/// A rejected payment-methods command. Rejections produce no events.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethodsError {
    /// INVALID_ARGUMENT `INVALID_TEXT`: an empty or over-long tenant or owner.
    #[error("{field} must be 1..={max_bytes} bytes")]
    InvalidText {
        /// The offending field.
        field: PaymentMethodsField,
        /// Its byte limit.
        max_bytes: usize,
    },
    /// FAILED_PRECONDITION `CARD_EXPIRED`: saving a card whose expiry month has passed.
    #[error("card has expired")]
    CardExpired,
    /// ALREADY_EXISTS `PAYMENT_METHOD_ALREADY_EXISTS`: a card with the same provider token is
    /// stored already (its id goes in the error details).
    #[error("card is already stored as {payment_method_id}")]
    AlreadySaved {
        /// The stored card.
        payment_method_id: Uuid,
    },
    /// RESOURCE_EXHAUSTED `TOO_MANY_PAYMENT_METHODS`: the owner already stores `max` cards.
    #[error("at most {max} stored cards per owner")]
    TooManyPaymentMethods {
        /// [`super::MAX_PAYMENT_METHODS_PER_OWNER`].
        max: usize,
    },
    /// NOT_FOUND `PAYMENT_METHOD_NOT_FOUND`: no stored card with that id for this owner (or a
    /// stream of another tenant or owner, never revealed).
    #[error("payment method not found")]
    NotFound,
}
