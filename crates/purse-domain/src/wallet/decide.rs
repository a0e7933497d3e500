//! Every wallet rule. `decide` reads the state and the command and returns events or the first
//! rule broken; it never changes anything, so a rejection leaves no trace.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use uuid::Uuid;

use super::command::{WalletAction, WalletCommand};
use super::error::{LimitKind, MetadataError, WalletError};
use super::event::{LotDraw, WalletEvent, WalletEventKind};
use super::state::{Hold, Lot, Wallet, WalletState};
use super::types::{
    CreditSource, DebitKind, HoldReleaseReason, HoldStatus, Limits, MAX_VELOCITY_OPERATIONS,
    MAX_VELOCITY_WINDOW_MS, WalletStatus,
};
use super::{
    MAX_HOLD_DURATION_MS, MAX_METADATA_ENTRIES, MAX_METADATA_KEY_BYTES, MAX_METADATA_VALUE_BYTES,
    MAX_OWNER_BYTES, MAX_TENANT_BYTES, MAX_TEXT_BYTES,
};
use crate::decider::Context;
use crate::money::{Asset, validate_amount};
use crate::time::Timestamp;

pub(crate) fn decide(
    state: &WalletState,
    command: &WalletCommand,
    ctx: &Context,
) -> Result<Vec<WalletEvent>, WalletError> {
    let Some(wallet) = state.wallet() else {
        return match &command.action {
            WalletAction::Open {
                owner,
                kind,
                asset,
                limits,
                metadata,
            } => {
                check_text("tenant", &command.tenant, MAX_TENANT_BYTES, true)?;
                check_text("owner", owner, MAX_OWNER_BYTES, true)?;
                check_metadata(metadata)?;
                let limits = check_limits(asset, limits)?;
                Ok(vec![event(
                    ctx.now,
                    WalletEventKind::WalletOpened {
                        wallet_id: command.wallet_id,
                        tenant: command.tenant.clone(),
                        owner: owner.clone(),
                        kind: *kind,
                        asset: asset.clone(),
                        limits,
                        metadata: metadata.clone(),
                    },
                )])
            }
            _ => Err(WalletError::NotFound),
        };
    };
    // Tenancy first, so another tenant learns nothing about this wallet, not even that it exists.
    if wallet.tenant != command.tenant || wallet.id != command.wallet_id {
        return Err(WalletError::NotFound);
    }
    let rules = Rules { wallet, ctx };
    match &command.action {
        WalletAction::Open { .. } => Err(WalletError::AlreadyExists),
        // Timers run in every status: a suspended wallet's lots and holds still expire.
        WalletAction::Tick { notice_lead_ms } => Ok(rules.tick(*notice_lead_ms)),
        _ if wallet.status == WalletStatus::Closed => Err(WalletError::Closed),
        WalletAction::Credit {
            amount,
            source,
            expires_at,
            reference,
            description,
        } => rules.credit(*amount, *source, *expires_at, reference, description),
        WalletAction::Debit {
            amount,
            kind,
            reference,
            description,
        } => rules.debit(*amount, *kind, reference, description),
        WalletAction::Refund {
            debit_id,
            amount,
            reference,
            description,
        } => rules.refund(*debit_id, *amount, reference, description),
        WalletAction::PlaceHold {
            amount,
            expires_at,
            reference,
            description,
        } => rules.place_hold(*amount, *expires_at, reference, description),
        WalletAction::CaptureHold { hold_id, amount } => rules.capture_hold(*hold_id, *amount),
        WalletAction::VoidHold { hold_id } => rules.void_hold(*hold_id),
        WalletAction::PrepareTransaction {
            transaction_id,
            asset,
            legs,
            expires_at,
        } => rules.prepare_transaction(*transaction_id, asset, legs, *expires_at),
        WalletAction::CommitTransaction { transaction_id } => {
            rules.commit_transaction(*transaction_id)
        }
        WalletAction::AbortTransaction { transaction_id } => {
            rules.abort_transaction(*transaction_id)
        }
        WalletAction::UpdateLimits { limits } => {
            let limits = check_limits(&wallet.asset, limits)?;
            Ok(vec![event(
                ctx.now,
                WalletEventKind::LimitsChanged { limits },
            )])
        }
        WalletAction::Suspend { reason } => {
            check_text("reason", reason, MAX_TEXT_BYTES, false)?;
            if wallet.status != WalletStatus::Open {
                return Err(WalletError::InvalidTransition {
                    from: wallet.status,
                });
            }
            Ok(vec![event(
                ctx.now,
                WalletEventKind::WalletSuspended {
                    reason: reason.clone(),
                },
            )])
        }
        WalletAction::Reactivate => {
            if wallet.status != WalletStatus::Suspended {
                return Err(WalletError::InvalidTransition {
                    from: wallet.status,
                });
            }
            Ok(vec![event(ctx.now, WalletEventKind::WalletReactivated)])
        }
        WalletAction::Close => {
            // Holds first: an active hold always keeps the balance above zero, so checking the
            // balance first would hide the more useful reason.
            if !wallet.holds.is_empty() {
                return Err(WalletError::OpenHolds {
                    count: wallet.holds.len(),
                });
            }
            if !wallet.balance.is_zero() {
                return Err(WalletError::BalanceNotZero {
                    balance: wallet.balance,
                });
            }
            Ok(vec![event(ctx.now, WalletEventKind::WalletClosed)])
        }
    }
}

