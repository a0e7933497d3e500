//! Payment and payment-method commands and their canonical fingerprints.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::types::{
    CancelReason, CardDetails, DeclineReason, ProviderEventId, RefundFailureReason, RefundReason,
};
use crate::idempotency::Fingerprint;
use crate::money::Asset;
use crate::support::Encoder;
use crate::time::Timestamp;

/// A request to change one payment intent, on behalf of one tenant.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PaymentCommand {
    /// The caller's tenant; an intent of another tenant is reported as not found.
    pub tenant: String,
    /// The payment intent (and stream) addressed.
    pub payment_id: Uuid,
    /// What to do.
    pub action: PaymentAction,
}

/// What a payment command asks for. `Record*` actions report what the provider did (from its
/// synchronous answer or a webhook) and carry the provider's event id, by which repeats are
/// ignored.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentAction {
    /// Create the intent.
    Create(CreatePayment),
    /// A card was entered on the hosted page, or a stored card is being charged.
    Submit {
        /// The tokenized card.
        card: CardDetails,
        /// The stored card's id, when charging one; must match the intent's.
        payment_method_id: Option<Uuid>,
        /// Save the card as a payment method of the owner once the payment succeeds.
        save_card: bool,
    },
    /// The provider captured the funds.
    RecordSucceeded {
        /// The provider's id of this capture: the same from the synchronous answer and from the
        /// webhook, so the second report is recognised as a repeat.
        provider_event_id: ProviderEventId,
        /// How much was captured; must be the intent's amount (no partial captures).
        amount: Decimal,
    },
    /// The provider declined.
    RecordFailed {
        /// The provider's id of this answer.
        provider_event_id: ProviderEventId,
        /// Why.
        reason: DeclineReason,
    },
    /// Cancel before capture.
    Cancel {
        /// Why.
        reason: CancelReason,
    },
    /// Give (part of) a captured amount back.
    RequestRefund {
        /// How much; at most what is still refundable.
        amount: Decimal,
        /// Why.
        reason: RefundReason,
    },
    /// The provider returned the money of a pending refund.
    RecordRefundSucceeded {
        /// The provider's id of this answer.
        provider_event_id: ProviderEventId,
        /// The refund.
        refund_id: Uuid,
    },
    /// The provider could not return the money of a pending refund.
    RecordRefundFailed {
        /// The provider's id of this answer.
        provider_event_id: ProviderEventId,
        /// The refund.
        refund_id: Uuid,
        /// Why.
        reason: RefundFailureReason,
    },
}

/// What creating a payment intent asks for ([`PaymentAction::Create`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CreatePayment {
    /// Who pays: the integrator's customer id (1..=255 bytes).
    pub owner: String,
    /// The currency charged.
    pub asset: Asset,
    /// How much is charged.
    pub amount: Decimal,
    /// The top-up this payment funds, if any.
    pub top_up_id: Option<Uuid>,
    /// The stored card to charge; none when the payer enters a card on the hosted page.
    pub payment_method_id: Option<Uuid>,
    /// No card may be submitted from this instant on (the top-up's deadline); must be in
    /// the future.
    pub expires_at: Option<Timestamp>,
}

impl PaymentAction {
    /// The provider event id of a `Record*` action; None for commands Purse originates.
    pub fn provider_event_id(&self) -> Option<&ProviderEventId> {
        match self {
            Self::RecordSucceeded {
                provider_event_id, ..
            }
            | Self::RecordFailed {
                provider_event_id, ..
            }
            | Self::RecordRefundSucceeded {
                provider_event_id, ..
            }
            | Self::RecordRefundFailed {
                provider_event_id, ..
            } => Some(provider_event_id),
            Self::Create { .. }
            | Self::Submit { .. }
            | Self::Cancel { .. }
            | Self::RequestRefund { .. } => None,
        }
    }
}

fn card(enc: &mut Encoder, card: &CardDetails) {
    enc.str(card.brand().as_str());
    enc.str(card.last4());
    enc.u64(card.exp_month().into());
    enc.u64(card.exp_year().into());
    enc.str(card.provider_token());
}

