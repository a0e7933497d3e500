//! The auto top-up saga: rule validation, crossings, one top-up in flight, back-off after
//! failures, the daily cap, and the mapping of wallet and top-up events to inputs.

use super::*;
use crate::money::AmountError;
use crate::payment::DeclineReason;
use crate::time::MILLIS_PER_DAY;
use crate::topup::{
    CreateTopUp, CreditRejection, DEFAULT_TOP_UP_TIMEOUT_MS, FeeRate, MAX_TOP_UP_TIMEOUT_MS,
    MIN_TOP_UP_TIMEOUT_MS, TopUpAction, TopUpCommand, TopUpCreated, TopUpError, TopUpFailureReason,
};

use AutoTopUpEventKind as Kind;

const DAY: i64 = DAY0 / MILLIS_PER_DAY;

fn fee() -> FeeRate {
    FeeRate::percent(d("2.9")).expect("rate")
}

/// Below 10.00, top up 20.00; at most 3 a day; back off an hour.
fn rule() -> AutoTopUpRule {
    AutoTopUpRule {
        threshold: d("10"),
        amount: AutoTopUpAmount::Fixed { amount: d("20") },
        payment_method_id: method_id(),
        daily_cap: DailyCap::default(),
        backoff_ms: DEFAULT_AUTO_TOP_UP_BACKOFF_MS,
        fee_rate: fee(),
        timeout_ms: DEFAULT_TOP_UP_TIMEOUT_MS,
    }
}

fn target_rule(target: &str) -> AutoTopUpRule {
    AutoTopUpRule {
        amount: AutoTopUpAmount::TargetBalance { target: d(target) },
        ..rule()
    }
}

fn acmd(input: AutoTopUpInput) -> AutoTopUpCommand {
    AutoTopUpCommand {
        wallet_id: wallet_id(),
        input,
    }
}

fn set(rule: AutoTopUpRule) -> AutoTopUpCommand {
    acmd(AutoTopUpInput::SetRule {
        tenant: TENANT.into(),
        owner: "customer-1".into(),
        asset: usd(),
        rule,
        facts: ON_FILE,
    })
}

fn rule_set(rule: AutoTopUpRule, below_threshold: bool, pending: bool) -> Kind {
    Kind::AutoTopUpRuleSet {
        wallet_id: wallet_id(),
        tenant: TENANT.into(),
        owner: "customer-1".into(),
        asset: usd(),
        rule,
        below_threshold,
        pending,
    }
}

fn observe(wallet_sequence: u64, available: &str) -> AutoTopUpCommand {
    acmd(AutoTopUpInput::BalanceObserved {
        wallet_sequence,
        available: d(available),
    })
}

fn observed(wallet_sequence: u64, available: &str, below: bool, pending: bool) -> Kind {
    Kind::AutoTopUpBalanceObserved {
        wallet_sequence,
        available: d(available),
        below_threshold: below,
        pending,
    }
}

fn started(top_up: Uuid, amount: &str) -> Kind {
    Kind::AutoTopUpStarted {
        top_up_id: top_up,
        amount: d(amount),
        payment_method_id: method_id(),
        fee_rate: fee(),
        timeout_ms: DEFAULT_TOP_UP_TIMEOUT_MS,
        day: DAY,
    }
}

fn failed(top_up: Uuid, reason: AutoTopUpFailure, retry_at: Timestamp, n: u32) -> Kind {
    Kind::AutoTopUpFailed {
        top_up_id: top_up,
        reason,
        retry_at,
        consecutive_failures: n,
    }
}

fn declined() -> AutoTopUpFailure {
    AutoTopUpFailure::Declined {
        reason: DeclineReason::InsufficientFunds,
    }
}

