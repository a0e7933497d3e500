//! Top-up saga state, `evolve`, its timer and the commands it wants sent.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::event::{TopUpSagaEvent, TopUpSagaEventKind};
use super::input::{CreditPart, TopUpFacts};
use crate::payment::{
    CancelReason, CreatePayment, DeclineReason, PaymentAction, PaymentCommand, RefundFailureReason,
    RefundReason,
};
use crate::saga::dispatch::{Dispatch, DispatchCommand, WalletCredit, derived_key};
use crate::time::Timestamp;
use crate::topup::{
    CreditRejection, GrantedCredit, TopUpAction, TopUpCommand, TopUpFailureReason, TopUpStatus,
};

/// The state of one top-up saga: nothing before `TopUpSagaStarted`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopUpSagaState(pub(crate) Option<TopUpSaga>);

impl TopUpSagaState {
    /// The saga, once started.
    pub fn saga(&self) -> Option<&TopUpSaga> {
        self.0.as_ref()
    }

    /// When the saga's timer must fire next: the top-up's deadline while no capture, decline or
    /// earlier deadline is known, and the retry time of a deferred credit. This is the durable
    /// timer of the top-up flow: rebuilt from the saga's events, and an overdue one fires at once.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let saga = self.0.as_ref()?;
        let deadline = (!saga.deadline_reached
            && matches!(saga.resolution, None | Some(TopUpResolution::Expire)))
        .then_some(saga.facts.expires_at);
        let retries = [Some(&saga.paid), saga.granted.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|progress| match progress {
                CreditProgress::Deferred { retry_at, .. } => Some(*retry_at),
                _ => None,
            });
        deadline.into_iter().chain(retries).min()
    }

    /// The commands the saga wants executed now (empty before it starts). Level-triggered: a
    /// command stays here until the saga observes its effect, so re-sending the whole list after
    /// a restart is how nothing gets lost; the derived idempotency keys make repeats harmless.
    pub fn dispatches(&self) -> Vec<Dispatch> {
        self.0.as_ref().map_or_else(Vec::new, TopUpSaga::dispatches)
    }

    /// Whether the saga has nothing left to do: the top-up is final, any compensating refund
    /// has its answer, and no command is wanted.
    pub fn is_finished(&self) -> bool {
        self.0.as_ref().is_some_and(|saga| {
            saga.top_up_status.is_final()
                && saga
                    .refund
                    .as_ref()
                    .is_none_or(|refund| refund.outcome.is_some())
                && saga.dispatches().is_empty()
        })
    }

    /// Applies one event. Panics if the event contradicts the state.
    pub(crate) fn apply(self, event: &TopUpSagaEvent) -> Self {
        let saga = match (self.0, &event.kind) {
            (None, TopUpSagaEventKind::TopUpSagaStarted { facts }) => TopUpSaga {
                facts: facts.clone(),
                started_at: event.occurred_at,
                payment: PaymentSeen::NotCreated,
                deadline_reached: false,
                resolution: None,
                late_capture: None,
                capture_recorded: false,
                paid: CreditProgress::Pending { attempts: 0 },
                granted: (facts.granted_amount() > Decimal::ZERO)
                    .then_some(CreditProgress::Pending { attempts: 0 }),
                refund: None,
                top_up_status: TopUpStatus::Created,
            },
            (Some(_), TopUpSagaEventKind::TopUpSagaStarted { .. }) => {
                panic!("TopUpSagaStarted applied to a started saga")
            }
            (None, _) => panic!("{} applied before TopUpSagaStarted", event.event_type()),
            (Some(mut saga), kind) => {
                saga.apply(kind);
                saga
            }
        };
        saga.assert_invariants();
        TopUpSagaState(Some(saga))
    }
}

/// What the saga knows of the payment intent.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PaymentSeen {
    /// Not created yet (as far as the saga knows).
    NotCreated,
    /// Created and open.
    Created,
    /// Captured in time.
    Captured,
    /// Declined.
    Declined {
        /// Why.
        reason: DeclineReason,
    },
    /// Cancelled.
    Canceled,
}

