//! Read-model rows decoded from their declared groups, once for both stores (ADR 0015).
//!
//! A store reads a row of a [`Table`] its own way (SQLite: one result row holding every group's
//! columns and versions; CQL: one frozen UDT cell per group) and exposes it as a [`StoredRow`]:
//! the value of a declared column, converted by its declared [`ColumnType`](crate::schema::ColumnType),
//! and the version of a group. The functions here build the API rows from that, naming columns
//! by their declared names: a column a declaration does not have is a bug that panics in every
//! test that reads the row, and a reordered declaration changes nothing here.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::schema::{self, Column, Group, Record, Table};
use crate::{
    AutoTopUpActivityRow, AutoTopUpFailureRow, AutoTopUpRuleRow, BalanceRow, Decimal, EntryType,
    HistoryRow, HoldRow, LimitsRow, LotRow, PaymentMethodRow, PaymentRow, StoreError,
    StreamPosition, TopUpRow, WalletRow,
};

/// A column's value as a store read it, in the logical type its declaration gives.
#[derive(Clone, Debug, PartialEq)]
pub enum Stored {
    /// [`ColumnType::Text`](crate::schema::ColumnType::Text).
    Text(String),
    /// [`ColumnType::Uuid`](crate::schema::ColumnType::Uuid).
    Uuid(Uuid),
    /// [`ColumnType::BigInt`](crate::schema::ColumnType::BigInt) and
    /// [`ColumnType::Int`](crate::schema::ColumnType::Int).
    Int(i64),
    /// [`ColumnType::Decimal`](crate::schema::ColumnType::Decimal).
    Decimal(Decimal),
    /// [`ColumnType::Bool`](crate::schema::ColumnType::Bool).
    Bool(bool),
    /// [`ColumnType::TextMap`](crate::schema::ColumnType::TextMap).
    TextMap(BTreeMap<String, String>),
    /// [`ColumnType::LotAmounts`](crate::schema::ColumnType::LotAmounts).
    LotAmounts(Vec<(Uuid, Decimal)>),
}

/// One stored row of a [`Table`], as one store read it.
pub trait StoredRow {
    /// The table the row belongs to.
    fn table(&self) -> &'static Table;

    /// The value of `column` of `group` (of a key column when `group` is `None`), converted by
    /// the column's declared type; `None` when NULL or never written. A stored value of another
    /// type is [`StoreError::Corrupt`].
    fn value(&self, group: Option<&Group>, column: &Column) -> Result<Option<Stored>, StoreError>;

    /// The version of `group`; `None` when the group was never written.
    fn version(&self, group: &Group) -> Result<Option<u64>, StoreError>;

    /// The error for a value of `column` of `group` (the group itself when `column` is `None`)
    /// that no valid write produces, in the store's own terms (its table and column or cell).
    fn corrupt(&self, group: Option<&Group>, column: Option<&Column>, found: String) -> StoreError;
}

/// One stored row of a [`Record`], as one store read it.
pub trait StoredRecord {
    /// The record table the row belongs to.
    fn record(&self) -> &'static Record;

    /// The value of the key or column `column`, converted by its declared type; `None` when
    /// NULL. A stored value of another type is [`StoreError::Corrupt`].
    fn value(&self, column: &Column) -> Result<Option<Stored>, StoreError>;

    /// The error for a value of `column` that no valid write produces.
    fn corrupt(&self, column: &Column, found: String) -> StoreError;
}

/// Typed access to a [`StoredRecord`] by declared column name.
struct RecordReader<'r> {
    row: &'r dyn StoredRecord,
}

impl RecordReader<'_> {
    fn declared(&self, name: &str) -> Column {
        let record = self.row.record();
        match record
            .keys
            .iter()
            .chain(record.columns)
            .find(|c| c.name == name)
        {
            Some(column) => *column,
            None => panic!("{}: column {name} is not declared", record.sqlite),
        }
    }

    fn u64(&self, name: &str) -> Result<u64, StoreError> {
        let value = self.i64(None, name)?;
        u64::try_from(value).map_err(|_| self.bad_debug(None, name, value))
    }
}

impl Typed for RecordReader<'_> {
    fn get(&self, _: Option<&Group>, name: &str) -> Result<Option<Stored>, StoreError> {
        self.row.value(&self.declared(name))
    }

    fn bad(&self, _: Option<&Group>, name: &str, found: String) -> StoreError {
        self.row.corrupt(&self.declared(name), found)
    }
}

