//! Unit tests of the statements and values sent to ScyllaDB, checked three ways without a node:
//! literally (text and bound values of each write), against the schema file (every value
//! type-checked and serialized by the driver against the column types the CQL file declares),
//! and against ScyllaDB's documented cell reconciliation (a small model that keeps, per cell, the
//! write with the highest timestamp and, at an equal timestamp, the greater serialized value).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use purse_store::{
    AutoTopUpActivityRow, AutoTopUpFailureRow, AutoTopUpRuleRow, BalanceRow, Checkpoint, Decimal,
    EntryType, HistoryRow, HoldRow, LimitsRow, LotRow, PaymentMethodRow, PaymentRow, RowWrite,
    StoreError, StreamPosition, TopUpRow, Uuid, WalletRow,
};
use scylla::frame::response::result::{CollectionType, ColumnType, NativeType, UserDefinedType};
use scylla::serialize::value::SerializeValue;
use scylla::serialize::writers::CellWriter;
use scylla::value::{CqlDecimal, CqlValue};

use super::*;

const KS: &str = "purse";
const P: i64 = 4_000_000_000_000_000_000;

fn dec(value: &str) -> Decimal {
    value.parse().expect("decimal literal")
}

/// A CQL decimal from its exact wire form, independent of the code under test.
fn cql_dec(mantissa: &[u8], scale: i32) -> CqlValue {
    CqlValue::Decimal(CqlDecimal::from_signed_be_bytes_slice_and_exponent(
        mantissa, scale,
    ))
}

fn t(value: &str) -> CqlValue {
    CqlValue::Text(value.to_owned())
}

fn b(value: i64) -> CqlValue {
    CqlValue::BigInt(value)
}

fn id(value: Uuid) -> CqlValue {
    CqlValue::Uuid(value)
}

fn u(name: &str, fields: Vec<(&str, Option<CqlValue>)>) -> CqlValue {
    CqlValue::UserDefinedType {
        keyspace: KS.to_owned(),
        name: name.to_owned(),
        fields: fields
            .into_iter()
            .map(|(field, value)| (field.to_owned(), value))
            .collect(),
    }
}

fn part(table: &'static str, key: &str) -> Partition {
    Partition {
        table,
        key: key.to_owned(),
    }
}

const WALLET: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);
const LOT: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002);
const HOLD: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0003);
const ENTRY: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0004);

fn wallet_row(version: u64) -> WalletRow {
    WalletRow {
        wallet_id: WALLET,
        tenant: "acme".to_owned(),
        owner: "alice".to_owned(),
        kind: "customer".to_owned(),
        asset: "USD".to_owned(),
        asset_scale: 2,
        status: "open".to_owned(),
        limits: LimitsRow {
            max_balance: Some(dec("1000.00")),
            daily_debit_limit: None,
            per_transaction_max: Some(dec("5.00")),
            velocity_max_operations: Some(10),
            velocity_window_ms: Some(60_000),
            low_balance_threshold: None,
        },
        metadata: BTreeMap::from([
            ("plan".to_owned(), "gold".to_owned()),
            ("note".to_owned(), "ünïcode".to_owned()),
        ]),
        created_at_ms: 1_700_000_000_000,
        version,
    }
}

fn history_row(sequence: u64) -> HistoryRow {
    HistoryRow {
        wallet_id: WALLET,
        sequence,
        entry_id: ENTRY,
        entry_type: EntryType::HoldCaptured,
        amount: dec("1.50"),
        balance_after: dec("20.00"),
        held_after: Some(dec("7.25")),
        lots: vec![(LOT, dec("1.50"))],
        reference: "order-1".to_owned(),
        description: "coffee".to_owned(),
        detail: "released 0.00".to_owned(),
        hold_id: Some(HOLD),
        occurred_at_ms: 1_700_000_000_500,
    }
}

fn lot_row(version: u64) -> LotRow {
    LotRow {
        wallet_id: WALLET,
        lot_id: LOT,
        source: "granted".to_owned(),
        amount: dec("20.00"),
        remaining: dec("12.75"),
        expires_at_ms: Some(1_800_000_000_000),
        created_at_ms: 1_700_000_000_000,
        version,
    }
}

fn hold_row(version: u64) -> HoldRow {
    HoldRow {
        wallet_id: WALLET,
        hold_id: HOLD,
        amount: dec("7.25"),
        captured: dec("0.00"),
        status: "placed".to_owned(),
        expires_at_ms: 1_750_000_000_000,
        version,
    }
}

fn plan(write: &RowWrite) -> Vec<CqlWrite> {
    plan_write(KS, write, P).expect("plan")
}

// ---- the statements and values of each write ------------------------------------------------

#[test]
fn wallet_writes_all_three_groups_and_the_owner_index() {
    let planned = plan(&RowWrite::Wallet(wallet_row(7)));
    assert_eq!(
        planned[0].statement.cql(KS),
        "UPDATE purse.wallets USING TIMESTAMP ? SET identity = ?, status = ?, limits = ? \
         WHERE wallet_id = ?"
    );
    assert_eq!(
        planned[1].statement.cql(KS),
        "INSERT INTO purse.wallets_by_owner (tenant, owner, wallet_id) VALUES (?, ?, ?) \
         USING TIMESTAMP ?"
    );
    let identity = u(
        "wallet_identity",
        vec![
            ("precedence", Some(b(P))),
            ("version", Some(b(7))),
            ("tenant", Some(t("acme"))),
            ("owner", Some(t("alice"))),
            ("kind", Some(t("customer"))),
            ("asset", Some(t("USD"))),
            ("asset_scale", Some(CqlValue::Int(2))),
            (
                "metadata",
                Some(CqlValue::Map(vec![
                    (t("note"), t("ünïcode")),
                    (t("plan"), t("gold")),
                ])),
            ),
            ("created_at_ms", Some(b(1_700_000_000_000))),
        ],
    );
    let status = u(
        "wallet_status",
        vec![
            ("precedence", Some(b(P))),
            ("version", Some(b(7))),
            ("status", Some(t("open"))),
        ],
    );
    let limits = u(
        "wallet_limits",
        vec![
            ("precedence", Some(b(P))),
            ("version", Some(b(7))),
            ("max_balance", Some(cql_dec(&[0x01, 0x86, 0xa0], 2))),
            ("daily_debit_limit", None),
            ("per_transaction_max", Some(cql_dec(&[0x01, 0xf4], 2))),
            ("velocity_max_operations", Some(b(10))),
            ("velocity_window_ms", Some(b(60_000))),
            ("low_balance_threshold", None),
        ],
    );
    assert_eq!(
        planned,
        vec![
            CqlWrite {
                statement: Statement::UpdateWallet,
                values: vec![b(7), identity, status, limits, id(WALLET)],
                partition: part("wallets", &WALLET.to_string()),
            },
            CqlWrite {
                statement: Statement::InsertWalletByOwner,
                values: vec![t("acme"), t("alice"), id(WALLET), b(7)],
                partition: part("wallets_by_owner", "\"acme\"/\"alice\""),
            },
        ]
    );
}

#[test]
fn wallet_status_writes_only_the_status_group() {
    let planned = plan(&RowWrite::WalletStatus {
        wallet_id: WALLET,
        status: "suspended".to_owned(),
        version: 9,
    });
    assert_eq!(
        planned[0].statement.cql(KS),
        "UPDATE purse.wallets USING TIMESTAMP ? SET status = ? WHERE wallet_id = ?"
    );
    assert_eq!(
        planned,
        vec![CqlWrite {
            statement: Statement::UpdateWalletStatus,
            values: vec![
                b(9),
                u(
                    "wallet_status",
                    vec![
                        ("precedence", Some(b(P))),
                        ("version", Some(b(9))),
                        ("status", Some(t("suspended"))),
                    ]
                ),
                id(WALLET),
            ],
            partition: part("wallets", &WALLET.to_string()),
        }]
    );
}

#[test]
fn wallet_limits_writes_only_the_limits_group_with_nulls_for_no_limit() {
    let planned = plan(&RowWrite::WalletLimits {
        wallet_id: WALLET,
        limits: LimitsRow {
            daily_debit_limit: Some(dec("1.50")),
            ..LimitsRow::default()
        },
        version: 3,
    });
    assert_eq!(
        planned[0].statement.cql(KS),
        "UPDATE purse.wallets USING TIMESTAMP ? SET limits = ? WHERE wallet_id = ?"
    );
    assert_eq!(
        planned,
        vec![CqlWrite {
            statement: Statement::UpdateWalletLimits,
            values: vec![
                b(3),
                u(
                    "wallet_limits",
                    vec![
                        ("precedence", Some(b(P))),
                        ("version", Some(b(3))),
                        ("max_balance", None),
                        // 150 needs a leading zero byte: 0x96 alone would be negative.
                        ("daily_debit_limit", Some(cql_dec(&[0x00, 0x96], 2))),
                        ("per_transaction_max", None),
                        ("velocity_max_operations", None),
                        ("velocity_window_ms", None),
                        ("low_balance_threshold", None),
                    ]
                ),
                id(WALLET),
            ],
            partition: part("wallets", &WALLET.to_string()),
        }]
    );
}

#[test]
fn balance_writes_one_group() {
    let planned = plan(&RowWrite::Balance(BalanceRow {
        wallet_id: WALLET,
        balance: dec("20.00"),
        held: dec("0.00"),
        version: 4,
    }));
    assert_eq!(
        planned[0].statement.cql(KS),
        "UPDATE purse.balances USING TIMESTAMP ? SET state = ? WHERE wallet_id = ?"
    );
    assert_eq!(
        planned,
        vec![CqlWrite {
            statement: Statement::UpdateBalance,
            values: vec![
                b(4),
                u(
                    "balance_state",
                    vec![
                        ("precedence", Some(b(P))),
                        ("version", Some(b(4))),
                        ("balance", Some(cql_dec(&[0x07, 0xd0], 2))),
                        ("held", Some(cql_dec(&[0x00], 2))),
                    ]
                ),
                id(WALLET),
            ],
            partition: part("balances", &WALLET.to_string()),
        }]
    );
}

#[test]
fn history_writes_the_entry_at_its_sequence() {
    let planned = plan(&RowWrite::History(history_row(12)));
    assert_eq!(
        planned[0].statement.cql(KS),
        "UPDATE purse.history USING TIMESTAMP ? SET entry = ? WHERE wallet_id = ? AND sequence = ?"
    );
    let entry = u(
        "history_entry",
        vec![
            ("precedence", Some(b(P))),
            ("entry_id", Some(id(ENTRY))),
            ("entry_type", Some(t("hold_captured"))),
            ("amount", Some(cql_dec(&[0x00, 0x96], 2))),
            ("balance_after", Some(cql_dec(&[0x07, 0xd0], 2))),
            (
                "lots",
                Some(CqlValue::List(vec![u(
                    "lot_amount",
                    vec![
                        ("lot_id", Some(id(LOT))),
                        ("amount", Some(cql_dec(&[0x00, 0x96], 2))),
                    ],
                )])),
            ),
            ("reference", Some(t("order-1"))),
            ("description", Some(t("coffee"))),
            ("detail", Some(t("released 0.00"))),
            ("hold_id", Some(id(HOLD))),
            ("occurred_at_ms", Some(b(1_700_000_000_500))),
            ("held_after", Some(cql_dec(&[0x02, 0xd5], 2))),
        ],
    );
    assert_eq!(
        planned,
        vec![CqlWrite {
            statement: Statement::UpdateHistory,
            values: vec![b(12), entry, id(WALLET), b(12)],
            partition: part("history", &WALLET.to_string()),
        }]
    );
}

#[test]
fn lot_writes_the_lot_and_its_remaining_amount() {
    let planned = plan(&RowWrite::Lot(lot_row(2)));
    assert_eq!(
        planned[0].statement.cql(KS),
        "UPDATE purse.lots USING TIMESTAMP ? SET lot = ?, remaining = ? \
         WHERE wallet_id = ? AND lot_id = ?"
    );
    assert_eq!(
        planned,
        vec![CqlWrite {
            statement: Statement::UpdateLot,
            values: vec![
                b(2),
                u(
                    "lot_state",
                    vec![
                        ("precedence", Some(b(P))),
                        ("version", Some(b(2))),
                        ("source", Some(t("granted"))),
                        ("amount", Some(cql_dec(&[0x07, 0xd0], 2))),
                        ("expires_at_ms", Some(b(1_800_000_000_000))),
                        ("created_at_ms", Some(b(1_700_000_000_000))),
                    ]
                ),
                u(
                    "lot_remaining",
                    vec![
                        ("precedence", Some(b(P))),
                        ("version", Some(b(2))),
                        ("remaining", Some(cql_dec(&[0x04, 0xfb], 2))),
                    ]
                ),
                id(WALLET),
                id(LOT),
            ],
            partition: part("lots", &WALLET.to_string()),
        }]
    );
}

