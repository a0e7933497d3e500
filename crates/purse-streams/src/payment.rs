//! Payment intents: one stream per intent, projected into payment rows.

pub use crate::payment_rows::payment_rows;

use purse_domain::Timestamp;
use purse_domain::payment::{
    CancelReason, DeclineReason, PaymentDecider, PaymentEvent, PaymentEventKind,
    PaymentIntentCreated, PaymentStatus, ProviderEventId, RefundFailureReason, RefundReason,
};
use purse_proto::event::v1 as pb;
use purse_proto::event::v1::payment_event::Event as E;
use purse_runtime::codec::{
    CodecError, asset_field, decimal_field, optional_uuid_field, optional_uuid_text, uuid_field,
};
use purse_runtime::topics::DeciderTopics;

use crate::codec::proto_enum;
use crate::payment_methods::{card_from_proto, card_to_proto};

crate::bind_decider!(
    /// The payment intent decider as the engine drives it.
    PaymentStream => PaymentDecider
);

crate::codec::event_codec!(PaymentStream, PaymentEvent, "payment", proto: Payment);

/// Where its commands and events travel.
pub const TOPICS: DeciderTopics = DeciderTopics {
    commands: "purse.payment.commands",
    events: "purse.payment.events",
    group: "purse-payments",
};

proto_enum!(
    payment_status_to_proto, payment_status_from_proto,
    PaymentStatus => pb::PaymentStatus {
        RequiresPaymentMethod, Processing, Succeeded, Failed, Canceled,
    }
);

proto_enum!(
    pub(crate) decline_reason_to_proto, decline_reason_from_proto,
    DeclineReason => pb::DeclineReason {
        Declined, InsufficientFunds, ExpiredCard, IncorrectCvc, AuthenticationRequired,
        Fraudulent, ProcessingError,
    }
);

proto_enum!(
    cancel_reason_to_proto, cancel_reason_from_proto,
    CancelReason => pb::CancelReason { RequestedByCustomer, TopUpExpired, Abandoned }
);

proto_enum!(
    pub(crate) refund_reason_to_proto, refund_reason_from_proto,
    RefundReason => pb::RefundReason {
        LateCapture, CreditRejected, RequestedByCustomer, Duplicate, Fraudulent,
    }
);

proto_enum!(
    pub(crate) refund_failure_reason_to_proto, refund_failure_reason_from_proto,
    RefundFailureReason => pb::RefundFailureReason {
        ProviderDeclined, CardClosed, ProcessingError,
    }
);

fn to_proto(kind: &PaymentEventKind) -> pb::PaymentEvent {
    let event = match kind {
        PaymentEventKind::PaymentIntentCreated(created) => {
            E::PaymentIntentCreated(pb::PaymentIntentCreated {
                payment_id: created.payment_id.to_string(),
                tenant: created.tenant.clone(),
                owner: created.owner.clone(),
                asset: created.asset.code().to_owned(),
                asset_scale: created.asset.scale(),
                amount: created.amount.to_string(),
                top_up_id: optional_uuid_text(created.top_up_id),
                payment_method_id: optional_uuid_text(created.payment_method_id),
                expires_at_ms: created.expires_at.map(Timestamp::as_millis),
            })
        }
        PaymentEventKind::PaymentSubmitted {
            card,
            payment_method_id,
            save_card,
        } => E::PaymentSubmitted(pb::PaymentSubmitted {
            card: Some(card_to_proto(card)),
            payment_method_id: optional_uuid_text(*payment_method_id),
            save_card: *save_card,
        }),
        PaymentEventKind::PaymentSucceeded {
            provider_event_id,
            amount,
            previous_status,
        } => E::PaymentSucceeded(pb::PaymentSucceeded {
            provider_event_id: provider_event_id.as_str().to_owned(),
            amount: amount.to_string(),
            previous_status: payment_status_to_proto(*previous_status),
        }),
        PaymentEventKind::PaymentFailed {
            provider_event_id,
            reason,
        } => E::PaymentFailed(pb::PaymentFailed {
            provider_event_id: provider_event_id.as_str().to_owned(),
            reason: decline_reason_to_proto(*reason),
        }),
        PaymentEventKind::PaymentCanceled { reason } => E::PaymentCanceled(pb::PaymentCanceled {
            reason: cancel_reason_to_proto(*reason),
        }),
        PaymentEventKind::RefundRequested {
            refund_id,
            amount,
            reason,
            refundable_after,
        } => E::RefundRequested(pb::RefundRequested {
            refund_id: refund_id.to_string(),
            amount: amount.to_string(),
            reason: refund_reason_to_proto(*reason),
            refundable_after: refundable_after.to_string(),
        }),
        PaymentEventKind::RefundSucceeded {
            provider_event_id,
            refund_id,
            amount,
            refunded_after,
        } => E::RefundSucceeded(pb::RefundSucceeded {
            provider_event_id: provider_event_id.as_str().to_owned(),
            refund_id: refund_id.to_string(),
            amount: amount.to_string(),
            refunded_after: refunded_after.to_string(),
        }),
        PaymentEventKind::RefundFailed {
            provider_event_id,
            refund_id,
            amount,
            reason,
            refundable_after,
        } => E::RefundFailed(pb::RefundFailed {
            provider_event_id: provider_event_id.as_str().to_owned(),
            refund_id: refund_id.to_string(),
            amount: amount.to_string(),
            reason: refund_failure_reason_to_proto(*reason),
            refundable_after: refundable_after.to_string(),
        }),
    };
    pb::PaymentEvent { event: Some(event) }
}

