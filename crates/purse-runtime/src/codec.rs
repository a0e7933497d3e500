//! Log records: encoding events into `purse.event.v1.EventRecord` and validating what comes back.
//!
//! Envelopes are checked at the boundary both ways (TIGER_STYLE: assert at the log boundary): a
//! record must be non-empty, carry one stream, contiguous sequences from 1 and a known schema.

use std::str::FromStr;

use prost::Message;
use purse_domain::idempotency::{Fingerprint, IdempotencyKey};
use purse_domain::money::Asset;
use purse_domain::{Decider, Timestamp};
use purse_proto::event::v1::{EventEnvelope, EventRecord, event_envelope};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::guard::RecordHeader;

/// Envelope schema version written by this code.
pub const SCHEMA_VERSION: u32 = 1;

/// Why a record or event could not be decoded.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// The bytes are not an `EventRecord`.
    #[error("record is not a valid protobuf EventRecord: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// A record with no events.
    #[error("record holds no events")]
    Empty,
    /// Events of one record name different streams.
    #[error("record mixes streams")]
    MixedStreams,
    /// Sequences inside a record are not contiguous, or start at 0.
    #[error("record sequences are not contiguous from {first}")]
    NonContiguous {
        /// First sequence of the record.
        first: u64,
    },
    /// A schema version this code does not know.
    #[error("unknown schema version {0}")]
    UnknownSchema(u32),
    /// The envelope holds a payload of another decider.
    #[error("unexpected payload for {expected} stream")]
    WrongPayload {
        /// The stream kind that was expected.
        expected: &'static str,
    },
    /// A field that must be present is missing or malformed.
    #[error("field {field} is missing or malformed")]
    Field {
        /// Proto field path.
        field: &'static str,
    },
}

/// How a decider's events map to and from the proto event contracts.
pub trait EventCodec: Decider {
    /// Stream kind in error messages ("wallet").
    const STREAM_KIND: &'static str;
    /// Stable event type name.
    fn event_type(event: &Self::Event) -> &'static str;
    /// When the event happened.
    fn occurred_at(event: &Self::Event) -> Timestamp;
    /// The envelope payload.
    fn to_payload(event: &Self::Event) -> event_envelope::Payload;
    /// The domain event of an envelope.
    fn from_envelope(envelope: &EventEnvelope) -> Result<Self::Event, CodecError>;
}

/// Envelope fields shared by every event of one command.
#[derive(Clone, Debug, Default)]
pub struct EventMeta {
    /// Tenant of the stream.
    pub tenant: String,
    /// Correlation id of the request (traces and logs).
    pub correlation_id: String,
    /// Id of the command or event that caused these events.
    pub causation_id: String,
    /// Client's idempotency key, absent for timer events.
    pub idempotency_key: Option<IdempotencyKey>,
    /// Fingerprint of the request, with the key.
    pub fingerprint: Option<Fingerprint>,
}

/// Builds the single log record that carries every event of one command.
pub fn encode_record<D: EventCodec>(
    stream_id: Uuid,
    first_sequence: u64,
    previous_event_id: &str,
    meta: &EventMeta,
    events: &[D::Event],
    event_ids: &[Uuid],
) -> EventRecord {
    assert_eq!(events.len(), event_ids.len(), "one id per event");
    assert!(first_sequence >= 1, "stream sequences start at 1");
    let envelopes = events
        .iter()
        .zip(event_ids)
        .enumerate()
        .map(|(index, (event, event_id))| EventEnvelope {
            event_id: event_id.to_string(),
            stream_id: stream_id.to_string(),
            stream_sequence: first_sequence + index as u64,
            event_type: D::event_type(event).to_owned(),
            occurred_at_ms: D::occurred_at(event).as_millis(),
            tenant: meta.tenant.clone(),
            correlation_id: meta.correlation_id.clone(),
            causation_id: meta.causation_id.clone(),
            idempotency_key: meta
                .idempotency_key
                .as_ref()
                .map(|key| key.as_str().to_owned())
                .unwrap_or_default(),
            schema_version: SCHEMA_VERSION,
            request_fingerprint: meta.fingerprint.map(|f| f.to_hex()).unwrap_or_default(),
            payload: Some(D::to_payload(event)),
        })
        .collect();
    let record = EventRecord {
        events: envelopes,
        previous_event_id: previous_event_id.to_owned(),
    };
    debug_assert!(validate(&record).is_ok());
    record
}

