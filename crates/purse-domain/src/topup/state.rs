//! Top-up state and `evolve`: facts applied without rules, invariants asserted.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::event::{TopUpCreated, TopUpEvent, TopUpEventKind};
use super::types::{FeeRate, GrantedCredit, TopUpFailureReason, TopUpKind, TopUpStatus};
use crate::money::Asset;
use crate::time::Timestamp;

/// The state of one top-up stream: nothing before `TopUpCreated`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopUpState(pub(crate) Option<TopUp>);

impl TopUpState {
    /// The top-up, once created.
    pub fn top_up(&self) -> Option<&TopUp> {
        self.0.as_ref()
    }

    /// The instant from which `Expire` is accepted: the deadline, while the top-up waits for its
    /// payment; None once captured or final.
    ///
    /// The runtime schedules the expiry from the top-up saga's timer ([`crate::saga`]), not from
    /// this one, so that the payment intent is always cancelled before the top-up expires and a
    /// capture racing the deadline is settled by the payment stream. This is the same instant,
    /// for queries and for checking the saga.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let top_up = self.0.as_ref()?;
        (top_up.status == TopUpStatus::Created && !top_up.captured)
            .then_some(top_up.created.expires_at)
    }

    /// Applies one event. Panics if the event contradicts the state: events are facts produced
    /// by `decide`, so a contradiction means a corrupt log or a bug, never bad input.
    pub(crate) fn apply(self, event: &TopUpEvent) -> Self {
        let top_up = match (self.0, &event.kind) {
            (None, TopUpEventKind::TopUpCreated(created)) => TopUp {
                created: created.clone(),
                created_at: event.occurred_at,
                status: TopUpStatus::Created,
                captured: false,
                late_capture: None,
                paid_lot_id: None,
                granted: None,
                credited: Decimal::new(0, created.asset.scale()),
                failure: None,
                finished_at: None,
            },
            (Some(_), TopUpEventKind::TopUpCreated(_)) => {
                panic!("TopUpCreated applied to an existing top-up")
            }
            (None, _) => panic!("{} applied before TopUpCreated", event.event_type()),
            (Some(mut top_up), kind) => {
                top_up.apply(event.occurred_at, kind);
                top_up
            }
        };
        top_up.assert_invariants();
        TopUpState(Some(top_up))
    }
}

/// A top-up: what is paid and credited, and how far it got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopUp {
    // What the top-up was created with; it never changes.
    pub(crate) created: TopUpCreated,
    pub(crate) created_at: Timestamp,
    pub(crate) status: TopUpStatus,
    // The payment was captured in time (recorded while `created`).
    pub(crate) captured: bool,
    // A capture recorded after expiry or decline: the amount to refund.
    pub(crate) late_capture: Option<Decimal>,
    pub(crate) paid_lot_id: Option<Uuid>,
    pub(crate) granted: Option<GrantedCredit>,
    pub(crate) credited: Decimal,
    pub(crate) failure: Option<TopUpFailureReason>,
    pub(crate) finished_at: Option<Timestamp>,
}

impl TopUp {
    /// The top-up (and stream) id.
    pub fn id(&self) -> Uuid {
        self.created.top_up_id
    }

    /// The owning tenant.
    pub fn tenant(&self) -> &str {
        &self.created.tenant
    }

    /// The wallet credited.
    pub fn wallet_id(&self) -> Uuid {
        self.created.wallet_id
    }

    /// Who pays.
    pub fn owner(&self) -> &str {
        &self.created.owner
    }

    /// How the payer pays.
    pub fn kind(&self) -> TopUpKind {
        self.created.kind
    }

    /// The currency charged and credited.
    pub fn asset(&self) -> &Asset {
        &self.created.asset
    }

    /// What the payer is charged.
    pub fn amount(&self) -> Decimal {
        self.created.amount
    }

    /// What the wallet is credited.
    pub fn wallet_amount(&self) -> Decimal {
        self.created.wallet_amount
    }

    /// `wallet_amount − amount`: the part credited as a `granted` lot.
    pub fn granted_amount(&self) -> Decimal {
        self.created.wallet_amount - self.created.amount
    }

    /// The fee rate applied.
    pub fn fee_rate(&self) -> FeeRate {
        self.created.fee_rate
    }

    /// The fee on `amount`.
    pub fn fee(&self) -> Decimal {
        self.created.fee
    }

    /// When the credited lots expire, if ever.
    pub fn lots_expire_at(&self) -> Option<Timestamp> {
        self.created.lots_expire_at
    }

    /// The stored card charged, if any.
    pub fn payment_method_id(&self) -> Option<Uuid> {
        self.created.payment_method_id
    }

    /// The payment intent funding it.
    pub fn payment_id(&self) -> Uuid {
        self.created.payment_id
    }

    /// The hosted checkout session (manual top-ups).
    pub fn checkout_session_id(&self) -> Option<Uuid> {
        self.created.checkout_session_id
    }

    /// When it was created.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }

    /// The payment deadline.
    pub fn expires_at(&self) -> Timestamp {
        self.created.expires_at
    }

