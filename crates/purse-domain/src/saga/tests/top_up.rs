//! The top-up saga: every row of the reactions table, duplicates, contradictions and the
//! mapping of other streams' events and replies to inputs.

use super::*;
use crate::payment::{
    CancelReason, CreatePayment, DeclineReason, PaymentAction, PaymentCommand, RefundFailureReason,
    RefundReason,
};
use crate::topup::{
    CreditRejection, GrantedCredit, TopUpAction, TopUpCommand, TopUpFailureReason, TopUpStatus,
};
use crate::wallet::CreditSource;

use TopUpSagaEventKind as Kind;

fn facts_with(wallet_amount: &str) -> TopUpFacts {
    TopUpFacts {
        top_up_id: top_up_id(),
        tenant: TENANT.into(),
        wallet_id: wallet_id(),
        owner: "customer-1".into(),
        kind: top_up_kind(),
        asset: usd(),
        amount: d("20.00"),
        wallet_amount: d(wallet_amount),
        lots_expire_at: None,
        payment_method_id: None,
        payment_id: payment_id(),
        expires_at: deadline(),
    }
}

/// 20.00 paid, 25.00 credited.
fn facts() -> TopUpFacts {
    facts_with("25.00")
}

fn cmd(input: TopUpSagaInput) -> TopUpSagaCommand {
    TopUpSagaCommand {
        top_up_id: top_up_id(),
        input,
    }
}

fn given_saga(kinds: impl IntoIterator<Item = Kind>) -> Given<TopUpSagaDecider> {
    given(kinds.into_iter().enumerate().map(|(n, kind)| {
        let at = match kind {
            Kind::TopUpSagaDeadlineReached { .. } => deadline(),
            _ => created_at().plus_millis(n as i64 * 1_000),
        };
        TopUpSagaEvent {
            occurred_at: at,
            kind,
        }
    }))
}

fn given_started(history: impl IntoIterator<Item = Kind>) -> Given<TopUpSagaDecider> {
    given_saga(std::iter::once(Kind::TopUpSagaStarted { facts: facts() }).chain(history))
}

fn resolution(resolution: TopUpResolution) -> Kind {
    Kind::TopUpSagaResolutionChosen { resolution }
}

fn declined() -> TopUpResolution {
    TopUpResolution::Fail {
        reason: TopUpFailureReason::Declined {
            reason: DeclineReason::InsufficientFunds,
        },
    }
}

/// Created, then captured in time.
fn captured() -> Vec<Kind> {
    vec![
        Kind::TopUpSagaPaymentCreated,
        Kind::TopUpSagaPaymentCaptured { amount: d("20") },
        resolution(TopUpResolution::Complete),
    ]
}

fn canceled() -> Vec<Kind> {
    vec![
        Kind::TopUpSagaPaymentCreated,
        Kind::TopUpSagaDeadlineReached {
            expires_at: deadline(),
        },
        Kind::TopUpSagaPaymentCanceled,
        resolution(TopUpResolution::Expire),
    ]
}

fn payment_succeeded() -> TopUpSagaInput {
    TopUpSagaInput::PaymentSucceeded {
        payment_id: payment_id(),
        amount: d("20.00"),
    }
}

fn credited(part: CreditPart, lot: u128) -> TopUpSagaInput {
    TopUpSagaInput::WalletCredited {
        part,
        lot_id: id(lot),
    }
}

fn rejected(part: CreditPart, reason: CreditRejection) -> TopUpSagaInput {
    TopUpSagaInput::WalletCreditRejected { part, reason }
}

fn late_refund() -> Vec<Kind> {
    vec![
        Kind::TopUpSagaLateCaptureDetected { amount: d("20") },
        Kind::TopUpSagaRefundRequested {
            amount: d("20"),
            reason: RefundReason::LateCapture,
        },
    ]
}

fn with(mut base: Vec<Kind>, more: impl IntoIterator<Item = Kind>) -> Vec<Kind> {
    base.extend(more);
    base
}

fn payment_dispatch(step: &str, action: PaymentAction) -> Dispatch {
    Dispatch {
        idempotency_key: crate::saga::dispatch::derived_key(format!(
            "top-up:{}:{step}",
            top_up_id()
        )),
        command: DispatchCommand::Payment(PaymentCommand {
            tenant: TENANT.into(),
            payment_id: payment_id(),
            action,
        }),
    }
}

fn top_up_dispatch(step: &str, action: TopUpAction) -> Dispatch {
    Dispatch {
        idempotency_key: crate::saga::dispatch::derived_key(format!(
            "top-up:{}:{step}",
            top_up_id()
        )),
        command: DispatchCommand::TopUp(TopUpCommand {
            tenant: TENANT.into(),
            top_up_id: top_up_id(),
            action,
        }),
    }
}

fn credit_dispatch(key: String, amount: &str, source: CreditSource) -> Dispatch {
    Dispatch {
        idempotency_key: crate::saga::dispatch::derived_key(key),
        command: DispatchCommand::WalletCredit(WalletCredit {
            tenant: TENANT.into(),
            wallet_id: wallet_id(),
            amount: d(amount),
            source,
            expires_at: None,
            reference: top_up_id().to_string(),
            description: if source == CreditSource::Paid {
                "top-up".into()
            } else {
                "top-up bonus".into()
            },
        }),
    }
}

