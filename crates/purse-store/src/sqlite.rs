//! The embedded read-model store: one SQLite file in WAL mode.
//!
//! Writes run on one connection behind a mutex, in the blocking pool, one transaction per
//! [`ReadStore::apply`]. Reads run on their own connections (WAL lets them proceed while a write
//! is in progress). Each group of columns that some write updates on its own carries its own
//! version column, which is how per-cell `USING TIMESTAMP` semantics are emulated.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, Row, TransactionBehavior, params, params_from_iter};
use uuid::Uuid;

use crate::decode::{self, Stored, StoredRecord, StoredRow};
use crate::page::{PageToken, resolve_page_size};
use crate::schema::{
    self, AUTO_TOP_UP_RULES, BALANCES, CHECKPOINTS, Column, ColumnType, Group, HISTORY, HOLDS,
    LOTS, PAYMENT_METHODS, PAYMENTS, Record, STREAM_POSITIONS, TOP_UPS, Table, WALLETS,
};
use crate::{
    AutoTopUpRuleRow, BalanceRow, Checkpoint, Decimal, HistoryFilter, HistoryRow, HoldRow,
    LimitsRow, LotRow, Page, PageRequest, PaymentMethodRow, PaymentRow, ReadStore, RowWrite,
    StoreError, StreamPosition, TopUpRow, WalletRow,
};

/// Schema version this build writes (`PRAGMA user_version`): the number of [`MIGRATIONS`].
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;
/// How long a connection waits on SQLite's file lock; only matters while another handle on the
/// same file (a previous instance still closing) holds it.
const BUSY_TIMEOUT_MS: u64 = 5_000;
/// Idle read connections kept open.
const READERS_IDLE_MAX: usize = 4;
/// Stream ids looked up per query, well under SQLite's bound-parameter limit.
const STREAM_IDS_PER_QUERY: usize = 500;

/// The embedded [`ReadStore`].
#[derive(Clone)]
pub struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Readers>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.readers.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store file at `path`.
    ///
    /// Synchronous: it does blocking file I/O, once, at start-up.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::WalUnavailable { mode });
        }
        // NORMAL in WAL mode survives a killed process and keeps the file consistent on power
        // loss; the last transactions may then be lost, but rows and checkpoints go together,
        // so the projector simply re-projects from the older checkpoint. No fsync per apply.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            writer: Arc::new(Mutex::new(conn)),
            readers: Arc::new(Readers {
                path: path.to_owned(),
                idle: Mutex::new(Vec::new()),
            }),
        })
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        blocking(move || {
            let conn = readers.take()?;
            let result = f(&conn);
            readers.give_back(conn);
            result
        })
        .await
    }
}

impl SqliteStore {
    /// The created row of `table` whose (single-column) key is `key`.
    async fn get_by_key<T: Send + 'static>(
        &self,
        table: &'static Table,
        key: Uuid,
        decode: fn(&dyn StoredRow) -> Result<Option<T>, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        self.read(move |conn| {
            let sql = table.sqlite_select_by_key();
            Ok(query_rows(conn, table, &sql, [key.to_string()], decode)?.pop())
        })
        .await
    }
}

async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        // A panic in a query is a bug: surface it where it happened rather than as an error.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(StoreError::Closed),
    }
}

/// A small pool of read-only connections.
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    fn take(&self) -> Result<Connection, StoreError> {
        if let Some(conn) = lock(&self.idle).pop() {
            return Ok(conn);
        }
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))?;
        // Readers must never write, even by mistake.
        conn.pragma_update(None, "query_only", true)?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = lock(&self.idle);
        if idle.len() < READERS_IDLE_MAX {
            idle.push(conn);
        }
    }
}

