//! Creation: amounts, fee, deadline, lot expiry, payment method per kind, ids.

use super::*;
use crate::money::AmountError;
use crate::time::MILLIS_PER_DAY;

struct Create {
    kind: TopUpKind,
    amount: &'static str,
    wallet_amount: &'static str,
    fee_rate: FeeRate,
    timeout_ms: i64,
    lots_expire_at: Option<Timestamp>,
    payment_method_id: Option<Uuid>,
    facts: Option<WalletFacts>,
}

impl Default for Create {
    fn default() -> Self {
        Self {
            kind: TopUpKind::Manual,
            amount: "20",
            wallet_amount: "25",
            fee_rate: rate("2.9"),
            timeout_ms: DEFAULT_TOP_UP_TIMEOUT_MS,
            lots_expire_at: None,
            payment_method_id: None,
            facts: Some(ON_FILE),
        }
    }
}

impl Create {
    fn command(&self) -> TopUpCommand {
        command(TopUpAction::Create(CreateTopUp {
            wallet_id: wallet_id(),
            owner: "customer-1".into(),
            kind: self.kind,
            asset: usd(),
            amount: d(self.amount),
            wallet_amount: d(self.wallet_amount),
            fee_rate: self.fee_rate,
            timeout_ms: self.timeout_ms,
            lots_expire_at: self.lots_expire_at,
            payment_method_id: self.payment_method_id,
            facts: self.facts,
        }))
    }
}

fn when_created(create: &Create) -> When<TopUpDecider> {
    given::<TopUpDecider>([]).when(create.command())
}

#[test]
fn create_records_amounts_fee_deadline_and_fresh_ids() {
    let (outcome, state) =
        when_created(&Create::default()).then_outcome(vec![TopUpEventKind::TopUpCreated(
            TopUpCreated {
                top_up_id: top_up_id(),
                tenant: TENANT.into(),
                wallet_id: wallet_id(),
                owner: "customer-1".into(),
                kind: TopUpKind::Manual,
                asset: usd(),
                amount: d("20.00"),
                wallet_amount: d("25.00"),
                fee_rate: rate("2.9"),
                fee: d("0.58"),
                lots_expire_at: None,
                payment_method_id: None,
                payment_id: fresh(0),
                checkout_session_id: Some(fresh(1)),
                expires_at: now_plus(5 * MINUTE_MS),
            },
        )]);
    assert_eq!(
        outcome,
        TopUpOutcome {
            status: TopUpStatus::Created,
            payment_id: fresh(0),
            checkout_session_id: Some(fresh(1)),
            expires_at: now_plus(5 * MINUTE_MS),
            fee: d("0.58"),
            credited: zero(),
        }
    );
    let top_up = top_up(&state);
    assert_eq!(top_up.amount().to_string(), "20.00");
    assert_eq!(top_up.granted_amount(), d("5"));
    assert_eq!((top_up.created_at(), top_up.captured()), (NOW, false));
    assert_eq!(state.next_deadline(), Some(now_plus(5 * MINUTE_MS)));
}

#[test]
fn only_an_open_wallet_is_topped_up() {
    for status in [WalletStatus::Suspended, WalletStatus::Closed] {
        when_created(&Create {
            facts: Some(WalletFacts {
                wallet_status: status,
                ..ON_FILE
            }),
            ..Create::default()
        })
        .then_error(TopUpError::WalletNotOpen { status });
    }
}

