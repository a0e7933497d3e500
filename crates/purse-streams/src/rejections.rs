//! How each stream's rejections appear on the wire: code, reason and request field, one
//! exhaustive `match` per decider error, so that a new rule forces a decision here. The engine's
//! one `ApiError → tonic::Status` mapping (`purse_runtime::edge`) renders them.

use purse_domain::payment::{PaymentError, PaymentMethodsError};
use purse_domain::saga::AutoTopUpError;
use purse_domain::topup::TopUpError;
use purse_domain::wallet::{LimitKind, WalletError, WalletStatus};
use purse_runtime::edge::{Code, Rejections, Wire};

use crate::auto_top_up::AutoTopUpStream;
use crate::payment::PaymentStream;
use crate::payment_methods::PaymentMethodsStream;
use crate::top_up::TopUpStream;
use crate::wallet::WalletStream;

impl Rejections for WalletStream {
    fn wire(rejection: &WalletError) -> Wire<'_> {
        let precondition = |reason| Wire::precondition(reason, rejection);
        match rejection {
            WalletError::NotFound => Wire::new(Code::NotFound, "WALLET_NOT_FOUND", rejection),
            WalletError::AlreadyExists => {
                Wire::new(Code::AlreadyExists, "WALLET_ALREADY_EXISTS", rejection)
            }
            WalletError::Suspended => precondition("WALLET_SUSPENDED"),
            WalletError::Closed => precondition("WALLET_CLOSED"),
            WalletError::InsufficientFunds { available } => {
                precondition("INSUFFICIENT_FUNDS").detail("available", available)
            }
            WalletError::LimitExceeded { limit, limit_value } => {
                // A velocity limit passes with time: the client may retry later.
                let code = if *limit == LimitKind::Velocity {
                    Code::ResourceExhausted
                } else {
                    Code::FailedPrecondition
                };
                Wire::new(code, "LIMIT_EXCEEDED", rejection)
                    .detail("limit", limit.as_str())
                    .detail("limit_value", limit_value)
            }
            WalletError::InvalidAmount { field, error } => {
                Wire::invalid(wire_field(field), "INVALID_AMOUNT", rejection).description(error)
            }
            WalletError::InvalidVelocity => {
                Wire::invalid("limits.velocity", "INVALID_LIMIT", rejection)
            }
            WalletError::InvalidText { field, .. } => {
                Wire::invalid(wire_field(field), "INVALID_TEXT", rejection)
            }
            WalletError::InvalidMetadata { error } => {
                Wire::invalid("metadata", "INVALID_METADATA", rejection).description(error)
            }
            WalletError::ExpiryNotInFuture { field } => {
                Wire::invalid(wire_field(field), "EXPIRY_NOT_IN_FUTURE", rejection)
            }
            WalletError::HoldTooLong { .. } => {
                Wire::invalid("expires_at_ms", "HOLD_TOO_LONG", rejection)
            }
            WalletError::HoldNotFound => Wire::new(Code::NotFound, "HOLD_NOT_FOUND", rejection),
            WalletError::HoldNotActive { status } => {
                precondition("HOLD_NOT_ACTIVE").detail("status", status.as_str())
            }
            WalletError::CaptureExceedsHold { held } => {
                precondition("CAPTURE_EXCEEDS_HOLD").detail("held", held)
            }
            WalletError::DebitNotFound => Wire::new(Code::NotFound, "DEBIT_NOT_FOUND", rejection),
            WalletError::RefundExceedsDebit { refundable } => {
                precondition("REFUND_EXCEEDS_DEBIT").detail("refundable", refundable)
            }
            WalletError::SourceNotAllowed { .. } => {
                Wire::invalid("source", "SOURCE_NOT_ALLOWED", rejection)
            }
            WalletError::InvalidTransition { from } => {
                precondition("INVALID_STATUS_TRANSITION").detail("status", from.as_str())
            }
            WalletError::BalanceNotZero { balance } => {
                precondition("BALANCE_NOT_ZERO").detail("balance", balance)
            }
            WalletError::BalanceCeilingExceeded { ceiling } => {
                precondition("BALANCE_CEILING_EXCEEDED").detail("ceiling", ceiling)
            }
            WalletError::OpenHolds { count } => {
                precondition("OPEN_HOLDS").detail("open_holds", count)
            }
            WalletError::HoldOwnedByTransaction { transaction_id } => {
                precondition("HOLD_OWNED_BY_TRANSACTION").detail("transaction_id", transaction_id)
            }
            WalletError::InvalidTransactionLegs { .. } => {
                Wire::invalid("legs", "INVALID_TRANSACTION_LEGS", rejection)
            }
            WalletError::TransactionNotFound => {
                Wire::new(Code::NotFound, "TRANSACTION_NOT_FOUND", rejection)
            }
            WalletError::TransactionNotPrepared { status } => {
                precondition("TRANSACTION_NOT_PREPARED").detail("status", status.as_str())
            }
        }
    }
}

