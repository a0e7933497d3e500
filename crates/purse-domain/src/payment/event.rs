//! Payment and payment-method events: past-tense facts with stable names.

use crate::event::{Event, EventKind};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::command::CreatePayment;
use super::types::{
    CancelReason, CardDetails, DeclineReason, PaymentStatus, ProviderEventId, RefundFailureReason,
    RefundReason,
};
use crate::money::Asset;
use crate::time::Timestamp;

/// A fact about one payment intent, at the time it was decided.
pub type PaymentEvent = Event<PaymentEventKind>;

/// What happened to a payment intent. Amounts are at the asset's scale.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum PaymentEventKind {
    /// The intent was created and waits for a card.
    PaymentIntentCreated(PaymentIntentCreated),
    /// A card was submitted; the provider is processing the charge.
    PaymentSubmitted {
        /// The tokenized card.
        card: CardDetails,
        /// The stored card's id, when one is charged.
        payment_method_id: Option<Uuid>,
        /// Whether the payer asked to save the card.
        save_card: bool,
    },
    /// The provider captured the funds.
    PaymentSucceeded {
        /// The provider's id of the capture.
        provider_event_id: ProviderEventId,
        /// How much was captured (the intent's amount).
        amount: Decimal,
        /// The status the intent had before: `canceled` or `failed` mean the capture came after
        /// the intent had been given up (a late capture, which the top-up saga refunds).
        previous_status: PaymentStatus,
    },
    /// The provider declined.
    PaymentFailed {
        /// The provider's id of the answer.
        provider_event_id: ProviderEventId,
        /// Why.
        reason: DeclineReason,
    },
    /// The intent was cancelled before capture.
    PaymentCanceled {
        /// Why.
        reason: CancelReason,
    },
    /// A refund was asked of the provider; its amount is no longer refundable.
    RefundRequested {
        /// The refund's id.
        refund_id: Uuid,
        /// How much.
        amount: Decimal,
        /// Why.
        reason: RefundReason,
        /// What may still be refunded after this request.
        refundable_after: Decimal,
    },
    /// The provider returned the money of a refund.
    RefundSucceeded {
        /// The provider's id of the answer.
        provider_event_id: ProviderEventId,
        /// The refund.
        refund_id: Uuid,
        /// How much was returned (the refund's amount).
        amount: Decimal,
        /// Σ succeeded refunds after this one.
        refunded_after: Decimal,
    },
    /// The provider could not return the money of a refund; the amount is refundable again.
    RefundFailed {
        /// The provider's id of the answer.
        provider_event_id: ProviderEventId,
        /// The refund.
        refund_id: Uuid,
        /// The refund's amount.
        amount: Decimal,
        /// Why.
        reason: RefundFailureReason,
        /// What may be refunded after this failure.
        refundable_after: Decimal,
    },
}

/// A payment intent that was created ([`PaymentEventKind::PaymentIntentCreated`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PaymentIntentCreated {
    /// The intent (and stream) id.
    pub payment_id: Uuid,
    /// The owning tenant.
    pub tenant: String,
    /// Who pays.
    pub owner: String,
    /// The currency charged.
    pub asset: Asset,
    /// How much is charged.
    pub amount: Decimal,
    /// The top-up this payment funds, if any.
    pub top_up_id: Option<Uuid>,
    /// The stored card to charge, if any.
    pub payment_method_id: Option<Uuid>,
    /// No card may be submitted from this instant on.
    pub expires_at: Option<Timestamp>,
}

impl PaymentIntentCreated {
    /// The intent `create` asks for, as payment `payment_id` of `tenant`.
    pub(crate) fn new(payment_id: Uuid, tenant: String, create: CreatePayment) -> Self {
        Self {
            payment_id,
            tenant,
            owner: create.owner,
            asset: create.asset,
            amount: create.amount,
            top_up_id: create.top_up_id,
            payment_method_id: create.payment_method_id,
            expires_at: create.expires_at,
        }
    }
}

impl EventKind for PaymentEventKind {
    fn event_type(&self) -> &'static str {
        match self {
            Self::PaymentIntentCreated { .. } => "PaymentIntentCreated",
            Self::PaymentSubmitted { .. } => "PaymentSubmitted",
            Self::PaymentSucceeded { .. } => "PaymentSucceeded",
            Self::PaymentFailed { .. } => "PaymentFailed",
            Self::PaymentCanceled { .. } => "PaymentCanceled",
            Self::RefundRequested { .. } => "RefundRequested",
            Self::RefundSucceeded { .. } => "RefundSucceeded",
            Self::RefundFailed { .. } => "RefundFailed",
        }
    }
}

impl PaymentEventKind {
    /// The provider event id the fact came with, if the provider reported it.
    pub fn provider_event_id(&self) -> Option<&ProviderEventId> {
        match self {
            Self::PaymentSucceeded {
                provider_event_id, ..
            }
            | Self::PaymentFailed {
                provider_event_id, ..
            }
            | Self::RefundSucceeded {
                provider_event_id, ..
            }
            | Self::RefundFailed {
                provider_event_id, ..
            } => Some(provider_event_id),
            Self::PaymentIntentCreated { .. }
            | Self::PaymentSubmitted { .. }
            | Self::PaymentCanceled { .. }
            | Self::RefundRequested { .. } => None,
        }
    }
}

/// A fact about one owner's stored cards.
pub type PaymentMethodsEvent = Event<PaymentMethodsEventKind>;

/// What happened to an owner's stored cards.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum PaymentMethodsEventKind {
    /// A card was stored. Carries tenant and owner because the first save creates the stream.
    PaymentMethodSaved {
        /// The new payment method's id.
        payment_method_id: Uuid,
        /// The owning tenant.
        tenant: String,
        /// The integrator's customer id.
        owner: String,
        /// The tokenized card.
        card: CardDetails,
        /// The payment during which the payer asked to save it, if any.
        source_payment_id: Option<Uuid>,
    },
    /// A stored card was forgotten.
    PaymentMethodRemoved {
        /// The payment method.
        payment_method_id: Uuid,
    },
}

impl EventKind for PaymentMethodsEventKind {
    fn event_type(&self) -> &'static str {
        match self {
            Self::PaymentMethodSaved { .. } => "PaymentMethodSaved",
            Self::PaymentMethodRemoved { .. } => "PaymentMethodRemoved",
        }
    }
}
