//! The gRPC edge every service shares: one authorisation check, one error type and its one
//! exhaustive mapping to `tonic::Status`, and the conversions of request fields that every
//! service parses the same way.
//!
//! The engine names no decider: a decider's rejections reach the wire through [`Rejections`],
//! which each stream binding implements (in `purse-streams`).

use std::convert::Infallible;

use purse_domain::Decider;
use purse_domain::idempotency::IdempotencyKey;
use purse_domain::money::{AssetError, parse_decimal};
use purse_store::{PageRequest, StoreError};
use rust_decimal::Decimal;
use tonic::{Request, Status};
use tracing::error;
use uuid::Uuid;

use crate::auth::{AuthError, Principal, Scope, TokenKey, bearer};
use crate::shard::CommandError;
use crate::status::{bad_field, invalid_argument, out_of_range, with_reason};

/// The status codes a [`Wire`] names, re-exported so that [`Rejections`] need no tonic.
pub use tonic::Code;

/// How a decider's errors appear on the wire, implemented by each stream binding (in
/// `purse-streams`) with one exhaustive `match`, so that a new rule forces a decision about its
/// code, reason and field.
pub trait Rejections: Decider + 'static {
    /// The code, reason, field and details of `error`.
    fn wire(error: &Self::Error) -> Wire<'_>;
}

/// A rejection kept with the binding that knows its wire form.
struct Rejected<D: Rejections>(D::Error);

impl<D: Rejections> std::fmt::Debug for Rejected<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl<D: Rejections> std::fmt::Display for Rejected<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl<D: Rejections> std::error::Error for Rejected<D> {}

/// A decider's rejection, whatever the decider: what [`ApiError::Rejected`] holds.
pub trait Rejection: std::error::Error + Send + Sync {
    /// Its wire form, as its binding's [`Rejections::wire`] gives it.
    fn wire(&self) -> Wire<'_>;
}

impl<D: Rejections> Rejection for Rejected<D> {
    fn wire(&self) -> Wire<'_> {
        D::wire(&self.0)
    }
}

/// How a rejection appears on the wire: a code, a machine-readable reason and, for a rejection of
/// one request field, that field's proto name (the status then carries a BadRequest violation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wire<'a> {
    /// The gRPC status code.
    pub code: Code,
    /// The machine-readable reason in the status's ErrorInfo (`INSUFFICIENT_FUNDS`).
    pub reason: &'static str,
    /// The request field at fault, by its proto name.
    pub field: Option<&'a str>,
    /// Key/value details beside the reason (what the client may send instead, for example).
    pub details: Vec<(&'static str, String)>,
    /// What is wrong, for people.
    pub description: String,
}

impl<'a> Wire<'a> {
    /// `code` and `reason`, described by the rejection's own text.
    pub fn new(code: Code, reason: &'static str, rejection: &impl std::fmt::Display) -> Self {
        Self {
            code,
            reason,
            field: None,
            details: Vec::new(),
            description: rejection.to_string(),
        }
    }

    /// INVALID_ARGUMENT `reason` of `field`.
    pub fn invalid(
        field: &'a str,
        reason: &'static str,
        rejection: &impl std::fmt::Display,
    ) -> Self {
        Self::new(Code::InvalidArgument, reason, rejection).field(field)
    }

    /// FAILED_PRECONDITION `reason`.
    pub fn precondition(reason: &'static str, rejection: &impl std::fmt::Display) -> Self {
        Self::new(Code::FailedPrecondition, reason, rejection)
    }

    /// The request field at fault.
    pub fn field(self, field: &'a str) -> Self {
        Self {
            field: Some(field),
            ..self
        }
    }

    /// One more key/value detail.
    pub fn detail(mut self, key: &'static str, value: impl ToString) -> Self {
        self.details.push((key, value.to_string()));
        self
    }

    /// A more precise description than the rejection's own text.
    pub fn description(self, description: impl ToString) -> Self {
        Self {
            description: description.to_string(),
            ..self
        }
    }

