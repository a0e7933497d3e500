//! Wallet events → read-model rows. Pure and stateless: every money event carries the balance,
//! held amount and lot remainders after it, so each event maps to its rows alone. Both stores
//! receive exactly these rows (DESIGN §6).

use purse_domain::wallet::{
    HoldReleaseReason, LotDraw, WalletEvent, WalletEventKind, WalletStatus,
};
use purse_store::{
    BalanceRow, EntryType, HistoryRow, HoldRow, LimitsRow, LotRow, RowWrite, WalletRow,
};
use rust_decimal::Decimal;
use uuid::Uuid;

/// The rows one event writes. `sequence` is the event's stream sequence: every row's version.
pub fn wallet_rows(wallet_id: Uuid, sequence: u64, event: &WalletEvent) -> Vec<RowWrite> {
    let at_ms = event.occurred_at.as_millis();
    let balance = |balance, held| {
        RowWrite::Balance(BalanceRow {
            wallet_id,
            balance,
            held,
            version: sequence,
        })
    };
    // `after` is (balance, held) right after the entry.
    let history = |entry_id,
                   entry_type,
                   amount,
                   after: (Decimal, Decimal),
                   lots: Vec<(Uuid, _)>,
                   detail: &str| {
        HistoryRow {
            wallet_id,
            sequence,
            entry_id,
            entry_type,
            amount,
            balance_after: after.0,
            held_after: Some(after.1),
            lots,
            reference: String::new(),
            description: String::new(),
            detail: detail.to_owned(),
            hold_id: None,
            occurred_at_ms: at_ms,
        }
    };
    let status = |status: WalletStatus| {
        vec![RowWrite::WalletStatus {
            wallet_id,
            status: status.as_str().to_owned(),
            version: sequence,
        }]
    };
    match &event.kind {
        WalletEventKind::WalletOpened {
            wallet_id: _,
            tenant,
            owner,
            kind,
            asset,
            limits,
            metadata,
        } => vec![
            RowWrite::Wallet(WalletRow {
                wallet_id,
                tenant: tenant.clone(),
                owner: owner.clone(),
                kind: kind.as_str().to_owned(),
                asset: asset.code().to_owned(),
                asset_scale: asset.scale(),
                status: WalletStatus::Open.as_str().to_owned(),
                limits: limits_row(limits),
                metadata: metadata.clone(),
                created_at_ms: at_ms,
                version: sequence,
            }),
            // Zero at the asset's scale, so an empty wallet reads "0.00", not "0".
            balance(
                Decimal::new(0, asset.scale()),
                Decimal::new(0, asset.scale()),
            ),
        ],
        WalletEventKind::WalletSuspended { .. } => status(WalletStatus::Suspended),
        WalletEventKind::WalletReactivated => status(WalletStatus::Open),
        WalletEventKind::WalletClosed => status(WalletStatus::Closed),
        WalletEventKind::LimitsChanged { limits } => vec![RowWrite::WalletLimits {
            wallet_id,
            limits: limits_row(limits),
            version: sequence,
        }],
        WalletEventKind::FundsCredited {
            lot_id,
            source,
            amount,
            expires_at,
            reference,
            description,
            refund_of: _,
            balance_after,
            held_after,
        } => {
            let entry_type = if *source == purse_domain::wallet::CreditSource::Refund {
                EntryType::Refund
            } else {
                EntryType::Credit
            };
            let mut row = history(
                *lot_id,
                entry_type,
                *amount,
                (*balance_after, *held_after),
                vec![(*lot_id, *amount)],
                source.as_str(),
            );
            row.reference = reference.clone();
            row.description = description.clone();
            vec![
                RowWrite::Lot(LotRow {
                    wallet_id,
                    lot_id: *lot_id,
                    source: source.as_str().to_owned(),
                    amount: *amount,
                    remaining: *amount,
                    expires_at_ms: expires_at.map(|t| t.as_millis()),
                    created_at_ms: at_ms,
                    version: sequence,
                }),
                RowWrite::History(row),
                balance(*balance_after, *held_after),
            ]
        }
        WalletEventKind::FundsDebited {
            debit_id,
            kind,
            amount,
            draws,
            reference,
            description,
            balance_after,
            held_after,
        } => {
            let mut row = history(
                *debit_id,
                EntryType::Debit,
                *amount,
                (*balance_after, *held_after),
                lot_amounts(draws),
                kind.as_str(),
            );
            row.reference = reference.clone();
            row.description = description.clone();
            let mut writes = lot_remainders(wallet_id, sequence, draws);
            writes.push(RowWrite::History(row));
            writes.push(balance(*balance_after, *held_after));
            writes
        }
        WalletEventKind::HoldPlaced {
            hold_id,
            amount,
            reservations,
            expires_at,
            reference,
            description,
            balance_after,
            held_after,
        } => {
            let mut row = history(
                *hold_id,
                EntryType::HoldPlaced,
                *amount,
                (*balance_after, *held_after),
                lot_amounts(reservations),
                "",
            );
            row.reference = reference.clone();
            row.description = description.clone();
            row.hold_id = Some(*hold_id);
            vec![
                RowWrite::Hold(HoldRow {
                    wallet_id,
                    hold_id: *hold_id,
                    amount: *amount,
                    captured: Default::default(),
                    status: "active".to_owned(),
                    expires_at_ms: expires_at.as_millis(),
                    version: sequence,
                }),
                RowWrite::History(row),
                balance(*balance_after, *held_after),
            ]
        }
        WalletEventKind::HoldCaptured {
            hold_id,
            debit_id,
            amount,
            draws,
            released,
            balance_after,
            held_after,
        } => {
            let detail = format!("released {released}");
            let mut row = history(
                *debit_id,
                EntryType::HoldCaptured,
                *amount,
                (*balance_after, *held_after),
                lot_amounts(draws),
                &detail,
            );
            row.hold_id = Some(*hold_id);
            let mut writes = lot_remainders(wallet_id, sequence, draws);
            writes.push(RowWrite::HoldResolved {
                wallet_id,
                hold_id: *hold_id,
                status: "captured".to_owned(),
                captured: *amount,
                version: sequence,
            });
            writes.push(RowWrite::History(row));
            writes.push(balance(*balance_after, *held_after));
            writes
        }
        WalletEventKind::HoldReleased {
            hold_id,
            amount,
            reason,
            balance_after,
            held_after,
        } => {
            let status = match reason {
                HoldReleaseReason::Void => "voided",
                HoldReleaseReason::Expired => "expired",
            };
            let mut row = history(
                *hold_id,
                EntryType::HoldReleased,
                *amount,
                (*balance_after, *held_after),
                Vec::new(),
                reason.as_str(),
            );
            row.hold_id = Some(*hold_id);
            vec![
                RowWrite::HoldResolved {
                    wallet_id,
                    hold_id: *hold_id,
                    status: status.to_owned(),
                    captured: Default::default(),
                    version: sequence,
                },
                RowWrite::History(row),
                balance(*balance_after, *held_after),
            ]
        }
        WalletEventKind::LotExpired {
            lot_id,
            amount,
            remaining_after,
            balance_after,
            held_after,
        } => vec![
            RowWrite::LotRemaining {
                wallet_id,
                lot_id: *lot_id,
                remaining: *remaining_after,
                version: sequence,
            },
            RowWrite::History(history(
                *lot_id,
                EntryType::LotExpired,
                *amount,
                (*balance_after, *held_after),
                vec![(*lot_id, *amount)],
                "",
            )),
            balance(*balance_after, *held_after),
        ],
        // A notice, not a movement of money: it reaches consumers as an event, not as history.
        WalletEventKind::LotExpiringSoon { .. } => Vec::new(),
    }
}

fn limits_row(limits: &purse_domain::wallet::Limits) -> LimitsRow {
    LimitsRow {
        max_balance: limits.max_balance,
        daily_debit_limit: limits.daily_debit_limit,
        per_transaction_max: limits.per_transaction_max,
        velocity_max_operations: limits.velocity.map(|v| v.max_operations),
        velocity_window_ms: limits.velocity.map(|v| v.window_ms),
        low_balance_threshold: limits.low_balance_threshold,
    }
}

fn lot_amounts(draws: &[LotDraw]) -> Vec<(Uuid, Decimal)> {
    draws.iter().map(|d| (d.lot_id, d.amount)).collect()
}

fn lot_remainders(wallet_id: Uuid, sequence: u64, draws: &[LotDraw]) -> Vec<RowWrite> {
    draws
        .iter()
        .map(|draw| RowWrite::LotRemaining {
            wallet_id,
            lot_id: draw.lot_id,
            remaining: draw.remaining_after,
            version: sequence,
        })
        .collect()
}
