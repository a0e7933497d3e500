//! Property test: random balances, top-up outcomes, rule changes and time against a small
//! reference model of one wallet's auto top-up. Checks that a top-up starts exactly when the
//! model says (a crossing wants one, none in flight, back-off over, cap allows) and for the
//! amount it says, that two are never in flight, that no UTC day exceeds the cap, that after a
//! timer nothing is due, and that replaying the events rebuilds the state.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::decider::{Context, Decider, MAX_IDS_PER_COMMAND};
use crate::payment::DeclineReason;
use crate::topup::{DEFAULT_TOP_UP_TIMEOUT_MS, FeeRate, TopUpFailureReason};

#[derive(Clone, Debug)]
enum Op {
    Observe { cents: i64 },
    ObserveStale,
    Created,
    Complete,
    Decline,
    Expire,
    OtherTopUpCompletes,
    ToggleRule,
    Timer,
    Advance { ms: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0i64..6_000).prop_map(|cents| Op::Observe { cents }),
        1 => Just(Op::ObserveStale),
        2 => Just(Op::Created),
        2 => Just(Op::Complete),
        2 => Just(Op::Decline),
        1 => Just(Op::Expire),
        1 => Just(Op::OtherTopUpCompletes),
        1 => Just(Op::ToggleRule),
        2 => Just(Op::Timer),
        3 => (0i64..8 * HOUR_MS).prop_map(|ms| Op::Advance { ms }),
    ]
}

fn rule() -> impl Strategy<Value = AutoTopUpRule> {
    let amount = prop_oneof![
        (500i64..3_000).prop_map(|cents| AutoTopUpAmount::Fixed {
            amount: Decimal::new(cents, 2)
        }),
        (1_001i64..6_000).prop_map(|cents| AutoTopUpAmount::TargetBalance {
            target: Decimal::new(cents, 2)
        }),
    ];
    let cap = (1u32..5, prop::option::of(30i64..200)).prop_map(|(max_count, max)| DailyCap {
        max_count,
        max_amount: max.map(|units| Decimal::new(units, 0)),
    });
    (amount, cap, 1i64..4).prop_map(|(amount, daily_cap, backoff_hours)| AutoTopUpRule {
        threshold: d("10"),
        amount,
        payment_method_id: method_id(),
        daily_cap,
        backoff_ms: backoff_hours * HOUR_MS,
        fee_rate: FeeRate::ZERO,
        timeout_ms: DEFAULT_TOP_UP_TIMEOUT_MS,
    })
}

/// What the saga must do, kept independently of it.
struct Model {
    rule: AutoTopUpRule,
    has_rule: bool,
    available: Option<Decimal>,
    below: bool,
    pending: bool,
    in_flight: Option<(Uuid, Decimal, bool)>,
    backoff_until: Option<Timestamp>,
    usage: BTreeMap<i64, (u32, Decimal)>,
    cap_reported: BTreeSet<i64>,
}

impl Model {
    fn next_amount(&self) -> Option<Decimal> {
        match self.rule.amount {
            AutoTopUpAmount::Fixed { amount } => Some(amount),
            AutoTopUpAmount::TargetBalance { target } => {
                Some(target - self.available?).filter(|amount| *amount > Decimal::ZERO)
            }
        }
    }

    /// What the decision at `now` must add after the input's own facts.
    fn expected_start(&self, now: Timestamp) -> Expected {
        if !self.has_rule || !self.pending || self.in_flight.is_some() {
            return Expected::Nothing;
        }
        if self.backoff_until.is_some_and(|until| now < until) {
            return Expected::Nothing;
        }
        let Some(amount) = self.next_amount() else {
            return Expected::Nothing;
        };
        let day = now.utc_day();
        let (count, used) = self.usage.get(&day).copied().unwrap_or((0, Decimal::ZERO));
        let cap = self.rule.daily_cap;
        if count >= cap.max_count || cap.max_amount.is_some_and(|max| used + amount > max) {
            if self.cap_reported.contains(&day) {
                Expected::Nothing
            } else {
                Expected::CapReached(day)
            }
        } else {
            Expected::Start(amount)
        }
    }
}

