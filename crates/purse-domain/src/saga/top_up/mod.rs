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
use crate::decider::{Context, Decider, TimerSettings};
use crate::idempotency::Fingerprint;
use crate::time::Timestamp;
use uuid::Uuid;

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

    fn stream_id(command: &TopUpSagaCommand) -> Uuid {
        command.top_up_id
    }

    // Saga inputs carry no tenant: the saga's stream is internal and its first input names it.
    fn tenant(_: &TopUpSagaCommand) -> &str {
        ""
    }

    // Saga inputs are sent without idempotency keys (a repeated observation yields no events),
    // so this only has to be stable.
    fn fingerprint(command: &TopUpSagaCommand) -> Fingerprint {
        Fingerprint::of(&serde_json::to_vec(command).unwrap_or_default())
    }

    fn next_deadline(state: &TopUpSagaState, _: &TimerSettings) -> Option<Timestamp> {
        state.next_deadline()
    }

    fn timer_command(
        stream_id: Uuid,
        _: &TopUpSagaState,
        _: &TimerSettings,
    ) -> Option<TopUpSagaCommand> {
        Some(TopUpSagaCommand {
            top_up_id: stream_id,
            input: TopUpSagaInput::Timer,
        })
    }
}
