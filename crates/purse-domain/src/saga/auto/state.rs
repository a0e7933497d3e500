//! Auto top-up saga state, `evolve`, its timer and the commands it wants sent.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::event::{AutoTopUpEvent, AutoTopUpEventKind};
use super::rule::{AutoTopUpAmount, AutoTopUpRule, DEFAULT_AUTO_TOP_UP_BACKOFF_MS};
use crate::money::Asset;
use crate::saga::dispatch::{Dispatch, DispatchCommand, derived_key};
use crate::support::next_utc_midnight;
use crate::time::{MILLIS_PER_DAY, Timestamp};
use crate::topup::{CreateTopUp, FeeRate, TopUpAction, TopUpCommand, TopUpKind};

/// The state of one wallet's auto top-up saga: nothing before the first rule is set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutoTopUpState(pub(crate) Option<AutoTopUp>);

impl AutoTopUpState {
    /// The saga, once a rule was set.
    pub fn auto_top_up(&self) -> Option<&AutoTopUp> {
        self.0.as_ref()
    }

    /// When the saga's timer must fire next: while a top-up is wanted and none is in flight, the
    /// end of the back-off or, when the daily cap is used up, the next UTC midnight. This is the
    /// durable timer of auto top-up; an overdue one fires at once.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let saga = self.0.as_ref()?;
        let rule = saga.rule.as_ref()?;
        if !saga.pending || saga.in_flight.is_some() {
            return None;
        }
        let amount = saga.next_amount()?;
        let mut resume = saga
            .backoff_until
            .unwrap_or(Timestamp::from_millis(i64::MIN));
        let (count, used) = (saga.usage.count, saga.usage.amount);
        let capped = count >= rule.daily_cap.max_count
            || rule
                .daily_cap
                .max_amount
                .is_some_and(|max| used + amount > max);
        if capped {
            // The cap is per UTC day: the latest day it stopped a start (reported then) or was
            // used up is over at the next midnight.
            let day = saga
                .usage
                .day
                .max(saga.cap_reported_day.unwrap_or(i64::MIN));
            let day_start = Timestamp::from_millis(day.saturating_mul(MILLIS_PER_DAY));
            resume = resume.max(next_utc_midnight(day_start));
        }
        Some(resume)
    }

    /// The commands the saga wants executed now: the creation of the top-up in flight until it
    /// is known to exist. Level-triggered, like the top-up saga's.
    pub fn dispatches(&self) -> Vec<Dispatch> {
        let Some(saga) = self.0.as_ref() else {
            return Vec::new();
        };
        let Some(in_flight) = saga.in_flight.as_ref().filter(|flight| !flight.created) else {
            return Vec::new();
        };
        vec![Dispatch {
            idempotency_key: derived_key(format!("auto-top-up:{}:create", in_flight.top_up_id)),
            command: DispatchCommand::TopUp(TopUpCommand {
                tenant: saga.tenant.clone(),
                top_up_id: in_flight.top_up_id,
                action: TopUpAction::Create(CreateTopUp {
                    wallet_id: saga.wallet_id,
                    owner: saga.owner.clone(),
                    kind: TopUpKind::Auto,
                    asset: saga.asset.clone(),
                    amount: in_flight.amount,
                    wallet_amount: in_flight.amount,
                    fee_rate: in_flight.fee_rate,
                    timeout_ms: in_flight.timeout_ms,
                    lots_expire_at: None,
                    payment_method_id: Some(in_flight.payment_method_id),
                    facts: None,
                }),
            }),
        }]
    }

    /// Applies one event. Panics if the event contradicts the state.
    pub(crate) fn apply(self, event: &AutoTopUpEvent) -> Self {
        let mut saga = match (self.0, &event.kind) {
            (
                None,
                AutoTopUpEventKind::AutoTopUpRuleSet {
                    wallet_id,
                    tenant,
                    owner,
                    asset,
                    ..
                },
            ) => AutoTopUp {
                wallet_id: *wallet_id,
                tenant: tenant.clone(),
                owner: owner.clone(),
                asset: asset.clone(),
                rule: None,
                backoff_ms: DEFAULT_AUTO_TOP_UP_BACKOFF_MS,
                last_sequence: None,
                available: None,
                below_threshold: false,
                pending: false,
                in_flight: None,
                backoff_until: None,
                consecutive_failures: 0,
                usage: DailyUsage::default(),
                cap_reported_day: None,
            },
            (None, _) => panic!("{} applied before AutoTopUpRuleSet", event.event_type()),
            (Some(saga), _) => saga,
        };
        saga.apply(event.occurred_at, &event.kind);
        saga.assert_invariants();
        AutoTopUpState(Some(saga))
    }
}