#[test]
fn lot_remaining_writes_only_the_remaining_group() {
    let planned = plan(&RowWrite::LotRemaining {
        wallet_id: WALLET,
        lot_id: LOT,
        remaining: dec("5.00"),
        version: 6,
    });
    assert_eq!(
        planned[0].statement.cql(KS),
        "UPDATE purse.lots USING TIMESTAMP ? SET remaining = ? WHERE wallet_id = ? AND lot_id = ?"
    );
    assert_eq!(
        planned,
        vec![CqlWrite {
            statement: Statement::UpdateLotRemaining,
            values: vec![
                b(6),
                u(
                    "lot_remaining",
                    vec![
                        ("precedence", Some(b(P))),
                        ("version", Some(b(6))),
                        ("remaining", Some(cql_dec(&[0x01, 0xf4], 2))),
                    ]
                ),
                id(WALLET),
                id(LOT),
            ],
            partition: part("lots", &WALLET.to_string()),
        }]
    );
}

#[test]
fn hold_writes_the_hold_and_its_resolution() {
    let planned = plan(&RowWrite::Hold(hold_row(3)));
    assert_eq!(
        planned[0].statement.cql(KS),
        "UPDATE purse.holds USING TIMESTAMP ? SET hold = ?, resolution = ? \
         WHERE wallet_id = ? AND hold_id = ?"
    );
    assert_eq!(
        planned,
        vec![CqlWrite {
            statement: Statement::UpdateHold,
            values: vec![
                b(3),
                u(
                    "hold_state",
                    vec![
                        ("precedence", Some(b(P))),
                        ("version", Some(b(3))),
                        ("amount", Some(cql_dec(&[0x02, 0xd5], 2))),
                        ("expires_at_ms", Some(b(1_750_000_000_000))),
                    ]
                ),
                u(
                    "hold_resolution",
                    vec![
                        ("precedence", Some(b(P))),
                        ("version", Some(b(3))),
                        ("status", Some(t("placed"))),
                        ("captured", Some(cql_dec(&[0x00], 2))),
                    ]
                ),
                id(WALLET),
                id(HOLD),
            ],
            partition: part("holds", &WALLET.to_string()),
        }]
    );
}

#[test]
fn hold_resolved_writes_only_the_resolution_group() {
    let planned = plan(&RowWrite::HoldResolved {
        wallet_id: WALLET,
        hold_id: HOLD,
        status: "captured".to_owned(),
        captured: dec("7.25"),
        version: 5,
    });
    assert_eq!(
        planned[0].statement.cql(KS),
        "UPDATE purse.holds USING TIMESTAMP ? SET resolution = ? \
         WHERE wallet_id = ? AND hold_id = ?"
    );
    assert_eq!(
        planned,
        vec![CqlWrite {
            statement: Statement::UpdateHoldResolution,
            values: vec![
                b(5),
                u(
                    "hold_resolution",
                    vec![
                        ("precedence", Some(b(P))),
                        ("version", Some(b(5))),
                        ("status", Some(t("captured"))),
                        ("captured", Some(cql_dec(&[0x02, 0xd5], 2))),
                    ]
                ),
                id(WALLET),
                id(HOLD),
            ],
            partition: part("holds", &WALLET.to_string()),
        }]
    );
}

#[test]
fn stream_position_is_versioned_by_its_sequence() {
    let planned = plan(&RowWrite::StreamPosition(StreamPosition {
        stream_id: "wallet-1".to_owned(),
        sequence: 42,
        event_id: "event-42".to_owned(),
    }));
    assert_eq!(
        planned[0].statement.cql(KS),
        "UPDATE purse.stream_positions USING TIMESTAMP ? SET position = ? WHERE stream_id = ?"
    );
    assert_eq!(
        planned,
        vec![CqlWrite {
            statement: Statement::UpdateStreamPosition,
            values: vec![
                b(42),
                u(
                    "stream_position",
                    vec![
                        ("precedence", Some(b(P))),
                        ("sequence", Some(b(42))),
                        ("event_id", Some(t("event-42"))),
                    ]
                ),
                t("wallet-1"),
            ],
            partition: part("stream_positions", "wallet-1"),
        }]
    );
}

#[test]
fn checkpoint_is_versioned_by_its_offset() {
    let planned = plan_checkpoint(&Checkpoint {
        projector: "wallets".to_owned(),
        topic: "purse.wallet.events".to_owned(),
        partition: 3,
        next_offset: 1_234,
    })
    .expect("plan");
    assert_eq!(
        planned.statement.cql(KS),
        "UPDATE purse.checkpoints USING TIMESTAMP ? SET next_offset = ? \
         WHERE projector = ? AND topic = ? AND log_partition = ?"
    );
    assert_eq!(
        planned,
        CqlWrite {
            statement: Statement::UpdateCheckpoint,
            values: vec![
                b(1_234),
                b(1_234),
                t("wallets"),
                t("purse.wallet.events"),
                b(3)
            ],
            partition: part("checkpoints", "\"wallets\"/\"purse.wallet.events\"/3"),
        }
    );
}

#[test]
fn read_statements_name_the_keyspace() {
    for (statement, cql) in [
        (
            Statement::SelectWallet,
            "SELECT wallet_id, identity, status, limits FROM purse.wallets WHERE wallet_id = ?",
        ),
        (
            Statement::SelectWalletIdsByOwner,
            "SELECT wallet_id FROM purse.wallets_by_owner WHERE tenant = ? AND owner = ? LIMIT ?",
        ),
        (
            Statement::SelectWalletIdsByOwnerAfter,
            "SELECT wallet_id FROM purse.wallets_by_owner WHERE tenant = ? AND owner = ? \
             AND wallet_id > ? LIMIT ?",
        ),
        (
            Statement::SelectBalance,
            "SELECT wallet_id, state FROM purse.balances WHERE wallet_id = ?",
        ),
        (
            Statement::SelectHistory,
            "SELECT wallet_id, sequence, entry FROM purse.history WHERE wallet_id = ? LIMIT ?",
        ),
        (
            Statement::SelectHistoryBefore,
            "SELECT wallet_id, sequence, entry FROM purse.history \
             WHERE wallet_id = ? AND sequence < ? LIMIT ?",
        ),
        (
            Statement::SelectLots,
            "SELECT wallet_id, lot_id, lot, remaining FROM purse.lots WHERE wallet_id = ?",
        ),
        (
            Statement::SelectHolds,
            "SELECT wallet_id, hold_id, hold, resolution FROM purse.holds WHERE wallet_id = ?",
        ),
        (
            Statement::SelectStreamPositions,
            "SELECT stream_id, position FROM purse.stream_positions WHERE stream_id IN ?",
        ),
        (
            Statement::SelectCheckpoint,
            "SELECT projector, topic, log_partition, next_offset FROM purse.checkpoints \
             WHERE projector = ? AND topic = ? AND log_partition = ?",
        ),
        (
            Statement::SelectTopUpKeysByWallet,
            "SELECT created_at_ms, top_up_id FROM purse.top_ups_by_wallet_created \
             WHERE wallet_id = ? LIMIT ?",
        ),
        (
            Statement::SelectTopUpKeysByWalletBefore,
            "SELECT created_at_ms, top_up_id FROM purse.top_ups_by_wallet_created \
             WHERE wallet_id = ? AND (created_at_ms, top_up_id) < (?, ?) LIMIT ?",
        ),
        (
            Statement::SelectAutoTopUpRule,
            "SELECT wallet_id, rule, removal FROM purse.auto_top_up_rules WHERE wallet_id = ?",
        ),
        (
            Statement::SelectAutoTopUpActivity,
            "SELECT wallet_id, failure, backoff, cap FROM purse.auto_top_up_activity \
             WHERE wallet_id = ?",
        ),
        (
            Statement::SelectTopUp,
            "SELECT top_up_id, request, status, credit, late_capture, touched FROM purse.top_ups \
             WHERE top_up_id = ?",
        ),
        (
            Statement::SelectPayment,
            "SELECT payment_id, intent, status, card, resolution, refunds, touched \
             FROM purse.payment_intents WHERE payment_id = ?",
        ),
        (
            Statement::SelectPaymentMethod,
            "SELECT payment_method_id, method, removal FROM purse.payment_methods \
             WHERE payment_method_id = ?",
        ),
    ] {
        assert_eq!(statement.cql(KS), cql);
    }
}

#[test]
fn statements_are_indexed_by_their_position() {
    for (position, statement) in Statement::ALL.iter().enumerate() {
        assert_eq!(statement.index(), position, "{statement:?}");
        assert!(!statement.cql("ks_x").contains('{'), "{statement:?}");
    }
}

// ---- timestamps and precedence --------------------------------------------------------------

#[test]
fn write_timestamps_are_the_versions() {
    assert_eq!(write_timestamp(0).expect("0"), 0);
    assert_eq!(write_timestamp(1).expect("1"), 1);
    assert_eq!(write_timestamp(i64::MAX as u64).expect("max"), i64::MAX);
    let beyond = i64::MAX as u64 + 1;
    assert!(matches!(
        write_timestamp(beyond),
        Err(StoreError::OutOfRange { value }) if value == beyond
    ));
    assert!(matches!(
        write_timestamp(u64::MAX),
        Err(StoreError::OutOfRange { value: u64::MAX })
    ));
}

#[test]
fn versions_beyond_i64_are_refused_by_every_write() {
    let beyond = i64::MAX as u64 + 1;
    let writes = [
        RowWrite::Wallet(wallet_row(beyond)),
        RowWrite::WalletStatus {
            wallet_id: WALLET,
            status: "open".to_owned(),
            version: beyond,
        },
        RowWrite::WalletLimits {
            wallet_id: WALLET,
            limits: LimitsRow::default(),
            version: beyond,
        },
        RowWrite::Balance(BalanceRow {
            wallet_id: WALLET,
            balance: dec("1"),
            held: dec("0"),
            version: beyond,
        }),
        RowWrite::History(history_row(beyond)),
        RowWrite::Lot(lot_row(beyond)),
        RowWrite::LotRemaining {
            wallet_id: WALLET,
            lot_id: LOT,
            remaining: dec("1"),
            version: beyond,
        },
        RowWrite::Hold(hold_row(beyond)),
        RowWrite::HoldResolved {
            wallet_id: WALLET,
            hold_id: HOLD,
            status: "voided".to_owned(),
            captured: dec("0"),
            version: beyond,
        },
        RowWrite::StreamPosition(StreamPosition {
            stream_id: "s".to_owned(),
            sequence: beyond,
            event_id: "e".to_owned(),
        }),
    ];
    let versioned = payment_sample_writes().into_iter().map(|mut write| {
        match &mut write {
            RowWrite::TopUp(TopUpRow { version, .. })
            | RowWrite::TopUpStatus { version, .. }
            | RowWrite::TopUpLateCapture { version, .. }
            | RowWrite::Payment(PaymentRow { version, .. })
            | RowWrite::PaymentStatus { version, .. }
            | RowWrite::PaymentCard { version, .. }
            | RowWrite::PaymentResolution { version, .. }
            | RowWrite::PaymentRefunded { version, .. }
            | RowWrite::PaymentMethod(PaymentMethodRow { version, .. })
            | RowWrite::PaymentMethodRemoved { version, .. }
            | RowWrite::AutoTopUpRule(AutoTopUpRuleRow { version, .. })
            | RowWrite::AutoTopUpRuleRemoved { version, .. }
            | RowWrite::AutoTopUpFailed { version, .. }
            | RowWrite::AutoTopUpCompleted { version, .. }
            | RowWrite::AutoTopUpCapReached { version, .. } => *version = beyond,
            other => panic!("not a payment write: {other:?}"),
        }
        write
    });
    for write in writes
        .iter()
        .cloned()
        .chain(versioned)
        .collect::<Vec<_>>()
        .iter()
    {
        assert!(
            matches!(
                plan_write(KS, write, P),
                Err(StoreError::OutOfRange { value }) if value == beyond
            ),
            "{write:?}"
        );
    }
    assert!(matches!(
        plan_checkpoint(&Checkpoint {
            projector: "p".to_owned(),
            topic: "t".to_owned(),
            partition: 0,
            next_offset: beyond,
        }),
        Err(StoreError::OutOfRange { .. })
    ));
}

#[test]
fn stamps_are_strictly_increasing_and_precedence_decreases_with_them() {
    let first = reserve_stamps(3);
    let next = reserve_stamps(1);
    assert!(
        next >= first + 3,
        "a reserved block is not handed out again"
    );
    assert!(
        reserve_stamps(0) > next,
        "even an empty apply moves the clock"
    );
    assert!(precedence(first) > precedence(first + 1));
    assert!(precedence(0) == i64::MAX && precedence(i64::MAX) == 0);
    assert_eq!(precedence(-5), i64::MAX, "never above i64::MAX");
}