    /// Where it is in its life.
    pub fn status(&self) -> TopUpStatus {
        self.status
    }

    /// Whether the payment was captured in time.
    pub fn captured(&self) -> bool {
        self.captured
    }

    /// The amount of a capture recorded after expiry or decline (to be refunded), if any.
    pub fn late_capture(&self) -> Option<Decimal> {
        self.late_capture
    }

    /// The lot of the paid part, once completed.
    pub fn paid_lot_id(&self) -> Option<Uuid> {
        self.paid_lot_id
    }

    /// What became of the granted part, once completed.
    pub fn granted(&self) -> Option<GrantedCredit> {
        self.granted
    }

    /// What the wallet received: zero until completed.
    pub fn credited(&self) -> Decimal {
        self.credited
    }

    /// Why it failed, if it did.
    pub fn failure(&self) -> Option<TopUpFailureReason> {
        self.failure
    }

    /// When it reached its final status.
    pub fn finished_at(&self) -> Option<Timestamp> {
        self.finished_at
    }

    fn finish(&mut self, at: Timestamp, status: TopUpStatus) {
        assert_eq!(
            self.status,
            TopUpStatus::Created,
            "top-up finished twice ({} then {status})",
            self.status
        );
        self.status = status;
        self.finished_at = Some(at);
    }

    fn apply(&mut self, at: Timestamp, kind: &TopUpEventKind) {
        match kind {
            TopUpEventKind::TopUpCreated(_) => unreachable!("handled by TopUpState::apply"),
            TopUpEventKind::TopUpPaymentCaptured { payment_id, amount } => {
                assert_eq!(
                    *payment_id, self.created.payment_id,
                    "capture of another payment"
                );
                assert_eq!(*amount, self.created.amount, "capture of another amount");
                assert_eq!(self.status, TopUpStatus::Created, "capture after the end");
                assert!(!self.captured, "captured twice");
                self.captured = true;
            }
            TopUpEventKind::TopUpLateCaptureRecorded { payment_id, amount } => {
                assert_eq!(
                    *payment_id, self.created.payment_id,
                    "capture of another payment"
                );
                assert_eq!(*amount, self.created.amount, "capture of another amount");
                assert!(
                    matches!(self.status, TopUpStatus::Expired | TopUpStatus::Failed),
                    "late capture while {}",
                    self.status
                );
                assert!(!self.captured, "late capture after a capture in time");
                assert!(self.late_capture.is_none(), "late capture recorded twice");
                self.late_capture = Some(*amount);
            }
            TopUpEventKind::TopUpCompleted {
                paid_lot_id,
                granted,
                credited,
            } => {
                assert!(self.captured, "completed without a capture");
                let granted_part = match granted {
                    GrantedCredit::Credited { .. } => self.granted_amount(),
                    GrantedCredit::NotNeeded | GrantedCredit::Rejected { .. } => Decimal::ZERO,
                };
                assert_eq!(
                    *credited,
                    self.created.amount + granted_part,
                    "TopUpCompleted credited"
                );
                self.finish(at, TopUpStatus::Completed);
                self.paid_lot_id = Some(*paid_lot_id);
                self.granted = Some(*granted);
                self.credited = *credited;
            }
            TopUpEventKind::TopUpExpired { expires_at } => {
                assert_eq!(
                    *expires_at, self.created.expires_at,
                    "TopUpExpired deadline"
                );
                assert!(at >= self.created.expires_at, "expired before the deadline");
                assert!(!self.captured, "expired after a capture");
                self.finish(at, TopUpStatus::Expired);
            }
            TopUpEventKind::TopUpFailed { reason } => {
                match reason {
                    TopUpFailureReason::Declined { .. } => {
                        assert!(!self.captured, "declined after a capture");
                    }
                    TopUpFailureReason::CreditRejected { .. } => {
                        assert!(self.captured, "credit refused before a capture");
                    }
                }
                self.finish(at, TopUpStatus::Failed);
                self.failure = Some(*reason);
            }
        }
    }

    fn assert_invariants(&self) {
        assert!(
            self.created.amount > Decimal::ZERO,
            "top-up of a non-positive amount"
        );
        assert!(
            self.created.wallet_amount >= self.created.amount,
            "wallet_amount < amount"
        );
        assert!(
            self.created.fee >= Decimal::ZERO && self.created.fee <= self.created.amount,
            "fee outside 0..=amount"
        );
        assert_eq!(
            self.created.kind.uses_stored_card(),
            self.created.payment_method_id.is_some(),
            "payment method present exactly for stored-card kinds"
        );
        let credited_ok = match self.status {
            TopUpStatus::Completed => {
                self.credited == self.created.wallet_amount || self.credited == self.created.amount
            }
            TopUpStatus::Created | TopUpStatus::Expired | TopUpStatus::Failed => {
                self.credited.is_zero()
            }
        };
        assert!(
            credited_ok,
            "credited {} while {}",
            self.credited, self.status
        );
        assert!(
            !(self.captured && self.late_capture.is_some()),
            "captured both in time and late"
        );
    }
}
