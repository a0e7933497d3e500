//! Proto ↔ domain for `purse.payment.v1`: requests become payment commands, read-model rows and
//! replies become messages. An enum value the wire does not know is INVALID_ARGUMENT naming the
//! field; a stored row that no write produces is INTERNAL, never a silent UNSPECIFIED.

use purse_domain::Timestamp;
use purse_domain::idempotency::IdempotencyKey;
use purse_domain::money::Asset;
use purse_domain::payment::{
    CancelReason, CreatePayment, PaymentAction, PaymentOutcome, PaymentStatus, RefundReason,
};
use purse_proto::payment::v1 as pb;
use purse_runtime::edge::{ApiError, asset_error, parse_amount, parse_key, parse_uuid};
use purse_runtime::shard::CommandReply;
use purse_store::{PaymentMethodRow, PaymentRow};
use rust_decimal::Decimal;
use uuid::Uuid;

type ApiResult<T> = Result<T, ApiError>;

/// A CreatePaymentIntent request as a command: the payment id derives from the tenant and key.
pub(crate) struct Creation {
    /// The request's idempotency key.
    pub(crate) key: IdempotencyKey,
    /// `PaymentAction::Create`.
    pub(crate) action: PaymentAction,
}

impl TryFrom<pb::CreatePaymentIntentRequest> for Creation {
    type Error = ApiError;

    fn try_from(r: pb::CreatePaymentIntentRequest) -> ApiResult<Self> {
        let key = parse_key(&r.idempotency_key)?;
        let asset = Asset::parse(&r.asset, r.asset_scale).map_err(asset_error)?;
        let payment_method_id = (!r.payment_method_id.is_empty())
            .then(|| parse_uuid(&r.payment_method_id, "payment_method_id"))
            .transpose()?;
        Ok(Self {
            key,
            action: PaymentAction::Create(CreatePayment {
                owner: r.owner,
                asset,
                amount: parse_amount(&r.amount, "amount")?,
                top_up_id: None,
                payment_method_id,
                expires_at: r.expires_at_ms.map(Timestamp::from_millis),
            }),
        })
    }
}

/// A request that changes one existing payment intent, as a command.
pub(crate) struct Change {
    /// The intent addressed.
    pub(crate) payment_id: Uuid,
    /// The request's idempotency key.
    pub(crate) key: IdempotencyKey,
    /// What to do.
    pub(crate) action: PaymentAction,
}

impl TryFrom<pb::CancelPaymentIntentRequest> for Change {
    type Error = ApiError;

    fn try_from(r: pb::CancelPaymentIntentRequest) -> ApiResult<Self> {
        let payment_id = parse_uuid(&r.payment_id, "payment_id")?;
        let key = parse_key(&r.idempotency_key)?;
        let reason = match pb::CancelReason::try_from(r.reason) {
            // The proto's default: requested by the customer.
            Ok(pb::CancelReason::Unspecified | pb::CancelReason::RequestedByCustomer) => {
                CancelReason::RequestedByCustomer
            }
            Ok(pb::CancelReason::Abandoned) => CancelReason::Abandoned,
            Err(_) => {
                return Err(ApiError::invalid(
                    "reason",
                    "INVALID_ENUM",
                    "unknown cancel reason",
                ));
            }
        };
        Ok(Self {
            payment_id,
            key,
            action: PaymentAction::Cancel { reason },
        })
    }
}

impl TryFrom<pb::RefundPaymentRequest> for Change {
    type Error = ApiError;

    fn try_from(r: pb::RefundPaymentRequest) -> ApiResult<Self> {
        let payment_id = parse_uuid(&r.payment_id, "payment_id")?;
        let key = parse_key(&r.idempotency_key)?;
        let reason = match pb::RefundReason::try_from(r.reason) {
            // The proto's default: requested by the customer.
            Ok(pb::RefundReason::Unspecified | pb::RefundReason::RequestedByCustomer) => {
                RefundReason::RequestedByCustomer
            }
            Ok(pb::RefundReason::Duplicate) => RefundReason::Duplicate,
            Ok(pb::RefundReason::Fraudulent) => RefundReason::Fraudulent,
            Err(_) => {
                return Err(ApiError::invalid(
                    "reason",
                    "INVALID_ENUM",
                    "unknown refund reason",
                ));
            }
        };
        Ok(Self {
            payment_id,
            key,
            action: PaymentAction::RequestRefund {
                amount: parse_amount(&r.amount, "amount")?,
                reason,
            },
        })
    }
}

