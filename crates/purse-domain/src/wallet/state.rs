//! Wallet state and `evolve`: facts applied without rules, invariants asserted.

use std::collections::{BTreeMap, VecDeque};

use rust_decimal::Decimal;
use uuid::Uuid;

use super::event::{LotDraw, WalletEvent, WalletEventKind};
use super::transaction::{WalletTransaction, WalletTransactionStatus};
use super::types::{CreditSource, HoldReleaseReason, HoldStatus, Limits, WalletKind, WalletStatus};
use crate::event::EventKind;
use crate::money::Asset;
use crate::time::Timestamp;

/// The state of one wallet stream: nothing before `WalletOpened`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WalletState(pub(crate) Option<Wallet>);

impl WalletState {
    /// The wallet, once opened.
    pub fn wallet(&self) -> Option<&Wallet> {
        self.0.as_ref()
    }

    /// Earliest time a Tick would change something (lot expiry, hold deadline, expiring-soon
    /// notice due at expires_at - notice_lead_ms); None if nothing pending.
    ///
    /// A lot whose unexpired part is all reserved has no expiry deadline of its own: that part
    /// expires when its hold resolves, which the hold's deadline already covers.
    pub fn next_deadline(&self, notice_lead_ms: i64) -> Option<Timestamp> {
        let wallet = self.0.as_ref()?;
        let holds = wallet.holds.iter().map(|hold| hold.expires_at);
        let lots = wallet.lots.iter().flat_map(|lot| {
            let expires_at = lot.expires_at?;
            let expiry = (lot.unreserved() > Decimal::ZERO).then_some(expires_at);
            let notice = (!lot.expiring_notice_raised && lot.remaining > Decimal::ZERO)
                .then(|| expires_at.plus_millis(notice_lead_ms.saturating_neg()));
            Some(expiry.into_iter().chain(notice))
        });
        holds.chain(lots.flatten()).min()
    }

    /// Applies one event. Panics if the event contradicts the state: events are facts produced
    /// by `decide`, so a contradiction means a corrupt log or a bug, never bad input.
    pub(crate) fn apply(self, event: &WalletEvent) -> Self {
        let wallet = match (self.0, &event.kind) {
            (
                None,
                WalletEventKind::WalletOpened {
                    wallet_id,
                    tenant,
                    owner,
                    kind,
                    asset,
                    limits,
                    metadata,
                },
            ) => Wallet {
                id: *wallet_id,
                tenant: tenant.clone(),
                owner: owner.clone(),
                kind: *kind,
                asset: asset.clone(),
                status: WalletStatus::Open,
                limits: limits.clone(),
                metadata: metadata.clone(),
                created_at: event.occurred_at,
                balance: Decimal::new(0, asset.scale()),
                held: Decimal::new(0, asset.scale()),
                lots: Vec::new(),
                holds: Vec::new(),
                resolved_holds: BTreeMap::new(),
                refundable: BTreeMap::new(),
                daily_debits: DailyTotal::default(),
                recent_operations: VecDeque::new(),
                transactions: BTreeMap::new(),
            },
            (Some(_), WalletEventKind::WalletOpened { .. }) => {
                panic!("WalletOpened applied to an existing wallet")
            }
            (None, _) => panic!("{} applied before WalletOpened", event.event_type()),
            (Some(mut wallet), kind) => {
                wallet.apply(event.occurred_at, kind);
                wallet
            }
        };
        wallet.assert_invariants();
        WalletState(Some(wallet))
    }
}