impl PaymentCommand {
    /// Canonical, stable hash of tenant, payment id and every action field (used to detect
    /// idempotency-key reuse with a different request).
    pub fn fingerprint(&self) -> Fingerprint {
        let mut enc = Encoder::new("purse.payment.command.v1");
        enc.str(&self.tenant);
        enc.uuid(self.payment_id);
        match &self.action {
            PaymentAction::Create(create) => {
                enc.str("create");
                enc.str(&create.owner);
                enc.str(create.asset.code());
                enc.u64(create.asset.scale().into());
                enc.decimal(create.amount);
                enc.option(create.top_up_id, Encoder::uuid);
                enc.option(create.payment_method_id, Encoder::uuid);
                enc.option(create.expires_at, Encoder::timestamp);
            }
            PaymentAction::Submit {
                card: details,
                payment_method_id,
                save_card,
            } => {
                enc.str("submit");
                card(&mut enc, details);
                enc.option(*payment_method_id, Encoder::uuid);
                enc.bool(*save_card);
            }
            PaymentAction::RecordSucceeded {
                provider_event_id,
                amount,
            } => {
                enc.str("record_succeeded");
                enc.str(provider_event_id.as_str());
                enc.decimal(*amount);
            }
            PaymentAction::RecordFailed {
                provider_event_id,
                reason,
            } => {
                enc.str("record_failed");
                enc.str(provider_event_id.as_str());
                enc.str(reason.as_str());
            }
            PaymentAction::Cancel { reason } => {
                enc.str("cancel");
                enc.str(reason.as_str());
            }
            PaymentAction::RequestRefund { amount, reason } => {
                enc.str("request_refund");
                enc.decimal(*amount);
                enc.str(reason.as_str());
            }
            PaymentAction::RecordRefundSucceeded {
                provider_event_id,
                refund_id,
            } => {
                enc.str("record_refund_succeeded");
                enc.str(provider_event_id.as_str());
                enc.uuid(*refund_id);
            }
            PaymentAction::RecordRefundFailed {
                provider_event_id,
                refund_id,
                reason,
            } => {
                enc.str("record_refund_failed");
                enc.str(provider_event_id.as_str());
                enc.uuid(*refund_id);
                enc.str(reason.as_str());
            }
        }
        enc.finish()
    }
}

/// A request to change the stored cards of one owner. The stream is
/// [`super::payment_methods_stream_id`]`(tenant, owner)`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PaymentMethodsCommand {
    /// The caller's tenant.
    pub tenant: String,
    /// The integrator's customer id whose cards these are.
    pub owner: String,
    /// What to do.
    pub action: PaymentMethodsAction,
}

/// What a payment-methods command asks for.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethodsAction {
    /// Store a card for later charges.
    Save {
        /// The tokenized card.
        card: CardDetails,
        /// The payment during which the payer asked to save it, if any.
        source_payment_id: Option<Uuid>,
    },
    /// Forget a stored card.
    Remove {
        /// The stored card.
        payment_method_id: Uuid,
    },
}

impl PaymentMethodsCommand {
    /// The stream this command addresses.
    pub fn stream_id(&self) -> Uuid {
        super::payment_methods_stream_id(&self.tenant, &self.owner)
    }

    /// Canonical, stable hash of tenant, owner and every action field.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut enc = Encoder::new("purse.payment_methods.command.v1");
        enc.str(&self.tenant);
        enc.str(&self.owner);
        match &self.action {
            PaymentMethodsAction::Save {
                card: details,
                source_payment_id,
            } => {
                enc.str("save");
                card(&mut enc, details);
                enc.option(*source_payment_id, Encoder::uuid);
            }
            PaymentMethodsAction::Remove { payment_method_id } => {
                enc.str("remove");
                enc.uuid(*payment_method_id);
            }
        }
        enc.finish()
    }
}