/// How the saga ends the top-up.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopUpResolution {
    /// Credit the wallet and complete.
    Complete,
    /// Expire at the deadline.
    Expire,
    /// Fail.
    Fail {
        /// Why.
        reason: TopUpFailureReason,
    },
}

impl TopUpResolution {
    /// The top-up's final status under this resolution.
    pub fn status(self) -> TopUpStatus {
        match self {
            Self::Complete => TopUpStatus::Completed,
            Self::Expire => TopUpStatus::Expired,
            Self::Fail { .. } => TopUpStatus::Failed,
        }
    }
}

/// Where one wallet credit stands.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CreditProgress {
    /// To be sent (after `attempts` passing refusals).
    Pending {
        /// Passing refusals so far.
        attempts: u32,
    },
    /// Refused for a passing reason; sent again at `retry_at`.
    Deferred {
        /// When it is sent again.
        retry_at: Timestamp,
        /// Passing refusals so far.
        attempts: u32,
    },
    /// Credited as this lot.
    Credited {
        /// The lot.
        lot_id: Uuid,
    },
    /// Refused for good.
    Rejected {
        /// Why.
        reason: CreditRejection,
    },
}

impl CreditProgress {
    fn is_open(self) -> bool {
        matches!(self, Self::Pending { .. } | Self::Deferred { .. })
    }
}

/// The saga's one compensating refund.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompensationRefund {
    pub(crate) amount: Decimal,
    pub(crate) reason: RefundReason,
    pub(crate) refund_id: Option<Uuid>,
    pub(crate) outcome: Option<Result<(), RefundFailureReason>>,
}

impl CompensationRefund {
    /// How much is refunded.
    pub fn amount(&self) -> Decimal {
        self.amount
    }

    /// `late_capture` or `credit_rejected`.
    pub fn reason(&self) -> RefundReason {
        self.reason
    }

    /// The payment's id for it, once the payment accepted it.
    pub fn refund_id(&self) -> Option<Uuid> {
        self.refund_id
    }

    /// What the provider answered: Ok when the money went back, the reason when it could not.
    pub fn outcome(&self) -> Option<Result<(), RefundFailureReason>> {
        self.outcome
    }
}

/// One top-up's saga.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopUpSaga {
    pub(crate) facts: TopUpFacts,
    pub(crate) started_at: Timestamp,
    pub(crate) payment: PaymentSeen,
    pub(crate) deadline_reached: bool,
    pub(crate) resolution: Option<TopUpResolution>,
    // A capture after the saga gave the payment up: the amount refunded.
    pub(crate) late_capture: Option<Decimal>,
    // The top-up acknowledged the capture (in time or late).
    pub(crate) capture_recorded: bool,
    pub(crate) paid: CreditProgress,
    // None when the top-up grants nothing.
    pub(crate) granted: Option<CreditProgress>,
    pub(crate) refund: Option<CompensationRefund>,
    // The top-up's status as last observed.
    pub(crate) top_up_status: TopUpStatus,
}

impl TopUpSaga {
    /// The top-up's facts.
    pub fn facts(&self) -> &TopUpFacts {
        &self.facts
    }

    /// When the saga started.
    pub fn started_at(&self) -> Timestamp {
        self.started_at
    }

    /// What the saga knows of the payment.
    pub fn payment(&self) -> PaymentSeen {
        self.payment
    }

    /// Whether the deadline passed before a capture or decline was known.
    pub fn deadline_reached(&self) -> bool {
        self.deadline_reached
    }

    /// How the saga ends the top-up, once chosen.
    pub fn resolution(&self) -> Option<TopUpResolution> {
        self.resolution
    }

    /// The amount of a late capture, if one arrived.
    pub fn late_capture(&self) -> Option<Decimal> {
        self.late_capture
    }

    /// Progress of the paid credit.
    pub fn paid(&self) -> CreditProgress {
        self.paid
    }

    /// Progress of the granted credit; None when nothing is granted.
    pub fn granted(&self) -> Option<CreditProgress> {
        self.granted
    }

    /// The compensating refund, if one was needed.
    pub fn refund(&self) -> Option<&CompensationRefund> {
        self.refund.as_ref()
    }

    /// The top-up's status as last observed.
    pub fn top_up_status(&self) -> TopUpStatus {
        self.top_up_status
    }