#[test]
fn apply_plans_stamp_writes_in_order_and_put_checkpoints_last() {
    let status = |status: &str| RowWrite::WalletStatus {
        wallet_id: WALLET,
        status: status.to_owned(),
        version: 4,
    };
    let checkpoint = Checkpoint {
        projector: "p".to_owned(),
        topic: "t".to_owned(),
        partition: 0,
        next_offset: 9,
    };
    let planned = plan_apply(
        KS,
        &[status("a"), status("b")],
        std::slice::from_ref(&checkpoint),
        100,
    )
    .expect("plan");
    let precedences: Vec<&CqlValue> = planned
        .rows
        .iter()
        .map(|w| match &w.values[1] {
            CqlValue::UserDefinedType { fields, .. } => fields[0].1.as_ref().expect("set"),
            other => panic!("not a UDT: {other:?}"),
        })
        .collect();
    assert_eq!(precedences, [&b(precedence(100)), &b(precedence(101))]);
    assert_eq!(
        planned.checkpoints,
        vec![plan_checkpoint(&checkpoint).expect("plan")]
    );
}

// ---- decimals ---------------------------------------------------------------------------------

#[test]
fn decimals_encode_minimally_and_round_trip_with_their_scale() {
    for (value, mantissa, scale) in [
        ("0", &[0x00][..], 0),
        ("0.00", &[0x00][..], 2),
        ("1.27", &[0x7f][..], 2),
        ("1.28", &[0x00, 0x80][..], 2),
        ("-1", &[0xff][..], 0),
        ("-1.28", &[0x80][..], 2),
        ("-1.29", &[0xff, 0x7f][..], 2),
        ("20.00", &[0x07, 0xd0][..], 2),
        ("0.000000000000000001", &[0x01][..], 18),
        (
            "1000000000000000",
            &[0x03, 0x8d, 0x7e, 0xa4, 0xc6, 0x80, 0x00][..],
            0,
        ),
    ] {
        let encoded = decimal_to_cql(dec(value));
        assert_eq!(
            encoded.as_signed_be_bytes_slice_and_exponent(),
            (mantissa, scale),
            "{value}"
        );
        let decoded = decimal_from_cql(&encoded).expect("decode");
        assert_eq!(decoded.to_string(), value, "scale survives");
    }
    for value in [
        "79228162514264337593543950335",
        "-79228162514264337593543950335",
        "0.0000000000000000000000000001",
        "7.10",
    ] {
        let decoded = decimal_from_cql(&decimal_to_cql(dec(value))).expect("decode");
        assert_eq!(decoded.to_string(), value);
    }
}

