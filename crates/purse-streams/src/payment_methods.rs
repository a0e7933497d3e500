//! Stored payment methods: one stream per (tenant, owner), projected into payment method rows.

pub use crate::payment_rows::payment_method_rows;

use purse_domain::payment::{
    CardBrand, CardDetails, PaymentMethodsDecider, PaymentMethodsEvent, PaymentMethodsEventKind,
};
use purse_proto::event::v1 as pb;
use purse_proto::event::v1::payment_methods_event::Event as E;
use purse_runtime::codec::{CodecError, uuid_field};
use purse_runtime::topics::DeciderTopics;

crate::bind_decider!(
    /// The stored-card decider as the engine drives it.
    PaymentMethodsStream => PaymentMethodsDecider
);

/// Where its commands and events travel.
pub const TOPICS: DeciderTopics = DeciderTopics {
    commands: "purse.payment_method.commands",
    events: "purse.payment_method.events",
    group: "purse-payment-methods",
};

crate::codec::event_codec!(
    PaymentMethodsStream,
    PaymentMethodsEvent,
    "payment_methods",
    proto: PaymentMethods
);

fn to_proto(kind: &PaymentMethodsEventKind) -> pb::PaymentMethodsEvent {
    let event = match kind {
        PaymentMethodsEventKind::PaymentMethodSaved {
            payment_method_id,
            tenant,
            owner,
            card,
            source_payment_id,
        } => E::PaymentMethodSaved(pb::PaymentMethodSaved {
            payment_method_id: payment_method_id.to_string(),
            tenant: tenant.clone(),
            owner: owner.clone(),
            card: Some(card_to_proto(card)),
            source_payment_id: source_payment_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
        }),
        PaymentMethodsEventKind::PaymentMethodRemoved { payment_method_id } => {
            E::PaymentMethodRemoved(pb::PaymentMethodRemoved {
                payment_method_id: payment_method_id.to_string(),
            })
        }
    };
    pb::PaymentMethodsEvent { event: Some(event) }
}

fn from_proto(message: &pb::PaymentMethodsEvent) -> Result<PaymentMethodsEventKind, CodecError> {
    match message.event.as_ref() {
        Some(E::PaymentMethodSaved(e)) => Ok(PaymentMethodsEventKind::PaymentMethodSaved {
            payment_method_id: uuid_field(&e.payment_method_id, "payment_method_id")?,
            tenant: e.tenant.clone(),
            owner: e.owner.clone(),
            card: card_from_proto(e.card.as_ref().ok_or(CodecError::Field { field: "card" })?)?,
            source_payment_id: match e.source_payment_id.as_str() {
                "" => None,
                id => Some(uuid_field(id, "source_payment_id")?),
            },
        }),
        Some(E::PaymentMethodRemoved(e)) => Ok(PaymentMethodsEventKind::PaymentMethodRemoved {
            payment_method_id: uuid_field(&e.payment_method_id, "payment_method_id")?,
        }),
        None => Err(CodecError::Field { field: "event" }),
    }
}

/// The proto card of a domain card (shared with the payment events).
pub(crate) fn card_to_proto(card: &CardDetails) -> pb::CardDetails {
    let brand = match card.brand() {
        CardBrand::Visa => pb::CardBrand::Visa,
        CardBrand::Mastercard => pb::CardBrand::Mastercard,
        CardBrand::Amex => pb::CardBrand::Amex,
        CardBrand::Discover => pb::CardBrand::Discover,
        CardBrand::Jcb => pb::CardBrand::Jcb,
        CardBrand::DinersClub => pb::CardBrand::DinersClub,
        CardBrand::UnionPay => pb::CardBrand::Unionpay,
        CardBrand::Unknown => pb::CardBrand::Unknown,
    };
    pb::CardDetails {
        brand: brand as i32,
        last4: card.last4().to_owned(),
        exp_month: card.exp_month(),
        exp_year: card.exp_year(),
        provider_token: card.provider_token().to_owned(),
    }
}

