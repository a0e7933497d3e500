//! Transaction coordinators (ADR 0017): one internal stream per multi-wallet transaction.
//!
//! No read model yet, so no rows and no projector line: the service step adds the transaction
//! view (status, failure, per-wallet progress) when there is an API to read it. Nor a bus in
//! [`crate::buses::Buses`]: nothing sends the coordinator commands until the driver exists.
//! Coordinator events were never written as `JsonEvent` (they postdate ADR 0013), so the codec
//! reads only their protobuf message.

use std::collections::BTreeMap;

use purse_domain::Timestamp;
use purse_domain::idempotency::Fingerprint;
use purse_domain::transaction::{
    Operation, TransactionDecider, TransactionError, TransactionEvent, TransactionEventKind,
    TransactionFailure,
};
use purse_domain::wallet::{CreditSource, TransactionFailureReason};
use purse_proto::event::v1 as pb;
use purse_proto::event::v1::transaction_event::Event as E;
use purse_proto::event::v1::transaction_operation as op;
use purse_runtime::codec::{
    CodecError, decimal_field, optional_decimal_field, optional_uuid_field, optional_uuid_text,
    uuid_field,
};
use purse_runtime::edge::{Code, Rejections, Wire};
use purse_runtime::topics::DeciderTopics;
use uuid::Uuid;

use crate::codec::proto_enum;

crate::bind_decider!(
    /// The transaction coordinator as the engine drives it.
    TransactionStream => TransactionDecider
);

crate::codec::event_codec!(
    TransactionStream, TransactionEvent, "transaction", proto: Transaction, json: none
);

/// Where its commands and events travel.
pub const TOPICS: DeciderTopics = DeciderTopics {
    commands: "purse.transaction.commands",
    events: "purse.transaction.events",
    group: "purse-transactions",
};

proto_enum!(
    credit_source_to_proto, credit_source_from_proto,
    CreditSource => pb::CreditSource { Paid, Granted, Refund, Transfer, Adjustment }
);

proto_enum!(
    failure_reason_to_proto, failure_reason_from_proto,
    TransactionFailureReason => pb::TransactionFailureReason {
        InsufficientFunds, LimitExceeded, WalletSuspended, WalletClosed, WalletNotFound,
        AssetMismatch, InvalidAmount, ExpiryNotInFuture, SourceNotAllowed,
        BalanceCeilingExceeded, QuoteNotFound, QuoteExpired, DeadlineExceeded,
    }
);

fn operation_to_proto(operation: &Operation) -> pb::TransactionOperation {
    let operation = match operation {
        Operation::Issue {
            wallet_id,
            amount,
            source,
            expires_at,
        } => op::Operation::Issue(op::Issue {
            wallet_id: wallet_id.to_string(),
            amount: amount.to_string(),
            source: source.map(credit_source_to_proto),
            expires_at_ms: expires_at.map(Timestamp::as_millis),
        }),
        Operation::Redeem { wallet_id, amount } => op::Operation::Redeem(op::Redeem {
            wallet_id: wallet_id.to_string(),
            amount: amount.to_string(),
        }),
        Operation::Transfer { from, to, amount } => op::Operation::Transfer(op::Transfer {
            from: from.to_string(),
            to: to.to_string(),
            amount: amount.to_string(),
        }),
        Operation::Exchange {
            from,
            to,
            amount,
            quote_id,
        } => op::Operation::Exchange(op::Exchange {
            from: from.to_string(),
            to: to.to_string(),
            amount: amount.to_string(),
            quote_id: quote_id.to_string(),
        }),
    };
    pb::TransactionOperation {
        operation: Some(operation),
    }
}

