//! The read-model store: what the projector writes and the query side reads.
//!
//! Rows are plain data (no dependency on the domain crate). Every write is an idempotent upsert
//! guarded by a version, the stream sequence of the event it comes from: a write applies only if
//! its version is greater than the stored version of the columns it writes, as ScyllaDB's
//! `USING TIMESTAMP` does per cell (except that an equal version is a no-op rather than a
//! tie-break on the value). Replays and reordering therefore never move a row backwards, and no
//! counter or lightweight transaction is needed (DESIGN.md §6).
//!
//! Two implementations pass the same [`contract`] suite: [`SqliteStore`] here (all-in-one mode)
//! and the ScyllaDB store in `purse-store-scylla`.

pub mod contract;
pub mod decode;
mod page;
pub mod schema;
mod sqlite;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

pub use page::{PageToken, resolve_page_size};
pub use sqlite::SqliteStore;
pub use uuid::Uuid;

/// Exact decimal amount; stored as text so its scale survives ("20.00" stays "20.00").
pub type Decimal = rust_decimal::Decimal;

/// Largest page a list query returns.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Page size used when a request asks for 0.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// A wallet's limits; `None` means no limit.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LimitsRow {
    /// Largest balance a credit may produce.
    pub max_balance: Option<Decimal>,
    /// Debits and hold placements per UTC day.
    pub daily_debit_limit: Option<Decimal>,
    /// Largest single debit or credit.
    pub per_transaction_max: Option<Decimal>,
    /// Mutating operations allowed per velocity window.
    pub velocity_max_operations: Option<u32>,
    /// Length of the velocity window.
    pub velocity_window_ms: Option<i64>,
    /// Balance under which a low-balance notice is raised.
    pub low_balance_threshold: Option<Decimal>,
}

/// A wallet, as listed by id and by (tenant, owner).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalletRow {
    /// Wallet id (UUIDv7).
    pub wallet_id: Uuid,
    /// Owning tenant.
    pub tenant: String,
    /// The integrator's customer id (opaque).
    pub owner: String,
    /// `customer` or `system`.
    pub kind: String,
    /// Asset code.
    pub asset: String,
    /// Decimal places of the asset.
    pub asset_scale: u32,
    /// `open`, `suspended` or `closed`.
    pub status: String,
    /// Current limits.
    pub limits: LimitsRow,
    /// Bounded integrator metadata.
    pub metadata: BTreeMap<String, String>,
    /// When the wallet was opened (ms since the Unix epoch).
    pub created_at_ms: i64,
    /// When written: the version of every column. When read: the largest version of its columns
    /// (identity, status, limits), i.e. the latest event reflected.
    pub version: u64,
}

/// A wallet's balance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceRow {
    /// Wallet id.
    pub wallet_id: Uuid,
    /// Sum of the remaining amounts of the lots.
    pub balance: Decimal,
    /// Reserved by open holds.
    pub held: Decimal,
    /// Stream sequence this balance reflects.
    pub version: u64,
}

/// Kind of a history entry.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum EntryType {
    /// Funds credited.
    Credit,
    /// Funds debited.
    Debit,
    /// A hold reserved funds.
    HoldPlaced,
    /// A hold was captured (debited).
    HoldCaptured,
    /// A hold was released (voided or expired).
    HoldReleased,
    /// A lot's remaining amount expired.
    LotExpired,
    /// An earlier debit was refunded.
    Refund,
}

impl EntryType {
    /// Every entry type, in declaration order.
    pub const ALL: [EntryType; 7] = [
        EntryType::Credit,
        EntryType::Debit,
        EntryType::HoldPlaced,
        EntryType::HoldCaptured,
        EntryType::HoldReleased,
        EntryType::LotExpired,
        EntryType::Refund,
    ];

    /// Stable name, as stored (snake case).
    pub fn as_str(self) -> &'static str {
        match self {
            EntryType::Credit => "credit",
            EntryType::Debit => "debit",
            EntryType::HoldPlaced => "hold_placed",
            EntryType::HoldCaptured => "hold_captured",
            EntryType::HoldReleased => "hold_released",
            EntryType::LotExpired => "lot_expired",
            EntryType::Refund => "refund",
        }
    }

    /// Parses a name produced by [`EntryType::as_str`].
    pub fn parse(name: &str) -> Result<EntryType, UnknownEntryType> {
        EntryType::ALL
            .into_iter()
            .find(|t| t.as_str() == name)
            .ok_or_else(|| UnknownEntryType {
                name: name.to_owned(),
            })
    }
}

