//! Limits: max balance, per transaction, daily debits, velocity, and changing them.

use super::*;

fn with_limits(limits: Limits, history: impl IntoIterator<Item = WalletEvent>) -> Given {
    given(std::iter::once(early(opened_with(limits))).chain(history))
}

fn exceeded(limit: LimitKind, limit_value: &str) -> WalletError {
    WalletError::LimitExceeded {
        limit,
        limit_value: limit_value.into(),
    }
}

#[test]
fn max_balance_rejects_a_credit_that_would_exceed_it() {
    let limits = Limits {
        max_balance: Some(d("100")),
        ..Limits::default()
    };
    let history = || with_limits(limits.clone(), [early(paid(id(1), "60", "60"))]);
    history()
        .when(credit("40.01"))
        .then_error(exceeded(LimitKind::MaxBalance, "100.00"));
    history()
        .when(credit("40"))
        .then(vec![paid(fresh(0), "40", "100")]);
}

#[test]
fn max_balance_never_rejects_a_refund() {
    let limits = Limits {
        max_balance: Some(d("100")),
        ..Limits::default()
    };
    with_limits(
        limits,
        [
            early(paid(id(1), "100", "100")),
            early(debited(
                id(2),
                "30",
                vec![draw(id(1), "30", "70")],
                "70",
                "0",
            )),
            early(paid(id(3), "30", "100")),
        ],
    )
    .when(refund(id(2), "30"))
    .then(vec![WalletEventKind::FundsCredited {
        lot_id: fresh(0),
        source: CreditSource::Refund,
        amount: d("30"),
        expires_at: None,
        reference: String::new(),
        description: String::new(),
        refund_of: Some(id(2)),
        balance_after: d("130"),
        held_after: d("0"),
    }]);
}

#[test]
fn per_transaction_max_applies_to_debits_and_holds_only() {
    let limits = Limits {
        per_transaction_max: Some(d("25")),
        ..Limits::default()
    };
    let history = || with_limits(limits.clone(), [early(paid(id(1), "100", "100"))]);
    history()
        .when(debit("25.01"))
        .then_error(exceeded(LimitKind::PerTransaction, "25.00"));
    history()
        .when(place_hold("26", now_plus(HOUR_MS)))
        .then_error(exceeded(LimitKind::PerTransaction, "25.00"));
    history().when(debit("25")).then(vec![debited(
        fresh(0),
        "25",
        vec![draw(id(1), "25", "75")],
        "75",
        "0",
    )]);
    history()
        .when(credit("50"))
        .then(vec![paid(fresh(0), "50", "150")]);
}

fn daily_limited(history: impl IntoIterator<Item = WalletEvent>) -> Given {
    let limits = Limits {
        daily_debit_limit: Some(d("50")),
        ..Limits::default()
    };
    with_limits(
        limits,
        std::iter::once(early(paid(id(1), "200", "200"))).chain(history),
    )
}

#[test]
fn daily_limit_counts_debits_and_hold_placements_of_the_utc_day() {
    let history = || {
        daily_limited([
            early(debited(
                id(2),
                "20",
                vec![draw(id(1), "20", "180")],
                "180",
                "0",
            )),
            early(placed(
                id(3),
                "20",
                vec![draw(id(1), "20", "160")],
                now_plus(HOUR_MS),
                "180",
                "20",
            )),
        ])
    };
    history()
        .when(debit("10.01"))
        .then_error(exceeded(LimitKind::DailyDebit, "50.00"));
    history()
        .when(place_hold("10.01", now_plus(HOUR_MS)))
        .then_error(exceeded(LimitKind::DailyDebit, "50.00"));
    history().when(debit("10")).then(vec![debited(
        fresh(0),
        "10",
        vec![draw(id(1), "10", "170")],
        "170",
        "20",
    )]);
}

#[test]
fn daily_limit_resets_at_utc_midnight() {
    let history = || {
        daily_limited([at(
            Timestamp::from_millis(DAY0 + 23 * HOUR_MS),
            debited(id(2), "50", vec![draw(id(1), "50", "150")], "150", "0"),
        )])
    };
    history()
        .when(debit("1"))
        .at(Timestamp::from_millis(DAY0 + 24 * HOUR_MS - 1))
        .then_error(exceeded(LimitKind::DailyDebit, "50.00"));
    history()
        .when(debit("50"))
        .at(Timestamp::from_millis(DAY0 + 24 * HOUR_MS))
        .then(vec![debited(
            fresh(0),
            "50",
            vec![draw(id(1), "50", "100")],
            "100",
            "0",
        )]);
}

#[test]
fn a_capture_does_not_count_again_against_the_daily_limit() {
    let state = daily_limited([early(placed(
        id(3),
        "50",
        vec![draw(id(1), "50", "150")],
        now_plus(HOUR_MS),
        "200",
        "50",
    ))])
    .when(capture(id(3), "50"))
    .then(vec![WalletEventKind::HoldCaptured {
        hold_id: id(3),
        debit_id: fresh(0),
        amount: d("50"),
        draws: vec![draw(id(1), "50", "150")],
        released: d("0"),
        balance_after: d("150"),
        held_after: d("0"),
    }]);
    // The day's 50 was used by the placement alone.
    Given { state }
        .when(debit("0.01"))
        .then_error(exceeded(LimitKind::DailyDebit, "50.00"));
}

fn velocity_limited(history: impl IntoIterator<Item = WalletEvent>) -> Given {
    let limits = Limits {
        velocity: Some(VelocityLimit {
            max_operations: 3,
            window_ms: 60_000,
        }),
        ..Limits::default()
    };
    with_limits(limits, history)
}