fn operation_from_proto(operation: &pb::TransactionOperation) -> Result<Operation, CodecError> {
    Ok(match operation.operation.as_ref() {
        Some(op::Operation::Issue(issue)) => Operation::Issue {
            wallet_id: uuid_field(&issue.wallet_id, "operations.issue.wallet_id")?,
            amount: decimal_field(&issue.amount, "operations.issue.amount")?,
            // Absent is "the client named none"; a present but unknown value is malformed.
            source: issue
                .source
                .map(|source| credit_source_from_proto(source, "operations.issue.source"))
                .transpose()?,
            expires_at: issue.expires_at_ms.map(Timestamp::from_millis),
        },
        Some(op::Operation::Redeem(redeem)) => Operation::Redeem {
            wallet_id: uuid_field(&redeem.wallet_id, "operations.redeem.wallet_id")?,
            amount: decimal_field(&redeem.amount, "operations.redeem.amount")?,
        },
        Some(op::Operation::Transfer(transfer)) => Operation::Transfer {
            from: uuid_field(&transfer.from, "operations.transfer.from")?,
            to: uuid_field(&transfer.to, "operations.transfer.to")?,
            amount: decimal_field(&transfer.amount, "operations.transfer.amount")?,
        },
        Some(op::Operation::Exchange(exchange)) => Operation::Exchange {
            from: uuid_field(&exchange.from, "operations.exchange.from")?,
            to: uuid_field(&exchange.to, "operations.exchange.to")?,
            amount: decimal_field(&exchange.amount, "operations.exchange.amount")?,
            quote_id: uuid_field(&exchange.quote_id, "operations.exchange.quote_id")?,
        },
        None => {
            return Err(CodecError::Field {
                field: "operations.operation",
            });
        }
    })
}

fn wallet_assets_from_proto(
    assets: &[pb::TransactionWalletAsset],
) -> Result<BTreeMap<Uuid, String>, CodecError> {
    let mut by_wallet = BTreeMap::new();
    for asset in assets {
        let wallet_id = uuid_field(&asset.wallet_id, "wallet_assets.wallet_id")?;
        // A wallet listed twice would read as whichever came last: refuse it instead.
        if by_wallet.insert(wallet_id, asset.asset.clone()).is_some() {
            return Err(CodecError::Field {
                field: "wallet_assets.wallet_id",
            });
        }
    }
    Ok(by_wallet)
}

fn failure_to_proto(failure: &TransactionFailure) -> pb::TransactionFailure {
    pb::TransactionFailure {
        index: failure.index,
        wallet_id: optional_uuid_text(failure.wallet_id),
        reason: failure_reason_to_proto(failure.reason),
        available: failure.available.map(|available| available.to_string()),
    }
}

fn failure_from_proto(
    failure: Option<&pb::TransactionFailure>,
) -> Result<TransactionFailure, CodecError> {
    let failure = failure.ok_or(CodecError::Field { field: "failure" })?;
    Ok(TransactionFailure {
        index: failure.index,
        wallet_id: optional_uuid_field(&failure.wallet_id, "failure.wallet_id")?,
        reason: failure_reason_from_proto(failure.reason, "failure.reason")?,
        available: optional_decimal_field(failure.available.as_deref(), "failure.available")?,
    })
}

fn to_proto(kind: &TransactionEventKind) -> pb::TransactionEvent {
    use TransactionEventKind as K;
    let event = match kind {
        K::TransactionStarted {
            transaction_id,
            tenant,
            reference_id,
            request_fingerprint,
            operations,
            wallet_assets,
            deadline,
        } => E::TransactionStarted(pb::TransactionStarted {
            transaction_id: transaction_id.to_string(),
            tenant: tenant.clone(),
            reference_id: reference_id.clone(),
            request_fingerprint: request_fingerprint.as_bytes().to_vec(),
            operations: operations.iter().map(operation_to_proto).collect(),
            wallet_assets: wallet_assets
                .iter()
                .map(|(wallet_id, asset)| pb::TransactionWalletAsset {
                    wallet_id: wallet_id.to_string(),
                    asset: asset.clone(),
                })
                .collect(),
            deadline_ms: deadline.as_millis(),
        }),
        K::TransactionWalletPrepared { wallet_id } => {
            E::TransactionWalletPrepared(pb::TransactionWalletPrepared {
                wallet_id: wallet_id.to_string(),
            })
        }
        K::TransactionCompleted => E::TransactionCompleted(pb::TransactionCompleted {}),
        K::TransactionFailed { failure } => E::TransactionFailed(pb::TransactionFailed {
            failure: Some(failure_to_proto(failure)),
        }),
        K::TransactionWalletCommitted { wallet_id } => {
            E::TransactionWalletCommitted(pb::TransactionWalletCommitted {
                wallet_id: wallet_id.to_string(),
            })
        }
        K::TransactionWalletAborted { wallet_id } => {
            E::TransactionWalletAborted(pb::TransactionWalletAborted {
                wallet_id: wallet_id.to_string(),
            })
        }
    };
    pb::TransactionEvent { event: Some(event) }
}