    fn status(self) -> Status {
        match self.field {
            Some(field) => bad_field(
                self.code,
                field,
                self.reason,
                self.description,
                &self.details,
            ),
            None => with_reason(self.code, self.reason, self.description, &self.details),
        }
    }
}

/// Why a call of any service failed. [`From<ApiError> for Status`] is the only place where a
/// failure becomes a status; client-caused failures never map to INTERNAL.
#[derive(thiserror::Error, Debug)]
pub enum ApiError {
    /// UNAUTHENTICATED `UNAUTHENTICATED`: no token, or one that does not verify.
    #[error("unauthenticated: {0}")]
    Unauthenticated(AuthError),
    /// PERMISSION_DENIED `MISSING_SCOPE`: the token lacks the RPC's scope.
    #[error("token lacks scope {}", .0.as_str())]
    PermissionDenied(Scope),
    /// INVALID_ARGUMENT with `reason`, naming the field: a request that cannot become a command.
    #[error("{field}: {description}")]
    InvalidArgument {
        /// The proto name of the field ("limits.max_balance").
        field: String,
        /// The machine-readable reason.
        reason: &'static str,
        /// What is wrong with it.
        description: String,
    },
    /// NOT_FOUND with `reason`: nothing of that id in the read model for the caller's tenant
    /// (another tenant's is never revealed).
    #[error("{what} not found")]
    NotFound {
        /// What was looked up ("wallet").
        what: &'static str,
        /// The machine-readable reason (`WALLET_NOT_FOUND`).
        reason: &'static str,
    },
    /// The decider's rejection, with its own code and reason (see [`ApiError::command`]).
    #[error("rejected: {0}")]
    Rejected(Box<dyn Rejection>),
    /// The command path failed before or after the decider (never a rejection: see
    /// [`ApiError::Rejected`]).
    #[error(transparent)]
    Command(CommandError<Infallible>),
    /// UNAVAILABLE `PROJECTION_LAGGING`: the read model did not reach `min_sequence` in time.
    #[error("read model did not reach sequence {min_sequence} in time")]
    NotVisibleYet {
        /// The sequence the caller asked to see.
        min_sequence: u64,
    },
    /// Page errors are the caller's (INVALID_ARGUMENT, OUT_OF_RANGE); the rest UNAVAILABLE
    /// `STORE_UNAVAILABLE`.
    #[error("read store: {0}")]
    Store(#[from] StoreError),
    /// FAILED_PRECONDITION with `reason`: the read model holds what the query needs only after
    /// a rebuild (rows projected before a column it reads was recorded).
    #[error("{description}")]
    NotRecorded {
        /// The machine-readable reason (`AS_OF_NOT_RECORDED`).
        reason: &'static str,
        /// What is missing and how to get it.
        description: String,
    },
    /// INTERNAL `CORRUPT_READ_MODEL`: a stored row that no valid write produces.
    #[error("read model holds an invalid {what}")]
    CorruptRow {
        /// What is invalid ("top-up status").
        what: &'static str,
    },
}

impl ApiError {
    /// INVALID_ARGUMENT naming `field`.
    pub fn invalid(
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

impl ApiError {
    /// The failure of a command of `D`: its rejections keep `D`'s wire form.
    pub fn command<D: Rejections>(err: CommandError<D::Error>) -> Self {
        let other = match err {
            CommandError::Rejected(rejection) => {
                return ApiError::Rejected(Box::new(Rejected::<D>(rejection)));
            }
            CommandError::IdempotencyKeyReused => CommandError::IdempotencyKeyReused,
            CommandError::Retry => CommandError::Retry,
            CommandError::StreamHalted => CommandError::StreamHalted,
            CommandError::Unavailable(why) => CommandError::Unavailable(why),
            CommandError::Timeout { timeout_ms } => CommandError::Timeout { timeout_ms },
        };
        ApiError::Command(other)
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
            ApiError::NotFound { reason, .. } => with_reason(Code::NotFound, reason, message, &[]),
            ApiError::Rejected(rejection) => rejection.wire().status(),
            ApiError::Command(command) => command_status(command),
            ApiError::NotVisibleYet { min_sequence } => with_reason(
                Code::Unavailable,
                "PROJECTION_LAGGING",
                message,
                &[("min_sequence", min_sequence.to_string())],
            ),
            ApiError::Store(store) => store_status(store),
            ApiError::NotRecorded { reason, .. } => {
                with_reason(Code::FailedPrecondition, reason, message, &[])
            }
            ApiError::CorruptRow { what } => {
                error!(what, "read model row is invalid");
                with_reason(Code::Internal, "CORRUPT_READ_MODEL", message, &[])
            }
        }
    }
}

fn command_status(err: CommandError<Infallible>) -> Status {
    let message = err.to_string();
    match err {
        CommandError::Rejected(never) => match never {},
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

/// Bad page arguments are the caller's; anything else is the store's (logged, UNAVAILABLE so
/// clients retry).
fn store_status(err: StoreError) -> Status {
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

/// Checks every call of a service: a bearer token that verifies under the deployment's key and
/// holds the RPC's scope.
#[derive(Clone, Debug)]
pub struct Authorizer {
    key: TokenKey,
}

impl Authorizer {
    /// Checks tokens signed with `key`.
    pub fn new(key: TokenKey) -> Self {
        Self { key }
    }

    /// The caller of `request`, if it may call an RPC that needs `scope`.
    pub fn authorize<T>(&self, request: &Request<T>, scope: Scope) -> Result<Principal, ApiError> {
        let token = bearer(request.metadata()).map_err(ApiError::Unauthenticated)?;
        let principal = self.key.verify(token).map_err(ApiError::Unauthenticated)?;
        if principal.has(scope) {
            Ok(principal)
        } else {
            Err(ApiError::PermissionDenied(scope))
        }
    }
}

/// A UUID field (`INVALID_ID` otherwise, an empty one included).
pub fn parse_uuid(text: &str, field: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::invalid(field, "INVALID_ID", "must be a UUID"))
}

/// A text field that must be set (`MISSING_FIELD` when empty).
pub fn required<'a>(text: &'a str, field: &str) -> Result<&'a str, ApiError> {
    if text.is_empty() {
        return Err(ApiError::invalid(
            field,
            "MISSING_FIELD",
            format!("{field} is required"),
        ));
    }
    Ok(text)
}

/// A UUID field that must be set: empty is `MISSING_FIELD`, anything else not a UUID
/// `INVALID_ID`.
pub fn parse_required_uuid(text: &str, field: &str) -> Result<Uuid, ApiError> {
    parse_uuid(required(text, field)?, field)
}

/// The `idempotency_key` field.
pub fn parse_key(text: &str) -> Result<IdempotencyKey, ApiError> {
    IdempotencyKey::parse(text).map_err(|err| {
        let reason = if text.is_empty() {
            "MISSING_IDEMPOTENCY_KEY"
        } else {
            "INVALID_IDEMPOTENCY_KEY"
        };
        ApiError::invalid("idempotency_key", reason, err)
    })
}

/// A decimal amount field, syntax only: sign, scale and range against the asset are the
/// deciders' rules.
pub fn parse_amount(text: &str, field: &str) -> Result<Decimal, ApiError> {
    parse_decimal(text).map_err(|err| ApiError::invalid(field, "INVALID_AMOUNT", err))
}

/// An `asset`/`asset_scale` pair that does not name an asset: `INVALID_ASSET` on the field at
/// fault.
pub fn asset_error(err: AssetError) -> ApiError {
    let field = match err {
        AssetError::ScaleMismatch { .. }
        | AssetError::ScaleRequired
        | AssetError::ScaleOutOfRange { .. } => "asset_scale",
        AssetError::UnknownCurrency { .. } | AssetError::InvalidCode => "asset",
    };
    ApiError::invalid(field, "INVALID_ASSET", err)
}

/// The page a list request asks for (an empty token is the first page).
pub fn page_request(page_size: u32, page_token: String) -> PageRequest {
    PageRequest {
        page_size,
        page_token: (!page_token.is_empty()).then_some(page_token),
    }
}

#[cfg(test)]
mod tests {
    use tonic_types::StatusExt;

