//! What the top-up saga observes: facts from the top-up, payment and wallet streams (events and
//! command replies, mapped by the runtime with the constructors here) and its timer.

use rust_decimal::Decimal;
use uuid::Uuid;

use crate::money::Asset;
use crate::payment::{
    DeclineReason, PaymentEvent, PaymentEventKind, PaymentIntent, RefundFailureReason, RefundReason,
};
use crate::support::named_enum;
use crate::time::Timestamp;
use crate::topup::{CreditRejection, TopUpEvent, TopUpEventKind, TopUpKind, TopUpStatus};
use crate::wallet::{CreditSource, WalletError, WalletOutcome};

/// One input for the saga of one top-up (the saga id is the top-up id).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TopUpSagaCommand {
    /// The top-up, and the saga's stream.
    pub top_up_id: Uuid,
    /// What was observed.
    pub input: TopUpSagaInput,
}

/// What a top-up saga needs to know about its top-up, from `TopUpCreated`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopUpFacts {
    /// The top-up.
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
    /// What the wallet is credited.
    pub wallet_amount: Decimal,
    /// When the credited lots expire, if ever.
    pub lots_expire_at: Option<Timestamp>,
    /// The stored card charged, if any.
    pub payment_method_id: Option<Uuid>,
    /// The payment intent to create.
    pub payment_id: Uuid,
    /// The payment deadline.
    pub expires_at: Timestamp,
}

impl TopUpFacts {
    /// `wallet_amount − amount`: the part credited as a `granted` lot.
    pub fn granted_amount(&self) -> Decimal {
        self.wallet_amount - self.amount
    }
}

named_enum! {
    /// Which of a top-up's two wallet credits.
    pub enum CreditPart {
        /// `amount`, as a `paid` lot; credited first.
        Paid => "paid",
        /// `wallet_amount − amount`, as a `granted` lot; credited once the paid part is.
        Granted => "granted",
    }
}

impl CreditPart {
    /// The lot source of this part.
    pub fn source(self) -> CreditSource {
        match self {
            Self::Paid => CreditSource::Paid,
            Self::Granted => CreditSource::Granted,
        }
    }
}

/// What the saga observed.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopUpSagaInput {
    /// The top-up was created: start.
    TopUpCreated(TopUpFacts),
    /// The top-up recorded the capture (in time or late).
    TopUpCaptureRecorded,
    /// The top-up reached a final status.
    TopUpFinished {
        /// Completed, expired or failed.
        status: TopUpStatus,
    },
    /// The payment intent exists.
    PaymentCreated {
        /// The intent.
        payment_id: Uuid,
    },
    /// The provider captured the payment.
    PaymentSucceeded {
        /// The intent.
        payment_id: Uuid,
        /// How much.
        amount: Decimal,
    },
    /// The provider declined the payment.
    PaymentFailed {
        /// The intent.
        payment_id: Uuid,
        /// Why.
        reason: DeclineReason,
    },
    /// The payment intent was cancelled.
    PaymentCanceled {
        /// The intent.
        payment_id: Uuid,
    },
    /// A refund of the payment was requested (by this saga or anyone else).
    RefundRequested {
        /// The intent.
        payment_id: Uuid,
        /// The refund.
        refund_id: Uuid,
        /// How much.
        amount: Decimal,
        /// Why.
        reason: RefundReason,
    },
    /// A refund of the payment succeeded.
    RefundSucceeded {
        /// The intent.
        payment_id: Uuid,
        /// The refund.
        refund_id: Uuid,
    },
    /// A refund of the payment failed.
    RefundFailed {
        /// The intent.
        payment_id: Uuid,
        /// The refund.
        refund_id: Uuid,
        /// Why.
        reason: RefundFailureReason,
    },
    /// The wallet accepted a credit (the command's reply).
    WalletCredited {
        /// Which credit.
        part: CreditPart,
        /// The lot it created.
        lot_id: Uuid,
    },
    /// The wallet refused a credit (the command's reply).
    WalletCreditRejected {
        /// Which credit.
        part: CreditPart,
        /// Why.
        reason: CreditRejection,
    },
    /// The saga's timer fired.
    Timer,
}

