//! Saving a card on its first payment: a stateless reaction to a payment's capture.

use crate::payment::{
    PaymentEvent, PaymentEventKind, PaymentIntent, PaymentMethodsAction, PaymentMethodsCommand,
};
use crate::saga::dispatch::{Dispatch, DispatchCommand, derived_key};

/// The command that stores the card of a payment that just succeeded, when the payer asked to
/// save it: only for a capture in time (a late capture is refunded, so the payer's request is
/// void) and only for a card that is not stored already. Stateless: the payment's state and the
/// event say everything, and the key (one per payment) makes a repeat harmless.
pub fn save_card_on_success(intent: &PaymentIntent, event: &PaymentEvent) -> Option<Dispatch> {
    let PaymentEventKind::PaymentSucceeded {
        previous_status, ..
    } = &event.kind
    else {
        return None;
    };
    if !previous_status.is_open() || !intent.save_card() || intent.payment_method_id().is_some() {
        return None;
    }
    let card = intent.card()?.clone();
    Some(Dispatch {
        idempotency_key: derived_key(format!("payment:{}:save-card", intent.id())),
        command: DispatchCommand::PaymentMethods(PaymentMethodsCommand {
            tenant: intent.tenant().to_owned(),
            owner: intent.owner().to_owned(),
            action: PaymentMethodsAction::Save {
                card,
                source_payment_id: Some(intent.id()),
            },
        }),
    })
}
