//! The decider contract that every aggregate in Purse implements and the runtime drives.

use uuid::Uuid;

use crate::idempotency::Fingerprint;
use crate::time::Timestamp;

/// How many fresh ids the runtime hands to every decision; a decider may use fewer.
pub const MAX_IDS_PER_COMMAND: usize = 4;

/// Time and fresh ids arrive here so deciders stay pure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    /// The instant the decision is made; every event it produces occurs at this time.
    pub now: Timestamp,
    ids: Vec<Uuid>,
}

impl Context {
    /// A context at `now` carrying `ids` (the runtime supplies [`MAX_IDS_PER_COMMAND`] of them).
    pub fn new(now: Timestamp, ids: Vec<Uuid>) -> Self {
        Self { now, ids }
    }

    /// n-th fresh id; panics if the runtime supplied fewer (it supplies [`MAX_IDS_PER_COMMAND`]).
    pub fn id(&self, n: usize) -> Uuid {
        match self.ids.get(n) {
            Some(id) => *id,
            None => panic!(
                "decider asked for fresh id #{n} but the runtime supplied only {}",
                self.ids.len()
            ),
        }
    }
}

/// Settings of the deciders' timers, the same for every stream of a node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerSettings {
    /// How long before a lot expires its "expiring soon" notice is raised.
    pub expiring_notice_lead_ms: i64,
}

/// A pure state machine: rules in [`Decider::decide`], facts in [`Decider::evolve`], and the
/// facts a shard worker routes and deduplicates by (stream, tenant, fingerprint, timers).
pub trait Decider {
    /// Everything the rules need to know about the stream, rebuilt by folding its events.
    type State: Default + Clone + Send + Sync + 'static;
    /// A request to change the stream.
    type Command: Send + 'static;
    /// A fact that happened; never rejected once written.
    type Event: Clone + Send + Sync + std::fmt::Debug + 'static;
    /// Why a command was rejected.
    type Error: std::error::Error + Send + Sync + 'static;
    /// What a successful command returns to its caller; stored with its idempotency key for replays.
    type Outcome: Clone + Send + Sync + std::fmt::Debug + 'static;

    /// Every rule lives here.
    fn decide(
        state: &Self::State,
        command: &Self::Command,
        ctx: &Context,
    ) -> Result<Vec<Self::Event>, Self::Error>;

    /// No rules; applies a fact, asserting invariants (panic on violation).
    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;

    /// The outcome of a command, from the state after applying its events and those events.
    fn outcome(state: &Self::State, events: &[Self::Event]) -> Self::Outcome;

    /// The stream a command addresses.
    fn stream_id(command: &Self::Command) -> Uuid;

    /// The tenant a command acts for (empty for internal streams whose first input names it).
    fn tenant(command: &Self::Command) -> &str;

    /// Stable hash of the request, for idempotency-key reuse detection.
    fn fingerprint(command: &Self::Command) -> Fingerprint;

    /// When the stream next needs a timer command, if ever.
    fn next_deadline(_state: &Self::State, _timers: &TimerSettings) -> Option<Timestamp> {
        None
    }

    /// The timer command for a stream whose deadline has come.
    fn timer_command(
        _stream_id: Uuid,
        _state: &Self::State,
        _timers: &TimerSettings,
    ) -> Option<Self::Command> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_hands_out_the_supplied_ids_in_order() {
        let ids = vec![Uuid::from_u128(1), Uuid::from_u128(2)];
        let ctx = Context::new(Timestamp::from_millis(7), ids);
        assert_eq!(ctx.id(0), Uuid::from_u128(1));
        assert_eq!(ctx.id(1), Uuid::from_u128(2));
        assert_eq!(ctx.now, Timestamp::from_millis(7));
    }

    #[test]
    #[should_panic(expected = "fresh id #2")]
    fn context_panics_when_asked_for_more_ids_than_supplied() {
        let ctx = Context::new(Timestamp::default(), vec![Uuid::nil(), Uuid::nil()]);
        let _ = ctx.id(2);
    }
}
