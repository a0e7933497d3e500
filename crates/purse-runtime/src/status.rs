//! gRPC errors with machine-readable reasons: a `google.rpc.ErrorInfo` on every error and a
//! `google.rpc.BadRequest` naming the field on INVALID_ARGUMENT.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

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

/// OUT_OF_RANGE naming the field whose value is past its limit (a page size above the most).
pub fn out_of_range(field: &str, reason: &str, description: impl Into<String>) -> Status {
    bad_field(Code::OutOfRange, field, reason, description.into(), &[])
}

/// `code` with an ErrorInfo (`reason`, metadata `field` and `extra`) and a BadRequest violation
/// of `field`.
pub(crate) fn bad_field(
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