fn from_proto(message: &pb::TransactionEvent) -> Result<TransactionEventKind, CodecError> {
    use TransactionEventKind as K;
    Ok(match message.event.as_ref() {
        Some(E::TransactionStarted(e)) => K::TransactionStarted {
            transaction_id: uuid_field(&e.transaction_id, "transaction_id")?,
            tenant: e.tenant.clone(),
            reference_id: e.reference_id.clone(),
            request_fingerprint: <[u8; 16]>::try_from(e.request_fingerprint.as_slice())
                .map(Fingerprint::from_bytes)
                .map_err(|_| CodecError::Field {
                    field: "request_fingerprint",
                })?,
            operations: e
                .operations
                .iter()
                .map(operation_from_proto)
                .collect::<Result<_, _>>()?,
            wallet_assets: wallet_assets_from_proto(&e.wallet_assets)?,
            deadline: Timestamp::from_millis(e.deadline_ms),
        },
        Some(E::TransactionWalletPrepared(e)) => K::TransactionWalletPrepared {
            wallet_id: uuid_field(&e.wallet_id, "wallet_id")?,
        },
        Some(E::TransactionCompleted(_)) => K::TransactionCompleted,
        Some(E::TransactionFailed(e)) => K::TransactionFailed {
            failure: failure_from_proto(e.failure.as_ref())?,
        },
        Some(E::TransactionWalletCommitted(e)) => K::TransactionWalletCommitted {
            wallet_id: uuid_field(&e.wallet_id, "wallet_id")?,
        },
        Some(E::TransactionWalletAborted(e)) => K::TransactionWalletAborted {
            wallet_id: uuid_field(&e.wallet_id, "wallet_id")?,
        },
        None => return Err(CodecError::Field { field: "event" }),
    })
}