named_enum! {
    /// The kind of a saga input, named in errors.
    pub enum TopUpSagaInputKind {
        /// [`TopUpSagaInput::TopUpCreated`].
        TopUpCreated => "top_up_created",
        /// [`TopUpSagaInput::TopUpCaptureRecorded`].
        TopUpCaptureRecorded => "top_up_capture_recorded",
        /// [`TopUpSagaInput::TopUpFinished`].
        TopUpFinished => "top_up_finished",
        /// [`TopUpSagaInput::PaymentCreated`].
        PaymentCreated => "payment_created",
        /// [`TopUpSagaInput::PaymentSucceeded`].
        PaymentSucceeded => "payment_succeeded",
        /// [`TopUpSagaInput::PaymentFailed`].
        PaymentFailed => "payment_failed",
        /// [`TopUpSagaInput::PaymentCanceled`].
        PaymentCanceled => "payment_canceled",
        /// [`TopUpSagaInput::RefundRequested`].
        RefundRequested => "refund_requested",
        /// [`TopUpSagaInput::RefundSucceeded`].
        RefundSucceeded => "refund_succeeded",
        /// [`TopUpSagaInput::RefundFailed`].
        RefundFailed => "refund_failed",
        /// [`TopUpSagaInput::WalletCredited`].
        WalletCredited => "wallet_credited",
        /// [`TopUpSagaInput::WalletCreditRejected`].
        WalletCreditRejected => "wallet_credit_rejected",
        /// [`TopUpSagaInput::Timer`].
        Timer => "timer",
    }
}

impl TopUpSagaInput {
    /// The input's kind.
    pub fn kind(&self) -> TopUpSagaInputKind {
        match self {
            Self::TopUpCreated(_) => TopUpSagaInputKind::TopUpCreated,
            Self::TopUpCaptureRecorded => TopUpSagaInputKind::TopUpCaptureRecorded,
            Self::TopUpFinished { .. } => TopUpSagaInputKind::TopUpFinished,
            Self::PaymentCreated { .. } => TopUpSagaInputKind::PaymentCreated,
            Self::PaymentSucceeded { .. } => TopUpSagaInputKind::PaymentSucceeded,
            Self::PaymentFailed { .. } => TopUpSagaInputKind::PaymentFailed,
            Self::PaymentCanceled { .. } => TopUpSagaInputKind::PaymentCanceled,
            Self::RefundRequested { .. } => TopUpSagaInputKind::RefundRequested,
            Self::RefundSucceeded { .. } => TopUpSagaInputKind::RefundSucceeded,
            Self::RefundFailed { .. } => TopUpSagaInputKind::RefundFailed,
            Self::WalletCredited { .. } => TopUpSagaInputKind::WalletCredited,
            Self::WalletCreditRejected { .. } => TopUpSagaInputKind::WalletCreditRejected,
            Self::Timer => TopUpSagaInputKind::Timer,
        }
    }

    /// The payment named by a payment input.
    pub(crate) fn payment_id(&self) -> Option<Uuid> {
        match self {
            Self::PaymentCreated { payment_id }
            | Self::PaymentSucceeded { payment_id, .. }
            | Self::PaymentFailed { payment_id, .. }
            | Self::PaymentCanceled { payment_id }
            | Self::RefundRequested { payment_id, .. }
            | Self::RefundSucceeded { payment_id, .. }
            | Self::RefundFailed { payment_id, .. } => Some(*payment_id),
            Self::TopUpCreated(_)
            | Self::TopUpCaptureRecorded
            | Self::TopUpFinished { .. }
            | Self::WalletCredited { .. }
            | Self::WalletCreditRejected { .. }
            | Self::Timer => None,
        }
    }
}