/// A wallet: identity, lifecycle, limits, and its live lots and active holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wallet {
    pub(crate) id: Uuid,
    pub(crate) tenant: String,
    pub(crate) owner: String,
    pub(crate) kind: WalletKind,
    pub(crate) asset: Asset,
    pub(crate) status: WalletStatus,
    pub(crate) limits: Limits,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) created_at: Timestamp,
    // Cached sums, re-checked against the lots after every event.
    pub(crate) balance: Decimal,
    pub(crate) held: Decimal,
    // Live lots (remaining > 0) in creation order, which is the final consumption tie-break.
    pub(crate) lots: Vec<Lot>,
    // Active holds in placement order.
    pub(crate) holds: Vec<Hold>,
    // How each resolved hold ended, so it can never resolve twice.
    pub(crate) resolved_holds: BTreeMap<Uuid, HoldStatus>,
    // What remains refundable of each debit; fully refunded debits are dropped.
    pub(crate) refundable: BTreeMap<Uuid, Decimal>,
    pub(crate) daily_debits: DailyTotal,
    // Times of the latest client money operations, at most `velocity.max_operations` of them.
    pub(crate) recent_operations: VecDeque<Timestamp>,
    // Every transaction this wallet answered a prepare for, by transaction id.
    pub(crate) transactions: BTreeMap<Uuid, WalletTransaction>,
}

/// Debits and hold placements within one UTC day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DailyTotal {
    pub(crate) day: i64,
    pub(crate) total: Decimal,
}

impl Default for DailyTotal {
    fn default() -> Self {
        // No real event falls on this day, so the first debit starts a fresh total.
        Self {
            day: i64::MIN,
            total: Decimal::ZERO,
        }
    }
}

impl DailyTotal {
    /// What was debited on `day`.
    pub(crate) fn on(&self, day: i64) -> Decimal {
        if self.day == day {
            self.total
        } else {
            Decimal::ZERO
        }
    }
}

impl Wallet {
    /// The wallet (and stream) id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The owning tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The integrator's customer id.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Customer or system wallet.
    pub fn kind(&self) -> WalletKind {
        self.kind
    }

    /// The one asset it holds.
    pub fn asset(&self) -> &Asset {
        &self.asset
    }

    /// Open, suspended or closed.
    pub fn status(&self) -> WalletStatus {
        self.status
    }

    /// The current limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Integrator metadata.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// When it was opened.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }

    /// Σ lot remaining, reserved included.
    pub fn balance(&self) -> Decimal {
        self.balance
    }

    /// Σ active hold amounts.
    pub fn held(&self) -> Decimal {
        self.held
    }

    /// What a debit or hold may use: balance − held. Lots past expiry that no Tick has expired
    /// yet still count here; commands expire them before deciding.
    pub fn available(&self) -> Decimal {
        self.balance - self.held
    }

    /// Live lots (remaining > 0), in creation order.
    pub fn lots(&self) -> impl Iterator<Item = &Lot> {
        self.lots.iter()
    }

    /// Active holds, in placement order.
    pub fn holds(&self) -> impl Iterator<Item = &Hold> {
        self.holds.iter()
    }

    /// The live lot `id`.
    pub fn lot(&self, id: Uuid) -> Option<&Lot> {
        self.lots.iter().find(|lot| lot.id == id)
    }

    /// The active hold `id`.
    pub fn hold(&self, id: Uuid) -> Option<&Hold> {
        self.holds.iter().find(|hold| hold.id == id)
    }

    /// The status of hold `id`, active or resolved; None if this wallet never had it.
    pub fn hold_status(&self, id: Uuid) -> Option<HoldStatus> {
        self.hold(id)
            .map(|hold| hold.status)
            .or_else(|| self.resolved_holds.get(&id).copied())
    }

    /// What this wallet knows of transaction `id`: None if it never answered its prepare.
    pub fn transaction(&self, id: Uuid) -> Option<&WalletTransaction> {
        self.transactions.get(&id)
    }

    /// What the legs of prepared, uncommitted transactions will credit.
    pub fn pending_transaction_credits(&self) -> Decimal {
        self.transactions
            .values()
            .flat_map(|transaction| &transaction.legs)
            .filter(|leg| leg.entry_type().is_credit())
            .map(|leg| leg.amount)
            .sum()
    }

    /// What may still be refunded of debit `debit_id`; None if unknown or fully refunded.
    pub fn refundable(&self, debit_id: Uuid) -> Option<Decimal> {
        self.refundable.get(&debit_id).copied()
    }