/// Histories start early on DAY0, a second apart.
fn given_auto(kinds: impl IntoIterator<Item = Kind>) -> Given<AutoTopUpDecider> {
    given(
        kinds
            .into_iter()
            .enumerate()
            .map(|(n, kind)| AutoTopUpEvent {
                occurred_at: created_at().plus_millis(n as i64 * 1_000),
                kind,
            }),
    )
}

fn given_rule(history: impl IntoIterator<Item = Kind>) -> Given<AutoTopUpDecider> {
    given_auto(std::iter::once(rule_set(rule(), false, false)).chain(history))
}

/// Rule set, a crossing at 4.00, and top-up `id(1)` started and created.
fn in_flight() -> Vec<Kind> {
    vec![
        observed(1, "4", true, true),
        started(id(1), "20"),
        Kind::AutoTopUpTopUpCreated { top_up_id: id(1) },
    ]
}

fn create_dispatch(top_up: Uuid, amount: &str) -> Dispatch {
    Dispatch {
        idempotency_key: crate::saga::dispatch::derived_key(format!("auto-top-up:{top_up}:create")),
        command: DispatchCommand::TopUp(TopUpCommand {
            tenant: TENANT.into(),
            top_up_id: top_up,
            action: TopUpAction::Create(CreateTopUp {
                wallet_id: wallet_id(),
                owner: "customer-1".into(),
                kind: TopUpKind::Auto,
                asset: usd(),
                amount: d(amount),
                wallet_amount: d(amount),
                fee_rate: fee(),
                timeout_ms: DEFAULT_TOP_UP_TIMEOUT_MS,
                lots_expire_at: None,
                payment_method_id: Some(method_id()),
                facts: None,
            }),
        }),
    }
}

mod rules {
    use super::*;

    #[test]
    fn setting_a_rule_starts_the_saga_without_a_top_up() {
        let (outcome, state) = given::<AutoTopUpDecider>([])
            .when(set(rule()))
            .then_outcome(vec![rule_set(rule(), false, false)]);
        assert!(outcome.dispatches.is_empty());
        assert_eq!(outcome.next_deadline, None);
        let saga = state.auto_top_up().expect("saga");
        assert_eq!(
            saga.rule().map(|rule| rule.threshold.to_string()),
            Some("10.00".into())
        );
    }

    #[test]
    fn rule_amounts_are_validated_with_the_wallets_asset() {
        let invalid = |rule, field, error| {
            given::<AutoTopUpDecider>([])
                .when(set(rule))
                .then_error(AutoTopUpError::InvalidAmount { field, error });
        };
        invalid(
            AutoTopUpRule {
                threshold: d("0"),
                ..rule()
            },
            AutoTopUpField::Threshold,
            AmountError::NotPositive,
        );
        invalid(
            AutoTopUpRule {
                amount: AutoTopUpAmount::Fixed { amount: d("1.001") },
                ..rule()
            },
            AutoTopUpField::Amount,
            AmountError::TooManyDecimals { max_scale: 2 },
        );
        invalid(
            target_rule("-1"),
            AutoTopUpField::TargetBalance,
            AmountError::NotPositive,
        );
        invalid(
            AutoTopUpRule {
                daily_cap: DailyCap {
                    max_count: 3,
                    max_amount: Some(d("0")),
                },
                ..rule()
            },
            AutoTopUpField::DailyMaxAmount,
            AmountError::NotPositive,
        );
    }

    #[test]
    fn a_target_balance_lies_above_the_threshold() {
        for target in ["10", "9.99"] {
            given::<AutoTopUpDecider>([])
                .when(set(target_rule(target)))
                .then_error(AutoTopUpError::TargetNotAboveThreshold { threshold: d("10") });
        }
    }

