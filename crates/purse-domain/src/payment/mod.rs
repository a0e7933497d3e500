//! The payments gateway's deciders: payment intents (one stream per intent) and each owner's
//! stored cards (one stream per tenant and owner).
//!
//! An intent goes `requires_payment_method` → `processing` → `succeeded` | `failed` |
//! `canceled`; refunds follow a capture and never exceed it. What the provider reports arrives
//! as `Record*` commands carrying the provider's event id: the intent remembers the ids it
//! applied, so a provider's retry (or a capture learnt both from the synchronous answer and from
//! the webhook) is accepted and changes nothing. A capture is recorded even after a cancel or a
//! decline, because money moved; the top-up saga refunds it.
//!
//! Cards enter only as [`CardDetails`] (brand, last 4, expiry, provider token), which cannot
//! hold a card number.

#![warn(missing_docs)]

mod command;
mod decide;
mod error;
mod event;
mod state;
mod types;

#[cfg(test)]
mod tests;

use rust_decimal::Decimal;
use uuid::Uuid;

pub use command::{
    CreatePayment, PaymentAction, PaymentCommand, PaymentMethodsAction, PaymentMethodsCommand,
};
pub use error::{PaymentError, PaymentField, PaymentMethodsError, PaymentMethodsField};
pub use event::{
    PaymentEvent, PaymentEventKind, PaymentIntentCreated, PaymentMethodsEvent,
    PaymentMethodsEventKind,
};
pub use state::{
    PaymentIntent, PaymentMethod, PaymentMethods, PaymentMethodsState, PaymentState, Refund,
};
pub use types::{
    CARD_EXP_YEARS, CancelReason, CardBrand, CardDetails, CardError, DeclineReason,
    MAX_PROVIDER_ID_BYTES, PAN_MIN_DIGITS, PaymentStatus, ProviderEventId, ProviderEventIdError,
    RefundFailureReason, RefundReason, RefundStatus,
};

use crate::decider::{Context, Decider};
use crate::idempotency::Fingerprint;
use crate::support::derived_id;

/// Most refunds one intent may have (pending, succeeded and failed together).
pub const MAX_REFUNDS_PER_PAYMENT: usize = 32;
/// Most cards one owner may store.
pub const MAX_PAYMENT_METHODS_PER_OWNER: usize = 20;

/// The stream holding the stored cards of `owner` in `tenant`: a UUID version 8 from the
/// SHA-256 of a length-prefixed encoding of both, so every service finds it without a lookup and
/// no two (tenant, owner) pairs share one.
pub fn payment_methods_stream_id(tenant: &str, owner: &str) -> Uuid {
    derived_id(
        b"purse.payment-methods-id.v1\0",
        &[tenant.as_bytes(), owner.as_bytes()],
    )
}

/// The payment intent decider.
#[derive(Copy, Clone, Debug, Default)]
pub struct PaymentDecider;

/// What a successful payment command returns (and what a replay returns again).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PaymentOutcome {
    /// Status after the command.
    pub status: PaymentStatus,
    /// Captured amount after the command.
    pub captured: Decimal,
    /// Σ succeeded refunds after the command.
    pub refunded: Decimal,
    /// The new refund's id, for `RequestRefund`.
    pub refund_id: Option<Uuid>,
    /// True when the command was a provider event already applied: nothing changed.
    pub provider_repeat: bool,
}

impl Decider for PaymentDecider {
    type State = PaymentState;
    type Command = PaymentCommand;
    type Event = PaymentEvent;
    type Error = PaymentError;
    type Outcome = PaymentOutcome;

    fn decide(
        state: &PaymentState,
        command: &PaymentCommand,
        ctx: &Context,
    ) -> Result<Vec<PaymentEvent>, PaymentError> {
        decide::decide(state, command, ctx)
    }

    fn evolve(state: PaymentState, event: &PaymentEvent) -> PaymentState {
        state.apply(event)
    }

    fn outcome(state: &PaymentState, events: &[PaymentEvent]) -> PaymentOutcome {
        let refund_id = events.iter().find_map(|event| match &event.kind {
            PaymentEventKind::RefundRequested { refund_id, .. } => Some(*refund_id),
            _ => None,
        });
        match state.intent() {
            Some(intent) => PaymentOutcome {
                status: intent.status(),
                captured: intent.captured(),
                refunded: intent.refunded(),
                refund_id,
                provider_repeat: events.is_empty(),
            },
            // Only reachable for a caller that asks about a command that created nothing.
            None => PaymentOutcome {
                status: PaymentStatus::RequiresPaymentMethod,
                captured: Decimal::ZERO,
                refunded: Decimal::ZERO,
                refund_id,
                provider_repeat: events.is_empty(),
            },
        }
    }

    fn stream_id(command: &PaymentCommand) -> Uuid {
        command.payment_id
    }

    fn tenant(command: &PaymentCommand) -> &str {
        &command.tenant
    }

    fn fingerprint(command: &PaymentCommand) -> Fingerprint {
        command.fingerprint()
    }
}

/// The stored-cards decider (one stream per tenant and owner).
#[derive(Copy, Clone, Debug, Default)]
pub struct PaymentMethodsDecider;

/// What a successful payment-methods command returns.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PaymentMethodsOutcome {
    /// The card saved or removed.
    pub payment_method_id: Option<Uuid>,
    /// How many cards the owner stores after the command.
    pub count: usize,
}

impl Decider for PaymentMethodsDecider {
    type State = PaymentMethodsState;
    type Command = PaymentMethodsCommand;
    type Event = PaymentMethodsEvent;
    type Error = PaymentMethodsError;
    type Outcome = PaymentMethodsOutcome;

    fn decide(
        state: &PaymentMethodsState,
        command: &PaymentMethodsCommand,
        ctx: &Context,
    ) -> Result<Vec<PaymentMethodsEvent>, PaymentMethodsError> {
        decide::decide_methods(state, command, ctx)
    }

    fn evolve(state: PaymentMethodsState, event: &PaymentMethodsEvent) -> PaymentMethodsState {
        state.apply(event)
    }

    fn outcome(
        state: &PaymentMethodsState,
        events: &[PaymentMethodsEvent],
    ) -> PaymentMethodsOutcome {
        let payment_method_id = events
            .iter()
            .map(|event| match &event.kind {
                PaymentMethodsEventKind::PaymentMethodSaved {
                    payment_method_id, ..
                }
                | PaymentMethodsEventKind::PaymentMethodRemoved { payment_method_id } => {
                    *payment_method_id
                }
            })
            .next();
        PaymentMethodsOutcome {
            payment_method_id,
            count: state.methods().map_or(0, |methods| methods.methods.len()),
        }
    }

    fn stream_id(command: &PaymentMethodsCommand) -> Uuid {
        command.stream_id()
    }

    fn tenant(command: &PaymentMethodsCommand) -> &str {
        &command.tenant
    }

    fn fingerprint(command: &PaymentMethodsCommand) -> Fingerprint {
        command.fingerprint()
    }
}
