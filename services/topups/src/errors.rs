//! The one place where every failure of the top-ups service becomes a `tonic::Status`, with a
//! precise code and a machine-readable reason. Client-caused rejections never map to INTERNAL.

use purse_domain::saga::AutoTopUpError;
use purse_domain::topup::TopUpError;
use purse_runtime::auth::{AuthError, Scope};
use purse_runtime::shard::CommandError;
use purse_runtime::status::{
    command_status, invalid_argument, invalid_argument_with, store_status, with_reason,
};
use purse_store::StoreError;
use tonic::{Code, Status};
use tracing::error;

/// Why a top-ups call failed.
#[derive(thiserror::Error, Debug)]
pub(crate) enum ApiError {
    /// UNAUTHENTICATED `UNAUTHENTICATED`.
    #[error("unauthenticated: {0}")]
    Unauthenticated(AuthError),
    /// PERMISSION_DENIED `MISSING_SCOPE`.
    #[error("token lacks scope {}", .0.as_str())]
    PermissionDenied(Scope),
    /// INVALID_ARGUMENT with the given reason, naming the field.
    #[error("{field}: {description}")]
    InvalidArgument {
        field: String,
        reason: &'static str,
        description: String,
    },
    /// NOT_FOUND `WALLET_NOT_FOUND`: no wallet, or one of another tenant.
    #[error("wallet not found")]
    WalletNotFound,
    /// FAILED_PRECONDITION `WALLET_SUSPENDED` / `WALLET_CLOSED`: the wallet cannot receive a
    /// credit, so nobody is asked to pay for one.
    #[error("wallet is {status}")]
    WalletNotOpen { status: String },
    /// NOT_FOUND `TOP_UP_NOT_FOUND`: no top-up, or one of another tenant.
    #[error("top-up not found")]
    TopUpNotFound,
    /// NOT_FOUND `AUTO_TOP_UP_NOT_FOUND`: the wallet has no (or no longer a) rule.
    #[error("auto top-up rule not found")]
    AutoTopUpNotFound,
    /// NOT_FOUND `PAYMENT_METHOD_NOT_FOUND`: not a stored card of the wallet's owner.
    #[error("payment method not found for the wallet's owner")]
    PaymentMethodNotFound,
    /// The top-up shard's answer.
    #[error(transparent)]
    TopUp(#[from] CommandError<TopUpError>),
    /// The auto top-up shard's answer.
    #[error(transparent)]
    AutoTopUp(#[from] CommandError<AutoTopUpError>),
    /// UNAVAILABLE `PROJECTION_LAGGING`: `min_sequence` not reached in time.
    #[error("read model did not reach sequence {min_sequence} in time")]
    NotVisibleYet { min_sequence: u64 },
    /// Page errors are INVALID_ARGUMENT; the rest UNAVAILABLE `STORE_UNAVAILABLE`.
    #[error("read store: {0}")]
    Store(#[from] StoreError),
    /// INTERNAL `CORRUPT_READ_MODEL`: a stored row that no valid write produces.
    #[error("read model holds an invalid {what}")]
    CorruptRow { what: &'static str },
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
            ApiError::WalletNotOpen { status } => {
                let reason = if status == "closed" {
                    "WALLET_CLOSED"
                } else {
                    "WALLET_SUSPENDED"
                };
                with_reason(
                    Code::FailedPrecondition,
                    reason,
                    message,
                    &[("status", status)],
                )
            }
            ApiError::TopUpNotFound => {
                with_reason(Code::NotFound, "TOP_UP_NOT_FOUND", message, &[])
            }
            ApiError::AutoTopUpNotFound => {
                with_reason(Code::NotFound, "AUTO_TOP_UP_NOT_FOUND", message, &[])
            }
            ApiError::PaymentMethodNotFound => {
                with_reason(Code::NotFound, "PAYMENT_METHOD_NOT_FOUND", message, &[])
            }
            ApiError::TopUp(command) => command_status(command, top_up_rejection),
            ApiError::AutoTopUp(command) => command_status(command, auto_top_up_rejection),
            ApiError::NotVisibleYet { min_sequence } => with_reason(
                Code::Unavailable,
                "PROJECTION_LAGGING",
                message,
                &[("min_sequence", min_sequence.to_string())],
            ),
            ApiError::Store(store) => store_status(store),
            ApiError::CorruptRow { what } => {
                error!(what, "read model row is invalid");
                with_reason(Code::Internal, "CORRUPT_READ_MODEL", message, &[])
            }
        }
    }
}

/// Every variant written out, so a new rule of the decider forces a decision here.
fn top_up_rejection(err: TopUpError) -> Status {
    let message = err.to_string();
    let precondition = |reason: &str, metadata: &[(&str, String)]| {
        with_reason(Code::FailedPrecondition, reason, message.clone(), metadata)
    };
    match err {
        TopUpError::NotFound => with_reason(Code::NotFound, "TOP_UP_NOT_FOUND", message, &[]),
        // The id is derived from the idempotency key, so this is the same key after its
        // retention window (or a key reused across kinds of request).
        TopUpError::AlreadyExists => {
            with_reason(Code::AlreadyExists, "TOP_UP_ALREADY_EXISTS", message, &[])
        }
        TopUpError::InvalidAmount { field, error } => {
            invalid_argument(field.as_str(), "INVALID_AMOUNT", error.to_string())
        }
        TopUpError::InvalidText { field, .. } => {
            invalid_argument(field.as_str(), "INVALID_TEXT", message)
        }
        TopUpError::WalletAmountBelowAmount { .. } => {
            invalid_argument("wallet_amount", "WALLET_AMOUNT_BELOW_AMOUNT", message)
        }
        // The timeout comes from configuration, which is validated at start; still the
        // caller's request that cannot be served as configured, never INTERNAL.
        TopUpError::InvalidTimeout { .. } => precondition("INVALID_TIMEOUT", &[]),
        TopUpError::LotExpiryTooSoon { earliest } => invalid_argument_with(
            "lots_expire_at_ms",
            "LOT_EXPIRY_TOO_SOON",
            message,
            // The earliest accepted value tells the client what to send instead.
            &[("earliest_ms", earliest.as_millis().to_string())],
        ),
        TopUpError::PaymentMethodRequired { .. } => {
            invalid_argument("payment_method_id", "PAYMENT_METHOD_REQUIRED", message)
        }
        TopUpError::PaymentMethodNotAllowed { .. } => {
            invalid_argument("payment_method_id", "PAYMENT_METHOD_NOT_ALLOWED", message)
        }
        TopUpError::InvalidTransition { from } => precondition(
            "TOP_UP_INVALID_STATE",
            &[("status", from.as_str().to_owned())],
        ),
        // Only the saga sends the commands below; a client never reaches them through this
        // service, but the mapping stays exhaustive and precise.
        TopUpError::PaymentMismatch { .. } => {
            invalid_argument("payment_id", "PAYMENT_MISMATCH", message)
        }
        TopUpError::CaptureAmountMismatch { .. } => {
            invalid_argument("amount", "CAPTURE_AMOUNT_MISMATCH", message)
        }
        TopUpError::PaymentNotCaptured => precondition("PAYMENT_NOT_CAPTURED", &[]),
        TopUpError::AlreadyCaptured => precondition("PAYMENT_ALREADY_CAPTURED", &[]),
        TopUpError::DeadlineNotReached { expires_at } => precondition(
            "DEADLINE_NOT_REACHED",
            &[("expires_at_ms", expires_at.as_millis().to_string())],
        ),
        TopUpError::GrantedCreditMismatch { .. } => {
            invalid_argument("granted", "GRANTED_CREDIT_MISMATCH", message)
        }
    }
}

/// Every variant written out, so a new rule of the decider forces a decision here.
fn auto_top_up_rejection(err: AutoTopUpError) -> Status {
    let message = err.to_string();
    match err {
        AutoTopUpError::NotFound => {
            with_reason(Code::NotFound, "AUTO_TOP_UP_NOT_FOUND", message, &[])
        }
        AutoTopUpError::InvalidText { field, .. } => {
            invalid_argument(field.as_str(), "INVALID_TEXT", message)
        }
        AutoTopUpError::InvalidAmount { field, error } => {
            invalid_argument(field.as_str(), "INVALID_AMOUNT", error.to_string())
        }
        AutoTopUpError::TargetNotAboveThreshold { .. } => {
            invalid_argument("target_balance", "TARGET_NOT_ABOVE_THRESHOLD", message)
        }
        AutoTopUpError::InvalidDailyCap { .. } => {
            invalid_argument("daily_max_count", "INVALID_DAILY_CAP", message)
        }
        AutoTopUpError::CapBelowAmount { .. } => {
            invalid_argument("daily_max_amount", "DAILY_CAP_BELOW_AMOUNT", message)
        }
        AutoTopUpError::InvalidBackoff { .. } => {
            invalid_argument("backoff_ms", "INVALID_BACKOFF", message)
        }
        // The timeout comes from configuration; see the top-up's InvalidTimeout.
        AutoTopUpError::InvalidTimeout { .. } => {
            with_reason(Code::FailedPrecondition, "INVALID_TIMEOUT", message, &[])
        }
        AutoTopUpError::AssetMismatch { expected } => with_reason(
            Code::FailedPrecondition,
            "ASSET_MISMATCH",
            message,
            &[("expected", expected)],
        ),
    }
}