fn event(occurred_at: Timestamp, kind: WalletEventKind) -> WalletEvent {
    WalletEvent { occurred_at, kind }
}

/// The rules of an existing wallet of the caller's tenant, not closed (except for `tick`).
pub(super) struct Rules<'a> {
    pub(super) wallet: &'a Wallet,
    pub(super) ctx: &'a Context,
}

impl Rules<'_> {
    fn credit(
        &self,
        amount: Decimal,
        source: CreditSource,
        expires_at: Option<Timestamp>,
        reference: &str,
        description: &str,
    ) -> Result<Vec<WalletEvent>, WalletError> {
        self.require_open()?;
        if source == CreditSource::Refund {
            // A refund must name its debit so it can be bounded by it; see `refund`.
            return Err(WalletError::SourceNotAllowed { source });
        }
        check_reference_and_description(reference, description)?;
        let amount = self.amount("amount", amount)?;
        if let Some(expires_at) = expires_at {
            self.require_future("expires_at", expires_at)?;
        }
        self.check_velocity()?;
        let mut plan = Plan::new(self.wallet, self.ctx.now);
        plan.expire_due();
        let balance_after = plan.balance + amount;
        self.check_balance_after(balance_after)?;
        plan.credit(WalletEventKind::FundsCredited {
            lot_id: self.ctx.id(0),
            source,
            amount,
            expires_at,
            reference: reference.to_owned(),
            description: description.to_owned(),
            refund_of: None,
            balance_after,
            held_after: plan.held,
        });
        Ok(plan.events)
    }

    fn debit(
        &self,
        amount: Decimal,
        kind: DebitKind,
        reference: &str,
        description: &str,
    ) -> Result<Vec<WalletEvent>, WalletError> {
        self.require_open()?;
        check_reference_and_description(reference, description)?;
        let amount = self.amount("amount", amount)?;
        self.check_velocity()?;
        self.check_spending_limits(amount, Decimal::ZERO)?;
        let mut plan = Plan::new(self.wallet, self.ctx.now);
        plan.expire_due();
        plan.require_available(amount)?;
        let draws = plan.draw_unreserved(amount);
        plan.balance -= amount;
        let kind = WalletEventKind::FundsDebited {
            debit_id: self.ctx.id(0),
            kind,
            amount,
            draws,
            reference: reference.to_owned(),
            description: description.to_owned(),
            balance_after: plan.balance,
            held_after: plan.held,
        };
        plan.emit(kind);
        Ok(plan.events)
    }

    fn refund(
        &self,
        debit_id: Uuid,
        amount: Decimal,
        reference: &str,
        description: &str,
    ) -> Result<Vec<WalletEvent>, WalletError> {
        self.require_open()?;
        check_reference_and_description(reference, description)?;
        let amount = self.amount("amount", amount)?;
        self.check_velocity()?;
        let refundable = self
            .wallet
            .refundable(debit_id)
            .ok_or(WalletError::DebitNotFound)?;
        if amount > refundable {
            return Err(WalletError::RefundExceedsDebit { refundable });
        }
        let mut plan = Plan::new(self.wallet, self.ctx.now);
        plan.expire_due();
        // No max_balance check: returning the customer's own money is never refused by a limit.
        let balance_after = plan.balance + amount;
        self.check_ceiling(balance_after)?;
        plan.credit(WalletEventKind::FundsCredited {
            lot_id: self.ctx.id(0),
            source: CreditSource::Refund,
            amount,
            expires_at: None,
            reference: reference.to_owned(),
            description: description.to_owned(),
            refund_of: Some(debit_id),
            balance_after,
            held_after: plan.held,
        });
        Ok(plan.events)
    }

    fn place_hold(
        &self,
        amount: Decimal,
        expires_at: Timestamp,
        reference: &str,
        description: &str,
    ) -> Result<Vec<WalletEvent>, WalletError> {
        self.require_open()?;
        check_reference_and_description(reference, description)?;
        let amount = self.amount("amount", amount)?;
        self.check_hold_deadline(expires_at)?;
        self.check_velocity()?;
        self.check_spending_limits(amount, Decimal::ZERO)?;
        let mut plan = Plan::new(self.wallet, self.ctx.now);
        plan.expire_due();
        plan.require_available(amount)?;
        let reservations = plan.reserve(amount);
        plan.held += amount;
        let kind = WalletEventKind::HoldPlaced {
            hold_id: self.ctx.id(0),
            amount,
            reservations,
            expires_at,
            reference: reference.to_owned(),
            description: description.to_owned(),
            balance_after: plan.balance,
            held_after: plan.held,
        };
        plan.emit(kind);
        Ok(plan.events)
    }

    fn capture_hold(
        &self,
        hold_id: Uuid,
        amount: Decimal,
    ) -> Result<Vec<WalletEvent>, WalletError> {
        self.require_open()?;
        let amount = self.amount("amount", amount)?;
        let hold = self.active_hold(hold_id)?;
        if amount > hold.amount {
            return Err(WalletError::CaptureExceedsHold { held: hold.amount });
        }
        self.check_velocity()?;
        // Limits were checked when the hold was placed: a capture spends funds already counted.
        let mut plan = Plan::new(self.wallet, self.ctx.now);
        plan.expire_due();
        let draws = plan.capture(hold, amount);
        plan.balance -= amount;
        plan.held -= hold.amount;
        let kind = WalletEventKind::HoldCaptured {
            hold_id,
            debit_id: self.ctx.id(0),
            amount,
            draws,
            released: hold.amount - amount,
            balance_after: plan.balance,
            held_after: plan.held,
        };
        plan.emit(kind);
        // What the capture released from lots already past expiry expires now.
        plan.expire_due();
        Ok(plan.events)
    }

    fn void_hold(&self, hold_id: Uuid) -> Result<Vec<WalletEvent>, WalletError> {
        // Allowed while suspended: releasing a reservation moves no money.
        let hold = self.active_hold(hold_id)?;
        self.check_velocity()?;
        let mut plan = Plan::new(self.wallet, self.ctx.now);
        plan.expire_due();
        plan.release(hold, HoldReleaseReason::Void);
        plan.expire_due();
        Ok(plan.events)
    }

    fn tick(&self, notice_lead_ms: i64) -> Vec<WalletEvent> {
        let now = self.ctx.now;
        let mut plan = Plan::new(self.wallet, now);
        plan.expire_due();
        for hold in self
            .wallet
            .holds
            .iter()
            .filter(|hold| hold.expires_at <= now)
        {
            plan.release(hold, HoldReleaseReason::Expired);
        }
        plan.expire_due();
        let notices: Vec<_> = plan
            .lots
            .iter()
            .filter(|lot| !lot.expiring_notice_raised && lot.remaining > Decimal::ZERO)
            .filter_map(|lot| {
                let expires_at = lot.expires_at?;
                let due = expires_at.plus_millis(notice_lead_ms.saturating_neg()) <= now;
                due.then_some(WalletEventKind::LotExpiringSoon {
                    lot_id: lot.id,
                    amount: lot.remaining,
                    expires_at,
                })
            })
            .collect();
        for notice in notices {
            plan.emit(notice);
        }
        plan.events
    }

    pub(super) fn require_open(&self) -> Result<(), WalletError> {
        match self.wallet.status {
            WalletStatus::Open => Ok(()),
            WalletStatus::Suspended => Err(WalletError::Suspended),
            WalletStatus::Closed => Err(WalletError::Closed),
        }
    }

    pub(super) fn require_future(
        &self,
        field: &'static str,
        at: Timestamp,
    ) -> Result<(), WalletError> {
        if at <= self.ctx.now {
            return Err(WalletError::ExpiryNotInFuture {
                field: field.into(),
            });
        }
        Ok(())
    }

    /// A hold deadline: in the future and at most [`MAX_HOLD_DURATION_MS`] away.
    pub(super) fn check_hold_deadline(&self, expires_at: Timestamp) -> Result<(), WalletError> {
        self.require_future("expires_at", expires_at)?;
        if expires_at > self.ctx.now.plus_millis(MAX_HOLD_DURATION_MS) {
            return Err(WalletError::HoldTooLong {
                max_ms: MAX_HOLD_DURATION_MS,
            });
        }
        Ok(())
    }

    pub(super) fn amount(
        &self,
        field: &'static str,
        amount: Decimal,
    ) -> Result<Decimal, WalletError> {
        validate_amount(&self.wallet.asset, amount).map_err(|error| WalletError::InvalidAmount {
            field: field.into(),
            error,
        })
    }

    /// The hold `hold_id` if it can still be captured or voided. A hold past its deadline is
    /// expired even before the timer releases it: its funds were promised back at the deadline.
    fn active_hold(&self, hold_id: Uuid) -> Result<&Hold, WalletError> {
        match self.wallet.hold(hold_id) {
            // A transaction's hold resolves only through its transaction's commit or abort.
            Some(Hold {
                transaction_id: Some(transaction_id),
                ..
            }) => Err(WalletError::HoldOwnedByTransaction {
                transaction_id: *transaction_id,
            }),
            Some(hold) if hold.expires_at <= self.ctx.now => Err(WalletError::HoldNotActive {
                status: HoldStatus::Expired,
            }),
            Some(hold) => Ok(hold),
            None => match self.wallet.resolved_holds.get(&hold_id) {
                Some(status) => Err(WalletError::HoldNotActive { status: *status }),
                None => Err(WalletError::HoldNotFound),
            },
        }
    }

    fn limit_exceeded(&self, limit: LimitKind, value: Decimal) -> WalletError {
        WalletError::LimitExceeded {
            limit,
            limit_value: self.wallet.asset.format(value),
        }
    }

    /// Velocity counts client money operations (credit, debit, refund, hold place, capture and
    /// void) within the trailing window `(now − window_ms, now]`.
    pub(super) fn check_velocity(&self) -> Result<(), WalletError> {
        let Some(velocity) = self.wallet.limits.velocity else {
            return Ok(());
        };
        let window_start = self
            .ctx
            .now
            .plus_millis(velocity.window_ms.saturating_neg());
        let recent = self
            .wallet
            .recent_operations
            .iter()
            .filter(|at| **at > window_start)
            .count();
        if recent >= velocity.max_operations as usize {
            return Err(WalletError::LimitExceeded {
                limit: LimitKind::Velocity,
                limit_value: format!("{} per {} ms", velocity.max_operations, velocity.window_ms),
            });
        }
        Ok(())
    }

    /// Per-transaction and daily limits, shared by debits, hold placements and transaction
    /// debits; `earlier` is what earlier debits of the same decision already add to today's
    /// total.
    pub(super) fn check_spending_limits(
        &self,
        amount: Decimal,
        earlier: Decimal,
    ) -> Result<(), WalletError> {
        let limits = &self.wallet.limits;
        if let Some(max) = limits.per_transaction_max
            && amount > max
        {
            return Err(self.limit_exceeded(LimitKind::PerTransaction, max));
        }
        if let Some(daily) = limits.daily_debit_limit {
            let today = self.wallet.daily_debits.on(self.ctx.now.utc_day());
            let total = today
                .checked_add(earlier)
                .and_then(|total| total.checked_add(amount));
            if total.is_none_or(|total| total > daily) {
                return Err(self.limit_exceeded(LimitKind::DailyDebit, daily));
            }
        }
        Ok(())
    }

    /// A credit's checks on the balance it produces: the wallet's `max_balance` and the asset's
    /// ceiling.
    pub(super) fn check_balance_after(&self, balance_after: Decimal) -> Result<(), WalletError> {
        if let Some(max_balance) = self.wallet.limits.max_balance
            && balance_after > max_balance
        {
            return Err(self.limit_exceeded(LimitKind::MaxBalance, max_balance));
        }
        self.check_ceiling(balance_after)
    }

    /// The asset's ceiling, counting what prepared transactions will still credit: their
    /// commits cannot be refused, so a credit meanwhile must leave room for them.
    fn check_ceiling(&self, balance_after: Decimal) -> Result<(), WalletError> {
        let ceiling = self.wallet.asset.max_amount();
        if balance_after.saturating_add(self.wallet.pending_transaction_credits()) > ceiling {
            return Err(WalletError::BalanceCeilingExceeded { ceiling });
        }
        Ok(())
    }
}