/// A poisoned lock here guards a connection or a list of them, which a panic cannot leave
/// half-updated (an open transaction rolls back when dropped), so it is safe to keep using.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The schema, step by step: step `n` takes a file from `user_version` n − 1 to n. A released step
/// is never edited (files at its version would not get the change): changes are a new step.
///
/// Columns written by a partial write (only its own group) are nullable; a row whose
/// `row_version` is NULL has not been created yet and is not shown.
const MIGRATIONS: [&str; 4] = [
    // 1: wallets, balances, history, lots, holds, stream positions, checkpoints.
    "CREATE TABLE IF NOT EXISTS wallets (
             wallet_id TEXT PRIMARY KEY NOT NULL,
             tenant TEXT,
             owner TEXT,
             kind TEXT,
             asset TEXT,
             asset_scale INTEGER,
             metadata TEXT,
             created_at_ms INTEGER,
             row_version INTEGER,
             status TEXT,
             status_version INTEGER,
             max_balance TEXT,
             daily_debit_limit TEXT,
             per_transaction_max TEXT,
             velocity_max_operations INTEGER,
             velocity_window_ms INTEGER,
             low_balance_threshold TEXT,
             limits_version INTEGER
         ) STRICT;
         CREATE INDEX IF NOT EXISTS wallets_by_owner ON wallets (tenant, owner, wallet_id);
         CREATE TABLE IF NOT EXISTS balances (
             wallet_id TEXT PRIMARY KEY NOT NULL,
             balance TEXT NOT NULL,
             held TEXT NOT NULL,
             version INTEGER NOT NULL
         ) STRICT;
         CREATE TABLE IF NOT EXISTS history (
             wallet_id TEXT NOT NULL,
             sequence INTEGER NOT NULL,
             entry_id TEXT NOT NULL,
             entry_type TEXT NOT NULL,
             amount TEXT NOT NULL,
             balance_after TEXT NOT NULL,
             lots TEXT NOT NULL,
             reference TEXT NOT NULL,
             description TEXT NOT NULL,
             detail TEXT NOT NULL,
             hold_id TEXT,
             occurred_at_ms INTEGER NOT NULL,
             PRIMARY KEY (wallet_id, sequence)
         ) STRICT, WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS lots (
             wallet_id TEXT NOT NULL,
             lot_id TEXT NOT NULL,
             source TEXT,
             amount TEXT,
             expires_at_ms INTEGER,
             created_at_ms INTEGER,
             row_version INTEGER,
             remaining TEXT,
             remaining_version INTEGER,
             PRIMARY KEY (wallet_id, lot_id)
         ) STRICT, WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS holds (
             wallet_id TEXT NOT NULL,
             hold_id TEXT NOT NULL,
             amount TEXT,
             expires_at_ms INTEGER,
             row_version INTEGER,
             status TEXT,
             captured TEXT,
             resolution_version INTEGER,
             PRIMARY KEY (wallet_id, hold_id)
         ) STRICT, WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS stream_positions (
             stream_id TEXT PRIMARY KEY NOT NULL,
             sequence INTEGER NOT NULL,
             event_id TEXT NOT NULL
         ) STRICT, WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS checkpoints (
             projector TEXT NOT NULL,
             topic TEXT NOT NULL,
             \"partition\" INTEGER NOT NULL,
             next_offset INTEGER NOT NULL,
             PRIMARY KEY (projector, topic, \"partition\")
         ) STRICT, WITHOUT ROWID;",
    // 2: top-ups, payments, stored payment methods, auto top-up rules.
    "CREATE TABLE IF NOT EXISTS top_ups (
         top_up_id TEXT PRIMARY KEY NOT NULL,
         tenant TEXT,
         wallet_id TEXT,
         owner TEXT,
         kind TEXT,
         asset TEXT,
         amount TEXT,
         wallet_amount TEXT,
         fee TEXT,
         payment_id TEXT,
         checkout_session_id TEXT,
         payment_method_id TEXT,
         expires_at_ms INTEGER,
         lots_expire_at_ms INTEGER,
         created_at_ms INTEGER,
         row_version INTEGER,
         status TEXT,
         failure_reason TEXT,
         status_version INTEGER,
         credited TEXT,
         credited_version INTEGER,
         late_capture TEXT,
         late_capture_version INTEGER,
         updated_at_ms INTEGER,
         updated_version INTEGER
     ) STRICT;
     CREATE INDEX IF NOT EXISTS top_ups_by_wallet ON top_ups (wallet_id, top_up_id);
     CREATE INDEX IF NOT EXISTS top_ups_by_checkout_session
         ON top_ups (checkout_session_id) WHERE checkout_session_id IS NOT NULL;
     CREATE TABLE IF NOT EXISTS payments (
         payment_id TEXT PRIMARY KEY NOT NULL,
         tenant TEXT,
         owner TEXT,
         asset TEXT,
         amount TEXT,
         top_up_id TEXT,
         created_payment_method_id TEXT,
         created_at_ms INTEGER,
         row_version INTEGER,
         status TEXT,
         captured TEXT,
         status_version INTEGER,
         card_brand TEXT,
         card_last4 TEXT,
         card_exp_month INTEGER,
         card_exp_year INTEGER,
         card_payment_method_id TEXT,
         card_version INTEGER,
         decline_reason TEXT,
         cancel_reason TEXT,
         resolution_version INTEGER,
         refunded TEXT,
         refunded_version INTEGER,
         updated_at_ms INTEGER,
         updated_version INTEGER
     ) STRICT;
     CREATE TABLE IF NOT EXISTS payment_methods (
         payment_method_id TEXT PRIMARY KEY NOT NULL,
         tenant TEXT,
         owner TEXT,
         brand TEXT,
         last4 TEXT,
         exp_month INTEGER,
         exp_year INTEGER,
         created_at_ms INTEGER,
         row_version INTEGER,
         removed INTEGER,
         removal_version INTEGER
     ) STRICT;
     CREATE INDEX IF NOT EXISTS payment_methods_by_owner
         ON payment_methods (tenant, owner, payment_method_id);
     CREATE TABLE IF NOT EXISTS auto_top_up_rules (
         wallet_id TEXT PRIMARY KEY NOT NULL,
         tenant TEXT,
         owner TEXT,
         asset TEXT,
         threshold TEXT,
         amount TEXT,
         target_balance TEXT,
         payment_method_id TEXT,
         daily_max_count INTEGER,
         daily_max_amount TEXT,
         backoff_ms INTEGER,
         fee_rate TEXT,
         timeout_ms INTEGER,
         updated_at_ms INTEGER,
         row_version INTEGER,
         removed INTEGER,
         removal_version INTEGER
     ) STRICT;",
    // 3: top-ups listed by creation time (their ids derive from idempotency keys, so the id
    // index of step 2 gave a random order); what the auto top-up saga last reported: the latest
    // failure, the back-off and the daily cap, each its own group.
    "CREATE INDEX IF NOT EXISTS top_ups_by_wallet_created
         ON top_ups (wallet_id, created_at_ms, top_up_id);
     DROP INDEX IF EXISTS top_ups_by_wallet;
     ALTER TABLE auto_top_up_rules ADD COLUMN last_failure_top_up_id TEXT;
     ALTER TABLE auto_top_up_rules ADD COLUMN last_failure_reason TEXT;
     ALTER TABLE auto_top_up_rules ADD COLUMN last_failed_at_ms INTEGER;
     ALTER TABLE auto_top_up_rules ADD COLUMN failure_version INTEGER;
     ALTER TABLE auto_top_up_rules ADD COLUMN consecutive_failures INTEGER;
     ALTER TABLE auto_top_up_rules ADD COLUMN backoff_until_ms INTEGER;
     ALTER TABLE auto_top_up_rules ADD COLUMN backoff_version INTEGER;
     ALTER TABLE auto_top_up_rules ADD COLUMN cap_reached_until_ms INTEGER;
     ALTER TABLE auto_top_up_rules ADD COLUMN cap_version INTEGER;",
    // 4: what was held after each history entry (GetBalance as of an instant). Entries projected
    // before this step have none until the read models are rebuilt (docs/runbook.md).
    "ALTER TABLE history ADD COLUMN held_after TEXT;",
];

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::UnsupportedSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    // All pending steps and the new version in one transaction: a crash leaves the file at its
    // old version with none of them applied, so each step runs exactly once per file (which the
    // ALTER TABLEs of step 3, unlike CREATE ... IF NOT EXISTS, rely on).
    let tx = conn.transaction()?;
    for step in &MIGRATIONS[usize::try_from(found).unwrap_or(0)..] {
        tx.execute_batch(step)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

// ---- encoding -------------------------------------------------------------------------------

/// Versions, sequences and offsets are u64 in the API and signed in SQLite.
fn to_sql_int(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange { value })
}