#[test]
fn a_stored_card_must_be_the_owners_and_not_removed() {
    let elsewhere = Some(WalletFacts {
        payment_method_on_file: false,
        ..ON_FILE
    });
    when_created(&Create {
        kind: TopUpKind::ManualWithPaymentMethod,
        wallet_amount: "20",
        payment_method_id: Some(id(0x3E7)),
        facts: elsewhere,
        ..Create::default()
    })
    .then_error(TopUpError::PaymentMethodNotFound);
    // Without a card there is nothing to look up: a manual top-up pays on the checkout page.
    let (_, state) = when_created(&Create {
        facts: elsewhere,
        ..Create::default()
    })
    .then_outcome_any();
    assert!(state.top_up().is_some());
    // The auto top-up saga's own creation carries no facts: its rule's card was checked when set.
    let (_, state) = when_created(&Create {
        kind: TopUpKind::Auto,
        wallet_amount: "20",
        payment_method_id: Some(id(0x3E7)),
        facts: None,
        ..Create::default()
    })
    .then_outcome_any();
    assert!(state.top_up().is_some());
}

#[test]
fn stored_card_kinds_need_a_payment_method_and_get_no_checkout_session() {
    for kind in [TopUpKind::ManualWithPaymentMethod, TopUpKind::Auto] {
        when_created(&Create {
            kind,
            ..Create::default()
        })
        .then_error(TopUpError::PaymentMethodRequired { kind });
        let state = when_created(&Create {
            kind,
            wallet_amount: "20",
            payment_method_id: Some(id(0x3E7)),
            ..Create::default()
        })
        .then(vec![TopUpEventKind::TopUpCreated(TopUpCreated {
            top_up_id: top_up_id(),
            tenant: TENANT.into(),
            wallet_id: wallet_id(),
            owner: "customer-1".into(),
            kind,
            asset: usd(),
            amount: d("20"),
            wallet_amount: d("20"),
            fee_rate: rate("2.9"),
            fee: d("0.58"),
            lots_expire_at: None,
            payment_method_id: Some(id(0x3E7)),
            payment_id: fresh(0),
            checkout_session_id: None,
            expires_at: now_plus(5 * MINUTE_MS),
        })]);
        assert_eq!(top_up(&state).payment_method_id(), Some(id(0x3E7)));
    }
    when_created(&Create {
        payment_method_id: Some(id(0x3E7)),
        ..Create::default()
    })
    .then_error(TopUpError::PaymentMethodNotAllowed {
        kind: TopUpKind::Manual,
    });
}

#[test]
fn amounts_are_validated_with_the_asset() {
    for (amount, error) in [
        ("0", AmountError::NotPositive),
        ("20.001", AmountError::TooManyDecimals { max_scale: 2 }),
        ("1000000000000000.01", AmountError::TooLarge),
    ] {
        when_created(&Create {
            amount,
            ..Create::default()
        })
        .then_error(TopUpError::InvalidAmount {
            field: TopUpField::Amount,
            error,
        });
    }
    when_created(&Create {
        wallet_amount: "-5",
        ..Create::default()
    })
    .then_error(TopUpError::InvalidAmount {
        field: TopUpField::WalletAmount,
        error: AmountError::NotPositive,
    });
}

#[test]
fn the_wallet_gets_at_least_what_was_paid() {
    when_created(&Create {
        wallet_amount: "19.99",
        ..Create::default()
    })
    .then_error(TopUpError::WalletAmountBelowAmount { amount: d("20") });
    let state = when_created(&Create {
        wallet_amount: "20.00",
        ..Create::default()
    })
    .then(vec![created_now("20.00")]);
    assert_eq!(top_up(&state).granted_amount(), zero());
}

fn created_now(wallet_amount: &str) -> TopUpEventKind {
    TopUpEventKind::TopUpCreated(TopUpCreated {
        top_up_id: top_up_id(),
        tenant: TENANT.into(),
        wallet_id: wallet_id(),
        owner: "customer-1".into(),
        kind: TopUpKind::Manual,
        asset: usd(),
        amount: d("20"),
        wallet_amount: d(wallet_amount),
        fee_rate: rate("2.9"),
        fee: d("0.58"),
        lots_expire_at: None,
        payment_method_id: None,
        payment_id: fresh(0),
        checkout_session_id: Some(fresh(1)),
        expires_at: now_plus(5 * MINUTE_MS),
    })
}