#[test]
fn decimals_a_decimal_cannot_hold_are_corrupt() {
    for (mantissa, scale) in [
        (vec![], 0),
        (vec![0x01; 17], 0),
        (vec![0x01], -1),
        (vec![0x01], 29),
        // 2^96: one bit beyond rust_decimal's mantissa.
        (vec![0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0),
    ] {
        let value = CqlDecimal::from_signed_be_bytes_and_exponent(mantissa.clone(), scale);
        assert!(
            decimal_from_cql(&value).is_none(),
            "{mantissa:02x?} scale {scale}"
        );
    }
}

// ---- reading rows as the store does: the columns of a generated select, through CqlRow -------

/// Decodes the row that `statement` would return: `keys`, then `cells` in its groups' order.
fn decode_selected<T>(
    statement: Statement,
    keys: &[Uuid],
    cells: &[Option<&CqlValue>],
    decode: fn(&dyn StoredRow) -> Result<Option<T>, StoreError>,
) -> Result<Option<T>, StoreError> {
    let (table, groups) = statement.reads().expect("a generated select");
    let columns: Vec<Option<CqlValue>> = keys
        .iter()
        .map(|key| Some(CqlValue::Uuid(*key)))
        .chain(cells.iter().map(|cell| cell.cloned()))
        .collect();
    decode(&CqlRow::new(table, groups, &columns)?)
}

fn decode_wallet(
    wallet_id: Uuid,
    identity: Option<&CqlValue>,
    status: Option<&CqlValue>,
    limits: Option<&CqlValue>,
) -> Result<Option<WalletRow>, StoreError> {
    decode_selected(
        Statement::SelectWallet,
        &[wallet_id],
        &[identity, status, limits],
        purse_store::decode::wallet,
    )
}

fn decode_balance(
    wallet_id: Uuid,
    state: Option<&CqlValue>,
) -> Result<Option<BalanceRow>, StoreError> {
    decode_selected(
        Statement::SelectBalance,
        &[wallet_id],
        &[state],
        purse_store::decode::balance,
    )
}

fn decode_lot(
    wallet_id: Uuid,
    lot_id: Uuid,
    lot: Option<&CqlValue>,
    remaining: Option<&CqlValue>,
) -> Result<Option<LotRow>, StoreError> {
    decode_selected(
        Statement::SelectLots,
        &[wallet_id, lot_id],
        &[lot, remaining],
        purse_store::decode::lot,
    )
}

fn decode_hold(
    wallet_id: Uuid,
    hold_id: Uuid,
    hold: Option<&CqlValue>,
    resolution: Option<&CqlValue>,
) -> Result<Option<HoldRow>, StoreError> {
    decode_selected(
        Statement::SelectHolds,
        &[wallet_id, hold_id],
        &[hold, resolution],
        purse_store::decode::hold,
    )
}

/// A history entry as the store reads it: `None` when the row holds no entry.
fn decode_history(
    wallet_id: Uuid,
    sequence: i64,
    entry: Option<&CqlValue>,
) -> Result<Option<HistoryRow>, StoreError> {
    let columns = [
        Some(CqlValue::Uuid(wallet_id)),
        Some(CqlValue::BigInt(sequence)),
        entry.cloned(),
    ];
    let row = CqlRecordRow::new(&purse_store::schema::HISTORY, &columns)?;
    if !row.written() {
        return Ok(None);
    }
    purse_store::decode::history(&row).map(Some)
}

/// A stream position as the store reads it.
fn decode_stream_position(
    stream_id: String,
    position: Option<&CqlValue>,
) -> Result<Option<StreamPosition>, StoreError> {
    let columns = [Some(CqlValue::Text(stream_id)), position.cloned()];
    let row = CqlRecordRow::new(&purse_store::schema::STREAM_POSITIONS, &columns)?;
    if !row.written() {
        return Ok(None);
    }
    purse_store::decode::stream_position(&row).map(Some)
}

/// A checkpoint's next offset as the store reads it.
fn decode_checkpoint(next_offset: i64) -> Result<u64, StoreError> {
    let columns = [
        Some(t("projector")),
        Some(t("topic")),
        Some(CqlValue::BigInt(0)),
        Some(CqlValue::BigInt(next_offset)),
    ];
    purse_store::decode::checkpoint(&CqlRecordRow::new(
        &purse_store::schema::CHECKPOINTS,
        &columns,
    )?)
}

/// The cells of one `top_ups` row, in [`Statement::SelectTopUp`]'s column order.
struct TopUpCells {
    request: Option<CqlValue>,
    status: Option<CqlValue>,
    credit: Option<CqlValue>,
    late_capture: Option<CqlValue>,
    touched: Option<CqlValue>,
}

fn decode_top_up(top_up_id: Uuid, cells: &TopUpCells) -> Result<Option<TopUpRow>, StoreError> {
    decode_selected(
        Statement::SelectTopUp,
        &[top_up_id],
        &[
            cells.request.as_ref(),
            cells.status.as_ref(),
            cells.credit.as_ref(),
            cells.late_capture.as_ref(),
            cells.touched.as_ref(),
        ],
        purse_store::decode::top_up,
    )
}

/// The cells of one `payment_intents` row, in [`Statement::SelectPayment`]'s column order.
struct PaymentCells {
    intent: Option<CqlValue>,
    status: Option<CqlValue>,
    card: Option<CqlValue>,
    resolution: Option<CqlValue>,
    refunds: Option<CqlValue>,
    touched: Option<CqlValue>,
}

fn decode_payment(
    payment_id: Uuid,
    cells: &PaymentCells,
) -> Result<Option<PaymentRow>, StoreError> {
    decode_selected(
        Statement::SelectPayment,
        &[payment_id],
        &[
            cells.intent.as_ref(),
            cells.status.as_ref(),
            cells.card.as_ref(),
            cells.resolution.as_ref(),
            cells.refunds.as_ref(),
            cells.touched.as_ref(),
        ],
        purse_store::decode::payment,
    )
}

fn decode_payment_method(
    payment_method_id: Uuid,
    method: Option<&CqlValue>,
    removal: Option<&CqlValue>,
) -> Result<Option<PaymentMethodRow>, StoreError> {
    decode_selected(
        Statement::SelectPaymentMethod,
        &[payment_method_id],
        &[method, removal],
        purse_store::decode::payment_method,
    )
}

/// The cells of one wallet's auto top-up, as the store reads them from `auto_top_up_rules` and
/// `auto_top_up_activity`.
#[derive(Default)]
struct AutoTopUpCells {
    rule: Option<CqlValue>,
    removal: Option<CqlValue>,
    failure: Option<CqlValue>,
    backoff: Option<CqlValue>,
    cap: Option<CqlValue>,
}

fn decode_auto_top_up_rule(
    wallet_id: Uuid,
    cells: &AutoTopUpCells,
) -> Result<Option<AutoTopUpRuleRow>, StoreError> {
    let (table, groups) = Statement::SelectAutoTopUpRule.reads().expect("select");
    let columns = [
        Some(CqlValue::Uuid(wallet_id)),
        cells.rule.clone(),
        cells.removal.clone(),
    ];
    let mut row = CqlRow::new(table, groups, &columns)?;
    let (_, activity) = Statement::SelectAutoTopUpActivity.reads().expect("select");
    let cells = [
        cells.failure.clone(),
        cells.backoff.clone(),
        cells.cap.clone(),
    ];
    row.also(activity, &cells);
    purse_store::decode::auto_top_up_rule(&row)
}

// ---- rows round-trip through their values ---------------------------------------------------

/// The value bound for `column` of a planned write (by position in the statement).
fn bound(write: &CqlWrite, position: usize) -> &CqlValue {
    &write.values[position]
}

#[test]
fn wallets_round_trip() {
    for wallet in [
        wallet_row(7),
        WalletRow {
            limits: LimitsRow::default(),
            metadata: BTreeMap::new(),
            ..wallet_row(1)
        },
    ] {
        let planned = plan(&RowWrite::Wallet(wallet.clone()));
        let decoded = decode_wallet(
            WALLET,
            Some(bound(&planned[0], 1)),
            Some(bound(&planned[0], 2)),
            Some(bound(&planned[0], 3)),
        )
        .expect("decode");
        assert_eq!(decoded, Some(wallet));
    }
    assert_eq!(
        decode_wallet(WALLET, None, Some(&t("x")), None).expect("partial"),
        None,
        "a wallet without identity is not shown"
    );
}

#[test]
fn wallet_version_is_the_newest_group() {
    let opened = plan(&RowWrite::Wallet(wallet_row(1)));
    let status = plan(&RowWrite::WalletStatus {
        wallet_id: WALLET,
        status: "closed".to_owned(),
        version: 9,
    });
    let decoded = decode_wallet(
        WALLET,
        Some(bound(&opened[0], 1)),
        Some(bound(&status[0], 1)),
        Some(bound(&opened[0], 3)),
    )
    .expect("decode")
    .expect("visible");
    assert_eq!((decoded.status.as_str(), decoded.version), ("closed", 9));
}

#[test]
fn balances_history_lots_holds_and_positions_round_trip() {
    let balance = BalanceRow {
        wallet_id: WALLET,
        balance: dec("0.000000000000000001"),
        held: dec("1000000000000000"),
        version: 4,
    };
    let planned = plan(&RowWrite::Balance(balance.clone()));
    assert_eq!(
        decode_balance(WALLET, Some(bound(&planned[0], 1))).expect("decode"),
        Some(balance)
    );

    for entry in [
        history_row(12),
        HistoryRow {
            lots: Vec::new(),
            hold_id: None,
            held_after: None,
            entry_type: EntryType::Credit,
            ..history_row(1)
        },
    ] {
        let planned = plan(&RowWrite::History(entry.clone()));
        assert_eq!(
            decode_history(WALLET, entry.sequence as i64, Some(bound(&planned[0], 1)))
                .expect("decode"),
            Some(entry)
        );
    }

    for lot in [
        lot_row(2),
        LotRow {
            expires_at_ms: None,
            ..lot_row(3)
        },
    ] {
        let planned = plan(&RowWrite::Lot(lot.clone()));
        assert_eq!(
            decode_lot(
                WALLET,
                LOT,
                Some(bound(&planned[0], 1)),
                Some(bound(&planned[0], 2))
            )
            .expect("decode"),
            Some(lot)
        );
    }
    assert_eq!(
        decode_lot(WALLET, LOT, None, Some(&t("x"))).expect("partial"),
        None
    );

    let hold = hold_row(3);
    let planned = plan(&RowWrite::Hold(hold.clone()));
    assert_eq!(
        decode_hold(
            WALLET,
            HOLD,
            Some(bound(&planned[0], 1)),
            Some(bound(&planned[0], 2))
        )
        .expect("decode"),
        Some(hold)
    );

    let position = StreamPosition {
        stream_id: "s-1".to_owned(),
        sequence: 5,
        event_id: "e-5".to_owned(),
    };
    let planned = plan(&RowWrite::StreamPosition(position.clone()));
    assert_eq!(
        decode_stream_position("s-1".to_owned(), Some(bound(&planned[0], 1))).expect("decode"),
        Some(position)
    );
    assert_eq!(decode_checkpoint(17).expect("decode"), 17);
    assert!(matches!(
        decode_checkpoint(-1),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn malformed_cells_are_corrupt_not_panics() {
    let not_udt = t("oops");
    assert!(matches!(
        decode_balance(WALLET, Some(&not_udt)),
        Err(StoreError::Corrupt {
            table: "balances",
            column: "state",
            ..
        })
    ));
    let missing_field = u("balance_state", vec![("precedence", Some(b(P)))]);
    assert!(matches!(
        decode_balance(WALLET, Some(&missing_field)),
        Err(StoreError::Corrupt { .. })
    ));
    let planned = plan(&RowWrite::History(history_row(3)));
    let mut entry = bound(&planned[0], 1).clone();
    if let CqlValue::UserDefinedType { fields, .. } = &mut entry {
        fields[2].1 = Some(t("teleport"));
    }
    assert!(matches!(
        decode_history(WALLET, 3, Some(&entry)),
        Err(StoreError::Corrupt { .. })
    ));
    let planned = plan(&RowWrite::Wallet(wallet_row(1)));
    assert!(
        matches!(
            decode_wallet(WALLET, Some(bound(&planned[0], 1)), None, None),
            Err(StoreError::Corrupt { .. })
        ),
        "identity without status is impossible"
    );
}

// ---- against the schema file ------------------------------------------------------------------

/// Tables and types as `deploy/scylla/` declares them.
struct Schema {
    types: HashMap<String, ColumnType<'static>>,
    tables: HashMap<String, Table>,
}

struct Table {
    columns: HashMap<String, ColumnType<'static>>,
    primary_key: Vec<String>,
}

/// Splits at commas outside `<>` and `()`.
fn split_top_level(body: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in body.chars() {
        match c {
            '<' | '(' => depth += 1,
            '>' | ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(current.trim().to_owned());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        parts.push(current.trim().to_owned());
    }
    parts
}

/// The text between the first `(` and its matching `)`.
fn parenthesized(statement: &str) -> &str {
    let start = statement.find('(').expect("(") + 1;
    let mut depth = 1;
    for (offset, c) in statement[start..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &statement[start..start + offset];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced: {statement}")
}

fn parse_type(text: &str, types: &HashMap<String, ColumnType<'static>>) -> ColumnType<'static> {
    let text = text.trim();
    let generic = |prefix: &str| {
        text.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix('>'))
    };
    if let Some(inner) = generic("frozen<") {
        return match parse_type(inner, types) {
            ColumnType::Collection { typ, .. } => ColumnType::Collection { frozen: true, typ },
            ColumnType::UserDefinedType { definition, .. } => ColumnType::UserDefinedType {
                frozen: true,
                definition,
            },
            other => other,
        };
    }
    if let Some(inner) = generic("map<") {
        let parts = split_top_level(inner);
        return ColumnType::Collection {
            frozen: false,
            typ: CollectionType::Map(
                Box::new(parse_type(&parts[0], types)),
                Box::new(parse_type(&parts[1], types)),
            ),
        };
    }
    if let Some(inner) = generic("list<") {
        return ColumnType::Collection {
            frozen: false,
            typ: CollectionType::List(Box::new(parse_type(inner, types))),
        };
    }
    let native = match text {
        "bigint" => NativeType::BigInt,
        "int" => NativeType::Int,
        "text" => NativeType::Text,
        "decimal" => NativeType::Decimal,
        "uuid" => NativeType::Uuid,
        "boolean" => NativeType::Boolean,
        "blob" => NativeType::Blob,
        "date" => NativeType::Date,
        "timestamp" => NativeType::Timestamp,
        name => {
            return types
                .get(name)
                .unwrap_or_else(|| panic!("type {name:?} used before it is declared"))
                .clone();
        }
    };
    ColumnType::Native(native)
}

fn schema() -> Schema {
    let mut schema = Schema {
        types: HashMap::new(),
        tables: HashMap::new(),
    };
    let statements: Vec<String> = crate::migrate::migrations()
        .iter()
        .flat_map(|m| m.statements(KS).expect("valid migration"))
        .collect();
    // Fields a later migration adds (`ALTER TYPE ks.udt ADD field type`) belong to the type
    // from the start: every table using it then sees them.
    let mut added: HashMap<String, Vec<String>> = HashMap::new();
    for statement in &statements {
        if let Some(rest) = statement.strip_prefix("ALTER TYPE purse.") {
            let (udt, field) = rest.split_once(" ADD ").expect("ALTER TYPE ... ADD");
            added
                .entry(udt.to_owned())
                .or_default()
                .push(field.trim_end_matches(';').trim().to_owned());
        }
    }
    for statement in statements {
        if statement.starts_with("ALTER TYPE") {
            continue;
        }
        let name = statement
            .split_whitespace()
            .nth(5)
            .and_then(|qualified| qualified.strip_prefix("purse."))
            .expect("qualified name")
            .trim_end_matches('(')
            .to_owned();
        let mut parts = split_top_level(parenthesized(&statement));
        if statement.starts_with("CREATE TYPE") {
            parts.extend(added.get(&name).into_iter().flatten().cloned());
            let fields = parts
                .iter()
                .map(|part| {
                    let (field, typ) = part.split_once(' ').expect("field type");
                    (Cow::Owned(field.to_owned()), parse_type(typ, &schema.types))
                })
                .collect();
            let definition = Arc::new(UserDefinedType {
                name: Cow::Owned(name.clone()),
                keyspace: Cow::Owned(KS.to_owned()),
                field_types: fields,
            });
            schema.types.insert(
                name,
                ColumnType::UserDefinedType {
                    frozen: false,
                    definition,
                },
            );
        } else if statement.starts_with("CREATE TABLE") {
            let mut table = Table {
                columns: HashMap::new(),
                primary_key: Vec::new(),
            };
            for part in parts {
                if let Some(key) = part.strip_prefix("PRIMARY KEY") {
                    table.primary_key = key
                        .split(|c: char| c == '(' || c == ')' || c == ',' || c.is_whitespace())
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect();
                    continue;
                }
                let (column, rest) = part.split_once(' ').expect("column type");
                let typ = rest.strip_suffix(" PRIMARY KEY").unwrap_or(rest);
                if typ.len() != rest.len() {
                    table.primary_key = vec![column.to_owned()];
                }
                table
                    .columns
                    .insert(column.to_owned(), parse_type(typ, &schema.types));
            }
            schema.tables.insert(name, table);
        }
    }
    schema
}

/// What a bind marker stands for.
#[derive(Debug)]
enum Marker {
    Timestamp,
    Limit,
    Column(String),
    InList(String),
}

/// A statement's table, bind markers (in order), and the columns it sets and keys on.
struct Shape {
    table: String,
    markers: Vec<Marker>,
    set: Vec<String>,
    keys: Vec<String>,
    selected: Vec<String>,
}

fn shape(statement: Statement) -> Shape {
    let cql = statement.cql(KS).replace([',', '(', ')'], " ");
    let tokens: Vec<&str> = cql.split_whitespace().collect();
    let table_at = tokens
        .iter()
        .position(|t| t.starts_with("purse."))
        .expect("table");
    let table = tokens[table_at].trim_start_matches("purse.").to_owned();
    let mut shape = Shape {
        table,
        markers: Vec::new(),
        set: Vec::new(),
        keys: Vec::new(),
        selected: Vec::new(),
    };
    match tokens[0] {
        "INSERT" => {
            let values_at = tokens.iter().position(|t| *t == "VALUES").expect("VALUES");
            let columns = &tokens[table_at + 1..values_at];
            shape.keys = columns.iter().map(|c| (*c).to_owned()).collect();
            shape.markers = columns
                .iter()
                .map(|c| Marker::Column((*c).to_owned()))
                .collect();
            assert_eq!(tokens[tokens.len() - 3..], ["USING", "TIMESTAMP", "?"]);
            shape.markers.push(Marker::Timestamp);
        }
        first => {
            if first == "SELECT" {
                shape.selected = tokens[1..table_at - 1]
                    .iter()
                    .map(|c| (*c).to_owned())
                    .collect();
            }
            let where_at = tokens.iter().position(|t| *t == "WHERE").expect("WHERE");
            // With parentheses and commas blanked, `(a, b) < (?, ?)` reads `a b < ? ?`: the
            // n-th marker after a comparison stands for the n-th of the n columns before it.
            let mut run = 0;
            for (at, token) in tokens.iter().enumerate() {
                if *token != "?" {
                    run = 0;
                    continue;
                }
                run += 1;
                let operator_at = at - run;
                let marker = match tokens[operator_at] {
                    "TIMESTAMP" => Marker::Timestamp,
                    "LIMIT" => Marker::Limit,
                    "IN" => Marker::InList(tokens[operator_at - 1].to_owned()),
                    "=" | "<" | ">" => {
                        let width = tokens[operator_at + 1..]
                            .iter()
                            .take_while(|t| **t == "?")
                            .count();
                        Marker::Column(tokens[operator_at - width + run - 1].to_owned())
                    }
                    other => panic!("unexpected marker after {other:?} in {cql}"),
                };
                if let Marker::Column(column) | Marker::InList(column) = &marker {
                    if at > where_at {
                        shape.keys.push(column.clone());
                    } else {
                        shape.set.push(column.clone());
                    }
                }
                shape.markers.push(marker);
            }
        }
    }
    shape
}

fn marker_type(table: &Table, marker: &Marker) -> ColumnType<'static> {
    let column = |name: &str| {
        table
            .columns
            .get(name)
            .unwrap_or_else(|| panic!("no column {name}"))
            .clone()
    };
    match marker {
        Marker::Timestamp => ColumnType::Native(NativeType::BigInt),
        Marker::Limit => ColumnType::Native(NativeType::Int),
        Marker::Column(name) => column(name),
        Marker::InList(name) => ColumnType::Collection {
            frozen: false,
            typ: CollectionType::List(Box::new(column(name))),
        },
    }
}

fn serialize(value: &CqlValue, typ: &ColumnType<'_>) -> Vec<u8> {
    let mut buf = Vec::new();
    SerializeValue::serialize(value, typ, CellWriter::new_without_size(&mut buf))
        .unwrap_or_else(|e| panic!("{value:?} does not fit {typ:?}: {e}"));
    buf
}

/// One of every write, with every optional field set and unset somewhere.
fn sample_writes() -> Vec<RowWrite> {
    vec![
        RowWrite::Wallet(wallet_row(1)),
        RowWrite::Wallet(WalletRow {
            limits: LimitsRow::default(),
            metadata: BTreeMap::new(),
            ..wallet_row(1)
        }),
        RowWrite::WalletStatus {
            wallet_id: WALLET,
            status: "suspended".to_owned(),
            version: 2,
        },
        RowWrite::WalletLimits {
            wallet_id: WALLET,
            limits: LimitsRow {
                daily_debit_limit: Some(dec("3")),
                low_balance_threshold: Some(dec("1.00")),
                ..LimitsRow::default()
            },
            version: 3,
        },
        RowWrite::Balance(BalanceRow {
            wallet_id: WALLET,
            balance: dec("20.00"),
            held: dec("7.25"),
            version: 4,
        }),
        RowWrite::History(history_row(4)),
        RowWrite::History(HistoryRow {
            lots: Vec::new(),
            hold_id: None,
            ..history_row(5)
        }),
        RowWrite::Lot(lot_row(4)),
        RowWrite::Lot(LotRow {
            expires_at_ms: None,
            ..lot_row(4)
        }),
        RowWrite::LotRemaining {
            wallet_id: WALLET,
            lot_id: LOT,
            remaining: dec("1"),
            version: 6,
        },
        RowWrite::Hold(hold_row(7)),
        RowWrite::HoldResolved {
            wallet_id: WALLET,
            hold_id: HOLD,
            status: "voided".to_owned(),
            captured: dec("0"),
            version: 8,
        },
        RowWrite::StreamPosition(StreamPosition {
            stream_id: WALLET.to_string(),
            sequence: 8,
            event_id: "event-8".to_owned(),
        }),
    ]
    .into_iter()
    .chain(payment_sample_writes())
    .collect()
}

#[test]
fn every_statement_matches_the_schema() {
    let schema = schema();
    for statement in Statement::ALL {
        let shape = shape(statement);
        let table = schema
            .tables
            .get(&shape.table)
            .unwrap_or_else(|| panic!("{statement:?}: no table {}", shape.table));
        for column in shape.set.iter().chain(&shape.keys).chain(&shape.selected) {
            assert!(
                table.columns.contains_key(column),
                "{statement:?}: no column {column} in {}",
                shape.table
            );
        }
        for column in &shape.set {
            assert!(
                !table.primary_key.contains(column),
                "{statement:?} sets key column {column}"
            );
        }
        if statement.cql(KS).starts_with("INSERT") {
            // An insert names the whole primary key (and may set other columns).
            for key in &table.primary_key {
                assert!(shape.keys.contains(key), "{statement:?} lacks key {key}");
            }
        } else if !shape.set.is_empty() {
            // A write names the whole primary key: one row, never a range.
            let mut keys = shape.keys.clone();
            keys.sort();
            let mut primary_key = table.primary_key.clone();
            primary_key.sort();
            assert_eq!(keys, primary_key, "{statement:?}");
        }
        for marker in &shape.markers {
            let _ = marker_type(table, marker);
        }
    }
}

#[test]
fn every_bound_value_type_checks_against_the_schema() {
    let schema = schema();
    let checkpoint = plan_checkpoint(&Checkpoint {
        projector: "p".to_owned(),
        topic: "t".to_owned(),
        partition: u32::MAX,
        next_offset: 0,
    })
    .expect("plan");
    let mut planned: Vec<CqlWrite> = sample_writes()
        .iter()
        .flat_map(|w| plan_write(KS, w, P).expect("plan"))
        .collect();
    planned.push(checkpoint);
    for write in planned {
        let shape = shape(write.statement);
        let table = &schema.tables[&shape.table];
        assert_eq!(
            shape.markers.len(),
            write.values.len(),
            "{:?}: markers and values",
            write.statement
        );
        for (marker, value) in shape.markers.iter().zip(&write.values) {
            serialize(value, &marker_type(table, marker));
        }
    }
}

#[test]
fn versioned_groups_start_with_precedence() {
    let schema = schema();
    for (name, typ) in &schema.types {
        let ColumnType::UserDefinedType { definition, .. } = typ else {
            panic!("{name} is not a UDT");
        };
        let fields: Vec<&str> = definition
            .field_types
            .iter()
            .map(|(field, _)| field.as_ref())
            .collect();
        if name == "lot_amount" {
            continue; // Not a cell of its own: an element of history_entry.lots.
        }
        assert_eq!(
            fields[0], "precedence",
            "{name}: the tie-break must come first"
        );
        assert_eq!(
            definition.field_types[0].1,
            ColumnType::Native(NativeType::BigInt),
            "{name}"
        );
        if !matches!(name.as_str(), "history_entry" | "stream_position") {
            assert_eq!(fields[1], "version", "{name}");
        }
    }
}

// ---- ScyllaDB's reconciliation, modelled ------------------------------------------------------

/// A cell as ScyllaDB keeps it.
#[derive(Clone)]
struct Cell {
    timestamp: i64,
    bytes: Vec<u8>,
    value: CqlValue,
}

/// The cells of the read-model tables. A write replaces a cell if its timestamp is greater or,
/// at an equal timestamp, if its serialized value is greater (ScyllaDB's
/// `compare_atomic_cell_for_merge`; our writes never write nulls, so tombstones play no part).
struct Model {
    schema: Schema,
    cells: HashMap<(String, String, String), Cell>,
    /// Every row written, by (table, key): its key columns (index rows have no other cells).
    rows: HashMap<(String, String), Vec<(String, CqlValue)>>,
}

impl Model {
    fn new() -> Model {
        Model {
            schema: schema(),
            cells: HashMap::new(),
            rows: HashMap::new(),
        }
    }

    fn apply(&mut self, writes: Vec<RowWrite>, checkpoints: Vec<Checkpoint>) {
        let plan =
            plan_apply(KS, &writes, &checkpoints, reserve_stamps(writes.len())).expect("plan");
        for write in plan.rows.iter().chain(&plan.checkpoints) {
            self.write(write);
        }
    }

    fn write(&mut self, write: &CqlWrite) {
        let shape = shape(write.statement);
        let table = &self.schema.tables[&shape.table];
        let mut timestamp = None;
        let mut key = BTreeMap::new();
        let mut key_values = Vec::new();
        let mut set = Vec::new();
        for (marker, value) in shape.markers.iter().zip(&write.values) {
            match marker {
                Marker::Timestamp => match value {
                    CqlValue::BigInt(ts) => timestamp = Some(*ts),
                    other => panic!("timestamp {other:?}"),
                },
                Marker::Column(column) if table.primary_key.contains(column) => {
                    key.insert(column.clone(), format!("{value:?}"));
                    key_values.push((column.clone(), value.clone()));
                }
                Marker::Column(column) => set.push((column.clone(), value.clone())),
                other => panic!("unexpected marker in a write: {other:?}"),
            }
        }
        let timestamp = timestamp.expect("USING TIMESTAMP");
        let key = format!("{key:?}");
        self.rows
            .insert((shape.table.clone(), key.clone()), key_values);
        for (column, value) in set {
            let bytes = serialize(&value, &table.columns[&column]);
            let cell = Cell {
                timestamp,
                bytes,
                value,
            };
            let slot = (shape.table.clone(), key.clone(), column);
            let replace = match self.cells.get(&slot) {
                None => true,
                Some(old) => (cell.timestamp, &cell.bytes) > (old.timestamp, &old.bytes),
            };
            if replace {
                self.cells.insert(slot, cell);
            }
        }
    }

    fn cell(&self, table: &str, key: &[(&str, CqlValue)], column: &str) -> Option<&CqlValue> {
        let key: BTreeMap<String, String> = key
            .iter()
            .map(|(name, value)| ((*name).to_owned(), format!("{value:?}")))
            .collect();
        self.cells
            .get(&(table.to_owned(), format!("{key:?}"), column.to_owned()))
            .map(|cell| &cell.value)
    }

    fn wallet(&self, wallet_id: Uuid) -> Option<WalletRow> {
        let key = [("wallet_id", id(wallet_id))];
        decode_wallet(
            wallet_id,
            self.cell("wallets", &key, "identity"),
            self.cell("wallets", &key, "status"),
            self.cell("wallets", &key, "limits"),
        )
        .expect("decode")
    }

    fn balance(&self, wallet_id: Uuid) -> Option<BalanceRow> {
        decode_balance(
            wallet_id,
            self.cell("balances", &[("wallet_id", id(wallet_id))], "state"),
        )
        .expect("decode")
    }

    fn lot(&self, wallet_id: Uuid, lot_id: Uuid) -> Option<LotRow> {
        let key = [("wallet_id", id(wallet_id)), ("lot_id", id(lot_id))];
        decode_lot(
            wallet_id,
            lot_id,
            self.cell("lots", &key, "lot"),
            self.cell("lots", &key, "remaining"),
        )
        .expect("decode")
    }

    fn hold(&self, wallet_id: Uuid, hold_id: Uuid) -> Option<HoldRow> {
        let key = [("wallet_id", id(wallet_id)), ("hold_id", id(hold_id))];
        decode_hold(
            wallet_id,
            hold_id,
            self.cell("holds", &key, "hold"),
            self.cell("holds", &key, "resolution"),
        )
        .expect("decode")
    }

    fn history(&self, wallet_id: Uuid, sequence: i64) -> Option<HistoryRow> {
        let key = [("wallet_id", id(wallet_id)), ("sequence", b(sequence))];
        decode_history(wallet_id, sequence, self.cell("history", &key, "entry")).expect("decode")
    }

    fn position(&self, stream_id: &str) -> Option<StreamPosition> {
        decode_stream_position(
            stream_id.to_owned(),
            self.cell(
                "stream_positions",
                &[("stream_id", t(stream_id))],
                "position",
            ),
        )
        .expect("decode")
    }

    fn checkpoint(&self, projector: &str, topic: &str, partition: i64) -> Option<u64> {
        let key = [
            ("projector", t(projector)),
            ("topic", t(topic)),
            ("log_partition", b(partition)),
        ];
        self.cell("checkpoints", &key, "next_offset")
            .map(|value| match value {
                CqlValue::BigInt(offset) => decode_checkpoint(*offset).expect("decode"),
                other => panic!("offset {other:?}"),
            })
    }
}

#[test]
fn modelled_older_and_equal_versions_never_overwrite() {
    let mut model = Model::new();
    let balance = |amount: &str, version| {
        RowWrite::Balance(BalanceRow {
            wallet_id: WALLET,
            balance: dec(amount),
            held: dec("0"),
            version,
        })
    };
    model.apply(vec![balance("50.00", 5)], vec![]);
    model.apply(vec![balance("10.00", 3)], vec![]);
    // Greater value, equal version: ScyllaDB alone would keep 99.00; precedence keeps 50.00.
    model.apply(vec![balance("99.00", 5)], vec![]);
    assert_eq!(
        model.balance(WALLET).expect("balance").balance,
        dec("50.00")
    );

    let status = |status: &str, version| RowWrite::WalletStatus {
        wallet_id: WALLET,
        status: status.to_owned(),
        version,
    };
    model.apply(
        vec![RowWrite::Wallet(wallet_row(1)), status("suspended", 4)],
        vec![],
    );
    model.apply(vec![status("open", 2), status("zzz-later", 4)], vec![]);
    let wallet = model.wallet(WALLET).expect("wallet");
    assert_eq!((wallet.status.as_str(), wallet.version), ("suspended", 4));

    let remaining = |amount: &str, version| RowWrite::LotRemaining {
        wallet_id: WALLET,
        lot_id: LOT,
        remaining: dec(amount),
        version,
    };
    model.apply(vec![RowWrite::Lot(lot_row(2))], vec![]);
    model.apply(vec![remaining("5.00", 7)], vec![]);
    model.apply(vec![remaining("15.00", 6), remaining("9.00", 7)], vec![]);
    assert_eq!(model.lot(WALLET, LOT).expect("lot").remaining, dec("5.00"));

    let resolved = |status: &str, version| RowWrite::HoldResolved {
        wallet_id: WALLET,
        hold_id: HOLD,
        status: status.to_owned(),
        captured: dec("0.00"),
        version,
    };
    model.apply(
        vec![RowWrite::Hold(hold_row(3)), resolved("captured", 5)],
        vec![],
    );
    model.apply(vec![resolved("expired", 4), resolved("voided", 5)], vec![]);
    model.apply(vec![RowWrite::Hold(hold_row(3))], vec![]);
    assert_eq!(model.hold(WALLET, HOLD).expect("hold").status, "captured");
}

#[test]
fn modelled_equal_versions_in_one_apply_keep_the_first() {
    let mut model = Model::new();
    model.apply(
        vec![
            RowWrite::Wallet(wallet_row(1)),
            RowWrite::WalletStatus {
                wallet_id: WALLET,
                status: "aaa-first".to_owned(),
                version: 4,
            },
            RowWrite::WalletStatus {
                wallet_id: WALLET,
                status: "zzz-second".to_owned(),
                version: 4,
            },
        ],
        vec![],
    );
    assert_eq!(model.wallet(WALLET).expect("wallet").status, "aaa-first");
}

#[test]
fn modelled_column_groups_have_their_own_versions() {
    let mut model = Model::new();
    let limits = LimitsRow {
        max_balance: Some(dec("500.00")),
        ..LimitsRow::default()
    };
    model.apply(
        vec![
            RowWrite::Wallet(wallet_row(1)),
            RowWrite::WalletStatus {
                wallet_id: WALLET,
                status: "suspended".to_owned(),
                version: 3,
            },
            RowWrite::WalletLimits {
                wallet_id: WALLET,
                limits: limits.clone(),
                version: 2,
            },
        ],
        vec![],
    );
    model.apply(
        vec![
            RowWrite::Wallet(wallet_row(1)),
            RowWrite::WalletLimits {
                wallet_id: WALLET,
                limits: LimitsRow::default(),
                version: 2,
            },
        ],
        vec![],
    );
    assert_eq!(
        model.wallet(WALLET),
        Some(WalletRow {
            status: "suspended".to_owned(),
            limits,
            version: 3,
            ..wallet_row(1)
        })
    );
}

#[test]
fn modelled_partial_writes_wait_for_their_row_and_keep_newer_values() {
    let mut model = Model::new();
    model.apply(
        vec![
            RowWrite::LotRemaining {
                wallet_id: WALLET,
                lot_id: LOT,
                remaining: dec("3.00"),
                version: 5,
            },
            RowWrite::HoldResolved {
                wallet_id: WALLET,
                hold_id: HOLD,
                status: "captured".to_owned(),
                captured: dec("7.25"),
                version: 4,
            },
            RowWrite::WalletStatus {
                wallet_id: WALLET,
                status: "closed".to_owned(),
                version: 9,
            },
        ],
        vec![],
    );
    assert_eq!(model.lot(WALLET, LOT), None);
    assert_eq!(model.hold(WALLET, HOLD), None);
    assert_eq!(model.wallet(WALLET), None);
    model.apply(
        vec![
            RowWrite::Lot(lot_row(2)),
            RowWrite::Hold(hold_row(1)),
            RowWrite::Wallet(wallet_row(1)),
        ],
        vec![],
    );
    assert_eq!(
        model.lot(WALLET, LOT),
        Some(LotRow {
            remaining: dec("3.00"),
            version: 5,
            ..lot_row(2)
        })
    );
    assert_eq!(
        model.hold(WALLET, HOLD),
        Some(HoldRow {
            status: "captured".to_owned(),
            captured: dec("7.25"),
            version: 4,
            ..hold_row(1)
        })
    );
    assert_eq!(
        model.wallet(WALLET),
        Some(WalletRow {
            status: "closed".to_owned(),
            version: 9,
            ..wallet_row(1)
        })
    );
}

#[test]
fn modelled_replays_in_any_order_yield_identical_rows() {
    // Without the alternative wallet and lot of the samples: those share a version with the
    // first ones, so there the first to arrive wins, by design.
    let writes: Vec<RowWrite> = sample_writes()
        .into_iter()
        .enumerate()
        .filter(|(index, _)| ![1, 8].contains(index))
        .map(|(_, write)| write)
        .collect();
    let snapshot = |model: &Model| {
        format!(
            "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
            model.wallet(WALLET),
            model.balance(WALLET),
            model.history(WALLET, 4),
            model.history(WALLET, 5),
            model.lot(WALLET, LOT),
            model.hold(WALLET, HOLD),
            model.position(&WALLET.to_string()),
        )
    };
    let mut model = Model::new();
    model.apply(writes.clone(), vec![]);
    let first = snapshot(&model);
    model.apply(writes.clone(), vec![]);
    assert_eq!(snapshot(&model), first);
    model.apply(writes.iter().rev().cloned().collect(), vec![]);
    assert_eq!(snapshot(&model), first);
    let mut reversed = Model::new();
    reversed.apply(writes.iter().rev().cloned().collect(), vec![]);
    assert_eq!(snapshot(&reversed), first, "arrival order does not matter");
}

#[test]
fn modelled_history_entries_are_immutable() {
    let mut model = Model::new();
    let original = history_row(7);
    model.apply(vec![RowWrite::History(original.clone())], vec![]);
    model.apply(
        vec![RowWrite::History(HistoryRow {
            amount: dec("999.00"),
            description: "rewritten".to_owned(),
            entry_type: EntryType::Refund,
            ..history_row(7)
        })],
        vec![],
    );
    assert_eq!(model.history(WALLET, 7), Some(original));
}

#[test]
fn modelled_stream_positions_move_forward_and_keep_the_first_event() {
    let mut model = Model::new();
    let position = |stream: &str, sequence, event: &str| {
        RowWrite::StreamPosition(StreamPosition {
            stream_id: stream.to_owned(),
            sequence,
            event_id: event.to_owned(),
        })
    };
    model.apply(vec![position("a", 3, "a3"), position("b", 1, "b1")], vec![]);
    model.apply(
        vec![
            position("a", 2, "a2"),
            position("a", 3, "a3-loser"),
            position("b", 2, "b2"),
        ],
        vec![],
    );
    assert_eq!(
        model.position("a").map(|p| (p.sequence, p.event_id)),
        Some((3, "a3".to_owned()))
    );
    assert_eq!(
        model.position("b").map(|p| (p.sequence, p.event_id)),
        Some((2, "b2".to_owned()))
    );
}

#[test]
fn modelled_checkpoints_only_move_forward() {
    let mut model = Model::new();
    let checkpoint = |partition, next_offset| Checkpoint {
        projector: "p".to_owned(),
        topic: "events".to_owned(),
        partition,
        next_offset,
    };
    model.apply(vec![], vec![checkpoint(0, 10), checkpoint(1, 3)]);
    model.apply(vec![], vec![checkpoint(0, 4)]);
    assert_eq!(model.checkpoint("p", "events", 0), Some(10));
    assert_eq!(model.checkpoint("p", "events", 1), Some(3));
    model.apply(vec![], vec![checkpoint(0, 11)]);
    assert_eq!(model.checkpoint("p", "events", 0), Some(11));
    assert_eq!(model.checkpoint("p", "other", 0), None);
}

// ---- top-ups, payments, stored cards, auto top-up rules -------------------------------------

const TOP_UP: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0011);
const PAYMENT: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0012);
const SESSION: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0013);
const METHOD: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0014);

fn top_up_row(version: u64) -> TopUpRow {
    TopUpRow {
        top_up_id: TOP_UP,
        tenant: "acme".to_owned(),
        wallet_id: WALLET,
        owner: "alice".to_owned(),
        kind: "manual".to_owned(),
        asset: "USD".to_owned(),
        amount: dec("20.00"),
        wallet_amount: dec("22.00"),
        fee: dec("0.58"),
        status: "created".to_owned(),
        failure_reason: None,
        payment_id: PAYMENT,
        checkout_session_id: Some(SESSION),
        payment_method_id: None,
        expires_at_ms: 1_700_000_300_000,
        lots_expire_at_ms: Some(1_800_000_000_000),
        credited: dec("0.00"),
        late_capture: None,
        created_at_ms: 1_700_000_000_000,
        updated_at_ms: 1_700_000_000_000,
        version,
    }
}

fn payment_row(version: u64) -> PaymentRow {
    PaymentRow {
        payment_id: PAYMENT,
        tenant: "acme".to_owned(),
        owner: "alice".to_owned(),
        asset: "USD".to_owned(),
        amount: dec("20.00"),
        status: "requires_payment_method".to_owned(),
        top_up_id: Some(TOP_UP),
        payment_method_id: Some(METHOD),
        card_brand: None,
        card_last4: None,
        card_exp_month: None,
        card_exp_year: None,
        decline_reason: None,
        cancel_reason: None,
        captured: None,
        refunded: None,
        created_at_ms: 1_700_000_000_000,
        updated_at_ms: 1_700_000_000_000,
        version,
    }
}

fn method_row(version: u64) -> PaymentMethodRow {
    PaymentMethodRow {
        tenant: "acme".to_owned(),
        owner: "alice".to_owned(),
        payment_method_id: METHOD,
        brand: "visa".to_owned(),
        last4: "4242".to_owned(),
        exp_month: 12,
        exp_year: 2030,
        created_at_ms: 1_700_000_000_000,
        removed: false,
        version,
    }
}

fn rule_row(version: u64) -> AutoTopUpRuleRow {
    AutoTopUpRuleRow {
        wallet_id: WALLET,
        tenant: "acme".to_owned(),
        owner: "alice".to_owned(),
        asset: "USD".to_owned(),
        threshold: dec("5.00"),
        amount: Some(dec("20.00")),
        target_balance: None,
        payment_method_id: METHOD,
        daily_max_count: 3,
        daily_max_amount: None,
        backoff_ms: 3_600_000,
        fee_rate: dec("2.9"),
        timeout_ms: 300_000,
        removed: false,
        updated_at_ms: 1_700_000_000_000,
        activity: AutoTopUpActivityRow::default(),
        version,
    }
}

fn failure_row(top_up_id: Uuid, reason: &str, failed_at_ms: i64) -> AutoTopUpFailureRow {
    AutoTopUpFailureRow {
        top_up_id,
        reason: reason.to_owned(),
        failed_at_ms,
    }
}

/// One of every top-up, payment, stored-card and rule write, optional fields set and unset.
fn payment_sample_writes() -> Vec<RowWrite> {
    vec![
        RowWrite::TopUp(top_up_row(1)),
        RowWrite::TopUp(TopUpRow {
            checkout_session_id: None,
            payment_method_id: Some(METHOD),
            lots_expire_at_ms: None,
            failure_reason: Some("declined:expired_card".to_owned()),
            late_capture: Some(dec("20.00")),
            ..top_up_row(1)
        }),
        RowWrite::TopUpStatus {
            top_up_id: TOP_UP,
            status: "completed".to_owned(),
            failure_reason: None,
            credited: Some(dec("22.00")),
            updated_at_ms: 1_700_000_000_003,
            version: 3,
        },
        RowWrite::TopUpStatus {
            top_up_id: TOP_UP,
            status: "failed".to_owned(),
            failure_reason: Some("credit_rejected:wallet_closed".to_owned()),
            credited: None,
            updated_at_ms: 1_700_000_000_003,
            version: 3,
        },
        RowWrite::TopUpLateCapture {
            top_up_id: TOP_UP,
            late_capture: dec("20.00"),
            updated_at_ms: 1_700_000_000_004,
            version: 4,
        },
        RowWrite::Payment(payment_row(1)),
        RowWrite::Payment(PaymentRow {
            top_up_id: None,
            payment_method_id: None,
            card_brand: Some("visa".to_owned()),
            card_last4: Some("4242".to_owned()),
            card_exp_month: Some(1),
            card_exp_year: Some(2031),
            decline_reason: Some("declined".to_owned()),
            cancel_reason: Some("abandoned".to_owned()),
            captured: Some(dec("20.00")),
            refunded: Some(dec("1.00")),
            ..payment_row(1)
        }),
        RowWrite::PaymentStatus {
            payment_id: PAYMENT,
            status: "succeeded".to_owned(),
            captured: Some(dec("20.00")),
            updated_at_ms: 1_700_000_000_002,
            version: 2,
        },
        RowWrite::PaymentStatus {
            payment_id: PAYMENT,
            status: "processing".to_owned(),
            captured: None,
            updated_at_ms: 1_700_000_000_002,
            version: 2,
        },
        RowWrite::PaymentCard {
            payment_id: PAYMENT,
            brand: "mastercard".to_owned(),
            last4: "4444".to_owned(),
            exp_month: 2,
            exp_year: 2032,
            payment_method_id: Some(METHOD),
            updated_at_ms: 1_700_000_000_002,
            version: 2,
        },
        RowWrite::PaymentCard {
            payment_id: PAYMENT,
            brand: "visa".to_owned(),
            last4: "0002".to_owned(),
            exp_month: 2,
            exp_year: 2032,
            payment_method_id: None,
            updated_at_ms: 1_700_000_000_002,
            version: 2,
        },
        RowWrite::PaymentResolution {
            payment_id: PAYMENT,
            decline_reason: Some("insufficient_funds".to_owned()),
            cancel_reason: None,
            updated_at_ms: 1_700_000_000_003,
            version: 3,
        },
        RowWrite::PaymentRefunded {
            payment_id: PAYMENT,
            refunded: dec("5.00"),
            updated_at_ms: 1_700_000_000_005,
            version: 5,
        },
        RowWrite::PaymentMethod(method_row(1)),
        RowWrite::PaymentMethodRemoved {
            payment_method_id: METHOD,
            version: 2,
        },
        RowWrite::AutoTopUpRule(rule_row(1)),
        RowWrite::AutoTopUpRule(AutoTopUpRuleRow {
            amount: None,
            target_balance: Some(dec("50.00")),
            daily_max_amount: Some(dec("100.00")),
            ..rule_row(1)
        }),
        RowWrite::AutoTopUpRuleRemoved {
            wallet_id: WALLET,
            version: 2,
        },
        RowWrite::AutoTopUpFailed {
            wallet_id: WALLET,
            failure: failure_row(TOP_UP, "declined:insufficient_funds", 1_700_000_000_003),
            consecutive_failures: 1,
            backoff_until_ms: 1_700_003_600_003,
            version: 3,
        },
        RowWrite::AutoTopUpCompleted {
            wallet_id: WALLET,
            version: 4,
        },
        RowWrite::AutoTopUpCapReached {
            wallet_id: WALLET,
            until_ms: 1_700_006_400_000,
            version: 5,
        },
    ]
}

#[test]
fn top_up_writes_every_group_and_both_indexes() {
    let planned = plan(&RowWrite::TopUp(top_up_row(1)));
    assert_eq!(
        planned
            .iter()
            .map(|w| w.statement.cql(KS))
            .collect::<Vec<_>>(),
        [
            "UPDATE purse.top_ups USING TIMESTAMP ? SET request = ?, status = ?, credit = ?, \
             late_capture = ?, touched = ? WHERE top_up_id = ?",
            "INSERT INTO purse.top_ups_by_wallet_created (wallet_id, created_at_ms, top_up_id) \
             VALUES (?, ?, ?) USING TIMESTAMP ?",
            "INSERT INTO purse.top_ups_by_checkout_session (checkout_session_id, top_up_id) \
             VALUES (?, ?) USING TIMESTAMP ?",
        ]
    );
    let group = |name: &str, fields: Vec<(&str, Option<CqlValue>)>| {
        let mut all = vec![("precedence", Some(b(P))), ("version", Some(b(1)))];
        all.extend(fields);
        u(name, all)
    };
    assert_eq!(
        planned[0].values,
        vec![
            b(1),
            group(
                "top_up_request",
                vec![
                    ("tenant", Some(t("acme"))),
                    ("wallet_id", Some(id(WALLET))),
                    ("owner", Some(t("alice"))),
                    ("kind", Some(t("manual"))),
                    ("asset", Some(t("USD"))),
                    ("amount", Some(cql_dec(&[0x07, 0xd0], 2))),
                    ("wallet_amount", Some(cql_dec(&[0x08, 0x98], 2))),
                    ("fee", Some(cql_dec(&[0x3a], 2))),
                    ("payment_id", Some(id(PAYMENT))),
                    ("checkout_session_id", Some(id(SESSION))),
                    ("payment_method_id", None),
                    ("expires_at_ms", Some(b(1_700_000_300_000))),
                    ("lots_expire_at_ms", Some(b(1_800_000_000_000))),
                    ("created_at_ms", Some(b(1_700_000_000_000))),
                ],
            ),
            group(
                "top_up_state",
                vec![("status", Some(t("created"))), ("failure_reason", None)],
            ),
            group(
                "top_up_credit",
                vec![("credited", Some(cql_dec(&[0x00], 2)))]
            ),
            group("top_up_late_capture", vec![("late_capture", None)]),
            group(
                "row_touch",
                vec![("updated_at_ms", Some(b(1_700_000_000_000)))]
            ),
            id(TOP_UP),
        ]
    );
    assert_eq!(planned[0].partition, part("top_ups", &TOP_UP.to_string()));
    // Keyed by creation time and the id's bytes (a blob orders ties by them).
    assert_eq!(
        planned[1].values,
        vec![
            id(WALLET),
            b(1_700_000_000_000),
            CqlValue::Blob(TOP_UP.as_bytes().to_vec()),
            b(1)
        ]
    );
    assert_eq!(
        planned[1].partition,
        part("top_ups_by_wallet_created", &WALLET.to_string())
    );
    assert_eq!(planned[2].values, vec![id(SESSION), id(TOP_UP), b(1)]);

    // Without a checkout session there is nothing to index by session.
    let stored_card = plan(&RowWrite::TopUp(TopUpRow {
        checkout_session_id: None,
        ..top_up_row(1)
    }));
    assert_eq!(stored_card.len(), 2);
}

#[test]
fn top_up_status_writes_the_credit_only_when_it_has_one() {
    let status = |credited: Option<Decimal>| {
        plan(&RowWrite::TopUpStatus {
            top_up_id: TOP_UP,
            status: "completed".to_owned(),
            failure_reason: None,
            credited,
            updated_at_ms: 9,
            version: 3,
        })
    };
    let without = status(None);
    assert_eq!(
        without[0].statement.cql(KS),
        "UPDATE purse.top_ups USING TIMESTAMP ? SET status = ?, touched = ? WHERE top_up_id = ?"
    );
    assert_eq!(without[0].values[0], b(3));
    assert_eq!(without[0].values[3], id(TOP_UP));
    let with = status(Some(dec("22.00")));
    assert_eq!(
        with[0].statement.cql(KS),
        "UPDATE purse.top_ups USING TIMESTAMP ? SET status = ?, credit = ?, touched = ? \
         WHERE top_up_id = ?"
    );
    assert_eq!(
        with[0].values[2],
        u(
            "top_up_credit",
            vec![
                ("precedence", Some(b(P))),
                ("version", Some(b(3))),
                ("credited", Some(cql_dec(&[0x08, 0x98], 2))),
            ]
        )
    );
}

#[test]
fn stored_cards_and_rules_write_their_removal_group_on_its_own() {
    let saved = plan(&RowWrite::PaymentMethod(method_row(1)));
    assert_eq!(
        saved[1].statement.cql(KS),
        "INSERT INTO purse.payment_methods_by_owner (tenant, owner, payment_method_id) \
         VALUES (?, ?, ?) USING TIMESTAMP ?"
    );
    assert_eq!(
        saved[1].values,
        vec![t("acme"), t("alice"), id(METHOD), b(1)]
    );
    let removed = plan(&RowWrite::PaymentMethodRemoved {
        payment_method_id: METHOD,
        version: 4,
    });
    assert_eq!(
        removed[0].statement.cql(KS),
        "UPDATE purse.payment_methods USING TIMESTAMP ? SET removal = ? \
         WHERE payment_method_id = ?"
    );
    let removal = u(
        "row_removal",
        vec![
            ("precedence", Some(b(P))),
            ("version", Some(b(4))),
            ("removed", Some(CqlValue::Boolean(true))),
        ],
    );
    assert_eq!(removed[0].values, vec![b(4), removal.clone(), id(METHOD)]);
    let rule_removed = plan(&RowWrite::AutoTopUpRuleRemoved {
        wallet_id: WALLET,
        version: 4,
    });
    assert_eq!(
        rule_removed[0].statement.cql(KS),
        "UPDATE purse.auto_top_up_rules USING TIMESTAMP ? SET removal = ? WHERE wallet_id = ?"
    );
    assert_eq!(rule_removed[0].values, vec![b(4), removal, id(WALLET)]);
}

#[test]
fn payment_rows_round_trip_through_their_values() {
    for top_up in [
        top_up_row(1),
        TopUpRow {
            checkout_session_id: None,
            payment_method_id: Some(METHOD),
            lots_expire_at_ms: None,
            failure_reason: Some("declined:fraudulent".to_owned()),
            late_capture: Some(dec("20.00")),
            ..top_up_row(2)
        },
    ] {
        let planned = plan(&RowWrite::TopUp(top_up.clone()));
        let v = &planned[0].values;
        let cells = TopUpCells {
            request: Some(v[1].clone()),
            status: Some(v[2].clone()),
            credit: Some(v[3].clone()),
            late_capture: Some(v[4].clone()),
            touched: Some(v[5].clone()),
        };
        assert_eq!(decode_top_up(TOP_UP, &cells).expect("decode"), Some(top_up));
    }
    for payment in [
        payment_row(1),
        PaymentRow {
            top_up_id: None,
            payment_method_id: None,
            card_brand: Some("visa".to_owned()),
            card_last4: Some("4242".to_owned()),
            card_exp_month: Some(1),
            card_exp_year: Some(2031),
            decline_reason: Some("declined".to_owned()),
            cancel_reason: Some("abandoned".to_owned()),
            captured: Some(dec("20.00")),
            refunded: Some(dec("1.00")),
            ..payment_row(3)
        },
    ] {
        let planned = plan(&RowWrite::Payment(payment.clone()));
        let v = &planned[0].values;
        let cells = PaymentCells {
            intent: Some(v[1].clone()),
            status: Some(v[2].clone()),
            card: Some(v[3].clone()),
            resolution: Some(v[4].clone()),
            refunds: Some(v[5].clone()),
            touched: Some(v[6].clone()),
        };
        assert_eq!(
            decode_payment(PAYMENT, &cells).expect("decode"),
            Some(payment)
        );
    }
    let method = method_row(1);
    let planned = plan(&RowWrite::PaymentMethod(method.clone()));
    assert_eq!(
        decode_payment_method(
            METHOD,
            Some(&planned[0].values[1]),
            Some(&planned[0].values[2])
        )
        .expect("decode"),
        Some(method)
    );
    for rule in [
        rule_row(1),
        AutoTopUpRuleRow {
            amount: None,
            target_balance: Some(dec("50.00")),
            daily_max_amount: Some(dec("100.00")),
            ..rule_row(2)
        },
    ] {
        let planned = plan(&RowWrite::AutoTopUpRule(rule.clone()));
        let cells = AutoTopUpCells {
            rule: Some(planned[0].values[1].clone()),
            removal: Some(planned[0].values[2].clone()),
            ..AutoTopUpCells::default()
        };
        assert_eq!(
            decode_auto_top_up_rule(WALLET, &cells).expect("decode"),
            Some(rule)
        );
    }
    // Partial rows are not shown.
    assert_eq!(
        decode_payment_method(METHOD, None, Some(&t("x"))).expect("partial"),
        None
    );
    let activity_only = AutoTopUpCells {
        removal: Some(t("x")),
        backoff: Some(t("x")),
        ..AutoTopUpCells::default()
    };
    assert_eq!(
        decode_auto_top_up_rule(WALLET, &activity_only).expect("partial"),
        None
    );
    let empty = TopUpCells {
        request: None,
        status: Some(t("x")),
        credit: None,
        late_capture: None,
        touched: None,
    };
    assert_eq!(decode_top_up(TOP_UP, &empty).expect("partial"), None);
}

impl Model {
    fn top_up(&self, top_up_id: Uuid) -> Option<TopUpRow> {
        let key = [("top_up_id", id(top_up_id))];
        let cell = |column| self.cell("top_ups", &key, column).cloned();
        decode_top_up(
            top_up_id,
            &TopUpCells {
                request: cell("request"),
                status: cell("status"),
                credit: cell("credit"),
                late_capture: cell("late_capture"),
                touched: cell("touched"),
            },
        )
        .expect("decode")
    }

    fn top_up_by_session(&self, session: Uuid) -> Option<Uuid> {
        let key = [("checkout_session_id", id(session))];
        match self.cell("top_ups_by_checkout_session", &key, "top_up_id") {
            Some(CqlValue::Uuid(top_up_id)) => Some(*top_up_id),
            None => None,
            other => panic!("top_up_id {other:?}"),
        }
    }

    fn payment(&self, payment_id: Uuid) -> Option<PaymentRow> {
        let key = [("payment_id", id(payment_id))];
        let cell = |column| self.cell("payment_intents", &key, column).cloned();
        decode_payment(
            payment_id,
            &PaymentCells {
                intent: cell("intent"),
                status: cell("status"),
                card: cell("card"),
                resolution: cell("resolution"),
                refunds: cell("refunds"),
                touched: cell("touched"),
            },
        )
        .expect("decode")
    }

    fn payment_method(&self, payment_method_id: Uuid) -> Option<PaymentMethodRow> {
        let key = [("payment_method_id", id(payment_method_id))];
        decode_payment_method(
            payment_method_id,
            self.cell("payment_methods", &key, "method"),
            self.cell("payment_methods", &key, "removal"),
        )
        .expect("decode")
    }

    fn rule(&self, wallet_id: Uuid) -> Option<AutoTopUpRuleRow> {
        let key = [("wallet_id", id(wallet_id))];
        let rule = |column| self.cell("auto_top_up_rules", &key, column).cloned();
        let activity = |column| self.cell("auto_top_up_activity", &key, column).cloned();
        decode_auto_top_up_rule(
            wallet_id,
            &AutoTopUpCells {
                rule: rule("rule"),
                removal: rule("removal"),
                failure: activity("failure"),
                backoff: activity("backoff"),
                cap: activity("cap"),
            },
        )
        .expect("decode")
    }

    /// The by-creation index of a wallet's top-ups in clustering order (created_at_ms, then the
    /// id's bytes, both descending), as a query without a slice returns it.
    fn top_ups_by_created(&self, wallet_id: Uuid) -> Vec<Uuid> {
        let partition = format!("{:?}", id(wallet_id));
        let mut keys: Vec<(i64, Vec<u8>)> = self
            .rows
            .iter()
            .filter(|((table, _), _)| table == "top_ups_by_wallet_created")
            .filter_map(|(_, key)| {
                let get = |name: &str| key.iter().find(|(k, _)| k == name).map(|(_, v)| v);
                if get("wallet_id").map(|v| format!("{v:?}")) != Some(partition.clone()) {
                    return None;
                }
                match (get("created_at_ms"), get("top_up_id")) {
                    (Some(CqlValue::BigInt(at)), Some(CqlValue::Blob(bytes))) => {
                        Some((*at, bytes.clone()))
                    }
                    other => panic!("index key {other:?}"),
                }
            })
            .collect();
        keys.sort();
        keys.reverse();
        keys.into_iter()
            .map(|(_, bytes)| Uuid::from_slice(&bytes).expect("16 bytes"))
            .collect()
    }
}

#[test]
fn modelled_top_up_groups_never_go_backwards_in_any_order() {
    let status = |status: &str, credited: Option<&str>, version: u64| RowWrite::TopUpStatus {
        top_up_id: TOP_UP,
        status: status.to_owned(),
        failure_reason: None,
        credited: credited.map(dec),
        updated_at_ms: 1_700_000_000_000 + version as i64,
        version,
    };
    let writes = vec![
        RowWrite::TopUp(top_up_row(1)),
        status("completed", Some("22.00"), 3),
        RowWrite::TopUpLateCapture {
            top_up_id: TOP_UP,
            late_capture: dec("20.00"),
            updated_at_ms: 1_700_000_000_004,
            version: 4,
        },
        // Older, and equal with other values: no effect.
        status("expired", Some("0.00"), 2),
        status("failed", None, 3),
    ];
    let expected = TopUpRow {
        status: "completed".to_owned(),
        credited: dec("22.00"),
        late_capture: Some(dec("20.00")),
        updated_at_ms: 1_700_000_000_004,
        version: 4,
        ..top_up_row(1)
    };
    for order in [writes.clone(), writes.iter().rev().cloned().collect()] {
        let mut model = Model::new();
        // The first write of each version wins: apply the newer ones one by one so the stray
        // equal-version status comes after the completion in both orders.
        for write in order
            .iter()
            .filter(|w| !matches!(w, RowWrite::TopUpStatus { status, .. } if status == "failed"))
        {
            model.apply(vec![write.clone()], Vec::new());
        }
        model.apply(vec![status("failed", None, 3)], Vec::new());
        assert_eq!(model.top_up(TOP_UP), Some(expected.clone()));
        assert_eq!(model.top_up_by_session(SESSION), Some(TOP_UP));
    }
    let mut early = Model::new();
    early.apply(vec![status("completed", Some("22.00"), 3)], Vec::new());
    assert_eq!(early.top_up(TOP_UP), None, "hidden until created");
}

#[test]
fn modelled_payment_groups_keep_the_decline_after_a_late_capture() {
    let at = |version: u64| 1_700_000_000_000 + version as i64;
    let writes = vec![
        RowWrite::Payment(payment_row(1)),
        RowWrite::PaymentCard {
            payment_id: PAYMENT,
            brand: "visa".to_owned(),
            last4: "4242".to_owned(),
            exp_month: 12,
            exp_year: 2030,
            payment_method_id: None,
            updated_at_ms: at(2),
            version: 2,
        },
        RowWrite::PaymentStatus {
            payment_id: PAYMENT,
            status: "processing".to_owned(),
            captured: None,
            updated_at_ms: at(2),
            version: 2,
        },
        RowWrite::PaymentResolution {
            payment_id: PAYMENT,
            decline_reason: Some("insufficient_funds".to_owned()),
            cancel_reason: None,
            updated_at_ms: at(3),
            version: 3,
        },
        RowWrite::PaymentStatus {
            payment_id: PAYMENT,
            status: "failed".to_owned(),
            captured: None,
            updated_at_ms: at(3),
            version: 3,
        },
        RowWrite::PaymentStatus {
            payment_id: PAYMENT,
            status: "succeeded".to_owned(),
            captured: Some(dec("20.00")),
            updated_at_ms: at(4),
            version: 4,
        },
        RowWrite::PaymentRefunded {
            payment_id: PAYMENT,
            refunded: dec("20.00"),
            updated_at_ms: at(5),
            version: 5,
        },
    ];
    let expected = PaymentRow {
        status: "succeeded".to_owned(),
        card_brand: Some("visa".to_owned()),
        card_last4: Some("4242".to_owned()),
        card_exp_month: Some(12),
        card_exp_year: Some(2030),
        decline_reason: Some("insufficient_funds".to_owned()),
        captured: Some(dec("20.00")),
        refunded: Some(dec("20.00")),
        updated_at_ms: at(5),
        version: 5,
        ..payment_row(1)
    };
    for order in [writes.clone(), writes.iter().rev().cloned().collect()] {
        let mut model = Model::new();
        model.apply(order, Vec::new());
        assert_eq!(model.payment(PAYMENT), Some(expected.clone()));
    }
}

#[test]
fn modelled_removals_win_over_older_saves_and_lose_to_newer_ones() {
    let mut model = Model::new();
    model.apply(
        vec![RowWrite::PaymentMethodRemoved {
            payment_method_id: METHOD,
            version: 2,
        }],
        Vec::new(),
    );
    assert_eq!(model.payment_method(METHOD), None, "hidden until saved");
    model.apply(vec![RowWrite::PaymentMethod(method_row(1))], Vec::new());
    assert_eq!(
        model.payment_method(METHOD),
        Some(PaymentMethodRow {
            removed: true,
            version: 2,
            ..method_row(1)
        })
    );

    model.apply(
        vec![
            RowWrite::AutoTopUpRule(rule_row(1)),
            RowWrite::AutoTopUpRuleRemoved {
                wallet_id: WALLET,
                version: 2,
            },
            RowWrite::AutoTopUpRule(rule_row(1)),
        ],
        Vec::new(),
    );
    assert!(model.rule(WALLET).expect("rule").removed);
    let replaced = AutoTopUpRuleRow {
        threshold: dec("7.00"),
        ..rule_row(3)
    };
    model.apply(vec![RowWrite::AutoTopUpRule(replaced.clone())], Vec::new());
    assert_eq!(model.rule(WALLET), Some(replaced));
}

#[test]
fn auto_top_up_outcomes_write_only_their_activity_groups() {
    let group = |name: &str, version: i64, fields: Vec<(&str, Option<CqlValue>)>| {
        let mut all = vec![("precedence", Some(b(P))), ("version", Some(b(version)))];
        all.extend(fields);
        u(name, all)
    };
    let failed = plan(&RowWrite::AutoTopUpFailed {
        wallet_id: WALLET,
        failure: failure_row(TOP_UP, "declined:insufficient_funds", 1_700_000_000_003),
        consecutive_failures: 2,
        backoff_until_ms: 1_700_003_600_003,
        version: 6,
    });
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].statement.cql(KS),
        "UPDATE purse.auto_top_up_activity USING TIMESTAMP ? SET failure = ?, backoff = ? \
         WHERE wallet_id = ?"
    );
    assert_eq!(
        failed[0].values,
        vec![
            b(6),
            group(
                "auto_top_up_failure",
                6,
                vec![
                    ("top_up_id", Some(id(TOP_UP))),
                    ("reason", Some(t("declined:insufficient_funds"))),
                    ("failed_at_ms", Some(b(1_700_000_000_003))),
                ],
            ),
            group(
                "auto_top_up_backoff",
                6,
                vec![
                    ("consecutive_failures", Some(CqlValue::Int(2))),
                    ("backoff_until_ms", Some(b(1_700_003_600_003))),
                ],
            ),
            id(WALLET),
        ]
    );
    assert_eq!(
        failed[0].partition,
        part("auto_top_up_activity", &WALLET.to_string())
    );

    // A completion clears the back-off only: the last failure stays visible.
    let completed = plan(&RowWrite::AutoTopUpCompleted {
        wallet_id: WALLET,
        version: 7,
    });
    assert_eq!(
        completed[0].statement.cql(KS),
        "UPDATE purse.auto_top_up_activity USING TIMESTAMP ? SET backoff = ? WHERE wallet_id = ?"
    );
    assert_eq!(
        completed[0].values,
        vec![
            b(7),
            group(
                "auto_top_up_backoff",
                7,
                vec![
                    ("consecutive_failures", Some(CqlValue::Int(0))),
                    ("backoff_until_ms", None),
                ],
            ),
            id(WALLET),
        ]
    );

    let capped = plan(&RowWrite::AutoTopUpCapReached {
        wallet_id: WALLET,
        until_ms: 1_700_006_400_000,
        version: 8,
    });
    assert_eq!(
        capped[0].statement.cql(KS),
        "UPDATE purse.auto_top_up_activity USING TIMESTAMP ? SET cap = ? WHERE wallet_id = ?"
    );
    assert_eq!(
        capped[0].values,
        vec![
            b(8),
            group(
                "auto_top_up_cap",
                8,
                vec![("reached_until_ms", Some(b(1_700_006_400_000)))],
            ),
            id(WALLET),
        ]
    );

    // Failures in a row beyond CQL's int are refused, not wrapped.
    assert!(matches!(
        plan_write(
            KS,
            &RowWrite::AutoTopUpFailed {
                wallet_id: WALLET,
                failure: failure_row(TOP_UP, "expired", 1),
                consecutive_failures: u32::MAX,
                backoff_until_ms: 2,
                version: 9,
            },
            P
        ),
        Err(StoreError::OutOfRange { .. })
    ));
}

