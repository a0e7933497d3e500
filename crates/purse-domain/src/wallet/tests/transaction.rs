//! Transactions on one wallet: prepare walks the legs on the running balance, one hold covers
//! the largest drawdown, commit posts exactly the prepared legs, abort and the timer release.

use super::*;

fn txn() -> Uuid {
    id(0x7C)
}

fn other() -> Uuid {
    id(0x0E)
}

fn hold_deadline() -> Timestamp {
    now_plus(HOUR_MS)
}

fn leg(index: u32, amount: &str, entry: LegEntry) -> TransactionLeg {
    TransactionLeg {
        index,
        amount: d(amount),
        entry,
    }
}

fn issue(index: u32, amount: &str) -> TransactionLeg {
    leg(
        index,
        amount,
        LegEntry::Issue {
            source: CreditSource::Paid,
            expires_at: None,
        },
    )
}

fn redeem(index: u32, amount: &str) -> TransactionLeg {
    leg(index, amount, LegEntry::Redeem)
}

fn send(index: u32, amount: &str) -> TransactionLeg {
    leg(index, amount, LegEntry::TransferDebit { to: other() })
}

fn receive(index: u32, amount: &str) -> TransactionLeg {
    leg(index, amount, LegEntry::TransferCredit { from: other() })
}

fn prepare(legs: Vec<TransactionLeg>) -> WalletAction {
    WalletAction::PrepareTransaction {
        transaction_id: txn(),
        asset: "USD".into(),
        legs,
        expires_at: hold_deadline(),
    }
}

fn commit() -> WalletAction {
    WalletAction::CommitTransaction {
        transaction_id: txn(),
    }
}

fn abort() -> WalletAction {
    WalletAction::AbortTransaction {
        transaction_id: txn(),
    }
}

/// An open wallet holding `amount` paid (lot 1).
fn holding(amount: &str) -> Given {
    given_open([early(paid(id(1), amount, amount))])
}

fn failed(
    index: u32,
    reason: TransactionFailureReason,
    available: Option<&str>,
) -> WalletEventKind {
    WalletEventKind::TransactionPrepareFailed {
        transaction_id: txn(),
        index,
        reason,
        available: available.map(d),
    }
}

fn balances(state: &WalletState) -> (Decimal, Decimal, Decimal) {
    let wallet = state.wallet().expect("wallet");
    (wallet.balance(), wallet.held(), wallet.available())
}

fn status(state: &WalletState) -> WalletTransactionStatus {
    state
        .wallet()
        .and_then(|wallet| wallet.transaction(txn()))
        .expect("transaction known")
        .status()
}

#[test]
fn transfer_before_issue_fails_at_index_0_with_the_available_amount() {
    // W1 holds 5: [transfer 11 W1→W2, issue 6 W1] would take W1 to −6 at operation 0.
    let state = holding("5")
        .when(prepare(vec![send(0, "11"), issue(1, "6")]))
        .then(vec![failed(
            0,
            TransactionFailureReason::InsufficientFunds,
            Some("5"),
        )]);
    assert_eq!(balances(&state), (d("5"), d("0"), d("5")));
    assert_eq!(status(&state), WalletTransactionStatus::Failed);
    // The answer stands: preparing again records nothing new.
    Given { state }
        .when(prepare(vec![send(0, "11"), issue(1, "6")]))
        .then(vec![]);
}

#[test]
fn issue_before_transfer_prepares_and_commits_both_wallets() {
    // W1 holds 5: [issue 6 W1, transfer 11 W1→W2]. W1 reserves its drawdown of 5.
    let w1 = holding("5")
        .when(prepare(vec![issue(0, "6"), send(1, "11")]))
        .then(vec![WalletEventKind::TransactionHoldPlaced {
            transaction_id: txn(),
            hold_id: fresh(0),
            amount: d("5"),
            reservations: vec![draw(id(1), "5", "0")],
            legs: vec![issue(0, "6"), send(1, "11")],
            expires_at: hold_deadline(),
            balance_after: d("5"),
            held_after: d("5"),
        }]);
    assert_eq!(balances(&w1), (d("5"), d("5"), d("0")));
    let issued = transaction_lot_id(txn(), 0);
    let w1 = Given { state: w1 }
        .when(commit())
        .then(vec![WalletEventKind::TransactionPosted {
            transaction_id: txn(),
            hold_id: fresh(0),
            entries: vec![
                TransactionEntry {
                    index: 0,
                    entry_type: EntryType::Issue,
                    amount: d("6"),
                    counterparty: None,
                    lot: Some(CreditedLot {
                        lot_id: issued,
                        source: CreditSource::Paid,
                        expires_at: None,
                    }),
                    draws: vec![],
                    balance_after: d("11"),
                },
                TransactionEntry {
                    index: 1,
                    entry_type: EntryType::TransferDebit,
                    amount: d("11"),
                    counterparty: Some(other()),
                    lot: None,
                    draws: vec![draw(id(1), "5", "0"), draw(issued, "6", "0")],
                    balance_after: d("0"),
                },
            ],
            balance_after: d("0"),
            held_after: d("0"),
        }]);
    assert_eq!(balances(&w1), (d("0"), d("0"), d("0")));
    assert_eq!(status(&w1), WalletTransactionStatus::Committed);

    // W2 holds 7 and only receives: a zero hold, then 18.
    let w2 = holding("7")
        .when(prepare(vec![receive(1, "11")]))
        .then_outcome_any_state();
    assert_eq!(balances(&w2), (d("7"), d("0"), d("7")));
    let w2 = Given { state: w2 }.when(commit()).then_outcome_any_state();
    assert_eq!(balances(&w2), (d("18"), d("0"), d("18")));
    let lot = w2
        .wallet()
        .and_then(|wallet| wallet.lot(transaction_lot_id(txn(), 1)))
        .expect("transfer lot");
    assert_eq!(lot.source(), CreditSource::Transfer);
}

