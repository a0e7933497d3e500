//! Wallet events: past-tense facts with stable names, carrying everything `evolve` needs.

use crate::event::{Event, EventKind};
use std::collections::BTreeMap;

use rust_decimal::Decimal;
use uuid::Uuid;

use super::transaction::{TransactionEntry, TransactionFailureReason, TransactionLeg};
use super::types::{CreditSource, DebitKind, HoldReleaseReason, Limits, WalletKind};
use crate::money::Asset;
use crate::time::Timestamp;

/// A fact about one wallet, at the time it was decided.
pub type WalletEvent = Event<WalletEventKind>;

/// What happened to a wallet. Amounts are at the asset's scale; `*_after` fields are the totals
/// after the event, which `evolve` checks against what it recomputes.
#[derive(Clone, Debug, PartialEq)]
pub enum WalletEventKind {
    /// The wallet was created.
    WalletOpened {
        /// The wallet (and stream) id.
        wallet_id: Uuid,
        /// The owning tenant.
        tenant: String,
        /// The integrator's customer id, opaque.
        owner: String,
        /// Customer or system wallet.
        kind: WalletKind,
        /// The one asset it holds.
        asset: Asset,
        /// Its initial limits.
        limits: Limits,
        /// Bounded integrator metadata.
        metadata: BTreeMap<String, String>,
    },
    /// The wallet stopped accepting money movements.
    WalletSuspended {
        /// Why, as given by the operator.
        reason: String,
    },
    /// A suspended wallet was reopened.
    WalletReactivated,
    /// The wallet was closed for good.
    WalletClosed,
    /// The limits were replaced.
    LimitsChanged {
        /// The new limits, complete.
        limits: Limits,
    },
    /// Funds arrived and formed a new lot.
    FundsCredited {
        /// The new lot.
        lot_id: Uuid,
        /// Why the funds arrived.
        source: CreditSource,
        /// How much.
        amount: Decimal,
        /// When the lot's remainder expires, if ever.
        expires_at: Option<Timestamp>,
        /// The integrator's reference.
        reference: String,
        /// Human-readable description.
        description: String,
        /// For refunds, the debit refunded.
        refund_of: Option<Uuid>,
        /// Balance after the credit.
        balance_after: Decimal,
        /// Held total after the credit (unchanged by it).
        held_after: Decimal,
    },
    /// Funds were spent from unreserved lots.
    FundsDebited {
        /// The debit's id (what refunds name).
        debit_id: Uuid,
        /// What the funds paid for.
        kind: DebitKind,
        /// How much.
        amount: Decimal,
        /// Which lots paid, in consumption order.
        draws: Vec<LotDraw>,
        /// The integrator's reference.
        reference: String,
        /// Human-readable description.
        description: String,
        /// Balance after the debit.
        balance_after: Decimal,
        /// Held total after the debit (unchanged by it).
        held_after: Decimal,
    },
    /// Funds were reserved from specific lots.
    HoldPlaced {
        /// The hold's id.
        hold_id: Uuid,
        /// How much is reserved.
        amount: Decimal,
        /// Which lots are reserved and how much of each.
        reservations: Vec<LotDraw>,
        /// When the hold is released if not resolved before.
        expires_at: Timestamp,
        /// The integrator's reference.
        reference: String,
        /// Human-readable description.
        description: String,
        /// Balance after the placement (unchanged by it: reserved funds stay in the balance).
        balance_after: Decimal,
        /// Held total after the placement.
        held_after: Decimal,
    },
    /// A hold was debited (up to its amount); the rest was released.
    HoldCaptured {
        /// The hold captured.
        hold_id: Uuid,
        /// The resulting debit's id (what refunds name).
        debit_id: Uuid,
        /// How much was debited.
        amount: Decimal,
        /// Which reserved lots paid.
        draws: Vec<LotDraw>,
        /// How much of the hold was released rather than debited.
        released: Decimal,
        /// Balance after the capture.
        balance_after: Decimal,
        /// Held total after the capture.
        held_after: Decimal,
    },
    /// A hold ended without capture and its reservations were released.
    HoldReleased {
        /// The hold released.
        hold_id: Uuid,
        /// The whole hold amount.
        amount: Decimal,
        /// Voided by the client or expired at its deadline.
        reason: HoldReleaseReason,
        /// Balance after the release (unchanged by it).
        balance_after: Decimal,
        /// Held total after the release.
        held_after: Decimal,
    },
    /// A lot's unreserved remainder reached its expiry and left the balance.
    LotExpired {
        /// The lot.
        lot_id: Uuid,
        /// How much expired.
        amount: Decimal,
        /// The lot's remaining (reserved included) after the expiry.
        remaining_after: Decimal,
        /// Balance after the expiry.
        balance_after: Decimal,
        /// Held total after the expiry (unchanged by it: expiry never takes reserved funds).
        held_after: Decimal,
    },
    /// A transaction prepared here: its legs fit, and one hold reserves their largest running
    /// drawdown (possibly zero, for a wallet that only receives) until the commit or abort.
    TransactionHoldPlaced {
        /// The transaction.
        transaction_id: Uuid,
        /// The hold's id.
        hold_id: Uuid,
        /// The largest running drawdown of the legs, reserved.
        amount: Decimal,
        /// Which lots are reserved and how much of each.
        reservations: Vec<LotDraw>,
        /// The legs, at the asset's scale; the commit posts exactly these.
        legs: Vec<TransactionLeg>,
        /// When the hold is released if the transaction has not resolved it.
        expires_at: Timestamp,
        /// Balance after the placement (unchanged by it).
        balance_after: Decimal,
        /// Held total after the placement.
        held_after: Decimal,
    },
    /// A transaction's prepare failed here; nothing was reserved.
    TransactionPrepareFailed {
        /// The transaction.
        transaction_id: Uuid,
        /// The first failing operation's index in the transaction.
        index: u32,
        /// Why it failed.
        reason: TransactionFailureReason,
        /// For `insufficient_funds`: what the wallet could spend at that step.
        available: Option<Decimal>,
    },
    /// A prepared transaction was committed: its entries posted and its hold consumed.
    TransactionPosted {
        /// The transaction.
        transaction_id: Uuid,
        /// The hold consumed.
        hold_id: Uuid,
        /// The entries, in operation order.
        entries: Vec<TransactionEntry>,
        /// Balance after the last entry.
        balance_after: Decimal,
        /// Held total after the capture.
        held_after: Decimal,
    },
    /// A prepared transaction was aborted and its hold released.
    TransactionHoldReleased {
        /// The transaction.
        transaction_id: Uuid,
        /// The hold released.
        hold_id: Uuid,
        /// The whole hold amount.
        amount: Decimal,
        /// Balance after the release (unchanged by it).
        balance_after: Decimal,
        /// Held total after the release.
        held_after: Decimal,
    },
    /// A lot will expire soon; raised once per lot.
    LotExpiringSoon {
        /// The lot.
        lot_id: Uuid,
        /// What remains in it (reserved included) when the notice is raised.
        amount: Decimal,
        /// When it expires.
        expires_at: Timestamp,
    },
}