/// The request field (its proto name) that carries a command field the decider named: the
/// decider speaks of times (`expires_at`), the wire of Unix milliseconds (`expires_at_ms`).
fn wire_field(decider_field: &str) -> &str {
    match decider_field {
        "expires_at" => "expires_at_ms",
        other => other,
    }
}

/// A wallet that is not open, as the top-up service reports it: the wallet's own reason.
fn wallet_not_open(status: WalletStatus, rejection: &impl std::fmt::Display) -> Wire<'static> {
    let reason = match status {
        WalletStatus::Closed => "WALLET_CLOSED",
        WalletStatus::Open | WalletStatus::Suspended => "WALLET_SUSPENDED",
    };
    Wire::precondition(reason, rejection).detail("status", status.as_str())
}

impl Rejections for TopUpStream {
    fn wire(rejection: &TopUpError) -> Wire<'_> {
        let precondition = |reason| Wire::precondition(reason, rejection);
        match rejection {
            TopUpError::NotFound => Wire::new(Code::NotFound, "TOP_UP_NOT_FOUND", rejection),
            // The id is derived from the idempotency key, so this is the same key after its
            // retention window (or a key reused across kinds of request).
            TopUpError::AlreadyExists => {
                Wire::new(Code::AlreadyExists, "TOP_UP_ALREADY_EXISTS", rejection)
            }
            TopUpError::WalletNotOpen { status } => wallet_not_open(*status, rejection),
            TopUpError::PaymentMethodNotFound => {
                Wire::new(Code::NotFound, "PAYMENT_METHOD_NOT_FOUND", rejection)
            }
            TopUpError::InvalidAmount { field, error } => {
                Wire::invalid(field.as_str(), "INVALID_AMOUNT", rejection).description(error)
            }
            TopUpError::InvalidText { field, .. } => {
                Wire::invalid(field.as_str(), "INVALID_TEXT", rejection)
            }
            TopUpError::WalletAmountBelowAmount { .. } => {
                Wire::invalid("wallet_amount", "WALLET_AMOUNT_BELOW_AMOUNT", rejection)
            }
            // The timeout comes from configuration, which is validated at start; still the
            // caller's request that cannot be served as configured, never INTERNAL.
            TopUpError::InvalidTimeout { .. } => precondition("INVALID_TIMEOUT"),
            // The earliest accepted value tells the client what to send instead.
            TopUpError::LotExpiryTooSoon { earliest } => {
                Wire::invalid("lots_expire_at_ms", "LOT_EXPIRY_TOO_SOON", rejection)
                    .detail("earliest_ms", earliest.as_millis())
            }
            TopUpError::PaymentMethodRequired { .. } => {
                Wire::invalid("payment_method_id", "PAYMENT_METHOD_REQUIRED", rejection)
            }
            TopUpError::PaymentMethodNotAllowed { .. } => {
                Wire::invalid("payment_method_id", "PAYMENT_METHOD_NOT_ALLOWED", rejection)
            }
            TopUpError::InvalidTransition { from } => {
                precondition("TOP_UP_INVALID_STATE").detail("status", from.as_str())
            }
            // Only the saga sends the commands below; a client never reaches them through the
            // top-ups service, but the mapping stays precise.
            TopUpError::PaymentMismatch { .. } => {
                Wire::invalid("payment_id", "PAYMENT_MISMATCH", rejection)
            }
            TopUpError::CaptureAmountMismatch { .. } => {
                Wire::invalid("amount", "CAPTURE_AMOUNT_MISMATCH", rejection)
            }
            TopUpError::PaymentNotCaptured => precondition("PAYMENT_NOT_CAPTURED"),
            TopUpError::AlreadyCaptured => precondition("PAYMENT_ALREADY_CAPTURED"),
            TopUpError::DeadlineNotReached { expires_at } => {
                precondition("DEADLINE_NOT_REACHED").detail("expires_at_ms", expires_at.as_millis())
            }
            TopUpError::GrantedCreditMismatch { .. } => {
                Wire::invalid("granted", "GRANTED_CREDIT_MISMATCH", rejection)
            }
        }
    }
}

