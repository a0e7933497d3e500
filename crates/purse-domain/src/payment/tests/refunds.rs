//! Refunds: requested against what was captured, resolved once by the provider.

use super::*;
use crate::money::AmountError;

fn request(amount: &str) -> PaymentCommand {
    command(PaymentAction::RequestRefund {
        amount: d(amount),
        reason: RefundReason::RequestedByCustomer,
    })
}

fn requested(refund: Uuid, amount: &str, refundable_after: &str) -> PaymentEventKind {
    PaymentEventKind::RefundRequested {
        refund_id: refund,
        amount: d(amount),
        reason: RefundReason::RequestedByCustomer,
        refundable_after: d(refundable_after),
    }
}

fn refund_succeeded(event: &str, refund: Uuid, amount: &str, after: &str) -> PaymentEventKind {
    PaymentEventKind::RefundSucceeded {
        provider_event_id: pe(event),
        refund_id: refund,
        amount: d(amount),
        refunded_after: d(after),
    }
}

fn refund_failed(event: &str, refund: Uuid, amount: &str, after: &str) -> PaymentEventKind {
    PaymentEventKind::RefundFailed {
        provider_event_id: pe(event),
        refund_id: refund,
        amount: d(amount),
        reason: RefundFailureReason::CardClosed,
        refundable_after: d(after),
    }
}

fn record_refund_succeeded(event: &str, refund: Uuid) -> PaymentCommand {
    command(PaymentAction::RecordRefundSucceeded {
        provider_event_id: pe(event),
        refund_id: refund,
    })
}

fn record_refund_failed(event: &str, refund: Uuid) -> PaymentCommand {
    command(PaymentAction::RecordRefundFailed {
        provider_event_id: pe(event),
        refund_id: refund,
        reason: RefundFailureReason::CardClosed,
    })
}

#[test]
fn a_refund_request_takes_the_first_fresh_id_and_reserves_its_amount() {
    let (outcome, state) = given_captured([])
        .when(request("5"))
        .then_outcome(vec![requested(fresh(0), "5.00", "15.00")]);
    assert_eq!(outcome.refund_id, Some(fresh(0)));
    assert_eq!(outcome.refunded, zero());
    let intent = intent(&state);
    assert_eq!(
        (intent.refund_pending(), intent.refundable()),
        (d("5"), d("15"))
    );
    let refund = intent.refund(fresh(0)).expect("refund");
    assert_eq!(
        (refund.amount(), refund.reason(), refund.status()),
        (
            d("5"),
            RefundReason::RequestedByCustomer,
            RefundStatus::Pending
        )
    );
}

#[test]
fn refunds_never_exceed_the_capture() {
    given_captured([])
        .when(request("20.01"))
        .then_error(PaymentError::RefundExceedsCaptured {
            refundable: d("20"),
        });
    given_captured([
        requested(id(1), "5", "15"),
        refund_succeeded("evt_r1", id(1), "5", "5"),
        requested(id(2), "10", "5"),
    ])
    .when(request("5.01"))
    .then_error(PaymentError::RefundExceedsCaptured { refundable: d("5") });
    given_captured([requested(id(1), "20", "0")])
        .when(request("0.01"))
        .then_error(PaymentError::RefundExceedsCaptured { refundable: d("0") });
}

#[test]
fn a_failed_refund_frees_its_amount_again() {
    let state = given_captured([requested(id(1), "20", "0")])
        .when(record_refund_failed("evt_r1", id(1)))
        .then(vec![refund_failed("evt_r1", id(1), "20", "20")]);
    assert_eq!(intent(&state).refundable(), d("20"));
    given_captured([
        requested(id(1), "20", "0"),
        refund_failed("evt_r1", id(1), "20", "20"),
    ])
    .when(request("20"))
    .then(vec![requested(fresh(0), "20", "0")]);
}

#[test]
fn a_refund_succeeds_once() {
    let (outcome, state) = given_captured([requested(id(1), "5", "15")])
        .when(record_refund_succeeded("evt_r1", id(1)))
        .then_outcome(vec![refund_succeeded("evt_r1", id(1), "5", "5")]);
    assert_eq!(outcome.refunded, d("5"));
    assert_eq!(intent(&state).refundable(), d("15"));
    let history = [
        requested(id(1), "5", "15"),
        refund_succeeded("evt_r1", id(1), "5", "5"),
    ];
    given_captured(history.clone())
        .when(record_refund_succeeded("evt_r2", id(1)))
        .then_error(PaymentError::RefundNotPending {
            status: RefundStatus::Succeeded,
        });
    given_captured(history.clone())
        .when(record_refund_failed("evt_r2", id(1)))
        .then_error(PaymentError::RefundNotPending {
            status: RefundStatus::Succeeded,
        });
    // The provider's retry of the same answer is a repeat, not an error.
    given_captured(history)
        .when(record_refund_succeeded("evt_r1", id(1)))
        .then(vec![]);
}

#[test]
fn an_unknown_refund_is_not_found() {
    given_captured([])
        .when(record_refund_succeeded("evt_r1", id(1)))
        .then_error(PaymentError::RefundNotFound);
    given_captured([])
        .when(record_refund_failed("evt_r1", id(1)))
        .then_error(PaymentError::RefundNotFound);
}

#[test]
fn only_a_captured_intent_is_refunded() {
    for (history, from) in [
        (vec![], PaymentStatus::RequiresPaymentMethod),
        (vec![submitted(false)], PaymentStatus::Processing),
        (vec![canceled()], PaymentStatus::Canceled),
        (
            vec![failed("evt_1", DeclineReason::Declined)],
            PaymentStatus::Failed,
        ),
    ] {
        given_created(history)
            .when(request("1"))
            .then_error(PaymentError::InvalidTransition { from });
    }
}

#[test]
fn refund_amounts_are_validated() {
    for (amount, error) in [
        ("0", AmountError::NotPositive),
        ("0.001", AmountError::TooManyDecimals { max_scale: 2 }),
    ] {
        given_captured([])
            .when(request(amount))
            .then_error(PaymentError::InvalidAmount {
                field: PaymentField::Amount,
                error,
            });
    }
}

#[test]
fn an_intent_has_at_most_max_refunds() {
    let history: Vec<_> = (0..MAX_REFUNDS_PER_PAYMENT as u128)
        .flat_map(|n| {
            [
                requested(id(n + 1), "0.01", "19.99"),
                refund_failed(&format!("evt_{n}"), id(n + 1), "0.01", "20.00"),
            ]
        })
        .collect();
    given_captured(history)
        .when(request("0.01"))
        .then_error(PaymentError::TooManyRefunds {
            max: MAX_REFUNDS_PER_PAYMENT,
        });
}

#[test]
fn a_late_capture_can_be_refunded_in_full() {
    given_created([
        submitted(false),
        canceled(),
        succeeded("evt_late", PaymentStatus::Canceled),
    ])
    .when(command(PaymentAction::RequestRefund {
        amount: d("20"),
        reason: RefundReason::LateCapture,
    }))
    .then(vec![PaymentEventKind::RefundRequested {
        refund_id: fresh(0),
        amount: d("20.00"),
        reason: RefundReason::LateCapture,
        refundable_after: d("0.00"),
    }]);
}
