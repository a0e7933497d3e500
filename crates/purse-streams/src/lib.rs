//! Every stream kind of Purse, each described once in its own module: the decider it binds to the
//! engine, its topics, its event codec and (where it has a read model) its projection rows.
//!
//! The engine (`purse-runtime`) is generic over deciders with an event codec and names none of
//! them; the domain (`purse-domain`) holds the rules and the shard facts. A stream binding (for
//! example [`wallet::WalletStream`]) is the decider as the engine drives it: it decides exactly as
//! its domain decider does and adds the codec, which the domain cannot know.
//!
//! Adding a stream kind: one module here (binding, topics, codec, rows), and its bus in
//! [`buses::Buses`]. See docs/adr/0012-one-engine-one-edge.md.

pub mod auto_top_up;
pub mod buses;
mod codec;
pub mod config;
pub mod payment;
pub mod payment_methods;
mod payment_rows;
pub mod projectors;
mod rejections;
pub mod top_up;
pub mod top_up_saga;
pub mod transaction;
pub mod wallet;

/// Topic names of every stream kind under one roof, for services, the saga coordinator, the
/// projector and the runbook (each is defined in its stream's module).
pub mod topics {
    pub use crate::auto_top_up::TOPICS as AUTO_TOP_UPS;
    pub use crate::payment::TOPICS as PAYMENTS;
    pub use crate::payment_methods::TOPICS as PAYMENT_METHODS;
    pub use crate::top_up::TOPICS as TOP_UPS;
    pub use crate::top_up_saga::TOPICS as TOP_UP_SAGAS;
    pub use crate::transaction::TOPICS as TRANSACTIONS;
    pub use crate::wallet::TOPICS as WALLETS;
    pub use purse_runtime::topics::{DeciderTopics, REPLIES_TOPIC};
}

/// Declares `$binding`, a unit type that is the decider `$decider` for the engine: every
/// associated type and function of [`purse_domain::Decider`] is `$decider`'s own.
macro_rules! bind_decider {
    ($(#[$doc:meta])* $binding:ident => $decider:ty) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $binding;

        impl purse_domain::Decider for $binding {
            type State = <$decider as purse_domain::Decider>::State;
            type Command = <$decider as purse_domain::Decider>::Command;
            type Event = <$decider as purse_domain::Decider>::Event;
            type Error = <$decider as purse_domain::Decider>::Error;
            type Outcome = <$decider as purse_domain::Decider>::Outcome;

            fn decide(
                state: &Self::State,
                command: &Self::Command,
                ctx: &purse_domain::Context,
            ) -> Result<Vec<Self::Event>, Self::Error> {
                <$decider as purse_domain::Decider>::decide(state, command, ctx)
            }

            fn evolve(state: Self::State, event: &Self::Event) -> Self::State {
                <$decider as purse_domain::Decider>::evolve(state, event)
            }

            fn outcome(state: &Self::State, events: &[Self::Event]) -> Self::Outcome {
                <$decider as purse_domain::Decider>::outcome(state, events)
            }

            fn stream_id(command: &Self::Command) -> uuid::Uuid {
                <$decider as purse_domain::Decider>::stream_id(command)
            }

            fn tenant(command: &Self::Command) -> &str {
                <$decider as purse_domain::Decider>::tenant(command)
            }

            fn fingerprint(
                command: &Self::Command,
            ) -> purse_domain::idempotency::Fingerprint {
                <$decider as purse_domain::Decider>::fingerprint(command)
            }

            fn next_deadline(
                state: &Self::State,
                timers: &purse_domain::TimerSettings,
            ) -> Option<purse_domain::Timestamp> {
                <$decider as purse_domain::Decider>::next_deadline(state, timers)
            }

            fn timer_command(
                stream_id: uuid::Uuid,
                state: &Self::State,
                timers: &purse_domain::TimerSettings,
            ) -> Option<Self::Command> {
                <$decider as purse_domain::Decider>::timer_command(stream_id, state, timers)
            }
        }
    };
}
pub(crate) use bind_decider;
