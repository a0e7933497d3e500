//! Credits: lots, sources, expiry dates, amounts and text bounds.

use super::*;
use crate::money::AmountError;

#[test]
fn a_credit_creates_a_lot_with_the_first_fresh_id() {
    let expires_at = now_plus(MILLIS_PER_DAY);
    let state = given_open([early(paid(id(1), "5", "5"))])
        .when(WalletAction::Credit {
            amount: d("20"),
            source: CreditSource::Granted,
            expires_at: Some(expires_at),
            reference: "promo-7".into(),
            description: "welcome bonus".into(),
        })
        .then(vec![WalletEventKind::FundsCredited {
            lot_id: fresh(0),
            source: CreditSource::Granted,
            amount: d("20.00"),
            expires_at: Some(expires_at),
            reference: "promo-7".into(),
            description: "welcome bonus".into(),
            refund_of: None,
            balance_after: d("25.00"),
            held_after: d("0"),
        }]);
    let wallet = state.wallet().expect("wallet");
    assert_eq!(wallet.balance(), d("25"));
    let lot = wallet.lot(fresh(0)).expect("new lot");
    assert_eq!(
        (
            lot.source(),
            lot.original(),
            lot.remaining(),
            lot.reserved()
        ),
        (CreditSource::Granted, d("20"), d("20"), d("0"))
    );
    assert_eq!(
        (lot.expires_at(), lot.created_at()),
        (Some(expires_at), NOW)
    );
}

#[test]
fn amounts_are_stored_at_the_asset_scale() {
    let state = given_open([])
        .when(credit("7.5"))
        .then(vec![paid(fresh(0), "7.50", "7.50")]);
    let balance = state.wallet().map(Wallet::balance).expect("wallet");
    assert_eq!(balance.to_string(), "7.50");
}

#[test]
fn every_source_but_refund_may_be_credited() {
    for source in [
        CreditSource::Paid,
        CreditSource::Granted,
        CreditSource::Transfer,
        CreditSource::Adjustment,
    ] {
        given_open([])
            .when(credit_from("1", source, None))
            .then(vec![credited(fresh(0), "1", source, None, "1")]);
    }
    given_open([])
        .when(credit_from("1", CreditSource::Refund, None))
        .then_error(WalletError::SourceNotAllowed {
            source: CreditSource::Refund,
        });
}

#[test]
fn a_credit_expiry_must_be_in_the_future() {
    for expires_at in [NOW, now_plus(-1)] {
        given_open([])
            .when(credit_from("1", CreditSource::Granted, Some(expires_at)))
            .then_error(WalletError::ExpiryNotInFuture {
                field: "expires_at".into(),
            });
    }
}

#[test]
fn bad_amounts_are_invalid_arguments() {
    let cases = [
        ("0", AmountError::NotPositive),
        ("-5", AmountError::NotPositive),
        ("1.001", AmountError::TooManyDecimals { max_scale: 2 }),
        ("1000000000000000.01", AmountError::TooLarge),
    ];
    for (amount, error) in cases {
        for action in [
            credit(amount),
            debit(amount),
            place_hold(amount, now_plus(1)),
        ] {
            given_open([early(paid(id(1), "5", "5"))])
                .when(action)
                .then_error(WalletError::InvalidAmount {
                    field: "amount".into(),
                    error: error.clone(),
                });
        }
    }
}

#[test]
fn trailing_zeros_beyond_the_scale_are_fine() {
    given_open([])
        .when(credit("1.5000"))
        .then(vec![paid(fresh(0), "1.50", "1.50")]);
}

#[test]
fn reference_and_description_are_bounded() {
    let long = "x".repeat(MAX_TEXT_BYTES + 1);
    given_open([])
        .when(WalletAction::Credit {
            amount: d("1"),
            source: CreditSource::Paid,
            expires_at: None,
            reference: long.clone(),
            description: String::new(),
        })
        .then_error(WalletError::InvalidText {
            field: "reference".into(),
            max_bytes: MAX_TEXT_BYTES,
        });
    given_open([])
        .when(WalletAction::Debit {
            amount: d("1"),
            kind: DebitKind::Fee,
            reference: String::new(),
            description: long,
        })
        .then_error(WalletError::InvalidText {
            field: "description".into(),
            max_bytes: MAX_TEXT_BYTES,
        });
}

#[test]
fn the_balance_never_exceeds_the_asset_ceiling() {
    given_open([early(paid(id(1), "1000000000000000", "1000000000000000"))])
        .when(credit("0.01"))
        .then_error(WalletError::BalanceCeilingExceeded {
            ceiling: d("1000000000000000"),
        });
}
