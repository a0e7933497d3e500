//! Debits: consumption order, availability and expiry before spending.

use super::*;

#[test]
fn a_debit_draws_lots_in_consumption_order() {
    // Expiring lots first (soonest first), then granted before other sources, then oldest.
    let soon = now_plus(MILLIS_PER_DAY);
    let later = now_plus(2 * MILLIS_PER_DAY);
    given_open([
        early(paid(id(1), "1", "1")),
        early(credited(id(2), "2", CreditSource::Granted, None, "3")),
        early(credited(id(3), "4", CreditSource::Paid, Some(later), "7")),
        early(credited(
            id(4),
            "8",
            CreditSource::Granted,
            Some(soon),
            "15",
        )),
        early(paid(id(5), "16", "31")),
    ])
    .when(debit("30"))
    .then(vec![debited(
        fresh(0),
        "30",
        vec![
            draw(id(4), "8", "0"),
            draw(id(3), "4", "0"),
            draw(id(2), "2", "0"),
            draw(id(1), "1", "0"),
            draw(id(5), "15", "1"),
        ],
        "1",
        "0",
    )]);
}

#[test]
fn an_expiring_paid_lot_goes_before_an_unexpiring_granted_lot() {
    given_open([
        early(credited(id(1), "5", CreditSource::Granted, None, "5")),
        early(credited(
            id(2),
            "5",
            CreditSource::Paid,
            Some(now_plus(HOUR_MS)),
            "10",
        )),
    ])
    .when(debit("6"))
    .then(vec![debited(
        fresh(0),
        "6",
        vec![draw(id(2), "5", "0"), draw(id(1), "1", "4")],
        "4",
        "0",
    )]);
}

#[test]
fn with_equal_expiry_granted_goes_before_paid() {
    let expiry = Some(now_plus(HOUR_MS));
    given_open([
        early(credited(id(1), "5", CreditSource::Paid, expiry, "5")),
        early(credited(id(2), "5", CreditSource::Granted, expiry, "10")),
    ])
    .when(debit("7"))
    .then(vec![debited(
        fresh(0),
        "7",
        vec![draw(id(2), "5", "0"), draw(id(1), "2", "3")],
        "3",
        "0",
    )]);
}

#[test]
fn among_equals_the_oldest_lot_goes_first() {
    given_open([early(paid(id(2), "5", "5")), early(paid(id(1), "5", "10"))])
        .when(debit("6"))
        .then(vec![debited(
            fresh(0),
            "6",
            vec![draw(id(2), "5", "0"), draw(id(1), "1", "4")],
            "4",
            "0",
        )]);
}

#[test]
fn every_debit_kind_spends_available_funds() {
    for kind in DebitKind::ALL {
        given_open([early(paid(id(1), "5", "5"))])
            .when(WalletAction::Debit {
                amount: d("2"),
                kind: *kind,
                reference: "r".into(),
                description: String::new(),
            })
            .then(vec![WalletEventKind::FundsDebited {
                debit_id: fresh(0),
                kind: *kind,
                amount: d("2"),
                draws: vec![draw(id(1), "2", "3")],
                reference: "r".into(),
                description: String::new(),
                balance_after: d("3"),
                held_after: d("0"),
            }]);
    }
}

#[test]
fn a_debit_above_available_is_insufficient_funds() {
    given_open([
        early(paid(id(1), "10", "10")),
        early(placed(
            id(2),
            "4",
            vec![draw(id(1), "4", "6")],
            now_plus(HOUR_MS),
            "10",
            "4",
        )),
    ])
    .when(debit("6.01"))
    .then_error(WalletError::InsufficientFunds { available: d("6") });
}

#[test]
fn a_debit_uses_only_unreserved_funds() {
    given_open([
        early(paid(id(1), "10", "10")),
        early(paid(id(2), "10", "20")),
        early(placed(
            id(3),
            "8",
            vec![draw(id(1), "8", "2")],
            now_plus(HOUR_MS),
            "20",
            "8",
        )),
    ])
    .when(debit("12"))
    .then(vec![debited(
        fresh(0),
        "12",
        vec![draw(id(1), "2", "8"), draw(id(2), "10", "0")],
        "8",
        "8",
    )]);
}

#[test]
fn due_lots_expire_before_the_debit_and_are_not_spent() {
    let expiry = now_plus(-1);
    given_open([
        early(credited(
            id(1),
            "5",
            CreditSource::Granted,
            Some(expiry),
            "5",
        )),
        early(paid(id(2), "10", "15")),
    ])
    .when(debit("3"))
    .then(vec![
        lot_expired(id(1), "5", "0", "10", "0"),
        debited(fresh(0), "3", vec![draw(id(2), "3", "7")], "7", "0"),
    ]);
}

#[test]
fn available_is_judged_after_due_expiry() {
    // The error alone comes back: the due expiry waits for the next accepted command or tick.
    given_open([early(credited(
        id(1),
        "5",
        CreditSource::Granted,
        Some(NOW),
        "5",
    ))])
    .when(debit("1"))
    .then_error(WalletError::InsufficientFunds { available: d("0") });
}