fn text(value: impl ToString) -> Value {
    Value::Text(value.to_string())
}

fn opt_text(value: Option<impl ToString>) -> Value {
    value.map_or(Value::Null, text)
}

fn opt_int(value: Option<impl Into<i64>>) -> Value {
    value.map_or(Value::Null, |v| Value::Integer(v.into()))
}

/// Lots as a JSON array of `[lot id, amount]` pairs; amounts as strings to keep their scale.
fn lots_json(lots: &[(Uuid, Decimal)]) -> String {
    serde_json::Value::Array(
        lots.iter()
            .map(|(lot, amount)| serde_json::Value::from(vec![lot.to_string(), amount.to_string()]))
            .collect(),
    )
    .to_string()
}

fn metadata_json(metadata: &std::collections::BTreeMap<String, String>) -> String {
    serde_json::Value::Object(
        metadata
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
            .collect(),
    )
    .to_string()
}

// ---- decoding -------------------------------------------------------------------------------

/// A SQLite value as the logical type `ty` declares; `Err` with the value when it is not one.
fn stored(ty: ColumnType, raw: Value) -> Result<Option<Stored>, Value> {
    Ok(Some(match (ty, raw) {
        (_, Value::Null) => return Ok(None),
        (ColumnType::Text, Value::Text(value)) => Stored::Text(value),
        (ColumnType::Uuid, Value::Text(value)) => match Uuid::parse_str(&value) {
            Ok(id) => Stored::Uuid(id),
            Err(_) => return Err(Value::Text(value)),
        },
        (ColumnType::Decimal, Value::Text(value)) => match value.parse() {
            Ok(decimal) => Stored::Decimal(decimal),
            Err(_) => return Err(Value::Text(value)),
        },
        (ColumnType::BigInt | ColumnType::Int, Value::Integer(value)) => Stored::Int(value),
        (ColumnType::Bool, Value::Integer(value @ (0 | 1))) => Stored::Bool(value == 1),
        (ColumnType::TextMap, Value::Text(json)) => match serde_json::from_str(&json) {
            Ok(map) => Stored::TextMap(map),
            Err(_) => return Err(Value::Text(json)),
        },
        (ColumnType::LotAmounts, Value::Text(json)) => match parse_lots(&json) {
            Some(lots) => Stored::LotAmounts(lots),
            None => return Err(Value::Text(json)),
        },
        (_, other) => return Err(other),
    }))
}

/// [`lots_json`] read back.
fn parse_lots(json: &str) -> Option<Vec<(Uuid, Decimal)>> {
    let pairs: Vec<(String, String)> = serde_json::from_str(json).ok()?;
    pairs
        .into_iter()
        .map(|(lot, amount)| Some((Uuid::parse_str(&lot).ok()?, amount.parse().ok()?)))
        .collect()
}

/// A result row of a [`Record::sqlite_select`], read by the record's declaration.
struct SqliteRecordRow<'a, 'r> {
    record: &'static Record,
    row: &'a Row<'r>,
}

impl StoredRecord for SqliteRecordRow<'_, '_> {
    fn record(&self) -> &'static Record {
        self.record
    }

    fn value(&self, column: &Column) -> Result<Option<Stored>, StoreError> {
        let Some(position) = self.record.sqlite_position(column.name) else {
            panic!("{}: {} is not declared", self.record.sqlite, column.name);
        };
        stored(column.ty, self.row.get(position)?)
            .map_err(|raw| self.corrupt(column, format!("{raw:?}")))
    }

    fn corrupt(&self, column: &Column, found: String) -> StoreError {
        StoreError::Corrupt {
            table: self.record.sqlite,
            column: column.sqlite,
            value: found,
        }
    }
}

/// Runs a [`Record::sqlite_select`] and decodes every row with `decode`.
fn query_records<T>(
    conn: &Connection,
    record: &'static Record,
    sql: &str,
    params: impl rusqlite::Params,
    decode: fn(&dyn StoredRecord) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    query_all(conn, sql, params, |row| {
        decode(&SqliteRecordRow { record, row })
    })
}

/// A result row of a [`Table::sqlite_select`], read by the table's declaration.
struct SqliteRow<'a, 'r> {
    table: &'static Table,
    row: &'a Row<'r>,
}

impl SqliteRow<'_, '_> {
    /// Where the select put the `index`-th declared column of `group` (the version at
    /// `index` = the column count).
    fn position(&self, group: Option<&Group>, index: usize) -> usize {
        match self.table.sqlite_position(group, index) {
            Some(position) => position,
            None => panic!("{}: a group of another table", self.table.sqlite),
        }
    }
}

impl StoredRow for SqliteRow<'_, '_> {
    fn table(&self) -> &'static Table {
        self.table
    }

    fn value(&self, group: Option<&Group>, column: &Column) -> Result<Option<Stored>, StoreError> {
        let columns = group.map_or(self.table.keys, |group| group.columns);
        let index = columns
            .iter()
            .position(|declared| declared == column)
            .unwrap_or(columns.len());
        stored(column.ty, self.row.get(self.position(group, index))?)
            .map_err(|raw| self.corrupt(group, Some(column), format!("{raw:?}")))
    }

    fn version(&self, group: &Group) -> Result<Option<u64>, StoreError> {
        let version: Option<i64> = self
            .row
            .get(self.position(Some(group), group.columns.len()))?;
        version
            .map(|v| u64::try_from(v).map_err(|_| self.corrupt(Some(group), None, v.to_string())))
            .transpose()
    }

    fn corrupt(&self, group: Option<&Group>, column: Option<&Column>, found: String) -> StoreError {
        StoreError::Corrupt {
            table: self.table.sqlite,
            column: column
                .map(|column| column.sqlite)
                .or(group.map(|group| group.sqlite_version))
                .unwrap_or(self.table.sqlite),
            value: found,
        }
    }
}

/// Runs a [`Table::sqlite_select`] and decodes the created rows with `decode`.
fn query_rows<T>(
    conn: &Connection,
    table: &'static Table,
    sql: &str,
    params: impl rusqlite::Params,
    decode: fn(&dyn StoredRow) -> Result<Option<T>, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let rows = query_all(conn, sql, params, |row| decode(&SqliteRow { table, row }))?;
    Ok(rows.into_iter().flatten().collect())
}

