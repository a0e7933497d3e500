//! Given/when/then tests of the wallet rules, one module per area of DESIGN §3.
//!
//! `given(events)` folds facts with `evolve` (so every given history also exercises its
//! assertions), `when(action)` decides at [`NOW`] with fresh ids [`fresh`]`(0..)`, and
//! `then(kinds)` checks the events (all stamped with the decision time), applies them, and
//! returns the resulting state for further checks.

mod credit;
mod debit;
mod expiry;
mod holds;
mod lifecycle;
mod limits;
mod refund;
mod transaction;

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use uuid::Uuid;

use super::*;
use crate::decider::{Context, Decider, MAX_IDS_PER_COMMAND};
use crate::money::{Asset, parse_decimal};
use crate::time::{MILLIS_PER_DAY, Timestamp};

pub(super) const TENANT: &str = "acme";
pub(super) const HOUR_MS: i64 = 3_600_000;
/// Midnight UTC starting day 20 000 (2024-10-04), so daily limits have a known boundary.
pub(super) const DAY0: i64 = 20_000 * MILLIS_PER_DAY;
/// The default decision time: noon on DAY0.
pub(super) const NOW: Timestamp = Timestamp::from_millis(DAY0 + 12 * HOUR_MS);

pub(super) fn wallet_id() -> Uuid {
    Uuid::from_u128(0xA11E7)
}

/// A test id: lots, holds and debits in given histories.
pub(super) fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// The n-th fresh id the context supplies to the decision under test.
pub(super) fn fresh(n: u128) -> Uuid {
    Uuid::from_u128(0xF000 + n)
}

pub(super) fn d(text: &str) -> Decimal {
    parse_decimal(text).expect("test decimal")
}

/// `NOW` shifted by `ms`.
pub(super) fn now_plus(ms: i64) -> Timestamp {
    NOW.plus_millis(ms)
}

pub(super) fn usd() -> Asset {
    Asset::parse("USD", None).expect("USD")
}

pub(super) fn at(time: Timestamp, kind: WalletEventKind) -> WalletEvent {
    WalletEvent {
        occurred_at: time,
        kind,
    }
}

/// An event early on DAY0 (before `NOW`), for histories where the exact time does not matter.
pub(super) fn early(kind: WalletEventKind) -> WalletEvent {
    at(Timestamp::from_millis(DAY0 + HOUR_MS), kind)
}

pub(super) fn opened() -> WalletEventKind {
    opened_with(Limits::default())
}

pub(super) fn opened_with(limits: Limits) -> WalletEventKind {
    WalletEventKind::WalletOpened {
        wallet_id: wallet_id(),
        tenant: TENANT.into(),
        owner: "customer-1".into(),
        kind: WalletKind::Customer,
        asset: usd(),
        limits,
        metadata: BTreeMap::new(),
    }
}

pub(super) fn credited(
    lot: Uuid,
    amount: &str,
    source: CreditSource,
    expires_at: Option<Timestamp>,
    balance_after: &str,
) -> WalletEventKind {
    credited_held(lot, amount, source, expires_at, balance_after, "0")
}

/// As [`credited`], while active holds keep `held_after` reserved.
pub(super) fn credited_held(
    lot: Uuid,
    amount: &str,
    source: CreditSource,
    expires_at: Option<Timestamp>,
    balance_after: &str,
    held_after: &str,
) -> WalletEventKind {
    WalletEventKind::FundsCredited {
        lot_id: lot,
        source,
        amount: d(amount),
        expires_at,
        reference: String::new(),
        description: String::new(),
        refund_of: None,
        balance_after: d(balance_after),
        held_after: d(held_after),
    }
}

pub(super) fn paid(lot: Uuid, amount: &str, balance_after: &str) -> WalletEventKind {
    credited(lot, amount, CreditSource::Paid, None, balance_after)
}

/// As [`paid`], while active holds keep `held_after` reserved.
pub(super) fn paid_held(
    lot: Uuid,
    amount: &str,
    balance_after: &str,
    held_after: &str,
) -> WalletEventKind {
    credited_held(
        lot,
        amount,
        CreditSource::Paid,
        None,
        balance_after,
        held_after,
    )
}

pub(super) fn draw(lot: Uuid, amount: &str, remaining_after: &str) -> LotDraw {
    LotDraw {
        lot_id: lot,
        amount: d(amount),
        remaining_after: d(remaining_after),
    }
}

pub(super) fn debited(
    debit: Uuid,
    amount: &str,
    draws: Vec<LotDraw>,
    balance_after: &str,
    held_after: &str,
) -> WalletEventKind {
    WalletEventKind::FundsDebited {
        debit_id: debit,
        kind: DebitKind::Purchase,
        amount: d(amount),
        draws,
        reference: String::new(),
        description: String::new(),
        balance_after: d(balance_after),
        held_after: d(held_after),
    }
}

