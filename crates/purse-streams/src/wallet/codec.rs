//! Wallet events ↔ `purse.event.v1` messages (the public event contracts).

use purse_domain::Timestamp;
use purse_domain::wallet::{
    CreditSource, CreditedLot, DebitKind, EntryType, HoldReleaseReason, LegEntry, Limits, LotDraw,
    TransactionEntry, TransactionFailureReason, TransactionLeg, VelocityLimit, WalletEvent,
    WalletEventKind, WalletKind,
};
use purse_proto::event::v1 as pb;
use purse_proto::event::v1::wallet_event::Event as E;
use purse_proto::event::v1::{EventEnvelope, event_envelope};
use purse_runtime::codec::{
    CodecError, EventCodec, asset_field, decimal_field, optional_decimal_field,
    optional_uuid_field, optional_uuid_text, uuid_field,
};

use super::WalletStream;

impl EventCodec for WalletStream {
    const STREAM_KIND: &'static str = "wallet";

    fn event_type(event: &WalletEvent) -> &'static str {
        event.event_type()
    }

    fn occurred_at(event: &WalletEvent) -> Timestamp {
        event.occurred_at
    }

    fn to_payload(event: &WalletEvent) -> event_envelope::Payload {
        event_envelope::Payload::Wallet(pb::WalletEvent {
            event: Some(to_proto(&event.kind)),
        })
    }

    fn from_envelope(envelope: &EventEnvelope) -> Result<WalletEvent, CodecError> {
        let Some(event_envelope::Payload::Wallet(wallet)) = &envelope.payload else {
            return Err(CodecError::WrongPayload {
                expected: Self::STREAM_KIND,
            });
        };
        let event = wallet
            .event
            .as_ref()
            .ok_or(CodecError::Field { field: "event" })?;
        Ok(WalletEvent {
            occurred_at: Timestamp::from_millis(envelope.occurred_at_ms),
            kind: from_proto(envelope, event)?,
        })
    }
}

/// Proto limits of domain limits (also used by the gRPC edge).
fn limits_to_proto(limits: &Limits) -> pb::Limits {
    pb::Limits {
        max_balance: limits.max_balance.map(|d| d.to_string()),
        daily_debit_limit: limits.daily_debit_limit.map(|d| d.to_string()),
        per_transaction_max: limits.per_transaction_max.map(|d| d.to_string()),
        velocity: limits.velocity.map(|v| pb::VelocityLimit {
            max_operations: v.max_operations,
            window_ms: v.window_ms as u64,
        }),
        low_balance_threshold: limits.low_balance_threshold.map(|d| d.to_string()),
    }
}

fn draws_to_proto(draws: &[LotDraw]) -> Vec<pb::LotDraw> {
    draws
        .iter()
        .map(|draw| pb::LotDraw {
            lot_id: draw.lot_id.to_string(),
            amount: draw.amount.to_string(),
            remaining_after: draw.remaining_after.to_string(),
        })
        .collect()
}