/// A history entry ([`schema::HISTORY`]).
pub fn history(row: &dyn StoredRecord) -> Result<HistoryRow, StoreError> {
    let r = RecordReader { row };
    let entry_type = r.text(None, "entry_type")?;
    Ok(HistoryRow {
        wallet_id: r.uuid(None, "wallet_id")?,
        sequence: r.u64("sequence")?,
        entry_id: r.uuid(None, "entry_id")?,
        entry_type: EntryType::parse(&entry_type)
            .map_err(|_| r.bad_debug(None, "entry_type", &entry_type))?,
        amount: r.decimal(None, "amount")?,
        balance_after: r.decimal(None, "balance_after")?,
        held_after: r.opt_decimal(None, "held_after")?,
        lots: match r.get(None, "lots")? {
            None => Vec::new(),
            Some(Stored::LotAmounts(lots)) => lots,
            Some(other) => return Err(r.bad_debug(None, "lots", other)),
        },
        reference: r.text(None, "reference")?,
        description: r.text(None, "description")?,
        detail: r.text(None, "detail")?,
        hold_id: r.opt_uuid(None, "hold_id")?,
        occurred_at_ms: r.i64(None, "occurred_at_ms")?,
    })
}

/// A stream's guard state ([`schema::STREAM_POSITIONS`]).
pub fn stream_position(row: &dyn StoredRecord) -> Result<StreamPosition, StoreError> {
    let r = RecordReader { row };
    Ok(StreamPosition {
        stream_id: r.text(None, "stream_id")?,
        sequence: r.u64("sequence")?,
        event_id: r.text(None, "event_id")?,
    })
}

/// A projector's next offset in a log partition ([`schema::CHECKPOINTS`]).
pub fn checkpoint(row: &dyn StoredRecord) -> Result<u64, StoreError> {
    RecordReader { row }.u64("next_offset")
}

/// Typed access to a [`StoredRow`] by declared column name.
struct Reader<'r, R: StoredRow + ?Sized> {
    row: &'r R,
}

/// The declared column `name` of `group` (or of the table's keys when `group` is `None`).
fn declared(table: &Table, group: Option<&Group>, name: &str) -> Column {
    let columns = group.map_or(table.keys, |group| group.columns);
    match columns.iter().find(|column| column.name == name) {
        Some(column) => *column,
        None => panic!(
            "{}: column {name} is not declared in {}",
            table.sqlite,
            group.map_or("the keys", |group| group.cql_udt)
        ),
    }
}

impl<R: StoredRow + ?Sized> Reader<'_, R> {
    fn has(&self, group: &Group) -> Result<bool, StoreError> {
        Ok(self.row.version(group)?.is_some())
    }

    /// A group written together with the row's creating group, so present whenever it is.
    fn companion(&self, group: &Group) -> Result<(), StoreError> {
        if self.has(group)? {
            Ok(())
        } else {
            Err(self
                .row
                .corrupt(Some(group), None, "missing beside the row".into()))
        }
    }

    /// The largest version of the row's written groups.
    fn row_version(&self) -> Result<u64, StoreError> {
        let mut max = 0;
        for group in self.row.table().groups {
            if let Some(version) = self.row.version(group)? {
                max = max.max(version);
            }
        }
        Ok(max)
    }
}

impl<R: StoredRow + ?Sized> Typed for Reader<'_, R> {
    fn get(&self, group: Option<&Group>, name: &str) -> Result<Option<Stored>, StoreError> {
        debug_assert!(
            group.is_none_or(|g| self.row.table().groups.iter().any(|t| **t == *g)),
            "group of another table"
        );
        self.row
            .value(group, &declared(self.row.table(), group, name))
    }

    fn bad(&self, group: Option<&Group>, name: &str, found: String) -> StoreError {
        let column = declared(self.row.table(), group, name);
        self.row.corrupt(group, Some(&column), found)
    }
}

/// Where a typed getter reads: a group, or `None` for a table's keys or a record's columns.
type G<'g> = Option<&'g Group>;