    #[test]
    fn the_daily_cap_backoff_and_timeout_are_bounded() {
        for max_count in [0, MAX_AUTO_TOP_UPS_PER_DAY + 1] {
            given::<AutoTopUpDecider>([])
                .when(set(AutoTopUpRule {
                    daily_cap: DailyCap {
                        max_count,
                        max_amount: None,
                    },
                    ..rule()
                }))
                .then_error(AutoTopUpError::InvalidDailyCap {
                    max: MAX_AUTO_TOP_UPS_PER_DAY,
                });
        }
        given::<AutoTopUpDecider>([])
            .when(set(AutoTopUpRule {
                daily_cap: DailyCap {
                    max_count: 3,
                    max_amount: Some(d("19.99")),
                },
                ..rule()
            }))
            .then_error(AutoTopUpError::CapBelowAmount { amount: d("20") });
        for backoff_ms in [
            MIN_AUTO_TOP_UP_BACKOFF_MS - 1,
            MAX_AUTO_TOP_UP_BACKOFF_MS + 1,
        ] {
            given::<AutoTopUpDecider>([])
                .when(set(AutoTopUpRule {
                    backoff_ms,
                    ..rule()
                }))
                .then_error(AutoTopUpError::InvalidBackoff {
                    min_ms: MIN_AUTO_TOP_UP_BACKOFF_MS,
                    max_ms: MAX_AUTO_TOP_UP_BACKOFF_MS,
                });
        }
        given::<AutoTopUpDecider>([])
            .when(set(AutoTopUpRule {
                timeout_ms: MIN_TOP_UP_TIMEOUT_MS - 1,
                ..rule()
            }))
            .then_error(AutoTopUpError::InvalidTimeout {
                min_ms: MIN_TOP_UP_TIMEOUT_MS,
                max_ms: MAX_TOP_UP_TIMEOUT_MS,
            });
    }

    #[test]
    fn a_rule_needs_a_wallet_that_takes_credit_and_the_owners_own_card() {
        let with = |facts| {
            acmd(AutoTopUpInput::SetRule {
                tenant: TENANT.into(),
                owner: "customer-1".into(),
                asset: usd(),
                rule: rule(),
                facts,
            })
        };
        let closed = WalletFacts {
            wallet_status: WalletStatus::Closed,
            ..ON_FILE
        };
        let card_elsewhere = WalletFacts {
            payment_method_on_file: false,
            ..ON_FILE
        };
        for given in [given::<AutoTopUpDecider>([]), given_rule([])] {
            given
                .when(with(closed))
                .then_error(AutoTopUpError::WalletNotOpen {
                    status: WalletStatus::Closed,
                });
        }
        for given in [given::<AutoTopUpDecider>([]), given_rule([])] {
            given
                .when(with(card_elsewhere))
                .then_error(AutoTopUpError::PaymentMethodNotFound);
        }
        // A suspended wallet may be reactivated: its rule may be set meanwhile.
        given::<AutoTopUpDecider>([])
            .when(with(WalletFacts {
                wallet_status: WalletStatus::Suspended,
                ..ON_FILE
            }))
            .then_outcome(vec![rule_set(rule(), false, false)]);
    }

    #[test]
    fn tenant_owner_and_asset_belong_to_the_wallet() {
        let other = |tenant: &str, owner: &str, asset| {
            acmd(AutoTopUpInput::SetRule {
                tenant: tenant.into(),
                owner: owner.into(),
                asset,
                rule: rule(),
                facts: ON_FILE,
            })
        };
        given::<AutoTopUpDecider>([])
            .when(other("", "customer-1", usd()))
            .then_error(AutoTopUpError::InvalidText {
                field: AutoTopUpField::Tenant,
                max_bytes: 255,
            });
        given_rule([])
            .when(other("other", "customer-1", usd()))
            .then_error(AutoTopUpError::NotFound);
        given_rule([])
            .when(other(TENANT, "customer-2", usd()))
            .then_error(AutoTopUpError::NotFound);
        let eur = crate::money::Asset::parse("EUR", None).expect("EUR");
        given_rule([])
            .when(other(TENANT, "customer-1", eur))
            .then_error(AutoTopUpError::AssetMismatch {
                expected: "USD".into(),
            });
    }