#[test]
fn auto_top_up_activity_round_trips_through_its_values() {
    let rule = plan(&RowWrite::AutoTopUpRule(rule_row(1)));
    let failed = plan(&RowWrite::AutoTopUpFailed {
        wallet_id: WALLET,
        failure: failure_row(TOP_UP, "expired", 1_700_000_000_003),
        consecutive_failures: 3,
        backoff_until_ms: 1_700_003_600_003,
        version: 4,
    });
    let capped = plan(&RowWrite::AutoTopUpCapReached {
        wallet_id: WALLET,
        until_ms: 1_700_006_400_000,
        version: 5,
    });
    let cells = AutoTopUpCells {
        rule: Some(rule[0].values[1].clone()),
        removal: Some(rule[0].values[2].clone()),
        failure: Some(failed[0].values[1].clone()),
        backoff: Some(failed[0].values[2].clone()),
        cap: Some(capped[0].values[1].clone()),
    };
    assert_eq!(
        decode_auto_top_up_rule(WALLET, &cells).expect("decode"),
        Some(AutoTopUpRuleRow {
            activity: AutoTopUpActivityRow {
                consecutive_failures: 3,
                backoff_until_ms: Some(1_700_003_600_003),
                last_failure: Some(failure_row(TOP_UP, "expired", 1_700_000_000_003)),
                daily_cap_reached_until_ms: Some(1_700_006_400_000),
            },
            version: 5,
            ..rule_row(1)
        })
    );
    // A malformed activity cell is corrupt, not a panic nor silently ignored.
    let broken = AutoTopUpCells {
        failure: Some(u(
            "auto_top_up_failure",
            vec![("precedence", Some(b(P))), ("version", Some(b(4)))],
        )),
        ..cells
    };
    assert!(matches!(
        decode_auto_top_up_rule(WALLET, &broken),
        Err(StoreError::Corrupt {
            table: "auto_top_up_activity",
            column: "failure",
            ..
        })
    ));
}