fn provider_event_id(text: &str) -> Result<ProviderEventId, CodecError> {
    ProviderEventId::parse(text).map_err(|_| CodecError::Field {
        field: "provider_event_id",
    })
}

fn from_proto(message: &pb::PaymentEvent) -> Result<PaymentEventKind, CodecError> {
    Ok(match message.event.as_ref() {
        Some(E::PaymentIntentCreated(e)) => {
            PaymentEventKind::PaymentIntentCreated(PaymentIntentCreated {
                payment_id: uuid_field(&e.payment_id, "payment_id")?,
                tenant: e.tenant.clone(),
                owner: e.owner.clone(),
                asset: asset_field(&e.asset, e.asset_scale, "asset")?,
                amount: decimal_field(&e.amount, "amount")?,
                top_up_id: optional_uuid_field(&e.top_up_id, "top_up_id")?,
                payment_method_id: optional_uuid_field(&e.payment_method_id, "payment_method_id")?,
                expires_at: e.expires_at_ms.map(Timestamp::from_millis),
            })
        }
        Some(E::PaymentSubmitted(e)) => PaymentEventKind::PaymentSubmitted {
            card: card_from_proto(e.card.as_ref().ok_or(CodecError::Field { field: "card" })?)?,
            payment_method_id: optional_uuid_field(&e.payment_method_id, "payment_method_id")?,
            save_card: e.save_card,
        },
        Some(E::PaymentSucceeded(e)) => PaymentEventKind::PaymentSucceeded {
            provider_event_id: provider_event_id(&e.provider_event_id)?,
            amount: decimal_field(&e.amount, "amount")?,
            previous_status: payment_status_from_proto(e.previous_status, "previous_status")?,
        },
        Some(E::PaymentFailed(e)) => PaymentEventKind::PaymentFailed {
            provider_event_id: provider_event_id(&e.provider_event_id)?,
            reason: decline_reason_from_proto(e.reason, "reason")?,
        },
        Some(E::PaymentCanceled(e)) => PaymentEventKind::PaymentCanceled {
            reason: cancel_reason_from_proto(e.reason, "reason")?,
        },
        Some(E::RefundRequested(e)) => PaymentEventKind::RefundRequested {
            refund_id: uuid_field(&e.refund_id, "refund_id")?,
            amount: decimal_field(&e.amount, "amount")?,
            reason: refund_reason_from_proto(e.reason, "reason")?,
            refundable_after: decimal_field(&e.refundable_after, "refundable_after")?,
        },
        Some(E::RefundSucceeded(e)) => PaymentEventKind::RefundSucceeded {
            provider_event_id: provider_event_id(&e.provider_event_id)?,
            refund_id: uuid_field(&e.refund_id, "refund_id")?,
            amount: decimal_field(&e.amount, "amount")?,
            refunded_after: decimal_field(&e.refunded_after, "refunded_after")?,
        },
        Some(E::RefundFailed(e)) => PaymentEventKind::RefundFailed {
            provider_event_id: provider_event_id(&e.provider_event_id)?,
            refund_id: uuid_field(&e.refund_id, "refund_id")?,
            amount: decimal_field(&e.amount, "amount")?,
            reason: refund_failure_reason_from_proto(e.reason, "reason")?,
            refundable_after: decimal_field(&e.refundable_after, "refundable_after")?,
        },
        None => return Err(CodecError::Field { field: "event" }),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use purse_domain::event::EventKind;
    use purse_domain::money::Asset;
    use purse_domain::payment::{CardBrand, CardDetails};
    use purse_proto::event::v1::event_envelope::Payload;
    use rust_decimal::Decimal;
    use uuid::Uuid;

    use super::*;
    use crate::codec::round_trip;

    fn event(kind: PaymentEventKind) -> PaymentEvent {
        PaymentEvent {
            occurred_at: Timestamp::from_millis(1_796_641_929_161),
            kind,
        }
    }

    fn evt(text: &str) -> ProviderEventId {
        ProviderEventId::parse(text).unwrap()
    }

    #[test]
    fn every_event_is_written_as_its_proto_message_and_reads_back() {
        let usd = Asset::parse("USD", None).unwrap();
        let card = CardDetails::new(CardBrand::Amex, "0005", 1, 2031, "tok_sim_ok_a").unwrap();
        let mut kinds = vec![
            PaymentEventKind::PaymentIntentCreated(PaymentIntentCreated {
                payment_id: Uuid::from_u128(1),
                tenant: "dev".into(),
                owner: "olga".into(),
                asset: usd.clone(),
                amount: Decimal::new(500, 2),
                top_up_id: Some(Uuid::from_u128(2)),
                payment_method_id: Some(Uuid::from_u128(3)),
                expires_at: Some(Timestamp::from_millis(1_796_642_229_412)),
            }),
            PaymentEventKind::PaymentIntentCreated(PaymentIntentCreated {
                payment_id: Uuid::from_u128(1),
                tenant: "dev".into(),
                owner: "olga".into(),
                asset: Asset::parse("points", Some(0)).unwrap(),
                amount: Decimal::new(7, 0),
                top_up_id: None,
                payment_method_id: None,
                expires_at: None,
            }),
            PaymentEventKind::PaymentSubmitted {
                card: card.clone(),
                payment_method_id: Some(Uuid::from_u128(3)),
                save_card: false,
            },
            PaymentEventKind::PaymentSubmitted {
                card,
                payment_method_id: None,
                save_card: true,
            },
            PaymentEventKind::RefundRequested {
                refund_id: Uuid::from_u128(4),
                amount: Decimal::new(250, 2),
                reason: RefundReason::LateCapture,
                refundable_after: Decimal::new(250, 2),
            },
            PaymentEventKind::RefundSucceeded {
                provider_event_id: evt("evt_refund_1"),
                refund_id: Uuid::from_u128(4),
                amount: Decimal::new(250, 2),
                refunded_after: Decimal::new(250, 2),
            },
        ];
        kinds.extend(
            PaymentStatus::ALL
                .iter()
                .map(|status| PaymentEventKind::PaymentSucceeded {
                    provider_event_id: evt("evt_sim_01a2503437c9_charge"),
                    amount: Decimal::new(3000, 2),
                    previous_status: *status,
                }),
        );
        kinds.extend(
            DeclineReason::ALL
                .iter()
                .map(|reason| PaymentEventKind::PaymentFailed {
                    provider_event_id: evt("evt_sim_decline"),
                    reason: *reason,
                }),
        );
        kinds.extend(
            CancelReason::ALL
                .iter()
                .map(|reason| PaymentEventKind::PaymentCanceled { reason: *reason }),
        );
        kinds.extend(
            RefundReason::ALL
                .iter()
                .map(|reason| PaymentEventKind::RefundRequested {
                    refund_id: Uuid::from_u128(5),
                    amount: Decimal::new(1, 2),
                    reason: *reason,
                    refundable_after: Decimal::new(0, 2),
                }),
        );
        kinds.extend(RefundFailureReason::ALL.iter().map(|reason| {
            PaymentEventKind::RefundFailed {
                provider_event_id: evt("evt_refund_2"),
                refund_id: Uuid::from_u128(5),
                amount: Decimal::new(1, 2),
                reason: *reason,
                refundable_after: Decimal::new(1, 2),
            }
        }));
        let mut types = BTreeSet::new();
        for kind in kinds {
            types.insert(kind.event_type());
            let payload = round_trip::<PaymentStream>(&event(kind));
            assert!(matches!(payload, Payload::Payment(_)), "{payload:?}");
        }
        assert_eq!(types.len(), 8, "every event type: {types:?}");
    }

    #[test]
    fn an_unspecified_or_unknown_reason_is_refused_not_defaulted() {
        for value in [pb::DeclineReason::Unspecified as i32, 99] {
            let message = pb::PaymentEvent {
                event: Some(E::PaymentFailed(pb::PaymentFailed {
                    provider_event_id: "evt_1".into(),
                    reason: value,
                })),
            };
            assert_eq!(
                from_proto(&message),
                Err(CodecError::Field { field: "reason" })
            );
        }
        let message = pb::PaymentEvent {
            event: Some(E::PaymentSucceeded(pb::PaymentSucceeded {
                provider_event_id: "evt_1".into(),
                amount: "1.00".into(),
                previous_status: pb::PaymentStatus::Unspecified as i32,
            })),
        };
        assert_eq!(
            from_proto(&message),
            Err(CodecError::Field {
                field: "previous_status"
            })
        );
    }

    #[test]
    fn a_malformed_amount_or_provider_event_id_is_refused() {
        let succeeded = |provider_event_id: &str, amount: &str| pb::PaymentEvent {
            event: Some(E::PaymentSucceeded(pb::PaymentSucceeded {
                provider_event_id: provider_event_id.into(),
                amount: amount.into(),
                previous_status: pb::PaymentStatus::Processing as i32,
            })),
        };
        assert!(from_proto(&succeeded("evt_1", "1.00")).is_ok());
        assert_eq!(
            from_proto(&succeeded("evt_1", "1,00")),
            Err(CodecError::Field { field: "amount" })
        );
        assert_eq!(
            from_proto(&succeeded("", "1.00")),
            Err(CodecError::Field {
                field: "provider_event_id"
            })
        );
        assert_eq!(
            from_proto(&pb::PaymentEvent { event: None }),
            Err(CodecError::Field { field: "event" })
        );
    }
}
