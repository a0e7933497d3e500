//! Capture, completion, expiry, failure and late captures; final statuses stay final.

use super::*;

fn record_capture(payment: Uuid, amount: &str) -> TopUpCommand {
    command(TopUpAction::RecordPaymentCaptured {
        payment_id: payment,
        amount: d(amount),
    })
}

fn late_capture() -> TopUpEventKind {
    TopUpEventKind::TopUpLateCaptureRecorded {
        payment_id: payment_id(),
        amount: d("20.00"),
    }
}

fn complete(granted: GrantedCredit) -> TopUpCommand {
    command(TopUpAction::Complete {
        paid_lot_id: id(1),
        granted,
    })
}

fn completed(granted: GrantedCredit, credited: &str) -> TopUpEventKind {
    TopUpEventKind::TopUpCompleted {
        paid_lot_id: id(1),
        granted,
        credited: d(credited),
    }
}

fn credit_rejected() -> TopUpFailureReason {
    TopUpFailureReason::CreditRejected {
        reason: CreditRejection::WalletClosed,
    }
}

fn fail(reason: TopUpFailureReason) -> TopUpCommand {
    command(TopUpAction::Fail { reason })
}

fn granted_lot() -> GrantedCredit {
    GrantedCredit::Credited { lot_id: id(2) }
}

#[test]
fn a_capture_in_time_is_recorded_and_stops_the_deadline() {
    let state = given_created([])
        .when(record_capture(payment_id(), "20"))
        .at(deadline().plus_millis(-1))
        .then(vec![captured()]);
    assert!(top_up(&state).captured());
    assert_eq!(top_up(&state).status(), TopUpStatus::Created);
    assert_eq!(state.next_deadline(), None);
}

#[test]
fn a_capture_after_the_deadline_but_before_expiry_is_in_time() {
    // The payment stream settled the race: the capture won over the cancel.
    given_created([])
        .when(record_capture(payment_id(), "20"))
        .then(vec![captured()]);
}

#[test]
fn a_capture_must_be_of_the_top_ups_payment_and_amount() {
    given_created([])
        .when(record_capture(id(9), "20"))
        .then_error(TopUpError::PaymentMismatch {
            expected: payment_id(),
        });
    given_created([])
        .when(record_capture(payment_id(), "20.01"))
        .then_error(TopUpError::CaptureAmountMismatch { expected: d("20") });
}

#[test]
fn a_known_capture_changes_nothing() {
    let granted = granted_lot();
    for history in [
        vec![captured()],
        vec![captured(), completed(granted, "25")],
        vec![
            captured(),
            TopUpEventKind::TopUpFailed {
                reason: credit_rejected(),
            },
        ],
        vec![expired(), late_capture()],
        vec![
            TopUpEventKind::TopUpFailed { reason: declined() },
            late_capture(),
        ],
    ] {
        given_created(history)
            .when(record_capture(payment_id(), "20"))
            .then(vec![]);
    }
}

#[test]
fn a_capture_after_expiry_is_recorded_late_and_the_top_up_stays_expired() {
    let state = given_created([expired()])
        .when(record_capture(payment_id(), "20"))
        .then(vec![late_capture()]);
    let top_up = top_up(&state);
    assert_eq!(top_up.status(), TopUpStatus::Expired);
    assert_eq!(top_up.late_capture(), Some(d("20")));
    assert!(!top_up.captured());
    assert_eq!(top_up.credited(), zero());
}

#[test]
fn a_capture_after_a_decline_is_recorded_late() {
    let state = given_created([TopUpEventKind::TopUpFailed { reason: declined() }])
        .when(record_capture(payment_id(), "20"))
        .then(vec![late_capture()]);
    assert_eq!(top_up(&state).status(), TopUpStatus::Failed);
    assert_eq!(top_up(&state).failure(), Some(declined()));
}

#[test]
fn completion_credits_paid_and_granted_parts() {
    let (outcome, state) = given_created([captured()])
        .when(complete(granted_lot()))
        .then_outcome(vec![completed(granted_lot(), "25.00")]);
    assert_eq!(
        (outcome.status, outcome.credited),
        (TopUpStatus::Completed, d("25"))
    );
    let top_up = top_up(&state);
    assert_eq!(top_up.paid_lot_id(), Some(id(1)));
    assert_eq!(top_up.granted(), Some(granted_lot()));
    assert_eq!(top_up.finished_at(), Some(NOW));
}

