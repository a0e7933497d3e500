//! The one place where every failure of the wallets service becomes a `tonic::Status`, with a
//! precise code and a machine-readable reason. Client-caused rejections never map to INTERNAL.

use purse_domain::wallet::{LimitKind, WalletError};
use purse_runtime::auth::{AuthError, Scope};
use purse_runtime::shard::CommandError;
use purse_runtime::status::{command_status, invalid_argument, store_status, with_reason};
use purse_store::StoreError;
use tonic::{Code, Status};

/// Why a wallets call failed.
#[derive(thiserror::Error, Debug)]
pub(crate) enum ApiError {
    #[error("unauthenticated: {0}")]
    Unauthenticated(AuthError),
    #[error("token lacks scope {}", .0.as_str())]
    PermissionDenied(Scope),
    #[error("{field}: {description}")]
    InvalidArgument {
        field: String,
        reason: &'static str,
        description: String,
    },
    #[error("wallet not found")]
    WalletNotFound,
    #[error(transparent)]
    Command(#[from] CommandError<WalletError>),
    #[error("read model did not reach sequence {min_sequence} in time")]
    NotVisibleYet { min_sequence: u64 },
    #[error("read store: {0}")]
    Store(#[from] StoreError),
}

impl ApiError {
    pub(crate) fn invalid(
        field: impl Into<String>,
        reason: &'static str,
        description: impl ToString,
    ) -> Self {
        ApiError::InvalidArgument {
            field: field.into(),
            reason,
            description: description.to_string(),
        }
    }
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Status {
        let message = err.to_string();
        match err {
            ApiError::Unauthenticated(_) => {
                with_reason(Code::Unauthenticated, "UNAUTHENTICATED", message, &[])
            }
            ApiError::PermissionDenied(scope) => with_reason(
                Code::PermissionDenied,
                "MISSING_SCOPE",
                message,
                &[("scope", scope.as_str().to_owned())],
            ),
            ApiError::InvalidArgument {
                field,
                reason,
                description,
            } => invalid_argument(&field, reason, description),
            ApiError::WalletNotFound => {
                with_reason(Code::NotFound, "WALLET_NOT_FOUND", message, &[])
            }
            ApiError::Command(command) => command_status(command, rejection_status),
            ApiError::NotVisibleYet { min_sequence } => with_reason(
                Code::Unavailable,
                "PROJECTION_LAGGING",
                message,
                &[("min_sequence", min_sequence.to_string())],
            ),
            ApiError::Store(store) => store_status(store),
        }
    }
}

fn rejection_status(err: WalletError) -> Status {
    let message = err.to_string();
    let precondition = |reason: &str, metadata: &[(&str, String)]| {
        with_reason(Code::FailedPrecondition, reason, message.clone(), metadata)
    };
    match err {
        WalletError::NotFound => with_reason(Code::NotFound, "WALLET_NOT_FOUND", message, &[]),
        WalletError::AlreadyExists => {
            with_reason(Code::AlreadyExists, "WALLET_ALREADY_EXISTS", message, &[])
        }
        WalletError::Suspended => precondition("WALLET_SUSPENDED", &[]),
        WalletError::Closed => precondition("WALLET_CLOSED", &[]),
        WalletError::InsufficientFunds { available } => precondition(
            "INSUFFICIENT_FUNDS",
            &[("available", available.to_string())],
        ),
        WalletError::LimitExceeded { limit, limit_value } => {
            let code = if limit == LimitKind::Velocity {
                Code::ResourceExhausted
            } else {
                Code::FailedPrecondition
            };
            with_reason(
                code,
                "LIMIT_EXCEEDED",
                message,
                &[
                    ("limit", limit.as_str().to_owned()),
                    ("limit_value", limit_value),
                ],
            )
        }
        WalletError::InvalidAmount { field, error } => {
            invalid_argument(wire_field(&field), "INVALID_AMOUNT", error.to_string())
        }
        WalletError::InvalidVelocity => {
            invalid_argument("limits.velocity", "INVALID_LIMIT", message)
        }
        WalletError::InvalidText { field, .. } => {
            invalid_argument(wire_field(&field), "INVALID_TEXT", message)
        }
        WalletError::InvalidMetadata { error } => {
            invalid_argument("metadata", "INVALID_METADATA", error.to_string())
        }
        WalletError::ExpiryNotInFuture { field } => {
            invalid_argument(wire_field(&field), "EXPIRY_NOT_IN_FUTURE", message)
        }
        WalletError::HoldTooLong { .. } => {
            invalid_argument("expires_at_ms", "HOLD_TOO_LONG", message)
        }
        WalletError::HoldNotFound => with_reason(Code::NotFound, "HOLD_NOT_FOUND", message, &[]),
        WalletError::HoldNotActive { status } => {
            precondition("HOLD_NOT_ACTIVE", &[("status", status.as_str().to_owned())])
        }
        WalletError::CaptureExceedsHold { held } => {
            precondition("CAPTURE_EXCEEDS_HOLD", &[("held", held.to_string())])
        }
        WalletError::DebitNotFound => with_reason(Code::NotFound, "DEBIT_NOT_FOUND", message, &[]),
        WalletError::RefundExceedsDebit { refundable } => precondition(
            "REFUND_EXCEEDS_DEBIT",
            &[("refundable", refundable.to_string())],
        ),
        WalletError::SourceNotAllowed { .. } => {
            invalid_argument("source", "SOURCE_NOT_ALLOWED", message)
        }
        WalletError::InvalidTransition { from } => precondition(
            "INVALID_STATUS_TRANSITION",
            &[("status", from.as_str().to_owned())],
        ),
        WalletError::BalanceNotZero { balance } => {
            precondition("BALANCE_NOT_ZERO", &[("balance", balance.to_string())])
        }
        WalletError::BalanceCeilingExceeded { ceiling } => precondition(
            "BALANCE_CEILING_EXCEEDED",
            &[("ceiling", ceiling.to_string())],
        ),
        WalletError::OpenHolds { count } => {
            precondition("OPEN_HOLDS", &[("open_holds", count.to_string())])
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