#[derive(Debug, PartialEq)]
enum Expected {
    Nothing,
    Start(Decimal),
    CapReached(i64),
}

struct Run {
    state: AutoTopUpState,
    events: Vec<AutoTopUpEvent>,
    model: Model,
    now: Timestamp,
    next_id: u128,
    sequence: u64,
}

impl Run {
    fn new(rule: AutoTopUpRule) -> Self {
        let mut run = Run {
            state: AutoTopUpState::default(),
            events: Vec::new(),
            model: Model {
                rule,
                has_rule: true,
                available: None,
                below: false,
                pending: false,
                in_flight: None,
                backoff_until: None,
                usage: BTreeMap::new(),
                cap_reported: BTreeSet::new(),
            },
            now: created_at(),
            next_id: 1,
            sequence: 0,
        };
        run.decide(set_rule(rule)).expect("a valid rule");
        run
    }

    fn decide(&mut self, input: AutoTopUpInput) -> Result<Vec<AutoTopUpEvent>, AutoTopUpError> {
        let ids = (0..MAX_IDS_PER_COMMAND as u128)
            .map(|n| Uuid::from_u128(self.next_id + n))
            .collect();
        self.next_id += MAX_IDS_PER_COMMAND as u128;
        let command = AutoTopUpCommand {
            wallet_id: wallet_id(),
            input,
        };
        let before = self.state.clone();
        let result = AutoTopUpDecider::decide(&self.state, &command, &Context::new(self.now, ids));
        assert_eq!(self.state, before, "deciding never changes the state");
        if let Ok(events) = &result {
            for event in events {
                self.state = AutoTopUpDecider::evolve(self.state.clone(), event);
                self.events.push(event.clone());
            }
        }
        result
    }

    /// Applies the model's own effects of an input, then decides and compares the start.
    fn input(&mut self, input: AutoTopUpInput) {
        let fresh = Uuid::from_u128(self.next_id);
        let events = self
            .decide(input)
            .expect("inputs of the saga's wallet are accepted");
        let expected = self.model.expected_start(self.now);
        let starts: Vec<_> = events
            .iter()
            .filter_map(|event| match &event.kind {
                AutoTopUpEventKind::AutoTopUpStarted {
                    top_up_id, amount, ..
                } => Some((*top_up_id, *amount)),
                _ => None,
            })
            .collect();
        let caps: Vec<_> = events
            .iter()
            .filter_map(|event| match &event.kind {
                AutoTopUpEventKind::AutoTopUpCapReached { day, .. } => Some(*day),
                _ => None,
            })
            .collect();
        match expected {
            Expected::Nothing => {
                assert!(
                    starts.is_empty() && caps.is_empty(),
                    "nothing starts: {events:?}"
                );
            }
            Expected::Start(amount) => {
                assert_eq!(
                    starts,
                    vec![(fresh, amount)],
                    "one start of the right amount"
                );
                let day = self.now.utc_day();
                let entry = self.model.usage.entry(day).or_insert((0, Decimal::ZERO));
                entry.0 += 1;
                entry.1 += amount;
                self.model.in_flight = Some((fresh, amount, false));
            }
            Expected::CapReached(day) => {
                assert!(starts.is_empty(), "the cap stops the start");
                assert_eq!(caps, vec![day], "the cap is reported once");
                self.model.cap_reported.insert(day);
            }
        }
    }

    fn observe(&mut self, sequence: u64, available: Decimal) {
        let model = &mut self.model;
        let stale = sequence <= self.sequence;
        if !stale && model.has_rule {
            let below = available < model.rule.threshold;
            if below || model.below || model.available.is_none() {
                model.pending = below && (model.pending || !model.below);
                model.below = below;
                model.available = Some(available);
                self.sequence = sequence;
            }
        }
        self.input(AutoTopUpInput::BalanceObserved {
            wallet_sequence: sequence,
            available,
        });
    }

