//! Wallet events → read-model rows. Pure and stateless: every money event carries the balance,
//! held amount and lot remainders after it, so each event maps to its rows alone. Both stores
//! receive exactly these rows (DESIGN §6).

use std::collections::BTreeMap;

use purse_domain::wallet::{
    HoldReleaseReason, LotDraw, TransactionEntry, WalletEvent, WalletEventKind, WalletStatus,
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
    // A placed hold (by PlaceHold or a transaction's prepare): its row, its history entry (whose
    // entry id is the hold id) and the balance.
    let hold_placed = |mut row: HistoryRow, expires_at: purse_domain::Timestamp, held_after| {
        row.hold_id = Some(row.entry_id);
        let balance_after = balance(row.balance_after, held_after);
        vec![
            RowWrite::Hold(HoldRow {
                wallet_id,
                hold_id: row.entry_id,
                amount: row.amount,
                captured: Default::default(),
                status: "active".to_owned(),
                expires_at_ms: expires_at.as_millis(),
                version: sequence,
            }),
            RowWrite::History(row),
            balance_after,
        ]
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
            hold_placed(row, *expires_at, *held_after)
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
        WalletEventKind::TransactionHoldPlaced {
            transaction_id,
            hold_id,
            amount,
            reservations,
            expires_at,
            balance_after,
            held_after,
            ..
        } => {
            let mut row = history(
                *hold_id,
                EntryType::HoldPlaced,
                *amount,
                (*balance_after, *held_after),
                lot_amounts(reservations),
                "transaction",
            );
            row.reference = transaction_id.to_string();
            hold_placed(row, *expires_at, *held_after)
        }
        // The answer of a prepare that reserved nothing: no money moved.
        WalletEventKind::TransactionPrepareFailed { .. } => Vec::new(),
        WalletEventKind::TransactionPosted {
            transaction_id,
            hold_id,
            entries,
            balance_after,
            held_after,
        } => {
            // History is one entry per stream sequence, so the commit is one entry for its net
            // change, its detail listing the typed entries ("issue 6.00, transfer_debit 11.00").
            let net: Decimal = entries.iter().map(signed_amount).sum();
            let detail = entries
                .iter()
                .map(|entry| format!("{} {}", entry.entry_type, entry.amount))
                .collect::<Vec<_>>()
                .join(", ");
            let lots = entries
                .iter()
                .flat_map(|entry| match &entry.lot {
                    Some(lot) => vec![(lot.lot_id, entry.amount)],
                    None => lot_amounts(&entry.draws),
                })
                .collect();
            let entry_type = if net < Decimal::ZERO {
                EntryType::Debit
            } else {
                EntryType::Credit
            };
            let mut row = history(
                *hold_id,
                entry_type,
                net.abs(),
                (*balance_after, *held_after),
                lots,
                &detail,
            );
            row.reference = transaction_id.to_string();
            row.hold_id = Some(*hold_id);
            let mut writes = transaction_lots(wallet_id, sequence, at_ms, entries);
            let debited: Decimal = entries
                .iter()
                .filter(|entry| entry.lot.is_none())
                .map(|entry| entry.amount)
                .sum();
            writes.push(RowWrite::HoldResolved {
                wallet_id,
                hold_id: *hold_id,
                status: "captured".to_owned(),
                captured: debited,
                version: sequence,
            });
            writes.push(RowWrite::History(row));
            writes.push(balance(*balance_after, *held_after));
            writes
        }
        WalletEventKind::TransactionHoldReleased {
            transaction_id,
            hold_id,
            amount,
            balance_after,
            held_after,
        } => {
            let mut row = history(
                *hold_id,
                EntryType::HoldReleased,
                *amount,
                (*balance_after, *held_after),
                Vec::new(),
                "transaction aborted",
            );
            row.reference = transaction_id.to_string();
            row.hold_id = Some(*hold_id);
            vec![
                RowWrite::HoldResolved {
                    wallet_id,
                    hold_id: *hold_id,
                    status: "voided".to_owned(),
                    captured: Default::default(),
                    version: sequence,
                },
                RowWrite::History(row),
                balance(*balance_after, *held_after),
            ]
        }
    }
}

/// A transaction entry's effect on the balance: credits add, debits take.
fn signed_amount(entry: &TransactionEntry) -> Decimal {
    if entry.entry_type.is_credit() {
        entry.amount
    } else {
        -entry.amount
    }
}