impl fmt::Display for EntryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EntryType {
    type Err = UnknownEntryType;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        EntryType::parse(name)
    }
}

/// A name that is not an [`EntryType`].
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("unknown entry type {name:?}")]
pub struct UnknownEntryType {
    /// The rejected name.
    pub name: String,
}

/// One entry of a wallet's history. Immutable once written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryRow {
    /// Wallet id.
    pub wallet_id: Uuid,
    /// Stream sequence of the event; the entry's key within the wallet.
    pub sequence: u64,
    /// Entry id.
    pub entry_id: Uuid,
    /// What happened.
    pub entry_type: EntryType,
    /// Amount moved.
    pub amount: Decimal,
    /// Balance right after.
    pub balance_after: Decimal,
    /// Held right after; `None` only for entries projected before it was recorded (SQLite store
    /// step 4, CQL migration 0004) and not rebuilt since.
    pub held_after: Option<Decimal>,
    /// Lots touched and how much of each.
    pub lots: Vec<(Uuid, Decimal)>,
    /// Integrator reference.
    pub reference: String,
    /// Human-readable description.
    pub description: String,
    /// Extra detail (e.g. why a hold was released).
    pub detail: String,
    /// The hold involved, if any.
    pub hold_id: Option<Uuid>,
    /// When it happened (ms since the Unix epoch).
    pub occurred_at_ms: i64,
}

/// A credit lot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LotRow {
    /// Wallet id.
    pub wallet_id: Uuid,
    /// Lot id.
    pub lot_id: Uuid,
    /// `paid`, `granted`, `refund`, `transfer` or `adjustment`.
    pub source: String,
    /// Amount credited.
    pub amount: Decimal,
    /// Amount not yet spent or expired.
    pub remaining: Decimal,
    /// When the remainder expires, if ever.
    pub expires_at_ms: Option<i64>,
    /// When the lot was created.
    pub created_at_ms: i64,
    /// When written: the version of every column. When read: the largest version of its
    /// columns (the lot itself, its remaining amount).
    pub version: u64,
}

/// A hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldRow {
    /// Wallet id.
    pub wallet_id: Uuid,
    /// Hold id.
    pub hold_id: Uuid,
    /// Amount reserved.
    pub amount: Decimal,
    /// Amount captured (0 until captured).
    pub captured: Decimal,
    /// `placed`, `captured`, `voided` or `expired`.
    pub status: String,
    /// Deadline after which the hold is released.
    pub expires_at_ms: i64,
    /// When written: the version of every column. When read: the largest version of its columns
    /// (the hold itself, its resolution).
    pub version: u64,
}

/// Guard state of a stream for readers: its last accepted sequence and event id (first-writer-wins
/// checks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamPosition {
    /// Stream id.
    pub stream_id: String,
    /// Last accepted sequence.
    pub sequence: u64,
    /// Id of the event holding that sequence.
    pub event_id: String,
}

/// A top-up (DESIGN.md §7), by id, by wallet and by checkout session.
///
/// Column groups, each with its own version: the request (fixed at creation), the status (with
/// the failure reason), the amount credited, the late capture, and when the row last changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopUpRow {
    /// Top-up id: a UUIDv8 derived from the creation's idempotency key, or a UUIDv7 for auto
    /// top-ups; not time-ordered across the two, which is why lists order by `created_at_ms`.
    pub top_up_id: Uuid,
    /// Owning tenant.
    pub tenant: String,
    /// The wallet credited.
    pub wallet_id: Uuid,
    /// Who pays (the integrator's customer id).
    pub owner: String,
    /// `manual`, `manual_with_payment_method` or `auto`.
    pub kind: String,
    /// Asset code charged and credited.
    pub asset: String,
    /// What the payer is charged.
    pub amount: Decimal,
    /// What the wallet is credited when the top-up completes (≥ `amount`).
    pub wallet_amount: Decimal,
    /// The fee on `amount` (the tenant's cost; does not reduce the credit).
    pub fee: Decimal,
    /// `created`, `completed`, `expired` or `failed`.
    pub status: String,
    /// Why it failed, as `kind:detail` (`declined:insufficient_funds`,
    /// `credit_rejected:wallet_closed`); `None` unless failed.
    pub failure_reason: Option<String>,
    /// The payment intent funding it.
    pub payment_id: Uuid,
    /// The hosted checkout session (`manual` top-ups).
    pub checkout_session_id: Option<Uuid>,
    /// The stored card charged, if any.
    pub payment_method_id: Option<Uuid>,
    /// The payment deadline (ms since the Unix epoch).
    pub expires_at_ms: i64,
    /// When the credited lots expire, if ever.
    pub lots_expire_at_ms: Option<i64>,
    /// What the wallet received (zero at the asset's scale until completed).
    pub credited: Decimal,
    /// A capture recorded after the top-up had expired or failed: the amount to refund.
    pub late_capture: Option<Decimal>,
    /// When the top-up was created.
    pub created_at_ms: i64,
    /// When the newest event reflected happened.
    pub updated_at_ms: i64,
    /// When written: the version of every column. When read: the largest version of its groups.
    pub version: u64,
}

