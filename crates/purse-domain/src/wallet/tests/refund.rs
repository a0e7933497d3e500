//! Refunds of earlier debits and captures.

use super::*;

fn refunded(debit: Uuid, amount: &str, balance_after: &str) -> WalletEventKind {
    refunded_into(fresh(0), debit, amount, balance_after)
}

fn refunded_into(lot: Uuid, debit: Uuid, amount: &str, balance_after: &str) -> WalletEventKind {
    WalletEventKind::FundsCredited {
        lot_id: lot,
        source: CreditSource::Refund,
        amount: d(amount),
        expires_at: None,
        reference: String::new(),
        description: String::new(),
        refund_of: Some(debit),
        balance_after: d(balance_after),
        held_after: d("0"),
    }
}

fn with_debit() -> Given {
    given_open([
        early(paid(id(1), "50", "50")),
        early(debited(
            id(2),
            "30",
            vec![draw(id(1), "30", "20")],
            "20",
            "0",
        )),
    ])
}

#[test]
fn a_refund_credits_a_refund_lot_naming_its_debit() {
    let (outcome, state) = with_debit()
        .when(refund(id(2), "10"))
        .then_outcome(vec![refunded(id(2), "10", "30")]);
    assert_eq!(outcome.entry_id, Some(fresh(0)));
    let wallet = state.wallet().expect("wallet");
    assert_eq!(wallet.refundable(id(2)), Some(d("20")));
    assert_eq!(
        wallet.lot(fresh(0)).map(Lot::source),
        Some(CreditSource::Refund)
    );
}

#[test]
fn a_refund_cannot_exceed_what_remains_of_its_debit() {
    with_debit()
        .when(refund(id(2), "30.01"))
        .then_error(WalletError::RefundExceedsDebit {
            refundable: d("30"),
        });
    let state = with_debit()
        .when(refund(id(2), "25"))
        .then(vec![refunded(id(2), "25", "45")]);
    Given {
        state: state.clone(),
    }
    .when(refund(id(2), "5.01"))
    .then_error(WalletError::RefundExceedsDebit { refundable: d("5") });
    let state = Given { state }
        .when(refund(id(2), "5"))
        .fresh_from(10)
        .then(vec![refunded_into(fresh(10), id(2), "5", "50")]);
    // Fully refunded debits are forgotten.
    Given { state }
        .when(refund(id(2), "0.01"))
        .then_error(WalletError::DebitNotFound);
}

#[test]
fn a_refund_needs_a_debit_of_this_wallet() {
    with_debit()
        .when(refund(id(1), "1"))
        .then_error(WalletError::DebitNotFound);
}

#[test]
fn a_capture_can_be_refunded() {
    given_open([
        early(paid(id(1), "50", "50")),
        early(placed(
            id(3),
            "20",
            vec![draw(id(1), "20", "30")],
            now_plus(HOUR_MS),
            "50",
            "20",
        )),
        early(WalletEventKind::HoldCaptured {
            hold_id: id(3),
            debit_id: id(4),
            amount: d("15"),
            draws: vec![draw(id(1), "15", "35")],
            released: d("5"),
            balance_after: d("35"),
            held_after: d("0"),
        }),
    ])
    .when(refund(id(4), "15"))
    .then(vec![refunded(id(4), "15", "50")]);
}

#[test]
fn a_refund_expires_due_lots_first() {
    given_open([
        early(credited(
            id(1),
            "50",
            CreditSource::Granted,
            Some(NOW),
            "50",
        )),
        early(debited(
            id(2),
            "30",
            vec![draw(id(1), "30", "20")],
            "20",
            "0",
        )),
    ])
    .when(refund(id(2), "30"))
    .then(vec![
        lot_expired(id(1), "20", "0", "0", "0"),
        refunded(id(2), "30", "30"),
    ]);
}
