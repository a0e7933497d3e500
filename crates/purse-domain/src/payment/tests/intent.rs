//! Intent lifecycle: creation, submission, capture, decline, cancel and provider repeats.

use super::*;
use crate::money::AmountError;

fn create(amount: &str, owner: &str, expires_at: Option<Timestamp>) -> PaymentAction {
    PaymentAction::Create(CreatePayment {
        owner: owner.into(),
        asset: usd(),
        amount: d(amount),
        top_up_id: Some(top_up_id()),
        payment_method_id: None,
        expires_at,
    })
}

fn submit(payment_method_id: Option<Uuid>, save_card: bool) -> PaymentCommand {
    command(PaymentAction::Submit {
        card: card(),
        payment_method_id,
        save_card,
    })
}

fn record_failed(event: &str, reason: DeclineReason) -> PaymentCommand {
    command(PaymentAction::RecordFailed {
        provider_event_id: pe(event),
        reason,
    })
}

fn cancel() -> PaymentCommand {
    command(PaymentAction::Cancel {
        reason: CancelReason::TopUpExpired,
    })
}

#[test]
fn create_records_the_intent_at_the_asset_scale() {
    let (outcome, state) = given::<PaymentDecider>([])
        .when(command(create("20", "customer-1", Some(deadline()))))
        .then_outcome(vec![created()]);
    assert_eq!(
        outcome,
        PaymentOutcome {
            status: PaymentStatus::RequiresPaymentMethod,
            captured: zero(),
            refunded: zero(),
            refund_id: None,
            provider_repeat: false,
        }
    );
    let intent = intent(&state);
    assert_eq!(intent.amount().to_string(), "20.00");
    assert_eq!(
        (intent.id(), intent.tenant(), intent.owner()),
        (payment_id(), TENANT, "customer-1")
    );
    assert_eq!(
        (intent.top_up_id(), intent.expires_at(), intent.created_at()),
        (Some(top_up_id()), Some(deadline()), NOW)
    );
    assert_eq!(intent.captured().to_string(), "0.00");
}

#[test]
fn create_validates_tenant_owner_amount_and_deadline() {
    given::<PaymentDecider>([])
        .when(PaymentCommand {
            tenant: String::new(),
            payment_id: payment_id(),
            action: create("20", "customer-1", None),
        })
        .then_error(PaymentError::InvalidText {
            field: PaymentField::Tenant,
            max_bytes: 255,
        });
    for owner in [String::new(), "o".repeat(256)] {
        given::<PaymentDecider>([])
            .when(command(create("20", &owner, None)))
            .then_error(PaymentError::InvalidText {
                field: PaymentField::Owner,
                max_bytes: 255,
            });
    }
    for (amount, error) in [
        ("0", AmountError::NotPositive),
        ("-1", AmountError::NotPositive),
        ("1.001", AmountError::TooManyDecimals { max_scale: 2 }),
        ("1000000000000000.01", AmountError::TooLarge),
    ] {
        given::<PaymentDecider>([])
            .when(command(create(amount, "customer-1", None)))
            .then_error(PaymentError::InvalidAmount {
                field: PaymentField::Amount,
                error,
            });
    }
    for expires_at in [NOW, now_plus(-1)] {
        given::<PaymentDecider>([])
            .when(command(create("20", "customer-1", Some(expires_at))))
            .then_error(PaymentError::ExpiryNotInFuture);
    }
}

#[test]
fn create_of_an_existing_intent_is_already_exists() {
    given_created([])
        .when(command(create("20", "customer-1", None)))
        .then_error(PaymentError::AlreadyExists);
}

#[test]
fn only_create_is_accepted_before_the_intent_exists() {
    given::<PaymentDecider>([])
        .when(submit(None, false))
        .then_error(PaymentError::NotFound);
    given::<PaymentDecider>([])
        .when(record_succeeded("evt_1", "20"))
        .then_error(PaymentError::NotFound);
    given::<PaymentDecider>([])
        .when(cancel())
        .then_error(PaymentError::NotFound);
}

#[test]
fn another_tenant_cannot_see_the_intent() {
    for action in [
        create("20", "customer-1", None),
        PaymentAction::Cancel {
            reason: CancelReason::Abandoned,
        },
        PaymentAction::RecordSucceeded {
            provider_event_id: pe("evt_1"),
            amount: d("20"),
        },
    ] {
        given_created([])
            .when(PaymentCommand {
                tenant: "other".into(),
                payment_id: payment_id(),
                action,
            })
            .then_error(PaymentError::NotFound);
    }
}