#[test]
fn top_up_index_ids_must_be_sixteen_bytes() {
    assert_eq!(top_up_id_from_blob(TOP_UP.as_bytes()).expect("id"), TOP_UP);
    assert!(matches!(
        top_up_id_from_blob(&[1, 2, 3]),
        Err(StoreError::Corrupt {
            table: "top_ups_by_wallet_created",
            column: "top_up_id",
            ..
        })
    ));
}

#[test]
fn modelled_top_ups_index_by_creation_time_then_id_bytes() {
    // A v7 id with the greater bytes and a v8 id created in the same millisecond: the blob key
    // orders them by bytes, as the contract does (a `uuid` key would put the v8 first).
    let v7 = Uuid::from_u128(0x9000_0000_0000_7000_8000_0000_0000_0001);
    let v8 = Uuid::from_u128(0x1000_0000_0000_8000_8000_0000_0000_0002);
    let oldest = Uuid::from_u128(0xf000_0000_0000_8000_8000_0000_0000_0003);
    let newest = Uuid::from_u128(0x0100_0000_0000_8000_8000_0000_0000_0004);
    let mut model = Model::new();
    for (top_up_id, created_at_ms) in [(oldest, 1_000), (v8, 2_000), (newest, 3_000), (v7, 2_000)] {
        model.apply(
            vec![RowWrite::TopUp(TopUpRow {
                top_up_id,
                created_at_ms,
                checkout_session_id: None,
                ..top_up_row(1)
            })],
            Vec::new(),
        );
    }
    assert_eq!(
        model.top_ups_by_created(WALLET),
        vec![newest, v7, v8, oldest]
    );
}