    pub(crate) fn part(&self, part: CreditPart) -> Option<CreditProgress> {
        match part {
            CreditPart::Paid => Some(self.paid),
            CreditPart::Granted => self.granted,
        }
    }

    fn part_mut(&mut self, part: CreditPart) -> &mut CreditProgress {
        match (part, self.granted.as_mut()) {
            (CreditPart::Paid, _) => &mut self.paid,
            (CreditPart::Granted, Some(granted)) => granted,
            (CreditPart::Granted, None) => {
                panic!("granted credit event for a top-up granting nothing")
            }
        }
    }

    fn apply(&mut self, kind: &TopUpSagaEventKind) {
        match kind {
            TopUpSagaEventKind::TopUpSagaStarted { .. } => {
                unreachable!("handled by TopUpSagaState::apply")
            }
            TopUpSagaEventKind::TopUpSagaPaymentCreated => {
                assert_eq!(
                    self.payment,
                    PaymentSeen::NotCreated,
                    "payment created twice"
                );
                self.payment = PaymentSeen::Created;
            }
            TopUpSagaEventKind::TopUpSagaResolutionChosen { resolution } => {
                // Only a refused paid credit may turn completion into failure.
                let allowed = matches!(
                    (self.resolution, resolution),
                    (None, _)
                        | (
                            Some(TopUpResolution::Complete),
                            TopUpResolution::Fail {
                                reason: TopUpFailureReason::CreditRejected { .. },
                            },
                        )
                );
                assert!(
                    allowed,
                    "resolution {:?} chosen after {:?}",
                    resolution, self.resolution
                );
                self.resolution = Some(*resolution);
            }
            TopUpSagaEventKind::TopUpSagaDeadlineReached { expires_at } => {
                assert_eq!(*expires_at, self.facts.expires_at, "deadline");
                assert!(!self.deadline_reached, "deadline reached twice");
                self.deadline_reached = true;
            }
            TopUpSagaEventKind::TopUpSagaPaymentCaptured { amount } => {
                self.require_open_payment("captured");
                assert_eq!(*amount, self.facts.amount, "capture of another amount");
                self.payment = PaymentSeen::Captured;
            }
            TopUpSagaEventKind::TopUpSagaPaymentDeclined { reason } => {
                self.require_open_payment("declined");
                self.payment = PaymentSeen::Declined { reason: *reason };
            }
            TopUpSagaEventKind::TopUpSagaPaymentCanceled => {
                self.require_open_payment("canceled");
                self.payment = PaymentSeen::Canceled;
            }
            TopUpSagaEventKind::TopUpSagaLateCaptureDetected { amount } => {
                assert!(self.late_capture.is_none(), "late capture detected twice");
                assert_ne!(self.payment, PaymentSeen::Captured, "late after in time");
                self.late_capture = Some(*amount);
            }
            TopUpSagaEventKind::TopUpSagaRefundRequested { amount, reason } => {
                assert!(self.refund.is_none(), "a second compensating refund");
                self.refund = Some(CompensationRefund {
                    amount: *amount,
                    reason: *reason,
                    refund_id: None,
                    outcome: None,
                });
            }
            TopUpSagaEventKind::TopUpSagaRefundAccepted { refund_id } => {
                let refund = self
                    .refund
                    .as_mut()
                    .expect("refund accepted before requested");
                assert!(refund.refund_id.is_none(), "refund accepted twice");
                refund.refund_id = Some(*refund_id);
            }
            TopUpSagaEventKind::TopUpSagaRefundSucceeded { refund_id } => {
                self.resolve_refund(*refund_id, Ok(()));
            }
            TopUpSagaEventKind::TopUpSagaRefundFailed { refund_id, reason } => {
                self.resolve_refund(*refund_id, Err(*reason));
            }
            TopUpSagaEventKind::TopUpSagaCaptureRecorded => {
                assert!(!self.capture_recorded, "capture recorded twice");
                self.capture_recorded = true;
            }
            TopUpSagaEventKind::TopUpSagaCredited { part, lot_id } => {
                let progress = self.part_mut(*part);
                assert!(progress.is_open(), "{part} credit resolved twice");
                *progress = CreditProgress::Credited { lot_id: *lot_id };
            }
            TopUpSagaEventKind::TopUpSagaCreditDeferred {
                part,
                retry_at,
                attempts,
            } => {
                let progress = self.part_mut(*part);
                let CreditProgress::Pending { attempts: before } = *progress else {
                    panic!("{part} credit deferred while {progress:?}");
                };
                assert_eq!(*attempts, before + 1, "deferral attempts");
                *progress = CreditProgress::Deferred {
                    retry_at: *retry_at,
                    attempts: *attempts,
                };
            }
            TopUpSagaEventKind::TopUpSagaCreditRetryDue { part } => {
                let progress = self.part_mut(*part);
                let CreditProgress::Deferred { attempts, .. } = *progress else {
                    panic!("{part} credit retried while {progress:?}");
                };
                *progress = CreditProgress::Pending { attempts };
            }
            TopUpSagaEventKind::TopUpSagaCreditRejected { part, reason } => {
                let progress = self.part_mut(*part);
                assert!(progress.is_open(), "{part} credit resolved twice");
                *progress = CreditProgress::Rejected { reason: *reason };
            }
            TopUpSagaEventKind::TopUpSagaTopUpFinished { status } => {
                assert_eq!(self.top_up_status, TopUpStatus::Created, "finished twice");
                assert!(status.is_final(), "finished as {status}");
                self.top_up_status = *status;
            }
        }
    }