pub(super) fn placed(
    hold: Uuid,
    amount: &str,
    reservations: Vec<LotDraw>,
    expires_at: Timestamp,
    balance_after: &str,
    held_after: &str,
) -> WalletEventKind {
    WalletEventKind::HoldPlaced {
        hold_id: hold,
        amount: d(amount),
        reservations,
        expires_at,
        reference: String::new(),
        description: String::new(),
        balance_after: d(balance_after),
        held_after: d(held_after),
    }
}

pub(super) fn released(
    hold: Uuid,
    amount: &str,
    reason: HoldReleaseReason,
    balance_after: &str,
    held_after: &str,
) -> WalletEventKind {
    WalletEventKind::HoldReleased {
        hold_id: hold,
        amount: d(amount),
        reason,
        balance_after: d(balance_after),
        held_after: d(held_after),
    }
}

pub(super) fn lot_expired(
    lot: Uuid,
    amount: &str,
    remaining_after: &str,
    balance_after: &str,
    held_after: &str,
) -> WalletEventKind {
    WalletEventKind::LotExpired {
        lot_id: lot,
        amount: d(amount),
        remaining_after: d(remaining_after),
        balance_after: d(balance_after),
        held_after: d(held_after),
    }
}

pub(super) fn credit(amount: &str) -> WalletAction {
    credit_from(amount, CreditSource::Paid, None)
}

pub(super) fn credit_from(
    amount: &str,
    source: CreditSource,
    expires_at: Option<Timestamp>,
) -> WalletAction {
    WalletAction::Credit {
        amount: d(amount),
        source,
        expires_at,
        reference: String::new(),
        description: String::new(),
    }
}

pub(super) fn debit(amount: &str) -> WalletAction {
    WalletAction::Debit {
        amount: d(amount),
        kind: DebitKind::Purchase,
        reference: String::new(),
        description: String::new(),
    }
}

pub(super) fn refund(debit_id: Uuid, amount: &str) -> WalletAction {
    WalletAction::Refund {
        debit_id,
        amount: d(amount),
        reference: String::new(),
        description: String::new(),
    }
}

pub(super) fn place_hold(amount: &str, expires_at: Timestamp) -> WalletAction {
    WalletAction::PlaceHold {
        amount: d(amount),
        expires_at,
        reference: String::new(),
        description: String::new(),
    }
}

pub(super) fn capture(hold_id: Uuid, amount: &str) -> WalletAction {
    WalletAction::CaptureHold {
        hold_id,
        amount: d(amount),
    }
}

pub(super) fn tick() -> WalletAction {
    WalletAction::Tick {
        notice_lead_ms: DEFAULT_EXPIRING_NOTICE_LEAD_MS,
    }
}

pub(super) fn given(events: impl IntoIterator<Item = WalletEvent>) -> Given {
    let state = events
        .into_iter()
        .fold(WalletState::default(), |state, event| {
            WalletDecider::evolve(state, &event)
        });
    Given { state }
}

/// A wallet opened early on DAY0 holding `history` after it.
pub(super) fn given_open(history: impl IntoIterator<Item = WalletEvent>) -> Given {
    given(std::iter::once(early(opened())).chain(history))
}

pub(super) struct Given {
    pub(super) state: WalletState,
}

impl Given {
    pub(super) fn when(self, action: WalletAction) -> When {
        self.when_command(WalletCommand {
            tenant: TENANT.into(),
            wallet_id: wallet_id(),
            action,
        })
    }

    pub(super) fn when_command(self, command: WalletCommand) -> When {
        When {
            state: self.state,
            command,
            now: NOW,
            first_fresh: 0,
        }
    }
}

pub(super) struct When {
    state: WalletState,
    command: WalletCommand,
    now: Timestamp,
    first_fresh: u128,
}

impl When {
    pub(super) fn at(mut self, now: Timestamp) -> Self {
        self.now = now;
        self
    }

    /// Supplies `fresh(first..)` instead of `fresh(0..)`, for a second decision in one history.
    pub(super) fn fresh_from(mut self, first: u128) -> Self {
        self.first_fresh = first;
        self
    }

    fn decide(&self) -> Result<Vec<WalletEvent>, WalletError> {
        let first = self.first_fresh;
        let ids = (first..first + MAX_IDS_PER_COMMAND as u128)
            .map(fresh)
            .collect();
        let ctx = Context::new(self.now, ids);
        WalletDecider::decide(&self.state, &self.command, &ctx)
    }

    /// Asserts the decision's events and returns the state after applying them.
    #[track_caller]
    pub(super) fn then(self, expected: Vec<WalletEventKind>) -> WalletState {
        let (_, state) = self.then_outcome(expected);
        state
    }

