//! Pure deciders for Purse.
//!
//! Every business rule lives in a [`Decider`]: `decide` turns a command and the current state into
//! events (or a precise error), `evolve` folds events into state and holds no rules. Nothing here
//! reads a clock, draws randomness or performs I/O: the time and fresh ids arrive in a [`Context`],
//! so the same history always yields the same decisions.

pub mod decider;
pub mod event;
pub mod idempotency;
pub mod money;
pub mod payment;
pub mod saga;
mod support;
pub mod time;
pub mod topup;
pub mod transaction;
pub mod wallet;

pub use decider::{Context, Decider, MAX_IDS_PER_COMMAND, TimerSettings};
pub use support::derived_uuid;
pub use time::Timestamp;