/// A payment intent.
///
/// Column groups, each with its own version: the intent (fixed at creation), the status (with the
/// captured amount, which only a capture sets and after which the status never changes again),
/// the card, the resolution (decline or cancel reason), the refunded total, and when the row last
/// changed. Separate groups keep, e.g., a decline reason when a late capture follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRow {
    /// Payment id.
    pub payment_id: Uuid,
    /// Owning tenant.
    pub tenant: String,
    /// Who pays.
    pub owner: String,
    /// Asset code charged.
    pub asset: String,
    /// How much is charged.
    pub amount: Decimal,
    /// `requires_payment_method`, `processing`, `succeeded`, `failed` or `canceled`.
    pub status: String,
    /// The top-up it funds, if any.
    pub top_up_id: Option<Uuid>,
    /// The stored card charged, if any (from creation, or from the submission).
    pub payment_method_id: Option<Uuid>,
    /// Card network of the submitted card (`visa`, ...); never a card number.
    pub card_brand: Option<String>,
    /// Last four digits of the submitted card.
    pub card_last4: Option<String>,
    /// Expiry month (1–12) of the submitted card.
    pub card_exp_month: Option<u32>,
    /// Expiry year of the submitted card.
    pub card_exp_year: Option<u32>,
    /// Why the provider declined, if it did.
    pub decline_reason: Option<String>,
    /// Why the intent was cancelled, if it was.
    pub cancel_reason: Option<String>,
    /// Amount captured, once captured.
    pub captured: Option<Decimal>,
    /// Σ succeeded refunds, once one succeeded.
    pub refunded: Option<Decimal>,
    /// When the intent was created.
    pub created_at_ms: i64,
    /// When the newest event reflected happened.
    pub updated_at_ms: i64,
    /// When written: the version of every column. When read: the largest version of its groups.
    pub version: u64,
}

/// A stored card of an owner (never its number). Listed by (tenant, owner); a removed one is
/// kept with `removed` set and no longer listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentMethodRow {
    /// Owning tenant.
    pub tenant: String,
    /// The integrator's customer id.
    pub owner: String,
    /// Payment method id.
    pub payment_method_id: Uuid,
    /// Card network (`visa`, ...).
    pub brand: String,
    /// Last four digits.
    pub last4: String,
    /// Expiry month (1–12).
    pub exp_month: u32,
    /// Expiry year.
    pub exp_year: u32,
    /// When the card was saved.
    pub created_at_ms: i64,
    /// Whether the owner removed it.
    pub removed: bool,
    /// When written: the version of every column. When read: the largest version of its groups
    /// (the card, its removal).
    pub version: u64,
}

/// The latest failed auto top-up of a wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoTopUpFailureRow {
    /// The failed top-up.
    pub top_up_id: Uuid,
    /// Why, as `kind:detail` (`declined:insufficient_funds`, `credit_rejected:wallet_closed`,
    /// `create_rejected:payment_method_required`) or `expired`.
    pub reason: String,
    /// When the auto top-up saga recorded the failure.
    pub failed_at_ms: i64,
}