#[test]
fn completion_without_granted_part() {
    let history = [
        created_with(TopUpKind::Manual, "20.00", "20.00", None),
        captured(),
    ];
    given_events(history.clone())
        .when(complete(GrantedCredit::NotNeeded))
        .then(vec![completed(GrantedCredit::NotNeeded, "20.00")]);
    given_events(history)
        .when(complete(granted_lot()))
        .then_error(TopUpError::GrantedCreditMismatch { excess: zero() });
}

#[test]
fn a_refused_granted_part_is_recorded_and_only_the_paid_part_counts() {
    let rejected = GrantedCredit::Rejected {
        reason: CreditRejection::MaxBalanceExceeded,
    };
    let state = given_created([captured()])
        .when(complete(rejected))
        .then(vec![completed(rejected, "20.00")]);
    assert_eq!(top_up(&state).credited(), d("20"));
}

#[test]
fn a_granted_part_cannot_be_left_out() {
    given_created([captured()])
        .when(complete(GrantedCredit::NotNeeded))
        .then_error(TopUpError::GrantedCreditMismatch { excess: d("5") });
}

#[test]
fn completion_needs_a_capture() {
    given_created([])
        .when(complete(granted_lot()))
        .then_error(TopUpError::PaymentNotCaptured);
}

#[test]
fn expiry_comes_at_the_deadline_without_a_capture() {
    given_created([])
        .when(command(TopUpAction::Expire))
        .at(deadline().plus_millis(-1))
        .then_error(TopUpError::DeadlineNotReached {
            expires_at: deadline(),
        });
    let state = given_created([])
        .when(command(TopUpAction::Expire))
        .at(deadline())
        .then(vec![expired()]);
    assert_eq!(top_up(&state).status(), TopUpStatus::Expired);
    assert_eq!(state.next_deadline(), None);
    given_created([captured()])
        .when(command(TopUpAction::Expire))
        .then_error(TopUpError::AlreadyCaptured);
}

#[test]
fn a_decline_fails_an_uncaptured_top_up() {
    let state = given_created([])
        .when(fail(declined()))
        .then(vec![TopUpEventKind::TopUpFailed { reason: declined() }]);
    assert_eq!(top_up(&state).status(), TopUpStatus::Failed);
    given_created([captured()])
        .when(fail(declined()))
        .then_error(TopUpError::AlreadyCaptured);
}

#[test]
fn a_refused_credit_fails_a_captured_top_up() {
    given_created([])
        .when(fail(credit_rejected()))
        .then_error(TopUpError::PaymentNotCaptured);
    let state = given_created([captured()])
        .when(fail(credit_rejected()))
        .then(vec![TopUpEventKind::TopUpFailed {
            reason: credit_rejected(),
        }]);
    assert_eq!(top_up(&state).credited(), zero());
}

#[test]
fn final_statuses_are_final() {
    let finals = [
        (
            vec![captured(), completed(granted_lot(), "25")],
            TopUpStatus::Completed,
        ),
        (vec![expired()], TopUpStatus::Expired),
        (vec![expired(), late_capture()], TopUpStatus::Expired),
        (
            vec![TopUpEventKind::TopUpFailed { reason: declined() }],
            TopUpStatus::Failed,
        ),
        (
            vec![
                captured(),
                TopUpEventKind::TopUpFailed {
                    reason: credit_rejected(),
                },
            ],
            TopUpStatus::Failed,
        ),
    ];
    for (history, from) in finals {
        for action in [
            TopUpAction::Complete {
                paid_lot_id: id(1),
                granted: granted_lot(),
            },
            TopUpAction::Expire,
            TopUpAction::Fail { reason: declined() },
            TopUpAction::Fail {
                reason: credit_rejected(),
            },
        ] {
            given_created(history.clone())
                .when(command(action))
                .then_error(TopUpError::InvalidTransition { from });
        }
    }
}

#[test]
fn an_expired_top_up_is_never_credited() {
    given_created([expired(), late_capture()])
        .when(complete(granted_lot()))
        .then_error(TopUpError::InvalidTransition {
            from: TopUpStatus::Expired,
        });
}