/// A scratch copy of the lots and totals, advanced as events are planned so that later events
/// in the same decision see the effects of earlier ones, exactly as `evolve` will.
pub(super) struct Plan {
    now: Timestamp,
    lots: Vec<Lot>,
    pub(super) balance: Decimal,
    pub(super) held: Decimal,
    pub(super) events: Vec<WalletEvent>,
}

impl Plan {
    pub(super) fn new(wallet: &Wallet, now: Timestamp) -> Self {
        Self {
            now,
            lots: wallet.lots.clone(),
            balance: wallet.balance,
            held: wallet.held,
            events: Vec::new(),
        }
    }

    pub(super) fn emit(&mut self, kind: WalletEventKind) {
        self.events.push(event(self.now, kind));
    }

    pub(super) fn available(&self) -> Decimal {
        self.balance - self.held
    }

    fn require_available(&self, amount: Decimal) -> Result<(), WalletError> {
        if amount > self.available() {
            return Err(WalletError::InsufficientFunds {
                available: self.available(),
            });
        }
        Ok(())
    }

    /// Expires the unreserved remainder of every lot whose expiry has come. Reserved funds stay
    /// until their hold resolves; a later call in the same decision expires what it released.
    pub(super) fn expire_due(&mut self) {
        let now = self.now;
        let mut expired = Vec::new();
        for lot in &mut self.lots {
            let due = lot.expires_at.is_some_and(|expires_at| expires_at <= now);
            let amount = lot.remaining - lot.reserved;
            if due && amount > Decimal::ZERO {
                lot.remaining -= amount;
                expired.push((lot.id, amount, lot.remaining));
            }
        }
        for (lot_id, amount, remaining_after) in expired {
            self.balance -= amount;
            let balance_after = self.balance;
            let held_after = self.held;
            self.emit(WalletEventKind::LotExpired {
                lot_id,
                amount,
                remaining_after,
                balance_after,
                held_after,
            });
        }
    }