fn step_keys(steps: &[&str]) -> Vec<String> {
    steps
        .iter()
        .map(|step| match *step {
            "paid" => top_up_id().to_string(),
            "granted" => format!("{}:granted", top_up_id()),
            step => format!("top-up:{}:{step}", top_up_id()),
        })
        .collect()
}

mod start {
    use super::*;

    #[test]
    fn a_new_top_up_starts_the_saga_which_creates_the_payment() {
        let (outcome, state) = given::<TopUpSagaDecider>([])
            .when(cmd(TopUpSagaInput::TopUpCreated(facts())))
            .then_outcome(vec![Kind::TopUpSagaStarted { facts: facts() }]);
        assert_eq!(
            outcome.dispatches,
            vec![payment_dispatch(
                "create-payment",
                PaymentAction::Create(CreatePayment {
                    owner: "customer-1".into(),
                    asset: usd(),
                    amount: d("20"),
                    top_up_id: Some(top_up_id()),
                    payment_method_id: None,
                    expires_at: Some(deadline()),
                })
            )]
        );
        assert_eq!(outcome.next_deadline, Some(deadline()));
        assert_eq!(state.next_deadline(), Some(deadline()));
        assert!(!state.is_finished());
    }

    #[test]
    fn nothing_but_the_top_up_starts_a_saga() {
        given::<TopUpSagaDecider>([])
            .when(cmd(TopUpSagaInput::PaymentCreated {
                payment_id: payment_id(),
            }))
            .then_error(TopUpSagaError::NotStarted);
        given::<TopUpSagaDecider>([])
            .when(cmd(TopUpSagaInput::Timer))
            .then_error(TopUpSagaError::NotStarted);
        given::<TopUpSagaDecider>([])
            .when(TopUpSagaCommand {
                top_up_id: id(9),
                input: TopUpSagaInput::TopUpCreated(facts()),
            })
            .then_error(TopUpSagaError::WrongSaga);
    }

    #[test]
    fn a_repeated_start_changes_nothing_and_other_facts_are_refused() {
        given_started([])
            .when(cmd(TopUpSagaInput::TopUpCreated(facts())))
            .then(vec![]);
        given_started([])
            .when(cmd(TopUpSagaInput::TopUpCreated(facts_with("30"))))
            .then_error(TopUpSagaError::StartMismatch);
        given_started([])
            .when(TopUpSagaCommand {
                top_up_id: id(9),
                input: TopUpSagaInput::Timer,
            })
            .then_error(TopUpSagaError::WrongSaga);
    }

    #[test]
    fn the_created_payment_is_no_longer_wanted() {
        let state = given_started([])
            .when(cmd(TopUpSagaInput::PaymentCreated {
                payment_id: payment_id(),
            }))
            .then(vec![Kind::TopUpSagaPaymentCreated]);
        assert!(state.dispatches().is_empty());
        given_started([Kind::TopUpSagaPaymentCreated])
            .when(cmd(TopUpSagaInput::PaymentCreated {
                payment_id: payment_id(),
            }))
            .then(vec![]);
    }

    #[test]
    fn payment_inputs_must_name_the_top_ups_payment() {
        given_started([])
            .when(cmd(TopUpSagaInput::PaymentCreated { payment_id: id(9) }))
            .then_error(TopUpSagaError::PaymentMismatch {
                expected: payment_id(),
            });
    }
}

mod capture {
    use super::*;

    #[test]
    fn a_capture_in_time_records_it_and_credits_the_paid_part_keyed_by_the_top_up_id() {
        let (outcome, state) = given_started([Kind::TopUpSagaPaymentCreated])
            .when(cmd(payment_succeeded()))
            .then_outcome(vec![
                Kind::TopUpSagaPaymentCaptured { amount: d("20") },
                resolution(TopUpResolution::Complete),
            ]);
        assert_eq!(
            outcome.dispatches,
            vec![
                top_up_dispatch(
                    "record-capture",
                    TopUpAction::RecordPaymentCaptured {
                        payment_id: payment_id(),
                        amount: d("20"),
                    }
                ),
                credit_dispatch(top_up_id().to_string(), "20", CreditSource::Paid),
            ]
        );
        assert_eq!(state.next_deadline(), None, "no expiry after a capture");
    }

    #[test]
    fn a_capture_after_the_deadline_but_before_the_cancel_is_in_time() {
        let state = given_started([
            Kind::TopUpSagaPaymentCreated,
            Kind::TopUpSagaDeadlineReached {
                expires_at: deadline(),
            },
        ])
        .when(cmd(payment_succeeded()))
        .then(vec![
            Kind::TopUpSagaPaymentCaptured { amount: d("20") },
            resolution(TopUpResolution::Complete),
        ]);
        assert_eq!(
            keys(&state.dispatches()),
            step_keys(&["record-capture", "paid"])
        );
    }