fn to_proto(kind: &WalletEventKind) -> E {
    match kind {
        WalletEventKind::WalletOpened {
            wallet_id: _,
            tenant: _,
            owner,
            kind,
            asset,
            limits,
            metadata,
        } => E::WalletOpened(pb::WalletOpened {
            owner: owner.clone(),
            kind: kind.as_str().to_owned(),
            asset: asset.code().to_owned(),
            asset_scale: asset.scale(),
            limits: Some(limits_to_proto(limits)),
            metadata: metadata.clone().into_iter().collect(),
        }),
        WalletEventKind::WalletSuspended { reason } => E::WalletSuspended(pb::WalletSuspended {
            reason: reason.clone(),
        }),
        WalletEventKind::WalletReactivated => E::WalletReactivated(pb::WalletReactivated {}),
        WalletEventKind::WalletClosed => E::WalletClosed(pb::WalletClosed {}),
        WalletEventKind::LimitsChanged { limits } => E::LimitsChanged(pb::LimitsChanged {
            limits: Some(limits_to_proto(limits)),
        }),
        WalletEventKind::FundsCredited {
            lot_id,
            source,
            amount,
            expires_at,
            reference,
            description,
            refund_of,
            balance_after,
            held_after,
        } => E::FundsCredited(pb::FundsCredited {
            lot_id: lot_id.to_string(),
            source: source.as_str().to_owned(),
            amount: amount.to_string(),
            expires_at_ms: expires_at.map(Timestamp::as_millis),
            reference: reference.clone(),
            description: description.clone(),
            refund_of: optional_uuid_text(*refund_of),
            balance_after: balance_after.to_string(),
            held_after: held_after.to_string(),
        }),
        WalletEventKind::FundsDebited {
            debit_id,
            kind,
            amount,
            draws,
            reference,
            description,
            balance_after,
            held_after,
        } => E::FundsDebited(pb::FundsDebited {
            debit_id: debit_id.to_string(),
            kind: kind.as_str().to_owned(),
            amount: amount.to_string(),
            draws: draws_to_proto(draws),
            reference: reference.clone(),
            description: description.clone(),
            balance_after: balance_after.to_string(),
            held_after: held_after.to_string(),
        }),
        WalletEventKind::HoldPlaced {
            hold_id,
            amount,
            reservations,
            expires_at,
            reference,
            description,
            balance_after,
            held_after,
        } => E::HoldPlaced(pb::HoldPlaced {
            hold_id: hold_id.to_string(),
            amount: amount.to_string(),
            reservations: draws_to_proto(reservations),
            expires_at_ms: expires_at.as_millis(),
            reference: reference.clone(),
            description: description.clone(),
            held_after: held_after.to_string(),
            balance_after: balance_after.to_string(),
        }),
        WalletEventKind::HoldCaptured {
            hold_id,
            debit_id,
            amount,
            draws,
            released,
            balance_after,
            held_after,
        } => E::HoldCaptured(pb::HoldCaptured {
            hold_id: hold_id.to_string(),
            debit_id: debit_id.to_string(),
            amount: amount.to_string(),
            draws: draws_to_proto(draws),
            released: released.to_string(),
            balance_after: balance_after.to_string(),
            held_after: held_after.to_string(),
        }),
        WalletEventKind::HoldReleased {
            hold_id,
            amount,
            reason,
            balance_after,
            held_after,
        } => E::HoldReleased(pb::HoldReleased {
            hold_id: hold_id.to_string(),
            amount: amount.to_string(),
            reason: reason.as_str().to_owned(),
            held_after: held_after.to_string(),
            balance_after: balance_after.to_string(),
        }),
        WalletEventKind::LotExpired {
            lot_id,
            amount,
            remaining_after,
            balance_after,
            held_after,
        } => E::LotExpired(pb::LotExpired {
            lot_id: lot_id.to_string(),
            amount: amount.to_string(),
            balance_after: balance_after.to_string(),
            remaining_after: remaining_after.to_string(),
            held_after: held_after.to_string(),
        }),
        WalletEventKind::LotExpiringSoon {
            lot_id,
            amount,
            expires_at,
        } => E::LotExpiringSoon(pb::LotExpiringSoon {
            lot_id: lot_id.to_string(),
            amount: amount.to_string(),
            expires_at_ms: expires_at.as_millis(),
        }),
        WalletEventKind::TransactionHoldPlaced {
            transaction_id,
            hold_id,
            amount,
            reservations,
            legs,
            expires_at,
            balance_after,
            held_after,
        } => E::TransactionHoldPlaced(pb::TransactionHoldPlaced {
            transaction_id: transaction_id.to_string(),
            hold_id: hold_id.to_string(),
            amount: amount.to_string(),
            reservations: draws_to_proto(reservations),
            legs: legs.iter().map(leg_to_proto).collect(),
            expires_at_ms: expires_at.as_millis(),
            balance_after: balance_after.to_string(),
            held_after: held_after.to_string(),
        }),
        WalletEventKind::TransactionPrepareFailed {
            transaction_id,
            index,
            reason,
            available,
        } => E::TransactionPrepareFailed(pb::TransactionPrepareFailed {
            transaction_id: transaction_id.to_string(),
            index: *index,
            reason: reason.as_str().to_owned(),
            available: available.map(|d| d.to_string()),
        }),
        WalletEventKind::TransactionPosted {
            transaction_id,
            hold_id,
            entries,
            balance_after,
            held_after,
        } => E::TransactionPosted(pb::TransactionPosted {
            transaction_id: transaction_id.to_string(),
            hold_id: hold_id.to_string(),
            entries: entries.iter().map(entry_to_proto).collect(),
            balance_after: balance_after.to_string(),
            held_after: held_after.to_string(),
        }),
        WalletEventKind::TransactionHoldReleased {
            transaction_id,
            hold_id,
            amount,
            balance_after,
            held_after,
        } => E::TransactionHoldReleased(pb::TransactionHoldReleased {
            transaction_id: transaction_id.to_string(),
            hold_id: hold_id.to_string(),
            amount: amount.to_string(),
            balance_after: balance_after.to_string(),
            held_after: held_after.to_string(),
        }),
    }
}

