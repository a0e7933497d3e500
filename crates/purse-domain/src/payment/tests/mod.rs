//! Given/when/then tests of the payment rules: intents, refunds and stored cards, plus a
//! property test of the intent against a reference model.

mod intent;
mod methods;
mod model;
mod refunds;

use rust_decimal::Decimal;
use uuid::Uuid;

use super::*;
use crate::event::EventKind;
use crate::support::harness::*;
use crate::time::Timestamp;

pub(super) fn payment_id() -> Uuid {
    Uuid::from_u128(0xBA1)
}

pub(super) fn top_up_id() -> Uuid {
    Uuid::from_u128(0x70B)
}

pub(super) fn method_id() -> Uuid {
    Uuid::from_u128(0x3E7)
}

pub(super) fn deadline() -> Timestamp {
    now_plus(5 * MINUTE_MS)
}

pub(super) fn card() -> CardDetails {
    card_with_token("tok_visa_1")
}

pub(super) fn card_with_token(token: &str) -> CardDetails {
    CardDetails::new(CardBrand::Visa, "4242", 12, 2030, token).expect("test card")
}

pub(super) fn pe(text: &str) -> ProviderEventId {
    ProviderEventId::parse(text).expect("test provider event id")
}

pub(super) fn created_with(
    amount: &str,
    payment_method_id: Option<Uuid>,
    expires_at: Option<Timestamp>,
) -> PaymentEventKind {
    PaymentEventKind::PaymentIntentCreated(PaymentIntentCreated {
        payment_id: payment_id(),
        tenant: TENANT.into(),
        owner: "customer-1".into(),
        asset: usd(),
        amount: d(amount),
        top_up_id: Some(top_up_id()),
        payment_method_id,
        expires_at,
    })
}

/// A hosted-page intent of 20.00 USD, payable until [`deadline`].
pub(super) fn created() -> PaymentEventKind {
    created_with("20.00", None, Some(deadline()))
}

pub(super) fn submitted(save_card: bool) -> PaymentEventKind {
    PaymentEventKind::PaymentSubmitted {
        card: card(),
        payment_method_id: None,
        save_card,
    }
}

pub(super) fn succeeded(event: &str, previous_status: PaymentStatus) -> PaymentEventKind {
    PaymentEventKind::PaymentSucceeded {
        provider_event_id: pe(event),
        amount: d("20.00"),
        previous_status,
    }
}

pub(super) fn failed(event: &str, reason: DeclineReason) -> PaymentEventKind {
    PaymentEventKind::PaymentFailed {
        provider_event_id: pe(event),
        reason,
    }
}

pub(super) fn canceled() -> PaymentEventKind {
    PaymentEventKind::PaymentCanceled {
        reason: CancelReason::TopUpExpired,
    }
}

pub(super) fn command(action: PaymentAction) -> PaymentCommand {
    PaymentCommand {
        tenant: TENANT.into(),
        payment_id: payment_id(),
        action,
    }
}

pub(super) fn given_created(
    history: impl IntoIterator<Item = PaymentEventKind>,
) -> Given<PaymentDecider> {
    given(
        std::iter::once(created())
            .chain(history)
            .map(early::<PaymentEvent>),
    )
}

/// An intent submitted and captured early on DAY0.
pub(super) fn given_captured(
    history: impl IntoIterator<Item = PaymentEventKind>,
) -> Given<PaymentDecider> {
    given_created(
        [
            submitted(false),
            succeeded("evt_capture", PaymentStatus::Processing),
        ]
        .into_iter()
        .chain(history),
    )
}

pub(super) fn record_succeeded(event: &str, amount: &str) -> PaymentCommand {
    command(PaymentAction::RecordSucceeded {
        provider_event_id: pe(event),
        amount: d(amount),
    })
}

pub(super) fn intent(state: &PaymentState) -> &PaymentIntent {
    state.intent().expect("intent")
}

pub(super) fn zero() -> Decimal {
    Decimal::ZERO
}