    fn credit(&mut self, kind: WalletEventKind) {
        if let WalletEventKind::FundsCredited {
            lot_id,
            source,
            amount,
            expires_at,
            ..
        } = &kind
        {
            self.add_lot(*lot_id, *source, *amount, *expires_at);
        }
        self.emit(kind);
    }

    /// A new lot of `amount`, as `evolve` will create it.
    pub(super) fn add_lot(
        &mut self,
        id: Uuid,
        source: CreditSource,
        amount: Decimal,
        expires_at: Option<Timestamp>,
    ) {
        self.lots
            .push(Lot::new(id, source, amount, expires_at, self.now));
        self.balance += amount;
    }

    /// Lot indices in consumption order: lots with an expiry first (soonest first), then granted
    /// before other sources, then oldest first. The stable sort keeps creation order on ties.
    fn consumption_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.lots.len()).collect();
        order.sort_by_key(|&index| {
            let lot = &self.lots[index];
            (
                lot.expires_at.is_none(),
                lot.expires_at,
                lot.source != CreditSource::Granted,
            )
        });
        order
    }

    /// Takes `amount` from unreserved funds in consumption order; the caller checked it is
    /// available.
    pub(super) fn draw_unreserved(&mut self, amount: Decimal) -> Vec<LotDraw> {
        let mut left = amount;
        let mut draws = Vec::new();
        for index in self.consumption_order() {
            if left.is_zero() {
                break;
            }
            let lot = &mut self.lots[index];
            let take = left.min(lot.remaining - lot.reserved);
            if take > Decimal::ZERO {
                lot.remaining -= take;
                left -= take;
                draws.push(LotDraw {
                    lot_id: lot.id,
                    amount: take,
                    remaining_after: lot.remaining,
                });
            }
        }
        debug_assert!(left.is_zero(), "draw beyond available funds");
        draws
    }

    /// Reserves `amount` from unreserved funds in consumption order.
    pub(super) fn reserve(&mut self, amount: Decimal) -> Vec<LotDraw> {
        let mut left = amount;
        let mut reservations = Vec::new();
        for index in self.consumption_order() {
            if left.is_zero() {
                break;
            }
            let lot = &mut self.lots[index];
            let take = left.min(lot.remaining - lot.reserved);
            if take > Decimal::ZERO {
                lot.reserved += take;
                left -= take;
                reservations.push(LotDraw {
                    lot_id: lot.id,
                    amount: take,
                    remaining_after: lot.remaining - lot.reserved,
                });
            }
        }
        debug_assert!(left.is_zero(), "reservation beyond available funds");
        reservations
    }

    /// Debits `amount` from the hold's reservations in the order they were made and unreserves
    /// the whole hold.
    fn capture(&mut self, hold: &Hold, amount: Decimal) -> Vec<LotDraw> {
        let mut left = amount;
        let mut draws = Vec::new();
        for reservation in &hold.reservations {
            let lot = self.lot_mut(reservation.lot_id);
            lot.reserved -= reservation.amount;
            let take = left.min(reservation.amount);
            if take > Decimal::ZERO {
                lot.remaining -= take;
                left -= take;
                draws.push(LotDraw {
                    lot_id: reservation.lot_id,
                    amount: take,
                    remaining_after: lot.remaining,
                });
            }
        }
        draws
    }

    fn release(&mut self, hold: &Hold, reason: HoldReleaseReason) {
        self.unreserve(hold);
        let held_after = self.held;
        self.emit(WalletEventKind::HoldReleased {
            hold_id: hold.id,
            amount: hold.amount,
            reason,
            balance_after: self.balance,
            held_after,
        });
    }

    /// Returns everything `hold` reserved to the unreserved funds.
    pub(super) fn unreserve(&mut self, hold: &Hold) {
        for reservation in &hold.reservations {
            self.lot_mut(reservation.lot_id).reserved -= reservation.amount;
        }
        self.held -= hold.amount;
    }

    fn lot_mut(&mut self, id: Uuid) -> &mut Lot {
        match self.lots.iter_mut().find(|lot| lot.id == id) {
            Some(lot) => lot,
            // State invariant: every reservation of an active hold names a live lot.
            None => panic!("active hold reserves lot {id}, which the wallet does not hold"),
        }
    }
}