/// Typed access by declared column name, over [`Typed::get`].
trait Typed {
    /// The value of the declared column `name` of `group`.
    fn get(&self, group: Option<&Group>, name: &str) -> Result<Option<Stored>, StoreError>;

    /// The error for the value `found` of the declared column `name` of `group`.
    fn bad(&self, group: Option<&Group>, name: &str, found: String) -> StoreError;

    /// [`Typed::bad`] of a value shown as debugged.
    fn bad_debug(
        &self,
        group: Option<&Group>,
        name: &str,
        found: impl std::fmt::Debug,
    ) -> StoreError {
        self.bad(group, name, format!("{found:?}"))
    }

    fn required<T>(
        &self,
        group: Option<&Group>,
        name: &str,
        value: Option<T>,
    ) -> Result<T, StoreError> {
        value.ok_or_else(|| self.bad_debug(group, name, "NULL"))
    }

    fn opt_text<'g>(
        &self,
        group: impl Into<G<'g>> + Copy,
        name: &str,
    ) -> Result<Option<String>, StoreError> {
        match self.get(group.into(), name)? {
            None => Ok(None),
            Some(Stored::Text(value)) => Ok(Some(value)),
            Some(other) => Err(self.bad_debug(group.into(), name, other)),
        }
    }

    fn text<'g>(&self, group: impl Into<G<'g>> + Copy, name: &str) -> Result<String, StoreError> {
        let value = self.opt_text(group, name)?;
        self.required(group.into(), name, value)
    }

    fn opt_uuid_in(&self, group: Option<&Group>, name: &str) -> Result<Option<Uuid>, StoreError> {
        match self.get(group, name)? {
            None => Ok(None),
            Some(Stored::Uuid(value)) => Ok(Some(value)),
            Some(other) => Err(self.bad_debug(group, name, other)),
        }
    }

    fn opt_uuid<'g>(
        &self,
        group: impl Into<G<'g>> + Copy,
        name: &str,
    ) -> Result<Option<Uuid>, StoreError> {
        self.opt_uuid_in(group.into(), name)
    }

    fn uuid<'g>(&self, group: impl Into<G<'g>> + Copy, name: &str) -> Result<Uuid, StoreError> {
        let value = self.opt_uuid(group, name)?;
        self.required(group.into(), name, value)
    }

    /// A key column.
    fn key(&self, name: &str) -> Result<Uuid, StoreError> {
        let value = self.opt_uuid_in(None, name)?;
        self.required(None, name, value)
    }

    fn opt_i64<'g>(
        &self,
        group: impl Into<G<'g>> + Copy,
        name: &str,
    ) -> Result<Option<i64>, StoreError> {
        match self.get(group.into(), name)? {
            None => Ok(None),
            Some(Stored::Int(value)) => Ok(Some(value)),
            Some(other) => Err(self.bad_debug(group.into(), name, other)),
        }
    }

    fn i64<'g>(&self, group: impl Into<G<'g>> + Copy, name: &str) -> Result<i64, StoreError> {
        let value = self.opt_i64(group, name)?;
        self.required(group.into(), name, value)
    }

    fn opt_u32<'g>(
        &self,
        group: impl Into<G<'g>> + Copy,
        name: &str,
    ) -> Result<Option<u32>, StoreError> {
        self.opt_i64(group, name)?
            .map(|value| {
                u32::try_from(value).map_err(|_| self.bad_debug(group.into(), name, value))
            })
            .transpose()
    }

    fn u32<'g>(&self, group: impl Into<G<'g>> + Copy, name: &str) -> Result<u32, StoreError> {
        let value = self.opt_u32(group, name)?;
        self.required(group.into(), name, value)
    }

    fn opt_decimal<'g>(
        &self,
        group: impl Into<G<'g>> + Copy,
        name: &str,
    ) -> Result<Option<Decimal>, StoreError> {
        match self.get(group.into(), name)? {
            None => Ok(None),
            Some(Stored::Decimal(value)) => Ok(Some(value)),
            Some(other) => Err(self.bad_debug(group.into(), name, other)),
        }
    }

    fn decimal<'g>(
        &self,
        group: impl Into<G<'g>> + Copy,
        name: &str,
    ) -> Result<Decimal, StoreError> {
        let value = self.opt_decimal(group, name)?;
        self.required(group.into(), name, value)
    }

    fn bool<'g>(&self, group: impl Into<G<'g>> + Copy, name: &str) -> Result<bool, StoreError> {
        match self.get(group.into(), name)? {
            Some(Stored::Bool(value)) => Ok(value),
            other => Err(self.bad_debug(group.into(), name, other)),
        }
    }

    /// A string map; CQL keeps an empty frozen map as no value, so none reads as empty.
    fn text_map<'g>(
        &self,
        group: impl Into<G<'g>> + Copy,
        name: &str,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        match self.get(group.into(), name)? {
            None => Ok(BTreeMap::new()),
            Some(Stored::TextMap(value)) => Ok(value),
            Some(other) => Err(self.bad_debug(group.into(), name, other)),
        }
    }
}