    fn lot_mut(&mut self, id: Uuid) -> &mut Lot {
        match self.lots.iter_mut().find(|lot| lot.id == id) {
            Some(lot) => lot,
            None => panic!("event names lot {id}, which the wallet does not hold"),
        }
    }

    fn take_hold(&mut self, id: Uuid) -> Hold {
        match self.holds.iter().position(|hold| hold.id == id) {
            Some(index) => self.holds.remove(index),
            None => panic!("event names hold {id}, which is not active"),
        }
    }

    fn resolve_hold(&mut self, hold: &Hold, status: HoldStatus) {
        let previous = self.resolved_holds.insert(hold.id, status);
        assert!(previous.is_none(), "hold {} resolved twice", hold.id);
        self.held -= hold.amount;
    }

    /// Reserves a hold's lots and records it as active.
    fn add_hold(&mut self, hold: Hold) {
        assert!(
            self.hold_status(hold.id).is_none(),
            "hold id {} reused",
            hold.id
        );
        let mut reserved = Decimal::ZERO;
        for draw in &hold.reservations {
            let lot = self.lot_mut(draw.lot_id);
            lot.reserved += draw.amount;
            assert_eq!(
                lot.unreserved(),
                draw.remaining_after,
                "hold reservation remaining_after"
            );
            reserved += draw.amount;
        }
        assert_eq!(reserved, hold.amount, "hold reservations do not add up");
        self.held += hold.amount;
        self.holds.push(hold);
    }

    /// A new lot from a credit.
    fn add_lot(
        &mut self,
        at: Timestamp,
        id: Uuid,
        source: CreditSource,
        amount: Decimal,
        expires_at: Option<Timestamp>,
    ) {
        assert!(amount > Decimal::ZERO, "credit of a non-positive amount");
        assert!(self.lot(id).is_none(), "lot id {id} reused");
        self.lots.push(Lot::new(id, source, amount, expires_at, at));
        self.balance += amount;
    }

    /// The prepared transaction `id`, which an event resolves; panics otherwise.
    fn prepared_transaction(&mut self, id: Uuid, hold_id: Uuid) -> &mut WalletTransaction {
        let record = self
            .transactions
            .get_mut(&id)
            .unwrap_or_else(|| panic!("event names transaction {id}, which is unknown here"));
        assert_eq!(
            record.status,
            WalletTransactionStatus::Prepared,
            "transaction {id} resolved twice"
        );
        assert_eq!(
            record.hold_id,
            Some(hold_id),
            "transaction {id} hold differs"
        );
        record
    }

    fn record_debit(&mut self, debit_id: Uuid, amount: Decimal) {
        let previous = self.refundable.insert(debit_id, amount);
        assert!(previous.is_none(), "debit id {debit_id} reused");
    }

    fn count_daily_debit(&mut self, at: Timestamp, amount: Decimal) {
        let day = at.utc_day();
        if self.daily_debits.day != day {
            self.daily_debits = DailyTotal {
                day,
                total: Decimal::ZERO,
            };
        }
        // Saturating: the total only ever meets limits that are far below Decimal::MAX.
        self.daily_debits.total = self.daily_debits.total.saturating_add(amount);
    }

    fn record_operation(&mut self, at: Timestamp) {
        // Without a velocity limit nothing is recorded, so a newly set limit counts from then on.
        if self.limits.velocity.is_some() {
            self.recent_operations.push_back(at);
        }
        self.trim_operations();
    }

    fn trim_operations(&mut self) {
        // Only the latest max_operations times can decide the next check.
        let keep = self
            .limits
            .velocity
            .map_or(0, |velocity| velocity.max_operations as usize);
        while self.recent_operations.len() > keep {
            self.recent_operations.pop_front();
        }
    }

