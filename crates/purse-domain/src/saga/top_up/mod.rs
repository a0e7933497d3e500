//! The top-up saga: one process manager per top-up, driving it to completion, expiry or
//! failure, and compensating when money arrives that cannot be kept.

mod decide;
mod error;
mod event;
mod input;
mod state;

pub use error::TopUpSagaError;
pub use event::{TopUpSagaEvent, TopUpSagaEventKind};
pub use input::{CreditPart, TopUpFacts, TopUpSagaCommand, TopUpSagaInput, TopUpSagaInputKind};
pub use state::{
    CompensationRefund, CreditProgress, PaymentSeen, TopUpResolution, TopUpSaga, TopUpSagaState,
};

use super::SagaOutcome;
use crate::decider::{Context, Decider};

/// How long after a passing refusal (the wallet's velocity limit) a credit is sent again.
pub const CREDIT_RETRY_DELAY_MS: i64 = 60_000;
/// Passing refusals of one credit after which it counts as refused for good.
pub const MAX_CREDIT_ATTEMPTS: u32 = 10;

/// The top-up saga decider.
#[derive(Copy, Clone, Debug, Default)]
pub struct TopUpSagaDecider;

impl Decider for TopUpSagaDecider {
    type State = TopUpSagaState;
    type Command = TopUpSagaCommand;
    type Event = TopUpSagaEvent;
    type Error = TopUpSagaError;
    type Outcome = SagaOutcome;

    fn decide(
        state: &TopUpSagaState,
        command: &TopUpSagaCommand,
        ctx: &Context,
    ) -> Result<Vec<TopUpSagaEvent>, TopUpSagaError> {
        decide::decide(state, command, ctx)
    }

    fn evolve(state: TopUpSagaState, event: &TopUpSagaEvent) -> TopUpSagaState {
        state.apply(event)
    }

    fn outcome(state: &TopUpSagaState, _events: &[TopUpSagaEvent]) -> SagaOutcome {
        SagaOutcome {
            dispatches: state.dispatches(),
            next_deadline: state.next_deadline(),
        }
    }
}
