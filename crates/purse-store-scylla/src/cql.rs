//! Every statement the store prepares, and the pure mapping between read-model rows and CQL
//! values. Every statement text is generated from the shared declarations
//! ([`purse_store::schema`]: tables and their groups, indexes, records); the write path executes
//! exactly what [`plan_write`] and [`plan_checkpoint`] return, and the read path hands each row
//! to the shared decoders ([`purse_store::decode`]) as a [`CqlRow`] or [`CqlRecordRow`], so the
//! unit tests of this module pin the statements and values that reach ScyllaDB without needing
//! a node.
//!
//! Versioning (DESIGN.md §6; the schema file explains it for operators): each group of columns
//! that one kind of write updates is one frozen UDT cell written `USING TIMESTAMP` = its version,
//! and every such UDT starts with `precedence` so that at an equal version the earlier write wins.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use purse_store::decode::{Stored, StoredRecord, StoredRow};
use purse_store::schema::{self, Column, ColumnType, Group, Index, Record, Table};
use purse_store::{Checkpoint, Decimal, LimitsRow, RowWrite, StoreError, Uuid};
use scylla::value::{CqlDecimal, CqlValue};

/// A statement prepared once at connect. Templates name the keyspace as `{ks}`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Statement {
    UpdateWallet,
    InsertWalletByOwner,
    UpdateWalletStatus,
    UpdateWalletLimits,
    UpdateBalance,
    UpdateHistory,
    UpdateLot,
    UpdateLotRemaining,
    UpdateHold,
    UpdateHoldResolution,
    UpdateStreamPosition,
    UpdateCheckpoint,
    SelectWallet,
    SelectWalletIdsByOwner,
    SelectWalletIdsByOwnerAfter,
    SelectBalance,
    SelectHistory,
    SelectHistoryBefore,
    SelectLots,
    SelectHolds,
    SelectStreamPositions,
    SelectCheckpoint,
    UpdateTopUp,
    InsertTopUpByWalletCreated,
    InsertTopUpByCheckoutSession,
    UpdateTopUpStatus,
    UpdateTopUpStatusCredited,
    UpdateTopUpLateCapture,
    UpdatePayment,
    UpdatePaymentStatus,
    UpdatePaymentCard,
    UpdatePaymentResolution,
    UpdatePaymentRefunds,
    UpdatePaymentMethod,
    InsertPaymentMethodByOwner,
    UpdatePaymentMethodRemoval,
    UpdateAutoTopUpRule,
    UpdateAutoTopUpRuleRemoval,
    UpdateAutoTopUpFailure,
    UpdateAutoTopUpBackoff,
    UpdateAutoTopUpCap,
    SelectTopUp,
    SelectTopUpKeysByWallet,
    SelectTopUpKeysByWalletBefore,
    SelectTopUpIdByCheckoutSession,
    SelectPayment,
    SelectPaymentMethod,
    SelectPaymentMethodIdsByOwner,
    SelectPaymentMethodIdsByOwnerAfter,
    SelectAutoTopUpRule,
    SelectAutoTopUpActivity,
}

impl Statement {
    /// Every statement; the store prepares them in this order and indexes them by position.
    pub(crate) const ALL: [Statement; 51] = [
        Statement::UpdateWallet,
        Statement::InsertWalletByOwner,
        Statement::UpdateWalletStatus,
        Statement::UpdateWalletLimits,
        Statement::UpdateBalance,
        Statement::UpdateHistory,
        Statement::UpdateLot,
        Statement::UpdateLotRemaining,
        Statement::UpdateHold,
        Statement::UpdateHoldResolution,
        Statement::UpdateStreamPosition,
        Statement::UpdateCheckpoint,
        Statement::SelectWallet,
        Statement::SelectWalletIdsByOwner,
        Statement::SelectWalletIdsByOwnerAfter,
        Statement::SelectBalance,
        Statement::SelectHistory,
        Statement::SelectHistoryBefore,
        Statement::SelectLots,
        Statement::SelectHolds,
        Statement::SelectStreamPositions,
        Statement::SelectCheckpoint,
        Statement::UpdateTopUp,
        Statement::InsertTopUpByWalletCreated,
        Statement::InsertTopUpByCheckoutSession,
        Statement::UpdateTopUpStatus,
        Statement::UpdateTopUpStatusCredited,
        Statement::UpdateTopUpLateCapture,
        Statement::UpdatePayment,
        Statement::UpdatePaymentStatus,
        Statement::UpdatePaymentCard,
        Statement::UpdatePaymentResolution,
        Statement::UpdatePaymentRefunds,
        Statement::UpdatePaymentMethod,
        Statement::InsertPaymentMethodByOwner,
        Statement::UpdatePaymentMethodRemoval,
        Statement::UpdateAutoTopUpRule,
        Statement::UpdateAutoTopUpRuleRemoval,
        Statement::UpdateAutoTopUpFailure,
        Statement::UpdateAutoTopUpBackoff,
        Statement::UpdateAutoTopUpCap,
        Statement::SelectTopUp,
        Statement::SelectTopUpKeysByWallet,
        Statement::SelectTopUpKeysByWalletBefore,
        Statement::SelectTopUpIdByCheckoutSession,
        Statement::SelectPayment,
        Statement::SelectPaymentMethod,
        Statement::SelectPaymentMethodIdsByOwner,
        Statement::SelectPaymentMethodIdsByOwnerAfter,
        Statement::SelectAutoTopUpRule,
        Statement::SelectAutoTopUpActivity,
    ];