    fn apply(&mut self, at: Timestamp, kind: &WalletEventKind) {
        assert!(
            self.status != WalletStatus::Closed,
            "{} applied to a closed wallet",
            kind.event_type()
        );
        match kind {
            WalletEventKind::WalletOpened { .. } => unreachable!("handled by WalletState::apply"),
            WalletEventKind::WalletSuspended { .. } => {
                assert_eq!(
                    self.status,
                    WalletStatus::Open,
                    "suspend of a non-open wallet"
                );
                self.status = WalletStatus::Suspended;
            }
            WalletEventKind::WalletReactivated => {
                assert_eq!(
                    self.status,
                    WalletStatus::Suspended,
                    "reactivation of a non-suspended wallet"
                );
                self.status = WalletStatus::Open;
            }
            WalletEventKind::WalletClosed => {
                assert!(self.balance.is_zero(), "closed with a balance");
                assert!(self.holds.is_empty(), "closed with active holds");
                self.status = WalletStatus::Closed;
            }
            WalletEventKind::LimitsChanged { limits } => {
                self.limits = limits.clone();
                self.trim_operations();
            }
            WalletEventKind::FundsCredited {
                lot_id,
                source,
                amount,
                expires_at,
                refund_of,
                balance_after,
                held_after,
                ..
            } => {
                if let Some(debit_id) = refund_of {
                    let refundable = self
                        .refundable
                        .get_mut(debit_id)
                        .unwrap_or_else(|| panic!("refund of unknown debit {debit_id}"));
                    *refundable -= *amount;
                    assert!(*refundable >= Decimal::ZERO, "refund exceeds its debit");
                    if refundable.is_zero() {
                        self.refundable.remove(debit_id);
                    }
                }
                self.add_lot(at, *lot_id, *source, *amount, *expires_at);
                assert_eq!(self.balance, *balance_after, "FundsCredited balance_after");
                assert_eq!(self.held, *held_after, "FundsCredited held_after");
                self.record_operation(at);
            }
            WalletEventKind::FundsDebited {
                debit_id,
                amount,
                draws,
                balance_after,
                held_after,
                ..
            } => {
                assert!(*amount > Decimal::ZERO, "debit of a non-positive amount");
                let drawn = self.draw(draws, false);
                assert_eq!(drawn, *amount, "FundsDebited draws do not add up");
                self.balance -= *amount;
                assert_eq!(self.balance, *balance_after, "FundsDebited balance_after");
                assert_eq!(self.held, *held_after, "FundsDebited held_after");
                self.record_debit(*debit_id, *amount);
                self.count_daily_debit(at, *amount);
                self.record_operation(at);
            }
            WalletEventKind::HoldPlaced {
                hold_id,
                amount,
                reservations,
                expires_at,
                balance_after,
                held_after,
                ..
            } => {
                assert!(*amount > Decimal::ZERO, "hold of a non-positive amount");
                self.add_hold(Hold {
                    id: *hold_id,
                    amount: *amount,
                    reservations: reservations.clone(),
                    expires_at: *expires_at,
                    status: HoldStatus::Active,
                    transaction_id: None,
                });
                assert_eq!(self.balance, *balance_after, "HoldPlaced balance_after");
                assert_eq!(self.held, *held_after, "HoldPlaced held_after");
                self.count_daily_debit(at, *amount);
                self.record_operation(at);
            }
            WalletEventKind::HoldCaptured {
                hold_id,
                debit_id,
                amount,
                draws,
                released,
                balance_after,
                held_after,
            } => {
                let hold = self.take_hold(*hold_id);
                assert_draws_within_reservations(draws, &hold);
                assert_eq!(
                    *amount + *released,
                    hold.amount,
                    "HoldCaptured amount + released differs from the hold"
                );
                // Everything the hold reserved is unreserved; the captured part then leaves.
                self.unreserve(&hold);
                let drawn = self.draw(draws, true);
                assert_eq!(drawn, *amount, "HoldCaptured draws do not add up");
                self.balance -= *amount;
                self.resolve_hold(&hold, HoldStatus::Captured);
                assert_eq!(self.balance, *balance_after, "HoldCaptured balance_after");
                assert_eq!(self.held, *held_after, "HoldCaptured held_after");
                self.record_debit(*debit_id, *amount);
                self.record_operation(at);
            }
            WalletEventKind::HoldReleased {
                hold_id,
                amount,
                reason,
                balance_after,
                held_after,
            } => {
                let hold = self.take_hold(*hold_id);
                assert_eq!(
                    *amount, hold.amount,
                    "HoldReleased amount differs from the hold"
                );
                self.unreserve(&hold);
                self.resolve_hold(&hold, reason.final_status());
                if let Some(transaction_id) = hold.transaction_id {
                    // Only the timer releases a transaction's hold this way: an orphan.
                    assert_eq!(
                        *reason,
                        HoldReleaseReason::Expired,
                        "transaction hold voided"
                    );
                    let record = self.prepared_transaction(transaction_id, hold.id);
                    record.status = WalletTransactionStatus::Expired;
                    record.legs = Vec::new();
                }
                assert_eq!(self.balance, *balance_after, "HoldReleased balance_after");
                assert_eq!(self.held, *held_after, "HoldReleased held_after");
                if *reason == HoldReleaseReason::Void {
                    self.record_operation(at);
                }
            }
            WalletEventKind::LotExpired {
                lot_id,
                amount,
                remaining_after,
                balance_after,
                held_after,
            } => {
                assert!(*amount > Decimal::ZERO, "expiry of a non-positive amount");
                let lot = self.lot_mut(*lot_id);
                assert!(
                    lot.expires_at.is_some_and(|expires_at| expires_at <= at),
                    "lot {lot_id} expired before its expiry"
                );
                lot.remaining -= *amount;
                assert_eq!(
                    lot.remaining, *remaining_after,
                    "LotExpired remaining_after"
                );
                assert!(lot.reserved <= lot.remaining, "expiry took reserved funds");
                self.balance -= *amount;
                assert_eq!(self.balance, *balance_after, "LotExpired balance_after");
                assert_eq!(self.held, *held_after, "LotExpired held_after");
            }
            WalletEventKind::TransactionHoldPlaced {
                transaction_id,
                hold_id,
                amount,
                reservations,
                legs,
                expires_at,
                balance_after,
                held_after,
            } => {
                assert!(
                    !self.transactions.contains_key(transaction_id),
                    "transaction {transaction_id} prepared twice"
                );
                self.add_hold(Hold {
                    id: *hold_id,
                    amount: *amount,
                    reservations: reservations.clone(),
                    expires_at: *expires_at,
                    status: HoldStatus::Active,
                    transaction_id: Some(*transaction_id),
                });
                assert_eq!(
                    self.balance, *balance_after,
                    "TransactionHoldPlaced balance_after"
                );
                assert_eq!(self.held, *held_after, "TransactionHoldPlaced held_after");
                // The transaction's debits count against today's limit once, when reserved.
                let debits: Decimal = legs
                    .iter()
                    .filter(|leg| !leg.entry_type().is_credit())
                    .map(|leg| leg.amount)
                    .sum();
                if debits > Decimal::ZERO {
                    self.count_daily_debit(at, debits);
                }
                self.record_operation(at);
                self.transactions.insert(
                    *transaction_id,
                    WalletTransaction {
                        status: WalletTransactionStatus::Prepared,
                        hold_id: Some(*hold_id),
                        legs: legs.clone(),
                    },
                );
            }
            WalletEventKind::TransactionPrepareFailed { transaction_id, .. } => {
                let previous = self.transactions.insert(
                    *transaction_id,
                    WalletTransaction {
                        status: WalletTransactionStatus::Failed,
                        hold_id: None,
                        legs: Vec::new(),
                    },
                );
                assert!(
                    previous.is_none(),
                    "transaction {transaction_id} prepared twice"
                );
            }
            WalletEventKind::TransactionPosted {
                transaction_id,
                hold_id,
                entries,
                balance_after,
                held_after,
            } => {
                let legs =
                    std::mem::take(&mut self.prepared_transaction(*transaction_id, *hold_id).legs);
                assert_eq!(legs.len(), entries.len(), "TransactionPosted entries");
                let hold = self.take_hold(*hold_id);
                self.unreserve(&hold);
                for (leg, entry) in legs.iter().zip(entries) {
                    assert!(
                        (leg.index, leg.amount, leg.entry_type())
                            == (entry.index, entry.amount, entry.entry_type),
                        "TransactionPosted entry {} differs from its prepared leg",
                        entry.index
                    );
                    match &entry.lot {
                        Some(lot) => {
                            self.add_lot(at, lot.lot_id, lot.source, entry.amount, lot.expires_at)
                        }
                        None => {
                            let drawn = self.draw(&entry.draws, false);
                            assert_eq!(drawn, entry.amount, "TransactionPosted draws");
                            self.balance -= entry.amount;
                        }
                    }
                    assert_eq!(
                        self.balance, entry.balance_after,
                        "TransactionPosted entry balance_after"
                    );
                }
                self.resolve_hold(&hold, HoldStatus::Captured);
                assert_eq!(
                    self.balance, *balance_after,
                    "TransactionPosted balance_after"
                );
                assert_eq!(self.held, *held_after, "TransactionPosted held_after");
                self.prepared_transaction(*transaction_id, *hold_id).status =
                    WalletTransactionStatus::Committed;
            }
            WalletEventKind::TransactionHoldReleased {
                transaction_id,
                hold_id,
                amount,
                balance_after,
                held_after,
            } => {
                let record = self.prepared_transaction(*transaction_id, *hold_id);
                record.status = WalletTransactionStatus::Aborted;
                record.legs = Vec::new();
                let hold = self.take_hold(*hold_id);
                assert_eq!(*amount, hold.amount, "TransactionHoldReleased amount");
                self.unreserve(&hold);
                self.resolve_hold(&hold, HoldStatus::Voided);
                assert_eq!(
                    self.balance, *balance_after,
                    "TransactionHoldReleased balance_after"
                );
                assert_eq!(self.held, *held_after, "TransactionHoldReleased held_after");
            }
            WalletEventKind::LotExpiringSoon { lot_id, .. } => {
                let lot = self.lot_mut(*lot_id);
                assert!(
                    !lot.expiring_notice_raised,
                    "expiring-soon notice raised twice"
                );
                lot.expiring_notice_raised = true;
            }
        }
        // Spent lots are dropped so state stays proportional to live funds, not history.
        self.lots.retain(|lot| lot.remaining > Decimal::ZERO);
    }