#[test]
fn the_hold_is_the_largest_running_drawdown() {
    // Running change: −3, +2, −6, −5, −7 → reserve 7 of 10.
    let legs = vec![
        redeem(0, "3"),
        issue(1, "5"),
        redeem(2, "8"),
        issue(3, "1"),
        redeem(4, "2"),
    ];
    let state = holding("10").when(prepare(legs)).then_outcome_any_state();
    assert_eq!(balances(&state), (d("10"), d("7"), d("3")));
    let state = Given { state }.when(commit()).then_outcome_any_state();
    assert_eq!(balances(&state), (d("3"), d("0"), d("3")));
}

#[test]
fn holds_count_what_a_step_may_spend_is_available_plus_earlier_credits() {
    // 10 with 4 held elsewhere: 6 available, plus the 2 issued first = 8 at the redeem.
    let state = given_open([
        early(paid(id(1), "10", "10")),
        early(placed(
            id(2),
            "4",
            vec![draw(id(1), "4", "6")],
            hold_deadline(),
            "10",
            "4",
        )),
    ])
    .when(prepare(vec![issue(0, "2"), redeem(1, "9")]))
    .then(vec![failed(
        1,
        TransactionFailureReason::InsufficientFunds,
        Some("8"),
    )]);
    assert_eq!(balances(&state), (d("10"), d("4"), d("6")));
}

#[test]
fn abort_releases_the_hold_and_everything_is_idempotent() {
    let state = holding("10")
        .when(prepare(vec![redeem(0, "4")]))
        .then_outcome_any_state();
    assert_eq!(balances(&state), (d("10"), d("4"), d("6")));
    // Preparing again: nothing new.
    let state = Given { state }
        .when(prepare(vec![redeem(0, "4")]))
        .then(vec![]);
    let state =
        Given { state }
            .when(abort())
            .then(vec![WalletEventKind::TransactionHoldReleased {
                transaction_id: txn(),
                hold_id: fresh(0),
                amount: d("4"),
                balance_after: d("10"),
                held_after: d("0"),
            }]);
    assert_eq!(balances(&state), (d("10"), d("0"), d("10")));
    assert_eq!(status(&state), WalletTransactionStatus::Aborted);
    let state = Given { state }.when(abort()).then(vec![]);
    Given {
        state: state.clone(),
    }
    .when(commit())
    .then_error(WalletError::TransactionNotPrepared {
        status: WalletTransactionStatus::Aborted,
    });
    // A prepare after the abort does not reserve again.
    Given { state }
        .when(prepare(vec![redeem(0, "4")]))
        .then(vec![]);
}

#[test]
fn commit_twice_posts_once_and_abort_after_commit_is_refused() {
    let state = holding("10")
        .when(prepare(vec![redeem(0, "4")]))
        .then_outcome_any_state();
    let state = Given { state }.when(commit()).then_outcome_any_state();
    assert_eq!(balances(&state), (d("6"), d("0"), d("6")));
    let state = Given { state }.when(commit()).then(vec![]);
    Given { state }
        .when(abort())
        .then_error(WalletError::TransactionNotPrepared {
            status: WalletTransactionStatus::Committed,
        });
}

#[test]
fn commit_of_an_unknown_transaction_is_refused_and_abort_is_a_no_op() {
    holding("10")
        .when(commit())
        .then_error(WalletError::TransactionNotFound);
    holding("10").when(abort()).then(vec![]);
}

