//! Given/when/then tests of the top-up rules, plus a property test against a reference model.

mod create;
mod lifecycle;
mod model;

use rust_decimal::Decimal;
use uuid::Uuid;

use super::*;
use crate::payment::DeclineReason;
use crate::support::harness::*;
use crate::time::Timestamp;
use crate::wallet::WalletStatus;

/// A client's request for an open wallet and a stored card of its owner.
pub(super) const ON_FILE: WalletFacts = WalletFacts {
    wallet_status: WalletStatus::Open,
    payment_method_on_file: true,
};

pub(super) fn top_up_id() -> Uuid {
    Uuid::from_u128(0x70B)
}

pub(super) fn wallet_id() -> Uuid {
    Uuid::from_u128(0xA11E7)
}

pub(super) fn payment_id() -> Uuid {
    id(0xBA1)
}

/// When the top-ups in given histories were created.
pub(super) fn created_at() -> Timestamp {
    Timestamp::from_millis(DAY0 + HOUR_MS)
}

/// Their deadline: five minutes later, well before `NOW`.
pub(super) fn deadline() -> Timestamp {
    created_at().plus_millis(DEFAULT_TOP_UP_TIMEOUT_MS)
}

pub(super) fn rate(percent: &str) -> FeeRate {
    FeeRate::percent(d(percent)).expect("rate")
}

/// A hosted-page top-up of 20.00 paid for 25.00 credited, 2.9 % fee.
pub(super) fn created() -> TopUpEventKind {
    created_with(TopUpKind::Manual, "20.00", "25.00", None)
}

pub(super) fn created_with(
    kind: TopUpKind,
    amount: &str,
    wallet_amount: &str,
    payment_method_id: Option<Uuid>,
) -> TopUpEventKind {
    TopUpEventKind::TopUpCreated(TopUpCreated {
        top_up_id: top_up_id(),
        tenant: TENANT.into(),
        wallet_id: wallet_id(),
        owner: "customer-1".into(),
        kind,
        asset: usd(),
        amount: d(amount),
        wallet_amount: d(wallet_amount),
        fee_rate: rate("2.9"),
        fee: rate("2.9").fee_for(&usd(), d(amount)),
        lots_expire_at: None,
        payment_method_id,
        payment_id: payment_id(),
        checkout_session_id: (!kind.uses_stored_card()).then(|| id(0xC5)),
        expires_at: deadline(),
    })
}

pub(super) fn captured() -> TopUpEventKind {
    TopUpEventKind::TopUpPaymentCaptured {
        payment_id: payment_id(),
        amount: d("20.00"),
    }
}

pub(super) fn expired() -> TopUpEventKind {
    TopUpEventKind::TopUpExpired {
        expires_at: deadline(),
    }
}

pub(super) fn declined() -> TopUpFailureReason {
    TopUpFailureReason::Declined {
        reason: DeclineReason::InsufficientFunds,
    }
}

pub(super) fn command(action: TopUpAction) -> TopUpCommand {
    TopUpCommand {
        tenant: TENANT.into(),
        top_up_id: top_up_id(),
        action,
    }
}

/// Histories start at `created_at()`; later events follow a minute apart, before `NOW`.
pub(super) fn given_created(
    history: impl IntoIterator<Item = TopUpEventKind>,
) -> Given<TopUpDecider> {
    given_events(std::iter::once(created()).chain(history))
}

pub(super) fn given_events(kinds: impl IntoIterator<Item = TopUpEventKind>) -> Given<TopUpDecider> {
    given(kinds.into_iter().enumerate().map(|(n, kind)| {
        // Expiry must not precede the deadline; everything else may happen any time.
        let at = match kind {
            TopUpEventKind::TopUpExpired { .. } => deadline(),
            _ => created_at().plus_millis(n as i64 * MINUTE_MS),
        };
        TopUpEvent {
            occurred_at: at,
            kind,
        }
    }))
}

pub(super) fn top_up(state: &TopUpState) -> &TopUp {
    state.top_up().expect("top-up")
}

pub(super) fn zero() -> Decimal {
    Decimal::ZERO
}

mod harness_checks {
    use super::*;