/// The domain card of a proto card; an unspecified brand is an error, not `Unknown`.
pub(crate) fn card_from_proto(card: &pb::CardDetails) -> Result<CardDetails, CodecError> {
    let brand = match pb::CardBrand::try_from(card.brand) {
        Ok(pb::CardBrand::Visa) => CardBrand::Visa,
        Ok(pb::CardBrand::Mastercard) => CardBrand::Mastercard,
        Ok(pb::CardBrand::Amex) => CardBrand::Amex,
        Ok(pb::CardBrand::Discover) => CardBrand::Discover,
        Ok(pb::CardBrand::Jcb) => CardBrand::Jcb,
        Ok(pb::CardBrand::DinersClub) => CardBrand::DinersClub,
        Ok(pb::CardBrand::Unionpay) => CardBrand::UnionPay,
        Ok(pb::CardBrand::Unknown) => CardBrand::Unknown,
        Ok(pb::CardBrand::Unspecified) | Err(_) => {
            return Err(CodecError::Field {
                field: "card.brand",
            });
        }
    };
    CardDetails::new(
        brand,
        &card.last4,
        card.exp_month,
        card.exp_year,
        &card.provider_token,
    )
    .map_err(|_| CodecError::Field { field: "card" })
}

#[cfg(test)]
mod tests {
    use purse_domain::Timestamp;
    use purse_proto::event::v1::{EventEnvelope, event_envelope::Payload};
    use purse_runtime::codec::EventCodec;

    use super::*;
    use uuid::Uuid;

    fn card() -> CardDetails {
        CardDetails::new(
            CardBrand::Visa,
            "4242",
            12,
            2034,
            "tok_sim_ok_xttkorycegphcjql",
        )
        .unwrap()
    }

    fn envelope(payload: Payload) -> EventEnvelope {
        EventEnvelope {
            occurred_at_ms: 1_796_641_929_236,
            payload: Some(payload),
            ..Default::default()
        }
    }

    #[test]
    fn every_event_is_written_as_its_proto_message_and_reads_back() {
        let id = Uuid::from_u128(7);
        let kinds = [
            PaymentMethodsEventKind::PaymentMethodSaved {
                payment_method_id: id,
                tenant: "dev".into(),
                owner: "olga".into(),
                card: card(),
                source_payment_id: Some(Uuid::from_u128(8)),
            },
            PaymentMethodsEventKind::PaymentMethodSaved {
                payment_method_id: id,
                tenant: "dev".into(),
                owner: "olga".into(),
                card: card(),
                source_payment_id: None,
            },
            PaymentMethodsEventKind::PaymentMethodRemoved {
                payment_method_id: id,
            },
        ];
        for kind in kinds {
            let event = PaymentMethodsEvent {
                occurred_at: Timestamp::from_millis(1_796_641_929_236),
                kind,
            };
            let payload = PaymentMethodsStream::to_payload(&event);
            assert!(matches!(payload, Payload::PaymentMethods(_)), "{payload:?}");
            let read = PaymentMethodsStream::from_envelope(&envelope(payload)).unwrap();
            assert_eq!(read, event);
        }
    }

    #[test]
    fn an_unspecified_card_brand_is_refused_not_defaulted() {
        let mut saved = to_proto(&PaymentMethodsEventKind::PaymentMethodSaved {
            payment_method_id: Uuid::from_u128(7),
            tenant: "dev".into(),
            owner: "olga".into(),
            card: card(),
            source_payment_id: None,
        });
        if let Some(E::PaymentMethodSaved(e)) = saved.event.as_mut() {
            e.card.as_mut().unwrap().brand = pb::CardBrand::Unspecified as i32;
        }
        let error = PaymentMethodsStream::from_envelope(&envelope(Payload::PaymentMethods(saved)));
        assert!(
            matches!(
                error,
                Err(CodecError::Field {
                    field: "card.brand"
                })
            ),
            "{error:?}"
        );
    }
}