#[test]
fn submit_moves_to_processing_and_keeps_the_card() {
    let state = given_created([])
        .when(submit(None, true))
        .then(vec![submitted(true)]);
    let intent = intent(&state);
    assert_eq!(intent.status(), PaymentStatus::Processing);
    assert_eq!(intent.card(), Some(&card()));
    assert!(intent.save_card());
}

#[test]
fn a_card_is_submitted_once() {
    given_created([submitted(false)])
        .when(submit(None, false))
        .then_error(PaymentError::InvalidTransition {
            from: PaymentStatus::Processing,
        });
    given_created([canceled()])
        .when(submit(None, false))
        .then_error(PaymentError::InvalidTransition {
            from: PaymentStatus::Canceled,
        });
}

#[test]
fn no_card_is_accepted_from_the_intent_deadline_on() {
    for at in [deadline(), deadline().plus_millis(1)] {
        given_created([])
            .when(submit(None, false))
            .at(at)
            .then_error(PaymentError::Expired {
                expires_at: deadline(),
            });
    }
    given_created([])
        .when(submit(None, false))
        .at(deadline().plus_millis(-1))
        .then(vec![submitted(false)]);
}

#[test]
fn an_intent_for_a_stored_card_charges_only_that_card() {
    let stored = [created_with("20.00", Some(method_id()), None)].map(early::<PaymentEvent>);
    given::<PaymentDecider>(stored.clone())
        .when(submit(None, false))
        .then_error(PaymentError::PaymentMethodMismatch {
            expected: Some(method_id()),
        });
    given::<PaymentDecider>(stored.clone())
        .when(submit(Some(id(9)), false))
        .then_error(PaymentError::PaymentMethodMismatch {
            expected: Some(method_id()),
        });
    given::<PaymentDecider>(stored)
        .when(submit(Some(method_id()), false))
        .then(vec![PaymentEventKind::PaymentSubmitted {
            card: card(),
            payment_method_id: Some(method_id()),
            save_card: false,
        }]);
}

#[test]
fn a_hosted_page_may_charge_a_stored_card_but_not_save_it_again() {
    let state = given_created([])
        .when(submit(Some(method_id()), false))
        .then(vec![PaymentEventKind::PaymentSubmitted {
            card: card(),
            payment_method_id: Some(method_id()),
            save_card: false,
        }]);
    assert_eq!(intent(&state).payment_method_id(), Some(method_id()));
    given_created([])
        .when(submit(Some(method_id()), true))
        .then_error(PaymentError::CardAlreadyStored);
}

#[test]
fn an_expired_card_is_refused() {
    // NOW is in October 2024.
    let expired = CardDetails::new(CardBrand::Visa, "4242", 9, 2024, "tok_old").expect("card");
    given_created([])
        .when(command(PaymentAction::Submit {
            card: expired,
            payment_method_id: None,
            save_card: false,
        }))
        .then_error(PaymentError::CardExpired);
}

#[test]
fn a_capture_succeeds_the_processing_intent() {
    let (outcome, state) = given_created([submitted(false)])
        .when(record_succeeded("evt_1", "20"))
        .then_outcome(vec![succeeded("evt_1", PaymentStatus::Processing)]);
    assert_eq!(
        (outcome.status, outcome.captured),
        (PaymentStatus::Succeeded, d("20"))
    );
    let intent = intent(&state);
    assert!(!intent.captured_late());
    assert_eq!(intent.refundable(), d("20"));
}

#[test]
fn a_webhook_capture_may_precede_the_recorded_submission() {
    given_created([])
        .when(record_succeeded("evt_1", "20"))
        .then(vec![succeeded(
            "evt_1",
            PaymentStatus::RequiresPaymentMethod,
        )]);
}

