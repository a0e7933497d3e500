//! Property test: random command sequences against a small reference model of the wallet.
//!
//! The model keeps only sums and the set of active holds and refundable debits; it predicts
//! which commands are accepted and what the totals must be, and the wallet's own state is
//! checked after every step: balance = Σ credits − Σ debits − Σ expired, available ≥ 0, lots
//! never negative nor over-reserved, nothing spendable past its expiry, debits in consumption
//! order, rejected commands change nothing, and replaying every event rebuilds the same state.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use purse_domain::money::Asset;
use purse_domain::time::MILLIS_PER_DAY;
use purse_domain::wallet::{
    CreditSource, DebitKind, HoldReleaseReason, Limits, WalletAction, WalletCommand, WalletDecider,
    WalletError, WalletEvent, WalletEventKind, WalletKind, WalletState,
};
use purse_domain::{Context, Decider, MAX_IDS_PER_COMMAND, Timestamp};
use rust_decimal::Decimal;
use uuid::Uuid;

const TENANT: &str = "acme";
const HOUR_MS: i64 = 3_600_000;
const LEAD_MS: i64 = MILLIS_PER_DAY;

#[derive(Clone, Debug)]
enum Op {
    Credit {
        cents: i64,
        granted: bool,
        expires_in_ms: Option<i64>,
    },
    Debit {
        cents: i64,
    },
    PlaceHold {
        cents: i64,
        lasts_ms: i64,
    },
    Capture {
        pick: usize,
        percent: i64,
    },
    Void {
        pick: usize,
    },
    Refund {
        pick: usize,
        cents: i64,
    },
    Tick,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1i64..5_000, any::<bool>(), prop::option::of(1i64..3 * MILLIS_PER_DAY)).prop_map(
            |(cents, granted, expires_in_ms)| Op::Credit { cents, granted, expires_in_ms }
        ),
        3 => (1i64..4_000).prop_map(|cents| Op::Debit { cents }),
        2 => (1i64..3_000, 1i64..2 * MILLIS_PER_DAY)
            .prop_map(|(cents, lasts_ms)| Op::PlaceHold { cents, lasts_ms }),
        2 => (any::<usize>(), 1i64..=110).prop_map(|(pick, percent)| Op::Capture { pick, percent }),
        1 => any::<usize>().prop_map(|pick| Op::Void { pick }),
        1 => (any::<usize>(), 1i64..3_000).prop_map(|(pick, cents)| Op::Refund { pick, cents }),
        2 => Just(Op::Tick),
    ]
}

fn steps() -> impl Strategy<Value = Vec<(i64, Op)>> {
    prop::collection::vec((0i64..12 * HOUR_MS, op()), 1..40)
}

fn cents(n: i64) -> Decimal {
    Decimal::new(n, 2)
}

/// What the wallet must add up to, kept from the commands accepted (not from the wallet).
#[derive(Default)]
struct Model {
    credited: Decimal,
    debited: Decimal,
    expired: Decimal,
    /// Active holds: amount and deadline.
    holds: BTreeMap<Uuid, (Decimal, Timestamp)>,
    /// Every hold ever placed, so picks also hit resolved ones.
    all_holds: Vec<Uuid>,
    refundable: BTreeMap<Uuid, Decimal>,
    all_debits: Vec<Uuid>,
}

impl Model {
    fn balance(&self) -> Decimal {
        self.credited - self.debited - self.expired
    }

    fn held(&self) -> Decimal {
        self.holds.values().map(|(amount, _)| *amount).sum()
    }
}

struct Run {
    state: WalletState,
    events: Vec<WalletEvent>,
    model: Model,
    now: Timestamp,
    next_id: u128,
}

fn wallet_id() -> Uuid {
    Uuid::from_u128(0xA11E7)
}