    /// Takes each draw from its lot; `from_reserved` is false for debits, which may only use
    /// unreserved funds. Returns the total drawn.
    fn draw(&mut self, draws: &[LotDraw], from_reserved: bool) -> Decimal {
        let mut total = Decimal::ZERO;
        for draw in draws {
            assert!(draw.amount > Decimal::ZERO, "empty draw");
            let lot = self.lot_mut(draw.lot_id);
            if !from_reserved {
                assert!(draw.amount <= lot.unreserved(), "debit drew reserved funds");
            }
            lot.remaining -= draw.amount;
            assert_eq!(lot.remaining, draw.remaining_after, "draw remaining_after");
            total += draw.amount;
        }
        total
    }

    fn unreserve(&mut self, hold: &Hold) {
        for reservation in &hold.reservations {
            self.lot_mut(reservation.lot_id).reserved -= reservation.amount;
        }
    }

    fn assert_invariants(&self) {
        let mut balance = Decimal::ZERO;
        let mut reserved = Decimal::ZERO;
        for lot in &self.lots {
            assert!(lot.remaining > Decimal::ZERO, "lot {} not live", lot.id);
            assert!(lot.reserved >= Decimal::ZERO, "lot {} reserved < 0", lot.id);
            assert!(
                lot.reserved <= lot.remaining,
                "lot {} over-reserved",
                lot.id
            );
            assert!(lot.remaining <= lot.original, "lot {} grew", lot.id);
            balance += lot.remaining;
            reserved += lot.reserved;
        }
        let held: Decimal = self.holds.iter().map(|hold| hold.amount).sum();
        assert_eq!(
            self.balance, balance,
            "balance differs from Σ lot remaining"
        );
        assert_eq!(self.held, held, "held differs from Σ active holds");
        assert_eq!(reserved, held, "Σ lot reserved differs from Σ active holds");
        assert!(self.available() >= Decimal::ZERO, "available < 0");
        assert!(
            self.balance <= self.asset.max_amount(),
            "balance above the asset's ceiling"
        );
    }
}

