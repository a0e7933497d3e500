//! The top-up decider: one payment turned into one wallet credit, or into nothing.
//!
//! A top-up is `created` → `completed` | `expired` | `failed`, and every final status is final.
//! It records the payment it waits for (`payment_id`, created by the saga) and, for hosted-page
//! top-ups, an unguessable checkout session id from which the service builds the page URL. The
//! payer pays `amount`; the wallet is credited `wallet_amount` (≥ `amount`): the paid part as a
//! `paid` lot, the excess as a `granted` lot. The fee is the tenant's configured percentage of
//! `amount`, computed exactly and rounded half up to the asset's scale ([`FeeRate::fee_for`]);
//! it is recorded for reporting and settlement and does not reduce the credit.
//!
//! A capture is recorded whenever it comes: in time it allows completion; after expiry or a
//! decline it is a late capture, recorded once for reporting while the top-up stays as it is
//! (the saga refunds the payment). Nothing is ever credited to an expired top-up.

#![warn(missing_docs)]

mod command;
mod decide;
mod error;
mod event;
mod state;
mod types;

#[cfg(test)]
mod tests;

use rust_decimal::Decimal;
use uuid::Uuid;

pub use command::{CreateTopUp, TopUpAction, TopUpCommand, WalletFacts};
pub use error::{TopUpError, TopUpField};
pub use event::{TopUpCreated, TopUpEvent, TopUpEventKind};
pub use state::{TopUp, TopUpState};
pub use types::{
    CreditRejection, FeeRate, FeeRateError, GrantedCredit, MAX_FEE_RATE_SCALE, TopUpFailureReason,
    TopUpKind, TopUpStatus,
};

use crate::decider::{Context, Decider};
use crate::idempotency::Fingerprint;
use crate::time::{MILLIS_PER_DAY, Timestamp};

/// How long a payer has to pay unless configured otherwise: 5 minutes.
pub const DEFAULT_TOP_UP_TIMEOUT_MS: i64 = 5 * 60_000;
/// Shortest configurable payment deadline.
pub const MIN_TOP_UP_TIMEOUT_MS: i64 = 1_000;
/// Longest configurable payment deadline.
pub const MAX_TOP_UP_TIMEOUT_MS: i64 = MILLIS_PER_DAY;
/// Credited lots may expire no sooner than this after the top-up's deadline.
pub const MIN_LOT_LIFETIME_AFTER_DEADLINE_MS: i64 = MILLIS_PER_DAY;

/// The top-up decider.
#[derive(Copy, Clone, Debug, Default)]
pub struct TopUpDecider;

/// What a successful top-up command returns (and what a replay returns again).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopUpOutcome {
    /// Status after the command.
    pub status: TopUpStatus,
    /// The payment intent funding the top-up.
    pub payment_id: Uuid,
    /// The hosted checkout session (manual top-ups), for the payment page URL.
    pub checkout_session_id: Option<Uuid>,
    /// The payment deadline.
    pub expires_at: Timestamp,
    /// The fee on the amount paid.
    pub fee: Decimal,
    /// What the wallet has received (zero until completed).
    pub credited: Decimal,
}

impl Decider for TopUpDecider {
    type State = TopUpState;
    type Command = TopUpCommand;
    type Event = TopUpEvent;
    type Error = TopUpError;
    type Outcome = TopUpOutcome;

    fn decide(
        state: &TopUpState,
        command: &TopUpCommand,
        ctx: &Context,
    ) -> Result<Vec<TopUpEvent>, TopUpError> {
        decide::decide(state, command, ctx)
    }

    fn evolve(state: TopUpState, event: &TopUpEvent) -> TopUpState {
        state.apply(event)
    }

    fn outcome(state: &TopUpState, _events: &[TopUpEvent]) -> TopUpOutcome {
        match state.top_up() {
            Some(top_up) => TopUpOutcome {
                status: top_up.status(),
                payment_id: top_up.payment_id(),
                checkout_session_id: top_up.checkout_session_id(),
                expires_at: top_up.expires_at(),
                fee: top_up.fee(),
                credited: top_up.credited(),
            },
            // Only reachable for a caller that asks about a command that created nothing.
            None => TopUpOutcome {
                status: TopUpStatus::Created,
                payment_id: Uuid::nil(),
                checkout_session_id: None,
                expires_at: Timestamp::default(),
                fee: Decimal::ZERO,
                credited: Decimal::ZERO,
            },
        }
    }

    fn stream_id(command: &TopUpCommand) -> Uuid {
        command.top_up_id
    }

    fn tenant(command: &TopUpCommand) -> &str {
        &command.tenant
    }

    fn fingerprint(command: &TopUpCommand) -> Fingerprint {
        command.fingerprint()
    }
}