fn leg_to_proto(leg: &TransactionLeg) -> pb::TransactionLeg {
    let (source, expires_at) = match leg.entry {
        LegEntry::Issue { source, expires_at } => (source.as_str().to_owned(), expires_at),
        _ => (String::new(), None),
    };
    pb::TransactionLeg {
        index: leg.index,
        amount: leg.amount.to_string(),
        entry_type: leg.entry_type().as_str().to_owned(),
        counterparty: optional_uuid_text(leg.counterparty()),
        source,
        expires_at_ms: expires_at.map(Timestamp::as_millis),
    }
}

fn leg_from_proto(leg: &pb::TransactionLeg) -> Result<TransactionLeg, CodecError> {
    let counterparty = || uuid_field(&leg.counterparty, "legs.counterparty");
    let entry = match EntryType::parse(&leg.entry_type) {
        Some(EntryType::Issue) => LegEntry::Issue {
            source: CreditSource::parse(&leg.source).ok_or(CodecError::Field {
                field: "legs.source",
            })?,
            expires_at: leg.expires_at_ms.map(Timestamp::from_millis),
        },
        Some(EntryType::Redeem) => LegEntry::Redeem,
        Some(EntryType::TransferDebit) => LegEntry::TransferDebit {
            to: counterparty()?,
        },
        Some(EntryType::TransferCredit) => LegEntry::TransferCredit {
            from: counterparty()?,
        },
        // Exchange legs do not exist until quotes do.
        Some(EntryType::ExchangeDebit | EntryType::ExchangeCredit) | None => {
            return Err(CodecError::Field {
                field: "legs.entry_type",
            });
        }
    };
    Ok(TransactionLeg {
        index: leg.index,
        amount: decimal_field(&leg.amount, "legs.amount")?,
        entry,
    })
}

fn entry_to_proto(entry: &TransactionEntry) -> pb::TransactionEntry {
    let lot = entry.lot.as_ref();
    pb::TransactionEntry {
        index: entry.index,
        entry_type: entry.entry_type.as_str().to_owned(),
        amount: entry.amount.to_string(),
        counterparty: optional_uuid_text(entry.counterparty),
        lot_id: optional_uuid_text(lot.map(|lot| lot.lot_id)),
        source: lot.map_or(String::new(), |lot| lot.source.as_str().to_owned()),
        expires_at_ms: lot.and_then(|lot| lot.expires_at).map(Timestamp::as_millis),
        draws: draws_to_proto(&entry.draws),
        balance_after: entry.balance_after.to_string(),
    }
}

fn entry_from_proto(entry: &pb::TransactionEntry) -> Result<TransactionEntry, CodecError> {
    let lot = match optional_uuid_field(&entry.lot_id, "entries.lot_id")? {
        Some(lot_id) => Some(CreditedLot {
            lot_id,
            source: CreditSource::parse(&entry.source).ok_or(CodecError::Field {
                field: "entries.source",
            })?,
            expires_at: entry.expires_at_ms.map(Timestamp::from_millis),
        }),
        None => None,
    };
    Ok(TransactionEntry {
        index: entry.index,
        entry_type: EntryType::parse(&entry.entry_type).ok_or(CodecError::Field {
            field: "entries.entry_type",
        })?,
        amount: decimal_field(&entry.amount, "entries.amount")?,
        counterparty: optional_uuid_field(&entry.counterparty, "entries.counterparty")?,
        lot,
        draws: draws_from_proto(&entry.draws)?,
        balance_after: decimal_field(&entry.balance_after, "entries.balance_after")?,
    })
}