mod harness_checks {
    use super::*;

    #[test]
    #[should_panic(expected = "applied before PaymentIntentCreated")]
    fn evolve_refuses_events_before_creation() {
        given::<PaymentDecider>([early(submitted(false))]);
    }

    #[test]
    #[should_panic(expected = "provider event evt_capture applied twice")]
    fn evolve_refuses_a_provider_event_twice() {
        given_captured([PaymentEventKind::RefundRequested {
            refund_id: id(1),
            amount: d("1"),
            reason: RefundReason::RequestedByCustomer,
            refundable_after: d("19"),
        }])
        .state
        .apply(&early(PaymentEventKind::RefundSucceeded {
            provider_event_id: pe("evt_capture"),
            refund_id: id(1),
            amount: d("1"),
            refunded_after: d("1"),
        }));
    }

    #[test]
    #[should_panic(expected = "refundable_after")]
    fn evolve_checks_refundable_after() {
        given_captured([PaymentEventKind::RefundRequested {
            refund_id: id(1),
            amount: d("5"),
            reason: RefundReason::RequestedByCustomer,
            refundable_after: d("16"),
        }]);
    }

    #[test]
    fn fingerprint_is_stable_and_sensitive_to_every_field() {
        let refund = |tenant: &str, amount: &str, reason| PaymentCommand {
            tenant: tenant.into(),
            payment_id: payment_id(),
            action: PaymentAction::RequestRefund {
                amount: d(amount),
                reason,
            },
        };
        let base = refund(TENANT, "5", RefundReason::LateCapture).fingerprint();
        assert_eq!(
            base,
            refund(TENANT, "5.00", RefundReason::LateCapture).fingerprint()
        );
        assert_ne!(
            base,
            refund("other", "5", RefundReason::LateCapture).fingerprint()
        );
        assert_ne!(
            base,
            refund(TENANT, "5.01", RefundReason::LateCapture).fingerprint()
        );
        assert_ne!(
            base,
            refund(TENANT, "5", RefundReason::Duplicate).fingerprint()
        );
        let submit = |token: &str, save_card| {
            command(PaymentAction::Submit {
                card: card_with_token(token),
                payment_method_id: None,
                save_card,
            })
            .fingerprint()
        };
        assert_ne!(submit("tok_a", false), submit("tok_b", false));
        assert_ne!(submit("tok_a", false), submit("tok_a", true));
        let save = |owner: &str| PaymentMethodsCommand {
            tenant: TENANT.into(),
            owner: owner.into(),
            action: PaymentMethodsAction::Save {
                card: card(),
                source_payment_id: None,
            },
        };
        assert_ne!(save("a").fingerprint(), save("b").fingerprint());
    }

    #[test]
    fn event_types_are_the_stable_names() {
        assert_eq!(
            early::<PaymentEvent>(created()).event_type(),
            "PaymentIntentCreated"
        );
        assert_eq!(
            early::<PaymentEvent>(succeeded("e", PaymentStatus::Processing)).event_type(),
            "PaymentSucceeded"
        );
        assert_eq!(
            early::<PaymentEvent>(canceled()).event_type(),
            "PaymentCanceled"
        );
        assert_eq!(
            PaymentMethodsEventKind::PaymentMethodRemoved {
                payment_method_id: id(1)
            }
            .event_type(),
            "PaymentMethodRemoved"
        );
    }

    #[test]
    fn the_payment_methods_stream_is_derived_from_tenant_and_owner() {
        let stream = payment_methods_stream_id(TENANT, "customer-1");
        assert_eq!(stream, payment_methods_stream_id(TENANT, "customer-1"));
        assert_eq!(stream.get_version_num(), 8);
        assert_ne!(stream, payment_methods_stream_id(TENANT, "customer-2"));
        assert_ne!(stream, payment_methods_stream_id("other", "customer-1"));
        // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        assert_ne!(
            payment_methods_stream_id("ab", "c"),
            payment_methods_stream_id("a", "bc")
        );
    }
}
