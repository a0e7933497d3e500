//! The one place where every failure of the payments gRPC service becomes a `tonic::Status`,
//! with a precise code and a machine-readable reason. Client-caused rejections never map to
//! INTERNAL.

use purse_domain::payment::PaymentError;
use purse_runtime::auth::{AuthError, Scope};
use purse_runtime::shard::CommandError;
use purse_runtime::status::{command_status, invalid_argument, store_status, with_reason};
use purse_store::StoreError;
use tonic::{Code, Status};

/// Why a payments call failed.
#[derive(thiserror::Error, Debug)]
pub(crate) enum ApiError {
    /// UNAUTHENTICATED `UNAUTHENTICATED`.
    #[error("unauthenticated: {0}")]
    Unauthenticated(AuthError),
    /// PERMISSION_DENIED `MISSING_SCOPE`.
    #[error("token lacks scope {}", .0.as_str())]
    PermissionDenied(Scope),
    /// INVALID_ARGUMENT with the field and reason.
    #[error("{field}: {description}")]
    InvalidArgument {
        field: String,
        reason: &'static str,
        description: String,
    },
    /// NOT_FOUND `PAYMENT_NOT_FOUND`: no intent in the read model for this tenant.
    #[error("payment not found")]
    PaymentNotFound,
    /// The command path's answer.
    #[error(transparent)]
    Command(#[from] CommandError<PaymentError>),
    /// UNAVAILABLE `STORE_UNAVAILABLE` (or INVALID_ARGUMENT for page parameters).
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
            ApiError::PaymentNotFound => {
                with_reason(Code::NotFound, "PAYMENT_NOT_FOUND", message, &[])
            }
            ApiError::Command(command) => command_status(command, rejection_status),
            ApiError::Store(store) => store_status(store),
        }
    }
}

fn rejection_status(err: PaymentError) -> Status {
    let message = err.to_string();
    let precondition = |reason: &str, metadata: &[(&str, String)]| {
        with_reason(Code::FailedPrecondition, reason, message.clone(), metadata)
    };
    match err {
        PaymentError::NotFound => with_reason(Code::NotFound, "PAYMENT_NOT_FOUND", message, &[]),
        PaymentError::AlreadyExists => {
            with_reason(Code::AlreadyExists, "PAYMENT_ALREADY_EXISTS", message, &[])
        }
        PaymentError::InvalidAmount { field, error } => {
            invalid_argument(field.as_str(), "INVALID_AMOUNT", error.to_string())
        }
        PaymentError::InvalidText { field, .. } => {
            invalid_argument(field.as_str(), "INVALID_TEXT", message)
        }
        PaymentError::ExpiryNotInFuture => {
            invalid_argument("expires_at_ms", "EXPIRY_NOT_IN_FUTURE", message)
        }
        PaymentError::InvalidTransition { from } => precondition(
            "PAYMENT_INVALID_STATE",
            &[("status", from.as_str().to_owned())],
        ),
        PaymentError::Expired { expires_at } => precondition(
            "PAYMENT_EXPIRED",
            &[("expires_at_ms", expires_at.as_millis().to_string())],
        ),
        PaymentError::CardExpired => precondition("CARD_EXPIRED", &[]),
        PaymentError::PaymentMethodMismatch { expected } => invalid_argument(
            "payment_method_id",
            "PAYMENT_METHOD_MISMATCH",
            match expected {
                Some(id) => format!("{message}: expected {id}"),
                None => message,
            },
        ),
        PaymentError::CardAlreadyStored => {
            invalid_argument("save_card", "CARD_ALREADY_STORED", message)
        }
        PaymentError::CaptureAmountMismatch { expected } => precondition(
            "CAPTURE_AMOUNT_MISMATCH",
            &[("expected", expected.to_string())],
        ),
        PaymentError::RefundExceedsCaptured { refundable } => precondition(
            "REFUND_EXCEEDS_CAPTURED",
            &[("refundable", refundable.to_string())],
        ),
        PaymentError::TooManyRefunds { max } => with_reason(
            Code::ResourceExhausted,
            "TOO_MANY_REFUNDS",
            message,
            &[("max", max.to_string())],
        ),
        PaymentError::RefundNotFound => {
            with_reason(Code::NotFound, "REFUND_NOT_FOUND", message, &[])
        }
        PaymentError::RefundNotPending { status } => precondition(
            "REFUND_NOT_PENDING",
            &[("status", status.as_str().to_owned())],
        ),
    }
}
