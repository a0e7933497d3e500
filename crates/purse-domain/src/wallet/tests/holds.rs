//! Holds: placement, capture (full and partial), void, deadlines, and the lots they reserve.

use super::*;

fn hold_deadline() -> Timestamp {
    now_plus(HOUR_MS)
}

/// 10 paid (lot 1), 6 granted expiring at NOW + 10 days (lot 2, beyond the notice lead); hold 3
/// of 8 reserving 6 from lot 2 and 2 from lot 1.
fn with_hold() -> Given {
    given_open([
        early(paid(id(1), "10", "10")),
        early(credited(
            id(2),
            "6",
            CreditSource::Granted,
            Some(now_plus(10 * MILLIS_PER_DAY)),
            "16",
        )),
        early(placed(
            id(3),
            "8",
            vec![draw(id(2), "6", "0"), draw(id(1), "2", "8")],
            hold_deadline(),
            "16",
            "8",
        )),
    ])
}

#[test]
fn a_hold_reserves_lots_in_consumption_order() {
    let state = given_open([
        early(paid(id(1), "10", "10")),
        early(credited(
            id(2),
            "6",
            CreditSource::Granted,
            Some(now_plus(MILLIS_PER_DAY)),
            "16",
        )),
    ])
    .when(WalletAction::PlaceHold {
        amount: d("8"),
        expires_at: hold_deadline(),
        reference: "auth-1".into(),
        description: "fuel".into(),
    })
    .then(vec![WalletEventKind::HoldPlaced {
        hold_id: fresh(0),
        amount: d("8"),
        reservations: vec![draw(id(2), "6", "0"), draw(id(1), "2", "8")],
        expires_at: hold_deadline(),
        reference: "auth-1".into(),
        description: "fuel".into(),
        balance_after: d("16"),
        held_after: d("8"),
    }]);
    let wallet = state.wallet().expect("wallet");
    assert_eq!(
        (wallet.balance(), wallet.held(), wallet.available()),
        (d("16"), d("8"), d("8"))
    );
    assert_eq!(wallet.hold_status(fresh(0)), Some(HoldStatus::Active));
    assert_eq!(wallet.lot(id(1)).map(Lot::reserved), Some(d("2")));
}

#[test]
fn a_hold_needs_available_funds() {
    with_hold()
        .when(place_hold("8.01", hold_deadline()))
        .then_error(WalletError::InsufficientFunds { available: d("8") });
}

#[test]
fn a_hold_deadline_is_in_the_future_and_at_most_30_days_away() {
    given_open([early(paid(id(1), "10", "10"))])
        .when(place_hold("1", NOW))
        .then_error(WalletError::ExpiryNotInFuture {
            field: "expires_at".into(),
        });
    given_open([early(paid(id(1), "10", "10"))])
        .when(place_hold("1", now_plus(MAX_HOLD_DURATION_MS + 1)))
        .then_error(WalletError::HoldTooLong {
            max_ms: MAX_HOLD_DURATION_MS,
        });
    given_open([early(paid(id(1), "10", "10"))])
        .when(place_hold("1", now_plus(MAX_HOLD_DURATION_MS)))
        .then(vec![placed(
            fresh(0),
            "1",
            vec![draw(id(1), "1", "9")],
            now_plus(MAX_HOLD_DURATION_MS),
            "10",
            "1",
        )]);
}

#[test]
fn a_full_capture_debits_the_reserved_lots() {
    let (outcome, state) =
        with_hold()
            .when(capture(id(3), "8"))
            .then_outcome(vec![WalletEventKind::HoldCaptured {
                hold_id: id(3),
                debit_id: fresh(0),
                amount: d("8"),
                draws: vec![draw(id(2), "6", "0"), draw(id(1), "2", "8")],
                released: d("0"),
                balance_after: d("8"),
                held_after: d("0"),
            }]);
    assert_eq!(outcome.entry_id, Some(fresh(0)));
    let wallet = state.wallet().expect("wallet");
    assert_eq!(wallet.hold_status(id(3)), Some(HoldStatus::Captured));
    assert_eq!(wallet.holds().count(), 0);
    assert_eq!(wallet.refundable(fresh(0)), Some(d("8")));
    // The emptied lot left the state.
    assert!(wallet.lot(id(2)).is_none());
}

