//! The event codec of the streams other than wallets: each writes its own `purse.event.v1`
//! message and reads it, or the `JsonEvent` its stream kind wrote before ADR 0013 (ADR 0008), so
//! logs written by earlier releases still read. The time lives in the envelope, not in the body.

/// `impl EventCodec` for a stream binding whose events are `$event { occurred_at, kind }`, under
/// the stream kind `$kind`: events are written as the `EventEnvelope.payload` variant `$variant`,
/// converted by `to_proto` and `from_proto` of the invoking module (the orphan rule forbids
/// `From` between a domain type and a proto type here); a `JsonEvent` of `$kind` reads through
/// the kind's serde form, which is what those releases wrote (ADR 0013). A stream kind born
/// after ADR 0013 says `json: none`: no release wrote it as JSON, so a `JsonEvent` is refused
/// like any other payload, and its events need no serde form.
macro_rules! event_codec {
    // First, so that `@codec` is never parsed as a type by the arms below.
    (@codec $binding:ty, $event:ident, $kind:literal, $variant:ident, $($json_arm:tt)*) => {
        impl purse_runtime::codec::EventCodec for $binding {
            const STREAM_KIND: &'static str = $kind;

            fn event_type(event: &$event) -> &'static str {
                event.event_type()
            }

            fn occurred_at(event: &$event) -> purse_domain::Timestamp {
                event.occurred_at
            }

            fn to_payload(event: &$event) -> purse_proto::event::v1::event_envelope::Payload {
                purse_proto::event::v1::event_envelope::Payload::$variant(to_proto(&event.kind))
            }

            fn from_envelope(
                envelope: &purse_proto::event::v1::EventEnvelope,
            ) -> Result<$event, purse_runtime::codec::CodecError> {
                use purse_proto::event::v1::event_envelope::Payload;
                let kind = match &envelope.payload {
                    Some(Payload::$variant(message)) => from_proto(message)?,
                    $($json_arm)*
                    _ => {
                        return Err(purse_runtime::codec::CodecError::WrongPayload {
                            expected: $kind,
                        });
                    }
                };
                Ok($event {
                    occurred_at: purse_domain::Timestamp::from_millis(envelope.occurred_at_ms),
                    kind,
                })
            }
        }
    };
    ($binding:ty, $event:ident, $kind:literal, proto: $variant:ident) => {
        crate::codec::event_codec!(@codec $binding, $event, $kind, $variant,
            Some(Payload::Json(json)) if json.stream_kind == $kind => {
                serde_json::from_str(&json.body).map_err(|_| {
                    purse_runtime::codec::CodecError::Field { field: "json.body" }
                })?
            }
        );
    };
    ($binding:ty, $event:ident, $kind:literal, proto: $variant:ident, json: none) => {
        crate::codec::event_codec!(@codec $binding, $event, $kind, $variant,);
    };
}

pub(crate) use event_codec;

/// Declares `$to` and `$from`, converting the fieldless domain enum `$domain` to and from the
/// proto enum `$module::$proto`, whose variants bear the same names. `$from` refuses
/// `_UNSPECIFIED` and values it does not know (a later release's) as a malformed `field`: an
/// event never reads as a default it did not say.
macro_rules! proto_enum {
    (
        $vis:vis $to:ident, $from:ident,
        $domain:ident => $module:ident::$proto:ident { $($variant:ident),+ $(,)? }
    ) => {
        /// The proto value of a domain value.
        $vis fn $to(value: $domain) -> i32 {
            let value = match value {
                $($domain::$variant => $module::$proto::$variant,)+
            };
            value as i32
        }

        /// The domain value of a proto value of field `field`.
        $vis fn $from(
            value: i32,
            field: &'static str,
        ) -> Result<$domain, purse_runtime::codec::CodecError> {
            match $module::$proto::try_from(value) {
                $(Ok($module::$proto::$variant) => Ok($domain::$variant),)+
                _ => Err(purse_runtime::codec::CodecError::Field { field }),
            }
        }
    };
}

pub(crate) use proto_enum;

/// Writes `event` as a log record the way the engine does, encodes and decodes the record's
/// bytes, and reads the event back: it must be the same event. The payload written is returned
/// so a caller can check it is the stream's protobuf message.
#[cfg(test)]
pub(crate) fn round_trip<D: purse_runtime::codec::EventCodec>(
    event: &D::Event,
) -> purse_proto::event::v1::event_envelope::Payload
where
    D::Event: PartialEq + std::fmt::Debug,
{
    use prost::Message;
    use purse_runtime::codec::{EventMeta, decode_record, encode_record};

    let record = encode_record::<D>(
        uuid::Uuid::from_u128(1),
        1,
        "",
        &EventMeta::default(),
        std::slice::from_ref(event),
        &[uuid::Uuid::from_u128(2)],
    );
    let mut read = decode_record(&record.encode_to_vec()).expect("record decodes");
    let envelope = read.events.remove(0);
    assert_eq!(envelope.event_type, D::event_type(event));
    assert_eq!(D::from_envelope(&envelope).as_ref(), Ok(event));
    envelope.payload.expect("payload")
}

/// [`round_trip`]s one event of each of `kinds`, checks that each is written as the stream's own
/// payload (`is_own`), and returns the event types met, so that a caller can check it met every
/// type of its stream.
#[cfg(test)]
pub(crate) fn round_trip_each<D, K>(
    kinds: impl IntoIterator<Item = K>,
    is_own: fn(&purse_proto::event::v1::event_envelope::Payload) -> bool,
) -> std::collections::BTreeSet<&'static str>
where
    D: purse_runtime::codec::EventCodec
        + purse_domain::Decider<Event = purse_domain::event::Event<K>>,
    K: purse_domain::event::EventKind + PartialEq + std::fmt::Debug,
{
    kinds
        .into_iter()
        .map(|kind| {
            let event_type = kind.event_type();
            let event = purse_domain::event::Event {
                occurred_at: purse_domain::Timestamp::from_millis(1_796_641_929_161),
                kind,
            };
            let payload = round_trip::<D>(&event);
            assert!(is_own(&payload), "{event_type}: {payload:?}");
            event_type
        })
        .collect()
}

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
