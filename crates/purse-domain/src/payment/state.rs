//! Payment and payment-method state and `evolve`: facts applied without rules, invariants
//! asserted.

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use uuid::Uuid;

use super::event::{PaymentEvent, PaymentEventKind, PaymentMethodsEvent, PaymentMethodsEventKind};
use super::types::{
    CancelReason, CardDetails, DeclineReason, PaymentStatus, ProviderEventId, RefundReason,
    RefundStatus,
};
use super::{MAX_PAYMENT_METHODS_PER_OWNER, MAX_REFUNDS_PER_PAYMENT};
use crate::money::Asset;
use crate::time::Timestamp;

/// The state of one payment stream: nothing before `PaymentIntentCreated`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaymentState(pub(crate) Option<PaymentIntent>);

impl PaymentState {
    /// The intent, once created.
    pub fn intent(&self) -> Option<&PaymentIntent> {
        self.0.as_ref()
    }

    /// Applies one event. Panics if the event contradicts the state: events are facts produced
    /// by `decide`, so a contradiction means a corrupt log or a bug, never bad input.
    pub(crate) fn apply(self, event: &PaymentEvent) -> Self {
        let intent = match (self.0, &event.kind) {
            (None, PaymentEventKind::PaymentIntentCreated(created)) => PaymentIntent {
                id: created.payment_id,
                tenant: created.tenant.clone(),
                owner: created.owner.clone(),
                asset: created.asset.clone(),
                amount: created.amount,
                top_up_id: created.top_up_id,
                payment_method_id: created.payment_method_id,
                expires_at: created.expires_at,
                created_at: event.occurred_at,
                status: PaymentStatus::RequiresPaymentMethod,
                card: None,
                save_card: false,
                decline: None,
                cancel: None,
                captured: Decimal::new(0, created.asset.scale()),
                captured_late: false,
                refunds: Vec::new(),
                provider_events: BTreeSet::new(),
            },
            (Some(_), PaymentEventKind::PaymentIntentCreated { .. }) => {
                panic!("PaymentIntentCreated applied to an existing intent")
            }
            (None, _) => panic!("{} applied before PaymentIntentCreated", event.event_type()),
            (Some(mut intent), kind) => {
                intent.apply(kind);
                intent
            }
        };
        intent.assert_invariants();
        PaymentState(Some(intent))
    }
}

/// A payment intent: what is charged, the card, the provider's answers and the refunds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentIntent {
    pub(crate) id: Uuid,
    pub(crate) tenant: String,
    pub(crate) owner: String,
    pub(crate) asset: Asset,
    pub(crate) amount: Decimal,
    pub(crate) top_up_id: Option<Uuid>,
    pub(crate) payment_method_id: Option<Uuid>,
    pub(crate) expires_at: Option<Timestamp>,
    pub(crate) created_at: Timestamp,
    pub(crate) status: PaymentStatus,
    pub(crate) card: Option<CardDetails>,
    pub(crate) save_card: bool,
    pub(crate) decline: Option<DeclineReason>,
    pub(crate) cancel: Option<CancelReason>,
    pub(crate) captured: Decimal,
    // The capture came after the intent was cancelled or declined.
    pub(crate) captured_late: bool,
    // In request order; bounded by MAX_REFUNDS_PER_PAYMENT.
    pub(crate) refunds: Vec<Refund>,
    // Provider events already applied, so the provider's retries change nothing. Bounded by
    // construction: one capture, one decline and one answer per refund.
    pub(crate) provider_events: BTreeSet<ProviderEventId>,
}

impl PaymentIntent {
    /// The intent (and stream) id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The owning tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// Who pays.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The currency charged.
    pub fn asset(&self) -> &Asset {
        &self.asset
    }

    /// How much is charged.
    pub fn amount(&self) -> Decimal {
        self.amount
    }

    /// The top-up this payment funds, if any.
    pub fn top_up_id(&self) -> Option<Uuid> {
        self.top_up_id
    }

    /// The stored card to charge, if any.
    pub fn payment_method_id(&self) -> Option<Uuid> {
        self.payment_method_id
    }

