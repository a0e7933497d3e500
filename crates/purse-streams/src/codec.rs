//! The event codec of the streams other than wallets: each writes its own `purse.event.v1`
//! message (ADR 0013) or, until converted, `JsonEvent` (ADR 0008); each reads `JsonEvent` records
//! of earlier releases. The time lives in the envelope, not in the body.

/// `impl EventCodec` for a stream binding whose events are `$event { occurred_at, kind }` with a
/// serde-serialisable `kind`, under the stream kind `$kind`.
///
/// With `proto: $variant`, events are written as the `EventEnvelope.payload` variant `$variant`
/// (converted by `to_proto` and `from_proto` of the invoking module: the orphan rule forbids
/// `From` between a domain type and a proto type here), and the JSON payloads of earlier releases
/// still read (ADR 0013). Without it, events are written as JSON (ADR 0008).
macro_rules! json_codec {
    (@payload $kind:literal, $event_kind:expr) => {
        purse_proto::event::v1::event_envelope::Payload::Json(purse_proto::event::v1::JsonEvent {
            stream_kind: $kind.to_owned(),
            body: match serde_json::to_string($event_kind) {
                Ok(body) => body,
                // Every field is a string, number, bool, map or sequence: serialising cannot fail.
                Err(error) => panic!("{} event does not serialise: {error}", $kind),
            },
        })
    };
    (@payload $kind:literal, $event_kind:expr, $variant:ident) => {
        purse_proto::event::v1::event_envelope::Payload::$variant(to_proto($event_kind))
    };
    ($binding:ty, $event:ident, $kind:literal $(, proto: $variant:ident)?) => {
        impl purse_runtime::codec::EventCodec for $binding {
            const STREAM_KIND: &'static str = $kind;

            fn event_type(event: &$event) -> &'static str {
                event.event_type()
            }

            fn occurred_at(event: &$event) -> purse_domain::Timestamp {
                event.occurred_at
            }

            fn to_payload(event: &$event) -> purse_proto::event::v1::event_envelope::Payload {
                crate::json::json_codec!(@payload $kind, &event.kind $(, $variant)?)
            }

            fn from_envelope(
                envelope: &purse_proto::event::v1::EventEnvelope,
            ) -> Result<$event, purse_runtime::codec::CodecError> {
                $(
                    if let Some(purse_proto::event::v1::event_envelope::Payload::$variant(
                        message,
                    )) = &envelope.payload
                    {
                        return Ok($event {
                            occurred_at: purse_domain::Timestamp::from_millis(
                                envelope.occurred_at_ms,
                            ),
                            kind: from_proto(message)?,
                        });
                    }
                )?
                Ok($event {
                    occurred_at: purse_domain::Timestamp::from_millis(envelope.occurred_at_ms),
                    kind: match &envelope.payload {
                        Some(purse_proto::event::v1::event_envelope::Payload::Json(json))
                            if json.stream_kind == $kind =>
                        {
                            serde_json::from_str(&json.body).map_err(|_| {
                                purse_runtime::codec::CodecError::Field { field: "json.body" }
                            })?
                        }
                        _ => {
                            return Err(purse_runtime::codec::CodecError::WrongPayload {
                                expected: $kind,
                            });
                        }
                    },
                })
            }
        }
    };
}

pub(crate) use json_codec;

#[cfg(test)]
mod tests {
    use purse_domain::Decider;
    use purse_proto::event::v1::{EventEnvelope, JsonEvent, event_envelope::Payload};
    use purse_runtime::codec::EventCodec;

    use crate::auto_top_up::AutoTopUpStream;
    use crate::payment::PaymentStream;
    use crate::payment_methods::PaymentMethodsStream;
    use crate::top_up::TopUpStream;
    use crate::top_up_saga::TopUpSagaStream;

    /// One body of each event type the JSON-era release wrote, as its log holds them:
    /// `topic event_type body` lines taken from the `tests/fixtures/json-era` data directory.
    const BODIES: &str = include_str!("../../../tests/fixtures/json-era/bodies.txt");

    fn envelope(stream_kind: &str, body: &str) -> EventEnvelope {
        EventEnvelope {
            occurred_at_ms: 1_796_641_929_161,
            payload: Some(Payload::Json(JsonEvent {
                stream_kind: stream_kind.to_owned(),
                body: body.to_owned(),
            })),
            ..Default::default()
        }
    }

    /// Decodes a JSON-era body with `D`'s codec, checks its event type, and checks that what the
    /// codec writes for it today reads back as the same event.
    fn reads<D: EventCodec>(event_type: &str, body: &str)
    where
        <D as Decider>::Event: PartialEq + std::fmt::Debug,
    {
        let event = D::from_envelope(&envelope(D::STREAM_KIND, body))
            .unwrap_or_else(|error| panic!("{event_type}: {error}"));
        assert_eq!(D::event_type(&event), event_type);
        assert_eq!(D::occurred_at(&event).as_millis(), 1_796_641_929_161);
        let rewritten = EventEnvelope {
            occurred_at_ms: 1_796_641_929_161,
            payload: Some(D::to_payload(&event)),
            ..Default::default()
        };
        assert_eq!(D::from_envelope(&rewritten).unwrap(), event);
    }

    #[test]
    fn every_json_era_event_type_of_every_stream_kind_still_reads() {
        let mut kinds = std::collections::BTreeSet::new();
        for line in BODIES.lines() {
            let mut fields = line.splitn(3, ' ');
            let (topic, event_type, body) = (
                fields.next().unwrap(),
                fields.next().unwrap(),
                fields.next().unwrap(),
            );
            match topic {
                "purse.topup.events" => reads::<TopUpStream>(event_type, body),
                "purse.payment.events" => reads::<PaymentStream>(event_type, body),
                "purse.payment_method.events" => reads::<PaymentMethodsStream>(event_type, body),
                "purse.saga.topup.events" => reads::<TopUpSagaStream>(event_type, body),
                "purse.saga.auto_topup.events" => reads::<AutoTopUpStream>(event_type, body),
                other => panic!("unexpected topic {other}"),
            }
            kinds.insert(topic);
        }
        assert_eq!(kinds.len(), 5, "a body of every stream kind: {kinds:?}");
    }

    #[test]
    fn a_json_body_under_another_stream_kind_is_refused() {
        let body = r#"{"PaymentMethodRemoved":{"payment_method_id":"01a25034-3814-715f-82ac-67eea82b63b8"}}"#;
        assert!(PaymentMethodsStream::from_envelope(&envelope("payment_methods", body)).is_ok());
        assert!(PaymentMethodsStream::from_envelope(&envelope("payment", body)).is_err());
    }
}