/// Runs a query and decodes every row.
fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    decode: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    let mut items = Vec::new();
    while let Some(row) = rows.next()? {
        items.push(decode(row)?);
    }
    Ok(items)
}

// ---- writes ---------------------------------------------------------------------------------

/// Writes one group of a row of `table` (the [`Group::sqlite_upsert`]): `keys` and `values` in
/// the declaration's order.
fn upsert(
    tx: &rusqlite::Transaction<'_>,
    table: &Table,
    group: &Group,
    keys: &[Value],
    version: u64,
    values: &[Value],
) -> Result<(), StoreError> {
    debug_assert_eq!(keys.len(), table.keys.len(), "keys of {}", table.sqlite);
    debug_assert_eq!(
        values.len(),
        group.columns.len(),
        "columns of {}",
        group.cql_udt
    );
    let bound = keys
        .iter()
        .chain(values)
        .cloned()
        .chain(std::iter::once(Value::Integer(to_sql_int(version)?)));
    tx.prepare_cached(&group.sqlite_upsert(table))?
        .execute(params_from_iter(bound))?;
    Ok(())
}

/// The [`schema::WALLET_LIMITS`] columns.
fn limits_values(limits: &LimitsRow) -> [Value; 6] {
    [
        opt_text(limits.max_balance),
        opt_text(limits.daily_debit_limit),
        opt_text(limits.per_transaction_max),
        opt_int(limits.velocity_max_operations),
        opt_int(limits.velocity_window_ms),
        opt_text(limits.low_balance_threshold),
    ]
}