/// The auto top-up in flight: at most one per wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InFlight {
    pub(crate) top_up_id: Uuid,
    pub(crate) amount: Decimal,
    pub(crate) payment_method_id: Uuid,
    pub(crate) fee_rate: FeeRate,
    pub(crate) timeout_ms: i64,
    pub(crate) started_at: Timestamp,
    pub(crate) created: bool,
}

impl InFlight {
    /// The top-up.
    pub fn top_up_id(&self) -> Uuid {
        self.top_up_id
    }

    /// What it charges and credits.
    pub fn amount(&self) -> Decimal {
        self.amount
    }

    /// When it started.
    pub fn started_at(&self) -> Timestamp {
        self.started_at
    }

    /// Whether the top-up is known to exist.
    pub fn created(&self) -> bool {
        self.created
    }
}

/// Auto top-ups started on one UTC day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyUsage {
    pub(crate) day: i64,
    pub(crate) count: u32,
    pub(crate) amount: Decimal,
}

impl Default for DailyUsage {
    fn default() -> Self {
        // No real start falls on this day, so the first start begins a fresh count.
        Self {
            day: i64::MIN / MILLIS_PER_DAY,
            count: 0,
            amount: Decimal::ZERO,
        }
    }
}

impl DailyUsage {
    /// Count and Σ amount started on `day`.
    pub fn on(&self, day: i64) -> (u32, Decimal) {
        if self.day == day {
            (self.count, self.amount)
        } else {
            (0, Decimal::ZERO)
        }
    }
}

/// One wallet's auto top-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoTopUp {
    pub(crate) wallet_id: Uuid,
    pub(crate) tenant: String,
    pub(crate) owner: String,
    pub(crate) asset: Asset,
    pub(crate) rule: Option<AutoTopUpRule>,
    // The back-off of the latest rule, which still applies to a top-up that fails after the rule
    // was removed.
    pub(crate) backoff_ms: i64,
    // The last recorded observation (see AutoTopUpBalanceObserved).
    pub(crate) last_sequence: Option<u64>,
    pub(crate) available: Option<Decimal>,
    pub(crate) below_threshold: bool,
    // A crossing below the threshold that no completed auto top-up has answered yet.
    pub(crate) pending: bool,
    pub(crate) in_flight: Option<InFlight>,
    pub(crate) backoff_until: Option<Timestamp>,
    pub(crate) consecutive_failures: u32,
    pub(crate) usage: DailyUsage,
    pub(crate) cap_reported_day: Option<i64>,
}

impl AutoTopUp {
    /// The wallet.
    pub fn wallet_id(&self) -> Uuid {
        self.wallet_id
    }

    /// The wallet's tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The rule, unless removed.
    pub fn rule(&self) -> Option<&AutoTopUpRule> {
        self.rule.as_ref()
    }

    /// The last available balance the saga kept.
    pub fn available(&self) -> Option<Decimal> {
        self.available
    }

    /// Whether a top-up is wanted (a crossing not yet answered by a completed one).
    pub fn pending(&self) -> bool {
        self.pending
    }

    /// The auto top-up in flight, if any.
    pub fn in_flight(&self) -> Option<&InFlight> {
        self.in_flight.as_ref()
    }

    /// No auto top-up starts before this instant (after a failure).
    pub fn backoff_until(&self) -> Option<Timestamp> {
        self.backoff_until
    }

    /// Failures in a row.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Auto top-ups started on the latest day with any.
    pub fn usage(&self) -> &DailyUsage {
        &self.usage
    }

    /// What the next auto top-up would charge: the fixed amount, or what brings the last kept
    /// available balance up to the target. None without a rule or, for a target, an observation.
    pub fn next_amount(&self) -> Option<Decimal> {
        match self.rule?.amount {
            AutoTopUpAmount::Fixed { amount } => Some(amount),
            AutoTopUpAmount::TargetBalance { target } => {
                let amount = target - self.available?;
                (amount > Decimal::ZERO).then_some(amount)
            }
        }
    }