#[test]
fn the_fee_follows_the_configured_rate() {
    let fee = |amount, fee_rate| {
        when_created(&Create {
            amount,
            wallet_amount: amount,
            fee_rate,
            ..Create::default()
        })
        .then_outcome_any()
        .0
        .fee
    };
    assert_eq!(fee("0.50", rate("2.5")), d("0.01"));
    assert_eq!(fee("0.49", rate("1")), d("0.00"));
    assert_eq!(fee("20", FeeRate::ZERO).to_string(), "0.00");
}

#[test]
fn the_deadline_is_configurable_within_bounds() {
    let state = when_created(&Create {
        timeout_ms: MIN_TOP_UP_TIMEOUT_MS,
        ..Create::default()
    })
    .then_outcome_any()
    .1;
    assert_eq!(top_up(&state).expires_at(), now_plus(MIN_TOP_UP_TIMEOUT_MS));
    let state = when_created(&Create {
        timeout_ms: MAX_TOP_UP_TIMEOUT_MS,
        ..Create::default()
    })
    .then_outcome_any()
    .1;
    assert_eq!(top_up(&state).expires_at(), now_plus(MAX_TOP_UP_TIMEOUT_MS));
    for timeout_ms in [0, MIN_TOP_UP_TIMEOUT_MS - 1, MAX_TOP_UP_TIMEOUT_MS + 1, -1] {
        when_created(&Create {
            timeout_ms,
            ..Create::default()
        })
        .then_error(TopUpError::InvalidTimeout {
            min_ms: MIN_TOP_UP_TIMEOUT_MS,
            max_ms: MAX_TOP_UP_TIMEOUT_MS,
        });
    }
}

#[test]
fn credited_lots_expire_at_least_a_day_after_the_deadline() {
    let earliest = now_plus(5 * MINUTE_MS + MILLIS_PER_DAY);
    when_created(&Create {
        lots_expire_at: Some(earliest.plus_millis(-1)),
        ..Create::default()
    })
    .then_error(TopUpError::LotExpiryTooSoon { earliest });
    let state = when_created(&Create {
        lots_expire_at: Some(earliest),
        ..Create::default()
    })
    .then_outcome_any()
    .1;
    assert_eq!(top_up(&state).lots_expire_at(), Some(earliest));
}

#[test]
fn tenant_and_owner_are_bounded() {
    let mut command = Create::default().command();
    command.tenant = String::new();
    given::<TopUpDecider>([])
        .when(command)
        .then_error(TopUpError::InvalidText {
            field: TopUpField::Tenant,
            max_bytes: 255,
        });
    for owner in [String::new(), "o".repeat(256)] {
        let mut command = Create::default().command();
        if let TopUpAction::Create(CreateTopUp { owner: slot, .. }) = &mut command.action {
            *slot = owner;
        }
        given::<TopUpDecider>([])
            .when(command)
            .then_error(TopUpError::InvalidText {
                field: TopUpField::Owner,
                max_bytes: 255,
            });
    }
}

#[test]
fn create_of_an_existing_top_up_is_already_exists() {
    given_created([])
        .when(Create::default().command())
        .then_error(TopUpError::AlreadyExists);
}

#[test]
fn only_create_is_accepted_before_the_top_up_exists() {
    for action in [
        TopUpAction::Expire,
        TopUpAction::Fail { reason: declined() },
        TopUpAction::RecordPaymentCaptured {
            payment_id: payment_id(),
            amount: d("20"),
        },
    ] {
        given::<TopUpDecider>([])
            .when(command(action))
            .then_error(TopUpError::NotFound);
    }
}

#[test]
fn another_tenant_cannot_see_the_top_up() {
    for action in [Create::default().command().action, TopUpAction::Expire] {
        given_created([])
            .when(TopUpCommand {
                tenant: "other".into(),
                top_up_id: top_up_id(),
                action,
            })
            .then_error(TopUpError::NotFound);
    }
}