fn status_message(status: PaymentStatus) -> pb::PaymentStatus {
    match status {
        PaymentStatus::RequiresPaymentMethod => pb::PaymentStatus::RequiresPaymentMethod,
        PaymentStatus::Processing => pb::PaymentStatus::Processing,
        PaymentStatus::Succeeded => pb::PaymentStatus::Succeeded,
        PaymentStatus::Failed => pb::PaymentStatus::Failed,
        PaymentStatus::Canceled => pb::PaymentStatus::Canceled,
    }
}

/// The reply to a command on one intent.
pub(crate) fn intent_response(
    payment_id: Uuid,
    reply: &CommandReply<PaymentOutcome>,
) -> pb::PaymentIntentResponse {
    let outcome = &reply.outcome;
    pb::PaymentIntentResponse {
        payment_id: payment_id.to_string(),
        status: status_message(outcome.status) as i32,
        captured: outcome.captured.to_string(),
        refunded: outcome.refunded.to_string(),
        refund_id: outcome
            .refund_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        sequence: reply.sequence,
        replayed: reply.replayed,
    }
}

/// An intent row as a message; a status no write produces is a corrupt row.
pub(crate) fn intent_message(row: PaymentRow) -> ApiResult<pb::PaymentIntent> {
    let status = PaymentStatus::parse(&row.status).ok_or(ApiError::CorruptRow {
        what: "payment status",
    })?;
    let card = match (
        row.card_brand,
        row.card_last4,
        row.card_exp_month,
        row.card_exp_year,
    ) {
        (Some(brand), Some(last4), Some(exp_month), Some(exp_year)) => Some(pb::CardSummary {
            brand,
            last4,
            exp_month,
            exp_year,
        }),
        _ => None,
    };
    let zero = Decimal::new(0, row.amount.scale());
    Ok(pb::PaymentIntent {
        payment_id: row.payment_id.to_string(),
        owner: row.owner,
        asset: row.asset,
        amount: row.amount.to_string(),
        status: status_message(status) as i32,
        top_up_id: row.top_up_id.map(|id| id.to_string()).unwrap_or_default(),
        payment_method_id: row
            .payment_method_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        card,
        decline_reason: row.decline_reason.unwrap_or_default(),
        cancel_reason: row.cancel_reason.unwrap_or_default(),
        captured: row.captured.unwrap_or(zero).to_string(),
        refunded: row.refunded.unwrap_or(zero).to_string(),
        created_at_ms: row.created_at_ms,
        updated_at_ms: row.updated_at_ms,
        version: row.version,
    })
}

/// A stored card as a message (brand, last 4 and expiry only: the number is never stored).
pub(crate) fn method_message(row: PaymentMethodRow) -> pb::PaymentMethod {
    pb::PaymentMethod {
        payment_method_id: row.payment_method_id.to_string(),
        owner: row.owner,
        brand: row.brand,
        last4: row.last4,
        exp_month: row.exp_month,
        exp_year: row.exp_year,
        created_at_ms: row.created_at_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_reason_is_an_invalid_argument_naming_the_field() {
        let request = pb::RefundPaymentRequest {
            payment_id: Uuid::nil().to_string(),
            idempotency_key: "k".into(),
            amount: "1".into(),
            reason: 42,
        };
        match Change::try_from(request) {
            Err(ApiError::InvalidArgument { field, reason, .. }) => {
                assert_eq!((field.as_str(), reason), ("reason", "INVALID_ENUM"));
            }
            other => panic!("expected INVALID_ARGUMENT, got {:?}", other.err()),
        }
    }
}