#[test]
fn an_orphaned_hold_is_released_by_the_wallet_timer() {
    let state = holding("10")
        .when(prepare(vec![redeem(0, "4")]))
        .then_outcome_any_state();
    assert_eq!(
        WalletDecider::next_deadline(&state, &TimerSettings::default()),
        Some(hold_deadline())
    );
    let state = Given {
        state: state.clone(),
    }
    .when(tick())
    .at(hold_deadline())
    .then(vec![released(
        fresh(0),
        "4",
        HoldReleaseReason::Expired,
        "10",
        "0",
    )]);
    assert_eq!(status(&state), WalletTransactionStatus::Expired);
    Given { state }
        .when(commit())
        .at(hold_deadline())
        .then_error(WalletError::TransactionNotPrepared {
            status: WalletTransactionStatus::Expired,
        });
}

#[test]
fn a_transaction_hold_is_not_the_clients_to_void() {
    let state = holding("10")
        .when(prepare(vec![redeem(0, "4")]))
        .then_outcome_any_state();
    Given { state }
        .when(WalletAction::VoidHold { hold_id: fresh(0) })
        .then_error(WalletError::HoldOwnedByTransaction {
            transaction_id: txn(),
        });
}

#[test]
fn status_asset_and_limits_fail_at_the_right_leg() {
    given_open([
        early(paid(id(1), "10", "10")),
        early(WalletEventKind::WalletSuspended {
            reason: String::new(),
        }),
    ])
    .when(prepare(vec![issue(3, "1"), redeem(5, "1")]))
    .then(vec![failed(
        3,
        TransactionFailureReason::WalletSuspended,
        None,
    )]);

    holding("10")
        .when(WalletAction::PrepareTransaction {
            transaction_id: txn(),
            asset: "EUR".into(),
            legs: vec![redeem(2, "1")],
            expires_at: hold_deadline(),
        })
        .then(vec![failed(
            2,
            TransactionFailureReason::AssetMismatch,
            None,
        )]);

    let limits = Limits {
        max_balance: Some(d("20")),
        ..Limits::default()
    };
    given([early(opened_with(limits)), early(paid(id(1), "10", "10"))])
        .when(prepare(vec![issue(0, "8"), redeem(1, "5"), issue(2, "8")]))
        .then(vec![failed(
            2,
            TransactionFailureReason::LimitExceeded,
            None,
        )]);

    holding("10")
        .when(prepare(vec![redeem(0, "1.005")]))
        .then(vec![failed(
            0,
            TransactionFailureReason::InvalidAmount,
            None,
        )]);
}

#[test]
fn daily_limit_counts_the_transactions_debits_together() {
    let limits = Limits {
        daily_debit_limit: Some(d("10")),
        ..Limits::default()
    };
    given([early(opened_with(limits)), early(paid(id(1), "50", "50"))])
        .when(prepare(vec![redeem(0, "6"), issue(1, "1"), redeem(2, "5")]))
        .then(vec![failed(
            2,
            TransactionFailureReason::LimitExceeded,
            None,
        )]);
}

#[test]
fn closed_and_missing_wallets_are_rejections_with_a_reason() {
    given([])
        .when(prepare(vec![redeem(0, "1")]))
        .then_error(WalletError::NotFound);
    assert_eq!(
        TransactionFailureReason::of(&WalletError::NotFound),
        Some(TransactionFailureReason::WalletNotFound)
    );
    assert_eq!(
        TransactionFailureReason::of(&WalletError::Closed),
        Some(TransactionFailureReason::WalletClosed)
    );
    holding("10")
        .when(prepare(vec![redeem(1, "1"), redeem(1, "1")]))
        .then_error(WalletError::InvalidTransactionLegs {
            max: MAX_TRANSACTION_LEGS,
        });
}

#[test]
fn credits_leave_room_under_the_ceiling_for_prepared_transaction_credits() {
    // Points at scale 13 top out at 10^15.
    let points = crate::money::Asset::parse("points", Some(13)).expect("points");
    let opened = WalletEventKind::WalletOpened {
        wallet_id: wallet_id(),
        tenant: TENANT.into(),
        owner: "customer-1".into(),
        kind: WalletKind::Customer,
        asset: points,
        limits: Limits::default(),
        metadata: BTreeMap::new(),
    };
    let state = given([early(opened)])
        .when(WalletAction::PrepareTransaction {
            transaction_id: txn(),
            asset: "points".into(),
            legs: vec![issue(0, "600000000000000")],
            expires_at: hold_deadline(),
        })
        .then_outcome_any_state();
    Given { state }.when(credit("500000000000000")).then_error(
        WalletError::BalanceCeilingExceeded {
            ceiling: d("1000000000000000"),
        },
    );
}
