//! Saving a card on its first successful payment.

use super::*;
use crate::decider::Decider;
use crate::payment::{
    CardBrand, CardDetails, PaymentDecider, PaymentEvent, PaymentEventKind, PaymentIntentCreated,
    PaymentMethodsAction, PaymentMethodsCommand, PaymentState, PaymentStatus, ProviderEventId,
};

fn card() -> CardDetails {
    CardDetails::new(CardBrand::Visa, "4242", 12, 2030, "tok_visa").expect("card")
}

fn intent(save_card: bool, stored: Option<Uuid>, late: bool) -> (PaymentState, PaymentEvent) {
    let mut kinds = vec![
        PaymentEventKind::PaymentIntentCreated(PaymentIntentCreated {
            payment_id: payment_id(),
            tenant: TENANT.into(),
            owner: "customer-1".into(),
            asset: usd(),
            amount: d("20"),
            top_up_id: Some(top_up_id()),
            payment_method_id: None,
            expires_at: None,
        }),
        PaymentEventKind::PaymentSubmitted {
            card: card(),
            payment_method_id: stored,
            save_card,
        },
    ];
    let mut previous_status = PaymentStatus::Processing;
    if late {
        kinds.push(PaymentEventKind::PaymentCanceled {
            reason: crate::payment::CancelReason::TopUpExpired,
        });
        previous_status = PaymentStatus::Canceled;
    }
    kinds.push(PaymentEventKind::PaymentSucceeded {
        provider_event_id: ProviderEventId::parse("evt").expect("id"),
        amount: d("20"),
        previous_status,
    });
    let events: Vec<_> = kinds
        .into_iter()
        .map(|kind| PaymentEvent {
            occurred_at: NOW,
            kind,
        })
        .collect();
    let state = events.iter().fold(PaymentState::default(), |state, event| {
        PaymentDecider::evolve(state, event)
    });
    (state, events.last().expect("events").clone())
}

#[test]
fn a_card_the_payer_asked_to_save_is_saved_on_success() {
    let (state, event) = intent(true, None, false);
    let intent = state.intent().expect("intent");
    let dispatch = save_card_on_success(intent, &event).expect("saved");
    assert_eq!(
        dispatch.idempotency_key.as_str(),
        format!("payment:{}:save-card", payment_id())
    );
    assert_eq!(
        dispatch.command,
        DispatchCommand::PaymentMethods(PaymentMethodsCommand {
            tenant: TENANT.into(),
            owner: "customer-1".into(),
            action: PaymentMethodsAction::Save {
                card: card(),
                source_payment_id: Some(payment_id()),
            },
        })
    );
}

#[test]
fn no_card_is_saved_without_consent_twice_or_for_a_refunded_capture() {
    for (save, stored, late) in [
        (false, None, false),
        (true, None, true),
        (false, Some(method_id()), false),
    ] {
        let (state, event) = intent(save, stored, late);
        assert_eq!(
            save_card_on_success(state.intent().expect("intent"), &event),
            None,
            "save {save}, stored {stored:?}, late {late}"
        );
    }
    let (state, _) = intent(true, None, false);
    let other = PaymentEvent {
        occurred_at: NOW,
        kind: PaymentEventKind::PaymentCanceled {
            reason: crate::payment::CancelReason::Abandoned,
        },
    };
    assert_eq!(
        save_card_on_success(state.intent().expect("intent"), &other),
        None
    );
}