    #[test]
    fn removing_the_rule_stops_new_top_ups_but_not_the_one_in_flight() {
        let state = given_rule(in_flight())
            .when(acmd(AutoTopUpInput::RemoveRule {
                tenant: TENANT.into(),
            }))
            .then(vec![Kind::AutoTopUpRuleRemoved]);
        assert!(state.auto_top_up().expect("saga").in_flight().is_some());
        given_rule(with_kinds(in_flight(), [Kind::AutoTopUpRuleRemoved]))
            .when(acmd(AutoTopUpInput::TopUpCompleted { top_up_id: id(1) }))
            .then(vec![Kind::AutoTopUpCompleted { top_up_id: id(1) }]);
        given_rule([Kind::AutoTopUpRuleRemoved, observed(1, "4", true, false)])
            .when(observe(2, "3"))
            .then(vec![]);
        given_rule([Kind::AutoTopUpRuleRemoved])
            .when(acmd(AutoTopUpInput::RemoveRule {
                tenant: TENANT.into(),
            }))
            .then_error(AutoTopUpError::NotFound);
        given::<AutoTopUpDecider>([])
            .when(acmd(AutoTopUpInput::RemoveRule {
                tenant: TENANT.into(),
            }))
            .then_error(AutoTopUpError::NotFound);
        given_rule([])
            .when(acmd(AutoTopUpInput::RemoveRule {
                tenant: "other".into(),
            }))
            .then_error(AutoTopUpError::NotFound);
    }

    #[test]
    fn a_wallet_without_a_rule_ignores_everything_else() {
        for input in [
            AutoTopUpInput::BalanceObserved {
                wallet_sequence: 1,
                available: d("1"),
            },
            AutoTopUpInput::TopUpCompleted { top_up_id: id(1) },
            AutoTopUpInput::Timer,
        ] {
            given::<AutoTopUpDecider>([]).when(acmd(input)).then(vec![]);
        }
    }

    #[test]
    fn a_rule_set_while_the_balance_is_already_low_starts_at_once() {
        let state = given_rule([Kind::AutoTopUpRuleRemoved, observed(1, "4", true, false)])
            .when(set(AutoTopUpRule {
                threshold: d("5"),
                ..rule()
            }))
            .then(vec![rule_set(
                AutoTopUpRule {
                    threshold: d("5"),
                    ..rule()
                },
                true,
                false,
            )]);
        // Below both the old and the new threshold and already answered: no new crossing.
        assert!(state.dispatches().is_empty());
        given_rule([observed(1, "12", false, false)])
            .when(set(AutoTopUpRule {
                threshold: d("15"),
                ..rule()
            }))
            .then(vec![
                rule_set(
                    AutoTopUpRule {
                        threshold: d("15"),
                        ..rule()
                    },
                    true,
                    true,
                ),
                started(fresh(0), "20"),
            ]);
    }
}

fn with_kinds(mut base: Vec<Kind>, more: impl IntoIterator<Item = Kind>) -> Vec<Kind> {
    base.extend(more);
    base
}

mod crossing {
    use super::*;

    #[test]
    fn a_crossing_below_the_threshold_starts_one_top_up() {
        let (outcome, state) = given_rule([observed(1, "15", false, false)])
            .when(observe(2, "4"))
            .then_outcome(vec![observed(2, "4", true, true), started(fresh(0), "20")]);
        assert_eq!(outcome.dispatches, vec![create_dispatch(fresh(0), "20")]);
        assert_eq!(outcome.next_deadline, None);
        let saga = state.auto_top_up().expect("saga");
        assert_eq!(saga.in_flight().map(InFlight::top_up_id), Some(fresh(0)));
        assert_eq!(saga.usage().on(DAY), (1, d("20")));
    }

    #[test]
    fn a_target_balance_tops_up_the_deficit() {
        given_auto([rule_set(target_rule("50"), false, false)])
            .when(observe(1, "4.50"))
            .then(vec![
                observed(1, "4.50", true, true),
                started(fresh(0), "45.50"),
            ]);
    }