impl Run {
    fn new() -> Self {
        let mut run = Run {
            state: WalletState::default(),
            events: Vec::new(),
            model: Model::default(),
            now: Timestamp::from_millis(20_000 * MILLIS_PER_DAY),
            next_id: 1,
        };
        let open = WalletAction::Open {
            owner: "customer-1".into(),
            kind: WalletKind::Customer,
            asset: Asset::parse("USD", None).expect("USD"),
            limits: Limits::default(),
            metadata: BTreeMap::new(),
        };
        run.decide(open).expect("open");
        run
    }

    fn decide(&mut self, action: WalletAction) -> Result<Vec<WalletEvent>, WalletError> {
        let ids: Vec<Uuid> = (0..MAX_IDS_PER_COMMAND as u128)
            .map(|n| Uuid::from_u128(self.next_id + n))
            .collect();
        self.next_id += MAX_IDS_PER_COMMAND as u128;
        let ctx = Context::new(self.now, ids);
        let command = WalletCommand {
            tenant: TENANT.into(),
            wallet_id: wallet_id(),
            action,
        };
        let before = self.state.clone();
        let result = WalletDecider::decide(&self.state, &command, &ctx);
        assert_eq!(self.state, before, "deciding never changes the state");
        if let Ok(events) = &result {
            for event in events {
                assert_eq!(event.occurred_at, self.now);
                self.state = WalletDecider::evolve(self.state.clone(), event);
                self.events.push(event.clone());
            }
            // Every accepted command (open aside) first expires what is due.
            assert!(
                self.due_unreserved().is_zero(),
                "nothing past its expiry stays spendable"
            );
        }
        result
    }

    fn fresh_id(&self) -> Uuid {
        // The id the next decision receives first.
        Uuid::from_u128(self.next_id)
    }

    /// Unreserved funds in lots whose expiry has come: what a money command expires first.
    fn due_unreserved(&self) -> Decimal {
        let wallet = self.state.wallet().expect("wallet");
        wallet
            .lots()
            .filter(|lot| lot.expires_at().is_some_and(|at| at <= self.now))
            .map(|lot| lot.unreserved())
            .sum()
    }

    fn available_after_expiry(&self) -> Decimal {
        self.state.wallet().expect("wallet").available() - self.due_unreserved()
    }