/// Domain limits of proto limits (amount syntax only; the decider validates against the asset).
fn limits_from_proto(limits: Option<&pb::Limits>) -> Result<Limits, CodecError> {
    let Some(limits) = limits else {
        return Ok(Limits::default());
    };
    Ok(Limits {
        max_balance: optional_decimal_field(limits.max_balance.as_deref(), "limits.max_balance")?,
        daily_debit_limit: optional_decimal_field(
            limits.daily_debit_limit.as_deref(),
            "limits.daily_debit_limit",
        )?,
        per_transaction_max: optional_decimal_field(
            limits.per_transaction_max.as_deref(),
            "limits.per_transaction_max",
        )?,
        velocity: limits.velocity.map(|v| VelocityLimit {
            max_operations: v.max_operations,
            window_ms: i64::try_from(v.window_ms).unwrap_or(i64::MAX),
        }),
        low_balance_threshold: optional_decimal_field(
            limits.low_balance_threshold.as_deref(),
            "limits.low_balance_threshold",
        )?,
    })
}

fn draws_from_proto(draws: &[pb::LotDraw]) -> Result<Vec<LotDraw>, CodecError> {
    draws
        .iter()
        .map(|draw| {
            Ok(LotDraw {
                lot_id: uuid_field(&draw.lot_id, "draws.lot_id")?,
                amount: decimal_field(&draw.amount, "draws.amount")?,
                remaining_after: decimal_field(&draw.remaining_after, "draws.remaining_after")?,
            })
        })
        .collect()
}