    /// Position in [`Statement::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The statement: generated from the declared groups it writes, or a template naming the
    /// keyspace as `{ks}`. `USING TIMESTAMP ?` is always the first bound value of an UPDATE and
    /// the last of an INSERT.
    fn text(self) -> Text {
        use schema::{
            AUTO_TOP_UP_BACKOFF, AUTO_TOP_UP_CAP, AUTO_TOP_UP_FAILURE, AUTO_TOP_UP_RULE,
            AUTO_TOP_UP_RULES, BALANCE, BALANCES, CHECKPOINTS, HISTORY, HOLD, HOLD_RESOLUTION,
            HOLDS, LOT, LOT_REMAINING, LOTS, PAYMENT_CARD, PAYMENT_CREATED, PAYMENT_METHOD_CARD,
            PAYMENT_METHODS, PAYMENT_METHODS_BY_OWNER, PAYMENT_REFUNDS, PAYMENT_RESOLUTION,
            PAYMENT_STATE, PAYMENTS, REMOVAL, STREAM_POSITIONS, TOP_UP_CREDIT, TOP_UP_LATE_CAPTURE,
            TOP_UP_REQUEST, TOP_UP_STATE, TOP_UPS, TOP_UPS_BY_CHECKOUT_SESSION,
            TOP_UPS_BY_WALLET_CREATED, TOUCH, WALLET_IDENTITY, WALLET_LIMITS, WALLET_STATUS,
            WALLETS, WALLETS_BY_OWNER,
        };
        match self {
            Statement::UpdateWallet => Text::Grouped(
                &WALLETS,
                &[&WALLET_IDENTITY, &WALLET_STATUS, &WALLET_LIMITS],
            ),
            Statement::InsertWalletByOwner => Text::IndexInsert(&WALLETS_BY_OWNER),
            Statement::UpdateWalletStatus => Text::Grouped(&WALLETS, &[&WALLET_STATUS]),
            Statement::UpdateWalletLimits => Text::Grouped(&WALLETS, &[&WALLET_LIMITS]),
            Statement::UpdateBalance => Text::Grouped(&BALANCES, &[&BALANCE]),
            Statement::UpdateHistory => Text::RecordUpdate(&HISTORY),
            Statement::UpdateLot => Text::Grouped(&LOTS, &[&LOT, &LOT_REMAINING]),
            Statement::UpdateLotRemaining => Text::Grouped(&LOTS, &[&LOT_REMAINING]),
            Statement::UpdateHold => Text::Grouped(&HOLDS, &[&HOLD, &HOLD_RESOLUTION]),
            Statement::UpdateHoldResolution => Text::Grouped(&HOLDS, &[&HOLD_RESOLUTION]),
            Statement::UpdateStreamPosition => Text::RecordUpdate(&STREAM_POSITIONS),
            Statement::UpdateCheckpoint => Text::RecordUpdate(&CHECKPOINTS),
            Statement::SelectWallet => Text::Select(
                &WALLETS,
                &[&WALLET_IDENTITY, &WALLET_STATUS, &WALLET_LIMITS],
                1,
            ),
            Statement::SelectWalletIdsByOwner => Text::IndexSelect(&WALLETS_BY_OWNER, false),
            Statement::SelectWalletIdsByOwnerAfter => Text::IndexSelect(&WALLETS_BY_OWNER, true),
            Statement::SelectBalance => Text::Select(&BALANCES, &[&BALANCE], 1),
            Statement::SelectHistory => Text::RecordPage(&HISTORY, false),
            Statement::SelectHistoryBefore => Text::RecordPage(&HISTORY, true),
            Statement::SelectLots => Text::Select(&LOTS, &[&LOT, &LOT_REMAINING], 1),
            Statement::SelectHolds => Text::Select(&HOLDS, &[&HOLD, &HOLD_RESOLUTION], 1),
            Statement::SelectStreamPositions => {
                Text::RecordWhere(&STREAM_POSITIONS, "stream_id IN ?")
            }
            Statement::SelectCheckpoint => Text::RecordByKey(&CHECKPOINTS),
            Statement::UpdateTopUp => Text::Grouped(
                &TOP_UPS,
                &[
                    &TOP_UP_REQUEST,
                    &TOP_UP_STATE,
                    &TOP_UP_CREDIT,
                    &TOP_UP_LATE_CAPTURE,
                    &TOUCH,
                ],
            ),
            Statement::InsertTopUpByWalletCreated => Text::IndexInsert(&TOP_UPS_BY_WALLET_CREATED),
            Statement::InsertTopUpByCheckoutSession => {
                Text::IndexInsert(&TOP_UPS_BY_CHECKOUT_SESSION)
            }
            Statement::UpdateTopUpStatus => Text::Grouped(&TOP_UPS, &[&TOP_UP_STATE, &TOUCH]),
            Statement::UpdateTopUpStatusCredited => {
                Text::Grouped(&TOP_UPS, &[&TOP_UP_STATE, &TOP_UP_CREDIT, &TOUCH])
            }
            Statement::UpdateTopUpLateCapture => {
                Text::Grouped(&TOP_UPS, &[&TOP_UP_LATE_CAPTURE, &TOUCH])
            }
            Statement::UpdatePayment => Text::Grouped(
                &PAYMENTS,
                &[
                    &PAYMENT_CREATED,
                    &PAYMENT_STATE,
                    &PAYMENT_CARD,
                    &PAYMENT_RESOLUTION,
                    &PAYMENT_REFUNDS,
                    &TOUCH,
                ],
            ),
            Statement::UpdatePaymentStatus => Text::Grouped(&PAYMENTS, &[&PAYMENT_STATE, &TOUCH]),
            Statement::UpdatePaymentCard => Text::Grouped(&PAYMENTS, &[&PAYMENT_CARD, &TOUCH]),
            Statement::UpdatePaymentResolution => {
                Text::Grouped(&PAYMENTS, &[&PAYMENT_RESOLUTION, &TOUCH])
            }
            Statement::UpdatePaymentRefunds => {
                Text::Grouped(&PAYMENTS, &[&PAYMENT_REFUNDS, &TOUCH])
            }
            Statement::UpdatePaymentMethod => {
                Text::Grouped(&PAYMENT_METHODS, &[&PAYMENT_METHOD_CARD, &REMOVAL])
            }
            Statement::InsertPaymentMethodByOwner => Text::IndexInsert(&PAYMENT_METHODS_BY_OWNER),
            Statement::UpdatePaymentMethodRemoval => Text::Grouped(&PAYMENT_METHODS, &[&REMOVAL]),
            Statement::UpdateAutoTopUpRule => {
                Text::Grouped(&AUTO_TOP_UP_RULES, &[&AUTO_TOP_UP_RULE, &REMOVAL])
            }
            Statement::UpdateAutoTopUpRuleRemoval => Text::Grouped(&AUTO_TOP_UP_RULES, &[&REMOVAL]),
            Statement::UpdateAutoTopUpFailure => Text::Grouped(
                &AUTO_TOP_UP_RULES,
                &[&AUTO_TOP_UP_FAILURE, &AUTO_TOP_UP_BACKOFF],
            ),
            Statement::UpdateAutoTopUpBackoff => {
                Text::Grouped(&AUTO_TOP_UP_RULES, &[&AUTO_TOP_UP_BACKOFF])
            }
            Statement::UpdateAutoTopUpCap => Text::Grouped(&AUTO_TOP_UP_RULES, &[&AUTO_TOP_UP_CAP]),
            Statement::SelectTopUp => Text::Select(&TOP_UPS, TOP_UPS.groups, 1),
            Statement::SelectTopUpKeysByWallet => {
                Text::IndexSelect(&TOP_UPS_BY_WALLET_CREATED, false)
            }
            // A multi-column slice: the clustering order's (created_at_ms, top_up_id) after the
            // last row returned, so a page may end between two top-ups of the same instant.
            Statement::SelectTopUpKeysByWalletBefore => {
                Text::IndexSelect(&TOP_UPS_BY_WALLET_CREATED, true)
            }
            Statement::SelectTopUpIdByCheckoutSession => {
                Text::IndexSelect(&TOP_UPS_BY_CHECKOUT_SESSION, false)
            }
            Statement::SelectPayment => Text::Select(&PAYMENTS, PAYMENTS.groups, 1),
            Statement::SelectPaymentMethod => {
                Text::Select(&PAYMENT_METHODS, PAYMENT_METHODS.groups, 1)
            }
            Statement::SelectPaymentMethodIdsByOwner => {
                Text::IndexSelect(&PAYMENT_METHODS_BY_OWNER, false)
            }
            Statement::SelectPaymentMethodIdsByOwnerAfter => {
                Text::IndexSelect(&PAYMENT_METHODS_BY_OWNER, true)
            }
            Statement::SelectAutoTopUpRule => {
                Text::Select(&AUTO_TOP_UP_RULES, &[&AUTO_TOP_UP_RULE, &REMOVAL], 1)
            }
            Statement::SelectAutoTopUpActivity => Text::Select(
                &AUTO_TOP_UP_RULES,
                &[&AUTO_TOP_UP_FAILURE, &AUTO_TOP_UP_BACKOFF, &AUTO_TOP_UP_CAP],
                1,
            ),
        }
    }