#[test]
fn velocity_allows_n_money_operations_per_window() {
    let ops = || {
        velocity_limited([
            at(now_plus(-50_000), paid(id(1), "10", "10")),
            at(
                now_plus(-40_000),
                placed(
                    id(2),
                    "2",
                    vec![draw(id(1), "2", "8")],
                    now_plus(HOUR_MS),
                    "10",
                    "2",
                ),
            ),
            at(
                now_plus(-30_000),
                released(id(2), "2", HoldReleaseReason::Void, "10", "0"),
            ),
        ])
    };
    for action in [
        credit("1"),
        debit("1"),
        place_hold("1", now_plus(HOUR_MS)),
        refund(id(9), "1"),
    ] {
        ops()
            .when(action)
            .then_error(exceeded(LimitKind::Velocity, "3 per 60000 ms"));
    }
    // The oldest operation leaves the trailing window exactly window_ms later.
    ops()
        .when(debit("1"))
        .at(now_plus(10_000))
        .then(vec![debited(
            fresh(0),
            "1",
            vec![draw(id(1), "1", "9")],
            "9",
            "0",
        )]);
}

#[test]
fn velocity_counts_captures_and_voids_too() {
    let history = || {
        velocity_limited([
            at(now_plus(-50_000), paid(id(1), "10", "10")),
            at(
                now_plus(-40_000),
                placed(
                    id(2),
                    "2",
                    vec![draw(id(1), "2", "8")],
                    now_plus(HOUR_MS),
                    "10",
                    "2",
                ),
            ),
            at(
                now_plus(-30_000),
                placed(
                    id(3),
                    "2",
                    vec![draw(id(1), "2", "6")],
                    now_plus(HOUR_MS),
                    "10",
                    "4",
                ),
            ),
        ])
    };
    history()
        .when(capture(id(2), "1"))
        .then_error(exceeded(LimitKind::Velocity, "3 per 60000 ms"));
    history()
        .when(WalletAction::VoidHold { hold_id: id(2) })
        .then_error(exceeded(LimitKind::Velocity, "3 per 60000 ms"));
}

#[test]
fn ticks_never_count_and_are_never_limited() {
    let state = velocity_limited([
        at(now_plus(-50_000), paid(id(1), "10", "10")),
        at(
            now_plus(-40_000),
            placed(
                id(2),
                "2",
                vec![draw(id(1), "2", "8")],
                now_plus(-1),
                "10",
                "2",
            ),
        ),
        at(now_plus(-30_000), paid_held(id(3), "1", "11", "2")),
    ])
    .when(tick())
    .then(vec![released(
        id(2),
        "2",
        HoldReleaseReason::Expired,
        "11",
        "0",
    )]);
    // The release by the timer did not use up an operation: still 3 in the window.
    Given { state }
        .when(credit("1"))
        .at(now_plus(10_000))
        .then(vec![paid(fresh(0), "1", "12")]);
}

#[test]
fn rejected_operations_do_not_count() {
    let state = velocity_limited([
        at(now_plus(-50_000), paid(id(1), "10", "10")),
        at(now_plus(-40_000), paid(id(2), "10", "20")),
    ])
    .state;
    let ctx = Context::new(NOW, (0..4).map(fresh).collect());
    let command = WalletCommand {
        tenant: TENANT.into(),
        wallet_id: wallet_id(),
        action: debit("100"),
    };
    assert!(WalletDecider::decide(&state, &command, &ctx).is_err());
    Given { state }
        .when(credit("1"))
        .then(vec![paid(fresh(0), "1", "21")]);
}

#[test]
fn update_limits_validates_and_replaces_them() {
    let limits = Limits {
        max_balance: Some(d("100")),
        daily_debit_limit: Some(d("20")),
        per_transaction_max: Some(d("5")),
        velocity: Some(VelocityLimit {
            max_operations: 10,
            window_ms: 1_000,
        }),
        low_balance_threshold: Some(d("2")),
    };
    let state = given_open([])
        .when(WalletAction::UpdateLimits {
            limits: limits.clone(),
        })
        .then(vec![WalletEventKind::LimitsChanged {
            limits: limits.clone(),
        }]);
    assert_eq!(state.wallet().map(Wallet::limits), Some(&limits));
    given_open([])
        .when(WalletAction::UpdateLimits {
            limits: Limits {
                max_balance: Some(d("0.001")),
                ..Limits::default()
            },
        })
        .then_error(WalletError::InvalidAmount {
            field: "limits.max_balance".into(),
            error: crate::money::AmountError::TooManyDecimals { max_scale: 2 },
        });
    given_open([])
        .when(WalletAction::UpdateLimits {
            limits: Limits {
                velocity: Some(VelocityLimit {
                    max_operations: 0,
                    window_ms: 1,
                }),
                ..Limits::default()
            },
        })
        .then_error(WalletError::InvalidVelocity);
}

#[test]
fn a_lowered_max_balance_only_blocks_further_credits() {
    let state = given_open([early(paid(id(1), "50", "50"))])
        .when(WalletAction::UpdateLimits {
            limits: Limits {
                max_balance: Some(d("10")),
                ..Limits::default()
            },
        })
        .then(vec![WalletEventKind::LimitsChanged {
            limits: Limits {
                max_balance: Some(d("10")),
                ..Limits::default()
            },
        }]);
    Given {
        state: state.clone(),
    }
    .when(credit("1"))
    .then_error(exceeded(LimitKind::MaxBalance, "10.00"));
    Given { state }.when(debit("45")).then(vec![debited(
        fresh(0),
        "45",
        vec![draw(id(1), "45", "5")],
        "5",
        "0",
    )]);
}
