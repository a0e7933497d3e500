//! Given/when/then tests of the sagas' reactions, plus property tests: the top-up saga driving
//! real top-up and payment deciders and a model wallet, and the auto top-up saga against a
//! reference model.

mod auto;
mod auto_model;
mod card;
mod top_up;
mod top_up_model;

use rust_decimal::Decimal;
use uuid::Uuid;

use super::*;
use crate::support::harness::*;
use crate::time::Timestamp;
use crate::topup::{TopUpKind, WalletFacts};
use crate::wallet::WalletStatus;

/// A client's request for an open wallet and a stored card of its owner.
pub(super) const ON_FILE: WalletFacts = WalletFacts {
    wallet_status: WalletStatus::Open,
    payment_method_on_file: true,
};

pub(super) fn top_up_id() -> Uuid {
    Uuid::from_u128(0x70B)
}

pub(super) fn wallet_id() -> Uuid {
    Uuid::from_u128(0xA11E7)
}

pub(super) fn payment_id() -> Uuid {
    Uuid::from_u128(0xBA1)
}

pub(super) fn method_id() -> Uuid {
    Uuid::from_u128(0x3E7)
}

/// When the top-ups of given histories were created.
pub(super) fn created_at() -> Timestamp {
    Timestamp::from_millis(DAY0 + HOUR_MS)
}

/// Their payment deadline, well before `NOW`.
pub(super) fn deadline() -> Timestamp {
    created_at().plus_millis(5 * MINUTE_MS)
}

/// The idempotency keys of the commands a state wants sent, in order.
pub(super) fn keys(dispatches: &[Dispatch]) -> Vec<String> {
    dispatches
        .iter()
        .map(|dispatch| dispatch.idempotency_key.as_str().to_owned())
        .collect()
}

pub(super) fn zero() -> Decimal {
    Decimal::ZERO
}

pub(super) fn top_up_kind() -> TopUpKind {
    TopUpKind::Manual
}