    fn require_open_payment(&self, what: &str) {
        assert!(
            matches!(self.payment, PaymentSeen::NotCreated | PaymentSeen::Created),
            "payment {what} while {:?}",
            self.payment
        );
    }

    fn resolve_refund(&mut self, refund_id: Uuid, outcome: Result<(), RefundFailureReason>) {
        let refund = self
            .refund
            .as_mut()
            .expect("refund resolved before requested");
        assert_eq!(refund.refund_id, Some(refund_id), "another refund resolved");
        assert!(refund.outcome.is_none(), "refund resolved twice");
        refund.outcome = Some(outcome);
    }

    fn assert_invariants(&self) {
        let captured = self.payment == PaymentSeen::Captured;
        assert!(
            !(captured && self.late_capture.is_some()),
            "captured both in time and late"
        );
        if let Some(TopUpResolution::Complete) = self.resolution {
            assert!(captured, "completing without a capture");
        }
        let credit_started = !self.paid.is_open() || self.granted.is_some_and(|g| !g.is_open());
        if credit_started {
            assert!(captured, "credit before a capture in time");
        }
        if self.granted.is_some_and(|g| !g.is_open()) {
            assert!(
                matches!(self.paid, CreditProgress::Credited { .. }),
                "granted part before the paid part"
            );
        }
        if self.top_up_status.is_final() {
            assert_eq!(
                self.resolution.map(TopUpResolution::status),
                Some(self.top_up_status),
                "the top-up ended otherwise than the saga chose"
            );
        }
        if let Some(refund) = &self.refund {
            let expected = match refund.reason {
                RefundReason::LateCapture => self.late_capture,
                RefundReason::CreditRejected => {
                    matches!(self.paid, CreditProgress::Rejected { .. })
                        .then_some(self.facts.amount)
                }
                other => panic!("compensating refund for {other}"),
            };
            assert_eq!(Some(refund.amount), expected, "compensating refund amount");
        }
    }