impl Rejections for AutoTopUpStream {
    fn wire(rejection: &AutoTopUpError) -> Wire<'_> {
        match rejection {
            AutoTopUpError::NotFound => {
                Wire::new(Code::NotFound, "AUTO_TOP_UP_NOT_FOUND", rejection)
            }
            AutoTopUpError::WalletNotOpen { status } => wallet_not_open(*status, rejection),
            AutoTopUpError::PaymentMethodNotFound => {
                Wire::new(Code::NotFound, "PAYMENT_METHOD_NOT_FOUND", rejection)
            }
            AutoTopUpError::InvalidText { field, .. } => {
                Wire::invalid(field.as_str(), "INVALID_TEXT", rejection)
            }
            AutoTopUpError::InvalidAmount { field, error } => {
                Wire::invalid(field.as_str(), "INVALID_AMOUNT", rejection).description(error)
            }
            AutoTopUpError::TargetNotAboveThreshold { .. } => {
                Wire::invalid("target_balance", "TARGET_NOT_ABOVE_THRESHOLD", rejection)
            }
            AutoTopUpError::InvalidDailyCap { .. } => {
                Wire::invalid("daily_max_count", "INVALID_DAILY_CAP", rejection)
            }
            AutoTopUpError::CapBelowAmount { .. } => {
                Wire::invalid("daily_max_amount", "DAILY_CAP_BELOW_AMOUNT", rejection)
            }
            AutoTopUpError::InvalidBackoff { .. } => {
                Wire::invalid("backoff_ms", "INVALID_BACKOFF", rejection)
            }
            // The timeout comes from configuration; see the top-up's InvalidTimeout.
            AutoTopUpError::InvalidTimeout { .. } => {
                Wire::precondition("INVALID_TIMEOUT", rejection)
            }
            AutoTopUpError::AssetMismatch { expected } => {
                Wire::precondition("ASSET_MISMATCH", rejection).detail("expected", expected)
            }
        }
    }
}