impl TopUpSagaCommand {
    /// The saga input for a top-up event, addressed to that top-up's saga.
    pub fn from_top_up_event(top_up_id: Uuid, event: &TopUpEvent) -> Self {
        let input = match &event.kind {
            TopUpEventKind::TopUpCreated(created) => TopUpSagaInput::TopUpCreated(TopUpFacts {
                top_up_id: created.top_up_id,
                tenant: created.tenant.clone(),
                wallet_id: created.wallet_id,
                owner: created.owner.clone(),
                kind: created.kind,
                asset: created.asset.clone(),
                amount: created.amount,
                wallet_amount: created.wallet_amount,
                lots_expire_at: created.lots_expire_at,
                payment_method_id: created.payment_method_id,
                payment_id: created.payment_id,
                expires_at: created.expires_at,
            }),
            TopUpEventKind::TopUpPaymentCaptured { .. }
            | TopUpEventKind::TopUpLateCaptureRecorded { .. } => {
                TopUpSagaInput::TopUpCaptureRecorded
            }
            TopUpEventKind::TopUpCompleted { .. } => TopUpSagaInput::TopUpFinished {
                status: TopUpStatus::Completed,
            },
            TopUpEventKind::TopUpExpired { .. } => TopUpSagaInput::TopUpFinished {
                status: TopUpStatus::Expired,
            },
            TopUpEventKind::TopUpFailed { .. } => TopUpSagaInput::TopUpFinished {
                status: TopUpStatus::Failed,
            },
        };
        Self { top_up_id, input }
    }

    /// The saga input for a payment event, addressed to the saga of the intent's top-up; None
    /// for intents that fund no top-up and for events the saga does not need.
    pub fn from_payment_event(intent: &PaymentIntent, event: &PaymentEvent) -> Option<Self> {
        let top_up_id = intent.top_up_id()?;
        let payment_id = intent.id();
        let input = match &event.kind {
            PaymentEventKind::PaymentIntentCreated { .. } => {
                TopUpSagaInput::PaymentCreated { payment_id }
            }
            PaymentEventKind::PaymentSubmitted { .. } => return None,
            PaymentEventKind::PaymentSucceeded { amount, .. } => TopUpSagaInput::PaymentSucceeded {
                payment_id,
                amount: *amount,
            },
            PaymentEventKind::PaymentFailed { reason, .. } => TopUpSagaInput::PaymentFailed {
                payment_id,
                reason: *reason,
            },
            PaymentEventKind::PaymentCanceled { .. } => {
                TopUpSagaInput::PaymentCanceled { payment_id }
            }
            PaymentEventKind::RefundRequested {
                refund_id,
                amount,
                reason,
                ..
            } => TopUpSagaInput::RefundRequested {
                payment_id,
                refund_id: *refund_id,
                amount: *amount,
                reason: *reason,
            },
            PaymentEventKind::RefundSucceeded { refund_id, .. } => {
                TopUpSagaInput::RefundSucceeded {
                    payment_id,
                    refund_id: *refund_id,
                }
            }
            PaymentEventKind::RefundFailed {
                refund_id, reason, ..
            } => TopUpSagaInput::RefundFailed {
                payment_id,
                refund_id: *refund_id,
                reason: *reason,
            },
        };
        Some(Self { top_up_id, input })
    }

    /// The saga input for the wallet's reply to one of its credits (the wallet's decision; a
    /// timeout or a lost race is no reply, and the runtime simply sends the credit again). None
    /// only for an outcome that names no lot, which a credit always does.
    pub fn from_credit_reply(
        top_up_id: Uuid,
        part: CreditPart,
        reply: Result<&WalletOutcome, &WalletError>,
    ) -> Option<Self> {
        let input = match reply {
            Ok(outcome) => TopUpSagaInput::WalletCredited {
                part,
                lot_id: outcome.entry_id?,
            },
            Err(error) => TopUpSagaInput::WalletCreditRejected {
                part,
                reason: CreditRejection::from_wallet_error(error),
            },
        };
        Some(Self { top_up_id, input })
    }
}
