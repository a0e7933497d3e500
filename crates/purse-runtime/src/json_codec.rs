//! Top-up, payment, stored-card and saga events ↔ `purse.event.v1.JsonEvent` (ADR 0008).
//!
//! These streams carry their event kinds as JSON (externally tagged by event type) inside the
//! same protobuf envelope as wallet events, so the guard, the idempotency ledger and every reader
//! treat all streams alike. The time lives in the envelope, not in the body.

use purse_domain::Timestamp;
use purse_domain::payment::{
    PaymentDecider, PaymentEvent, PaymentMethodsDecider, PaymentMethodsEvent,
};
use purse_domain::saga::{AutoTopUpDecider, AutoTopUpEvent, TopUpSagaDecider, TopUpSagaEvent};
use purse_domain::topup::{TopUpDecider, TopUpEvent};
use purse_proto::event::v1::{EventEnvelope, JsonEvent, event_envelope};

use crate::codec::{CodecError, EventCodec};

macro_rules! json_codec {
    ($decider:ty, $event:ident, $kind:literal) => {
        impl EventCodec for $decider {
            const STREAM_KIND: &'static str = $kind;

            fn event_type(event: &$event) -> &'static str {
                event.event_type()
            }

            fn occurred_at(event: &$event) -> Timestamp {
                event.occurred_at
            }

            fn to_payload(event: &$event) -> event_envelope::Payload {
                let body = match serde_json::to_string(&event.kind) {
                    Ok(body) => body,
                    // Every field is a string, number, bool, map or sequence: serialising cannot fail.
                    Err(error) => panic!("{} event does not serialise: {error}", $kind),
                };
                event_envelope::Payload::Json(JsonEvent {
                    stream_kind: $kind.to_owned(),
                    body,
                })
            }

            fn from_envelope(envelope: &EventEnvelope) -> Result<$event, CodecError> {
                let Some(event_envelope::Payload::Json(json)) = &envelope.payload else {
                    return Err(CodecError::WrongPayload { expected: $kind });
                };
                if json.stream_kind != $kind {
                    return Err(CodecError::WrongPayload { expected: $kind });
                }
                let kind = serde_json::from_str(&json.body)
                    .map_err(|_| CodecError::Field { field: "json.body" })?;
                Ok($event {
                    occurred_at: Timestamp::from_millis(envelope.occurred_at_ms),
                    kind,
                })
            }
        }
    };
}

json_codec!(TopUpDecider, TopUpEvent, "top_up");
json_codec!(PaymentDecider, PaymentEvent, "payment");
json_codec!(
    PaymentMethodsDecider,
    PaymentMethodsEvent,
    "payment_methods"
);
json_codec!(TopUpSagaDecider, TopUpSagaEvent, "top_up_saga");
json_codec!(AutoTopUpDecider, AutoTopUpEvent, "auto_top_up");