/// Request fields are named as the transaction service's start request will name them; an
/// error about one operation carries its index as a detail, since the wire field is a static
/// path (`operations.amount`), not `operations[3].amount`.
impl Rejections for TransactionStream {
    fn wire(rejection: &TransactionError) -> Wire<'_> {
        let precondition = |reason| Wire::precondition(reason, rejection);
        match rejection {
            TransactionError::NotFound => {
                Wire::new(Code::NotFound, "TRANSACTION_NOT_FOUND", rejection)
            }
            // The client reused its reference for another request: the existing transaction
            // tells it what became of the first one.
            TransactionError::DuplicateReferenceId {
                transaction_id,
                status,
            } => Wire::new(Code::AlreadyExists, "DUPLICATE_REFERENCE_ID", rejection)
                .detail("transaction_id", transaction_id)
                .detail("status", status.as_str()),
            TransactionError::InvalidTenant { max_bytes } => {
                Wire::invalid("tenant", "INVALID_TEXT", rejection).detail("max_bytes", max_bytes)
            }
            TransactionError::InvalidReferenceId { max_bytes } => {
                Wire::invalid("reference_id", "INVALID_REFERENCE_ID", rejection)
                    .detail("max_bytes", max_bytes)
            }
            // Only a caller that derives the id wrongly gets here; the id it should have used
            // is the fix.
            TransactionError::TransactionIdMismatch { expected } => {
                Wire::invalid("transaction_id", "INVALID_TRANSACTION_ID", rejection)
                    .detail("expected", expected)
            }
            TransactionError::InvalidOperationCount { max, .. } => {
                Wire::invalid("operations", "INVALID_OPERATIONS", rejection).detail("max", max)
            }
            TransactionError::TooManyWallets { max, .. } => {
                Wire::invalid("operations", "TOO_MANY_WALLETS", rejection).detail("max", max)
            }
            // The timeout comes from configuration (it is not part of the request
            // fingerprint), as for top-ups: the request cannot be served as configured, which
            // is neither the client's field nor INTERNAL.
            TransactionError::InvalidTimeout { min_ms, max_ms } => precondition("INVALID_TIMEOUT")
                .detail("min_ms", min_ms)
                .detail("max_ms", max_ms),
            TransactionError::AmountNotPositive { index } => {
                Wire::invalid("operations.amount", "INVALID_AMOUNT", rejection)
                    .detail("index", index)
            }
            TransactionError::SameWallet { index } => {
                Wire::invalid("operations.to", "SAME_WALLET", rejection).detail("index", index)
            }
            TransactionError::SourceNotAllowed { index, .. } => {
                Wire::invalid("operations.source", "SOURCE_NOT_ALLOWED", rejection)
                    .detail("index", index)
            }
            TransactionError::ExpiryNotInFuture { index } => Wire::invalid(
                "operations.expires_at_ms",
                "EXPIRY_NOT_IN_FUTURE",
                rejection,
            )
            .detail("index", index),
            // The service sends the asset of every wallet of the tenant it knows, so a missing
            // one is a wallet the tenant does not have.
            TransactionError::WalletAssetMissing { wallet_id } => {
                Wire::new(Code::NotFound, "WALLET_NOT_FOUND", rejection)
                    .detail("wallet_id", wallet_id)
            }
            // Only the driver sends the Record* commands below; a client never reaches them,
            // but the mapping stays precise.
            TransactionError::WalletNotInTransaction { .. } => {
                Wire::invalid("wallet_id", "WALLET_NOT_IN_TRANSACTION", rejection)
            }
            TransactionError::ConflictingAnswer { progress, .. } => {
                precondition("CONFLICTING_ANSWER").detail("progress", progress.as_str())
            }
            TransactionError::InvalidStep { status, progress } => precondition("INVALID_STEP")
                .detail("status", status.as_str())
                .detail("progress", progress.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use purse_domain::transaction::{TransactionStatus, WalletProgress};
    use purse_proto::event::v1::event_envelope::Payload;
    use purse_proto::event::v1::{EventEnvelope, JsonEvent};
    use purse_runtime::codec::EventCodec;
    use rust_decimal::Decimal;

    use super::*;
    use crate::codec::round_trip_each;

    /// The coordinator's events as docs/event-catalogue.md lists them.
    const CATALOGUE_EVENT_TYPES: [&str; 6] = [
        "TransactionStarted",
        "TransactionWalletPrepared",
        "TransactionCompleted",
        "TransactionFailed",
        "TransactionWalletCommitted",
        "TransactionWalletAborted",
    ];

    fn wallet(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// Every kind of operation, with and without its optional fields, and every issue source.
    fn operations() -> Vec<Operation> {
        let amount = Decimal::new(1230, 2);
        let mut operations: Vec<_> = CreditSource::ALL
            .iter()
            .map(|source| Operation::Issue {
                wallet_id: wallet(1),
                amount,
                source: Some(*source),
                expires_at: Some(Timestamp::from_millis(1_900_000_000_000)),
            })
            .collect();
        operations.extend([
            Operation::Issue {
                wallet_id: wallet(1),
                amount,
                source: None,
                expires_at: None,
            },
            Operation::Redeem {
                wallet_id: wallet(2),
                amount,
            },
            Operation::Transfer {
                from: wallet(1),
                to: wallet(2),
                amount,
            },
            Operation::Exchange {
                from: wallet(2),
                to: wallet(3),
                amount,
                quote_id: Uuid::from_u128(9),
            },
        ]);
        operations
    }

    fn started() -> TransactionEventKind {
        TransactionEventKind::TransactionStarted {
            transaction_id: Uuid::from_u128(7),
            tenant: "dev".into(),
            reference_id: "order-42".into(),
            request_fingerprint: Fingerprint::of(b"request"),
            operations: operations(),
            wallet_assets: [(wallet(1), "USD"), (wallet(2), "USD"), (wallet(3), "EUR")]
                .map(|(id, asset)| (id, asset.to_owned()))
                .into(),
            deadline: Timestamp::from_millis(1_796_641_959_161),
        }
    }

    fn started_proto() -> pb::TransactionStarted {
        match to_proto(&started()).event {
            Some(E::TransactionStarted(started)) => started,
            other => panic!("{other:?}"),
        }
    }

    fn read_started(started: pb::TransactionStarted) -> Result<TransactionEventKind, CodecError> {
        from_proto(&pb::TransactionEvent {
            event: Some(E::TransactionStarted(started)),
        })
    }

    #[test]
    fn every_event_is_written_as_its_proto_message_and_reads_back() {
        use TransactionEventKind as K;
        let mut kinds = vec![
            started(),
            K::TransactionWalletPrepared {
                wallet_id: wallet(1),
            },
            K::TransactionCompleted,
            K::TransactionWalletCommitted {
                wallet_id: wallet(2),
            },
            K::TransactionWalletAborted {
                wallet_id: wallet(3),
            },
            // The deadline: no operation, no wallet.
            K::TransactionFailed {
                failure: TransactionFailure {
                    index: None,
                    wallet_id: None,
                    reason: TransactionFailureReason::DeadlineExceeded,
                    available: None,
                },
            },
        ];
        kinds.extend(
            TransactionFailureReason::ALL
                .iter()
                .map(|reason| K::TransactionFailed {
                    failure: TransactionFailure {
                        index: Some(3),
                        wallet_id: Some(wallet(2)),
                        reason: *reason,
                        available: Some(Decimal::new(500, 2)),
                    },
                }),
        );
        let types = round_trip_each::<TransactionStream, _>(kinds, |payload| {
            matches!(payload, Payload::Transaction(_))
        });
        assert_eq!(types, BTreeSet::from(CATALOGUE_EVENT_TYPES));
    }

    #[test]
    fn the_catalogue_lists_every_event_under_the_transaction_topic() {
        let catalogue = include_str!("../../../docs/event-catalogue.md");
        let row = catalogue
            .lines()
            .find(|line| line.starts_with(&format!("| `{}`", TOPICS.events)))
            .expect("a catalogue row for the transaction topic");
        for event_type in CATALOGUE_EVENT_TYPES {
            assert!(
                row.contains(&format!("`purse.event.v1.{event_type}`")),
                "{event_type} missing from {row}"
            );
        }
    }

    #[test]
    fn a_malformed_or_unknown_field_is_refused_naming_it_not_defaulted() {
        let mut short_fingerprint = started_proto();
        short_fingerprint.request_fingerprint.pop();
        let mut bad_asset_wallet = started_proto();
        bad_asset_wallet.wallet_assets[0].wallet_id = "not-a-uuid".into();
        let mut twice_listed = started_proto();
        twice_listed.wallet_assets[1].wallet_id = twice_listed.wallet_assets[0].wallet_id.clone();
        let mut no_operation = started_proto();
        no_operation.operations[0].operation = None;
        let mut unspecified_source = started_proto();
        let mut later_source = started_proto();
        let mut bad_amount = started_proto();
        for (started, source) in [
            (
                &mut unspecified_source,
                pb::CreditSource::Unspecified as i32,
            ),
            (&mut later_source, 99),
        ] {
            let Some(op::Operation::Issue(issue)) = started.operations[0].operation.as_mut() else {
                panic!("the first operation is an issue")
            };
            issue.source = Some(source);
        }
        let transfer_at = operations()
            .iter()
            .position(|operation| matches!(operation, Operation::Transfer { .. }))
            .expect("a transfer among the operations");
        let Some(op::Operation::Transfer(transfer)) =
            bad_amount.operations[transfer_at].operation.as_mut()
        else {
            panic!("operation {transfer_at} is a transfer")
        };
        transfer.amount = "12,30".into();
        for (started, field) in [
            (short_fingerprint, "request_fingerprint"),
            (bad_asset_wallet, "wallet_assets.wallet_id"),
            (twice_listed, "wallet_assets.wallet_id"),
            (no_operation, "operations.operation"),
            (unspecified_source, "operations.issue.source"),
            (later_source, "operations.issue.source"),
            (bad_amount, "operations.transfer.amount"),
        ] {
            assert_eq!(read_started(started), Err(CodecError::Field { field }));
        }

        let failed = |failure| pb::TransactionEvent {
            event: Some(E::TransactionFailed(pb::TransactionFailed { failure })),
        };
        let failure = pb::TransactionFailure {
            index: Some(0),
            wallet_id: wallet(1).to_string(),
            reason: pb::TransactionFailureReason::InsufficientFunds as i32,
            available: Some("1.00".into()),
        };
        for (message, field) in [
            (failed(None), "failure"),
            (
                failed(Some(pb::TransactionFailure {
                    reason: pb::TransactionFailureReason::Unspecified as i32,
                    ..failure.clone()
                })),
                "failure.reason",
            ),
            (
                failed(Some(pb::TransactionFailure {
                    available: Some("much".into()),
                    ..failure.clone()
                })),
                "failure.available",
            ),
            (
                failed(Some(pb::TransactionFailure {
                    wallet_id: "w-1".into(),
                    ..failure
                })),
                "failure.wallet_id",
            ),
            (
                pb::TransactionEvent {
                    event: Some(E::TransactionWalletPrepared(
                        pb::TransactionWalletPrepared {
                            wallet_id: String::new(),
                        },
                    )),
                },
                "wallet_id",
            ),
            (pb::TransactionEvent { event: None }, "event"),
        ] {
            assert_eq!(from_proto(&message), Err(CodecError::Field { field }));
        }
    }

    #[test]
    fn a_json_payload_is_refused_since_no_release_wrote_one() {
        let envelope = EventEnvelope {
            payload: Some(Payload::Json(JsonEvent {
                stream_kind: "transaction".into(),
                body: r#"{"TransactionCompleted":null}"#.into(),
            })),
            ..Default::default()
        };
        assert_eq!(
            TransactionStream::from_envelope(&envelope),
            Err(CodecError::WrongPayload {
                expected: "transaction"
            })
        );
    }

    #[test]
    fn rejections_map_to_the_codes_reasons_and_fields_their_variants_document() {
        let id = Uuid::from_u128(7);
        let cases = [
            (
                TransactionError::NotFound,
                Code::NotFound,
                "TRANSACTION_NOT_FOUND",
                None,
            ),
            (
                TransactionError::DuplicateReferenceId {
                    transaction_id: id,
                    status: TransactionStatus::Completed,
                },
                Code::AlreadyExists,
                "DUPLICATE_REFERENCE_ID",
                None,
            ),
            (
                TransactionError::InvalidTenant { max_bytes: 64 },
                Code::InvalidArgument,
                "INVALID_TEXT",
                Some("tenant"),
            ),
            (
                TransactionError::InvalidReferenceId { max_bytes: 255 },
                Code::InvalidArgument,
                "INVALID_REFERENCE_ID",
                Some("reference_id"),
            ),
            (
                TransactionError::TransactionIdMismatch { expected: id },
                Code::InvalidArgument,
                "INVALID_TRANSACTION_ID",
                Some("transaction_id"),
            ),
            (
                TransactionError::InvalidOperationCount { count: 0, max: 100 },
                Code::InvalidArgument,
                "INVALID_OPERATIONS",
                Some("operations"),
            ),
            (
                TransactionError::TooManyWallets { count: 51, max: 50 },
                Code::InvalidArgument,
                "TOO_MANY_WALLETS",
                Some("operations"),
            ),
            (
                TransactionError::InvalidTimeout {
                    min_ms: 1_000,
                    max_ms: 3_600_000,
                },
                Code::FailedPrecondition,
                "INVALID_TIMEOUT",
                None,
            ),
            (
                TransactionError::AmountNotPositive { index: 2 },
                Code::InvalidArgument,
                "INVALID_AMOUNT",
                Some("operations.amount"),
            ),
            (
                TransactionError::SameWallet { index: 2 },
                Code::InvalidArgument,
                "SAME_WALLET",
                Some("operations.to"),
            ),
            (
                TransactionError::SourceNotAllowed {
                    index: 2,
                    credit_source: CreditSource::Refund,
                },
                Code::InvalidArgument,
                "SOURCE_NOT_ALLOWED",
                Some("operations.source"),
            ),
            (
                TransactionError::ExpiryNotInFuture { index: 2 },
                Code::InvalidArgument,
                "EXPIRY_NOT_IN_FUTURE",
                Some("operations.expires_at_ms"),
            ),
            (
                TransactionError::WalletAssetMissing { wallet_id: id },
                Code::NotFound,
                "WALLET_NOT_FOUND",
                None,
            ),
            (
                TransactionError::WalletNotInTransaction { wallet_id: id },
                Code::InvalidArgument,
                "WALLET_NOT_IN_TRANSACTION",
                Some("wallet_id"),
            ),
            (
                TransactionError::ConflictingAnswer {
                    wallet_id: id,
                    progress: WalletProgress::Failed,
                },
                Code::FailedPrecondition,
                "CONFLICTING_ANSWER",
                None,
            ),
            (
                TransactionError::InvalidStep {
                    status: TransactionStatus::Pending,
                    progress: WalletProgress::Pending,
                },
                Code::FailedPrecondition,
                "INVALID_STEP",
                None,
            ),
        ];
        for (rejection, code, reason, field) in cases {
            let wire = TransactionStream::wire(&rejection);
            assert_eq!(
                (wire.code, wire.reason, wire.field),
                (code, reason, field),
                "{rejection:?}"
            );
        }
    }

    #[test]
    fn rejections_carry_what_the_client_needs_to_act() {
        let duplicate = TransactionError::DuplicateReferenceId {
            transaction_id: Uuid::from_u128(7),
            status: TransactionStatus::Failed,
        };
        assert_eq!(
            TransactionStream::wire(&duplicate).details,
            vec![
                ("transaction_id", Uuid::from_u128(7).to_string()),
                ("status", "failed".to_owned()),
            ]
        );
        let amount = TransactionError::AmountNotPositive { index: 4 };
        assert_eq!(
            TransactionStream::wire(&amount).details,
            vec![("index", "4".to_owned())]
        );
    }
}