#[test]
fn a_capture_after_cancel_or_decline_is_recorded_as_late() {
    let state = given_created([submitted(false), canceled()])
        .when(record_succeeded("evt_1", "20"))
        .then(vec![succeeded("evt_1", PaymentStatus::Canceled)]);
    let intent = intent(&state);
    assert!(intent.captured_late());
    assert_eq!(intent.status(), PaymentStatus::Succeeded);
    assert_eq!(intent.cancel_reason(), Some(CancelReason::TopUpExpired));
    let state = given_created([
        submitted(false),
        failed("evt_0", DeclineReason::InsufficientFunds),
    ])
    .when(record_succeeded("evt_1", "20"))
    .then(vec![succeeded("evt_1", PaymentStatus::Failed)]);
    assert!(intent_late(&state));
}

fn intent_late(state: &PaymentState) -> bool {
    intent(state).captured_late()
}

#[test]
fn a_second_capture_is_refused() {
    given_captured([])
        .when(record_succeeded("evt_other", "20"))
        .then_error(PaymentError::InvalidTransition {
            from: PaymentStatus::Succeeded,
        });
}

#[test]
fn a_capture_must_be_of_the_whole_amount() {
    for amount in ["19.99", "20.01"] {
        given_created([submitted(false)])
            .when(record_succeeded("evt_1", amount))
            .then_error(PaymentError::CaptureAmountMismatch { expected: d("20") });
    }
    // The same value at another scale is the same amount.
    given_created([submitted(false)])
        .when(record_succeeded("evt_1", "20.000"))
        .then(vec![succeeded("evt_1", PaymentStatus::Processing)]);
}

#[test]
fn a_repeated_provider_event_changes_nothing_whatever_happened_since() {
    let (outcome, state) = given_captured([])
        .when(record_succeeded("evt_capture", "20"))
        .then_outcome(vec![]);
    assert!(outcome.provider_repeat);
    assert_eq!(outcome.status, PaymentStatus::Succeeded);
    // A repeated decline after a later capture is still just a repeat.
    given_created([
        submitted(false),
        failed("evt_decline", DeclineReason::Declined),
        succeeded("evt_late", PaymentStatus::Failed),
    ])
    .when(record_failed("evt_decline", DeclineReason::Declined))
    .then(vec![]);
    // Even with a different payload: the id names the provider's event.
    given_captured([])
        .when(record_succeeded("evt_capture", "1"))
        .then(vec![]);
    assert_eq!(intent(&state).captured(), d("20"));
}

#[test]
fn a_decline_fails_an_open_intent() {
    let state = given_created([submitted(false)])
        .when(record_failed("evt_1", DeclineReason::InsufficientFunds))
        .then(vec![failed("evt_1", DeclineReason::InsufficientFunds)]);
    assert_eq!(intent(&state).status(), PaymentStatus::Failed);
    assert_eq!(
        intent(&state).decline(),
        Some(DeclineReason::InsufficientFunds)
    );
    given_created([])
        .when(record_failed("evt_1", DeclineReason::Declined))
        .then(vec![failed("evt_1", DeclineReason::Declined)]);
}

#[test]
fn a_decline_after_the_intent_ended_is_refused() {
    given_captured([])
        .when(record_failed("evt_2", DeclineReason::Declined))
        .then_error(PaymentError::InvalidTransition {
            from: PaymentStatus::Succeeded,
        });
    given_created([canceled()])
        .when(record_failed("evt_2", DeclineReason::Declined))
        .then_error(PaymentError::InvalidTransition {
            from: PaymentStatus::Canceled,
        });
    given_created([failed("evt_1", DeclineReason::Declined)])
        .when(record_failed("evt_2", DeclineReason::Declined))
        .then_error(PaymentError::InvalidTransition {
            from: PaymentStatus::Failed,
        });
}

#[test]
fn cancel_ends_an_open_intent() {
    for history in [vec![], vec![submitted(false)]] {
        let state = given_created(history).when(cancel()).then(vec![canceled()]);
        assert_eq!(intent(&state).status(), PaymentStatus::Canceled);
    }
}

#[test]
fn cancel_after_the_intent_ended_is_refused() {
    given_captured([])
        .when(cancel())
        .then_error(PaymentError::InvalidTransition {
            from: PaymentStatus::Succeeded,
        });
    given_created([canceled()])
        .when(cancel())
        .then_error(PaymentError::InvalidTransition {
            from: PaymentStatus::Canceled,
        });
    given_created([failed("evt_1", DeclineReason::Declined)])
        .when(cancel())
        .then_error(PaymentError::InvalidTransition {
            from: PaymentStatus::Failed,
        });
}