/// Where a wallet's auto top-up stands, from the saga's outcomes (never from the rule): what
/// support needs to see why no auto top-up fired. Three column groups, each with its own
/// version: the last failure, the back-off, the daily cap.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AutoTopUpActivityRow {
    /// Auto top-ups failed in a row; 0 once one completes (or before any failed).
    pub consecutive_failures: u32,
    /// No auto top-up starts before this instant (the last failure's `retry_at`); `None` once one
    /// completes. A past instant means the back-off is over: readers compare with their clock.
    pub backoff_until_ms: Option<i64>,
    /// The latest failure, kept after a completion so support can still see it.
    pub last_failure: Option<AutoTopUpFailureRow>,
    /// The daily cap stopped an auto top-up: none starts before this instant (the next UTC
    /// midnight). A past instant means that day is over.
    pub daily_cap_reached_until_ms: Option<i64>,
}

/// A wallet's auto top-up rule, field for field the domain's `AutoTopUpRule` plus whom it
/// belongs to and where its auto top-ups stand. Exactly one of `amount` and `target_balance` is
/// set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoTopUpRuleRow {
    /// The wallet (and auto top-up saga stream).
    pub wallet_id: Uuid,
    /// The wallet's tenant.
    pub tenant: String,
    /// The wallet's owner.
    pub owner: String,
    /// The wallet's asset code.
    pub asset: String,
    /// The available balance under which a top-up starts.
    pub threshold: Decimal,
    /// A fixed amount per top-up.
    pub amount: Option<Decimal>,
    /// Or: the available balance to top up to.
    pub target_balance: Option<Decimal>,
    /// The stored card charged.
    pub payment_method_id: Uuid,
    /// Auto top-ups started per UTC day.
    pub daily_max_count: u32,
    /// Σ amounts of the auto top-ups started per UTC day, if bounded.
    pub daily_max_amount: Option<Decimal>,
    /// Wait after a failed auto top-up before the next attempt.
    pub backoff_ms: i64,
    /// The fee rate in per cent applied to the top-ups it creates.
    pub fee_rate: Decimal,
    /// The payment deadline of the top-ups it creates.
    pub timeout_ms: i64,
    /// Whether the rule was removed (kept so that its last version stays visible).
    pub removed: bool,
    /// When the rule was (last) set.
    pub updated_at_ms: i64,
    /// Failures, back-off and daily cap, as the saga's events last said. Read only:
    /// [`RowWrite::AutoTopUpRule`] leaves the stored activity as it is (setting a rule does not
    /// end a back-off), and [`RowWrite::AutoTopUpFailed`], [`RowWrite::AutoTopUpCompleted`] and
    /// [`RowWrite::AutoTopUpCapReached`] write it.
    pub activity: AutoTopUpActivityRow,
    /// When written: the version of every column. When read: the largest version of its groups
    /// (the rule, its removal, and the activity's groups).
    pub version: u64,
}

