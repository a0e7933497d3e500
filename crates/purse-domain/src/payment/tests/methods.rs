//! Stored cards: saved once per provider token, bounded per owner, removed by id.

use super::*;

fn methods_command(action: PaymentMethodsAction) -> PaymentMethodsCommand {
    PaymentMethodsCommand {
        tenant: TENANT.into(),
        owner: "customer-1".into(),
        action,
    }
}

fn save(token: &str) -> PaymentMethodsCommand {
    methods_command(PaymentMethodsAction::Save {
        card: card_with_token(token),
        source_payment_id: Some(payment_id()),
    })
}

fn saved(method: Uuid, token: &str) -> PaymentMethodsEventKind {
    PaymentMethodsEventKind::PaymentMethodSaved {
        payment_method_id: method,
        tenant: TENANT.into(),
        owner: "customer-1".into(),
        card: card_with_token(token),
        source_payment_id: Some(payment_id()),
    }
}

fn given_saved(
    history: impl IntoIterator<Item = PaymentMethodsEventKind>,
) -> Given<PaymentMethodsDecider> {
    given(history.into_iter().map(early::<PaymentMethodsEvent>))
}

#[test]
fn the_first_save_creates_the_owners_stream() {
    let (outcome, state) = given_saved([])
        .when(save("tok_1"))
        .then_outcome(vec![saved(fresh(0), "tok_1")]);
    assert_eq!(
        outcome,
        PaymentMethodsOutcome {
            payment_method_id: Some(fresh(0)),
            count: 1,
        }
    );
    let methods = state.methods().expect("methods");
    assert_eq!((methods.tenant(), methods.owner()), (TENANT, "customer-1"));
    let method = methods.method(fresh(0)).expect("saved");
    assert_eq!(method.card().last4(), "4242");
    assert_eq!(
        (method.saved_at(), method.source_payment_id()),
        (NOW, Some(payment_id()))
    );
}

#[test]
fn the_same_card_is_saved_once() {
    given_saved([saved(id(1), "tok_1")])
        .when(save("tok_1"))
        .then_error(PaymentMethodsError::AlreadySaved {
            payment_method_id: id(1),
        });
    given_saved([saved(id(1), "tok_1")])
        .when(save("tok_2"))
        .then(vec![saved(fresh(0), "tok_2")]);
}

#[test]
fn an_owner_stores_at_most_max_cards() {
    let history: Vec<_> = (0..MAX_PAYMENT_METHODS_PER_OWNER as u128)
        .map(|n| saved(id(n + 1), &format!("tok_{n}")))
        .collect();
    given_saved(history).when(save("tok_new")).then_error(
        PaymentMethodsError::TooManyPaymentMethods {
            max: MAX_PAYMENT_METHODS_PER_OWNER,
        },
    );
}

#[test]
fn an_expired_card_is_not_saved() {
    let expired = CardDetails::new(CardBrand::Amex, "0005", 1, 2024, "tok_old").expect("card");
    given_saved([])
        .when(methods_command(PaymentMethodsAction::Save {
            card: expired,
            source_payment_id: None,
        }))
        .then_error(PaymentMethodsError::CardExpired);
}

#[test]
fn remove_forgets_a_stored_card() {
    let (outcome, state) = given_saved([saved(id(1), "tok_1"), saved(id(2), "tok_2")])
        .when(methods_command(PaymentMethodsAction::Remove {
            payment_method_id: id(1),
        }))
        .then_outcome(vec![PaymentMethodsEventKind::PaymentMethodRemoved {
            payment_method_id: id(1),
        }]);
    assert_eq!(outcome.count, 1);
    let methods = state.methods().expect("methods");
    assert!(methods.method(id(1)).is_none());
    assert_eq!(methods.iter().count(), 1);
    // A removed card may be saved again, under a new id.
    given_saved([
        saved(id(1), "tok_1"),
        PaymentMethodsEventKind::PaymentMethodRemoved {
            payment_method_id: id(1),
        },
    ])
    .when(save("tok_1"))
    .then(vec![saved(fresh(0), "tok_1")]);
}

#[test]
fn removing_an_unknown_card_is_not_found() {
    for history in [vec![], vec![saved(id(1), "tok_1")]] {
        given_saved(history)
            .when(methods_command(PaymentMethodsAction::Remove {
                payment_method_id: id(9),
            }))
            .then_error(PaymentMethodsError::NotFound);
    }
}

#[test]
fn another_tenant_or_owner_cannot_see_the_cards() {
    for (tenant, owner) in [("other", "customer-1"), (TENANT, "customer-2")] {
        given_saved([saved(id(1), "tok_1")])
            .when(PaymentMethodsCommand {
                tenant: tenant.into(),
                owner: owner.into(),
                action: PaymentMethodsAction::Remove {
                    payment_method_id: id(1),
                },
            })
            .then_error(PaymentMethodsError::NotFound);
    }
}

#[test]
fn tenant_and_owner_are_bounded() {
    for (tenant, owner, field) in [
        ("", "customer-1", PaymentMethodsField::Tenant),
        (TENANT, "", PaymentMethodsField::Owner),
    ] {
        given_saved([])
            .when(PaymentMethodsCommand {
                tenant: tenant.into(),
                owner: owner.into(),
                action: PaymentMethodsAction::Save {
                    card: card(),
                    source_payment_id: None,
                },
            })
            .then_error(PaymentMethodsError::InvalidText {
                field,
                max_bytes: 255,
            });
    }
}

#[test]
fn the_command_names_its_stream() {
    assert_eq!(
        save("tok_1").stream_id(),
        payment_methods_stream_id(TENANT, "customer-1")
    );
}