    #[test]
    fn never_two_in_flight() {
        let state = given_rule(in_flight())
            .when(observe(2, "1"))
            .then(vec![observed(2, "1", true, true)]);
        assert!(
            state.dispatches().is_empty(),
            "created, and no second start"
        );
    }

    #[test]
    fn the_creation_is_wanted_until_known() {
        let history = [observed(1, "4", true, true), started(id(1), "20")];
        let state = given_rule(history.clone()).state;
        assert_eq!(state.dispatches(), vec![create_dispatch(id(1), "20")]);
        let state = given_rule(history.clone())
            .when(acmd(AutoTopUpInput::TopUpCreated { top_up_id: id(1) }))
            .then(vec![Kind::AutoTopUpTopUpCreated { top_up_id: id(1) }]);
        assert!(state.dispatches().is_empty());
        // Another top-up of the wallet (a manual one) is not the saga's.
        given_rule(history)
            .when(acmd(AutoTopUpInput::TopUpCreated { top_up_id: id(9) }))
            .then(vec![]);
    }

    #[test]
    fn a_completed_top_up_answers_the_crossing() {
        let state = given_rule(in_flight())
            .when(acmd(AutoTopUpInput::TopUpCompleted { top_up_id: id(1) }))
            .then(vec![Kind::AutoTopUpCompleted { top_up_id: id(1) }]);
        let saga = state.auto_top_up().expect("saga");
        assert!(saga.in_flight().is_none() && !saga.pending());
        let done = with_kinds(in_flight(), [Kind::AutoTopUpCompleted { top_up_id: id(1) }]);
        // Still low after the top-up: no new crossing, no new top-up.
        given_rule(done.clone())
            .when(observe(2, "9"))
            .then(vec![observed(2, "9", true, false)]);
        // Back above, then below again: a new crossing.
        given_rule(with_kinds(done, [observed(2, "24", false, false)]))
            .when(observe(3, "2"))
            .then(vec![observed(3, "2", true, true), started(fresh(0), "20")]);
    }

    #[test]
    fn observations_above_the_threshold_are_kept_only_at_the_crossing() {
        given_rule([observed(1, "15", false, false)])
            .when(observe(2, "16"))
            .then(vec![]);
        given_rule([])
            .when(observe(1, "15"))
            .then(vec![observed(1, "15", false, false)]);
        // Back above ends the wish for a top-up (a manual top-up answered it): nothing starts
        // when the back-off ends.
        let backing_off = with_kinds(
            in_flight(),
            [failed(id(1), declined(), now_plus(HOUR_MS), 1)],
        );
        let state = given_rule(backing_off)
            .when(observe(2, "15"))
            .then(vec![observed(2, "15", false, false)]);
        assert_eq!(state.next_deadline(), None);
    }

    #[test]
    fn old_and_repeated_observations_change_nothing() {
        for sequence in [1, 2] {
            given_rule([observed(2, "15", false, false)])
                .when(observe(sequence, "4"))
                .then(vec![]);
        }
    }

    #[test]
    fn the_threshold_itself_is_not_below_it() {
        given_rule([observed(1, "15", false, false)])
            .when(observe(2, "10"))
            .then(vec![]);
    }
}

mod failures {
    use super::*;

