//! The auto top-up saga: one process manager per wallet with a rule, starting at most one
//! top-up at a time when the available balance falls below the rule's threshold.

mod decide;
mod error;
mod event;
mod input;
mod rule;
mod state;

pub use error::{AutoTopUpError, AutoTopUpField};
pub use event::{AutoTopUpEvent, AutoTopUpEventKind, AutoTopUpFailure};
pub use input::{AutoTopUpCommand, AutoTopUpInput};
pub use rule::{
    AUTO_TOP_UP_FAILED_NOTIFICATION, AutoTopUpAmount, AutoTopUpRule,
    DEFAULT_AUTO_TOP_UP_BACKOFF_MS, DEFAULT_AUTO_TOP_UPS_PER_DAY, DailyCap,
    MAX_AUTO_TOP_UP_BACKOFF_MS, MAX_AUTO_TOP_UPS_PER_DAY, MIN_AUTO_TOP_UP_BACKOFF_MS,
};
pub use state::{AutoTopUp, AutoTopUpState, DailyUsage, InFlight};

use super::SagaOutcome;
use crate::decider::{Context, Decider, TimerSettings};
use crate::idempotency::Fingerprint;
use crate::time::Timestamp;
use uuid::Uuid;

/// The auto top-up saga decider.
#[derive(Copy, Clone, Debug, Default)]
pub struct AutoTopUpDecider;

impl Decider for AutoTopUpDecider {
    type State = AutoTopUpState;
    type Command = AutoTopUpCommand;
    type Event = AutoTopUpEvent;
    type Error = AutoTopUpError;
    type Outcome = SagaOutcome;

    fn decide(
        state: &AutoTopUpState,
        command: &AutoTopUpCommand,
        ctx: &Context,
    ) -> Result<Vec<AutoTopUpEvent>, AutoTopUpError> {
        decide::decide(state, command, ctx)
    }

    fn evolve(state: AutoTopUpState, event: &AutoTopUpEvent) -> AutoTopUpState {
        state.apply(event)
    }

    fn outcome(state: &AutoTopUpState, _events: &[AutoTopUpEvent]) -> SagaOutcome {
        SagaOutcome {
            dispatches: state.dispatches(),
            next_deadline: state.next_deadline(),
        }
    }

    fn stream_id(command: &AutoTopUpCommand) -> Uuid {
        command.wallet_id
    }

    // Saga inputs carry no tenant: the saga's stream is internal and its first input names it.
    fn tenant(_: &AutoTopUpCommand) -> &str {
        ""
    }

    fn fingerprint(command: &AutoTopUpCommand) -> Fingerprint {
        command.fingerprint()
    }

    fn next_deadline(state: &AutoTopUpState, _: &TimerSettings) -> Option<Timestamp> {
        state.next_deadline()
    }

    fn timer_command(
        stream_id: Uuid,
        _: &AutoTopUpState,
        _: &TimerSettings,
    ) -> Option<AutoTopUpCommand> {
        Some(AutoTopUpCommand {
            wallet_id: stream_id,
            input: AutoTopUpInput::Timer,
        })
    }
}
