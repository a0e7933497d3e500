//! Every top-up saga rule: from an observation and the saga's state to the saga's next facts.
//! What to send follows from the state ([`super::TopUpSagaState::dispatches`]).

use super::error::TopUpSagaError;
use super::event::{TopUpSagaEvent, TopUpSagaEventKind};
use super::input::{CreditPart, TopUpSagaCommand, TopUpSagaInput};
use super::state::{CreditProgress, PaymentSeen, TopUpResolution, TopUpSaga, TopUpSagaState};
use super::{CREDIT_RETRY_DELAY_MS, MAX_CREDIT_ATTEMPTS};
use crate::decider::Context;
use crate::payment::{DeclineReason, RefundReason};
use crate::topup::{CreditRejection, TopUpFailureReason};

use TopUpSagaEventKind as Kind;

pub(crate) fn decide(
    state: &TopUpSagaState,
    command: &TopUpSagaCommand,
    ctx: &Context,
) -> Result<Vec<TopUpSagaEvent>, TopUpSagaError> {
    let kinds = decide_kinds(state, command, ctx)?;
    Ok(kinds
        .into_iter()
        .map(|kind| TopUpSagaEvent {
            occurred_at: ctx.now,
            kind,
        })
        .collect())
}

fn decide_kinds(
    state: &TopUpSagaState,
    command: &TopUpSagaCommand,
    ctx: &Context,
) -> Result<Vec<Kind>, TopUpSagaError> {
    let Some(saga) = state.saga() else {
        return match &command.input {
            TopUpSagaInput::TopUpCreated(facts) if facts.top_up_id == command.top_up_id => {
                Ok(vec![Kind::TopUpSagaStarted {
                    facts: facts.clone(),
                }])
            }
            TopUpSagaInput::TopUpCreated(_) => Err(TopUpSagaError::WrongSaga),
            _ => Err(TopUpSagaError::NotStarted),
        };
    };
    let facts = &saga.facts;
    if facts.top_up_id != command.top_up_id {
        return Err(TopUpSagaError::WrongSaga);
    }
    if let Some(payment_id) = command.input.payment_id()
        && payment_id != facts.payment_id
    {
        return Err(TopUpSagaError::PaymentMismatch {
            expected: facts.payment_id,
        });
    }
    let contradiction = || TopUpSagaError::Contradiction {
        input: command.input.kind(),
    };
    // Inputs arrive at least once: whatever is already known yields no events.
    match &command.input {
        TopUpSagaInput::TopUpCreated(again) => {
            if again == facts {
                Ok(vec![])
            } else {
                Err(TopUpSagaError::StartMismatch)
            }
        }
        TopUpSagaInput::TopUpCaptureRecorded => {
            if saga.capture_recorded {
                Ok(vec![])
            } else if saga.payment == PaymentSeen::Captured || saga.late_capture.is_some() {
                Ok(vec![Kind::TopUpSagaCaptureRecorded])
            } else {
                Err(contradiction())
            }
        }
        TopUpSagaInput::TopUpFinished { status } => {
            if saga.top_up_status == *status {
                return Ok(vec![]);
            }
            let expected = saga.resolution.map(TopUpResolution::status);
            if saga.top_up_status.is_final() || expected != Some(*status) {
                return Err(TopUpSagaError::UnexpectedTopUpStatus {
                    observed: *status,
                    expected,
                });
            }
            Ok(vec![Kind::TopUpSagaTopUpFinished { status: *status }])
        }
        TopUpSagaInput::PaymentCreated { .. } => Ok(match saga.payment {
            PaymentSeen::NotCreated => vec![Kind::TopUpSagaPaymentCreated],
            _ => vec![],
        }),
        TopUpSagaInput::PaymentSucceeded { amount, .. } => {
            if *amount != facts.amount {
                return Err(TopUpSagaError::CaptureAmountMismatch {
                    expected: facts.amount,
                });
            }
            if saga.payment == PaymentSeen::Captured || saga.late_capture.is_some() {
                return Ok(vec![]);
            }
            match saga.resolution {
                // Nothing was given up yet: the payment stream ordered this capture before any
                // cancel, so it is in time, even if it lands after the deadline.
                None => Ok(vec![
                    Kind::TopUpSagaPaymentCaptured {
                        amount: facts.amount,
                    },
                    Kind::TopUpSagaResolutionChosen {
                        resolution: TopUpResolution::Complete,
                    },
                ]),
                Some(TopUpResolution::Expire)
                | Some(TopUpResolution::Fail {
                    reason: TopUpFailureReason::Declined { .. },
                }) => Ok(vec![
                    Kind::TopUpSagaLateCaptureDetected {
                        amount: facts.amount,
                    },
                    Kind::TopUpSagaRefundRequested {
                        amount: facts.amount,
                        reason: RefundReason::LateCapture,
                    },
                ]),
                Some(TopUpResolution::Complete)
                | Some(TopUpResolution::Fail {
                    reason: TopUpFailureReason::CreditRejected { .. },
                }) => Err(contradiction()),
            }
        }
        TopUpSagaInput::PaymentFailed { reason, .. } => {
            match saga.payment {
                PaymentSeen::Declined { .. } => return Ok(vec![]),
                PaymentSeen::Captured | PaymentSeen::Canceled => return Err(contradiction()),
                PaymentSeen::NotCreated | PaymentSeen::Created => {}
            }
            if saga.late_capture.is_some() {
                return Err(contradiction());
            }
            Ok(declined(saga, *reason))
        }
        TopUpSagaInput::PaymentCanceled { .. } => {
            match saga.payment {
                PaymentSeen::Canceled => return Ok(vec![]),
                PaymentSeen::Captured | PaymentSeen::Declined { .. } => {
                    return Err(contradiction());
                }
                PaymentSeen::NotCreated | PaymentSeen::Created => {}
            }
            if saga.late_capture.is_some() {
                return Err(contradiction());
            }
            let mut kinds = vec![Kind::TopUpSagaPaymentCanceled];
            // Cancelled by anyone before the deadline, the top-up still expires only at it.
            if saga.resolution.is_none() {
                kinds.push(Kind::TopUpSagaResolutionChosen {
                    resolution: TopUpResolution::Expire,
                });
            }
            Ok(kinds)
        }
        TopUpSagaInput::RefundRequested {
            refund_id,
            amount,
            reason,
            ..
        } => {
            // Refunds requested by anyone else (an operator, the integrator) are not the saga's.
            let ours = saga.refund.as_ref().is_some_and(|refund| {
                refund.refund_id.is_none() && refund.reason == *reason && refund.amount == *amount
            });
            Ok(if ours {
                vec![Kind::TopUpSagaRefundAccepted {
                    refund_id: *refund_id,
                }]
            } else {
                vec![]
            })
        }
        TopUpSagaInput::RefundSucceeded { refund_id, .. } => {
            Ok(if pending_refund(saga, *refund_id) {
                vec![Kind::TopUpSagaRefundSucceeded {
                    refund_id: *refund_id,
                }]
            } else {
                vec![]
            })
        }
        TopUpSagaInput::RefundFailed {
            refund_id, reason, ..
        } => Ok(if pending_refund(saga, *refund_id) {
            vec![Kind::TopUpSagaRefundFailed {
                refund_id: *refund_id,
                reason: *reason,
            }]
        } else {
            vec![]
        }),
        TopUpSagaInput::WalletCredited { part, lot_id } => {
            let progress = saga.part(*part).ok_or_else(contradiction)?;
            match progress {
                CreditProgress::Credited { lot_id: known } if known == *lot_id => Ok(vec![]),
                CreditProgress::Credited { .. } | CreditProgress::Rejected { .. } => {
                    Err(contradiction())
                }
                CreditProgress::Pending { .. } | CreditProgress::Deferred { .. } => {
                    require_credit_sent(saga, *part).ok_or_else(contradiction)?;
                    Ok(vec![Kind::TopUpSagaCredited {
                        part: *part,
                        lot_id: *lot_id,
                    }])
                }
            }
        }
        TopUpSagaInput::WalletCreditRejected { part, reason } => {
            let progress = saga.part(*part).ok_or_else(contradiction)?;
            match progress {
                // A second answer to an attempt already answered, or a stale answer to an
                // attempt before the one that succeeded.
                CreditProgress::Rejected { .. }
                | CreditProgress::Deferred { .. }
                | CreditProgress::Credited { .. } => Ok(vec![]),
                CreditProgress::Pending { attempts } => {
                    require_credit_sent(saga, *part).ok_or_else(contradiction)?;
                    Ok(credit_rejected(saga, *part, *reason, attempts, ctx))
                }
            }
        }
        TopUpSagaInput::Timer => Ok(timer(saga, ctx)),
    }
}

