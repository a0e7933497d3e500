//! Wallet events ↔ `purse.event.v1` messages (the public event contracts).

use purse_domain::Timestamp;
use purse_domain::wallet::{
    CreditSource, DebitKind, HoldReleaseReason, Limits, LotDraw, VelocityLimit, WalletEvent,
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
    }
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
    })
}