    /// No card may be submitted from this instant on.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.expires_at
    }

    /// When it was created.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }

    /// Where it is in its life.
    pub fn status(&self) -> PaymentStatus {
        self.status
    }

    /// The card submitted, if any.
    pub fn card(&self) -> Option<&CardDetails> {
        self.card.as_ref()
    }

    /// Whether the payer asked to save the card once the payment succeeds.
    pub fn save_card(&self) -> bool {
        self.save_card
    }

    /// Why the provider declined, if it did.
    pub fn decline(&self) -> Option<DeclineReason> {
        self.decline
    }

    /// Why it was cancelled, if it was.
    pub fn cancel_reason(&self) -> Option<CancelReason> {
        self.cancel
    }

    /// What the provider captured: zero or the whole amount.
    pub fn captured(&self) -> Decimal {
        self.captured
    }

    /// Whether the capture came after the intent had been cancelled or declined.
    pub fn captured_late(&self) -> bool {
        self.captured_late
    }

    /// Every refund, in request order.
    pub fn refunds(&self) -> &[Refund] {
        &self.refunds
    }

    /// The refund `id`.
    pub fn refund(&self, id: Uuid) -> Option<&Refund> {
        self.refunds.iter().find(|refund| refund.id == id)
    }

    /// Σ succeeded refunds: money back with the payer.
    pub fn refunded(&self) -> Decimal {
        self.refund_total(RefundStatus::Succeeded)
    }

    /// Σ pending refunds: asked of the provider, not answered yet.
    pub fn refund_pending(&self) -> Decimal {
        self.refund_total(RefundStatus::Pending)
    }

    /// What a new refund may still take: captured − succeeded − pending.
    pub fn refundable(&self) -> Decimal {
        self.captured - self.refunded() - self.refund_pending()
    }

    /// Whether the provider event `id` was already applied.
    pub fn has_provider_event(&self, id: &ProviderEventId) -> bool {
        self.provider_events.contains(id)
    }

    fn refund_total(&self, status: RefundStatus) -> Decimal {
        self.refunds
            .iter()
            .filter(|refund| refund.status == status)
            .map(|refund| refund.amount)
            .sum::<Decimal>()
    }

    fn refund_mut(&mut self, id: Uuid) -> &mut Refund {
        match self.refunds.iter_mut().find(|refund| refund.id == id) {
            Some(refund) => refund,
            None => panic!("event names refund {id}, which the payment does not have"),
        }
    }

    fn note_provider_event(&mut self, kind: &PaymentEventKind) {
        if let Some(id) = kind.provider_event_id() {
            let fresh = self.provider_events.insert(id.clone());
            assert!(fresh, "provider event {} applied twice", id.as_str());
        }
    }

    fn apply(&mut self, kind: &PaymentEventKind) {
        self.note_provider_event(kind);
        match kind {
            PaymentEventKind::PaymentIntentCreated { .. } => {
                unreachable!("handled by PaymentState::apply")
            }
            PaymentEventKind::PaymentSubmitted {
                card,
                payment_method_id,
                save_card,
            } => {
                assert_eq!(
                    self.status,
                    PaymentStatus::RequiresPaymentMethod,
                    "PaymentSubmitted twice"
                );
                self.status = PaymentStatus::Processing;
                self.card = Some(card.clone());
                if payment_method_id.is_some() {
                    self.payment_method_id = *payment_method_id;
                }
                self.save_card = *save_card;
            }
            PaymentEventKind::PaymentSucceeded {
                amount,
                previous_status,
                ..
            } => {
                assert_eq!(*previous_status, self.status, "PaymentSucceeded previous");
                assert_ne!(self.status, PaymentStatus::Succeeded, "captured twice");
                assert_eq!(*amount, self.amount, "capture of another amount");
                self.captured_late = !self.status.is_open();
                self.captured = *amount;
                self.status = PaymentStatus::Succeeded;
            }
            PaymentEventKind::PaymentFailed { reason, .. } => {
                assert!(self.status.is_open(), "PaymentFailed from {}", self.status);
                self.status = PaymentStatus::Failed;
                self.decline = Some(*reason);
            }
            PaymentEventKind::PaymentCanceled { reason } => {
                assert!(
                    self.status.is_open(),
                    "PaymentCanceled from {}",
                    self.status
                );
                self.status = PaymentStatus::Canceled;
                self.cancel = Some(*reason);
            }
            PaymentEventKind::RefundRequested {
                refund_id,
                amount,
                reason,
                refundable_after,
            } => {
                assert_eq!(
                    self.status,
                    PaymentStatus::Succeeded,
                    "refund before capture"
                );
                assert!(self.refund(*refund_id).is_none(), "refund id reused");
                assert!(*amount > Decimal::ZERO, "refund of a non-positive amount");
                self.refunds.push(Refund {
                    id: *refund_id,
                    amount: *amount,
                    reason: *reason,
                    status: RefundStatus::Pending,
                });
                assert_eq!(self.refundable(), *refundable_after, "refundable_after");
            }
            PaymentEventKind::RefundSucceeded {
                refund_id,
                amount,
                refunded_after,
                ..
            } => {
                let refund = self.refund_mut(*refund_id);
                assert_eq!(
                    refund.status,
                    RefundStatus::Pending,
                    "refund resolved twice"
                );
                assert_eq!(refund.amount, *amount, "RefundSucceeded amount");
                refund.status = RefundStatus::Succeeded;
                assert_eq!(self.refunded(), *refunded_after, "refunded_after");
            }
            PaymentEventKind::RefundFailed {
                refund_id,
                amount,
                refundable_after,
                ..
            } => {
                let refund = self.refund_mut(*refund_id);
                assert_eq!(
                    refund.status,
                    RefundStatus::Pending,
                    "refund resolved twice"
                );
                assert_eq!(refund.amount, *amount, "RefundFailed amount");
                refund.status = RefundStatus::Failed;
                assert_eq!(self.refundable(), *refundable_after, "refundable_after");
            }
        }
    }

    fn assert_invariants(&self) {
        assert!(
            self.amount > Decimal::ZERO,
            "payment of a non-positive amount"
        );
        assert!(
            self.captured.is_zero() || self.captured == self.amount,
            "captured is neither nothing nor the amount"
        );
        assert_eq!(
            self.status == PaymentStatus::Succeeded,
            !self.captured.is_zero(),
            "succeeded exactly when captured"
        );
        assert!(
            self.refunded() + self.refund_pending() <= self.captured,
            "refunds exceed the capture"
        );
        assert!(
            self.refunds.len() <= MAX_REFUNDS_PER_PAYMENT,
            "too many refunds"
        );
        assert!(
            self.provider_events.len() <= 2 + self.refunds.len(),
            "more provider events than a capture, a decline and the refunds explain"
        );
    }
}