    /// As [`When::then`], also returning the command's outcome.
    #[track_caller]
    pub(super) fn then_outcome(
        self,
        expected: Vec<WalletEventKind>,
    ) -> (WalletOutcome, WalletState) {
        let events = match self.decide() {
            Ok(events) => events,
            Err(error) => panic!("expected events, got error {error:?}"),
        };
        let kinds: Vec<_> = events.iter().map(|event| event.kind.clone()).collect();
        assert_eq!(kinds, expected);
        assert!(
            events.iter().all(|event| event.occurred_at == self.now),
            "every event occurs at the decision time"
        );
        let state = events.iter().fold(self.state, |state, event| {
            WalletDecider::evolve(state, event)
        });
        (WalletDecider::outcome(&state, &events), state)
    }

    /// Asserts only that the command is accepted; returns the state after its events.
    #[track_caller]
    pub(super) fn then_outcome_any_state(self) -> WalletState {
        let events = match self.decide() {
            Ok(events) => events,
            Err(error) => panic!("expected events, got error {error:?}"),
        };
        events.iter().fold(self.state, |state, event| {
            WalletDecider::evolve(state, event)
        })
    }

    #[track_caller]
    pub(super) fn then_error(self, expected: WalletError) {
        match self.decide() {
            Ok(events) => panic!("expected {expected:?}, got events {events:?}"),
            Err(error) => assert_eq!(error, expected),
        }
    }
}

mod harness {
    use super::*;

    #[test]
    fn outcome_names_the_entry_of_each_money_command() {
        let (outcome, state) =
            given_open([])
                .when(credit("10"))
                .then_outcome(vec![paid(fresh(0), "10.00", "10.00")]);
        assert_eq!(
            outcome,
            WalletOutcome {
                balance: d("10"),
                held: d("0"),
                entry_id: Some(fresh(0)),
            }
        );
        let outcome = WalletDecider::outcome(&state, &[]);
        assert_eq!(outcome.entry_id, None);
    }

    #[test]
    #[should_panic(expected = "FundsCredited balance_after")]
    fn evolve_asserts_balance_after() {
        given_open([early(paid(id(1), "10", "11"))]);
    }

    #[test]
    #[should_panic(expected = "debit drew reserved funds")]
    fn evolve_refuses_a_debit_of_reserved_funds() {
        given_open([
            early(paid(id(1), "10", "10")),
            early(placed(
                id(2),
                "8",
                vec![draw(id(1), "8", "2")],
                now_plus(HOUR_MS),
                "10",
                "8",
            )),
            early(debited(id(3), "5", vec![draw(id(1), "5", "5")], "5", "8")),
        ]);
    }

    #[test]
    #[should_panic(expected = "applied before WalletOpened")]
    fn evolve_refuses_events_before_open() {
        given([early(paid(id(1), "10", "10"))]);
    }

    #[test]
    fn fingerprint_is_stable_and_sensitive_to_every_field() {
        let command = |tenant: &str, amount: &str, reference: &str| WalletCommand {
            tenant: tenant.into(),
            wallet_id: wallet_id(),
            action: WalletAction::Debit {
                amount: d(amount),
                kind: DebitKind::Purchase,
                reference: reference.into(),
                description: String::new(),
            },
        };
        let base = command(TENANT, "20", "order-1").fingerprint();
        assert_eq!(base, command(TENANT, "20.00", "order-1").fingerprint());
        assert_ne!(base, command("other", "20", "order-1").fingerprint());
        assert_ne!(base, command(TENANT, "20.01", "order-1").fingerprint());
        assert_ne!(base, command(TENANT, "20", "order-2").fingerprint());
        // Length prefixes keep adjacent fields from blending into the same bytes.
        let split = |reference: &str, description: &str| WalletCommand {
            tenant: TENANT.into(),
            wallet_id: wallet_id(),
            action: WalletAction::Debit {
                amount: d("1"),
                kind: DebitKind::Purchase,
                reference: reference.into(),
                description: description.into(),
            },
        };
        assert_ne!(
            split("ab", "c").fingerprint(),
            split("a", "bc").fingerprint()
        );
        let tick = |lead| WalletCommand {
            tenant: TENANT.into(),
            wallet_id: wallet_id(),
            action: WalletAction::Tick {
                notice_lead_ms: lead,
            },
        };
        assert_ne!(tick(1).fingerprint(), tick(2).fingerprint());
    }

    #[test]
    fn event_types_are_the_stable_names() {
        assert_eq!(early(opened()).event_type(), "WalletOpened");
        assert_eq!(
            early(debited(id(1), "1", vec![], "0", "0")).event_type(),
            "FundsDebited"
        );
        assert_eq!(
            early(lot_expired(id(1), "1", "0", "0", "0")).event_type(),
            "LotExpired"
        );
    }
}