#[test]
fn a_partial_capture_releases_the_rest() {
    let state = with_hold()
        .when(capture(id(3), "7"))
        .then(vec![WalletEventKind::HoldCaptured {
            hold_id: id(3),
            debit_id: fresh(0),
            amount: d("7"),
            draws: vec![draw(id(2), "6", "0"), draw(id(1), "1", "9")],
            released: d("1"),
            balance_after: d("9"),
            held_after: d("0"),
        }]);
    let wallet = state.wallet().expect("wallet");
    assert_eq!((wallet.balance(), wallet.available()), (d("9"), d("9")));
    assert_eq!(wallet.lot(id(1)).map(Lot::reserved), Some(d("0")));
    Given { state }
        .when(capture(id(3), "1"))
        .then_error(WalletError::HoldNotActive {
            status: HoldStatus::Captured,
        });
}

#[test]
fn a_capture_cannot_exceed_the_hold() {
    with_hold()
        .when(capture(id(3), "8.01"))
        .then_error(WalletError::CaptureExceedsHold { held: d("8") });
}

#[test]
fn unknown_holds_are_not_found() {
    with_hold()
        .when(capture(id(99), "1"))
        .then_error(WalletError::HoldNotFound);
    with_hold()
        .when(WalletAction::VoidHold { hold_id: id(99) })
        .then_error(WalletError::HoldNotFound);
}

#[test]
fn a_void_releases_everything() {
    let (outcome, state) = with_hold()
        .when(WalletAction::VoidHold { hold_id: id(3) })
        .then_outcome(vec![released(
            id(3),
            "8",
            HoldReleaseReason::Void,
            "16",
            "0",
        )]);
    assert_eq!(outcome.entry_id, Some(id(3)));
    let wallet = state.wallet().expect("wallet");
    assert_eq!((wallet.balance(), wallet.held()), (d("16"), d("0")));
    assert_eq!(wallet.hold_status(id(3)), Some(HoldStatus::Voided));
}

#[test]
fn each_hold_resolves_exactly_once() {
    let captured =
        with_hold()
            .when(capture(id(3), "8"))
            .then(vec![WalletEventKind::HoldCaptured {
                hold_id: id(3),
                debit_id: fresh(0),
                amount: d("8"),
                draws: vec![draw(id(2), "6", "0"), draw(id(1), "2", "8")],
                released: d("0"),
                balance_after: d("8"),
                held_after: d("0"),
            }]);
    Given { state: captured }
        .when(WalletAction::VoidHold { hold_id: id(3) })
        .then_error(WalletError::HoldNotActive {
            status: HoldStatus::Captured,
        });
    let voided = with_hold()
        .when(WalletAction::VoidHold { hold_id: id(3) })
        .then(vec![released(
            id(3),
            "8",
            HoldReleaseReason::Void,
            "16",
            "0",
        )]);
    Given {
        state: voided.clone(),
    }
    .when(capture(id(3), "1"))
    .then_error(WalletError::HoldNotActive {
        status: HoldStatus::Voided,
    });
    Given { state: voided }
        .when(WalletAction::VoidHold { hold_id: id(3) })
        .then_error(WalletError::HoldNotActive {
            status: HoldStatus::Voided,
        });
}

#[test]
fn the_timer_releases_holds_at_their_deadline() {
    with_hold()
        .when(tick())
        .at(now_plus(HOUR_MS - 1))
        .then(vec![]);
    let state = with_hold()
        .when(tick())
        .at(hold_deadline())
        .then(vec![released(
            id(3),
            "8",
            HoldReleaseReason::Expired,
            "16",
            "0",
        )]);
    Given { state }
        .when(capture(id(3), "1"))
        .at(hold_deadline())
        .then_error(WalletError::HoldNotActive {
            status: HoldStatus::Expired,
        });
}