fn check_text(
    field: &'static str,
    text: &str,
    max_bytes: usize,
    required: bool,
) -> Result<(), WalletError> {
    if text.len() > max_bytes || (required && text.is_empty()) {
        return Err(WalletError::InvalidText {
            field: field.into(),
            max_bytes,
        });
    }
    Ok(())
}

fn check_reference_and_description(reference: &str, description: &str) -> Result<(), WalletError> {
    check_text("reference", reference, MAX_TEXT_BYTES, false)?;
    check_text("description", description, MAX_TEXT_BYTES, false)
}

fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<(), WalletError> {
    let error = if metadata.len() > MAX_METADATA_ENTRIES {
        Some(MetadataError::TooManyEntries {
            max: MAX_METADATA_ENTRIES,
        })
    } else {
        metadata.iter().find_map(|(key, value)| {
            if key.is_empty() {
                Some(MetadataError::EmptyKey)
            } else if key.len() > MAX_METADATA_KEY_BYTES {
                Some(MetadataError::KeyTooLong {
                    max: MAX_METADATA_KEY_BYTES,
                })
            } else if value.len() > MAX_METADATA_VALUE_BYTES {
                Some(MetadataError::ValueTooLong {
                    max: MAX_METADATA_VALUE_BYTES,
                })
            } else {
                None
            }
        })
    };
    match error {
        Some(error) => Err(WalletError::InvalidMetadata { error }),
        None => Ok(()),
    }
}

/// Validates every limit against the asset and returns them at the asset's scale.
fn check_limits(asset: &Asset, limits: &Limits) -> Result<Limits, WalletError> {
    let amount = |field: &'static str, value: Option<Decimal>| {
        value
            .map(|value| validate_amount(asset, value))
            .transpose()
            .map_err(|error| WalletError::InvalidAmount {
                field: field.into(),
                error,
            })
    };
    if let Some(velocity) = limits.velocity {
        let operations_ok = (1..=MAX_VELOCITY_OPERATIONS).contains(&velocity.max_operations);
        let window_ok = (1..=MAX_VELOCITY_WINDOW_MS).contains(&velocity.window_ms);
        if !operations_ok || !window_ok {
            return Err(WalletError::InvalidVelocity);
        }
    }
    Ok(Limits {
        max_balance: amount("limits.max_balance", limits.max_balance)?,
        daily_debit_limit: amount("limits.daily_debit_limit", limits.daily_debit_limit)?,
        per_transaction_max: amount("limits.per_transaction_max", limits.per_transaction_max)?,
        velocity: limits.velocity,
        low_balance_threshold: amount(
            "limits.low_balance_threshold",
            limits.low_balance_threshold,
        )?,
    })
}