    fn dispatches(&self) -> Vec<Dispatch> {
        let facts = &self.facts;
        let id = facts.top_up_id;
        let mut out = Vec::new();
        let payment = |action| {
            DispatchCommand::Payment(PaymentCommand {
                tenant: facts.tenant.clone(),
                payment_id: facts.payment_id,
                action,
            })
        };
        let top_up = |action| {
            DispatchCommand::TopUp(TopUpCommand {
                tenant: facts.tenant.clone(),
                top_up_id: id,
                action,
            })
        };
        let mut push = |step: &str, command| {
            out.push(Dispatch {
                idempotency_key: derived_key(format!("top-up:{id}:{step}")),
                command,
            });
        };
        if self.payment == PaymentSeen::NotCreated
            && !self.deadline_reached
            && self.resolution.is_none()
        {
            push(
                "create-payment",
                payment(PaymentAction::Create(CreatePayment {
                    owner: facts.owner.clone(),
                    asset: facts.asset.clone(),
                    amount: facts.amount,
                    top_up_id: Some(id),
                    payment_method_id: facts.payment_method_id,
                    expires_at: Some(facts.expires_at),
                })),
            );
        }
        if self.deadline_reached
            && self.payment == PaymentSeen::Created
            && self.late_capture.is_none()
        {
            push(
                "cancel-payment",
                payment(PaymentAction::Cancel {
                    reason: CancelReason::TopUpExpired,
                }),
            );
        }
        // A late capture is recorded only once the top-up is final: recorded earlier, it would
        // count as in time and block the expiry or the decline.
        let capture_known = self.payment == PaymentSeen::Captured
            || (self.late_capture.is_some() && self.top_up_status.is_final());
        if capture_known && !self.capture_recorded {
            push(
                "record-capture",
                top_up(TopUpAction::RecordPaymentCaptured {
                    payment_id: facts.payment_id,
                    amount: facts.amount,
                }),
            );
        }
        if let Some(refund) = &self.refund
            && refund.refund_id.is_none()
        {
            push(
                "refund",
                payment(PaymentAction::RequestRefund {
                    amount: refund.amount,
                    reason: refund.reason,
                }),
            );
        }
        if self.top_up_status == TopUpStatus::Created
            && let Some(action) = self.finishing_action()
        {
            let step = match action {
                TopUpAction::Complete { .. } => "complete",
                TopUpAction::Expire => "expire",
                _ => "fail",
            };
            push(step, top_up(action));
        }
        if self.resolution == Some(TopUpResolution::Complete) {
            if let CreditProgress::Pending { .. } = self.paid {
                out.push(self.credit(CreditPart::Paid, id.to_string()));
            }
            if let (CreditProgress::Credited { .. }, Some(CreditProgress::Pending { .. })) =
                (self.paid, self.granted)
            {
                out.push(self.credit(CreditPart::Granted, format!("{id}:granted")));
            }
        }
        out
    }

    /// The top-up command that ends the top-up, once everything it needs is known.
    fn finishing_action(&self) -> Option<TopUpAction> {
        match self.resolution? {
            TopUpResolution::Complete => {
                let CreditProgress::Credited { lot_id } = self.paid else {
                    return None;
                };
                let granted = match self.granted {
                    None => GrantedCredit::NotNeeded,
                    Some(CreditProgress::Credited { lot_id }) => GrantedCredit::Credited { lot_id },
                    Some(CreditProgress::Rejected { reason }) => GrantedCredit::Rejected { reason },
                    Some(CreditProgress::Pending { .. } | CreditProgress::Deferred { .. }) => {
                        return None;
                    }
                };
                self.capture_recorded.then_some(TopUpAction::Complete {
                    paid_lot_id: lot_id,
                    granted,
                })
            }
            TopUpResolution::Expire => self.deadline_reached.then_some(TopUpAction::Expire),
            TopUpResolution::Fail { reason } => {
                // A refused credit fails a captured top-up, so the capture must be recorded first.
                let ready = match reason {
                    TopUpFailureReason::Declined { .. } => true,
                    TopUpFailureReason::CreditRejected { .. } => self.capture_recorded,
                };
                ready.then_some(TopUpAction::Fail { reason })
            }
        }
    }

    fn credit(&self, part: CreditPart, key: String) -> Dispatch {
        let facts = &self.facts;
        let (amount, description) = match part {
            CreditPart::Paid => (facts.amount, "top-up"),
            CreditPart::Granted => (facts.granted_amount(), "top-up bonus"),
        };
        Dispatch {
            // The paid credit's key is the top-up id itself (DESIGN §7).
            idempotency_key: derived_key(key),
            command: DispatchCommand::WalletCredit(WalletCredit {
                tenant: facts.tenant.clone(),
                wallet_id: facts.wallet_id,
                amount,
                source: part.source(),
                expires_at: facts.lots_expire_at,
                reference: facts.top_up_id.to_string(),
                description: description.to_owned(),
            }),
        }
    }
}