    fn step(&mut self, op: &Op) {
        let expected_available = self.available_after_expiry();
        match op {
            Op::Credit {
                cents: amount,
                granted,
                expires_in_ms,
            } => {
                let amount = cents(*amount);
                let source = if *granted {
                    CreditSource::Granted
                } else {
                    CreditSource::Paid
                };
                let expires_at = expires_in_ms.map(|ms| self.now.plus_millis(ms));
                let events = self
                    .decide(WalletAction::Credit {
                        amount,
                        source,
                        expires_at,
                        reference: String::new(),
                        description: String::new(),
                    })
                    .expect("credits within bounds are accepted");
                self.model.credited += amount;
                self.account_expiry(&events);
            }
            Op::Debit { cents: amount } => {
                let amount = cents(*amount);
                let debit_id = self.fresh_id();
                let result = self.decide(WalletAction::Debit {
                    amount,
                    kind: DebitKind::Purchase,
                    reference: String::new(),
                    description: String::new(),
                });
                if amount > expected_available {
                    assert_eq!(
                        result.expect_err("debit above available"),
                        WalletError::InsufficientFunds {
                            available: expected_available
                        }
                    );
                    return;
                }
                let events = result.expect("debit within available");
                self.check_consumption_order(&events);
                self.model.debited += amount;
                self.model.refundable.insert(debit_id, amount);
                self.model.all_debits.push(debit_id);
                self.account_expiry(&events);
            }
            Op::PlaceHold {
                cents: amount,
                lasts_ms,
            } => {
                let amount = cents(*amount);
                let hold_id = self.fresh_id();
                let expires_at = self.now.plus_millis(*lasts_ms);
                let result = self.decide(WalletAction::PlaceHold {
                    amount,
                    expires_at,
                    reference: String::new(),
                    description: String::new(),
                });
                if amount > expected_available {
                    assert_eq!(
                        result.expect_err("hold above available"),
                        WalletError::InsufficientFunds {
                            available: expected_available
                        }
                    );
                    return;
                }
                let events = result.expect("hold within available");
                self.model.holds.insert(hold_id, (amount, expires_at));
                self.model.all_holds.push(hold_id);
                self.account_expiry(&events);
            }
            Op::Capture { pick, percent } => {
                let hold_id = self.pick_hold(*pick);
                let debit_id = self.fresh_id();
                let active = self.active_hold(hold_id);
                let held = active.unwrap_or_default();
                // Round down to cents; at least one cent so the amount stays valid.
                let amount = (held * Decimal::new(*percent, 2)).round_dp(2).max(cents(1));
                let result = self.decide(WalletAction::CaptureHold { hold_id, amount });
                match active {
                    None => {
                        let error = result.expect_err("capture of an inactive hold");
                        assert!(
                            matches!(
                                error,
                                WalletError::HoldNotFound | WalletError::HoldNotActive { .. }
                            ),
                            "{error:?}"
                        );
                    }
                    Some(held) if amount > held => {
                        assert_eq!(
                            result.expect_err("capture above the hold"),
                            WalletError::CaptureExceedsHold { held }
                        );
                    }
                    Some(held) => {
                        let events = result.expect("capture within the hold");
                        self.model.holds.remove(&hold_id);
                        self.model.debited += amount;
                        self.model.refundable.insert(debit_id, amount);
                        self.model.all_debits.push(debit_id);
                        let captured = events.iter().any(|event| {
                            matches!(&event.kind, WalletEventKind::HoldCaptured { released, .. }
                                if *released == held - amount)
                        });
                        assert!(captured, "HoldCaptured releases the rest");
                        self.account_expiry(&events);
                    }
                }
            }
            Op::Void { pick } => {
                let hold_id = self.pick_hold(*pick);
                let active = self.active_hold(hold_id);
                let result = self.decide(WalletAction::VoidHold { hold_id });
                if active.is_none() {
                    assert!(result.is_err(), "void of an inactive hold is rejected");
                    return;
                }
                let events = result.expect("void of an active hold");
                self.model.holds.remove(&hold_id);
                self.account_expiry(&events);
            }
            Op::Refund {
                pick,
                cents: amount,
            } => {
                let amount = cents(*amount);
                let debit_id = match self.model.all_debits.len() {
                    0 => Uuid::from_u128(u128::MAX),
                    n => self.model.all_debits[pick % n],
                };
                let result = self.decide(WalletAction::Refund {
                    debit_id,
                    amount,
                    reference: String::new(),
                    description: String::new(),
                });
                match self.model.refundable.get(&debit_id).copied() {
                    None => assert_eq!(result.expect_err("unknown"), WalletError::DebitNotFound),
                    Some(refundable) if amount > refundable => assert_eq!(
                        result.expect_err("refund above its debit"),
                        WalletError::RefundExceedsDebit { refundable }
                    ),
                    Some(refundable) => {
                        let events = result.expect("refund within its debit");
                        self.model.credited += amount;
                        if refundable == amount {
                            self.model.refundable.remove(&debit_id);
                        } else {
                            self.model.refundable.insert(debit_id, refundable - amount);
                        }
                        self.account_expiry(&events);
                    }
                }
            }
            Op::Tick => {
                let due: BTreeSet<Uuid> = self
                    .model
                    .holds
                    .iter()
                    .filter(|(_, (_, deadline))| *deadline <= self.now)
                    .map(|(id, _)| *id)
                    .collect();
                let events = self
                    .decide(WalletAction::Tick {
                        notice_lead_ms: LEAD_MS,
                    })
                    .expect("ticks are never rejected");
                let released: BTreeSet<Uuid> = events
                    .iter()
                    .filter_map(|event| match &event.kind {
                        WalletEventKind::HoldReleased {
                            hold_id,
                            reason: HoldReleaseReason::Expired,
                            ..
                        } => Some(*hold_id),
                        _ => None,
                    })
                    .collect();
                assert_eq!(released, due, "the timer releases exactly the due holds");
                for hold_id in due {
                    self.model.holds.remove(&hold_id);
                }
                self.account_expiry(&events);
                let next = self.state.next_deadline(LEAD_MS);
                assert!(
                    next.is_none_or(|next| next > self.now),
                    "after a tick nothing is due until a later time"
                );
            }
        }
    }

