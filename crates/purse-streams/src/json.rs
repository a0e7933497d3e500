//! Top-up, payment, stored-card and saga events ↔ `purse.event.v1.JsonEvent` (ADR 0008).
//!
//! These streams carry their event kinds as JSON (externally tagged by event type) inside the
//! same protobuf envelope as wallet events, so the guard, the idempotency ledger and every reader
//! treat all streams alike. The time lives in the envelope, not in the body.

/// `impl EventCodec` for a stream binding whose events are `$event { occurred_at, kind }` with a
/// serde-serialisable `kind`, under the stream kind `$kind`.
macro_rules! json_codec {
    ($binding:ty, $event:ident, $kind:literal) => {
        impl purse_runtime::codec::EventCodec for $binding {
            const STREAM_KIND: &'static str = $kind;

            fn event_type(event: &$event) -> &'static str {
                event.event_type()
            }

            fn occurred_at(event: &$event) -> purse_domain::Timestamp {
                event.occurred_at
            }

            fn to_payload(event: &$event) -> purse_proto::event::v1::event_envelope::Payload {
                let body = match serde_json::to_string(&event.kind) {
                    Ok(body) => body,
                    // Every field is a string, number, bool, map or sequence: serialising cannot fail.
                    Err(error) => panic!("{} event does not serialise: {error}", $kind),
                };
                purse_proto::event::v1::event_envelope::Payload::Json(
                    purse_proto::event::v1::JsonEvent {
                        stream_kind: $kind.to_owned(),
                        body,
                    },
                )
            }

            fn from_envelope(
                envelope: &purse_proto::event::v1::EventEnvelope,
            ) -> Result<$event, purse_runtime::codec::CodecError> {
                use purse_proto::event::v1::event_envelope;
                use purse_runtime::codec::CodecError;
                let Some(event_envelope::Payload::Json(json)) = &envelope.payload else {
                    return Err(CodecError::WrongPayload { expected: $kind });
                };
                if json.stream_kind != $kind {
                    return Err(CodecError::WrongPayload { expected: $kind });
                }
                let kind = serde_json::from_str(&json.body)
                    .map_err(|_| CodecError::Field { field: "json.body" })?;
                Ok($event {
                    occurred_at: purse_domain::Timestamp::from_millis(envelope.occurred_at_ms),
                    kind,
                })
            }
        }
    };
}

pub(crate) use json_codec;
