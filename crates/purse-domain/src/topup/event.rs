//! Top-up events: past-tense facts with stable names.

use crate::event::{Event, EventKind};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::types::{FeeRate, GrantedCredit, TopUpFailureReason, TopUpKind};
use crate::money::Asset;
use crate::time::Timestamp;

/// A fact about one top-up, at the time it was decided.
pub type TopUpEvent = Event<TopUpEventKind>;

/// What happened to a top-up. Amounts are at the asset's scale.
// `TopUpCreated` is large, but it occurs once per stream: boxing it would burden every match.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TopUpEventKind {
    /// The top-up was created (`top_up.created`).
    TopUpCreated(TopUpCreated),
    /// The payment was captured in time; the wallet credit follows.
    TopUpPaymentCaptured {
        /// The payment.
        payment_id: Uuid,
        /// How much was captured.
        amount: Decimal,
    },
    /// A capture arrived after the top-up had expired or been declined. The top-up stays as it
    /// is, nothing is credited, and the payment must be refunded (the saga does so); recorded
    /// to be reported.
    TopUpLateCaptureRecorded {
        /// The payment.
        payment_id: Uuid,
        /// How much was captured (and is to be refunded).
        amount: Decimal,
    },
    /// The wallet was credited (`top_up.completed`).
    TopUpCompleted {
        /// The lot of the paid part.
        paid_lot_id: Uuid,
        /// What became of the granted part.
        granted: GrantedCredit,
        /// What the wallet received: `wallet_amount`, or only `amount` if the granted part was
        /// refused.
        credited: Decimal,
    },
    /// The deadline passed without a capture (`top_up.expired`).
    TopUpExpired {
        /// The deadline.
        expires_at: Timestamp,
    },
    /// The top-up failed (`top_up.failed`).
    TopUpFailed {
        /// Why.
        reason: TopUpFailureReason,
    },
}

/// The facts of a new top-up (`top_up.created`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopUpCreated {
    /// The top-up (and stream) id.
    pub top_up_id: Uuid,
    /// The owning tenant.
    pub tenant: String,
    /// The wallet credited.
    pub wallet_id: Uuid,
    /// Who pays.
    pub owner: String,
    /// How the payer pays.
    pub kind: TopUpKind,
    /// The currency charged and credited.
    pub asset: Asset,
    /// What the payer is charged.
    pub amount: Decimal,
    /// What the wallet is credited (`amount` paid plus the excess granted).
    pub wallet_amount: Decimal,
    /// The fee rate applied.
    pub fee_rate: FeeRate,
    /// The fee on `amount` at that rate (see [`FeeRate::fee_for`]); the wallet is credited
    /// `wallet_amount` in full, the fee is the tenant's cost of the payment.
    pub fee: Decimal,
    /// When the credited lots expire, if ever.
    pub lots_expire_at: Option<Timestamp>,
    /// The stored card charged, if any.
    pub payment_method_id: Option<Uuid>,
    /// The payment intent the saga creates for it.
    pub payment_id: Uuid,
    /// The hosted checkout session, for `manual` top-ups: the service builds the payment
    /// page URL from it. Unguessable (a fresh id), unlike the top-up id the integrator sees.
    pub checkout_session_id: Option<Uuid>,
    /// The payment deadline.
    pub expires_at: Timestamp,
}

impl EventKind for TopUpEventKind {
    fn event_type(&self) -> &'static str {
        match self {
            Self::TopUpCreated(_) => "TopUpCreated",
            Self::TopUpPaymentCaptured { .. } => "TopUpPaymentCaptured",
            Self::TopUpLateCaptureRecorded { .. } => "TopUpLateCaptureRecorded",
            Self::TopUpCompleted { .. } => "TopUpCompleted",
            Self::TopUpExpired { .. } => "TopUpExpired",
            Self::TopUpFailed { .. } => "TopUpFailed",
        }
    }
}