    fn outcome(&mut self, input: impl FnOnce(Uuid) -> AutoTopUpInput, completed: bool) {
        let Some((top_up_id, _, _)) = self.model.in_flight else {
            return;
        };
        self.model.in_flight = None;
        if completed {
            self.model.pending = false;
        } else {
            self.model.backoff_until = Some(self.now.plus_millis(self.model.rule.backoff_ms));
        }
        self.input(input(top_up_id));
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Observe { cents } => {
                let sequence = self.sequence + 1 + self.events.len() as u64;
                self.observe(sequence, Decimal::new(*cents, 2));
            }
            Op::ObserveStale => {
                if self.sequence > 0 {
                    self.observe(self.sequence, d("0"));
                }
            }
            Op::Created => {
                if let Some((top_up_id, _, created)) = self.model.in_flight.as_mut() {
                    *created = true;
                    let top_up_id = *top_up_id;
                    self.input(AutoTopUpInput::TopUpCreated { top_up_id });
                }
            }
            Op::Complete => {
                self.outcome(
                    |top_up_id| AutoTopUpInput::TopUpCompleted { top_up_id },
                    true,
                );
            }
            Op::Decline => self.outcome(
                |top_up_id| AutoTopUpInput::TopUpFailed {
                    top_up_id,
                    reason: TopUpFailureReason::Declined {
                        reason: DeclineReason::Declined,
                    },
                },
                false,
            ),
            Op::Expire => {
                self.outcome(
                    |top_up_id| AutoTopUpInput::TopUpExpired { top_up_id },
                    false,
                );
            }
            Op::OtherTopUpCompletes => self.input(AutoTopUpInput::TopUpCompleted {
                top_up_id: Uuid::from_u128(u128::MAX),
            }),
            Op::ToggleRule => {
                if self.model.has_rule {
                    self.model.has_rule = false;
                    self.input(AutoTopUpInput::RemoveRule {
                        tenant: TENANT.into(),
                    });
                } else {
                    let model = &mut self.model;
                    let below = model
                        .available
                        .is_some_and(|available| available < model.rule.threshold);
                    model.pending = below && (model.pending || !model.below);
                    model.below = below;
                    model.has_rule = true;
                    let rule = model.rule;
                    self.input(set_rule(rule));
                }
            }
            Op::Timer => {
                self.input(AutoTopUpInput::Timer);
                assert!(
                    self.state.next_deadline().is_none_or(|at| at > self.now),
                    "after a timer nothing is due"
                );
            }
            Op::Advance { ms } => self.now = self.now.plus_millis(*ms),
        }
    }

    fn check_invariants(&self) {
        let saga = self.state.auto_top_up().expect("saga");
        assert_eq!(
            saga.in_flight().map(InFlight::top_up_id),
            self.model.in_flight.map(|(id, _, _)| id),
            "at most one in flight, the model's"
        );
        assert_eq!(saga.pending(), self.model.pending);
        let cap = self.model.rule.daily_cap;
        for (count, amount) in self.model.usage.values() {
            assert!(*count <= cap.max_count, "daily count within the cap");
            assert!(
                cap.max_amount.is_none_or(|max| *amount <= max),
                "daily amount within the cap"
            );
        }
        if self.model.has_rule && self.model.pending && self.model.in_flight.is_none() {
            assert!(
                self.state.next_deadline().is_some(),
                "a wanted top-up that cannot start now has a timer"
            );
        }
        let dispatches = self.state.dispatches();
        let wanted = self.model.in_flight.is_some_and(|(_, _, created)| !created);
        assert_eq!(
            dispatches.len(),
            usize::from(wanted),
            "the create is wanted until known"
        );
        let replayed = self
            .events
            .iter()
            .fold(AutoTopUpState::default(), |state, event| {
                AutoTopUpDecider::evolve(state, event)
            });
        assert_eq!(
            replayed, self.state,
            "replaying the events rebuilds the state"
        );
    }
}

fn set_rule(rule: AutoTopUpRule) -> AutoTopUpInput {
    AutoTopUpInput::SetRule {
        tenant: TENANT.into(),
        owner: "customer-1".into(),
        asset: usd(),
        rule,
        facts: ON_FILE,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn auto_top_up_matches_the_reference_model(
        rule in rule(),
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let mut run = Run::new(rule);
        for op in &ops {
            run.step(op);
            run.check_invariants();
        }
    }
}