fn apply_write(tx: &rusqlite::Transaction<'_>, write: &RowWrite) -> Result<(), StoreError> {
    use schema::{
        AUTO_TOP_UP_CAP, AUTO_TOP_UP_FAILURE, AUTO_TOP_UP_RULE, AUTO_TOP_UP_RULES, BALANCE,
        BALANCES, HOLD, HOLD_RESOLUTION, HOLDS, LOT, LOT_REMAINING, LOTS, PAYMENT_CARD,
        PAYMENT_CREATED, PAYMENT_METHOD_CARD, PAYMENT_METHODS, PAYMENT_REFUNDS, PAYMENT_RESOLUTION,
        PAYMENT_STATE, PAYMENTS, REMOVAL, TOP_UP_CREDIT, TOP_UP_LATE_CAPTURE, TOP_UP_REQUEST,
        TOP_UP_STATE, TOP_UPS, WALLET_IDENTITY, WALLET_LIMITS, WALLET_STATUS, WALLETS,
    };
    match write {
        RowWrite::Wallet(wallet) => {
            let key = [text(wallet.wallet_id)];
            let v = wallet.version;
            upsert(
                tx,
                &WALLETS,
                &WALLET_IDENTITY,
                &key,
                v,
                &[
                    text(&wallet.tenant),
                    text(&wallet.owner),
                    text(&wallet.kind),
                    text(&wallet.asset),
                    Value::Integer(wallet.asset_scale.into()),
                    Value::Text(metadata_json(&wallet.metadata)),
                    Value::Integer(wallet.created_at_ms),
                ],
            )?;
            upsert(
                tx,
                &WALLETS,
                &WALLET_STATUS,
                &key,
                v,
                &[text(&wallet.status)],
            )?;
            upsert(
                tx,
                &WALLETS,
                &WALLET_LIMITS,
                &key,
                v,
                &limits_values(&wallet.limits),
            )
        }
        RowWrite::WalletStatus {
            wallet_id,
            status,
            version,
        } => upsert(
            tx,
            &WALLETS,
            &WALLET_STATUS,
            &[text(wallet_id)],
            *version,
            &[text(status)],
        ),
        RowWrite::WalletLimits {
            wallet_id,
            limits,
            version,
        } => upsert(
            tx,
            &WALLETS,
            &WALLET_LIMITS,
            &[text(wallet_id)],
            *version,
            &limits_values(limits),
        ),
        RowWrite::Balance(balance) => upsert(
            tx,
            &BALANCES,
            &BALANCE,
            &[text(balance.wallet_id)],
            balance.version,
            &[text(balance.balance), text(balance.held)],
        ),
        RowWrite::History(entry) => {
            tx.prepare_cached(&schema::HISTORY.sqlite_insert())?
                .execute(params![
                    entry.wallet_id.to_string(),
                    to_sql_int(entry.sequence)?,
                    entry.entry_id.to_string(),
                    entry.entry_type.as_str(),
                    entry.amount.to_string(),
                    entry.balance_after.to_string(),
                    lots_json(&entry.lots),
                    entry.reference,
                    entry.description,
                    entry.detail,
                    entry.hold_id.map(|id| id.to_string()),
                    entry.occurred_at_ms,
                    entry.held_after.map(|held| held.to_string()),
                ])?;
            Ok(())
        }
        RowWrite::Lot(lot) => {
            let key = [text(lot.wallet_id), text(lot.lot_id)];
            upsert(
                tx,
                &LOTS,
                &LOT,
                &key,
                lot.version,
                &[
                    text(&lot.source),
                    text(lot.amount),
                    opt_int(lot.expires_at_ms),
                    Value::Integer(lot.created_at_ms),
                ],
            )?;
            upsert(
                tx,
                &LOTS,
                &LOT_REMAINING,
                &key,
                lot.version,
                &[text(lot.remaining)],
            )
        }
        RowWrite::LotRemaining {
            wallet_id,
            lot_id,
            remaining,
            version,
        } => upsert(
            tx,
            &LOTS,
            &LOT_REMAINING,
            &[text(wallet_id), text(lot_id)],
            *version,
            &[text(remaining)],
        ),
        RowWrite::Hold(hold) => {
            let key = [text(hold.wallet_id), text(hold.hold_id)];
            upsert(
                tx,
                &HOLDS,
                &HOLD,
                &key,
                hold.version,
                &[text(hold.amount), Value::Integer(hold.expires_at_ms)],
            )?;
            upsert(
                tx,
                &HOLDS,
                &HOLD_RESOLUTION,
                &key,
                hold.version,
                &[text(&hold.status), text(hold.captured)],
            )
        }
        RowWrite::HoldResolved {
            wallet_id,
            hold_id,
            status,
            captured,
            version,
        } => upsert(
            tx,
            &HOLDS,
            &HOLD_RESOLUTION,
            &[text(wallet_id), text(hold_id)],
            *version,
            &[text(status), text(captured)],
        ),
        RowWrite::StreamPosition(position) => {
            // The sequence is both the value and the version: first writer wins per sequence.
            tx.prepare_cached(&schema::STREAM_POSITIONS.sqlite_insert())?
                .execute(params![
                    position.stream_id,
                    to_sql_int(position.sequence)?,
                    position.event_id
                ])?;
            Ok(())
        }
        RowWrite::TopUp(top_up) => {
            let key = [text(top_up.top_up_id)];
            let v = top_up.version;
            upsert(
                tx,
                &TOP_UPS,
                &TOP_UP_REQUEST,
                &key,
                v,
                &[
                    text(&top_up.tenant),
                    text(top_up.wallet_id),
                    text(&top_up.owner),
                    text(&top_up.kind),
                    text(&top_up.asset),
                    text(top_up.amount),
                    text(top_up.wallet_amount),
                    text(top_up.fee),
                    text(top_up.payment_id),
                    opt_text(top_up.checkout_session_id),
                    opt_text(top_up.payment_method_id),
                    Value::Integer(top_up.expires_at_ms),
                    opt_int(top_up.lots_expire_at_ms),
                    Value::Integer(top_up.created_at_ms),
                ],
            )?;
            upsert(
                tx,
                &TOP_UPS,
                &TOP_UP_STATE,
                &key,
                v,
                &[
                    text(&top_up.status),
                    opt_text(top_up.failure_reason.as_ref()),
                ],
            )?;
            upsert(
                tx,
                &TOP_UPS,
                &TOP_UP_CREDIT,
                &key,
                v,
                &[text(top_up.credited)],
            )?;
            upsert(
                tx,
                &TOP_UPS,
                &TOP_UP_LATE_CAPTURE,
                &key,
                v,
                &[opt_text(top_up.late_capture)],
            )?;
            touch(tx, &TOP_UPS, &key, top_up.updated_at_ms, v)
        }
        RowWrite::TopUpStatus {
            top_up_id,
            status,
            failure_reason,
            credited,
            updated_at_ms,
            version,
        } => {
            let key = [text(top_up_id)];
            upsert(
                tx,
                &TOP_UPS,
                &TOP_UP_STATE,
                &key,
                *version,
                &[text(status), opt_text(failure_reason.as_ref())],
            )?;
            if let Some(credited) = credited {
                upsert(
                    tx,
                    &TOP_UPS,
                    &TOP_UP_CREDIT,
                    &key,
                    *version,
                    &[text(credited)],
                )?;
            }
            touch(tx, &TOP_UPS, &key, *updated_at_ms, *version)
        }
        RowWrite::TopUpLateCapture {
            top_up_id,
            late_capture,
            updated_at_ms,
            version,
        } => {
            let key = [text(top_up_id)];
            upsert(
                tx,
                &TOP_UPS,
                &TOP_UP_LATE_CAPTURE,
                &key,
                *version,
                &[text(late_capture)],
            )?;
            touch(tx, &TOP_UPS, &key, *updated_at_ms, *version)
        }
        RowWrite::Payment(payment) => {
            let key = [text(payment.payment_id)];
            let v = payment.version;
            upsert(
                tx,
                &PAYMENTS,
                &PAYMENT_CREATED,
                &key,
                v,
                &[
                    text(&payment.tenant),
                    text(&payment.owner),
                    text(&payment.asset),
                    text(payment.amount),
                    opt_text(payment.top_up_id),
                    opt_text(payment.payment_method_id),
                    Value::Integer(payment.created_at_ms),
                ],
            )?;
            upsert(
                tx,
                &PAYMENTS,
                &PAYMENT_STATE,
                &key,
                v,
                &[text(&payment.status), opt_text(payment.captured)],
            )?;
            upsert(
                tx,
                &PAYMENTS,
                &PAYMENT_CARD,
                &key,
                v,
                &[
                    opt_text(payment.card_brand.as_ref()),
                    opt_text(payment.card_last4.as_ref()),
                    opt_int(payment.card_exp_month),
                    opt_int(payment.card_exp_year),
                    // The creating write's stored card is kept in its own column; this one holds
                    // only what a submission names.
                    Value::Null,
                ],
            )?;
            upsert(
                tx,
                &PAYMENTS,
                &PAYMENT_RESOLUTION,
                &key,
                v,
                &[
                    opt_text(payment.decline_reason.as_ref()),
                    opt_text(payment.cancel_reason.as_ref()),
                ],
            )?;
            upsert(
                tx,
                &PAYMENTS,
                &PAYMENT_REFUNDS,
                &key,
                v,
                &[opt_text(payment.refunded)],
            )?;
            touch(tx, &PAYMENTS, &key, payment.updated_at_ms, v)
        }
        RowWrite::PaymentStatus {
            payment_id,
            status,
            captured,
            updated_at_ms,
            version,
        } => {
            let key = [text(payment_id)];
            upsert(
                tx,
                &PAYMENTS,
                &PAYMENT_STATE,
                &key,
                *version,
                &[text(status), opt_text(*captured)],
            )?;
            touch(tx, &PAYMENTS, &key, *updated_at_ms, *version)
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
            let key = [text(payment_id)];
            upsert(
                tx,
                &PAYMENTS,
                &PAYMENT_CARD,
                &key,
                *version,
                &[
                    text(brand),
                    text(last4),
                    Value::Integer((*exp_month).into()),
                    Value::Integer((*exp_year).into()),
                    opt_text(*payment_method_id),
                ],
            )?;
            touch(tx, &PAYMENTS, &key, *updated_at_ms, *version)
        }
        RowWrite::PaymentResolution {
            payment_id,
            decline_reason,
            cancel_reason,
            updated_at_ms,
            version,
        } => {
            let key = [text(payment_id)];
            upsert(
                tx,
                &PAYMENTS,
                &PAYMENT_RESOLUTION,
                &key,
                *version,
                &[
                    opt_text(decline_reason.as_ref()),
                    opt_text(cancel_reason.as_ref()),
                ],
            )?;
            touch(tx, &PAYMENTS, &key, *updated_at_ms, *version)
        }
        RowWrite::PaymentRefunded {
            payment_id,
            refunded,
            updated_at_ms,
            version,
        } => {
            let key = [text(payment_id)];
            upsert(
                tx,
                &PAYMENTS,
                &PAYMENT_REFUNDS,
                &key,
                *version,
                &[text(refunded)],
            )?;
            touch(tx, &PAYMENTS, &key, *updated_at_ms, *version)
        }
        RowWrite::PaymentMethod(method) => {
            let key = [text(method.payment_method_id)];
            upsert(
                tx,
                &PAYMENT_METHODS,
                &PAYMENT_METHOD_CARD,
                &key,
                method.version,
                &[
                    text(&method.tenant),
                    text(&method.owner),
                    text(&method.brand),
                    text(&method.last4),
                    Value::Integer(method.exp_month.into()),
                    Value::Integer(method.exp_year.into()),
                    Value::Integer(method.created_at_ms),
                ],
            )?;
            upsert(
                tx,
                &PAYMENT_METHODS,
                &REMOVAL,
                &key,
                method.version,
                &[Value::Integer(method.removed.into())],
            )
        }
        RowWrite::PaymentMethodRemoved {
            payment_method_id,
            version,
        } => upsert(
            tx,
            &PAYMENT_METHODS,
            &REMOVAL,
            &[text(payment_method_id)],
            *version,
            &[Value::Integer(1)],
        ),
        RowWrite::AutoTopUpRule(rule) => {
            let key = [text(rule.wallet_id)];
            upsert(
                tx,
                &AUTO_TOP_UP_RULES,
                &AUTO_TOP_UP_RULE,
                &key,
                rule.version,
                &[
                    text(&rule.tenant),
                    text(&rule.owner),
                    text(&rule.asset),
                    text(rule.threshold),
                    opt_text(rule.amount),
                    opt_text(rule.target_balance),
                    text(rule.payment_method_id),
                    Value::Integer(rule.daily_max_count.into()),
                    opt_text(rule.daily_max_amount),
                    Value::Integer(rule.backoff_ms),
                    text(rule.fee_rate),
                    Value::Integer(rule.timeout_ms),
                    Value::Integer(rule.updated_at_ms),
                ],
            )?;
            upsert(
                tx,
                &AUTO_TOP_UP_RULES,
                &REMOVAL,
                &key,
                rule.version,
                &[Value::Integer(rule.removed.into())],
            )
        }
        RowWrite::AutoTopUpRuleRemoved { wallet_id, version } => upsert(
            tx,
            &AUTO_TOP_UP_RULES,
            &REMOVAL,
            &[text(wallet_id)],
            *version,
            &[Value::Integer(1)],
        ),
        RowWrite::AutoTopUpFailed {
            wallet_id,
            failure,
            consecutive_failures,
            backoff_until_ms,
            version,
        } => {
            let key = [text(wallet_id)];
            upsert(
                tx,
                &AUTO_TOP_UP_RULES,
                &AUTO_TOP_UP_FAILURE,
                &key,
                *version,
                &[
                    text(failure.top_up_id),
                    text(&failure.reason),
                    Value::Integer(failure.failed_at_ms),
                ],
            )?;
            backoff(
                tx,
                &key,
                *consecutive_failures,
                Some(*backoff_until_ms),
                *version,
            )
        }
        RowWrite::AutoTopUpCompleted { wallet_id, version } => {
            backoff(tx, &[text(wallet_id)], 0, None, *version)
        }
        RowWrite::AutoTopUpCapReached {
            wallet_id,
            until_ms,
            version,
        } => upsert(
            tx,
            &AUTO_TOP_UP_RULES,
            &AUTO_TOP_UP_CAP,
            &[text(wallet_id)],
            *version,
            &[Value::Integer(*until_ms)],
        ),
    }
}