fn from_proto(envelope: &EventEnvelope, event: &E) -> Result<WalletEventKind, CodecError> {
    Ok(match event {
        E::WalletOpened(e) => WalletEventKind::WalletOpened {
            wallet_id: uuid_field(&envelope.stream_id, "stream_id")?,
            tenant: envelope.tenant.clone(),
            owner: e.owner.clone(),
            kind: WalletKind::parse(&e.kind).ok_or(CodecError::Field { field: "kind" })?,
            asset: asset_field(&e.asset, e.asset_scale, "asset")?,
            limits: limits_from_proto(e.limits.as_ref())?,
            metadata: e.metadata.clone().into_iter().collect(),
        },
        E::WalletSuspended(e) => WalletEventKind::WalletSuspended {
            reason: e.reason.clone(),
        },
        E::WalletReactivated(_) => WalletEventKind::WalletReactivated,
        E::WalletClosed(_) => WalletEventKind::WalletClosed,
        E::LimitsChanged(e) => WalletEventKind::LimitsChanged {
            limits: limits_from_proto(e.limits.as_ref())?,
        },
        E::FundsCredited(e) => WalletEventKind::FundsCredited {
            lot_id: uuid_field(&e.lot_id, "lot_id")?,
            source: CreditSource::parse(&e.source).ok_or(CodecError::Field { field: "source" })?,
            amount: decimal_field(&e.amount, "amount")?,
            expires_at: e.expires_at_ms.map(Timestamp::from_millis),
            reference: e.reference.clone(),
            description: e.description.clone(),
            refund_of: optional_uuid_field(&e.refund_of, "refund_of")?,
            balance_after: decimal_field(&e.balance_after, "balance_after")?,
            held_after: decimal_field(&e.held_after, "held_after")?,
        },
        E::FundsDebited(e) => WalletEventKind::FundsDebited {
            debit_id: uuid_field(&e.debit_id, "debit_id")?,
            kind: DebitKind::parse(&e.kind).ok_or(CodecError::Field { field: "kind" })?,
            amount: decimal_field(&e.amount, "amount")?,
            draws: draws_from_proto(&e.draws)?,
            reference: e.reference.clone(),
            description: e.description.clone(),
            balance_after: decimal_field(&e.balance_after, "balance_after")?,
            held_after: decimal_field(&e.held_after, "held_after")?,
        },
        E::HoldPlaced(e) => WalletEventKind::HoldPlaced {
            hold_id: uuid_field(&e.hold_id, "hold_id")?,
            amount: decimal_field(&e.amount, "amount")?,
            reservations: draws_from_proto(&e.reservations)?,
            expires_at: Timestamp::from_millis(e.expires_at_ms),
            reference: e.reference.clone(),
            description: e.description.clone(),
            balance_after: decimal_field(&e.balance_after, "balance_after")?,
            held_after: decimal_field(&e.held_after, "held_after")?,
        },
        E::HoldCaptured(e) => WalletEventKind::HoldCaptured {
            hold_id: uuid_field(&e.hold_id, "hold_id")?,
            debit_id: uuid_field(&e.debit_id, "debit_id")?,
            amount: decimal_field(&e.amount, "amount")?,
            draws: draws_from_proto(&e.draws)?,
            released: decimal_field(&e.released, "released")?,
            balance_after: decimal_field(&e.balance_after, "balance_after")?,
            held_after: decimal_field(&e.held_after, "held_after")?,
        },
        E::HoldReleased(e) => WalletEventKind::HoldReleased {
            hold_id: uuid_field(&e.hold_id, "hold_id")?,
            amount: decimal_field(&e.amount, "amount")?,
            reason: HoldReleaseReason::parse(&e.reason)
                .ok_or(CodecError::Field { field: "reason" })?,
            balance_after: decimal_field(&e.balance_after, "balance_after")?,
            held_after: decimal_field(&e.held_after, "held_after")?,
        },
        E::LotExpired(e) => WalletEventKind::LotExpired {
            lot_id: uuid_field(&e.lot_id, "lot_id")?,
            amount: decimal_field(&e.amount, "amount")?,
            remaining_after: decimal_field(&e.remaining_after, "remaining_after")?,
            balance_after: decimal_field(&e.balance_after, "balance_after")?,
            held_after: decimal_field(&e.held_after, "held_after")?,
        },
        E::LotExpiringSoon(e) => WalletEventKind::LotExpiringSoon {
            lot_id: uuid_field(&e.lot_id, "lot_id")?,
            amount: decimal_field(&e.amount, "amount")?,
            expires_at: Timestamp::from_millis(e.expires_at_ms),
        },
        E::TransactionHoldPlaced(e) => WalletEventKind::TransactionHoldPlaced {
            transaction_id: uuid_field(&e.transaction_id, "transaction_id")?,
            hold_id: uuid_field(&e.hold_id, "hold_id")?,
            amount: decimal_field(&e.amount, "amount")?,
            reservations: draws_from_proto(&e.reservations)?,
            legs: e
                .legs
                .iter()
                .map(leg_from_proto)
                .collect::<Result<_, _>>()?,
            expires_at: Timestamp::from_millis(e.expires_at_ms),
            balance_after: decimal_field(&e.balance_after, "balance_after")?,
            held_after: decimal_field(&e.held_after, "held_after")?,
        },
        E::TransactionPrepareFailed(e) => WalletEventKind::TransactionPrepareFailed {
            transaction_id: uuid_field(&e.transaction_id, "transaction_id")?,
            index: e.index,
            reason: TransactionFailureReason::parse(&e.reason)
                .ok_or(CodecError::Field { field: "reason" })?,
            available: optional_decimal_field(e.available.as_deref(), "available")?,
        },
        E::TransactionPosted(e) => WalletEventKind::TransactionPosted {
            transaction_id: uuid_field(&e.transaction_id, "transaction_id")?,
            hold_id: uuid_field(&e.hold_id, "hold_id")?,
            entries: e
                .entries
                .iter()
                .map(entry_from_proto)
                .collect::<Result<_, _>>()?,
            balance_after: decimal_field(&e.balance_after, "balance_after")?,
            held_after: decimal_field(&e.held_after, "held_after")?,
        },
        E::TransactionHoldReleased(e) => WalletEventKind::TransactionHoldReleased {
            transaction_id: uuid_field(&e.transaction_id, "transaction_id")?,
            hold_id: uuid_field(&e.hold_id, "hold_id")?,
            amount: decimal_field(&e.amount, "amount")?,
            balance_after: decimal_field(&e.balance_after, "balance_after")?,
            held_after: decimal_field(&e.held_after, "held_after")?,
        },
    })
}