    #[test]
    fn a_known_capture_changes_nothing() {
        given_started(captured())
            .when(cmd(payment_succeeded()))
            .then(vec![]);
        given_started(with(canceled(), late_refund()))
            .when(cmd(payment_succeeded()))
            .then(vec![]);
    }

    #[test]
    fn a_capture_of_another_amount_is_refused() {
        given_started([Kind::TopUpSagaPaymentCreated])
            .when(cmd(TopUpSagaInput::PaymentSucceeded {
                payment_id: payment_id(),
                amount: d("19"),
            }))
            .then_error(TopUpSagaError::CaptureAmountMismatch { expected: d("20") });
    }

    #[test]
    fn the_top_up_recording_the_capture_is_acknowledged_once() {
        let state = given_started(captured())
            .when(cmd(TopUpSagaInput::TopUpCaptureRecorded))
            .then(vec![Kind::TopUpSagaCaptureRecorded]);
        assert_eq!(keys(&state.dispatches()), step_keys(&["paid"]));
        given_started(with(captured(), [Kind::TopUpSagaCaptureRecorded]))
            .when(cmd(TopUpSagaInput::TopUpCaptureRecorded))
            .then(vec![]);
        given_started([])
            .when(cmd(TopUpSagaInput::TopUpCaptureRecorded))
            .then_error(TopUpSagaError::Contradiction {
                input: TopUpSagaInputKind::TopUpCaptureRecorded,
            });
    }
}

mod credit {
    use super::*;

    #[test]
    fn the_granted_part_follows_the_paid_part() {
        let state = given_started(with(captured(), [Kind::TopUpSagaCaptureRecorded]))
            .when(cmd(credited(CreditPart::Paid, 1)))
            .then(vec![Kind::TopUpSagaCredited {
                part: CreditPart::Paid,
                lot_id: id(1),
            }]);
        assert_eq!(
            state.dispatches(),
            vec![credit_dispatch(
                format!("{}:granted", top_up_id()),
                "5",
                CreditSource::Granted
            )]
        );
    }

    #[test]
    fn both_credits_and_the_recorded_capture_complete_the_top_up() {
        let history = with(
            captured(),
            [
                Kind::TopUpSagaCaptureRecorded,
                Kind::TopUpSagaCredited {
                    part: CreditPart::Paid,
                    lot_id: id(1),
                },
            ],
        );
        let state = given_started(history)
            .when(cmd(credited(CreditPart::Granted, 2)))
            .then(vec![Kind::TopUpSagaCredited {
                part: CreditPart::Granted,
                lot_id: id(2),
            }]);
        assert_eq!(
            state.dispatches(),
            vec![top_up_dispatch(
                "complete",
                TopUpAction::Complete {
                    paid_lot_id: id(1),
                    granted: GrantedCredit::Credited { lot_id: id(2) },
                }
            )]
        );
    }

    #[test]
    fn completion_waits_for_the_recorded_capture() {
        let state = given_started(with(
            captured(),
            [Kind::TopUpSagaCredited {
                part: CreditPart::Paid,
                lot_id: id(1),
            }],
        ))
        .when(cmd(credited(CreditPart::Granted, 2)))
        .then(vec![Kind::TopUpSagaCredited {
            part: CreditPart::Granted,
            lot_id: id(2),
        }]);
        assert_eq!(keys(&state.dispatches()), step_keys(&["record-capture"]));
        let state = given_saga(with(
            vec![Kind::TopUpSagaStarted { facts: facts() }],
            with(
                captured(),
                [
                    Kind::TopUpSagaCredited {
                        part: CreditPart::Paid,
                        lot_id: id(1),
                    },
                    Kind::TopUpSagaCredited {
                        part: CreditPart::Granted,
                        lot_id: id(2),
                    },
                ],
            ),
        ))
        .when(cmd(TopUpSagaInput::TopUpCaptureRecorded))
        .then(vec![Kind::TopUpSagaCaptureRecorded]);
        assert_eq!(keys(&state.dispatches()), step_keys(&["complete"]));
    }

    #[test]
    fn without_a_granted_part_the_paid_credit_completes() {
        let state = given_saga(with(
            vec![Kind::TopUpSagaStarted {
                facts: facts_with("20.00"),
            }],
            with(captured(), [Kind::TopUpSagaCaptureRecorded]),
        ))
        .when(cmd(credited(CreditPart::Paid, 1)))
        .then(vec![Kind::TopUpSagaCredited {
            part: CreditPart::Paid,
            lot_id: id(1),
        }]);
        assert_eq!(
            state.dispatches(),
            vec![top_up_dispatch(
                "complete",
                TopUpAction::Complete {
                    paid_lot_id: id(1),
                    granted: GrantedCredit::NotNeeded,
                }
            )]
        );
    }