    #[test]
    fn a_decline_backs_off_and_reports() {
        let (outcome, state) = given_rule(in_flight())
            .when(acmd(AutoTopUpInput::TopUpFailed {
                top_up_id: id(1),
                reason: TopUpFailureReason::Declined {
                    reason: DeclineReason::InsufficientFunds,
                },
            }))
            .then_outcome(vec![failed(
                id(1),
                declined(),
                now_plus(DEFAULT_AUTO_TOP_UP_BACKOFF_MS),
                1,
            )]);
        assert!(outcome.dispatches.is_empty());
        assert_eq!(
            outcome.next_deadline,
            Some(now_plus(DEFAULT_AUTO_TOP_UP_BACKOFF_MS))
        );
        let saga = state.auto_top_up().expect("saga");
        assert!(saga.pending(), "the crossing still wants its top-up");
        assert_eq!(saga.consecutive_failures(), 1);
        assert_eq!(AUTO_TOP_UP_FAILED_NOTIFICATION, "wallet.auto_top_up_failed");
    }

    #[test]
    fn after_the_back_off_the_timer_tries_again() {
        let history = with_kinds(
            in_flight(),
            [failed(
                id(1),
                declined(),
                now_plus(DEFAULT_AUTO_TOP_UP_BACKOFF_MS),
                1,
            )],
        );
        given_rule(history.clone())
            .when(acmd(AutoTopUpInput::Timer))
            .at(now_plus(DEFAULT_AUTO_TOP_UP_BACKOFF_MS - 1))
            .then(vec![]);
        // Observations during the back-off start nothing either.
        given_rule(history.clone())
            .when(observe(2, "3"))
            .then(vec![observed(2, "3", true, true)]);
        let state = given_rule(history)
            .when(acmd(AutoTopUpInput::Timer))
            .at(now_plus(DEFAULT_AUTO_TOP_UP_BACKOFF_MS))
            .fresh_from(4)
            .then(vec![started(fresh(4), "20")]);
        assert_eq!(state.auto_top_up().expect("saga").usage().on(DAY).0, 2);
    }

    #[test]
    fn expiry_refused_credit_and_refused_creation_are_failures_too() {
        let backoff = now_plus(DEFAULT_AUTO_TOP_UP_BACKOFF_MS);
        given_rule(in_flight())
            .when(acmd(AutoTopUpInput::TopUpExpired { top_up_id: id(1) }))
            .then(vec![failed(id(1), AutoTopUpFailure::Expired, backoff, 1)]);
        given_rule(in_flight())
            .when(acmd(AutoTopUpInput::TopUpFailed {
                top_up_id: id(1),
                reason: TopUpFailureReason::CreditRejected {
                    reason: CreditRejection::WalletSuspended,
                },
            }))
            .then(vec![failed(
                id(1),
                AutoTopUpFailure::CreditRejected {
                    reason: CreditRejection::WalletSuspended,
                },
                backoff,
                1,
            )]);
        let not_created = [observed(1, "4", true, true), started(id(1), "20")];
        let error = TopUpError::PaymentMethodRequired {
            kind: TopUpKind::Auto,
        };
        given_rule(not_created)
            .when(acmd(AutoTopUpInput::TopUpRejected {
                top_up_id: id(1),
                error: error.clone(),
            }))
            .then(vec![failed(
                id(1),
                AutoTopUpFailure::CreateRejected { error },
                backoff,
                1,
            )]);
        // Outcomes of other top-ups are not the saga's.
        given_rule(in_flight())
            .when(acmd(AutoTopUpInput::TopUpExpired { top_up_id: id(9) }))
            .then(vec![]);
    }

    #[test]
    fn failures_in_a_row_are_counted_and_a_success_resets_them() {
        let mut history = in_flight();
        history.push(failed(id(1), declined(), created_at(), 1));
        history.push(started(id(2), "20"));
        let state = given_rule(history.clone())
            .when(acmd(AutoTopUpInput::TopUpExpired { top_up_id: id(2) }))
            .then(vec![failed(
                id(2),
                AutoTopUpFailure::Expired,
                now_plus(DEFAULT_AUTO_TOP_UP_BACKOFF_MS),
                2,
            )]);
        assert_eq!(state.auto_top_up().expect("saga").consecutive_failures(), 2);
        let state = given_rule(history)
            .when(acmd(AutoTopUpInput::TopUpCompleted { top_up_id: id(2) }))
            .then(vec![Kind::AutoTopUpCompleted { top_up_id: id(2) }]);
        assert_eq!(state.auto_top_up().expect("saga").consecutive_failures(), 0);
    }
}