/// Writes the back-off group of an auto top-up rule row.
fn backoff(
    tx: &rusqlite::Transaction<'_>,
    key: &[Value],
    consecutive_failures: u32,
    backoff_until_ms: Option<i64>,
    version: u64,
) -> Result<(), StoreError> {
    upsert(
        tx,
        &schema::AUTO_TOP_UP_RULES,
        &schema::AUTO_TOP_UP_BACKOFF,
        key,
        version,
        &[
            Value::Integer(consecutive_failures.into()),
            opt_int(backoff_until_ms),
        ],
    )
}

/// Records when a row last changed: its own group, so whichever event is newest sets it.
fn touch(
    tx: &rusqlite::Transaction<'_>,
    table: &Table,
    key: &[Value],
    updated_at_ms: i64,
    version: u64,
) -> Result<(), StoreError> {
    upsert(
        tx,
        table,
        &schema::TOUCH,
        key,
        version,
        &[Value::Integer(updated_at_ms)],
    )
}

fn apply_checkpoint(
    tx: &rusqlite::Transaction<'_>,
    checkpoint: &Checkpoint,
) -> Result<(), StoreError> {
    // Only forward: a replayed or late checkpoint never rewinds the projector.
    tx.prepare_cached(&schema::CHECKPOINTS.sqlite_insert())?
        .execute(params![
            checkpoint.projector,
            checkpoint.topic,
            checkpoint.partition,
            to_sql_int(checkpoint.next_offset)?
        ])?;
    Ok(())
}

// ---- the trait ------------------------------------------------------------------------------