    #[test]
    fn the_completed_top_up_finishes_the_saga() {
        let history = with(
            captured(),
            [
                Kind::TopUpSagaCaptureRecorded,
                Kind::TopUpSagaCredited {
                    part: CreditPart::Paid,
                    lot_id: id(1),
                },
                Kind::TopUpSagaCredited {
                    part: CreditPart::Granted,
                    lot_id: id(2),
                },
            ],
        );
        let state = given_started(history.clone())
            .when(cmd(TopUpSagaInput::TopUpFinished {
                status: TopUpStatus::Completed,
            }))
            .then(vec![Kind::TopUpSagaTopUpFinished {
                status: TopUpStatus::Completed,
            }]);
        assert!(state.dispatches().is_empty());
        assert!(state.is_finished());
        given_started(with(
            history.clone(),
            [Kind::TopUpSagaTopUpFinished {
                status: TopUpStatus::Completed,
            }],
        ))
        .when(cmd(TopUpSagaInput::TopUpFinished {
            status: TopUpStatus::Completed,
        }))
        .then(vec![]);
        given_started(history)
            .when(cmd(TopUpSagaInput::TopUpFinished {
                status: TopUpStatus::Expired,
            }))
            .then_error(TopUpSagaError::UnexpectedTopUpStatus {
                observed: TopUpStatus::Expired,
                expected: Some(TopUpStatus::Completed),
            });
    }

    #[test]
    fn a_repeated_credit_reply_changes_nothing_but_another_lot_is_a_contradiction() {
        let history = with(
            captured(),
            [Kind::TopUpSagaCredited {
                part: CreditPart::Paid,
                lot_id: id(1),
            }],
        );
        given_started(history.clone())
            .when(cmd(credited(CreditPart::Paid, 1)))
            .then(vec![]);
        given_started(history)
            .when(cmd(credited(CreditPart::Paid, 7)))
            .then_error(TopUpSagaError::Contradiction {
                input: TopUpSagaInputKind::WalletCredited,
            });
    }

    #[test]
    fn credits_are_answers_to_credits_sent() {
        let contradiction = TopUpSagaError::Contradiction {
            input: TopUpSagaInputKind::WalletCredited,
        };
        // No capture yet.
        given_started([Kind::TopUpSagaPaymentCreated])
            .when(cmd(credited(CreditPart::Paid, 1)))
            .then_error(contradiction.clone());
        // The granted part before the paid part.
        given_started(captured())
            .when(cmd(credited(CreditPart::Granted, 2)))
            .then_error(contradiction.clone());
        // A granted part for a top-up that grants nothing.
        given_saga(with(
            vec![Kind::TopUpSagaStarted {
                facts: facts_with("20"),
            }],
            captured(),
        ))
        .when(cmd(credited(CreditPart::Granted, 2)))
        .then_error(contradiction);
    }

    #[test]
    fn a_passing_refusal_defers_the_credit_to_a_timer() {
        let state = given_started(captured())
            .when(cmd(rejected(
                CreditPart::Paid,
                CreditRejection::VelocityLimited,
            )))
            .then(vec![Kind::TopUpSagaCreditDeferred {
                part: CreditPart::Paid,
                retry_at: now_plus(CREDIT_RETRY_DELAY_MS),
                attempts: 1,
            }]);
        assert_eq!(keys(&state.dispatches()), step_keys(&["record-capture"]));
        assert_eq!(state.next_deadline(), Some(now_plus(CREDIT_RETRY_DELAY_MS)));
        let deferred = with(
            captured(),
            [Kind::TopUpSagaCreditDeferred {
                part: CreditPart::Paid,
                retry_at: now_plus(CREDIT_RETRY_DELAY_MS),
                attempts: 1,
            }],
        );
        // A second answer to the same attempt.
        given_started(deferred.clone())
            .when(cmd(rejected(
                CreditPart::Paid,
                CreditRejection::VelocityLimited,
            )))
            .then(vec![]);
        given_started(deferred.clone())
            .when(cmd(TopUpSagaInput::Timer))
            .at(now_plus(CREDIT_RETRY_DELAY_MS - 1))
            .then(vec![]);
        let state = given_started(deferred)
            .when(cmd(TopUpSagaInput::Timer))
            .at(now_plus(CREDIT_RETRY_DELAY_MS))
            .then(vec![Kind::TopUpSagaCreditRetryDue {
                part: CreditPart::Paid,
            }]);
        assert_eq!(
            keys(&state.dispatches()),
            step_keys(&["record-capture", "paid"])
        );
        assert_eq!(state.next_deadline(), None);
    }

    #[test]
    fn passing_refusals_become_final_after_max_attempts() {
        let mut history = captured();
        for attempts in 1..MAX_CREDIT_ATTEMPTS {
            history.push(Kind::TopUpSagaCreditDeferred {
                part: CreditPart::Paid,
                retry_at: created_at(),
                attempts,
            });
            history.push(Kind::TopUpSagaCreditRetryDue {
                part: CreditPart::Paid,
            });
        }
        given_started(history)
            .when(cmd(rejected(
                CreditPart::Paid,
                CreditRejection::VelocityLimited,
            )))
            .then(vec![
                Kind::TopUpSagaCreditRejected {
                    part: CreditPart::Paid,
                    reason: CreditRejection::VelocityLimited,
                },
                resolution(TopUpResolution::Fail {
                    reason: TopUpFailureReason::CreditRejected {
                        reason: CreditRejection::VelocityLimited,
                    },
                }),
                Kind::TopUpSagaRefundRequested {
                    amount: d("20"),
                    reason: RefundReason::CreditRejected,
                },
            ]);
    }

