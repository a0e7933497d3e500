//! Sagas (process managers) that drive top-ups across the top-up, payment and wallet streams.
//!
//! A saga is a [`Decider`](crate::Decider) over its own stream: its commands are observations
//! (events of other streams, replies to its commands, its timer), its events record its
//! progress, and its state says which commands it still wants sent ([`Dispatch`], with keys
//! derived from ids so that re-sending is harmless) and when its timer fires
//! (`next_deadline`). Both are computed from state, never kept elsewhere, so a restarted
//! coordinator rebuilds them from the saga's events: the sagas are the durable timer store of
//! top-ups. Inputs arrive at least once; whatever is already known yields no events.
//!
//! # Top-up saga (one per top-up; [`TopUpSagaDecider`])
//!
//! | observed (input)                          | saga records                         | commands wanted (until their effect is observed) |
//! |-------------------------------------------|--------------------------------------|---------------------------------------------------|
//! | `TopUpCreated`                            | `TopUpSagaStarted`                   | payment `Create` (key `top-up:{id}:create-payment`) |
//! | `PaymentIntentCreated`                    | `TopUpSagaPaymentCreated`            | —                                                 |
//! | timer at `expires_at`, payment open       | `TopUpSagaDeadlineReached`           | payment `Cancel(top_up_expired)` (`…:cancel-payment`) |
//! | timer at `expires_at`, no payment         | `…DeadlineReached`, resolution expire | top-up `Expire` (`…:expire`)                      |
//! | `PaymentSucceeded`, nothing given up      | `TopUpSagaPaymentCaptured`, resolution complete | top-up `RecordPaymentCaptured` (`…:record-capture`); wallet credit of `amount`, source `paid` (key = the top-up id) |
//! | wallet credited the paid part             | `TopUpSagaCredited(paid)`            | wallet credit of `wallet_amount − amount`, source `granted` (key `{id}:granted`), if any |
//! | all credits answered, capture recorded    | `TopUpSagaCredited`/`…CreditRejected(granted)` | top-up `Complete` (`…:complete`)         |
//! | wallet refused a credit for a passing reason (velocity) | `TopUpSagaCreditDeferred`  | the same credit again at `retry_at` (timer)       |
//! | wallet refused the paid credit for good   | `…CreditRejected(paid)`, resolution fail, `TopUpSagaRefundRequested(credit_rejected)` | payment `RequestRefund` (`…:refund`); top-up `Fail(credit_rejected)` once the capture is recorded |
//! | wallet refused the granted credit for good | `…CreditRejected(granted)`          | top-up `Complete` with the refusal recorded (paid part only) |
//! | `PaymentFailed` (decline)                 | `TopUpSagaPaymentDeclined`, resolution fail | top-up `Fail(declined)` (`…:fail`)          |
//! | `PaymentCanceled`                         | `TopUpSagaPaymentCanceled`, resolution expire | top-up `Expire` at the deadline           |
//! | `PaymentSucceeded` after cancel, decline or expiry | `TopUpSagaLateCaptureDetected`, `TopUpSagaRefundRequested(late_capture)` | payment `RequestRefund` (`…:refund`); top-up `RecordPaymentCaptured` once final (recorded as late) |
//! | `RefundRequested` of the saga's refund    | `TopUpSagaRefundAccepted`            | —                                                 |
//! | `RefundSucceeded` / `RefundFailed`        | `TopUpSagaRefundSucceeded` / `…Failed` (reported) | —                                    |
//! | `TopUpPaymentCaptured` / `TopUpLateCaptureRecorded` | `TopUpSagaCaptureRecorded` | —                                                 |
//! | `TopUpCompleted` / `Expired` / `Failed`   | `TopUpSagaTopUpFinished`             | —                                                 |
//!
//! The payment stream settles the race between a capture and the deadline: the saga cancels
//! the intent first and expires the top-up only once the cancel is recorded; a capture ordered
//! before the cancel is in time, one after it is late. A late capture yields exactly one
//! compensating refund (one refund per saga, one key) and is reported on the top-up
//! (`TopUpLateCaptureRecorded`), which stays expired: nothing is ever credited to it.
//!
//! The credit is split by source, one lot each, because a lot has one source: the paid part
//! first with key = the top-up id, then the granted part. If the wallet refuses the granted part
//! for good (its `max_balance`, typically), the payer still gets what they paid for: the top-up
//! completes and records the refusal ([`crate::topup::GrantedCredit::Rejected`]).
//!
//! # Auto top-up saga (one per wallet with a rule; [`AutoTopUpDecider`])
//!
//! | observed (input)                                    | saga records                 | commands wanted |
//! |-----------------------------------------------------|------------------------------|-----------------|
//! | client `SetRule` / `RemoveRule`                     | `AutoTopUpRuleSet` / `…RuleRemoved` | —        |
//! | wallet money event: available crosses below threshold (or stays below) | `AutoTopUpBalanceObserved` | — |
//! | a crossing wants a top-up, none in flight, back-off over, cap allows | `AutoTopUpStarted` | top-up `Create` kind `auto` (key `auto-top-up:{top_up_id}:create`) |
//! | the same, but the daily cap is used up              | `AutoTopUpCapReached` (once per UTC day) | — (timer at the next UTC midnight) |
//! | `TopUpCreated` (or the create's `AlreadyExists`)    | `AutoTopUpTopUpCreated`      | —               |
//! | `TopUpCompleted`                                    | `AutoTopUpCompleted`         | —               |
//! | `TopUpFailed` / `TopUpExpired` / create refused     | `AutoTopUpFailed` (notification `wallet.auto_top_up_failed`) | — (timer at the back-off's end) |
//!
//! Triggering is edge-based: a crossing below the threshold (the first observation, or one
//! after an observation at or above it) makes a top-up wanted; a completed auto top-up, or the
//! balance back at or above the threshold, answers it. So one crossing starts one top-up, and a
//! top-up that leaves the balance still low does not start another until the balance has been
//! back above. A failure (decline, expiry, refused credit or create) keeps the crossing wanted
//! and backs off (`backoff_ms`, default 1 h, constant): the next attempt comes at the back-off's
//! end if still wanted. At most one auto top-up is in flight. The daily cap counts every start
//! of the UTC day, failed ones included, by count (`max_count`, default 3) and optionally by
//! amount (`max_amount`).
//!
//! # Card saving
//!
//! [`save_card_on_success`] turns a payment's capture into the owner's `SavePaymentMethod`
//! when the payer asked to save the card (key `payment:{id}:save-card`).

#![warn(missing_docs)]

mod auto;
mod card;
pub(crate) mod dispatch;
mod top_up;

#[cfg(test)]
mod tests;

pub use auto::*;
pub use card::save_card_on_success;
pub use dispatch::{Dispatch, DispatchCommand, WalletCredit};
pub use top_up::*;

use crate::time::Timestamp;

/// What a saga returns after each input: every command it still wants executed and when its
/// timer must fire next.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SagaOutcome {
    /// Commands wanted now; sending them again is harmless (derived idempotency keys).
    pub dispatches: Vec<Dispatch>,
    /// When the saga's timer must fire next, if ever.
    pub next_deadline: Option<Timestamp>,
}