#[async_trait::async_trait]
impl ReadStore for SqliteStore {
    async fn apply(
        &self,
        writes: Vec<RowWrite>,
        checkpoints: Vec<Checkpoint>,
    ) -> Result<(), StoreError> {
        if writes.is_empty() && checkpoints.is_empty() {
            return Ok(());
        }
        let writer = Arc::clone(&self.writer);
        blocking(move || {
            let mut conn = lock(&writer);
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for write in &writes {
                apply_write(&tx, write)?;
            }
            for checkpoint in &checkpoints {
                apply_checkpoint(&tx, checkpoint)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn checkpoint(
        &self,
        projector: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<u64>, StoreError> {
        let (projector, topic) = (projector.to_owned(), topic.to_owned());
        self.read(move |conn| {
            let (filter, limit) = CHECKPOINTS.sqlite_page(false);
            let sql = CHECKPOINTS.sqlite_select(&filter, &limit);
            let found = query_records(
                conn,
                &CHECKPOINTS,
                &sql,
                params![projector, topic, partition],
                decode::checkpoint,
            )?;
            Ok(found.into_iter().next())
        })
        .await
    }

    async fn stream_positions(
        &self,
        stream_ids: &[String],
    ) -> Result<HashMap<String, StreamPosition>, StoreError> {
        let stream_ids = stream_ids.to_vec();
        self.read(move |conn| {
            let mut positions = HashMap::with_capacity(stream_ids.len());
            for chunk in stream_ids.chunks(STREAM_IDS_PER_QUERY) {
                let placeholders = vec!["?"; chunk.len()].join(", ");
                let sql =
                    STREAM_POSITIONS.sqlite_select(&format!("stream_id IN ({placeholders})"), "");
                let found = query_records(
                    conn,
                    &STREAM_POSITIONS,
                    &sql,
                    params_from_iter(chunk),
                    decode::stream_position,
                )?;
                positions.extend(found.into_iter().map(|p| (p.stream_id.clone(), p)));
            }
            Ok(positions)
        })
        .await
    }

    async fn get_wallet(&self, wallet_id: Uuid) -> Result<Option<WalletRow>, StoreError> {
        self.get_by_key(&WALLETS, wallet_id, decode::wallet).await
    }

    async fn list_wallets_by_owner(
        &self,
        tenant: &str,
        owner: &str,
        page: PageRequest,
    ) -> Result<Page<WalletRow>, StoreError> {
        let page_size = resolve_page_size(page.page_size)?;
        let after = PageToken::wallets_after(page.page_token.as_deref())?;
        let (tenant, owner) = (tenant.to_owned(), owner.to_owned());
        self.read(move |conn| {
            // Hyphenated lower-case UUID text sorts like the UUID bytes, and every id sorts
            // after the empty string.
            let after = after.map(|id| id.to_string()).unwrap_or_default();
            let (filter, order) = schema::WALLETS_BY_OWNER.sqlite_lookup(true);
            let sql = WALLETS.sqlite_select(&filter, &order);
            // One extra row says whether another page exists, so the last page has no token.
            let items = query_rows(
                conn,
                &WALLETS,
                &sql,
                params![tenant, owner, after, i64::from(page_size) + 1],
                decode::wallet,
            )?;
            Ok(paginate(items, page_size, |last| PageToken::WalletsAfter {
                wallet_id: last.wallet_id,
            }))
        })
        .await
    }

    async fn get_balance(&self, wallet_id: Uuid) -> Result<Option<BalanceRow>, StoreError> {
        self.get_by_key(&BALANCES, wallet_id, decode::balance).await
    }

    async fn list_history(
        &self,
        wallet_id: Uuid,
        filter: HistoryFilter,
        page: PageRequest,
    ) -> Result<Page<HistoryRow>, StoreError> {
        let page_size = resolve_page_size(page.page_size)?;
        let before = PageToken::history_before(page.page_token.as_deref(), wallet_id)?;
        self.read(move |conn| {
            let (mut condition, order) = HISTORY.sqlite_page(before.is_some());
            let mut values = vec![text(wallet_id)];
            if let Some(before) = before {
                values.push(Value::Integer(to_sql_int(before)?));
            }
            if !filter.entry_types.is_empty() {
                let placeholders = vec!["?"; filter.entry_types.len()].join(", ");
                condition.push_str(&format!(" AND entry_type IN ({placeholders})"));
                values.extend(filter.entry_types.iter().map(|t| text(t.as_str())));
            }
            if let Some(from_ms) = filter.from_ms {
                condition.push_str(" AND occurred_at_ms >= ?");
                values.push(Value::Integer(from_ms));
            }
            if let Some(to_ms) = filter.to_ms {
                condition.push_str(" AND occurred_at_ms < ?");
                values.push(Value::Integer(to_ms));
            }
            let sql = HISTORY.sqlite_select(&condition, &order);
            values.push(Value::Integer(i64::from(page_size) + 1));
            let items = query_records(
                conn,
                &HISTORY,
                &sql,
                params_from_iter(values),
                decode::history,
            )?;
            Ok(paginate(items, page_size, |last| {
                PageToken::HistoryBefore {
                    wallet_id,
                    sequence: last.sequence,
                }
            }))
        })
        .await
    }

    async fn list_lots(&self, wallet_id: Uuid) -> Result<Vec<LotRow>, StoreError> {
        self.read(move |conn| {
            let sql = LOTS.sqlite_select("wallet_id = ?1", "ORDER BY created_at_ms, lot_id");
            query_rows(conn, &LOTS, &sql, [wallet_id.to_string()], decode::lot)
        })
        .await
    }

    async fn list_holds(&self, wallet_id: Uuid) -> Result<Vec<HoldRow>, StoreError> {
        self.read(move |conn| {
            let sql = HOLDS.sqlite_select("wallet_id = ?1", "ORDER BY hold_id");
            query_rows(conn, &HOLDS, &sql, [wallet_id.to_string()], decode::hold)
        })
        .await
    }

    async fn get_top_up(&self, top_up_id: Uuid) -> Result<Option<TopUpRow>, StoreError> {
        self.get_by_key(&TOP_UPS, top_up_id, decode::top_up).await
    }

    async fn get_top_up_by_checkout_session(
        &self,
        checkout_session_id: Uuid,
    ) -> Result<Option<TopUpRow>, StoreError> {
        self.read(move |conn| {
            // A session belongs to one top-up (a fresh id per top-up); LIMIT only bounds a
            // corrupt store.
            let (filter, order) = schema::TOP_UPS_BY_CHECKOUT_SESSION.sqlite_lookup(false);
            let sql = TOP_UPS.sqlite_select(&filter, &order);
            Ok(query_rows(
                conn,
                &TOP_UPS,
                &sql,
                [checkout_session_id.to_string()],
                decode::top_up,
            )?
            .pop())
        })
        .await
    }

    async fn list_top_ups_by_wallet(
        &self,
        wallet_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<TopUpRow>, StoreError> {
        let page_size = resolve_page_size(page.page_size)?;
        let before = PageToken::top_ups_before(page.page_token.as_deref(), wallet_id)?;
        self.read(move |conn| {
            let mut values = vec![text(wallet_id)];
            if let Some((created_at_ms, top_up_id)) = before {
                // Hyphenated lower-case UUID text sorts like the UUID bytes.
                values.push(Value::Integer(created_at_ms));
                values.push(text(top_up_id));
            }
            let (filter, order) = schema::TOP_UPS_BY_WALLET_CREATED.sqlite_lookup(before.is_some());
            let sql = TOP_UPS.sqlite_select(&filter, &order);
            values.push(Value::Integer(i64::from(page_size) + 1));
            let items = query_rows(
                conn,
                &TOP_UPS,
                &sql,
                params_from_iter(values),
                decode::top_up,
            )?;
            Ok(paginate(items, page_size, |last| PageToken::TopUpsBefore {
                wallet_id,
                created_at_ms: last.created_at_ms,
                top_up_id: last.top_up_id,
            }))
        })
        .await
    }

    async fn get_payment(&self, payment_id: Uuid) -> Result<Option<PaymentRow>, StoreError> {
        self.get_by_key(&PAYMENTS, payment_id, decode::payment)
            .await
    }

    async fn list_payment_methods(
        &self,
        tenant: &str,
        owner: &str,
        page: PageRequest,
    ) -> Result<Page<PaymentMethodRow>, StoreError> {
        let page_size = resolve_page_size(page.page_size)?;
        let after = PageToken::payment_methods_after(page.page_token.as_deref())?;
        let (tenant, owner) = (tenant.to_owned(), owner.to_owned());
        self.read(move |conn| {
            let after = after.map(|id| id.to_string()).unwrap_or_default();
            let (filter, order) = schema::PAYMENT_METHODS_BY_OWNER.sqlite_lookup(true);
            // The index lists removed cards too (the CQL store skips them as it reads).
            let sql = PAYMENT_METHODS.sqlite_select(&format!("{filter} AND removed = 0"), &order);
            let items = query_rows(
                conn,
                &PAYMENT_METHODS,
                &sql,
                params![tenant, owner, after, i64::from(page_size) + 1],
                decode::payment_method,
            )?;
            Ok(paginate(items, page_size, |last| {
                PageToken::PaymentMethodsAfter {
                    payment_method_id: last.payment_method_id,
                }
            }))
        })
        .await
    }

    async fn get_auto_top_up_rule(
        &self,
        wallet_id: Uuid,
    ) -> Result<Option<AutoTopUpRuleRow>, StoreError> {
        self.get_by_key(&AUTO_TOP_UP_RULES, wallet_id, decode::auto_top_up_rule)
            .await
    }
}

/// Cuts a `page_size + 1` query result to a page, with a token if the extra row exists.
fn paginate<T>(mut items: Vec<T>, page_size: u32, token: impl Fn(&T) -> PageToken) -> Page<T> {
    let more = items.len() > page_size as usize;
    items.truncate(page_size as usize);
    let next_page_token = if more {
        items.last().map(|last| token(last).encode())
    } else {
        None
    };
    Page {
        items,
        next_page_token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The declarations describe exactly the tables the released migrations create, so files of
    /// every earlier release open without a migration.
    #[test]
    fn the_declared_tables_are_the_migrated_tables() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn).expect("migrate");
        for table in schema::GROUPED_TABLES {
            let mut declared: Vec<(String, String)> = table
                .keys
                .iter()
                .chain(table.groups.iter().flat_map(|group| group.columns))
                .map(|column| (column.sqlite.to_owned(), column.ty.sqlite().to_owned()))
                .chain(
                    table
                        .groups
                        .iter()
                        .map(|group| (group.sqlite_version.to_owned(), "INTEGER".to_owned())),
                )
                .collect();
            declared.sort();
            let mut migrated: Vec<(String, String)> = conn
                .prepare(&format!("PRAGMA table_info({})", table.sqlite))
                .expect("prepare")
                .query_map([], |row| Ok((row.get(1)?, row.get(2)?)))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            migrated.sort();
            assert_eq!(declared, migrated, "table {}", table.sqlite);
        }
    }

    /// The declared records are the migrated tables, with the SQLite types of their columns.
    #[test]
    fn the_declared_records_are_the_migrated_tables() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn).expect("migrate");
        for record in schema::RECORDS {
            let declared: Vec<(String, String)> = record
                .keys
                .iter()
                .chain(record.columns)
                .map(|c| {
                    (
                        c.sqlite.trim_matches('"').to_owned(),
                        c.ty.sqlite().to_owned(),
                    )
                })
                .collect();
            let migrated: Vec<(String, String)> = conn
                .prepare(&format!("PRAGMA table_info({})", record.sqlite))
                .expect("prepare")
                .query_map([], |row| Ok((row.get(1)?, row.get(2)?)))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            assert_eq!(declared, migrated, "table {}", record.sqlite);
        }
    }

    /// Each declared index is a migrated SQLite index of its table, on the looked-up columns and
    /// then (when it lists in an order) the listed ones, so its lookups are served by it.
    #[test]
    fn the_declared_indexes_are_the_migrated_indexes() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn).expect("migrate");
        for index in schema::INDEXES {
            let on: String = conn
                .query_row(
                    "SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = ?1",
                    [index.name],
                    |row| row.get(0),
                )
                .expect(index.name);
            assert_eq!(on, index.table.sqlite, "{}", index.name);
            let listed: &[Column] = if index.order == schema::Order::Single {
                &[]
            } else {
                index.listed
            };
            let declared: Vec<&str> = index
                .lookup
                .iter()
                .chain(listed)
                .map(|c| c.sqlite)
                .collect();
            let migrated: Vec<String> = conn
                .prepare(&format!("PRAGMA index_info({})", index.name))
                .expect("prepare")
                .query_map([], |row| row.get(2))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            assert_eq!(declared, migrated, "index {}", index.name);
        }
    }
}