impl Rejections for PaymentStream {
    fn wire(rejection: &PaymentError) -> Wire<'_> {
        let precondition = |reason| Wire::precondition(reason, rejection);
        match rejection {
            PaymentError::NotFound => Wire::new(Code::NotFound, "PAYMENT_NOT_FOUND", rejection),
            PaymentError::AlreadyExists => {
                Wire::new(Code::AlreadyExists, "PAYMENT_ALREADY_EXISTS", rejection)
            }
            PaymentError::InvalidAmount { field, error } => {
                Wire::invalid(field.as_str(), "INVALID_AMOUNT", rejection).description(error)
            }
            PaymentError::InvalidText { field, .. } => {
                Wire::invalid(field.as_str(), "INVALID_TEXT", rejection)
            }
            PaymentError::ExpiryNotInFuture => {
                Wire::invalid("expires_at_ms", "EXPIRY_NOT_IN_FUTURE", rejection)
            }
            PaymentError::InvalidTransition { from } => {
                precondition("PAYMENT_INVALID_STATE").detail("status", from.as_str())
            }
            PaymentError::Expired { expires_at } => {
                precondition("PAYMENT_EXPIRED").detail("expires_at_ms", expires_at.as_millis())
            }
            PaymentError::CardExpired => precondition("CARD_EXPIRED"),
            PaymentError::PaymentMethodMismatch { expected } => {
                let wire = Wire::invalid("payment_method_id", "PAYMENT_METHOD_MISMATCH", rejection);
                match expected {
                    Some(id) => wire.description(format!("{rejection}: expected {id}")),
                    None => wire,
                }
            }
            PaymentError::CardAlreadyStored => {
                Wire::invalid("save_card", "CARD_ALREADY_STORED", rejection)
            }
            PaymentError::CaptureAmountMismatch { expected } => {
                precondition("CAPTURE_AMOUNT_MISMATCH").detail("expected", expected)
            }
            PaymentError::RefundExceedsCaptured { refundable } => {
                precondition("REFUND_EXCEEDS_CAPTURED").detail("refundable", refundable)
            }
            PaymentError::TooManyRefunds { max } => {
                Wire::new(Code::ResourceExhausted, "TOO_MANY_REFUNDS", rejection).detail("max", max)
            }
            PaymentError::RefundNotFound => {
                Wire::new(Code::NotFound, "REFUND_NOT_FOUND", rejection)
            }
            PaymentError::RefundNotPending { status } => {
                precondition("REFUND_NOT_PENDING").detail("status", status.as_str())
            }
        }
    }
}

impl Rejections for PaymentMethodsStream {
    fn wire(rejection: &PaymentMethodsError) -> Wire<'_> {
        match rejection {
            PaymentMethodsError::InvalidText { field, .. } => {
                Wire::invalid(field.as_str(), "INVALID_TEXT", rejection)
            }
            PaymentMethodsError::CardExpired => Wire::precondition("CARD_EXPIRED", rejection),
            PaymentMethodsError::AlreadySaved { payment_method_id } => Wire::new(
                Code::AlreadyExists,
                "PAYMENT_METHOD_ALREADY_EXISTS",
                rejection,
            )
            .detail("payment_method_id", payment_method_id),
            PaymentMethodsError::TooManyPaymentMethods { max } => Wire::new(
                Code::ResourceExhausted,
                "TOO_MANY_PAYMENT_METHODS",
                rejection,
            )
            .detail("max", max),
            PaymentMethodsError::NotFound => {
                Wire::new(Code::NotFound, "PAYMENT_METHOD_NOT_FOUND", rejection)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wallet_that_is_not_open_keeps_the_wallets_own_reasons() {
        let suspended = TopUpError::WalletNotOpen {
            status: WalletStatus::Suspended,
        };
        let wire = TopUpStream::wire(&suspended);
        assert_eq!(
            (wire.code, wire.reason, wire.field),
            (Code::FailedPrecondition, "WALLET_SUSPENDED", None)
        );
        assert_eq!(wire.details, vec![("status", "suspended".to_owned())]);
        let closed = AutoTopUpError::WalletNotOpen {
            status: WalletStatus::Closed,
        };
        assert_eq!(AutoTopUpStream::wire(&closed).reason, "WALLET_CLOSED");
    }

    #[test]
    fn decider_fields_are_named_as_the_wire_names_them() {
        let err = WalletError::ExpiryNotInFuture {
            field: "expires_at".into(),
        };
        let wire = WalletStream::wire(&err);
        assert_eq!(
            (wire.code, wire.reason, wire.field),
            (
                Code::InvalidArgument,
                "EXPIRY_NOT_IN_FUTURE",
                Some("expires_at_ms")
            )
        );
    }
}