/// A wallet ([`schema::WALLETS`]); `None` until its identity is written.
pub fn wallet(row: &dyn StoredRow) -> Result<Option<WalletRow>, StoreError> {
    use schema::{WALLET_IDENTITY as IDENTITY, WALLET_LIMITS as LIMITS, WALLET_STATUS as STATUS};
    let r = Reader { row };
    if !r.has(&IDENTITY)? {
        return Ok(None);
    }
    r.companion(&STATUS)?;
    r.companion(&LIMITS)?;
    Ok(Some(WalletRow {
        wallet_id: r.key("wallet_id")?,
        tenant: r.text(&IDENTITY, "tenant")?,
        owner: r.text(&IDENTITY, "owner")?,
        kind: r.text(&IDENTITY, "kind")?,
        asset: r.text(&IDENTITY, "asset")?,
        asset_scale: r.u32(&IDENTITY, "asset_scale")?,
        status: r.text(&STATUS, "status")?,
        limits: LimitsRow {
            max_balance: r.opt_decimal(&LIMITS, "max_balance")?,
            daily_debit_limit: r.opt_decimal(&LIMITS, "daily_debit_limit")?,
            per_transaction_max: r.opt_decimal(&LIMITS, "per_transaction_max")?,
            velocity_max_operations: r.opt_u32(&LIMITS, "velocity_max_operations")?,
            velocity_window_ms: r.opt_i64(&LIMITS, "velocity_window_ms")?,
            low_balance_threshold: r.opt_decimal(&LIMITS, "low_balance_threshold")?,
        },
        metadata: r.text_map(&IDENTITY, "metadata")?,
        created_at_ms: r.i64(&IDENTITY, "created_at_ms")?,
        version: r.row_version()?,
    }))
}

/// A balance ([`schema::BALANCES`]); `None` until written.
pub fn balance(row: &dyn StoredRow) -> Result<Option<BalanceRow>, StoreError> {
    use schema::BALANCE;
    let r = Reader { row };
    if !r.has(&BALANCE)? {
        return Ok(None);
    }
    Ok(Some(BalanceRow {
        wallet_id: r.key("wallet_id")?,
        balance: r.decimal(&BALANCE, "balance")?,
        held: r.decimal(&BALANCE, "held")?,
        version: r.row_version()?,
    }))
}

/// A lot ([`schema::LOTS`]); `None` while only its remaining amount has arrived.
pub fn lot(row: &dyn StoredRow) -> Result<Option<LotRow>, StoreError> {
    use schema::{LOT, LOT_REMAINING};
    let r = Reader { row };
    if !r.has(&LOT)? {
        return Ok(None);
    }
    r.companion(&LOT_REMAINING)?;
    Ok(Some(LotRow {
        wallet_id: r.key("wallet_id")?,
        lot_id: r.key("lot_id")?,
        source: r.text(&LOT, "source")?,
        amount: r.decimal(&LOT, "amount")?,
        remaining: r.decimal(&LOT_REMAINING, "remaining")?,
        expires_at_ms: r.opt_i64(&LOT, "expires_at_ms")?,
        created_at_ms: r.i64(&LOT, "created_at_ms")?,
        version: r.row_version()?,
    }))
}