mod cap {
    use super::*;

    /// Three auto top-ups started (and failed) today; back-off over.
    fn three_failed() -> Vec<Kind> {
        let mut history = vec![observed(1, "4", true, true)];
        for n in 1..=3 {
            history.push(started(id(n), "20"));
            history.push(failed(id(n), declined(), created_at(), n as u32));
        }
        history
    }

    #[test]
    fn the_daily_count_stops_runaways_and_is_reported_once() {
        let (outcome, _) = given_rule(three_failed())
            .when(acmd(AutoTopUpInput::Timer))
            .then_outcome(vec![Kind::AutoTopUpCapReached {
                day: DAY,
                count: 3,
                amount: d("60"),
            }]);
        let midnight = Timestamp::from_millis((DAY + 1) * MILLIS_PER_DAY);
        assert_eq!(outcome.next_deadline, Some(midnight));
        let reported = with_kinds(
            three_failed(),
            [Kind::AutoTopUpCapReached {
                day: DAY,
                count: 3,
                amount: d("60"),
            }],
        );
        given_rule(reported.clone())
            .when(observe(2, "3"))
            .then(vec![observed(2, "3", true, true)]);
        let state = given_rule(reported)
            .when(acmd(AutoTopUpInput::Timer))
            .at(midnight)
            .then(vec![Kind::AutoTopUpStarted {
                top_up_id: fresh(0),
                amount: d("20"),
                payment_method_id: method_id(),
                fee_rate: fee(),
                timeout_ms: DEFAULT_TOP_UP_TIMEOUT_MS,
                day: DAY + 1,
            }]);
        assert_eq!(
            state.auto_top_up().expect("saga").usage().on(DAY + 1),
            (1, d("20"))
        );
    }

    #[test]
    fn the_daily_amount_stops_runaways() {
        let capped = AutoTopUpRule {
            daily_cap: DailyCap {
                max_count: 10,
                max_amount: Some(d("50")),
            },
            ..rule()
        };
        let history = [
            rule_set(capped, false, false),
            observed(1, "4", true, true),
            started(id(1), "20"),
            failed(id(1), declined(), created_at(), 1),
            started(id(2), "20"),
            failed(id(2), declined(), created_at(), 2),
        ];
        given_auto(history)
            .when(acmd(AutoTopUpInput::Timer))
            .then(vec![Kind::AutoTopUpCapReached {
                day: DAY,
                count: 2,
                amount: d("40"),
            }]);
    }
}

mod mapping {
    use super::*;
    use crate::decider::Decider;
    use crate::topup::{TopUpDecider, TopUpEvent, TopUpEventKind, TopUpOutcome, TopUpStatus};
    use crate::wallet::{CreditSource, WalletEvent, WalletEventKind};

    #[test]
    fn wallet_money_events_are_balance_observations() {
        let credited = WalletEvent {
            occurred_at: NOW,
            kind: WalletEventKind::FundsCredited {
                lot_id: id(1),
                source: CreditSource::Paid,
                amount: d("10"),
                expires_at: None,
                reference: String::new(),
                description: String::new(),
                refund_of: None,
                balance_after: d("30"),
                held_after: d("12"),
            },
        };
        assert_eq!(
            AutoTopUpCommand::from_wallet_event(wallet_id(), 7, &credited),
            Some(observe(7, "18"))
        );
        let reactivated = WalletEvent {
            occurred_at: NOW,
            kind: WalletEventKind::WalletReactivated,
        };
        assert_eq!(
            AutoTopUpCommand::from_wallet_event(wallet_id(), 8, &reactivated),
            None
        );
    }