    #[test]
    fn a_refused_paid_credit_refunds_the_payment_and_fails_the_top_up() {
        let failure = TopUpFailureReason::CreditRejected {
            reason: CreditRejection::WalletClosed,
        };
        let state = given_started(captured())
            .when(cmd(rejected(
                CreditPart::Paid,
                CreditRejection::WalletClosed,
            )))
            .then(vec![
                Kind::TopUpSagaCreditRejected {
                    part: CreditPart::Paid,
                    reason: CreditRejection::WalletClosed,
                },
                resolution(TopUpResolution::Fail { reason: failure }),
                Kind::TopUpSagaRefundRequested {
                    amount: d("20"),
                    reason: RefundReason::CreditRejected,
                },
            ]);
        // The failure waits for the recorded capture: a refused credit fails a captured top-up.
        assert_eq!(
            state.dispatches(),
            vec![
                top_up_dispatch(
                    "record-capture",
                    TopUpAction::RecordPaymentCaptured {
                        payment_id: payment_id(),
                        amount: d("20"),
                    }
                ),
                payment_dispatch(
                    "refund",
                    PaymentAction::RequestRefund {
                        amount: d("20"),
                        reason: RefundReason::CreditRejected,
                    }
                ),
            ]
        );
        let state = given_started(with(
            captured(),
            [
                Kind::TopUpSagaCreditRejected {
                    part: CreditPart::Paid,
                    reason: CreditRejection::WalletClosed,
                },
                resolution(TopUpResolution::Fail { reason: failure }),
                Kind::TopUpSagaRefundRequested {
                    amount: d("20"),
                    reason: RefundReason::CreditRejected,
                },
            ],
        ))
        .when(cmd(TopUpSagaInput::TopUpCaptureRecorded))
        .then(vec![Kind::TopUpSagaCaptureRecorded]);
        assert_eq!(keys(&state.dispatches()), step_keys(&["refund", "fail"]));
    }

    #[test]
    fn a_refused_granted_credit_still_completes_with_the_paid_part() {
        let history = with(
            captured(),
            [
                Kind::TopUpSagaCaptureRecorded,
                Kind::TopUpSagaCredited {
                    part: CreditPart::Paid,
                    lot_id: id(1),
                },
            ],
        );
        let state = given_started(history)
            .when(cmd(rejected(
                CreditPart::Granted,
                CreditRejection::MaxBalanceExceeded,
            )))
            .then(vec![Kind::TopUpSagaCreditRejected {
                part: CreditPart::Granted,
                reason: CreditRejection::MaxBalanceExceeded,
            }]);
        assert_eq!(
            state.dispatches(),
            vec![top_up_dispatch(
                "complete",
                TopUpAction::Complete {
                    paid_lot_id: id(1),
                    granted: GrantedCredit::Rejected {
                        reason: CreditRejection::MaxBalanceExceeded,
                    },
                }
            )]
        );
        assert!(state.saga().expect("saga").refund().is_none());
    }
}

mod deadline {
    use super::*;

    #[test]
    fn the_timer_does_nothing_before_the_deadline() {
        given_started([Kind::TopUpSagaPaymentCreated])
            .when(cmd(TopUpSagaInput::Timer))
            .at(deadline().plus_millis(-1))
            .then(vec![]);
    }

    #[test]
    fn at_the_deadline_the_open_payment_is_cancelled_first() {
        let (outcome, state) = given_started([Kind::TopUpSagaPaymentCreated])
            .when(cmd(TopUpSagaInput::Timer))
            .at(deadline())
            .then_outcome(vec![Kind::TopUpSagaDeadlineReached {
                expires_at: deadline(),
            }]);
        assert_eq!(
            outcome.dispatches,
            vec![payment_dispatch(
                "cancel-payment",
                PaymentAction::Cancel {
                    reason: CancelReason::TopUpExpired,
                }
            )]
        );
        assert_eq!(state.next_deadline(), None);
        // A stale timer after that changes nothing.
        given_started([
            Kind::TopUpSagaPaymentCreated,
            Kind::TopUpSagaDeadlineReached {
                expires_at: deadline(),
            },
        ])
        .when(cmd(TopUpSagaInput::Timer))
        .then(vec![]);
    }

    #[test]
    fn the_cancelled_payment_expires_the_top_up() {
        let state = given_started([
            Kind::TopUpSagaPaymentCreated,
            Kind::TopUpSagaDeadlineReached {
                expires_at: deadline(),
            },
        ])
        .when(cmd(TopUpSagaInput::PaymentCanceled {
            payment_id: payment_id(),
        }))
        .then(vec![
            Kind::TopUpSagaPaymentCanceled,
            resolution(TopUpResolution::Expire),
        ]);
        assert_eq!(
            state.dispatches(),
            vec![top_up_dispatch("expire", TopUpAction::Expire)]
        );
        let state = given_started(canceled())
            .when(cmd(TopUpSagaInput::TopUpFinished {
                status: TopUpStatus::Expired,
            }))
            .then(vec![Kind::TopUpSagaTopUpFinished {
                status: TopUpStatus::Expired,
            }]);
        assert!(state.is_finished());
    }

