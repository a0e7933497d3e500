//! gRPC errors with machine-readable reasons: a `google.rpc.ErrorInfo` on every error and a
//! `google.rpc.BadRequest` naming the field on INVALID_ARGUMENT.

use std::collections::HashMap;

use purse_store::StoreError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tracing::error;

use crate::shard::CommandError;

/// Error domain in every ErrorInfo.
pub const ERROR_DOMAIN: &str = "purse.dev";

/// A status with `reason` and key/value details.
pub fn with_reason(
    code: Code,
    reason: &str,
    message: impl Into<String>,
    metadata: &[(&str, String)],
) -> Status {
    let metadata: HashMap<String, String> = metadata
        .iter()
        .map(|(key, value)| ((*key).to_owned(), value.clone()))
        .collect();
    let details = ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata);
    Status::with_error_details(code, message, details)
}

/// INVALID_ARGUMENT naming the offending field.
pub fn invalid_argument(field: &str, reason: &str, description: impl Into<String>) -> Status {
    bad_field(
        Code::InvalidArgument,
        field,
        reason,
        description.into(),
        &[],
    )
}

/// INVALID_ARGUMENT like [`invalid_argument`], with more key/value details beside `field`.
pub fn invalid_argument_with(
    field: &str,
    reason: &str,
    description: impl Into<String>,
    extra: &[(&str, String)],
) -> Status {
    bad_field(
        Code::InvalidArgument,
        field,
        reason,
        description.into(),
        extra,
    )
}

/// OUT_OF_RANGE naming the field whose value is past its limit (a page size above the most).
pub fn out_of_range(field: &str, reason: &str, description: impl Into<String>) -> Status {
    bad_field(Code::OutOfRange, field, reason, description.into(), &[])
}

/// `code` with an ErrorInfo (`reason`, metadata `field` and `extra`) and a BadRequest violation
/// of `field`.
fn bad_field(
    code: Code,
    field: &str,
    reason: &str,
    description: String,
    extra: &[(&str, String)],
) -> Status {
    let metadata: HashMap<String, String> = std::iter::once(("field".to_owned(), field.to_owned()))
        .chain(
            extra
                .iter()
                .map(|(key, value)| ((*key).to_owned(), value.clone())),
        )
        .collect();
    let mut details = ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata);
    details.add_bad_request_violation(field, description.clone());
    Status::with_error_details(code, format!("{field}: {description}"), details)
}

/// The code and ErrorInfo reason of a status that the gRPC machinery produced before any handler
/// ran: a request over the size limit (which tonic reports as OUT_OF_RANGE) is RESOURCE_EXHAUSTED
/// `REQUEST_TOO_LARGE`, as the gRPC spec has it; anything else keeps its code, named as reason.
pub fn machinery_status(status: &Status) -> (Code, &'static str) {
    if status.message().contains("message length too large") {
        return (Code::ResourceExhausted, "REQUEST_TOO_LARGE");
    }
    (status.code(), purse_proto::status_code_name(status.code()))
}

/// The reason and metadata of a status's ErrorInfo, if it carries one.
pub fn error_info(status: &Status) -> Option<(String, HashMap<String, String>)> {
    status
        .get_details_error_info()
        .map(|info| (info.reason, info.metadata))
}

/// The status of a command that did not succeed; `rejection` maps the decider's own errors.
pub fn command_status<E: std::error::Error>(
    err: CommandError<E>,
    rejection: impl FnOnce(E) -> Status,
) -> Status {
    let message = err.to_string();
    match err {
        CommandError::Rejected(rejected) => rejection(rejected),
        CommandError::IdempotencyKeyReused => with_reason(
            Code::FailedPrecondition,
            "IDEMPOTENCY_KEY_REUSED",
            message,
            &[],
        ),
        CommandError::Retry => with_reason(Code::Aborted, "CONCURRENT_WRITE", message, &[]),
        CommandError::StreamHalted => {
            error!("command refused: stream halted after a sequence gap");
            with_reason(Code::Internal, "STREAM_HALTED", message, &[])
        }
        CommandError::Unavailable(_) => {
            with_reason(Code::Unavailable, "SHARD_UNAVAILABLE", message, &[])
        }
        CommandError::Timeout { .. } => {
            with_reason(Code::DeadlineExceeded, "REPLY_TIMEOUT", message, &[])
        }
    }
}

/// The status of a failed read-model query: bad page arguments are the caller's, anything else
/// is the store's (logged, UNAVAILABLE so clients retry).
pub fn store_status(err: StoreError) -> Status {
    match err {
        StoreError::InvalidPageToken => {
            invalid_argument("page_token", "INVALID_PAGE_TOKEN", err.to_string())
        }
        StoreError::PageSizeTooLarge { max } => {
            out_of_range("page_size", "PAGE_SIZE_TOO_LARGE", format!("at most {max}"))
        }
        other => {
            error!(error = %other, "read store failed");
            with_reason(
                Code::Unavailable,
                "STORE_UNAVAILABLE",
                other.to_string(),
                &[],
            )
        }
    }
}
