//! Top-up saga events: the saga's progress, past tense, stable names.

use crate::event::{Event, EventKind};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::input::{CreditPart, TopUpFacts};
use super::state::TopUpResolution;
use crate::payment::{DeclineReason, RefundFailureReason, RefundReason};
use crate::time::Timestamp;
use crate::topup::{CreditRejection, TopUpStatus};

/// A fact about one top-up saga, at the time it was decided.
pub type TopUpSagaEvent = Event<TopUpSagaEventKind>;

/// What happened in a top-up saga.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TopUpSagaEventKind {
    /// The saga started for a new top-up; it creates the payment intent.
    TopUpSagaStarted {
        /// The top-up's facts.
        facts: TopUpFacts,
    },
    /// The payment intent exists.
    TopUpSagaPaymentCreated,
    /// The saga chose how the top-up ends: complete after a capture in time, expire after a
    /// cancel or a deadline without a payment, fail after a decline. Chosen once; the only
    /// change allowed is from `complete` to failing when the wallet refuses the paid credit.
    TopUpSagaResolutionChosen {
        /// How the top-up ends.
        resolution: TopUpResolution,
    },
    /// The top-up's deadline passed while no capture was known: the intent is cancelled (or,
    /// if it was never created, the top-up expires at once).
    TopUpSagaDeadlineReached {
        /// The deadline.
        expires_at: Timestamp,
    },
    /// The payment was captured in time: the wallet is credited next.
    TopUpSagaPaymentCaptured {
        /// How much.
        amount: Decimal,
    },
    /// The payment was declined: the top-up fails.
    TopUpSagaPaymentDeclined {
        /// Why.
        reason: DeclineReason,
    },
    /// The payment intent was cancelled: the top-up expires at its deadline.
    TopUpSagaPaymentCanceled,
    /// A capture arrived after the saga had given the payment up (cancelled, declined, or the
    /// top-up expired without one): it is refunded and reported, nothing is credited.
    TopUpSagaLateCaptureDetected {
        /// How much was captured.
        amount: Decimal,
    },
    /// The saga asked for its one compensating refund.
    TopUpSagaRefundRequested {
        /// How much.
        amount: Decimal,
        /// Why: `late_capture` or `credit_rejected`.
        reason: RefundReason,
    },
    /// The payment accepted the compensating refund under this id.
    TopUpSagaRefundAccepted {
        /// The refund.
        refund_id: Uuid,
    },
    /// The compensating refund reached the payer.
    TopUpSagaRefundSucceeded {
        /// The refund.
        refund_id: Uuid,
    },
    /// The provider could not perform the compensating refund: reported for an operator.
    TopUpSagaRefundFailed {
        /// The refund.
        refund_id: Uuid,
        /// Why.
        reason: RefundFailureReason,
    },
    /// The top-up recorded the capture.
    TopUpSagaCaptureRecorded,
    /// The wallet credited one part.
    TopUpSagaCredited {
        /// Which part.
        part: CreditPart,
        /// Its lot.
        lot_id: Uuid,
    },
    /// The wallet refused one part for a passing reason; it is tried again at `retry_at`.
    TopUpSagaCreditDeferred {
        /// Which part.
        part: CreditPart,
        /// When the credit is sent again.
        retry_at: Timestamp,
        /// Refusals of this part so far.
        attempts: u32,
    },
    /// A deferred credit is due again.
    TopUpSagaCreditRetryDue {
        /// Which part.
        part: CreditPart,
    },
    /// The wallet refused one part for good. The paid part: the payment is refunded and the
    /// top-up fails. The granted part: the top-up completes with the paid part only.
    TopUpSagaCreditRejected {
        /// Which part.
        part: CreditPart,
        /// Why.
        reason: CreditRejection,
    },
    /// The top-up reached its final status.
    TopUpSagaTopUpFinished {
        /// Completed, expired or failed.
        status: TopUpStatus,
    },
}

impl EventKind for TopUpSagaEventKind {
    fn event_type(&self) -> &'static str {
        match self {
            Self::TopUpSagaStarted { .. } => "TopUpSagaStarted",
            Self::TopUpSagaPaymentCreated => "TopUpSagaPaymentCreated",
            Self::TopUpSagaResolutionChosen { .. } => "TopUpSagaResolutionChosen",
            Self::TopUpSagaDeadlineReached { .. } => "TopUpSagaDeadlineReached",
            Self::TopUpSagaPaymentCaptured { .. } => "TopUpSagaPaymentCaptured",
            Self::TopUpSagaPaymentDeclined { .. } => "TopUpSagaPaymentDeclined",
            Self::TopUpSagaPaymentCanceled => "TopUpSagaPaymentCanceled",
            Self::TopUpSagaLateCaptureDetected { .. } => "TopUpSagaLateCaptureDetected",
            Self::TopUpSagaRefundRequested { .. } => "TopUpSagaRefundRequested",
            Self::TopUpSagaRefundAccepted { .. } => "TopUpSagaRefundAccepted",
            Self::TopUpSagaRefundSucceeded { .. } => "TopUpSagaRefundSucceeded",
            Self::TopUpSagaRefundFailed { .. } => "TopUpSagaRefundFailed",
            Self::TopUpSagaCaptureRecorded => "TopUpSagaCaptureRecorded",
            Self::TopUpSagaCredited { .. } => "TopUpSagaCredited",
            Self::TopUpSagaCreditDeferred { .. } => "TopUpSagaCreditDeferred",
            Self::TopUpSagaCreditRetryDue { .. } => "TopUpSagaCreditRetryDue",
            Self::TopUpSagaCreditRejected { .. } => "TopUpSagaCreditRejected",
            Self::TopUpSagaTopUpFinished { .. } => "TopUpSagaTopUpFinished",
        }
    }
}