/// A request to give captured money back, and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refund {
    pub(crate) id: Uuid,
    pub(crate) amount: Decimal,
    pub(crate) reason: RefundReason,
    pub(crate) status: RefundStatus,
}

impl Refund {
    /// The refund's id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// How much.
    pub fn amount(&self) -> Decimal {
        self.amount
    }

    /// Why.
    pub fn reason(&self) -> RefundReason {
        self.reason
    }

    /// Pending, succeeded or failed.
    pub fn status(&self) -> RefundStatus {
        self.status
    }
}

/// The state of one owner's stored cards: nothing before the first `PaymentMethodSaved`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaymentMethodsState(pub(crate) Option<PaymentMethods>);

impl PaymentMethodsState {
    /// The owner's cards, once one was saved.
    pub fn methods(&self) -> Option<&PaymentMethods> {
        self.0.as_ref()
    }

    /// Applies one event. Panics if the event contradicts the state.
    pub(crate) fn apply(self, event: &PaymentMethodsEvent) -> Self {
        let mut methods = match (self.0, &event.kind) {
            (None, PaymentMethodsEventKind::PaymentMethodSaved { tenant, owner, .. }) => {
                PaymentMethods {
                    tenant: tenant.clone(),
                    owner: owner.clone(),
                    methods: Vec::new(),
                }
            }
            (None, PaymentMethodsEventKind::PaymentMethodRemoved { .. }) => {
                panic!("PaymentMethodRemoved applied before any PaymentMethodSaved")
            }
            (Some(methods), _) => methods,
        };
        match &event.kind {
            PaymentMethodsEventKind::PaymentMethodSaved {
                payment_method_id,
                tenant,
                owner,
                card,
                source_payment_id,
            } => {
                assert_eq!(
                    (tenant, owner),
                    (&methods.tenant, &methods.owner),
                    "PaymentMethodSaved for another owner"
                );
                assert!(
                    methods.method(*payment_method_id).is_none(),
                    "payment method id reused"
                );
                assert!(
                    methods.by_token(card.provider_token()).is_none(),
                    "the same card saved twice"
                );
                methods.methods.push(PaymentMethod {
                    id: *payment_method_id,
                    card: card.clone(),
                    saved_at: event.occurred_at,
                    source_payment_id: *source_payment_id,
                });
            }
            PaymentMethodsEventKind::PaymentMethodRemoved { payment_method_id } => {
                let before = methods.methods.len();
                methods
                    .methods
                    .retain(|method| method.id != *payment_method_id);
                assert_eq!(
                    methods.methods.len() + 1,
                    before,
                    "removed a payment method that is not stored"
                );
            }
        }
        assert!(
            methods.methods.len() <= MAX_PAYMENT_METHODS_PER_OWNER,
            "too many payment methods"
        );
        PaymentMethodsState(Some(methods))
    }
}

/// One owner's stored cards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentMethods {
    pub(crate) tenant: String,
    pub(crate) owner: String,
    // In saving order.
    pub(crate) methods: Vec<PaymentMethod>,
}

impl PaymentMethods {
    /// The owning tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The integrator's customer id.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Stored cards, in saving order.
    pub fn iter(&self) -> impl Iterator<Item = &PaymentMethod> {
        self.methods.iter()
    }

    /// The stored card `id`.
    pub fn method(&self, id: Uuid) -> Option<&PaymentMethod> {
        self.methods.iter().find(|method| method.id == id)
    }

    /// The stored card with this provider token.
    pub fn by_token(&self, provider_token: &str) -> Option<&PaymentMethod> {
        self.methods
            .iter()
            .find(|method| method.card.provider_token() == provider_token)
    }
}

/// A stored card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentMethod {
    pub(crate) id: Uuid,
    pub(crate) card: CardDetails,
    pub(crate) saved_at: Timestamp,
    pub(crate) source_payment_id: Option<Uuid>,
}

impl PaymentMethod {
    /// The payment method's id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The tokenized card.
    pub fn card(&self) -> &CardDetails {
        &self.card
    }

    /// When it was saved.
    pub fn saved_at(&self) -> Timestamp {
        self.saved_at
    }

    /// The payment during which it was saved, if any.
    pub fn source_payment_id(&self) -> Option<Uuid> {
        self.source_payment_id
    }
}