    fn apply(&mut self, at: Timestamp, kind: &AutoTopUpEventKind) {
        match kind {
            AutoTopUpEventKind::AutoTopUpRuleSet {
                wallet_id,
                tenant,
                owner,
                asset,
                rule,
                below_threshold,
                pending,
            } => {
                assert_eq!(
                    (wallet_id, tenant, owner, asset),
                    (&self.wallet_id, &self.tenant, &self.owner, &self.asset),
                    "rule for another wallet"
                );
                self.rule = Some(*rule);
                self.backoff_ms = rule.backoff_ms;
                self.below_threshold = *below_threshold;
                self.pending = *pending;
            }
            AutoTopUpEventKind::AutoTopUpRuleRemoved => {
                assert!(self.rule.is_some(), "rule removed twice");
                self.rule = None;
            }
            AutoTopUpEventKind::AutoTopUpBalanceObserved {
                wallet_sequence,
                available,
                below_threshold,
                pending,
            } => {
                assert!(
                    self.last_sequence
                        .is_none_or(|last| *wallet_sequence > last),
                    "observation out of order"
                );
                self.last_sequence = Some(*wallet_sequence);
                self.available = Some(*available);
                self.below_threshold = *below_threshold;
                self.pending = *pending;
            }
            AutoTopUpEventKind::AutoTopUpStarted {
                top_up_id,
                amount,
                payment_method_id,
                fee_rate,
                timeout_ms,
                day,
            } => {
                assert!(self.in_flight.is_none(), "two auto top-ups in flight");
                assert!(self.pending, "auto top-up started without a crossing");
                assert_eq!(*day, at.utc_day(), "AutoTopUpStarted day");
                assert!(*amount > Decimal::ZERO, "auto top-up of nothing");
                self.in_flight = Some(InFlight {
                    top_up_id: *top_up_id,
                    amount: *amount,
                    payment_method_id: *payment_method_id,
                    fee_rate: *fee_rate,
                    timeout_ms: *timeout_ms,
                    started_at: at,
                    created: false,
                });
                let (count, used) = self.usage.on(*day);
                self.usage = DailyUsage {
                    day: *day,
                    count: count + 1,
                    amount: used + *amount,
                };
            }
            AutoTopUpEventKind::AutoTopUpTopUpCreated { top_up_id } => {
                let flight = self.flight_mut(*top_up_id);
                assert!(!flight.created, "created twice");
                flight.created = true;
            }
            AutoTopUpEventKind::AutoTopUpCompleted { top_up_id } => {
                self.flight_mut(*top_up_id);
                self.in_flight = None;
                self.pending = false;
                self.consecutive_failures = 0;
            }
            AutoTopUpEventKind::AutoTopUpFailed {
                top_up_id,
                retry_at,
                consecutive_failures,
                ..
            } => {
                self.flight_mut(*top_up_id);
                assert_eq!(
                    *consecutive_failures,
                    self.consecutive_failures + 1,
                    "consecutive failures"
                );
                self.in_flight = None;
                self.backoff_until = Some(*retry_at);
                self.consecutive_failures = *consecutive_failures;
            }
            AutoTopUpEventKind::AutoTopUpCapReached { day, .. } => {
                assert_ne!(self.cap_reported_day, Some(*day), "cap reported twice");
                self.cap_reported_day = Some(*day);
            }
        }
    }

    fn flight_mut(&mut self, top_up_id: Uuid) -> &mut InFlight {
        match self.in_flight.as_mut() {
            Some(flight) if flight.top_up_id == top_up_id => flight,
            _ => panic!("event names top-up {top_up_id}, which is not in flight"),
        }
    }

    fn assert_invariants(&self) {
        if let Some(rule) = &self.rule {
            assert!(rule.threshold > Decimal::ZERO, "threshold not positive");
        }
        assert!(
            self.usage.amount >= Decimal::ZERO,
            "negative daily auto top-up amount"
        );
        if self.in_flight.is_some() {
            assert!(self.usage.count > 0, "in flight without a start");
        }
    }
}
