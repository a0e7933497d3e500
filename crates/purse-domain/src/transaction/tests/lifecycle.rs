//! The coordinator's state machine: prepared → completed → committed; failed → aborted;
//! the deadline; redelivered and contradictory answers.

use super::*;

fn record(action: TransactionAction) -> TransactionCommand {
    command(action)
}

fn failed_w1() -> TransactionAction {
    TransactionAction::RecordPrepareFailed {
        wallet_id: w1(),
        index: 1,
        reason: TransactionFailureReason::InsufficientFunds,
        available: Some(d("5")),
    }
}

#[test]
fn the_last_prepare_completes_and_commits_go_out() {
    let state = given::<TransactionDecider>([started()])
        .when(record(TransactionAction::RecordPrepared {
            wallet_id: w2(),
        }))
        .then(vec![TransactionEventKind::TransactionWalletPrepared {
            wallet_id: w2(),
        }]);
    let (outcome, state) = Given::<TransactionDecider> { state }
        .when(record(TransactionAction::RecordPrepared {
            wallet_id: w1(),
        }))
        .then_outcome(vec![
            TransactionEventKind::TransactionWalletPrepared { wallet_id: w1() },
            TransactionEventKind::TransactionCompleted,
        ]);
    assert_eq!(outcome.status, TransactionStatus::Completed);
    assert_eq!(
        wanted(&outcome),
        vec![("commit".into(), w1()), ("commit".into(), w2())]
    );
    assert_eq!(
        TransactionDecider::next_deadline(&state, &crate::TimerSettings::default()),
        None
    );
    let state = Given::<TransactionDecider> { state }
        .when(record(TransactionAction::RecordCommitted {
            wallet_id: w1(),
        }))
        .then(vec![TransactionEventKind::TransactionWalletCommitted {
            wallet_id: w1(),
        }]);
    // Redelivered: nothing new.
    let state = Given::<TransactionDecider> { state }
        .when(record(TransactionAction::RecordCommitted {
            wallet_id: w1(),
        }))
        .then(vec![]);
    let (outcome, state) = Given::<TransactionDecider> { state }
        .when(record(TransactionAction::RecordCommitted {
            wallet_id: w2(),
        }))
        .then_outcome(vec![TransactionEventKind::TransactionWalletCommitted {
            wallet_id: w2(),
        }]);
    assert!(outcome.dispatch.is_empty());
    assert!(state.transaction().expect("transaction").is_finished());
}

#[test]
fn one_failure_fails_the_transaction_and_aborts_the_prepared() {
    let state = given::<TransactionDecider>([started(), prepared(w2())])
        .when(record(failed_w1()))
        .then(vec![TransactionEventKind::TransactionFailed {
            failure: insufficient(1, w1(), "5"),
        }]);
    let transaction = state.transaction().expect("transaction");
    assert_eq!(transaction.status(), TransactionStatus::Failed);
    assert_eq!(transaction.wallets()[&w1()], WalletProgress::Failed);
    assert!(!transaction.is_finished(), "W2 still holds funds");
    let (outcome, state) = Given::<TransactionDecider> { state }
        .when(record(failed_w1()))
        .then_outcome(vec![]);
    assert_eq!(wanted(&outcome), vec![("abort".into(), w2())]);
    assert_eq!(outcome.failure, Some(insufficient(1, w1(), "5")));
    let state = Given::<TransactionDecider> { state }
        .when(record(TransactionAction::RecordAborted { wallet_id: w2() }))
        .then(vec![TransactionEventKind::TransactionWalletAborted {
            wallet_id: w2(),
        }]);
    assert!(state.transaction().expect("transaction").is_finished());
}

#[test]
fn a_prepare_arriving_after_the_failure_is_aborted_too() {
    let (outcome, _) = given::<TransactionDecider>([
        started(),
        TransactionEvent::at(
            NOW,
            TransactionEventKind::TransactionFailed {
                failure: insufficient(1, w1(), "5"),
            },
        ),
    ])
    .when(record(TransactionAction::RecordPrepared {
        wallet_id: w2(),
    }))
    .then_outcome(vec![TransactionEventKind::TransactionWalletPrepared {
        wallet_id: w2(),
    }]);
    assert_eq!(outcome.status, TransactionStatus::Failed);
    assert_eq!(wanted(&outcome), vec![("abort".into(), w2())]);
}

#[test]
fn the_deadline_fails_a_transaction_not_fully_prepared() {
    given::<TransactionDecider>([started(), prepared(w1())])
        .when(record(TransactionAction::Expire))
        .at(deadline().plus_millis(-1))
        .then(vec![]);
    let (outcome, state) = given::<TransactionDecider>([started(), prepared(w1())])
        .when(record(TransactionAction::Expire))
        .at(deadline())
        .then_outcome(vec![TransactionEventKind::TransactionFailed {
            failure: TransactionFailure {
                index: None,
                wallet_id: None,
                reason: TransactionFailureReason::DeadlineExceeded,
                available: None,
            },
        }]);
    assert_eq!(wanted(&outcome), vec![("abort".into(), w1())]);
    // The timer is the stream's own: it asks for Expire at the deadline, then nothing.
    let timer = TransactionDecider::timer_command(txn(), &state, &crate::TimerSettings::default());
    assert_eq!(timer.map(|c| c.action), Some(TransactionAction::Expire));
    assert_eq!(
        TransactionDecider::next_deadline(&state, &crate::TimerSettings::default()),
        None
    );
    // The last prepare arriving at the deadline does not complete it.
    given::<TransactionDecider>([started(), prepared(w1())])
        .when(record(TransactionAction::RecordPrepared {
            wallet_id: w2(),
        }))
        .at(deadline())
        .then(vec![
            TransactionEventKind::TransactionWalletPrepared { wallet_id: w2() },
            TransactionEventKind::TransactionFailed {
                failure: TransactionFailure {
                    index: None,
                    wallet_id: None,
                    reason: TransactionFailureReason::DeadlineExceeded,
                    available: None,
                },
            },
        ]);
}

#[test]
fn contradictory_or_misplaced_answers_are_refused() {
    given::<TransactionDecider>([started(), prepared(w1())])
        .when(record(failed_w1()))
        .then_error(TransactionError::ConflictingAnswer {
            wallet_id: w1(),
            progress: WalletProgress::Prepared,
        });
    given::<TransactionDecider>([started()])
        .when(record(TransactionAction::RecordPrepared {
            wallet_id: w3(),
        }))
        .then_error(TransactionError::WalletNotInTransaction { wallet_id: w3() });
    given::<TransactionDecider>([started()])
        .when(record(TransactionAction::RecordPrepareFailed {
            wallet_id: w2(),
            index: 0,
            reason: TransactionFailureReason::WalletClosed,
            available: None,
        }))
        .then_error(TransactionError::WalletNotInTransaction { wallet_id: w2() });
    given::<TransactionDecider>([started(), prepared(w1())])
        .when(record(TransactionAction::RecordCommitted {
            wallet_id: w1(),
        }))
        .then_error(TransactionError::InvalidStep {
            status: TransactionStatus::Pending,
            progress: WalletProgress::Prepared,
        });
    let mut foreign = record(TransactionAction::Expire);
    foreign.tenant = "other".into();
    given::<TransactionDecider>([started()])
        .when(foreign)
        .then_error(TransactionError::NotFound);
    given::<TransactionDecider>([])
        .when(record(TransactionAction::Expire))
        .then_error(TransactionError::NotFound);
}