#[test]
fn modelled_auto_top_up_activity_follows_the_newest_outcome() {
    let failed = |reason: &str, consecutive_failures, version: u64| RowWrite::AutoTopUpFailed {
        wallet_id: WALLET,
        failure: failure_row(TOP_UP, reason, 1_000 + version as i64),
        consecutive_failures,
        backoff_until_ms: 2_000 + version as i64,
        version,
    };
    let mut model = Model::new();
    model.apply(vec![failed("expired", 1, 3)], Vec::new());
    assert_eq!(model.rule(WALLET), None, "hidden until the rule arrives");
    model.apply(vec![RowWrite::AutoTopUpRule(rule_row(1))], Vec::new());
    // Older and equal versions change nothing; the first write of a version stays.
    model.apply(
        vec![
            failed("declined:expired_card", 9, 3),
            failed("declined:fraudulent", 7, 2),
            RowWrite::AutoTopUpCompleted {
                wallet_id: WALLET,
                version: 3,
            },
        ],
        Vec::new(),
    );
    let first = AutoTopUpActivityRow {
        consecutive_failures: 1,
        backoff_until_ms: Some(2_003),
        last_failure: Some(failure_row(TOP_UP, "expired", 1_003)),
        daily_cap_reached_until_ms: None,
    };
    assert_eq!(
        model.rule(WALLET),
        Some(AutoTopUpRuleRow {
            activity: first.clone(),
            version: 3,
            ..rule_row(1)
        })
    );
    // A newer rule keeps the activity; a completion ends the back-off and keeps the failure; a
    // cap has its own group.
    model.apply(
        vec![
            RowWrite::AutoTopUpRule(rule_row(4)),
            RowWrite::AutoTopUpCompleted {
                wallet_id: WALLET,
                version: 5,
            },
            RowWrite::AutoTopUpCapReached {
                wallet_id: WALLET,
                until_ms: 86_400_000,
                version: 6,
            },
            failed("expired", 1, 3),
        ],
        Vec::new(),
    );
    assert_eq!(
        model.rule(WALLET),
        Some(AutoTopUpRuleRow {
            activity: AutoTopUpActivityRow {
                consecutive_failures: 0,
                backoff_until_ms: None,
                daily_cap_reached_until_ms: Some(86_400_000),
                ..first
            },
            version: 6,
            ..rule_row(4)
        })
    );
}