/// Decodes and validates a record read from the log.
pub fn decode_record(bytes: &[u8]) -> Result<EventRecord, CodecError> {
    let record = EventRecord::decode(bytes)?;
    validate(&record)?;
    Ok(record)
}

fn validate(record: &EventRecord) -> Result<(), CodecError> {
    let first = record.events.first().ok_or(CodecError::Empty)?;
    if first.stream_sequence == 0 {
        return Err(CodecError::NonContiguous { first: 0 });
    }
    for (index, envelope) in record.events.iter().enumerate() {
        if envelope.stream_id != first.stream_id {
            return Err(CodecError::MixedStreams);
        }
        if envelope.stream_sequence != first.stream_sequence + index as u64 {
            return Err(CodecError::NonContiguous {
                first: first.stream_sequence,
            });
        }
        if envelope.schema_version != SCHEMA_VERSION {
            return Err(CodecError::UnknownSchema(envelope.schema_version));
        }
    }
    Ok(())
}

/// Decodes a batch read from the log into `(offset, record)` pairs; on failure, the offset of
/// the first record that does not decode.
pub fn decode_stored(
    stored: &[purse_log::StoredRecord],
) -> Result<Vec<(u64, EventRecord)>, (u64, CodecError)> {
    stored
        .iter()
        .map(|item| {
            decode_record(&item.payload)
                .map(|record| (item.offset, record))
                .map_err(|source| (item.offset, source))
        })
        .collect()
}

/// The guard's view of a validated record.
pub fn header(record: &EventRecord) -> RecordHeader<'_> {
    let first = &record.events[0];
    let last = &record.events[record.events.len() - 1];
    RecordHeader {
        stream_id: &first.stream_id,
        first_sequence: first.stream_sequence,
        last_sequence: last.stream_sequence,
        previous_event_id: &record.previous_event_id,
        event_ids: record.events.iter().map(|e| e.event_id.as_str()).collect(),
    }
}

/// Idempotency key and fingerprint a record was written with, if any.
pub fn idempotency_of(record: &EventRecord) -> Option<(IdempotencyKey, Fingerprint)> {
    let first = &record.events[0];
    let key = IdempotencyKey::parse(&first.idempotency_key).ok()?;
    let fingerprint = Fingerprint::from_hex(&first.request_fingerprint)?;
    Some((key, fingerprint))
}

/// Parses a UUID field of an envelope.
pub fn uuid_field(text: &str, field: &'static str) -> Result<Uuid, CodecError> {
    Uuid::parse_str(text).map_err(|_| CodecError::Field { field })
}

/// Parses an optional UUID field of an event: the empty string is "none" (proto3 strings have no
/// absence of their own).
pub fn optional_uuid_field(text: &str, field: &'static str) -> Result<Option<Uuid>, CodecError> {
    if text.is_empty() {
        Ok(None)
    } else {
        uuid_field(text, field).map(Some)
    }
}

/// How an optional id is written: its text, or the empty string for none.
pub fn optional_uuid_text(id: Option<Uuid>) -> String {
    id.map(|id| id.to_string()).unwrap_or_default()
}

/// Parses a decimal string field of an event, keeping the scale it was written at (amounts are
/// written at their asset's scale: "12.30").
pub fn decimal_field(text: &str, field: &'static str) -> Result<Decimal, CodecError> {
    Decimal::from_str(text).map_err(|_| CodecError::Field { field })
}

/// Parses an optional decimal string field (`optional string`: absent is none).
pub fn optional_decimal_field(
    text: Option<&str>,
    field: &'static str,
) -> Result<Option<Decimal>, CodecError> {
    text.map(|text| decimal_field(text, field)).transpose()
}

/// The asset of an event's `asset` code and `asset_scale`, validated as when it was created.
pub fn asset_field(code: &str, scale: u32, field: &'static str) -> Result<Asset, CodecError> {
    Asset::parse(code, Some(scale)).map_err(|_| CodecError::Field { field })
}
