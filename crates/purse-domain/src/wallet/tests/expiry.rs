//! Lot expiry, expiring-soon notices and the next timer deadline.

use super::*;

fn tick_with_lead(notice_lead_ms: i64) -> WalletAction {
    WalletAction::Tick { notice_lead_ms }
}

fn expiring_soon(lot: Uuid, amount: &str, expires_at: Timestamp) -> WalletEventKind {
    WalletEventKind::LotExpiringSoon {
        lot_id: lot,
        amount: d(amount),
        expires_at,
    }
}

#[test]
fn the_timer_expires_due_lots() {
    let state = given_open([
        early(credited(id(1), "5", CreditSource::Granted, Some(NOW), "5")),
        early(credited(
            id(2),
            "3",
            CreditSource::Paid,
            Some(now_plus(1)),
            "8",
        )),
        early(debited(id(9), "1", vec![draw(id(1), "1", "4")], "7", "0")),
    ])
    .when(tick_with_lead(0))
    .then(vec![lot_expired(id(1), "4", "0", "3", "0")]);
    let wallet = state.wallet().expect("wallet");
    assert!(wallet.lot(id(1)).is_none(), "expired lots leave the state");
    assert_eq!(wallet.balance(), d("3"));
}

#[test]
fn a_tick_with_nothing_due_produces_nothing() {
    given_open([early(credited(
        id(1),
        "5",
        CreditSource::Granted,
        Some(now_plus(8 * MILLIS_PER_DAY)),
        "5",
    ))])
    .when(tick())
    .then(vec![]);
    given_open([]).when(tick()).then(vec![]);
}

#[test]
fn due_lots_expire_before_a_credit() {
    let limits = Limits {
        max_balance: Some(d("10")),
        ..Limits::default()
    };
    // The expired 5 no longer counts against max_balance.
    given([
        early(opened_with(limits)),
        early(credited(id(1), "5", CreditSource::Granted, Some(NOW), "5")),
        early(paid(id(2), "5", "10")),
    ])
    .when(credit("5"))
    .then(vec![
        lot_expired(id(1), "5", "0", "5", "0"),
        paid(fresh(0), "5", "10"),
    ]);
}

#[test]
fn expiring_soon_is_raised_once_when_the_lead_time_arrives() {
    let expires_at = now_plus(DEFAULT_EXPIRING_NOTICE_LEAD_MS);
    let history = || {
        given_open([early(credited(
            id(1),
            "5",
            CreditSource::Granted,
            Some(expires_at),
            "5",
        ))])
    };
    history().when(tick()).at(now_plus(-1)).then(vec![]);
    let state = history()
        .when(tick())
        .then(vec![expiring_soon(id(1), "5", expires_at)]);
    assert_eq!(
        state
            .wallet()
            .and_then(|wallet| wallet.lot(id(1)))
            .map(Lot::expiring_notice_raised),
        Some(true)
    );
    Given { state }
        .when(tick())
        .at(now_plus(HOUR_MS))
        .then(vec![]);
}

#[test]
fn the_notice_lead_comes_from_the_tick() {
    let expires_at = now_plus(2 * HOUR_MS);
    let history = || {
        given_open([early(credited(
            id(1),
            "5",
            CreditSource::Paid,
            Some(expires_at),
            "5",
        ))])
    };
    history().when(tick_with_lead(HOUR_MS)).then(vec![]);
    history()
        .when(tick_with_lead(2 * HOUR_MS))
        .then(vec![expiring_soon(id(1), "5", expires_at)]);
}

#[test]
fn a_lot_that_expires_in_the_same_tick_gets_no_notice() {
    given_open([early(credited(
        id(1),
        "5",
        CreditSource::Paid,
        Some(NOW),
        "5",
    ))])
    .when(tick())
    .then(vec![lot_expired(id(1), "5", "0", "0", "0")]);
}

#[test]
fn next_deadline_is_the_earliest_pending_timer() {
    let lot_expiry = now_plus(10 * MILLIS_PER_DAY);
    let hold_expiry = now_plus(5 * MILLIS_PER_DAY);
    let state = given_open([
        early(credited(
            id(1),
            "5",
            CreditSource::Granted,
            Some(lot_expiry),
            "5",
        )),
        early(paid(id(2), "5", "10")),
    ])
    .state;
    let lead = DEFAULT_EXPIRING_NOTICE_LEAD_MS;
    assert_eq!(
        state.next_deadline(lead),
        Some(lot_expiry.plus_millis(-lead))
    );
    assert_eq!(state.next_deadline(0), Some(lot_expiry));
    let state = Given { state }
        .when(place_hold("6", hold_expiry))
        .then(vec![placed(
            fresh(0),
            "6",
            vec![draw(id(1), "5", "0"), draw(id(2), "1", "4")],
            hold_expiry,
            "10",
            "6",
        )]);
    // Lot 1 is fully reserved: only its notice and the hold's deadline are pending.
    assert_eq!(state.next_deadline(0), Some(hold_expiry));
    assert_eq!(WalletState::default().next_deadline(lead), None);
    assert_eq!(given_open([]).state.next_deadline(lead), None);
}

#[test]
fn after_a_tick_nothing_is_due_until_a_later_deadline() {
    let state = given_open([
        early(credited(id(1), "5", CreditSource::Granted, Some(NOW), "5")),
        early(placed(
            id(2),
            "3",
            vec![draw(id(1), "3", "2")],
            now_plus(HOUR_MS),
            "5",
            "3",
        )),
    ])
    .when(tick())
    .then(vec![
        lot_expired(id(1), "2", "3", "3", "3"),
        expiring_soon(id(1), "3", NOW),
    ]);
    let lead = DEFAULT_EXPIRING_NOTICE_LEAD_MS;
    assert_eq!(state.next_deadline(lead), Some(now_plus(HOUR_MS)));
    let state = Given { state }
        .when(tick())
        .at(now_plus(HOUR_MS))
        .then(vec![
            released(id(2), "3", HoldReleaseReason::Expired, "3", "0"),
            lot_expired(id(1), "3", "0", "0", "0"),
        ]);
    assert_eq!(state.next_deadline(lead), None);
}