/// A hold ([`schema::HOLDS`]); `None` while only its resolution has arrived.
pub fn hold(row: &dyn StoredRow) -> Result<Option<HoldRow>, StoreError> {
    use schema::{HOLD, HOLD_RESOLUTION as RESOLUTION};
    let r = Reader { row };
    if !r.has(&HOLD)? {
        return Ok(None);
    }
    r.companion(&RESOLUTION)?;
    Ok(Some(HoldRow {
        wallet_id: r.key("wallet_id")?,
        hold_id: r.key("hold_id")?,
        amount: r.decimal(&HOLD, "amount")?,
        captured: r.decimal(&RESOLUTION, "captured")?,
        status: r.text(&RESOLUTION, "status")?,
        expires_at_ms: r.i64(&HOLD, "expires_at_ms")?,
        version: r.row_version()?,
    }))
}

/// A top-up ([`schema::TOP_UPS`]); `None` until its request is written.
pub fn top_up(row: &dyn StoredRow) -> Result<Option<TopUpRow>, StoreError> {
    use schema::{
        TOP_UP_CREDIT as CREDIT, TOP_UP_LATE_CAPTURE as LATE, TOP_UP_REQUEST as REQUEST,
        TOP_UP_STATE as STATE, TOUCH,
    };
    let r = Reader { row };
    if !r.has(&REQUEST)? {
        return Ok(None);
    }
    for group in [&STATE, &CREDIT, &LATE, &TOUCH] {
        r.companion(group)?;
    }
    Ok(Some(TopUpRow {
        top_up_id: r.key("top_up_id")?,
        tenant: r.text(&REQUEST, "tenant")?,
        wallet_id: r.uuid(&REQUEST, "wallet_id")?,
        owner: r.text(&REQUEST, "owner")?,
        kind: r.text(&REQUEST, "kind")?,
        asset: r.text(&REQUEST, "asset")?,
        amount: r.decimal(&REQUEST, "amount")?,
        wallet_amount: r.decimal(&REQUEST, "wallet_amount")?,
        fee: r.decimal(&REQUEST, "fee")?,
        status: r.text(&STATE, "status")?,
        failure_reason: r.opt_text(&STATE, "failure_reason")?,
        payment_id: r.uuid(&REQUEST, "payment_id")?,
        checkout_session_id: r.opt_uuid(&REQUEST, "checkout_session_id")?,
        payment_method_id: r.opt_uuid(&REQUEST, "payment_method_id")?,
        expires_at_ms: r.i64(&REQUEST, "expires_at_ms")?,
        lots_expire_at_ms: r.opt_i64(&REQUEST, "lots_expire_at_ms")?,
        credited: r.decimal(&CREDIT, "credited")?,
        late_capture: r.opt_decimal(&LATE, "late_capture")?,
        created_at_ms: r.i64(&REQUEST, "created_at_ms")?,
        updated_at_ms: r.i64(&TOUCH, "updated_at_ms")?,
        version: r.row_version()?,
    }))
}

/// A payment ([`schema::PAYMENTS`]); `None` until its creating write has arrived.
pub fn payment(row: &dyn StoredRow) -> Result<Option<PaymentRow>, StoreError> {
    use schema::{
        PAYMENT_CARD as CARD, PAYMENT_CREATED as CREATED, PAYMENT_REFUNDS as REFUNDS,
        PAYMENT_RESOLUTION as RESOLUTION, PAYMENT_STATE as STATE, TOUCH,
    };
    let r = Reader { row };
    if !r.has(&CREATED)? {
        return Ok(None);
    }
    for group in [&STATE, &CARD, &RESOLUTION, &REFUNDS, &TOUCH] {
        r.companion(group)?;
    }
    Ok(Some(PaymentRow {
        payment_id: r.key("payment_id")?,
        tenant: r.text(&CREATED, "tenant")?,
        owner: r.text(&CREATED, "owner")?,
        asset: r.text(&CREATED, "asset")?,
        amount: r.decimal(&CREATED, "amount")?,
        status: r.text(&STATE, "status")?,
        top_up_id: r.opt_uuid(&CREATED, "top_up_id")?,
        // A submission that names a stored card says which one was charged.
        payment_method_id: r
            .opt_uuid(&CARD, "payment_method_id")?
            .or(r.opt_uuid(&CREATED, "payment_method_id")?),
        card_brand: r.opt_text(&CARD, "brand")?,
        card_last4: r.opt_text(&CARD, "last4")?,
        card_exp_month: r.opt_u32(&CARD, "exp_month")?,
        card_exp_year: r.opt_u32(&CARD, "exp_year")?,
        decline_reason: r.opt_text(&RESOLUTION, "decline_reason")?,
        cancel_reason: r.opt_text(&RESOLUTION, "cancel_reason")?,
        captured: r.opt_decimal(&STATE, "captured")?,
        refunded: r.opt_decimal(&REFUNDS, "refunded")?,
        created_at_ms: r.i64(&CREATED, "created_at_ms")?,
        updated_at_ms: r.i64(&TOUCH, "updated_at_ms")?,
        version: r.row_version()?,
    }))
}