    fn pick_hold(&self, pick: usize) -> Uuid {
        match self.model.all_holds.len() {
            0 => Uuid::from_u128(u128::MAX),
            n => self.model.all_holds[pick % n],
        }
    }

    /// The amount of `hold_id` if it can still be resolved by a client.
    fn active_hold(&self, hold_id: Uuid) -> Option<Decimal> {
        self.model
            .holds
            .get(&hold_id)
            .filter(|(_, deadline)| *deadline > self.now)
            .map(|(amount, _)| *amount)
    }

    fn account_expiry(&mut self, events: &[WalletEvent]) {
        for event in events {
            if let WalletEventKind::LotExpired { amount, .. } = &event.kind {
                self.model.expired += *amount;
            }
        }
    }

    /// A debit takes whole lots in consumption order: every lot before the last one it draws
    /// from is left with nothing unreserved.
    fn check_consumption_order(&self, events: &[WalletEvent]) {
        let Some(draws) = events.iter().find_map(|event| match &event.kind {
            WalletEventKind::FundsDebited { draws, .. } => Some(draws),
            _ => None,
        }) else {
            panic!("an accepted debit produces FundsDebited");
        };
        let wallet = self.state.wallet().expect("wallet");
        let mut lots: Vec<_> = wallet.lots().collect();
        lots.sort_by_key(|lot| {
            (
                lot.expires_at().is_none(),
                lot.expires_at(),
                lot.source() != CreditSource::Granted,
            )
        });
        let position = |id: Uuid| lots.iter().position(|lot| lot.id() == id);
        let mut last_seen = None;
        for draw in draws {
            // Lots drawn to zero left the state; they sort before anything still present.
            if let Some(index) = position(draw.lot_id) {
                assert!(last_seen.is_none_or(|last| index > last), "draw order");
                last_seen = Some(index);
            }
        }
        if let Some(last) = last_seen {
            for lot in &lots[..last] {
                assert!(lot.unreserved().is_zero(), "a debit skipped an earlier lot");
            }
        }
    }

    fn check_invariants(&self) {
        let wallet = self.state.wallet().expect("wallet");
        assert_eq!(
            wallet.balance(),
            self.model.balance(),
            "balance = Σ credits − Σ debits − Σ expired"
        );
        assert_eq!(wallet.held(), self.model.held(), "held = Σ active holds");
        assert!(wallet.available() >= Decimal::ZERO, "available ≥ 0");
        let mut remaining = Decimal::ZERO;
        for lot in wallet.lots() {
            assert!(lot.remaining() >= Decimal::ZERO, "lot remaining ≥ 0");
            assert!(lot.reserved() >= Decimal::ZERO, "lot reserved ≥ 0");
            assert!(lot.reserved() <= lot.remaining(), "reserved ≤ remaining");
            remaining += lot.remaining();
        }
        assert_eq!(remaining, wallet.balance(), "balance = Σ lot remaining");
        let replayed = self
            .events
            .iter()
            .fold(WalletState::default(), |state, event| {
                WalletDecider::evolve(state, event)
            });
        assert_eq!(
            replayed, self.state,
            "replaying the events rebuilds the state"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn wallet_matches_the_reference_model(steps in steps()) {
        let mut run = Run::new();
        for (advance_ms, op) in &steps {
            run.now = run.now.plus_millis(*advance_ms);
            run.step(op);
            run.check_invariants();
        }
    }
}