/// The lot rows of a commit: each lot written once with its final remainder, because rows of one
/// event share its version and a store keeps only the first write of a version. A lot the
/// commit created is written whole; an older lot it drew from gets its new remainder.
fn transaction_lots(
    wallet_id: Uuid,
    sequence: u64,
    at_ms: i64,
    entries: &[TransactionEntry],
) -> Vec<RowWrite> {
    let mut remaining: BTreeMap<Uuid, Decimal> = BTreeMap::new();
    for entry in entries {
        if let Some(lot) = &entry.lot {
            remaining.insert(lot.lot_id, entry.amount);
        }
        for draw in &entry.draws {
            remaining.insert(draw.lot_id, draw.remaining_after);
        }
    }
    let created: Vec<RowWrite> = entries
        .iter()
        .filter_map(|entry| {
            let lot = entry.lot.as_ref()?;
            Some(RowWrite::Lot(LotRow {
                wallet_id,
                lot_id: lot.lot_id,
                source: lot.source.as_str().to_owned(),
                amount: entry.amount,
                remaining: remaining[&lot.lot_id],
                expires_at_ms: lot.expires_at.map(|t| t.as_millis()),
                created_at_ms: at_ms,
                version: sequence,
            }))
        })
        .collect();
    let is_new = |lot_id: &Uuid| {
        entries
            .iter()
            .any(|entry| entry.lot.as_ref().is_some_and(|lot| lot.lot_id == *lot_id))
    };
    let drawn =
        remaining
            .iter()
            .filter(|(lot_id, _)| !is_new(lot_id))
            .map(|(lot_id, remaining)| RowWrite::LotRemaining {
                wallet_id,
                lot_id: *lot_id,
                remaining: *remaining,
                version: sequence,
            });
    created.into_iter().chain(drawn).collect()
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

#[cfg(test)]
mod tests {
    use purse_domain::Timestamp;
    use purse_domain::wallet::{CreditSource, CreditedLot, EntryType as Entry};

    use super::*;

    #[test]
    fn a_commit_writes_each_lot_once_with_its_final_remainder() {
        let id = Uuid::from_u128;
        let dec = |cents| Decimal::new(cents, 2);
        let event = WalletEvent {
            occurred_at: Timestamp::from_millis(1_000),
            kind: WalletEventKind::TransactionPosted {
                transaction_id: id(0x7C),
                hold_id: id(2),
                entries: vec![
                    TransactionEntry {
                        index: 0,
                        entry_type: Entry::Issue,
                        amount: dec(600),
                        counterparty: None,
                        lot: Some(CreditedLot {
                            lot_id: id(3),
                            source: CreditSource::Paid,
                            expires_at: None,
                        }),
                        draws: vec![],
                        balance_after: dec(1_100),
                    },
                    TransactionEntry {
                        index: 1,
                        entry_type: Entry::TransferDebit,
                        amount: dec(1_100),
                        counterparty: Some(id(9)),
                        lot: None,
                        draws: vec![
                            LotDraw {
                                lot_id: id(1),
                                amount: dec(500),
                                remaining_after: dec(0),
                            },
                            LotDraw {
                                lot_id: id(3),
                                amount: dec(600),
                                remaining_after: dec(0),
                            },
                        ],
                        balance_after: dec(0),
                    },
                ],
                balance_after: dec(0),
                held_after: dec(0),
            },
        };
        let rows = wallet_rows(id(0xA1), 7, &event);
        let lots: Vec<_> = rows
            .iter()
            .filter_map(|row| match row {
                RowWrite::Lot(lot) => Some((lot.lot_id, lot.remaining)),
                RowWrite::LotRemaining {
                    lot_id, remaining, ..
                } => Some((*lot_id, *remaining)),
                _ => None,
            })
            .collect();
        assert_eq!(lots, vec![(id(3), dec(0)), (id(1), dec(0))]);
        let history = rows.iter().find_map(|row| match row {
            RowWrite::History(row) => Some(row),
            _ => None,
        });
        let history = history.expect("one history entry");
        assert_eq!(
            (history.entry_type, history.amount, history.detail.as_str()),
            (
                EntryType::Debit,
                dec(500),
                "issue 6.00, transfer_debit 11.00"
            )
        );
    }
}