/// A stored card ([`schema::PAYMENT_METHODS`]); `None` while only its removal has arrived.
pub fn payment_method(row: &dyn StoredRow) -> Result<Option<PaymentMethodRow>, StoreError> {
    use schema::{PAYMENT_METHOD_CARD as CARD, REMOVAL};
    let r = Reader { row };
    if !r.has(&CARD)? {
        return Ok(None);
    }
    r.companion(&REMOVAL)?;
    Ok(Some(PaymentMethodRow {
        tenant: r.text(&CARD, "tenant")?,
        owner: r.text(&CARD, "owner")?,
        payment_method_id: r.key("payment_method_id")?,
        brand: r.text(&CARD, "brand")?,
        last4: r.text(&CARD, "last4")?,
        exp_month: r.u32(&CARD, "exp_month")?,
        exp_year: r.u32(&CARD, "exp_year")?,
        created_at_ms: r.i64(&CARD, "created_at_ms")?,
        removed: r.bool(&REMOVAL, "removed")?,
        version: r.row_version()?,
    }))
}

/// An auto top-up rule with what the saga last reported ([`schema::AUTO_TOP_UP_RULES`]); `None`
/// while only its removal or activity has arrived. An activity group never written reads as
/// nothing recorded (no failure, no back-off, no cap).
pub fn auto_top_up_rule(row: &dyn StoredRow) -> Result<Option<AutoTopUpRuleRow>, StoreError> {
    use schema::{
        AUTO_TOP_UP_BACKOFF as BACKOFF, AUTO_TOP_UP_CAP as CAP, AUTO_TOP_UP_FAILURE as FAILURE,
        AUTO_TOP_UP_RULE as RULE, REMOVAL,
    };
    let r = Reader { row };
    if !r.has(&RULE)? {
        return Ok(None);
    }
    r.companion(&REMOVAL)?;
    let last_failure = if r.has(&FAILURE)? {
        Some(AutoTopUpFailureRow {
            top_up_id: r.uuid(&FAILURE, "top_up_id")?,
            reason: r.text(&FAILURE, "reason")?,
            failed_at_ms: r.i64(&FAILURE, "failed_at_ms")?,
        })
    } else {
        None
    };
    let backed_off = r.has(&BACKOFF)?;
    let activity = AutoTopUpActivityRow {
        consecutive_failures: if backed_off {
            r.u32(&BACKOFF, "consecutive_failures")?
        } else {
            0
        },
        backoff_until_ms: r.opt_i64(&BACKOFF, "backoff_until_ms")?,
        last_failure,
        daily_cap_reached_until_ms: if r.has(&CAP)? {
            Some(r.i64(&CAP, "reached_until_ms")?)
        } else {
            None
        },
    };
    Ok(Some(AutoTopUpRuleRow {
        wallet_id: r.key("wallet_id")?,
        tenant: r.text(&RULE, "tenant")?,
        owner: r.text(&RULE, "owner")?,
        asset: r.text(&RULE, "asset")?,
        threshold: r.decimal(&RULE, "threshold")?,
        amount: r.opt_decimal(&RULE, "amount")?,
        target_balance: r.opt_decimal(&RULE, "target_balance")?,
        payment_method_id: r.uuid(&RULE, "payment_method_id")?,
        daily_max_count: r.u32(&RULE, "daily_max_count")?,
        daily_max_amount: r.opt_decimal(&RULE, "daily_max_amount")?,
        backoff_ms: r.i64(&RULE, "backoff_ms")?,
        fee_rate: r.decimal(&RULE, "fee_rate")?,
        timeout_ms: r.i64(&RULE, "timeout_ms")?,
        removed: r.bool(&REMOVAL, "removed")?,
        updated_at_ms: r.i64(&RULE, "updated_at_ms")?,
        activity,
        version: r.row_version()?,
    }))
}