    #[test]
    fn without_a_payment_the_top_up_expires_at_once_and_none_is_created() {
        let state = given_started([])
            .when(cmd(TopUpSagaInput::Timer))
            .at(deadline())
            .then(vec![
                Kind::TopUpSagaDeadlineReached {
                    expires_at: deadline(),
                },
                resolution(TopUpResolution::Expire),
            ]);
        assert_eq!(keys(&state.dispatches()), step_keys(&["expire"]));
        // The intent created after all is cancelled too.
        let state = given_started([
            Kind::TopUpSagaDeadlineReached {
                expires_at: deadline(),
            },
            resolution(TopUpResolution::Expire),
        ])
        .when(cmd(TopUpSagaInput::PaymentCreated {
            payment_id: payment_id(),
        }))
        .then(vec![Kind::TopUpSagaPaymentCreated]);
        assert_eq!(
            keys(&state.dispatches()),
            step_keys(&["cancel-payment", "expire"])
        );
    }

    #[test]
    fn a_cancel_before_the_deadline_expires_the_top_up_at_the_deadline() {
        let state = given_started([Kind::TopUpSagaPaymentCreated])
            .when(cmd(TopUpSagaInput::PaymentCanceled {
                payment_id: payment_id(),
            }))
            .at(deadline().plus_millis(-MINUTE_MS))
            .then(vec![
                Kind::TopUpSagaPaymentCanceled,
                resolution(TopUpResolution::Expire),
            ]);
        assert!(
            state.dispatches().is_empty(),
            "expiry waits for the deadline"
        );
        assert_eq!(state.next_deadline(), Some(deadline()));
        let state = given_started([
            Kind::TopUpSagaPaymentCreated,
            Kind::TopUpSagaPaymentCanceled,
            resolution(TopUpResolution::Expire),
        ])
        .when(cmd(TopUpSagaInput::Timer))
        .at(deadline())
        .then(vec![Kind::TopUpSagaDeadlineReached {
            expires_at: deadline(),
        }]);
        assert_eq!(keys(&state.dispatches()), step_keys(&["expire"]));
    }

    #[test]
    fn a_repeated_cancel_changes_nothing_and_a_cancel_after_a_capture_is_a_contradiction() {
        given_started(canceled())
            .when(cmd(TopUpSagaInput::PaymentCanceled {
                payment_id: payment_id(),
            }))
            .then(vec![]);
        given_started(captured())
            .when(cmd(TopUpSagaInput::PaymentCanceled {
                payment_id: payment_id(),
            }))
            .then_error(TopUpSagaError::Contradiction {
                input: TopUpSagaInputKind::PaymentCanceled,
            });
    }
}

mod decline {
    use super::*;

    #[test]
    fn a_decline_fails_the_top_up() {
        let state = given_started([Kind::TopUpSagaPaymentCreated])
            .when(cmd(TopUpSagaInput::PaymentFailed {
                payment_id: payment_id(),
                reason: DeclineReason::InsufficientFunds,
            }))
            .then(vec![
                Kind::TopUpSagaPaymentDeclined {
                    reason: DeclineReason::InsufficientFunds,
                },
                resolution(declined()),
            ]);
        assert_eq!(
            state.dispatches(),
            vec![top_up_dispatch(
                "fail",
                TopUpAction::Fail {
                    reason: TopUpFailureReason::Declined {
                        reason: DeclineReason::InsufficientFunds,
                    },
                }
            )]
        );
        assert_eq!(state.next_deadline(), None);
    }

    #[test]
    fn a_decline_after_the_saga_chose_expiry_changes_no_resolution() {
        let state = given_started([
            Kind::TopUpSagaDeadlineReached {
                expires_at: deadline(),
            },
            resolution(TopUpResolution::Expire),
            Kind::TopUpSagaPaymentCreated,
        ])
        .when(cmd(TopUpSagaInput::PaymentFailed {
            payment_id: payment_id(),
            reason: DeclineReason::Declined,
        }))
        .then(vec![Kind::TopUpSagaPaymentDeclined {
            reason: DeclineReason::Declined,
        }]);
        assert_eq!(keys(&state.dispatches()), step_keys(&["expire"]));
    }

    #[test]
    fn a_repeated_decline_changes_nothing_and_one_after_a_capture_is_a_contradiction() {
        let history = [
            Kind::TopUpSagaPaymentCreated,
            Kind::TopUpSagaPaymentDeclined {
                reason: DeclineReason::InsufficientFunds,
            },
            resolution(declined()),
        ];
        given_started(history)
            .when(cmd(TopUpSagaInput::PaymentFailed {
                payment_id: payment_id(),
                reason: DeclineReason::InsufficientFunds,
            }))
            .then(vec![]);
        given_started(captured())
            .when(cmd(TopUpSagaInput::PaymentFailed {
                payment_id: payment_id(),
                reason: DeclineReason::Declined,
            }))
            .then_error(TopUpSagaError::Contradiction {
                input: TopUpSagaInputKind::PaymentFailed,
            });
    }
}