/// A capture may only take, from each lot, what its hold reserved there.
fn assert_draws_within_reservations(draws: &[LotDraw], hold: &Hold) {
    for draw in draws {
        let drawn: Decimal = draws
            .iter()
            .filter(|other| other.lot_id == draw.lot_id)
            .map(|other| other.amount)
            .sum();
        let reserved: Decimal = hold
            .reservations
            .iter()
            .filter(|reservation| reservation.lot_id == draw.lot_id)
            .map(|reservation| reservation.amount)
            .sum();
        assert!(
            drawn <= reserved,
            "capture of hold {} drew more than it reserved from lot {}",
            hold.id,
            draw.lot_id
        );
    }
}

/// Funds from one credit, consumed and expired independently of other credits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lot {
    pub(crate) id: Uuid,
    pub(crate) source: CreditSource,
    pub(crate) original: Decimal,
    pub(crate) remaining: Decimal,
    pub(crate) reserved: Decimal,
    pub(crate) expires_at: Option<Timestamp>,
    pub(crate) created_at: Timestamp,
    pub(crate) expiring_notice_raised: bool,
}

impl Lot {
    /// A lot just credited: all of `amount` remaining, nothing reserved, no notice raised.
    pub(crate) fn new(
        id: Uuid,
        source: CreditSource,
        amount: Decimal,
        expires_at: Option<Timestamp>,
        created_at: Timestamp,
    ) -> Self {
        Self {
            id,
            source,
            original: amount,
            remaining: amount,
            reserved: Decimal::ZERO,
            expires_at,
            created_at,
            expiring_notice_raised: false,
        }
    }