    fn top_up_created(kind: TopUpKind) -> TopUpEvent {
        TopUpEvent {
            occurred_at: NOW,
            kind: TopUpEventKind::TopUpCreated(TopUpCreated {
                top_up_id: id(1),
                tenant: TENANT.into(),
                wallet_id: wallet_id(),
                owner: "customer-1".into(),
                kind,
                asset: usd(),
                amount: d("20"),
                wallet_amount: d("20"),
                fee_rate: fee(),
                fee: d("0.58"),
                lots_expire_at: None,
                payment_method_id: kind.uses_stored_card().then(method_id),
                payment_id: id(2),
                checkout_session_id: None,
                expires_at: deadline(),
            }),
        }
    }

    #[test]
    fn only_auto_top_ups_reach_the_wallets_saga() {
        let event = top_up_created(TopUpKind::Auto);
        let state = TopUpDecider::evolve(Default::default(), &event);
        let top_up = state.top_up().expect("top-up");
        assert_eq!(
            AutoTopUpCommand::from_top_up_event(top_up, &event),
            Some(acmd(AutoTopUpInput::TopUpCreated { top_up_id: id(1) }))
        );
        let expired = TopUpEvent {
            occurred_at: deadline(),
            kind: TopUpEventKind::TopUpExpired {
                expires_at: deadline(),
            },
        };
        assert_eq!(
            AutoTopUpCommand::from_top_up_event(top_up, &expired),
            Some(acmd(AutoTopUpInput::TopUpExpired { top_up_id: id(1) }))
        );
        let event = top_up_created(TopUpKind::ManualWithPaymentMethod);
        let state = TopUpDecider::evolve(Default::default(), &event);
        assert_eq!(
            AutoTopUpCommand::from_top_up_event(state.top_up().expect("top-up"), &event),
            None
        );
    }

    #[test]
    fn create_replies_map_to_created_or_rejected() {
        let outcome = TopUpOutcome {
            status: TopUpStatus::Created,
            payment_id: id(2),
            checkout_session_id: None,
            expires_at: deadline(),
            fee: d("0.58"),
            credited: zero(),
        };
        let created = acmd(AutoTopUpInput::TopUpCreated { top_up_id: id(1) });
        assert_eq!(
            AutoTopUpCommand::from_create_reply(wallet_id(), id(1), Ok(&outcome)),
            created
        );
        assert_eq!(
            AutoTopUpCommand::from_create_reply(
                wallet_id(),
                id(1),
                Err(&TopUpError::AlreadyExists)
            ),
            created
        );
        assert_eq!(
            AutoTopUpCommand::from_create_reply(wallet_id(), id(1), Err(&TopUpError::NotFound)),
            acmd(AutoTopUpInput::TopUpRejected {
                top_up_id: id(1),
                error: TopUpError::NotFound,
            })
        );
    }

    #[test]
    fn fingerprints_tell_rules_apart() {
        assert_eq!(set(rule()).fingerprint(), set(rule()).fingerprint());
        assert_ne!(
            set(rule()).fingerprint(),
            set(target_rule("50")).fingerprint()
        );
        assert_ne!(
            set(rule()).fingerprint(),
            set(AutoTopUpRule {
                backoff_ms: 2 * DEFAULT_AUTO_TOP_UP_BACKOFF_MS,
                ..rule()
            })
            .fingerprint()
        );
    }

    #[test]
    #[should_panic(expected = "two auto top-ups in flight")]
    fn evolve_refuses_a_second_top_up_in_flight() {
        given_rule(with_kinds(in_flight(), [started(id(2), "20")]));
    }

    #[test]
    fn event_types_are_the_stable_names() {
        assert_eq!(
            early::<AutoTopUpEvent>(failed(id(1), declined(), NOW, 1)).event_type(),
            "AutoTopUpFailed"
        );
        assert_eq!(
            early::<AutoTopUpEvent>(started(id(1), "20")).event_type(),
            "AutoTopUpStarted"
        );
    }
}
