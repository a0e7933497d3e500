//! The decider contract that every aggregate in Purse implements and the runtime drives.

use uuid::Uuid;

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

/// A pure state machine: rules in [`Decider::decide`], facts in [`Decider::evolve`].
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