    /// The lot's id (the credit's `lot_id`).
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Why the funds arrived.
    pub fn source(&self) -> CreditSource {
        self.source
    }

    /// The amount credited.
    pub fn original(&self) -> Decimal {
        self.original
    }

    /// What is left, reserved included.
    pub fn remaining(&self) -> Decimal {
        self.remaining
    }

    /// The part of `remaining` reserved by active holds.
    pub fn reserved(&self) -> Decimal {
        self.reserved
    }

    /// `remaining − reserved`: what debits, new holds and expiry may take.
    pub fn unreserved(&self) -> Decimal {
        self.remaining - self.reserved
    }

    /// When the remainder expires, if ever.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.expires_at
    }

    /// When the lot was credited.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }

    /// Whether its expiring-soon notice has been raised.
    pub fn expiring_notice_raised(&self) -> bool {
        self.expiring_notice_raised
    }
}

/// Funds reserved from specific lots until captured, voided or expired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    pub(crate) id: Uuid,
    pub(crate) amount: Decimal,
    pub(crate) reservations: Vec<LotDraw>,
    pub(crate) expires_at: Timestamp,
    pub(crate) status: HoldStatus,
    // The transaction that placed it, whose commit or abort alone resolves it.
    pub(crate) transaction_id: Option<Uuid>,
}

impl Hold {
    /// The hold's id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// How much it reserves.
    pub fn amount(&self) -> Decimal {
        self.amount
    }

    /// The lots reserved and how much of each, in consumption order.
    pub fn reservations(&self) -> &[LotDraw] {
        &self.reservations
    }

    /// Its deadline.
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    /// The transaction that placed the hold, if a transaction did.
    pub fn transaction_id(&self) -> Option<Uuid> {
        self.transaction_id
    }

    /// Always `Active` for holds in state; resolved holds are kept only as
    /// [`Wallet::hold_status`].
    pub fn status(&self) -> HoldStatus {
        self.status
    }
}