/// One versioned upsert. Each variant writes a fixed set of columns with its own version; the
/// write applies to those columns only if its version is greater than theirs.
#[derive(Clone, Debug, PartialEq)]
pub enum RowWrite {
    /// Inserts the wallet (all columns) — from WalletOpened.
    Wallet(WalletRow),
    /// Updates only status (own version column).
    WalletStatus {
        /// Wallet id.
        wallet_id: Uuid,
        /// New status.
        status: String,
        /// Stream sequence of the event.
        version: u64,
    },
    /// Updates only limits (own version column).
    WalletLimits {
        /// Wallet id.
        wallet_id: Uuid,
        /// New limits.
        limits: LimitsRow,
        /// Stream sequence of the event.
        version: u64,
    },
    /// Writes balance and held.
    Balance(BalanceRow),
    /// Immutable once written, keyed (wallet_id, sequence); rewriting is a no-op.
    History(HistoryRow),
    /// Writes the lot (all columns).
    Lot(LotRow),
    /// Updates only remaining (own version column). Arriving before its [`RowWrite::Lot`], it
    /// leaves a partial row that queries do not show until the lot itself arrives; the newer
    /// remaining wins whatever the order of arrival.
    LotRemaining {
        /// Wallet id.
        wallet_id: Uuid,
        /// Lot id.
        lot_id: Uuid,
        /// New remaining amount.
        remaining: Decimal,
        /// Stream sequence of the event.
        version: u64,
    },
    /// Writes the hold (all columns).
    Hold(HoldRow),
    /// Updates status and captured (own version column); partial rows as for
    /// [`RowWrite::LotRemaining`].
    HoldResolved {
        /// Wallet id.
        wallet_id: Uuid,
        /// Hold id.
        hold_id: Uuid,
        /// Final status.
        status: String,
        /// Amount captured.
        captured: Decimal,
        /// Stream sequence of the event.
        version: u64,
    },
    /// Moves a stream's guard state forward (guarded by its sequence).
    StreamPosition(StreamPosition),
    /// Writes the top-up (every group, with the row's version) and indexes it by wallet and by
    /// checkout session — from TopUpCreated.
    TopUp(TopUpRow),
    /// Updates the status group (status, failure reason) and, when `credited` is set, the
    /// credited group; partial rows as for [`RowWrite::LotRemaining`].
    TopUpStatus {
        /// Top-up id.
        top_up_id: Uuid,
        /// New status.
        status: String,
        /// Why it failed (`kind:detail`), if it did.
        failure_reason: Option<String>,
        /// What the wallet received, when this event says (completion); `None` leaves it.
        credited: Option<Decimal>,
        /// When the event happened.
        updated_at_ms: i64,
        /// Stream sequence of the event.
        version: u64,
    },
    /// Updates only the late capture group.
    TopUpLateCapture {
        /// Top-up id.
        top_up_id: Uuid,
        /// The amount captured late (to be refunded).
        late_capture: Decimal,
        /// When the event happened.
        updated_at_ms: i64,
        /// Stream sequence of the event.
        version: u64,
    },
    /// Writes the payment (every group) — from PaymentIntentCreated.
    Payment(PaymentRow),
    /// Updates the status group (status, captured).
    PaymentStatus {
        /// Payment id.
        payment_id: Uuid,
        /// New status.
        status: String,
        /// Amount captured, if this event captured.
        captured: Option<Decimal>,
        /// When the event happened.
        updated_at_ms: i64,
        /// Stream sequence of the event.
        version: u64,
    },
    /// Updates the card group (the submitted card and the stored card charged).
    PaymentCard {
        /// Payment id.
        payment_id: Uuid,
        /// Card network.
        brand: String,
        /// Last four digits.
        last4: String,
        /// Expiry month.
        exp_month: u32,
        /// Expiry year.
        exp_year: u32,
        /// The stored card charged, if the submission names one; `None` keeps the one the intent
        /// was created with.
        payment_method_id: Option<Uuid>,
        /// When the event happened.
        updated_at_ms: i64,
        /// Stream sequence of the event.
        version: u64,
    },
    /// Updates the resolution group (decline or cancel reason).
    PaymentResolution {
        /// Payment id.
        payment_id: Uuid,
        /// Why the provider declined.
        decline_reason: Option<String>,
        /// Why the intent was cancelled.
        cancel_reason: Option<String>,
        /// When the event happened.
        updated_at_ms: i64,
        /// Stream sequence of the event.
        version: u64,
    },
    /// Updates the refunded group.
    PaymentRefunded {
        /// Payment id.
        payment_id: Uuid,
        /// Σ succeeded refunds after the event.
        refunded: Decimal,
        /// When the event happened.
        updated_at_ms: i64,
        /// Stream sequence of the event.
        version: u64,
    },
    /// Writes the stored card (card and removal groups) and indexes it by (tenant, owner) —
    /// from PaymentMethodSaved.
    PaymentMethod(PaymentMethodRow),
    /// Marks a stored card removed (removal group only; the event does not name the owner, the
    /// row keeps it from the saving write).
    PaymentMethodRemoved {
        /// Payment method id.
        payment_method_id: Uuid,
        /// Stream sequence of the event.
        version: u64,
    },
    /// Writes the rule (rule group, and the removal group cleared) — from AutoTopUpRuleSet. The
    /// row's [`AutoTopUpRuleRow::activity`] is not written.
    AutoTopUpRule(AutoTopUpRuleRow),
    /// Marks the rule removed (removal group only).
    AutoTopUpRuleRemoved {
        /// Wallet id.
        wallet_id: Uuid,
        /// Stream sequence of the event.
        version: u64,
    },
    /// Records a failed auto top-up: the last-failure group and the back-off group — from
    /// AutoTopUpFailed. Partial rows as for [`RowWrite::LotRemaining`].
    AutoTopUpFailed {
        /// Wallet id.
        wallet_id: Uuid,
        /// The failure.
        failure: AutoTopUpFailureRow,
        /// Failures in a row, this one included.
        consecutive_failures: u32,
        /// The end of the back-off.
        backoff_until_ms: i64,
        /// Stream sequence of the event.
        version: u64,
    },
    /// Ends the back-off (back-off group: no failures in a row, no back-off); the last failure
    /// stays — from AutoTopUpCompleted.
    AutoTopUpCompleted {
        /// Wallet id.
        wallet_id: Uuid,
        /// Stream sequence of the event.
        version: u64,
    },
    /// Records that the daily cap stopped an auto top-up (cap group) — from AutoTopUpCapReached.
    AutoTopUpCapReached {
        /// Wallet id.
        wallet_id: Uuid,
        /// When the capped UTC day ends.
        until_ms: i64,
        /// Stream sequence of the event.
        version: u64,
    },
}