    use super::*;
    use crate::status::error_info;

    fn reason(status: &Status) -> String {
        error_info(status).expect("ErrorInfo").0
    }

    #[test]
    fn a_rejection_of_a_field_names_it_in_a_bad_request_and_keeps_its_details() {
        let status = Wire::invalid("lots_expire_at_ms", "LOT_EXPIRY_TOO_SOON", &"too soon")
            .detail("earliest_ms", 42)
            .status();
        assert_eq!(status.code(), Code::InvalidArgument);
        let (reason, metadata) = error_info(&status).expect("ErrorInfo");
        assert_eq!(reason, "LOT_EXPIRY_TOO_SOON");
        assert_eq!(metadata["field"], "lots_expire_at_ms");
        assert_eq!(metadata["earliest_ms"], "42");
        let violations = status.get_details_bad_request().expect("BadRequest");
        assert_eq!(violations.field_violations[0].field, "lots_expire_at_ms");
        let precondition = Wire::precondition("WALLET_CLOSED", &"wallet is closed").status();
        assert_eq!(precondition.code(), Code::FailedPrecondition);
        assert!(precondition.get_details_bad_request().is_none());
    }

    #[test]
    fn every_failure_outside_the_decider_has_its_own_code_and_reason() {
        let cases = [
            (
                ApiError::PermissionDenied(Scope::Admin),
                Code::PermissionDenied,
                "MISSING_SCOPE",
            ),
            (
                ApiError::NotFound {
                    what: "thing",
                    reason: "THING_NOT_FOUND",
                },
                Code::NotFound,
                "THING_NOT_FOUND",
            ),
            (
                ApiError::Command(CommandError::Timeout { timeout_ms: 5 }),
                Code::DeadlineExceeded,
                "REPLY_TIMEOUT",
            ),
            (
                ApiError::Command(CommandError::IdempotencyKeyReused),
                Code::FailedPrecondition,
                "IDEMPOTENCY_KEY_REUSED",
            ),
            (
                ApiError::NotVisibleYet { min_sequence: 3 },
                Code::Unavailable,
                "PROJECTION_LAGGING",
            ),
            (
                ApiError::NotRecorded {
                    reason: "AS_OF_NOT_RECORDED",
                    description: "rebuild".to_owned(),
                },
                Code::FailedPrecondition,
                "AS_OF_NOT_RECORDED",
            ),
            (
                ApiError::CorruptRow { what: "status" },
                Code::Internal,
                "CORRUPT_READ_MODEL",
            ),
            (
                ApiError::Store(StoreError::PageSizeTooLarge { max: 1000 }),
                Code::OutOfRange,
                "PAGE_SIZE_TOO_LARGE",
            ),
        ];
        for (err, code, expected) in cases {
            let status = Status::from(err);
            assert_eq!(
                (status.code(), reason(&status)),
                (code, expected.to_owned())
            );
        }
    }

    #[test]
    fn required_fields_and_ids_are_told_apart() {
        let reason_of = |err: ApiError| match err {
            ApiError::InvalidArgument { reason, .. } => reason,
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        };
        assert_eq!(
            reason_of(parse_required_uuid("", "wallet_id").unwrap_err()),
            "MISSING_FIELD"
        );
        assert_eq!(
            reason_of(parse_required_uuid("nope", "wallet_id").unwrap_err()),
            "INVALID_ID"
        );
        assert_eq!(
            reason_of(parse_uuid("", "wallet_id").unwrap_err()),
            "INVALID_ID"
        );
        assert_eq!(
            reason_of(parse_key("").unwrap_err()),
            "MISSING_IDEMPOTENCY_KEY"
        );
    }
}