mod late_capture {
    use super::*;

    #[test]
    fn a_capture_after_the_cancel_is_refunded_once_and_recorded_once_the_top_up_is_final() {
        let (outcome, state) = given_started(canceled())
            .when(cmd(payment_succeeded()))
            .then_outcome(late_refund());
        assert_eq!(
            outcome.dispatches,
            vec![
                payment_dispatch(
                    "refund",
                    PaymentAction::RequestRefund {
                        amount: d("20"),
                        reason: RefundReason::LateCapture,
                    }
                ),
                top_up_dispatch("expire", TopUpAction::Expire),
            ]
        );
        let saga = state.saga().expect("saga");
        assert_eq!(saga.late_capture(), Some(d("20")));
        assert_eq!(saga.resolution(), Some(TopUpResolution::Expire));
        // Once the top-up expired, the late capture is recorded on it.
        let state = given_started(with(canceled(), late_refund()))
            .when(cmd(TopUpSagaInput::TopUpFinished {
                status: TopUpStatus::Expired,
            }))
            .then(vec![Kind::TopUpSagaTopUpFinished {
                status: TopUpStatus::Expired,
            }]);
        assert_eq!(
            keys(&state.dispatches()),
            step_keys(&["record-capture", "refund"])
        );
        assert!(!state.is_finished());
    }

    #[test]
    fn a_capture_after_a_decline_is_refunded() {
        given_started([
            Kind::TopUpSagaPaymentCreated,
            Kind::TopUpSagaPaymentDeclined {
                reason: DeclineReason::InsufficientFunds,
            },
            resolution(declined()),
        ])
        .when(cmd(payment_succeeded()))
        .then(late_refund());
    }

    #[test]
    fn a_capture_after_an_expiry_without_payment_is_refunded() {
        given_started([
            Kind::TopUpSagaDeadlineReached {
                expires_at: deadline(),
            },
            resolution(TopUpResolution::Expire),
            Kind::TopUpSagaPaymentCreated,
        ])
        .when(cmd(payment_succeeded()))
        .then(late_refund());
    }

    #[test]
    fn the_refund_is_followed_to_its_end() {
        let late = with(canceled(), late_refund());
        let state = given_started(late.clone())
            .when(cmd(TopUpSagaInput::RefundRequested {
                payment_id: payment_id(),
                refund_id: id(5),
                amount: d("20"),
                reason: RefundReason::LateCapture,
            }))
            .then(vec![Kind::TopUpSagaRefundAccepted { refund_id: id(5) }]);
        assert_eq!(keys(&state.dispatches()), step_keys(&["expire"]));
        // Refunds of anyone else are not the saga's.
        given_started(late.clone())
            .when(cmd(TopUpSagaInput::RefundRequested {
                payment_id: payment_id(),
                refund_id: id(6),
                amount: d("20"),
                reason: RefundReason::RequestedByCustomer,
            }))
            .then(vec![]);
        let accepted = with(
            late,
            [
                Kind::TopUpSagaRefundAccepted { refund_id: id(5) },
                Kind::TopUpSagaTopUpFinished {
                    status: TopUpStatus::Expired,
                },
                Kind::TopUpSagaCaptureRecorded,
            ],
        );
        given_started(accepted.clone())
            .when(cmd(TopUpSagaInput::RefundSucceeded {
                payment_id: payment_id(),
                refund_id: id(6),
            }))
            .then(vec![]);
        let state = given_started(accepted.clone())
            .when(cmd(TopUpSagaInput::RefundSucceeded {
                payment_id: payment_id(),
                refund_id: id(5),
            }))
            .then(vec![Kind::TopUpSagaRefundSucceeded { refund_id: id(5) }]);
        assert!(state.is_finished());
        let state = given_started(accepted)
            .when(cmd(TopUpSagaInput::RefundFailed {
                payment_id: payment_id(),
                refund_id: id(5),
                reason: RefundFailureReason::CardClosed,
            }))
            .then(vec![Kind::TopUpSagaRefundFailed {
                refund_id: id(5),
                reason: RefundFailureReason::CardClosed,
            }]);
        assert!(
            state.is_finished(),
            "a failed refund is reported, not retried"
        );
        assert_eq!(
            state
                .saga()
                .and_then(TopUpSaga::refund)
                .and_then(CompensationRefund::outcome),
            Some(Err(RefundFailureReason::CardClosed))
        );
    }
}

mod mapping {
    use super::*;
    use crate::decider::Decider;
    use crate::payment::{
        PaymentDecider, PaymentEvent, PaymentEventKind, PaymentIntentCreated, PaymentStatus,
        ProviderEventId,
    };
    use crate::topup::{TopUpEvent, TopUpEventKind};
    use crate::wallet::{LimitKind, WalletError, WalletOutcome};

