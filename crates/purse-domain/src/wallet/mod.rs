//! The wallet decider: credit lots, holds, limits, expiry and lifecycle of one wallet.
//!
//! One wallet is one stream. Its rules are in `decide` (see DESIGN §3); `evolve` applies events
//! and asserts the invariants (lots never negative, reservations within lots, totals matching
//! the events' `*_after` fields, available never negative).

mod command;
mod decide;
mod error;
mod event;
mod state;
mod system;
mod transaction;
mod types;

#[cfg(test)]
mod tests;

use rust_decimal::Decimal;
use uuid::Uuid;

pub use command::{WalletAction, WalletCommand};
pub use error::{LimitKind, MetadataError, WalletError};
pub use event::{LotDraw, WalletEvent, WalletEventKind};
pub use state::{Hold, Lot, Wallet, WalletState};
pub use system::{
    MAX_SYSTEM_WALLET_NAME_BYTES, SystemWalletName, SystemWalletNameError, system_wallet_id,
};
pub use transaction::{
    CreditedLot, EntryType, LegEntry, TransactionEntry, TransactionFailureReason, TransactionLeg,
    WalletTransaction, WalletTransactionStatus, transaction_lot_id,
};
pub use types::{
    CreditSource, DebitKind, HoldReleaseReason, HoldStatus, Limits, MAX_VELOCITY_OPERATIONS,
    MAX_VELOCITY_WINDOW_MS, VelocityLimit, WalletKind, WalletStatus,
};

use crate::decider::{Context, Decider, TimerSettings};
use crate::idempotency::Fingerprint;
use crate::time::MILLIS_PER_DAY;
use crate::time::Timestamp;

/// Longest a hold may last: its deadline is at most this far after placement.
pub const MAX_HOLD_DURATION_MS: i64 = 30 * MILLIS_PER_DAY;
/// How long before a lot's expiry its expiring-soon notice is due, unless configured otherwise.
pub const DEFAULT_EXPIRING_NOTICE_LEAD_MS: i64 = 7 * MILLIS_PER_DAY;
/// Most metadata entries on a wallet.
pub const MAX_METADATA_ENTRIES: usize = 16;
/// Longest metadata key, in bytes.
pub const MAX_METADATA_KEY_BYTES: usize = 64;
/// Longest metadata value, in bytes.
pub const MAX_METADATA_VALUE_BYTES: usize = 256;
/// Longest reference, description or suspension reason, in bytes.
pub const MAX_TEXT_BYTES: usize = 256;
/// Longest owner id, in bytes.
pub const MAX_OWNER_BYTES: usize = 255;
/// Most legs one wallet receives in one transaction: every operation of the largest
/// transaction (`crate::transaction::MAX_OPERATIONS`).
pub const MAX_TRANSACTION_LEGS: usize = 100;
/// Longest tenant id, in bytes (tenants come from authentication, but are stored in events).
pub const MAX_TENANT_BYTES: usize = 255;

/// The wallet decider.
#[derive(Copy, Clone, Debug, Default)]
pub struct WalletDecider;

/// What a successful wallet command returns (and what a replay returns again).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WalletOutcome {
    /// Balance after the command.
    pub balance: Decimal,
    /// Held total after the command.
    pub held: Decimal,
    /// lot id (credit, refund), debit id (debit, capture), hold id (place, void); None otherwise
    pub entry_id: Option<Uuid>,
}

impl Decider for WalletDecider {
    type State = WalletState;
    type Command = WalletCommand;
    type Event = WalletEvent;
    type Error = WalletError;
    type Outcome = WalletOutcome;

    fn decide(
        state: &WalletState,
        command: &WalletCommand,
        ctx: &Context,
    ) -> Result<Vec<WalletEvent>, WalletError> {
        decide::decide(state, command, ctx)
    }

    fn evolve(state: WalletState, event: &WalletEvent) -> WalletState {
        state.apply(event)
    }

    fn outcome(state: &WalletState, events: &[WalletEvent]) -> WalletOutcome {
        let (balance, held) = state
            .wallet()
            .map_or((Decimal::ZERO, Decimal::ZERO), |wallet| {
                (wallet.balance(), wallet.held())
            });
        // Expiries and timer releases accompany commands; the entry is the command's own event.
        let entry_id = events.iter().find_map(|event| match &event.kind {
            WalletEventKind::FundsCredited { lot_id, .. } => Some(*lot_id),
            WalletEventKind::FundsDebited { debit_id, .. }
            | WalletEventKind::HoldCaptured { debit_id, .. } => Some(*debit_id),
            WalletEventKind::HoldPlaced { hold_id, .. }
            | WalletEventKind::TransactionHoldPlaced { hold_id, .. } => Some(*hold_id),
            WalletEventKind::HoldReleased {
                hold_id,
                reason: HoldReleaseReason::Void,
                ..
            } => Some(*hold_id),
            _ => None,
        });
        WalletOutcome {
            balance,
            held,
            entry_id,
        }
    }

    fn stream_id(command: &WalletCommand) -> Uuid {
        command.wallet_id
    }

    fn tenant(command: &WalletCommand) -> &str {
        &command.tenant
    }

    fn fingerprint(command: &WalletCommand) -> Fingerprint {
        command.fingerprint()
    }

    fn next_deadline(state: &WalletState, timers: &TimerSettings) -> Option<Timestamp> {
        state.next_deadline(timers.expiring_notice_lead_ms)
    }

    fn timer_command(
        stream_id: Uuid,
        state: &WalletState,
        timers: &TimerSettings,
    ) -> Option<WalletCommand> {
        let wallet = state.wallet()?;
        Some(WalletCommand {
            tenant: wallet.tenant().to_owned(),
            wallet_id: stream_id,
            action: WalletAction::Tick {
                notice_lead_ms: timers.expiring_notice_lead_ms,
            },
        })
    }
}