    /// The CQL text for `keyspace`.
    pub(crate) fn cql(self, keyspace: &str) -> String {
        match self.text() {
            Text::Grouped(table, groups) => table.cql_update(keyspace, groups),
            Text::Select(table, groups, bound_keys) => {
                table.cql_select(keyspace, groups, bound_keys)
            }
            Text::IndexInsert(index) => index.cql_insert(keyspace),
            Text::IndexSelect(index, after) => index.cql_select(keyspace, after),
            Text::RecordUpdate(record) => record.cql_update(keyspace),
            Text::RecordPage(record, after) => record.cql_page(keyspace, after),
            Text::RecordWhere(record, condition) => record.cql_select(keyspace, condition),
            Text::RecordByKey(record) => record.cql_select_by_key(keyspace),
        }
    }

    /// The table and groups a generated select reads, in its column order after the keys.
    pub(crate) fn reads(self) -> Option<(&'static Table, &'static [&'static Group])> {
        match self.text() {
            Text::Select(table, groups, _) => Some((table, groups)),
            _ => None,
        }
    }
}

/// Where a statement's text comes from.
enum Text {
    /// The UPDATE of these groups of a row of the table ([`Table::cql_update`]).
    Grouped(&'static Table, &'static [&'static Group]),
    /// The read of these groups of the rows with the first `n` key columns bound
    /// ([`Table::cql_select`]).
    Select(&'static Table, &'static [&'static Group], usize),
    /// The write of an index row ([`Index::cql_insert`]).
    IndexInsert(&'static Index),
    /// A lookup in an index, continuing a page or not ([`Index::cql_select`]).
    IndexSelect(&'static Index, bool),
    /// The write of a record row ([`Record::cql_update`]).
    RecordUpdate(&'static Record),
    /// A page of a record partition, continuing a page or not ([`Record::cql_page`]).
    RecordPage(&'static Record, bool),
    /// The record rows matching a condition on the keys ([`Record::cql_select`]).
    RecordWhere(&'static Record, &'static str),
    /// The record row with the given key ([`Record::cql_select_by_key`]).
    RecordByKey(&'static Record),
}

/// One partition of one table: writes to the same one travel in one single-partition batch,
/// which ScyllaDB applies atomically and in isolation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Partition {
    pub(crate) table: &'static str,
    pub(crate) key: String,
}

/// One statement execution: what [`ScyllaStore`](crate::ScyllaStore) sends for a write.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CqlWrite {
    pub(crate) statement: Statement,
    /// Bound values, in the order of the statement's `?` markers.
    pub(crate) values: Vec<CqlValue>,
    pub(crate) partition: Partition,
}

// ---- versions and precedence --------------------------------------------------------------

/// The write timestamp for a version (a stream sequence or a log offset): the version itself, so
/// `WRITETIME()` of a cell reads as the version that wrote it. Above `i64::MAX` it cannot be
/// stored.
pub(crate) fn write_timestamp(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(|_| StoreError::OutOfRange { value: version })
}

/// The last stamp handed out in this process (microseconds since the Unix epoch).
static LAST_STAMP_US: AtomicI64 = AtomicI64::new(0);

/// Reserves `count` consecutive stamps, all later than any stamp handed out before in this
/// process and than the clock, and returns the first. Monotonic even if the clock steps back, so
/// writes of one process are ordered exactly; across processes, by their clocks.
pub(crate) fn reserve_stamps(count: usize) -> i64 {
    let count = i64::try_from(count).unwrap_or(i64::MAX).max(1);
    let now_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    let mut first = 0;
    // fetch_update only fails if the closure returns None, which it never does.
    let _ = LAST_STAMP_US.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
        first = now_us.max(last.saturating_add(1));
        Some(first.saturating_add(count - 1))
    });
    first
}

/// The `precedence` of a write stamped `stamp_us`: later stamps have lower precedence, so that at
/// an equal write timestamp ScyllaDB, which keeps the greater cell value, keeps the earlier write.
/// Always ≥ 0, so its big-endian bytes compare like the number.
pub(crate) fn precedence(stamp_us: i64) -> i64 {
    i64::MAX - stamp_us.max(0)
}

// ---- decimals ---------------------------------------------------------------------------------

/// A decimal as CQL `decimal`: the minimal two's-complement big-endian mantissa and the scale, so
/// "20.00" stays "20.00".
pub(crate) fn decimal_to_cql(value: Decimal) -> CqlDecimal {
    let bytes = value.mantissa().to_be_bytes();
    let mut start = 0;
    while start + 1 < bytes.len() {
        let (byte, next) = (bytes[start], bytes[start + 1]);
        let redundant = (byte == 0x00 && next & 0x80 == 0) || (byte == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    // rust_decimal's scale is at most 28, so it always fits.
    let scale = i32::try_from(value.scale()).unwrap_or(i32::MAX);
    CqlDecimal::from_signed_be_bytes_slice_and_exponent(&bytes[start..], scale)
}

/// A CQL `decimal` that a [`Decimal`] can hold exactly; `None` for anything else (scale outside
/// 0..=28, mantissa beyond 96 bits), which is corrupt for us.
pub(crate) fn decimal_from_cql(value: &CqlDecimal) -> Option<Decimal> {
    let (bytes, scale) = value.as_signed_be_bytes_slice_and_exponent();
    if bytes.is_empty() || bytes.len() > 16 {
        return None;
    }
    let mut buf = if bytes[0] & 0x80 != 0 {
        [0xff; 16]
    } else {
        [0; 16]
    };
    buf[16 - bytes.len()..].copy_from_slice(bytes);
    let mantissa = i128::from_be_bytes(buf);
    let scale = u32::try_from(scale).ok()?;
    Decimal::try_from_i128_with_scale(mantissa, scale).ok()
}

// ---- encoding ---------------------------------------------------------------------------------

fn text(value: &str) -> CqlValue {
    CqlValue::Text(value.to_owned())
}

fn bigint(value: i64) -> CqlValue {
    CqlValue::BigInt(value)
}

fn decimal(value: Decimal) -> CqlValue {
    CqlValue::Decimal(decimal_to_cql(value))
}

fn uuid(value: Uuid) -> CqlValue {
    CqlValue::Uuid(value)
}

fn udt(keyspace: &str, name: &str, fields: Vec<(&str, Option<CqlValue>)>) -> CqlValue {
    CqlValue::UserDefinedType {
        keyspace: keyspace.to_owned(),
        name: name.to_owned(),
        fields: fields
            .into_iter()
            .map(|(field, value)| (field.to_owned(), value))
            .collect(),
    }
}

/// A versioned group's UDT cell: `precedence` and `version`, then `values` in the order of the
/// group's declared columns.
fn group(
    keyspace: &str,
    group: &Group,
    precedence: i64,
    version: i64,
    values: Vec<Option<CqlValue>>,
) -> CqlValue {
    debug_assert_eq!(
        values.len(),
        group.columns.len(),
        "columns of {}",
        group.cql_udt
    );
    let leading = [
        ("precedence", Some(bigint(precedence))),
        ("version", Some(bigint(version))),
    ];
    let fields = group.columns.iter().map(|column| column.name).zip(values);
    udt(
        keyspace,
        group.cql_udt,
        leading.into_iter().chain(fields).collect(),
    )
}

/// A record's UDT cell: `precedence`, then `values` in the order of the declared columns.
fn record_cell(
    keyspace: &str,
    record: &Record,
    precedence: i64,
    values: Vec<Option<CqlValue>>,
) -> CqlValue {
    debug_assert_eq!(
        values.len(),
        record.columns.len(),
        "columns of {}",
        record.cql
    );
    let Some((_, name)) = record.cql_cell else {
        unreachable!("{} keeps plain columns", record.cql);
    };
    let fields = record.columns.iter().map(|column| column.name).zip(values);
    udt(
        keyspace,
        name,
        std::iter::once(("precedence", Some(bigint(precedence))))
            .chain(fields)
            .collect(),
    )
}

fn limits_udt(keyspace: &str, precedence: i64, version: i64, limits: &LimitsRow) -> CqlValue {
    group(
        keyspace,
        &schema::WALLET_LIMITS,
        precedence,
        version,
        vec![
            limits.max_balance.map(decimal),
            limits.daily_debit_limit.map(decimal),
            limits.per_transaction_max.map(decimal),
            limits.velocity_max_operations.map(|n| bigint(n.into())),
            limits.velocity_window_ms.map(bigint),
            limits.low_balance_threshold.map(decimal),
        ],
    )
}

fn status_udt(keyspace: &str, precedence: i64, version: i64, status: &str) -> CqlValue {
    group(
        keyspace,
        &schema::WALLET_STATUS,
        precedence,
        version,
        vec![Some(text(status))],
    )
}

fn lot_remaining_udt(
    keyspace: &str,
    precedence: i64,
    version: i64,
    remaining: Decimal,
) -> CqlValue {
    group(
        keyspace,
        &schema::LOT_REMAINING,
        precedence,
        version,
        vec![Some(decimal(remaining))],
    )
}

fn hold_resolution_udt(
    keyspace: &str,
    precedence: i64,
    version: i64,
    status: &str,
    captured: Decimal,
) -> CqlValue {
    group(
        keyspace,
        &schema::HOLD_RESOLUTION,
        precedence,
        version,
        vec![Some(text(status)), Some(decimal(captured))],
    )
}

fn boolean(value: bool) -> CqlValue {
    CqlValue::Boolean(value)
}

/// A `u32` (card month or year, daily count) as CQL `int`.
fn int(value: u32) -> Result<CqlValue, StoreError> {
    i32::try_from(value)
        .map(CqlValue::Int)
        .map_err(|_| StoreError::OutOfRange {
            value: value.into(),
        })
}

fn touch_udt(keyspace: &str, precedence: i64, version: i64, updated_at_ms: i64) -> CqlValue {
    group(
        keyspace,
        &schema::TOUCH,
        precedence,
        version,
        vec![Some(bigint(updated_at_ms))],
    )
}

fn removal_udt(keyspace: &str, precedence: i64, version: i64, removed: bool) -> CqlValue {
    group(
        keyspace,
        &schema::REMOVAL,
        precedence,
        version,
        vec![Some(boolean(removed))],
    )
}

fn top_up_state_udt(
    keyspace: &str,
    precedence: i64,
    version: i64,
    status: &str,
    failure_reason: Option<&String>,
) -> CqlValue {
    group(
        keyspace,
        &schema::TOP_UP_STATE,
        precedence,
        version,
        vec![Some(text(status)), failure_reason.map(|r| text(r))],
    )
}

fn top_up_credit_udt(keyspace: &str, precedence: i64, version: i64, credited: Decimal) -> CqlValue {
    group(
        keyspace,
        &schema::TOP_UP_CREDIT,
        precedence,
        version,
        vec![Some(decimal(credited))],
    )
}

fn top_up_late_capture_udt(
    keyspace: &str,
    precedence: i64,
    version: i64,
    late_capture: Option<Decimal>,
) -> CqlValue {
    group(
        keyspace,
        &schema::TOP_UP_LATE_CAPTURE,
        precedence,
        version,
        vec![late_capture.map(decimal)],
    )
}

fn payment_state_udt(
    keyspace: &str,
    precedence: i64,
    version: i64,
    status: &str,
    captured: Option<Decimal>,
) -> CqlValue {
    group(
        keyspace,
        &schema::PAYMENT_STATE,
        precedence,
        version,
        vec![Some(text(status)), captured.map(decimal)],
    )
}

fn payment_resolution_udt(
    keyspace: &str,
    precedence: i64,
    version: i64,
    decline_reason: Option<&String>,
    cancel_reason: Option<&String>,
) -> CqlValue {
    group(
        keyspace,
        &schema::PAYMENT_RESOLUTION,
        precedence,
        version,
        vec![
            decline_reason.map(|r| text(r)),
            cancel_reason.map(|r| text(r)),
        ],
    )
}

fn payment_refunds_udt(
    keyspace: &str,
    precedence: i64,
    version: i64,
    refunded: Option<Decimal>,
) -> CqlValue {
    group(
        keyspace,
        &schema::PAYMENT_REFUNDS,
        precedence,
        version,
        vec![refunded.map(decimal)],
    )
}

fn backoff_udt(
    keyspace: &str,
    precedence: i64,
    version: i64,
    consecutive_failures: u32,
    backoff_until_ms: Option<i64>,
) -> Result<CqlValue, StoreError> {
    Ok(group(
        keyspace,
        &schema::AUTO_TOP_UP_BACKOFF,
        precedence,
        version,
        vec![
            Some(int(consecutive_failures)?),
            backoff_until_ms.map(bigint),
        ],
    ))
}

/// A top-up id as the by-creation index's clustering key: its 16 bytes, which ScyllaDB compares
/// as the contract orders ids (a `uuid` would compare the version nibble first).
pub(crate) fn top_up_id_blob(top_up_id: Uuid) -> CqlValue {
    CqlValue::Blob(top_up_id.as_bytes().to_vec())
}

/// The id of a by-creation index row; anything but 16 bytes is corrupt.
pub(crate) fn top_up_id_from_blob(bytes: &[u8]) -> Result<Uuid, StoreError> {
    Uuid::from_slice(bytes).map_err(|_| {
        corrupt(
            "top_ups_by_wallet_created",
            "top_up_id",
            format!("{bytes:02x?}"),
        )
    })
}

fn partition(table: &'static str, key: impl ToString) -> Partition {
    Partition {
        table,
        key: key.to_string(),
    }
}

/// The statements that perform one [`RowWrite`] in `keyspace`, with `precedence` in every group
/// it writes.
pub(crate) fn plan_write(
    keyspace: &str,
    write: &RowWrite,
    precedence: i64,
) -> Result<Vec<CqlWrite>, StoreError> {
    let ks = keyspace;
    let p = precedence;
    let writes = match write {
        RowWrite::Wallet(wallet) => {
            let ts = write_timestamp(wallet.version)?;
            let asset_scale =
                i32::try_from(wallet.asset_scale).map_err(|_| StoreError::OutOfRange {
                    value: wallet.asset_scale.into(),
                })?;
            let metadata = CqlValue::Map(
                wallet
                    .metadata
                    .iter()
                    .map(|(key, value)| (text(key), text(value)))
                    .collect(),
            );
            let identity = group(
                ks,
                &schema::WALLET_IDENTITY,
                p,
                ts,
                vec![
                    Some(text(&wallet.tenant)),
                    Some(text(&wallet.owner)),
                    Some(text(&wallet.kind)),
                    Some(text(&wallet.asset)),
                    Some(CqlValue::Int(asset_scale)),
                    Some(metadata),
                    Some(bigint(wallet.created_at_ms)),
                ],
            );
            vec![
                CqlWrite {
                    statement: Statement::UpdateWallet,
                    values: vec![
                        bigint(ts),
                        identity,
                        status_udt(ks, p, ts, &wallet.status),
                        limits_udt(ks, p, ts, &wallet.limits),
                        uuid(wallet.wallet_id),
                    ],
                    partition: partition("wallets", wallet.wallet_id),
                },
                CqlWrite {
                    statement: Statement::InsertWalletByOwner,
                    values: vec![
                        text(&wallet.tenant),
                        text(&wallet.owner),
                        uuid(wallet.wallet_id),
                        bigint(ts),
                    ],
                    partition: partition(
                        schema::WALLETS_BY_OWNER.name,
                        format!("{:?}/{:?}", wallet.tenant, wallet.owner),
                    ),
                },
            ]
        }
        RowWrite::WalletStatus {
            wallet_id,
            status,
            version,
        } => {
            let ts = write_timestamp(*version)?;
            vec![CqlWrite {
                statement: Statement::UpdateWalletStatus,
                values: vec![bigint(ts), status_udt(ks, p, ts, status), uuid(*wallet_id)],
                partition: partition("wallets", wallet_id),
            }]
        }
        RowWrite::WalletLimits {
            wallet_id,
            limits,
            version,
        } => {
            let ts = write_timestamp(*version)?;
            vec![CqlWrite {
                statement: Statement::UpdateWalletLimits,
                values: vec![bigint(ts), limits_udt(ks, p, ts, limits), uuid(*wallet_id)],
                partition: partition("wallets", wallet_id),
            }]
        }
        RowWrite::Balance(balance) => {
            let ts = write_timestamp(balance.version)?;
            let state = group(
                ks,
                &schema::BALANCE,
                p,
                ts,
                vec![Some(decimal(balance.balance)), Some(decimal(balance.held))],
            );
            vec![CqlWrite {
                statement: Statement::UpdateBalance,
                values: vec![bigint(ts), state, uuid(balance.wallet_id)],
                partition: partition("balances", balance.wallet_id),
            }]
        }
        RowWrite::History(entry) => {
            // Every write of one entry has the same version, its sequence: only precedence
            // decides, and the first write stays (immutable entries).
            let ts = write_timestamp(entry.sequence)?;
            let lots = entry
                .lots
                .iter()
                .map(|(lot_id, amount)| {
                    udt(
                        ks,
                        "lot_amount",
                        vec![
                            ("lot_id", Some(uuid(*lot_id))),
                            ("amount", Some(decimal(*amount))),
                        ],
                    )
                })
                .collect();
            let value = record_cell(
                ks,
                &schema::HISTORY,
                p,
                vec![
                    Some(uuid(entry.entry_id)),
                    Some(text(entry.entry_type.as_str())),
                    Some(decimal(entry.amount)),
                    Some(decimal(entry.balance_after)),
                    Some(CqlValue::List(lots)),
                    Some(text(&entry.reference)),
                    Some(text(&entry.description)),
                    Some(text(&entry.detail)),
                    entry.hold_id.map(uuid),
                    Some(bigint(entry.occurred_at_ms)),
                    entry.held_after.map(decimal),
                ],
            );
            vec![CqlWrite {
                statement: Statement::UpdateHistory,
                values: vec![bigint(ts), value, uuid(entry.wallet_id), bigint(ts)],
                partition: partition(schema::HISTORY.cql, entry.wallet_id),
            }]
        }
        RowWrite::Lot(lot) => {
            let ts = write_timestamp(lot.version)?;
            let state = group(
                ks,
                &schema::LOT,
                p,
                ts,
                vec![
                    Some(text(&lot.source)),
                    Some(decimal(lot.amount)),
                    lot.expires_at_ms.map(bigint),
                    Some(bigint(lot.created_at_ms)),
                ],
            );
            vec![CqlWrite {
                statement: Statement::UpdateLot,
                values: vec![
                    bigint(ts),
                    state,
                    lot_remaining_udt(ks, p, ts, lot.remaining),
                    uuid(lot.wallet_id),
                    uuid(lot.lot_id),
                ],
                partition: partition("lots", lot.wallet_id),
            }]
        }
        RowWrite::LotRemaining {
            wallet_id,
            lot_id,
            remaining,
            version,
        } => {
            let ts = write_timestamp(*version)?;
            vec![CqlWrite {
                statement: Statement::UpdateLotRemaining,
                values: vec![
                    bigint(ts),
                    lot_remaining_udt(ks, p, ts, *remaining),
                    uuid(*wallet_id),
                    uuid(*lot_id),
                ],
                partition: partition("lots", wallet_id),
            }]
        }
        RowWrite::Hold(hold) => {
            let ts = write_timestamp(hold.version)?;
            let state = group(
                ks,
                &schema::HOLD,
                p,
                ts,
                vec![Some(decimal(hold.amount)), Some(bigint(hold.expires_at_ms))],
            );
            vec![CqlWrite {
                statement: Statement::UpdateHold,
                values: vec![
                    bigint(ts),
                    state,
                    hold_resolution_udt(ks, p, ts, &hold.status, hold.captured),
                    uuid(hold.wallet_id),
                    uuid(hold.hold_id),
                ],
                partition: partition("holds", hold.wallet_id),
            }]
        }
        RowWrite::HoldResolved {
            wallet_id,
            hold_id,
            status,
            captured,
            version,
        } => {
            let ts = write_timestamp(*version)?;
            vec![CqlWrite {
                statement: Statement::UpdateHoldResolution,
                values: vec![
                    bigint(ts),
                    hold_resolution_udt(ks, p, ts, status, *captured),
                    uuid(*wallet_id),
                    uuid(*hold_id),
                ],
                partition: partition("holds", wallet_id),
            }]
        }
        RowWrite::StreamPosition(position) => {
            // The sequence is both the value and the version: a position only moves forward, and
            // the first event id seen for a sequence stays.
            let ts = write_timestamp(position.sequence)?;
            let value = record_cell(
                ks,
                &schema::STREAM_POSITIONS,
                p,
                vec![Some(bigint(ts)), Some(text(&position.event_id))],
            );
            vec![CqlWrite {
                statement: Statement::UpdateStreamPosition,
                values: vec![bigint(ts), value, text(&position.stream_id)],
                partition: partition(schema::STREAM_POSITIONS.cql, &position.stream_id),
            }]
        }
        RowWrite::TopUp(top_up) => {
            let ts = write_timestamp(top_up.version)?;
            let request = group(
                ks,
                &schema::TOP_UP_REQUEST,
                p,
                ts,
                vec![
                    Some(text(&top_up.tenant)),
                    Some(uuid(top_up.wallet_id)),
                    Some(text(&top_up.owner)),
                    Some(text(&top_up.kind)),
                    Some(text(&top_up.asset)),
                    Some(decimal(top_up.amount)),
                    Some(decimal(top_up.wallet_amount)),
                    Some(decimal(top_up.fee)),
                    Some(uuid(top_up.payment_id)),
                    top_up.checkout_session_id.map(uuid),
                    top_up.payment_method_id.map(uuid),
                    Some(bigint(top_up.expires_at_ms)),
                    top_up.lots_expire_at_ms.map(bigint),
                    Some(bigint(top_up.created_at_ms)),
                ],
            );
            let mut writes = vec![
                CqlWrite {
                    statement: Statement::UpdateTopUp,
                    values: vec![
                        bigint(ts),
                        request,
                        top_up_state_udt(ks, p, ts, &top_up.status, top_up.failure_reason.as_ref()),
                        top_up_credit_udt(ks, p, ts, top_up.credited),
                        top_up_late_capture_udt(ks, p, ts, top_up.late_capture),
                        touch_udt(ks, p, ts, top_up.updated_at_ms),
                        uuid(top_up.top_up_id),
                    ],
                    partition: partition("top_ups", top_up.top_up_id),
                },
                CqlWrite {
                    statement: Statement::InsertTopUpByWalletCreated,
                    values: vec![
                        uuid(top_up.wallet_id),
                        bigint(top_up.created_at_ms),
                        top_up_id_blob(top_up.top_up_id),
                        bigint(ts),
                    ],
                    partition: partition(schema::TOP_UPS_BY_WALLET_CREATED.name, top_up.wallet_id),
                },
            ];
            if let Some(session) = top_up.checkout_session_id {
                writes.push(CqlWrite {
                    statement: Statement::InsertTopUpByCheckoutSession,
                    values: vec![uuid(session), uuid(top_up.top_up_id), bigint(ts)],
                    partition: partition(schema::TOP_UPS_BY_CHECKOUT_SESSION.name, session),
                });
            }
            writes
        }
        RowWrite::TopUpStatus {
            top_up_id,
            status,
            failure_reason,
            credited,
            updated_at_ms,
            version,
        } => {
            let ts = write_timestamp(*version)?;
            let state = top_up_state_udt(ks, p, ts, status, failure_reason.as_ref());
            let touched = touch_udt(ks, p, ts, *updated_at_ms);
            let (statement, values) = match credited {
                None => (
                    Statement::UpdateTopUpStatus,
                    vec![bigint(ts), state, touched, uuid(*top_up_id)],
                ),
                Some(credited) => (
                    Statement::UpdateTopUpStatusCredited,
                    vec![
                        bigint(ts),
                        state,
                        top_up_credit_udt(ks, p, ts, *credited),
                        touched,
                        uuid(*top_up_id),
                    ],
                ),
            };
            vec![CqlWrite {
                statement,
                values,
                partition: partition("top_ups", top_up_id),
            }]
        }
        RowWrite::TopUpLateCapture {
            top_up_id,
            late_capture,
            updated_at_ms,
            version,
        } => {
            let ts = write_timestamp(*version)?;
            vec![CqlWrite {
                statement: Statement::UpdateTopUpLateCapture,
                values: vec![
                    bigint(ts),
                    top_up_late_capture_udt(ks, p, ts, Some(*late_capture)),
                    touch_udt(ks, p, ts, *updated_at_ms),
                    uuid(*top_up_id),
                ],
                partition: partition("top_ups", top_up_id),
            }]
        }
        RowWrite::Payment(payment) => {
            let ts = write_timestamp(payment.version)?;
            let intent = group(
                ks,
                &schema::PAYMENT_CREATED,
                p,
                ts,
                vec![
                    Some(text(&payment.tenant)),
                    Some(text(&payment.owner)),
                    Some(text(&payment.asset)),
                    Some(decimal(payment.amount)),
                    payment.top_up_id.map(uuid),
                    payment.payment_method_id.map(uuid),
                    Some(bigint(payment.created_at_ms)),
                ],
            );
            // The intent's stored card lives in `intent`; `card.payment_method_id` holds only what
            // a submission names, so it is left null here.
            let card = group(
                ks,
                &schema::PAYMENT_CARD,
                p,
                ts,
                vec![
                    payment.card_brand.as_deref().map(text),
                    payment.card_last4.as_deref().map(text),
                    payment.card_exp_month.map(int).transpose()?,
                    payment.card_exp_year.map(int).transpose()?,
                    None,
                ],
            );
            vec![CqlWrite {
                statement: Statement::UpdatePayment,
                values: vec![
                    bigint(ts),
                    intent,
                    payment_state_udt(ks, p, ts, &payment.status, payment.captured),
                    card,
                    payment_resolution_udt(
                        ks,
                        p,
                        ts,
                        payment.decline_reason.as_ref(),
                        payment.cancel_reason.as_ref(),
                    ),
                    payment_refunds_udt(ks, p, ts, payment.refunded),
                    touch_udt(ks, p, ts, payment.updated_at_ms),
                    uuid(payment.payment_id),
                ],
                partition: partition("payment_intents", payment.payment_id),
            }]
        }
        RowWrite::PaymentStatus {
            payment_id,
            status,
            captured,
            updated_at_ms,
            version,
        } => {
            let ts = write_timestamp(*version)?;
            vec![CqlWrite {
                statement: Statement::UpdatePaymentStatus,
                values: vec![
                    bigint(ts),
                    payment_state_udt(ks, p, ts, status, *captured),
                    touch_udt(ks, p, ts, *updated_at_ms),
                    uuid(*payment_id),
                ],
                partition: partition("payment_intents", payment_id),
            }]
        }
        RowWrite::PaymentCard {
            payment_id,
            brand,
            last4,
            exp_month,
            exp_year,
            payment_method_id,
            updated_at_ms,
            version,
        } => {
            let ts = write_timestamp(*version)?;
            let card = group(
                ks,
                &schema::PAYMENT_CARD,
                p,
                ts,
                vec![
                    Some(text(brand)),
                    Some(text(last4)),
                    Some(int(*exp_month)?),
                    Some(int(*exp_year)?),
                    payment_method_id.map(uuid),
                ],
            );
            vec![CqlWrite {
                statement: Statement::UpdatePaymentCard,
                values: vec![
                    bigint(ts),
                    card,
                    touch_udt(ks, p, ts, *updated_at_ms),
                    uuid(*payment_id),
                ],
                partition: partition("payment_intents", payment_id),
            }]
        }
        RowWrite::PaymentResolution {
            payment_id,
            decline_reason,
            cancel_reason,
            updated_at_ms,
            version,
        } => {
            let ts = write_timestamp(*version)?;
            vec![CqlWrite {
                statement: Statement::UpdatePaymentResolution,
                values: vec![
                    bigint(ts),
                    payment_resolution_udt(
                        ks,
                        p,
                        ts,
                        decline_reason.as_ref(),
                        cancel_reason.as_ref(),
                    ),
                    touch_udt(ks, p, ts, *updated_at_ms),
                    uuid(*payment_id),
                ],
                partition: partition("payment_intents", payment_id),
            }]
        }
        RowWrite::PaymentRefunded {
            payment_id,
            refunded,
            updated_at_ms,
            version,
        } => {
            let ts = write_timestamp(*version)?;
            vec![CqlWrite {
                statement: Statement::UpdatePaymentRefunds,
                values: vec![
                    bigint(ts),
                    payment_refunds_udt(ks, p, ts, Some(*refunded)),
                    touch_udt(ks, p, ts, *updated_at_ms),
                    uuid(*payment_id),
                ],
                partition: partition("payment_intents", payment_id),
            }]
        }
        RowWrite::PaymentMethod(method) => {
            let ts = write_timestamp(method.version)?;
            let card = group(
                ks,
                &schema::PAYMENT_METHOD_CARD,
                p,
                ts,
                vec![
                    Some(text(&method.tenant)),
                    Some(text(&method.owner)),
                    Some(text(&method.brand)),
                    Some(text(&method.last4)),
                    Some(int(method.exp_month)?),
                    Some(int(method.exp_year)?),
                    Some(bigint(method.created_at_ms)),
                ],
            );
            vec![
                CqlWrite {
                    statement: Statement::UpdatePaymentMethod,
                    values: vec![
                        bigint(ts),
                        card,
                        removal_udt(ks, p, ts, method.removed),
                        uuid(method.payment_method_id),
                    ],
                    partition: partition("payment_methods", method.payment_method_id),
                },
                CqlWrite {
                    statement: Statement::InsertPaymentMethodByOwner,
                    values: vec![
                        text(&method.tenant),
                        text(&method.owner),
                        uuid(method.payment_method_id),
                        bigint(ts),
                    ],
                    partition: partition(
                        schema::PAYMENT_METHODS_BY_OWNER.name,
                        format!("{:?}/{:?}", method.tenant, method.owner),
                    ),
                },
            ]
        }
        RowWrite::PaymentMethodRemoved {
            payment_method_id,
            version,
        } => {
            let ts = write_timestamp(*version)?;
            vec![CqlWrite {
                statement: Statement::UpdatePaymentMethodRemoval,
                values: vec![
                    bigint(ts),
                    removal_udt(ks, p, ts, true),
                    uuid(*payment_method_id),
                ],
                partition: partition("payment_methods", payment_method_id),
            }]
        }
        RowWrite::AutoTopUpRule(rule) => {
            let ts = write_timestamp(rule.version)?;
            let state = group(
                ks,
                &schema::AUTO_TOP_UP_RULE,
                p,
                ts,
                vec![
                    Some(text(&rule.tenant)),
                    Some(text(&rule.owner)),
                    Some(text(&rule.asset)),
                    Some(decimal(rule.threshold)),
                    rule.amount.map(decimal),
                    rule.target_balance.map(decimal),
                    Some(uuid(rule.payment_method_id)),
                    Some(int(rule.daily_max_count)?),
                    rule.daily_max_amount.map(decimal),
                    Some(bigint(rule.backoff_ms)),
                    Some(decimal(rule.fee_rate)),
                    Some(bigint(rule.timeout_ms)),
                    Some(bigint(rule.updated_at_ms)),
                ],
            );
            vec![CqlWrite {
                statement: Statement::UpdateAutoTopUpRule,
                values: vec![
                    bigint(ts),
                    state,
                    removal_udt(ks, p, ts, rule.removed),
                    uuid(rule.wallet_id),
                ],
                partition: partition("auto_top_up_rules", rule.wallet_id),
            }]
        }
        RowWrite::AutoTopUpRuleRemoved { wallet_id, version } => {
            let ts = write_timestamp(*version)?;
            vec![CqlWrite {
                statement: Statement::UpdateAutoTopUpRuleRemoval,
                values: vec![bigint(ts), removal_udt(ks, p, ts, true), uuid(*wallet_id)],
                partition: partition("auto_top_up_rules", wallet_id),
            }]
        }
        RowWrite::AutoTopUpFailed {
            wallet_id,
            failure,
            consecutive_failures,
            backoff_until_ms,
            version,
        } => {
            let ts = write_timestamp(*version)?;
            let failure = group(
                ks,
                &schema::AUTO_TOP_UP_FAILURE,
                p,
                ts,
                vec![
                    Some(uuid(failure.top_up_id)),
                    Some(text(&failure.reason)),
                    Some(bigint(failure.failed_at_ms)),
                ],
            );
            vec![CqlWrite {
                statement: Statement::UpdateAutoTopUpFailure,
                values: vec![
                    bigint(ts),
                    failure,
                    backoff_udt(ks, p, ts, *consecutive_failures, Some(*backoff_until_ms))?,
                    uuid(*wallet_id),
                ],
                partition: partition("auto_top_up_activity", wallet_id),
            }]
        }
        RowWrite::AutoTopUpCompleted { wallet_id, version } => {
            let ts = write_timestamp(*version)?;
            vec![CqlWrite {
                statement: Statement::UpdateAutoTopUpBackoff,
                values: vec![
                    bigint(ts),
                    backoff_udt(ks, p, ts, 0, None)?,
                    uuid(*wallet_id),
                ],
                partition: partition("auto_top_up_activity", wallet_id),
            }]
        }
        RowWrite::AutoTopUpCapReached {
            wallet_id,
            until_ms,
            version,
        } => {
            let ts = write_timestamp(*version)?;
            let cap = group(
                ks,
                &schema::AUTO_TOP_UP_CAP,
                p,
                ts,
                vec![Some(bigint(*until_ms))],
            );
            vec![CqlWrite {
                statement: Statement::UpdateAutoTopUpCap,
                values: vec![bigint(ts), cap, uuid(*wallet_id)],
                partition: partition("auto_top_up_activity", wallet_id),
            }]
        }
    };
    Ok(writes)
}

/// The statement that records a checkpoint. Its write timestamp is the offset itself, so a lower
/// offset never replaces a higher one; an equal one writes the same value.
pub(crate) fn plan_checkpoint(checkpoint: &Checkpoint) -> Result<CqlWrite, StoreError> {
    let ts = write_timestamp(checkpoint.next_offset)?;
    Ok(CqlWrite {
        statement: Statement::UpdateCheckpoint,
        values: vec![
            bigint(ts),
            bigint(ts),
            text(&checkpoint.projector),
            text(&checkpoint.topic),
            bigint(checkpoint.partition.into()),
        ],
        partition: partition(
            schema::CHECKPOINTS.cql,
            format!(
                "{:?}/{:?}/{}",
                checkpoint.projector, checkpoint.topic, checkpoint.partition
            ),
        ),
    })
}

/// Everything one [`ReadStore::apply`](purse_store::ReadStore::apply) sends: the rows, then
/// (only once every row is written) the checkpoints.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ApplyPlan {
    pub(crate) rows: Vec<CqlWrite>,
    pub(crate) checkpoints: Vec<CqlWrite>,
}

/// Plans an apply whose writes are stamped `first_stamp`, `first_stamp + 1`, ... in order, so at
/// an equal version the earlier write of the list wins, as within one SQLite transaction.
pub(crate) fn plan_apply(
    keyspace: &str,
    writes: &[RowWrite],
    checkpoints: &[Checkpoint],
    first_stamp: i64,
) -> Result<ApplyPlan, StoreError> {
    let mut rows = Vec::with_capacity(writes.len());
    for (offset, write) in (0_i64..).zip(writes) {
        let precedence = precedence(first_stamp.saturating_add(offset));
        rows.extend(plan_write(keyspace, write, precedence)?);
    }
    let checkpoints = checkpoints
        .iter()
        .map(plan_checkpoint)
        .collect::<Result<_, _>>()?;
    Ok(ApplyPlan { rows, checkpoints })
}

// ---- decoding ---------------------------------------------------------------------------------

pub(crate) fn corrupt(
    table: &'static str,
    column: &'static str,
    value: impl Into<String>,
) -> StoreError {
    StoreError::Corrupt {
        table,
        column,
        value: value.into(),
    }
}

/// A CQL value as the logical type `ty` declares; `None` when it is not one.
fn stored(ty: ColumnType, value: &CqlValue) -> Option<Stored> {
    Some(match (ty, value) {
        (ColumnType::Text, CqlValue::Text(text) | CqlValue::Ascii(text)) => {
            Stored::Text(text.clone())
        }
        (ColumnType::Uuid, CqlValue::Uuid(id)) => Stored::Uuid(*id),
        (ColumnType::BigInt, CqlValue::BigInt(n)) => Stored::Int(*n),
        (ColumnType::Int, CqlValue::Int(n)) => Stored::Int((*n).into()),
        (ColumnType::Decimal, CqlValue::Decimal(d)) => Stored::Decimal(decimal_from_cql(d)?),
        (ColumnType::Bool, CqlValue::Boolean(b)) => Stored::Bool(*b),
        (ColumnType::TextMap, CqlValue::Map(pairs)) => Stored::TextMap(
            pairs
                .iter()
                .map(|pair| match pair {
                    (CqlValue::Text(key), CqlValue::Text(value)) => {
                        Some((key.clone(), value.clone()))
                    }
                    _ => None,
                })
                .collect::<Option<_>>()?,
        ),
        (ColumnType::LotAmounts, CqlValue::List(lots)) => Stored::LotAmounts(
            lots.iter()
                .map(|lot| {
                    let CqlValue::UserDefinedType { fields, .. } = lot else {
                        return None;
                    };
                    let field = |name: &str| {
                        fields
                            .iter()
                            .find(|(field, _)| field == name)
                            .and_then(|(_, value)| value.as_ref())
                    };
                    match (field("lot_id")?, field("amount")?) {
                        (CqlValue::Uuid(lot_id), CqlValue::Decimal(amount)) => {
                            Some((*lot_id, decimal_from_cql(amount)?))
                        }
                        _ => None,
                    }
                })
                .collect::<Option<_>>()?,
        ),
        _ => return None,
    })
}

/// A row read by a [`Statement`] that a [`Record`] generates: the keys, then the record's cell
/// (or its plain columns), decoded by the declaration ([`purse_store::decode`]).
pub(crate) struct CqlRecordRow<'a> {
    record: &'static Record,
    columns: &'a [Option<CqlValue>],
}

impl<'a> CqlRecordRow<'a> {
    /// The row of `record` as the columns its select returned.
    pub(crate) fn new(
        record: &'static Record,
        columns: &'a [Option<CqlValue>],
    ) -> Result<CqlRecordRow<'a>, StoreError> {
        let values = if record.cql_cell.is_some() {
            1
        } else {
            record.columns.len()
        };
        if columns.len() != record.keys.len() + values {
            return Err(corrupt(
                record.cql,
                "*",
                format!(
                    "{} columns, not {}",
                    columns.len(),
                    record.keys.len() + values
                ),
            ));
        }
        Ok(CqlRecordRow { record, columns })
    }

    /// Whether the row holds a value (its cell can be null when only a key was written).
    pub(crate) fn written(&self) -> bool {
        self.columns[self.record.keys.len()..]
            .iter()
            .any(Option::is_some)
    }
}

impl StoredRecord for CqlRecordRow<'_> {
    fn record(&self) -> &'static Record {
        self.record
    }

    fn value(&self, column: &Column) -> Result<Option<Stored>, StoreError> {
        let keys = self.record.keys.len();
        let value = if let Some(index) = self.record.keys.iter().position(|key| key == column) {
            self.columns[index].as_ref()
        } else if let Some((cell, _)) = self.record.cql_cell {
            match &self.columns[keys] {
                None => None,
                Some(CqlValue::UserDefinedType { fields, .. }) => fields
                    .iter()
                    .find(|(field, _)| field == column.name)
                    .and_then(|(_, value)| value.as_ref()),
                Some(other) => {
                    return Err(corrupt(
                        self.record.cql,
                        cell,
                        format!("not a UDT: {other:?}"),
                    ));
                }
            }
        } else {
            self.record
                .columns
                .iter()
                .position(|declared| declared == column)
                .and_then(|index| self.columns[keys + index].as_ref())
        };
        let Some(value) = value else {
            return Ok(None);
        };
        stored(column.ty, value)
            .map(Some)
            .ok_or_else(|| self.corrupt(column, format!("{value:?}")))
    }

    fn corrupt(&self, column: &Column, found: String) -> StoreError {
        let is_key = self.record.keys.contains(column);
        match self.record.cql_cell {
            Some((cell, _)) if !is_key => corrupt(
                self.record.cql,
                cell,
                format!("field {}: {found}", column.name),
            ),
            _ => corrupt(self.record.cql, column.name, found),
        }
    }
}

/// A field of a UDT value, as the driver returns it.
type UdtField = (String, Option<CqlValue>);

/// A row read by a [`Statement`] that [`Table::cql_select`] generates: the table's key columns,
/// then the cells of the groups it reads, decoded by their declarations ([`purse_store::decode`]).
pub(crate) struct CqlRow<'a> {
    table: &'static Table,
    keys: &'a [Option<CqlValue>],
    cells: Vec<(&'static Group, Option<&'a CqlValue>)>,
}

impl<'a> CqlRow<'a> {
    /// The row of `table` whose select read `groups`, as the columns it returned.
    pub(crate) fn new(
        table: &'static Table,
        groups: &[&'static Group],
        columns: &'a [Option<CqlValue>],
    ) -> Result<CqlRow<'a>, StoreError> {
        let mut row = CqlRow {
            table,
            keys: &[],
            cells: Vec::with_capacity(groups.len()),
        };
        if columns.len() != table.keys.len() + groups.len() {
            return Err(corrupt(
                table.cql,
                "*",
                format!(
                    "{} columns, not {}",
                    columns.len(),
                    table.keys.len() + groups.len()
                ),
            ));
        }
        let (keys, cells) = columns.split_at(table.keys.len());
        row.keys = keys;
        row.also(groups, cells);
        Ok(row)
    }

