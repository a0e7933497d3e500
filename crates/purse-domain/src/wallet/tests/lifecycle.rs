//! Opening, tenancy, suspension, reactivation and closing.

use super::*;

fn open_action(owner: &str, metadata: BTreeMap<String, String>, limits: Limits) -> WalletAction {
    WalletAction::Open {
        owner: owner.into(),
        kind: WalletKind::Customer,
        asset: usd(),
        limits,
        metadata,
    }
}

fn open_default() -> WalletAction {
    open_action("customer-1", BTreeMap::new(), Limits::default())
}

fn metadata(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

#[test]
fn open_creates_an_open_wallet() {
    let state = given([]).when(open_default()).then(vec![opened()]);
    let wallet = state.wallet().expect("opened");
    assert_eq!(wallet.id(), wallet_id());
    assert_eq!(wallet.tenant(), TENANT);
    assert_eq!(wallet.owner(), "customer-1");
    assert_eq!(wallet.status(), WalletStatus::Open);
    assert_eq!(wallet.created_at(), NOW);
    assert_eq!(wallet.balance(), Decimal::ZERO);
    assert_eq!(wallet.asset().code(), "USD");
}

#[test]
fn open_of_an_existing_wallet_is_already_exists() {
    given_open([])
        .when(open_default())
        .then_error(WalletError::AlreadyExists);
}

#[test]
fn only_open_is_accepted_before_the_wallet_exists() {
    given([])
        .when(credit("1"))
        .then_error(WalletError::NotFound);
    given([]).when(tick()).then_error(WalletError::NotFound);
    given([])
        .when(WalletAction::Close)
        .then_error(WalletError::NotFound);
}

#[test]
fn another_tenant_cannot_see_the_wallet() {
    for action in [
        credit("1"),
        debit("1"),
        tick(),
        open_default(),
        WalletAction::Close,
    ] {
        given_open([early(paid(id(1), "5", "5"))])
            .when_command(WalletCommand {
                tenant: "globex".into(),
                wallet_id: wallet_id(),
                action,
            })
            .then_error(WalletError::NotFound);
    }
}

#[test]
fn system_wallets_follow_the_same_rules() {
    let open_system = WalletAction::Open {
        owner: "fees".into(),
        kind: WalletKind::System,
        asset: usd(),
        limits: Limits::default(),
        metadata: BTreeMap::new(),
    };
    let state = given([])
        .when(open_system)
        .then(vec![WalletEventKind::WalletOpened {
            wallet_id: wallet_id(),
            tenant: TENANT.into(),
            owner: "fees".into(),
            kind: WalletKind::System,
            asset: usd(),
            limits: Limits::default(),
            metadata: BTreeMap::new(),
        }]);
    assert_eq!(state.wallet().map(Wallet::kind), Some(WalletKind::System));
    Given { state }
        .when(debit("1"))
        .then_error(WalletError::InsufficientFunds { available: d("0") });
}

#[test]
fn open_requires_an_owner_within_bounds() {
    given([])
        .when(open_action("", BTreeMap::new(), Limits::default()))
        .then_error(WalletError::InvalidText {
            field: "owner".into(),
            max_bytes: MAX_OWNER_BYTES,
        });
    given([])
        .when(open_action(
            &"o".repeat(MAX_OWNER_BYTES + 1),
            BTreeMap::new(),
            Limits::default(),
        ))
        .then_error(WalletError::InvalidText {
            field: "owner".into(),
            max_bytes: MAX_OWNER_BYTES,
        });
    given([])
        .when(open_action(
            &"o".repeat(MAX_OWNER_BYTES),
            BTreeMap::new(),
            Limits::default(),
        ))
        .then(vec![WalletEventKind::WalletOpened {
            wallet_id: wallet_id(),
            tenant: TENANT.into(),
            owner: "o".repeat(MAX_OWNER_BYTES),
            kind: WalletKind::Customer,
            asset: usd(),
            limits: Limits::default(),
            metadata: BTreeMap::new(),
        }]);
}

#[test]
fn open_requires_a_tenant() {
    given([])
        .when_command(WalletCommand {
            tenant: String::new(),
            wallet_id: wallet_id(),
            action: open_default(),
        })
        .then_error(WalletError::InvalidText {
            field: "tenant".into(),
            max_bytes: MAX_TENANT_BYTES,
        });
}

#[test]
fn metadata_is_bounded() {
    let invalid = |metadata, error| {
        given([])
            .when(open_action("c", metadata, Limits::default()))
            .then_error(WalletError::InvalidMetadata { error });
    };
    let many: BTreeMap<_, _> = (0..=MAX_METADATA_ENTRIES)
        .map(|n| (format!("k{n}"), String::new()))
        .collect();
    invalid(
        many,
        MetadataError::TooManyEntries {
            max: MAX_METADATA_ENTRIES,
        },
    );
    invalid(metadata(&[("", "v")]), MetadataError::EmptyKey);
    let long_key = "k".repeat(MAX_METADATA_KEY_BYTES + 1);
    invalid(
        metadata(&[(&long_key, "v")]),
        MetadataError::KeyTooLong {
            max: MAX_METADATA_KEY_BYTES,
        },
    );
    let long_value = "v".repeat(MAX_METADATA_VALUE_BYTES + 1);
    invalid(
        metadata(&[("k", &long_value)]),
        MetadataError::ValueTooLong {
            max: MAX_METADATA_VALUE_BYTES,
        },
    );
}

#[test]
fn metadata_at_its_bounds_is_accepted() {
    let mut at_bounds: BTreeMap<_, _> = (1..MAX_METADATA_ENTRIES)
        .map(|n| (format!("k{n}"), String::new()))
        .collect();
    at_bounds.insert(
        "k".repeat(MAX_METADATA_KEY_BYTES),
        "v".repeat(MAX_METADATA_VALUE_BYTES),
    );
    assert_eq!(at_bounds.len(), MAX_METADATA_ENTRIES);
    let state = given([])
        .when(open_action("c", at_bounds.clone(), Limits::default()))
        .then(vec![WalletEventKind::WalletOpened {
            wallet_id: wallet_id(),
            tenant: TENANT.into(),
            owner: "c".into(),
            kind: WalletKind::Customer,
            asset: usd(),
            limits: Limits::default(),
            metadata: at_bounds.clone(),
        }]);
    assert_eq!(state.wallet().map(Wallet::metadata), Some(&at_bounds));
}

#[test]
fn open_validates_limit_amounts_against_the_asset() {
    let cases = [
        (
            Limits {
                max_balance: Some(d("0")),
                ..Limits::default()
            },
            "limits.max_balance",
            crate::money::AmountError::NotPositive,
        ),
        (
            Limits {
                daily_debit_limit: Some(d("1.001")),
                ..Limits::default()
            },
            "limits.daily_debit_limit",
            crate::money::AmountError::TooManyDecimals { max_scale: 2 },
        ),
        (
            Limits {
                per_transaction_max: Some(d("-5")),
                ..Limits::default()
            },
            "limits.per_transaction_max",
            crate::money::AmountError::NotPositive,
        ),
        (
            Limits {
                low_balance_threshold: Some(d("1000000000000001")),
                ..Limits::default()
            },
            "limits.low_balance_threshold",
            crate::money::AmountError::TooLarge,
        ),
    ];
    for (limits, field, error) in cases {
        given([])
            .when(open_action("c", BTreeMap::new(), limits))
            .then_error(WalletError::InvalidAmount {
                field: field.into(),
                error,
            });
    }
}

#[test]
fn open_validates_the_velocity_limit() {
    for (max_operations, window_ms) in [
        (0, 60_000),
        (5, 0),
        (5, -1),
        (MAX_VELOCITY_OPERATIONS + 1, 60_000),
        (5, MAX_VELOCITY_WINDOW_MS + 1),
    ] {
        let limits = Limits {
            velocity: Some(VelocityLimit {
                max_operations,
                window_ms,
            }),
            ..Limits::default()
        };
        given([])
            .when(open_action("c", BTreeMap::new(), limits))
            .then_error(WalletError::InvalidVelocity);
    }
}

#[test]
fn suspend_then_reactivate() {
    let state = given_open([])
        .when(WalletAction::Suspend {
            reason: "chargeback review".into(),
        })
        .then(vec![WalletEventKind::WalletSuspended {
            reason: "chargeback review".into(),
        }]);
    assert_eq!(
        state.wallet().map(Wallet::status),
        Some(WalletStatus::Suspended)
    );
    let state = Given { state }
        .when(WalletAction::Reactivate)
        .then(vec![WalletEventKind::WalletReactivated]);
    assert_eq!(state.wallet().map(Wallet::status), Some(WalletStatus::Open));
}

#[test]
fn suspend_reason_is_bounded() {
    given_open([])
        .when(WalletAction::Suspend {
            reason: "r".repeat(MAX_TEXT_BYTES + 1),
        })
        .then_error(WalletError::InvalidText {
            field: "reason".into(),
            max_bytes: MAX_TEXT_BYTES,
        });
}

#[test]
fn invalid_transitions_are_rejected() {
    given_open([])
        .when(WalletAction::Reactivate)
        .then_error(WalletError::InvalidTransition {
            from: WalletStatus::Open,
        });
    given_open([early(WalletEventKind::WalletSuspended {
        reason: String::new(),
    })])
    .when(WalletAction::Suspend {
        reason: String::new(),
    })
    .then_error(WalletError::InvalidTransition {
        from: WalletStatus::Suspended,
    });
}

fn suspended_with_hold() -> Given {
    given_open([
        early(paid(id(1), "10", "10")),
        early(debited(id(3), "2", vec![draw(id(1), "2", "8")], "8", "0")),
        early(placed(
            id(2),
            "5",
            vec![draw(id(1), "5", "3")],
            now_plus(HOUR_MS),
            "8",
            "5",
        )),
        early(WalletEventKind::WalletSuspended {
            reason: String::new(),
        }),
    ])
}

#[test]
fn a_suspended_wallet_moves_no_money() {
    for action in [
        credit("1"),
        debit("1"),
        refund(id(3), "1"),
        place_hold("1", now_plus(HOUR_MS)),
        capture(id(2), "1"),
    ] {
        suspended_with_hold()
            .when(action)
            .then_error(WalletError::Suspended);
    }
}

#[test]
fn a_suspended_wallet_still_voids_runs_timers_and_takes_limits() {
    suspended_with_hold()
        .when(WalletAction::VoidHold { hold_id: id(2) })
        .then(vec![released(
            id(2),
            "5",
            HoldReleaseReason::Void,
            "8",
            "0",
        )]);
    suspended_with_hold()
        .when(tick())
        .at(now_plus(HOUR_MS))
        .then(vec![released(
            id(2),
            "5",
            HoldReleaseReason::Expired,
            "8",
            "0",
        )]);
    let limits = Limits {
        max_balance: Some(d("100")),
        ..Limits::default()
    };
    suspended_with_hold()
        .when(WalletAction::UpdateLimits {
            limits: limits.clone(),
        })
        .then(vec![WalletEventKind::LimitsChanged { limits }]);
}

#[test]
fn close_needs_zero_balance_and_no_active_holds() {
    suspended_with_hold()
        .when(WalletAction::Close)
        .then_error(WalletError::OpenHolds { count: 1 });
    given_open([early(paid(id(1), "10", "10"))])
        .when(WalletAction::Close)
        .then_error(WalletError::BalanceNotZero { balance: d("10") });
    let state = given_open([
        early(paid(id(1), "10", "10")),
        early(debited(id(2), "10", vec![draw(id(1), "10", "0")], "0", "0")),
    ])
    .when(WalletAction::Close)
    .then(vec![WalletEventKind::WalletClosed]);
    assert_eq!(
        state.wallet().map(Wallet::status),
        Some(WalletStatus::Closed)
    );
}

#[test]
fn close_from_suspended_is_allowed() {
    given_open([early(WalletEventKind::WalletSuspended {
        reason: String::new(),
    })])
    .when(WalletAction::Close)
    .then(vec![WalletEventKind::WalletClosed]);
}

#[test]
fn closed_is_final_except_for_timers() {
    let closed = || given_open([early(WalletEventKind::WalletClosed)]);
    for action in [
        credit("1"),
        debit("1"),
        refund(id(3), "1"),
        place_hold("1", now_plus(HOUR_MS)),
        capture(id(2), "1"),
        WalletAction::VoidHold { hold_id: id(2) },
        WalletAction::UpdateLimits {
            limits: Limits::default(),
        },
        WalletAction::Suspend {
            reason: String::new(),
        },
        WalletAction::Reactivate,
        WalletAction::Close,
    ] {
        closed().when(action).then_error(WalletError::Closed);
    }
    closed()
        .when(open_default())
        .then_error(WalletError::AlreadyExists);
    closed().when(tick()).then(vec![]);
}