impl EventKind for WalletEventKind {
    fn event_type(&self) -> &'static str {
        match self {
            Self::WalletOpened { .. } => "WalletOpened",
            Self::WalletSuspended { .. } => "WalletSuspended",
            Self::WalletReactivated => "WalletReactivated",
            Self::WalletClosed => "WalletClosed",
            Self::LimitsChanged { .. } => "LimitsChanged",
            Self::FundsCredited { .. } => "FundsCredited",
            Self::FundsDebited { .. } => "FundsDebited",
            Self::HoldPlaced { .. } => "HoldPlaced",
            Self::HoldCaptured { .. } => "HoldCaptured",
            Self::HoldReleased { .. } => "HoldReleased",
            Self::LotExpired { .. } => "LotExpired",
            Self::LotExpiringSoon { .. } => "LotExpiringSoon",
            Self::TransactionHoldPlaced { .. } => "TransactionHoldPlaced",
            Self::TransactionPrepareFailed { .. } => "TransactionPrepareFailed",
            Self::TransactionPosted { .. } => "TransactionPosted",
            Self::TransactionHoldReleased { .. } => "TransactionHoldReleased",
        }
    }
}

/// `remaining_after`: for debits/captures/expiry the lot's remaining after the draw; for
/// reservations the lot's unreserved remainder after reserving.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LotDraw {
    /// The lot drawn from.
    pub lot_id: Uuid,
    /// How much was drawn or reserved.
    pub amount: Decimal,
    /// See the type's documentation.
    pub remaining_after: Decimal,
}