#[test]
fn a_hold_past_its_deadline_cannot_be_captured_before_the_timer_runs() {
    with_hold()
        .when(capture(id(3), "1"))
        .at(hold_deadline())
        .then_error(WalletError::HoldNotActive {
            status: HoldStatus::Expired,
        });
    with_hold()
        .when(WalletAction::VoidHold { hold_id: id(3) })
        .at(hold_deadline())
        .then_error(WalletError::HoldNotActive {
            status: HoldStatus::Expired,
        });
}

/// 10 granted expiring at `lot_expiry` (lot 1) and 5 paid (lot 2); hold 3 of 8 from lot 1
/// lasting two days.
fn with_hold_on_expiring_lot(lot_expiry: Timestamp) -> Given {
    given_open([
        early(credited(
            id(1),
            "10",
            CreditSource::Granted,
            Some(lot_expiry),
            "10",
        )),
        early(paid(id(2), "5", "15")),
        early(placed(
            id(3),
            "8",
            vec![draw(id(1), "8", "2")],
            now_plus(2 * MILLIS_PER_DAY),
            "15",
            "8",
        )),
    ])
}

#[test]
fn reserved_funds_survive_their_lot_expiry() {
    let state = with_hold_on_expiring_lot(NOW).when(tick()).then(vec![
        lot_expired(id(1), "2", "8", "13", "8"),
        // What is left will expire when the hold lets go of it, so the owner is told.
        WalletEventKind::LotExpiringSoon {
            lot_id: id(1),
            amount: d("8"),
            expires_at: NOW,
        },
    ]);
    let wallet = state.wallet().expect("wallet");
    let lot = wallet.lot(id(1)).expect("still reserved");
    assert_eq!((lot.remaining(), lot.reserved()), (d("8"), d("8")));
    // The capture can never fail for lack of funds: it takes the reserved, expired lot.
    Given { state }
        .when(capture(id(3), "8"))
        .at(now_plus(HOUR_MS))
        .then(vec![WalletEventKind::HoldCaptured {
            hold_id: id(3),
            debit_id: fresh(0),
            amount: d("8"),
            draws: vec![draw(id(1), "8", "0")],
            released: d("0"),
            balance_after: d("5"),
            held_after: d("0"),
        }]);
}

#[test]
fn what_a_void_releases_from_an_expired_lot_expires_at_release() {
    with_hold_on_expiring_lot(now_plus(-HOUR_MS))
        .when(WalletAction::VoidHold { hold_id: id(3) })
        .then(vec![
            lot_expired(id(1), "2", "8", "13", "8"),
            released(id(3), "8", HoldReleaseReason::Void, "13", "0"),
            lot_expired(id(1), "8", "0", "5", "0"),
        ]);
}

#[test]
fn what_a_partial_capture_releases_from_an_expired_lot_expires_at_release() {
    with_hold_on_expiring_lot(now_plus(-HOUR_MS))
        .when(capture(id(3), "3"))
        .then(vec![
            lot_expired(id(1), "2", "8", "13", "8"),
            WalletEventKind::HoldCaptured {
                hold_id: id(3),
                debit_id: fresh(0),
                amount: d("3"),
                draws: vec![draw(id(1), "3", "5")],
                released: d("5"),
                balance_after: d("10"),
                held_after: d("0"),
            },
            lot_expired(id(1), "5", "0", "5", "0"),
        ]);
}

#[test]
fn a_hold_expiring_after_its_lot_releases_and_expires_in_one_tick() {
    with_hold_on_expiring_lot(now_plus(-HOUR_MS))
        .when(tick())
        .at(now_plus(2 * MILLIS_PER_DAY))
        .then(vec![
            lot_expired(id(1), "2", "8", "13", "8"),
            released(id(3), "8", HoldReleaseReason::Expired, "13", "0"),
            lot_expired(id(1), "8", "0", "5", "0"),
        ]);
}
