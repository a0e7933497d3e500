//! Why the top-up saga refused an input. These are never the client's doing: the runtime logs
//! them as errors (a bug or a corrupt stream) and moves on, since an input is a fact that no
//! retry will change.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::input::TopUpSagaInputKind;
use crate::topup::TopUpStatus;

/// A refused saga input. Refusals produce no events.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopUpSagaError {
    /// An input for a saga that has not started (its `TopUpCreated` was not observed).
    #[error("the saga has not started")]
    NotStarted,
    /// The input names another top-up than the saga's.
    #[error("the input is for another top-up")]
    WrongSaga,
    /// `TopUpCreated` again, with other facts.
    #[error("the saga started with other facts")]
    StartMismatch,
    /// A payment input for another payment than the top-up's.
    #[error("payment is not the top-up's {expected}")]
    PaymentMismatch {
        /// The top-up's payment.
        expected: Uuid,
    },
    /// A capture of another amount than the top-up's.
    #[error("capture must be the top-up amount of {expected}")]
    CaptureAmountMismatch {
        /// The top-up's amount.
        expected: Decimal,
    },
    /// An input that contradicts what the saga knows (a credit before a capture, a decline
    /// after a capture, a granted credit for a top-up that grants nothing, ...).
    #[error("{input} contradicts the saga's state")]
    Contradiction {
        /// What was observed.
        input: TopUpSagaInputKind,
    },
    /// The top-up reached another final status than the one the saga drove it to.
    #[error("the top-up became {observed}, not {expected:?}")]
    UnexpectedTopUpStatus {
        /// What the top-up reports.
        observed: TopUpStatus,
        /// What the saga was driving it to, if anything yet.
        expected: Option<TopUpStatus>,
    },
}