    /// Adds the cells of `groups` that another select of the same row read (a group kept in
    /// its own CQL table), without its key columns.
    pub(crate) fn also(&mut self, groups: &[&'static Group], cells: &'a [Option<CqlValue>]) {
        self.cells
            .extend(groups.iter().copied().zip(cells.iter().map(Option::as_ref)));
    }

    fn cell(&self, group: &Group) -> Option<&'a CqlValue> {
        self.cells
            .iter()
            .find(|(read, _)| *read == group)
            .and_then(|(_, cell)| *cell)
    }

    /// The fields of `group`'s cell, `None` when never written.
    fn fields(&self, group: &Group) -> Result<Option<&'a [UdtField]>, StoreError> {
        match self.cell(group) {
            None => Ok(None),
            Some(CqlValue::UserDefinedType { fields, .. }) => Ok(Some(fields)),
            Some(other) => Err(self.corrupt(Some(group), None, format!("not a UDT: {other:?}"))),
        }
    }
}

impl StoredRow for CqlRow<'_> {
    fn table(&self) -> &'static Table {
        self.table
    }

    fn value(&self, group: Option<&Group>, column: &Column) -> Result<Option<Stored>, StoreError> {
        let value = match group {
            None => self
                .table
                .keys
                .iter()
                .position(|key| key == column)
                .and_then(|index| self.keys.get(index))
                .and_then(Option::as_ref),
            Some(group) => self.fields(group)?.and_then(|fields| {
                fields
                    .iter()
                    .find(|(field, _)| field == column.name)
                    .and_then(|(_, value)| value.as_ref())
            }),
        };
        let Some(value) = value else {
            return Ok(None);
        };
        stored(column.ty, value)
            .map(Some)
            .ok_or_else(|| self.corrupt(group, Some(column), format!("{value:?}")))
    }

    fn version(&self, group: &Group) -> Result<Option<u64>, StoreError> {
        let Some(fields) = self.fields(group)? else {
            return Ok(None);
        };
        match fields.iter().find(|(field, _)| field == "version") {
            Some((_, Some(CqlValue::BigInt(version)))) => u64::try_from(*version)
                .map(Some)
                .map_err(|_| self.corrupt(Some(group), None, format!("version {version}"))),
            found => Err(self.corrupt(Some(group), None, format!("version: {found:?}"))),
        }
    }

    fn corrupt(&self, group: Option<&Group>, column: Option<&Column>, found: String) -> StoreError {
        let table = group
            .and_then(|group| group.cql_table)
            .unwrap_or(self.table.cql);
        match (group, column) {
            (Some(group), Some(column)) => corrupt(
                table,
                group.cql_cell,
                format!("field {}: {found}", column.name),
            ),
            (Some(group), None) => corrupt(table, group.cql_cell, found),
            (None, Some(column)) => corrupt(table, column.name, found),
            (None, None) => corrupt(table, "*", found),
        }
    }
}

#[cfg(test)]
mod tests;