    #[test]
    fn top_up_events_map_to_inputs_of_their_saga() {
        let event = |kind| TopUpEvent {
            occurred_at: NOW,
            kind,
        };
        let input = |kind| TopUpSagaCommand::from_top_up_event(top_up_id(), &event(kind)).input;
        assert_eq!(
            input(TopUpEventKind::TopUpPaymentCaptured {
                payment_id: payment_id(),
                amount: d("20"),
            }),
            TopUpSagaInput::TopUpCaptureRecorded
        );
        assert_eq!(
            input(TopUpEventKind::TopUpExpired {
                expires_at: deadline()
            }),
            TopUpSagaInput::TopUpFinished {
                status: TopUpStatus::Expired
            }
        );
    }

    #[test]
    fn payment_events_reach_the_saga_of_their_top_up() {
        let created = PaymentEvent {
            occurred_at: NOW,
            kind: PaymentEventKind::PaymentIntentCreated(PaymentIntentCreated {
                payment_id: payment_id(),
                tenant: TENANT.into(),
                owner: "customer-1".into(),
                asset: usd(),
                amount: d("20"),
                top_up_id: Some(top_up_id()),
                payment_method_id: None,
                expires_at: None,
            }),
        };
        let state = PaymentDecider::evolve(Default::default(), &created);
        let intent = state.intent().expect("intent");
        let command = TopUpSagaCommand::from_payment_event(intent, &created).expect("routed");
        assert_eq!(command.top_up_id, top_up_id());
        assert_eq!(
            command.input,
            TopUpSagaInput::PaymentCreated {
                payment_id: payment_id()
            }
        );
        let succeeded = PaymentEvent {
            occurred_at: NOW,
            kind: PaymentEventKind::PaymentSucceeded {
                provider_event_id: ProviderEventId::parse("evt").expect("id"),
                amount: d("20"),
                previous_status: PaymentStatus::RequiresPaymentMethod,
            },
        };
        assert_eq!(
            TopUpSagaCommand::from_payment_event(intent, &succeeded).map(|c| c.input),
            Some(payment_succeeded())
        );
        // An intent that funds no top-up reaches no saga.
        let mut lone = created.clone();
        if let PaymentEventKind::PaymentIntentCreated(created) = &mut lone.kind {
            created.top_up_id = None;
        }
        let state = PaymentDecider::evolve(Default::default(), &lone);
        assert_eq!(
            TopUpSagaCommand::from_payment_event(state.intent().expect("intent"), &lone),
            None
        );
    }

    #[test]
    fn credit_replies_map_to_credited_or_rejected() {
        let outcome = WalletOutcome {
            balance: d("20"),
            held: d("0"),
            entry_id: Some(id(1)),
        };
        assert_eq!(
            TopUpSagaCommand::from_credit_reply(top_up_id(), CreditPart::Paid, Ok(&outcome))
                .map(|c| c.input),
            Some(credited(CreditPart::Paid, 1))
        );
        let error = WalletError::LimitExceeded {
            limit: LimitKind::MaxBalance,
            limit_value: "100.00".into(),
        };
        assert_eq!(
            TopUpSagaCommand::from_credit_reply(top_up_id(), CreditPart::Granted, Err(&error))
                .map(|c| c.input),
            Some(rejected(
                CreditPart::Granted,
                CreditRejection::MaxBalanceExceeded
            ))
        );
    }

    #[test]
    fn a_saga_wallet_credit_becomes_a_wallet_credit_command() {
        let credit = credit_dispatch(top_up_id().to_string(), "20", CreditSource::Paid);
        let DispatchCommand::WalletCredit(credit) = credit.command else {
            panic!("a credit");
        };
        let command = credit.to_command();
        assert_eq!(command.wallet_id, wallet_id());
        assert!(matches!(
            command.action,
            crate::wallet::WalletAction::Credit {
                source: CreditSource::Paid,
                ..
            }
        ));
    }
}

mod evolve {
    use super::*;

    #[test]
    #[should_panic(expected = "applied before TopUpSagaStarted")]
    fn events_before_the_start_are_refused() {
        given_saga([Kind::TopUpSagaPaymentCreated]);
    }

    #[test]
    #[should_panic(expected = "a second compensating refund")]
    fn a_second_refund_is_refused() {
        given_started(with(
            with(canceled(), late_refund()),
            [Kind::TopUpSagaRefundRequested {
                amount: d("20"),
                reason: RefundReason::LateCapture,
            }],
        ));
    }

    #[test]
    #[should_panic(expected = "resolution")]
    fn a_resolution_is_not_changed_at_will() {
        given_started(with(canceled(), [resolution(TopUpResolution::Complete)]));
    }

    #[test]
    fn event_types_are_the_stable_names() {
        assert_eq!(
            early::<TopUpSagaEvent>(Kind::TopUpSagaStarted { facts: facts() }).event_type(),
            "TopUpSagaStarted"
        );
        assert_eq!(
            early::<TopUpSagaEvent>(late_refund()[0].clone()).event_type(),
            "TopUpSagaLateCaptureDetected"
        );
        assert_eq!(
            early::<TopUpSagaEvent>(resolution(TopUpResolution::Expire)).event_type(),
            "TopUpSagaResolutionChosen"
        );
    }
}