#[cfg(test)]
mod tests {
    use purse_domain::wallet::{TransactionFailureReason, transaction_lot_id};
    use purse_proto::event::v1::event_envelope::Payload;
    use rust_decimal::Decimal;
    use uuid::Uuid;

    use super::*;
    use crate::codec::round_trip;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn draw(lot: u128, amount: i64, remaining_after: i64) -> LotDraw {
        LotDraw {
            lot_id: id(lot),
            amount: Decimal::new(amount, 2),
            remaining_after: Decimal::new(remaining_after, 2),
        }
    }

    fn legs() -> Vec<TransactionLeg> {
        let leg = |index, amount, entry| TransactionLeg {
            index,
            amount: Decimal::new(amount, 2),
            entry,
        };
        vec![
            leg(
                0,
                600,
                LegEntry::Issue {
                    source: CreditSource::Granted,
                    expires_at: Some(Timestamp::from_millis(1_900_000_000_000)),
                },
            ),
            leg(
                1,
                100,
                LegEntry::Issue {
                    source: CreditSource::Paid,
                    expires_at: None,
                },
            ),
            leg(2, 1_100, LegEntry::TransferDebit { to: id(9) }),
            leg(3, 200, LegEntry::TransferCredit { from: id(9) }),
            leg(4, 50, LegEntry::Redeem),
        ]
    }

    #[test]
    fn transaction_events_are_written_as_their_proto_messages_and_read_back() {
        let txn = id(0x7C);
        let kinds = vec![
            WalletEventKind::TransactionHoldPlaced {
                transaction_id: txn,
                hold_id: id(2),
                amount: Decimal::new(500, 2),
                reservations: vec![draw(1, 500, 0)],
                legs: legs(),
                expires_at: Timestamp::from_millis(1_796_642_229_412),
                balance_after: Decimal::new(500, 2),
                held_after: Decimal::new(500, 2),
            },
            WalletEventKind::TransactionPrepareFailed {
                transaction_id: txn,
                index: 2,
                reason: TransactionFailureReason::InsufficientFunds,
                available: Some(Decimal::new(500, 2)),
            },
            WalletEventKind::TransactionPrepareFailed {
                transaction_id: txn,
                index: 0,
                reason: TransactionFailureReason::WalletSuspended,
                available: None,
            },
            WalletEventKind::TransactionPosted {
                transaction_id: txn,
                hold_id: id(2),
                entries: vec![
                    TransactionEntry {
                        index: 0,
                        entry_type: EntryType::Issue,
                        amount: Decimal::new(600, 2),
                        counterparty: None,
                        lot: Some(CreditedLot {
                            lot_id: transaction_lot_id(txn, 0),
                            source: CreditSource::Granted,
                            expires_at: Some(Timestamp::from_millis(1_900_000_000_000)),
                        }),
                        draws: vec![],
                        balance_after: Decimal::new(1_100, 2),
                    },
                    TransactionEntry {
                        index: 2,
                        entry_type: EntryType::TransferDebit,
                        amount: Decimal::new(1_100, 2),
                        counterparty: Some(id(9)),
                        lot: None,
                        draws: vec![draw(1, 500, 0), draw(3, 600, 0)],
                        balance_after: Decimal::new(0, 2),
                    },
                ],
                balance_after: Decimal::new(0, 2),
                held_after: Decimal::new(0, 2),
            },
            WalletEventKind::TransactionHoldReleased {
                transaction_id: txn,
                hold_id: id(2),
                amount: Decimal::new(500, 2),
                balance_after: Decimal::new(500, 2),
                held_after: Decimal::new(0, 2),
            },
        ];
        for kind in kinds {
            let event = WalletEvent {
                occurred_at: Timestamp::from_millis(1_796_641_929_161),
                kind,
            };
            let payload = round_trip::<WalletStream>(&event);
            assert!(matches!(payload, Payload::Wallet(_)), "{payload:?}");
        }
    }
}