/// How far a projector got in one partition: the next offset it will consume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Projector name.
    pub projector: String,
    /// Topic consumed.
    pub topic: String,
    /// Partition consumed.
    pub partition: u32,
    /// Next offset to consume.
    pub next_offset: u64,
}

/// Which page of a list to return.
#[derive(Clone, Debug, Default)]
pub struct PageRequest {
    /// Items per page: 0 means [`DEFAULT_PAGE_SIZE`]; more than [`MAX_PAGE_SIZE`] is refused.
    pub page_size: u32,
    /// `next_page_token` of the previous page; `None` for the first page.
    pub page_token: Option<String>,
}

/// One page of a list.
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// Token for the next page; `None` on the last page.
    pub next_page_token: Option<String>,
}

/// Which history entries to list.
#[derive(Clone, Debug, Default)]
pub struct HistoryFilter {
    /// Only these entry types; empty means all.
    pub entry_types: Vec<EntryType>,
    /// Only entries at or after this time.
    pub from_ms: Option<i64>,
    /// Only entries before this time (exclusive).
    pub to_ms: Option<i64>,
}

/// The read models, behind one trait so the projector and the query side do not care which
/// database holds them.
///
/// Rows that exist only partially (a [`RowWrite::WalletStatus`], [`RowWrite::LotRemaining`],
/// [`RowWrite::HoldResolved`], [`RowWrite::TopUpStatus`], [`RowWrite::PaymentStatus`],
/// [`RowWrite::PaymentMethodRemoved`], ... whose creating write has not arrived yet) are not
/// returned.
#[async_trait::async_trait]
pub trait ReadStore: Send + Sync + 'static {
    /// Applies the writes and then the checkpoints, atomically where the store can (SQLite: one
    /// transaction). Idempotent. A checkpoint only moves forward.
    async fn apply(
        &self,
        writes: Vec<RowWrite>,
        checkpoints: Vec<Checkpoint>,
    ) -> Result<(), StoreError>;

    /// The next offset a projector recorded for a partition, if any.
    async fn checkpoint(
        &self,
        projector: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<u64>, StoreError>;

    /// Guard states of the streams that have one.
    async fn stream_positions(
        &self,
        stream_ids: &[String],
    ) -> Result<HashMap<String, StreamPosition>, StoreError>;

    /// A wallet by id.
    async fn get_wallet(&self, wallet_id: Uuid) -> Result<Option<WalletRow>, StoreError>;

    /// A tenant's wallets of one owner, ordered by wallet_id.
    async fn list_wallets_by_owner(
        &self,
        tenant: &str,
        owner: &str,
        page: PageRequest,
    ) -> Result<Page<WalletRow>, StoreError>;

    /// A wallet's balance.
    async fn get_balance(&self, wallet_id: Uuid) -> Result<Option<BalanceRow>, StoreError>;

    /// A wallet's history, newest first (sequence descending).
    async fn list_history(
        &self,
        wallet_id: Uuid,
        filter: HistoryFilter,
        page: PageRequest,
    ) -> Result<Page<HistoryRow>, StoreError>;

    /// The wallet's newest entry (greatest sequence) that occurred at or before `as_of_ms`,
    /// inclusive: the entry whose `balance_after`/`held_after` were the wallet's at that instant.
    /// `None` when no entry occurred by then.
    ///
    /// Built on [`ReadStore::list_history`] (the same filter, one entry per page), so both
    /// stores answer it the same way: SQLite in one query, CQL by scanning the partition newest
    /// first, which costs the entries after the instant (followed across its bounded pages).
    async fn history_as_of(
        &self,
        wallet_id: Uuid,
        as_of_ms: i64,
    ) -> Result<Option<HistoryRow>, StoreError> {
        let filter = HistoryFilter {
            entry_types: Vec::new(),
            from_ms: None,
            // `to_ms` is exclusive; the instant itself is included.
            to_ms: Some(as_of_ms.saturating_add(1)),
        };
        let mut page_token = None;
        loop {
            let page = self
                .list_history(
                    wallet_id,
                    filter.clone(),
                    PageRequest {
                        page_size: 1,
                        page_token,
                    },
                )
                .await?;
            if let Some(entry) = page.items.into_iter().next() {
                return Ok(Some(entry));
            }
            // A store may end a page early (the CQL scan budget) and say where to go on.
            match page.next_page_token {
                Some(token) => page_token = Some(token),
                None => return Ok(None),
            }
        }
    }

    /// A wallet's lots, oldest first (creation time, then lot id).
    async fn list_lots(&self, wallet_id: Uuid) -> Result<Vec<LotRow>, StoreError>;

    /// A wallet's holds, oldest first (hold id, which is time-ordered).
    async fn list_holds(&self, wallet_id: Uuid) -> Result<Vec<HoldRow>, StoreError>;

    /// A top-up by id.
    async fn get_top_up(&self, top_up_id: Uuid) -> Result<Option<TopUpRow>, StoreError>;

    /// The top-up of a hosted checkout session (what the payment page looks up).
    async fn get_top_up_by_checkout_session(
        &self,
        checkout_session_id: Uuid,
    ) -> Result<Option<TopUpRow>, StoreError>;

    /// A wallet's top-ups, newest first: creation time descending, then, for equal times, top-up
    /// id descending (by its bytes). Ids alone would not do: they derive from idempotency keys.
    async fn list_top_ups_by_wallet(
        &self,
        wallet_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<TopUpRow>, StoreError>;

    /// A payment by id.
    async fn get_payment(&self, payment_id: Uuid) -> Result<Option<PaymentRow>, StoreError>;

    /// A tenant's stored cards of one owner that are not removed, ordered by payment_method_id.
    async fn list_payment_methods(
        &self,
        tenant: &str,
        owner: &str,
        page: PageRequest,
    ) -> Result<Page<PaymentMethodRow>, StoreError>;

    /// A wallet's auto top-up rule, removed or not (see [`AutoTopUpRuleRow::removed`]), with its
    /// activity (defaults where no saga outcome was recorded).
    async fn get_auto_top_up_rule(
        &self,
        wallet_id: Uuid,
    ) -> Result<Option<AutoTopUpRuleRow>, StoreError>;
}

/// Errors of [`ReadStore`].
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The page token was not issued by this list (malformed, or from another list or wallet).
    #[error("invalid page token")]
    InvalidPageToken,
    /// `page_size` above [`MAX_PAGE_SIZE`].
    #[error("page size above the maximum of {max}")]
    PageSizeTooLarge {
        /// [`MAX_PAGE_SIZE`].
        max: u32,
    },
    /// A version, sequence or offset beyond what the store can hold (signed 64-bit integers).
    #[error("{value} is beyond the largest storable version or offset")]
    OutOfRange {
        /// The offending value.
        value: u64,
    },
    /// A stored value that no valid write produces.
    #[error("corrupt read model: {table}.{column} holds {value:?}")]
    Corrupt {
        /// Which table.
        table: &'static str,
        /// Which column (in CQL, the cell or the column of a cell's row).
        column: &'static str,
        /// The value found.
        value: String,
    },
    /// The store file was written by a newer build.
    #[error("store schema version {found} is newer than this build supports ({supported})")]
    UnsupportedSchema {
        /// Schema version in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// SQLite refused write-ahead logging, which concurrent readers rely on.
    #[error("SQLite could not enable WAL mode; journal mode is {mode:?}")]
    WalUnavailable {
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// The runtime is shutting down; the operation did not run.
    #[error("the store is shutting down")]
    Closed,
    /// SQLite failed.
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Another implementation's client library (e.g. the ScyllaDB driver) failed.
    #[error("store client: {0}")]
    Client(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_types_round_trip_through_their_names() {
        for entry_type in EntryType::ALL {
            assert_eq!(EntryType::parse(entry_type.as_str()), Ok(entry_type));
            assert_eq!(entry_type.to_string().parse::<EntryType>(), Ok(entry_type));
        }
        assert_eq!(
            EntryType::parse("Credit"),
            Err(UnknownEntryType {
                name: "Credit".to_owned()
            })
        );
    }
}