fn declined(saga: &TopUpSaga, reason: DeclineReason) -> Vec<Kind> {
    let mut kinds = vec![Kind::TopUpSagaPaymentDeclined { reason }];
    // A decline after the saga already chose to expire (the intent was created after the
    // deadline) changes nothing about the top-up.
    if saga.resolution.is_none() {
        kinds.push(Kind::TopUpSagaResolutionChosen {
            resolution: TopUpResolution::Fail {
                reason: TopUpFailureReason::Declined { reason },
            },
        });
    }
    kinds
}

fn pending_refund(saga: &TopUpSaga, refund_id: uuid::Uuid) -> bool {
    saga.refund
        .as_ref()
        .is_some_and(|refund| refund.refund_id == Some(refund_id) && refund.outcome.is_none())
}

/// A credit answer is only possible for a credit the saga sent: after a capture in time, and
/// for the granted part after the paid part.
fn require_credit_sent(saga: &TopUpSaga, part: CreditPart) -> Option<()> {
    let paid_done = matches!(saga.paid, CreditProgress::Credited { .. });
    let sent = saga.resolution == Some(TopUpResolution::Complete)
        && (part == CreditPart::Paid || paid_done);
    sent.then_some(())
}

fn credit_rejected(
    saga: &TopUpSaga,
    part: CreditPart,
    reason: CreditRejection,
    attempts: u32,
    ctx: &Context,
) -> Vec<Kind> {
    let attempts = attempts + 1;
    if reason.is_transient() && attempts < MAX_CREDIT_ATTEMPTS {
        return vec![Kind::TopUpSagaCreditDeferred {
            part,
            retry_at: ctx.now.plus_millis(CREDIT_RETRY_DELAY_MS),
            attempts,
        }];
    }
    let mut kinds = vec![Kind::TopUpSagaCreditRejected { part, reason }];
    if part == CreditPart::Paid {
        // Nothing was credited: give the money back and fail the top-up.
        kinds.push(Kind::TopUpSagaResolutionChosen {
            resolution: TopUpResolution::Fail {
                reason: TopUpFailureReason::CreditRejected { reason },
            },
        });
        kinds.push(Kind::TopUpSagaRefundRequested {
            amount: saga.facts.amount,
            reason: RefundReason::CreditRejected,
        });
    }
    kinds
}

fn timer(saga: &TopUpSaga, ctx: &Context) -> Vec<Kind> {
    let mut kinds = Vec::new();
    let awaiting = matches!(saga.resolution, None | Some(TopUpResolution::Expire));
    if awaiting && !saga.deadline_reached && ctx.now >= saga.facts.expires_at {
        kinds.push(Kind::TopUpSagaDeadlineReached {
            expires_at: saga.facts.expires_at,
        });
        // No intent to cancel: the top-up expires at once.
        if saga.payment == PaymentSeen::NotCreated && saga.resolution.is_none() {
            kinds.push(Kind::TopUpSagaResolutionChosen {
                resolution: TopUpResolution::Expire,
            });
        }
    }
    for part in [CreditPart::Paid, CreditPart::Granted] {
        if let Some(CreditProgress::Deferred { retry_at, .. }) = saga.part(part)
            && ctx.now >= retry_at
        {
            kinds.push(Kind::TopUpSagaCreditRetryDue { part });
        }
    }
    kinds
}