    #[test]
    #[should_panic(expected = "applied before TopUpCreated")]
    fn evolve_refuses_events_before_creation() {
        given_events([captured()]);
    }

    #[test]
    #[should_panic(expected = "top-up finished twice")]
    fn evolve_refuses_a_second_final_status() {
        given_created([
            expired(),
            TopUpEventKind::TopUpFailed { reason: declined() },
        ]);
    }

    #[test]
    #[should_panic(expected = "expired after a capture")]
    fn evolve_refuses_to_expire_a_captured_top_up() {
        given_created([captured(), expired()]);
    }

    #[test]
    #[should_panic(expected = "TopUpCompleted credited")]
    fn evolve_checks_the_credited_amount() {
        given_created([
            captured(),
            TopUpEventKind::TopUpCompleted {
                paid_lot_id: id(1),
                granted: GrantedCredit::Credited { lot_id: id(2) },
                credited: d("20"),
            },
        ]);
    }

    #[test]
    fn fingerprint_is_stable_and_sensitive_to_every_field() {
        let complete = |tenant: &str, granted| TopUpCommand {
            tenant: tenant.into(),
            top_up_id: top_up_id(),
            action: TopUpAction::Complete {
                paid_lot_id: id(1),
                granted,
            },
        };
        let base = complete(TENANT, GrantedCredit::NotNeeded).fingerprint();
        assert_eq!(
            base,
            complete(TENANT, GrantedCredit::NotNeeded).fingerprint()
        );
        assert_ne!(
            base,
            complete("other", GrantedCredit::NotNeeded).fingerprint()
        );
        assert_ne!(
            base,
            complete(TENANT, GrantedCredit::Credited { lot_id: id(2) }).fingerprint()
        );
        assert_ne!(
            complete(
                TENANT,
                GrantedCredit::Rejected {
                    reason: CreditRejection::WalletClosed
                }
            )
            .fingerprint(),
            complete(
                TENANT,
                GrantedCredit::Rejected {
                    reason: CreditRejection::MaxBalanceExceeded
                }
            )
            .fingerprint()
        );
        let fail = |reason| command(TopUpAction::Fail { reason }).fingerprint();
        assert_ne!(
            fail(declined()),
            fail(TopUpFailureReason::Declined {
                reason: DeclineReason::Declined
            })
        );
        let create_with = |amount: &str, rate_text: &str, facts| {
            command(TopUpAction::Create(CreateTopUp {
                wallet_id: wallet_id(),
                owner: "customer-1".into(),
                kind: TopUpKind::Manual,
                asset: usd(),
                amount: d(amount),
                wallet_amount: d("25"),
                fee_rate: rate(rate_text),
                timeout_ms: DEFAULT_TOP_UP_TIMEOUT_MS,
                lots_expire_at: None,
                payment_method_id: None,
                facts,
            }))
            .fingerprint()
        };
        let create = |amount: &str, rate_text: &str| create_with(amount, rate_text, Some(ON_FILE));
        // The read model's facts are not the request: a retry after the wallet changed replays.
        let suspended = WalletFacts {
            wallet_status: WalletStatus::Suspended,
            payment_method_on_file: false,
        };
        assert_eq!(
            create("20", "2.9"),
            create_with("20", "2.9", Some(suspended))
        );
        assert_eq!(create("20", "2.9"), create_with("20", "2.9", None));
        assert_eq!(create("20", "2.9"), create("20.00", "2.90"));
        assert_ne!(create("20", "2.9"), create("20", "3"));
        assert_ne!(create("20", "2.9"), create("21", "2.9"));
    }

    #[test]
    fn event_types_are_the_stable_names() {
        let name = |kind| early::<TopUpEvent>(kind).event_type();
        assert_eq!(name(created()), "TopUpCreated");
        assert_eq!(name(captured()), "TopUpPaymentCaptured");
        assert_eq!(name(expired()), "TopUpExpired");
        assert_eq!(
            name(TopUpEventKind::TopUpLateCaptureRecorded {
                payment_id: payment_id(),
                amount: d("20"),
            }),
            "TopUpLateCaptureRecorded"
        );
    }
}
