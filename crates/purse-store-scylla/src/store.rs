//! [`ScyllaStore`]: the [`ReadStore`] over a ScyllaDB session.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use purse_store::decode::{self, StoredRow};
use purse_store::schema;
use purse_store::{
    AutoTopUpRuleRow, BalanceRow, Checkpoint, HistoryFilter, HistoryRow, HoldRow, LotRow, Page,
    PageRequest, PageToken, PaymentMethodRow, PaymentRow, ReadStore, RowWrite, StoreError,
    StreamPosition, TopUpRow, Uuid, WalletRow, resolve_page_size,
};
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::errors::{
    DeserializationError, ExecutionError, IntoRowsResultError, MaybeFirstRowError, NewSessionError,
    PrepareError, RowsError,
};
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::response::PagingState;
use scylla::response::query_result::QueryResult;
use scylla::serialize::row::SerializeRow;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::Row;
use tokio::task::JoinSet;

use crate::cql::{self, CqlRecordRow, CqlRow, CqlWrite, Partition, Statement};
use crate::migrate::{self, SCHEMA_VERSION_TABLE};
use crate::settings::{ScyllaSettings, SettingsError};

/// Statements in one single-partition batch; well under ScyllaDB's batch size warning for our
/// rows, and enough to write a replayed burst of one wallet's history in a few round trips.
pub const BATCH_STATEMENTS_MAX: usize = 50;
/// Batches and statements of one [`ReadStore::apply`] in flight at once.
pub const WRITES_IN_FLIGHT_MAX: usize = 32;
/// Wallet rows fetched at once for one page of a by-owner listing.
pub const WALLET_READS_IN_FLIGHT_MAX: usize = 32;
/// Rows per page when reading a whole partition (lots, holds).
pub const PARTITION_PAGE_ROWS: i32 = 1_000;
/// Most rows a whole-partition read (lots, holds) returns before failing with
/// [`ScyllaError::PartitionTooLarge`] rather than holding an unbounded list in memory.
pub const PARTITION_ROWS_MAX: usize = 100_000;
/// History rows read per query when a filter may discard some of them.
pub const HISTORY_SCAN_CHUNK_ROWS: usize = 500;
/// Most history rows one filtered page scans; past it the page ends early (possibly empty) with a
/// token to continue, so a rare entry type cannot make one call read a whole partition.
pub const HISTORY_SCAN_ROWS_MAX: usize = 10_000;
/// Stream ids per `IN` query, ScyllaDB's default cap on partition keys per query.
pub const STREAM_IDS_PER_QUERY: usize = 100;
/// Payment method ids read per query from an owner's index when listing stored cards (removed
/// cards stay in the index and are skipped).
pub const PAYMENT_METHODS_SCAN_CHUNK_ROWS: usize = 100;
/// Most index rows one page of stored cards scans; past it the page ends early (possibly empty)
/// with a token to continue, so an owner with many removed cards cannot make one call unbounded.
pub const PAYMENT_METHODS_SCAN_ROWS_MAX: usize = 1_000;

/// The ScyllaDB [`ReadStore`]. Cheap to clone: clones share one session and its prepared
/// statements.
#[derive(Clone)]
pub struct ScyllaStore {
    inner: Arc<Inner>,
}

struct Inner {
    session: Arc<Session>,
    keyspace: String,
    /// Indexed by [`Statement::index`].
    prepared: Vec<PreparedStatement>,
}

impl std::fmt::Debug for ScyllaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScyllaStore")
            .field("keyspace", &self.inner.keyspace)
            .finish_non_exhaustive()
    }
}

/// Opens a driver session for the settings: every contact point, the configured consistency and
/// request timeout, token-aware routing restricted to the local datacenter when one is set.
pub async fn open_session(settings: &ScyllaSettings) -> Result<Session, ConnectError> {
    settings.validate()?;
    let mut policy = DefaultPolicy::builder().token_aware(true);
    if let Some(datacenter) = &settings.local_datacenter {
        // LOCAL_* consistencies count replicas of the coordinator's datacenter: coordinators
        // must therefore stay in ours.
        policy = policy
            .prefer_datacenter(datacenter.clone())
            .permit_dc_failover(false);
    }
    let profile = ExecutionProfile::builder()
        .consistency(settings.consistency)
        .request_timeout(Some(Duration::from_millis(settings.request_timeout_ms)))
        .load_balancing_policy(policy.build())
        .build();
    SessionBuilder::new()
        .known_nodes(&settings.nodes)
        .connection_timeout(Duration::from_millis(settings.connect_timeout_ms))
        .default_execution_profile_handle(profile.into_handle())
        .build()
        .await
        .map_err(ConnectError::Session)
}

impl ScyllaStore {
    /// Opens a session ([`open_session`]) and then [`ScyllaStore::with_session`].
    pub async fn connect(settings: &ScyllaSettings) -> Result<ScyllaStore, ConnectError> {
        let session = open_session(settings).await?;
        ScyllaStore::with_session(Arc::new(session), settings).await
    }

    /// A store over an open session: checks that the keyspace is migrated to at least this
    /// build's newest migration, then prepares every statement once.
    pub async fn with_session(
        session: Arc<Session>,
        settings: &ScyllaSettings,
    ) -> Result<ScyllaStore, ConnectError> {
        settings.validate()?;
        let keyspace = settings.keyspace.clone();
        check_schema(&session, &keyspace).await?;
        let mut prepared = Vec::with_capacity(Statement::ALL.len());
        for statement in Statement::ALL {
            let cql = statement.cql(&keyspace);
            let mut ready =
                session
                    .prepare(cql.as_str())
                    .await
                    .map_err(|source| ConnectError::Prepare {
                        statement: cql.clone(),
                        source,
                    })?;
            // Every write is a versioned upsert and every read is side-effect free, so a timed
            // out attempt may be retried (or sent speculatively) without changing the outcome.
            ready.set_is_idempotent(true);
            if matches!(statement, Statement::SelectLots | Statement::SelectHolds) {
                ready.set_page_size(PARTITION_PAGE_ROWS);
            }
            prepared.push(ready);
        }
        Ok(ScyllaStore {
            inner: Arc::new(Inner {
                session,
                keyspace,
                prepared,
            }),
        })
    }

    /// The keyspace the store reads and writes.
    pub fn keyspace(&self) -> &str {
        &self.inner.keyspace
    }

    /// The driver session (shared with the clones of this store).
    pub fn session(&self) -> &Arc<Session> {
        &self.inner.session
    }
}

async fn check_schema(session: &Session, keyspace: &str) -> Result<(), ConnectError> {
    let exists = session
        .query_unpaged(
            "SELECT table_name FROM system_schema.tables \
             WHERE keyspace_name = ? AND table_name = ?",
            (keyspace, SCHEMA_VERSION_TABLE),
        )
        .await
        .map_err(schema_query)?
        .into_rows_result()
        .map_err(schema_query)?
        .maybe_first_row::<(String,)>()
        .map_err(schema_query)?
        .is_some();
    if !exists {
        return Err(ConnectError::NotMigrated {
            keyspace: keyspace.to_owned(),
        });
    }
    let applied = migrate::read_applied(session, keyspace)
        .await
        .map_err(schema_query)?;
    let required = migrate::migrations()
        .iter()
        .map(|m| m.version())
        .max()
        .unwrap_or(0);
    let applied = applied.keys().copied().max().unwrap_or(0);
    if applied < required {
        return Err(ConnectError::SchemaBehind {
            keyspace: keyspace.to_owned(),
            applied,
            required,
        });
    }
    Ok(())
}

fn schema_query(source: impl std::error::Error + Send + Sync + 'static) -> ConnectError {
    ConnectError::SchemaCheck {
        source: Box::new(source),
    }
}

/// Why a store could not be opened.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// The settings are invalid.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The driver could not open a session (no contact point reachable, authentication, ...).
    #[error("could not connect to ScyllaDB: {0}")]
    Session(#[source] NewSessionError),
    /// The keyspace or its `schema_version` table does not exist.
    #[error("keyspace {keyspace} is not migrated: run `purse-projector migrate` first")]
    NotMigrated {
        /// The keyspace.
        keyspace: String,
    },
    /// The keyspace lacks migrations this build needs.
    #[error(
        "keyspace {keyspace} is at schema version {applied} but this build needs {required}: \
         run `purse-projector migrate` first"
    )]
    SchemaBehind {
        /// The keyspace.
        keyspace: String,
        /// Newest applied version (0: none).
        applied: u32,
        /// Newest version this build knows.
        required: u32,
    },
    /// Reading the schema state failed.
    #[error("could not read the schema version: {source}")]
    SchemaCheck {
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A statement could not be prepared (the schema is not what this build expects).
    #[error("could not prepare {statement:?}: {source}")]
    Prepare {
        /// The CQL text.
        statement: String,
        /// The driver's error.
        #[source]
        source: PrepareError,
    },
}

/// Driver failures of [`ScyllaStore`]'s [`ReadStore`] methods, carried in
/// [`StoreError::Client`] (downcast to inspect them).
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum ScyllaError {
    /// A request failed (timeout, unavailable replicas, connection lost, ...).
    #[error("request: {0}")]
    Execute(#[from] ExecutionError),
    /// A query answered with something other than rows.
    #[error("result: {0}")]
    NotRows(#[from] IntoRowsResultError),
    /// The rows do not have the expected column types.
    #[error("rows: {0}")]
    Rows(#[from] RowsError),
    /// The first row does not have the expected column types.
    #[error("row: {0}")]
    FirstRow(#[from] MaybeFirstRowError),
    /// A row could not be decoded.
    #[error("row: {0}")]
    Deserialize(#[from] DeserializationError),
    /// A partition read as a whole has more rows than [`PARTITION_ROWS_MAX`].
    #[error("{table} partition has more than {rows_max} rows")]
    PartitionTooLarge {
        /// The table.
        table: &'static str,
        /// [`PARTITION_ROWS_MAX`].
        rows_max: usize,
    },
}

fn client(error: impl Into<ScyllaError>) -> StoreError {
    StoreError::Client(Box::new(error.into()))
}

/// Waits for a spawned task; a panic in it is a bug and continues here.
fn joined<T>(result: Result<T, tokio::task::JoinError>) -> Result<T, StoreError> {
    match result {
        Ok(value) => Ok(value),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(StoreError::Closed),
    }
}

/// Groups writes by partition, keeping their order, in units of at most
/// [`BATCH_STATEMENTS_MAX`].
fn partition_units(writes: Vec<CqlWrite>) -> Vec<Vec<CqlWrite>> {
    let mut index: HashMap<Partition, usize> = HashMap::new();
    let mut units: Vec<Vec<CqlWrite>> = Vec::new();
    for write in writes {
        let slot = match index.get(&write.partition) {
            Some(&slot) if units[slot].len() < BATCH_STATEMENTS_MAX => slot,
            _ => {
                units.push(Vec::new());
                index.insert(write.partition.clone(), units.len() - 1);
                units.len() - 1
            }
        };
        units[slot].push(write);
    }
    units
}

impl Inner {
    fn prepared(&self, statement: Statement) -> &PreparedStatement {
        &self.prepared[statement.index()]
    }

    async fn execute(
        &self,
        statement: Statement,
        values: impl SerializeRow,
    ) -> Result<QueryResult, StoreError> {
        self.session
            .execute_unpaged(self.prepared(statement), values)
            .await
            .map_err(client)
    }

    /// Runs one unit: a single statement, or an unlogged batch of one partition's statements
    /// (atomic and isolated within the partition, without the batch log's cost).
    async fn write_unit(&self, unit: Vec<CqlWrite>) -> Result<(), StoreError> {
        if let [write] = unit.as_slice() {
            self.execute(write.statement, &write.values).await?;
            return Ok(());
        }
        let mut batch = Batch::new(BatchType::Unlogged);
        batch.set_is_idempotent(true);
        let mut values = Vec::with_capacity(unit.len());
        for write in unit {
            batch.append_statement(self.prepared(write.statement).clone());
            values.push(write.values);
        }
        self.session.batch(&batch, values).await.map_err(client)?;
        Ok(())
    }

    /// Every row of one wallet's partition that `statement` (a generated select) reads, page by
    /// page, decoded by `decode` (rows not yet created are skipped).
    async fn partition_rows<T>(
        &self,
        statement: Statement,
        wallet_id: Uuid,
        decode: fn(&dyn StoredRow) -> Result<Option<T>, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let Some((table, groups)) = statement.reads() else {
            unreachable!("{statement:?} is not a generated select");
        };
        let mut rows = Vec::new();
        let mut read = 0;
        let mut paging = PagingState::start();
        loop {
            let (result, next) = self
                .session
                .execute_single_page(self.prepared(statement), (wallet_id,), paging)
                .await
                .map_err(client)?;
            let result = result.into_rows_result().map_err(client)?;
            for row in result.rows::<Row>().map_err(client)? {
                read += 1;
                if read > PARTITION_ROWS_MAX {
                    return Err(client(ScyllaError::PartitionTooLarge {
                        table: table.cql,
                        rows_max: PARTITION_ROWS_MAX,
                    }));
                }
                let row = row.map_err(client)?;
                rows.extend(decode(&CqlRow::new(table, groups, &row.columns)?)?);
            }
            match next.into_paging_control_flow() {
                ControlFlow::Break(()) => return Ok(rows),
                ControlFlow::Continue(state) => paging = state,
            }
        }
    }

    async fn get_wallet(&self, wallet_id: Uuid) -> Result<Option<WalletRow>, StoreError> {
        self.read_row(Statement::SelectWallet, (wallet_id,), decode::wallet)
            .await
    }

    /// The row that `statement` (a generated select of one row) finds, decoded by `decode`.
    async fn read_row<T>(
        &self,
        statement: Statement,
        values: impl SerializeRow,
        decode: fn(&dyn StoredRow) -> Result<Option<T>, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let Some((table, groups)) = statement.reads() else {
            unreachable!("{statement:?} is not a generated select");
        };
        let row = self
            .execute(statement, values)
            .await?
            .into_rows_result()
            .map_err(client)?
            .maybe_first_row::<Row>()
            .map_err(client)?;
        match row {
            None => Ok(None),
            Some(row) => decode(&CqlRow::new(table, groups, &row.columns)?),
        }
    }

    async fn get_top_up(&self, top_up_id: Uuid) -> Result<Option<TopUpRow>, StoreError> {
        self.read_row(Statement::SelectTopUp, (top_up_id,), decode::top_up)
            .await
    }

    async fn get_payment_method(
        &self,
        payment_method_id: Uuid,
    ) -> Result<Option<PaymentMethodRow>, StoreError> {
        self.read_row(
            Statement::SelectPaymentMethod,
            (payment_method_id,),
            decode::payment_method,
        )
        .await
    }

    /// Up to `limit` payment method ids of an owner's index after `after` (from the start when
    /// `None`), in id order.
    async fn payment_method_ids(
        &self,
        tenant: &str,
        owner: &str,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Uuid>, StoreError> {
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let result = match after {
            None => {
                self.execute(
                    Statement::SelectPaymentMethodIdsByOwner,
                    (tenant, owner, limit),
                )
                .await?
            }
            Some(after) => {
                self.execute(
                    Statement::SelectPaymentMethodIdsByOwnerAfter,
                    (tenant, owner, after, limit),
                )
                .await?
            }
        };
        ids_of(result)
    }

    /// Up to `limit` history rows below `before` (all when `None`), newest first, as the
    /// number of rows read and the entries among them (a row whose entry cell is null, which no
    /// write leaves, is skipped).
    async fn history_chunk(
        &self,
        wallet_id: Uuid,
        before: Option<u64>,
        limit: usize,
    ) -> Result<(usize, Vec<HistoryRow>), StoreError> {
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let result = match before {
            None => {
                self.execute(Statement::SelectHistory, (wallet_id, limit))
                    .await?
            }
            Some(before) => {
                // Sequences above i64::MAX cannot be stored, so every stored one is below it.
                let before = i64::try_from(before).unwrap_or(i64::MAX);
                self.execute(Statement::SelectHistoryBefore, (wallet_id, before, limit))
                    .await?
            }
        };
        let rows = result.into_rows_result().map_err(client)?;
        let mut read = 0;
        let mut entries = Vec::new();
        for row in rows.rows::<Row>().map_err(client)? {
            let row = row.map_err(client)?;
            read += 1;
            let record = CqlRecordRow::new(&schema::HISTORY, &row.columns)?;
            if record.written() {
                entries.push(decode::history(&record)?);
            }
        }
        Ok((read, entries))
    }
}

/// The ids of a single-`uuid`-column result.
fn ids_of(result: QueryResult) -> Result<Vec<Uuid>, StoreError> {
    result
        .into_rows_result()
        .map_err(client)?
        .rows::<(Uuid,)>()
        .map_err(client)?
        .map(|row| row.map(|(id,)| id).map_err(client))
        .collect()
}

fn matches_filter(filter: &HistoryFilter, entry: &HistoryRow) -> bool {
    (filter.entry_types.is_empty() || filter.entry_types.contains(&entry.entry_type))
        && filter
            .from_ms
            .is_none_or(|from| entry.occurred_at_ms >= from)
        && filter.to_ms.is_none_or(|to| entry.occurred_at_ms < to)
}

#[async_trait::async_trait]
impl ReadStore for ScyllaStore {
    async fn apply(
        &self,
        writes: Vec<RowWrite>,
        checkpoints: Vec<Checkpoint>,
    ) -> Result<(), StoreError> {
        let plan = cql::plan_apply(
            &self.inner.keyspace,
            &writes,
            &checkpoints,
            cql::reserve_stamps(writes.len()),
        )?;
        // Rows first, then checkpoints: a checkpoint never covers rows that are not written. If
        // the rows fail half-way, no checkpoint moves and the projector writes them all again.
        self.write_all(partition_units(plan.rows)).await?;
        self.write_all(plan.checkpoints.into_iter().map(|w| vec![w]).collect())
            .await
    }

    async fn checkpoint(
        &self,
        projector: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<u64>, StoreError> {
        let row = self
            .inner
            .execute(
                Statement::SelectCheckpoint,
                (projector, topic, i64::from(partition)),
            )
            .await?
            .into_rows_result()
            .map_err(client)?
            .maybe_first_row::<Row>()
            .map_err(client)?;
        match row {
            None => Ok(None),
            Some(row) => {
                let record = CqlRecordRow::new(&schema::CHECKPOINTS, &row.columns)?;
                if record.written() {
                    decode::checkpoint(&record).map(Some)
                } else {
                    Ok(None)
                }
            }
        }
    }

    async fn stream_positions(
        &self,
        stream_ids: &[String],
    ) -> Result<HashMap<String, StreamPosition>, StoreError> {
        let mut seen = HashSet::new();
        let unique: Vec<&String> = stream_ids.iter().filter(|id| seen.insert(*id)).collect();
        let mut positions = HashMap::with_capacity(unique.len());
        for chunk in unique.chunks(STREAM_IDS_PER_QUERY) {
            let result = self
                .inner
                .execute(Statement::SelectStreamPositions, (chunk,))
                .await?
                .into_rows_result()
                .map_err(client)?;
            for row in result.rows::<Row>().map_err(client)? {
                let row = row.map_err(client)?;
                let record = CqlRecordRow::new(&schema::STREAM_POSITIONS, &row.columns)?;
                if record.written() {
                    let position = decode::stream_position(&record)?;
                    positions.insert(position.stream_id.clone(), position);
                }
            }
        }
        Ok(positions)
    }

    async fn get_wallet(&self, wallet_id: Uuid) -> Result<Option<WalletRow>, StoreError> {
        self.inner.get_wallet(wallet_id).await
    }

    async fn list_wallets_by_owner(
        &self,
        tenant: &str,
        owner: &str,
        page: PageRequest,
    ) -> Result<Page<WalletRow>, StoreError> {
        let page_size = resolve_page_size(page.page_size)?;
        let after = PageToken::wallets_after(page.page_token.as_deref())?;
        // One extra id says whether another page exists, so the last page has no token.
        let limit = i32::try_from(page_size)
            .unwrap_or(i32::MAX)
            .saturating_add(1);
        let result = match after {
            None => {
                self.inner
                    .execute(Statement::SelectWalletIdsByOwner, (tenant, owner, limit))
                    .await?
            }
            Some(after) => {
                self.inner
                    .execute(
                        Statement::SelectWalletIdsByOwnerAfter,
                        (tenant, owner, after, limit),
                    )
                    .await?
            }
        };
        let mut ids = result
            .into_rows_result()
            .map_err(client)?
            .rows::<(Uuid,)>()
            .map_err(client)?
            .map(|row| row.map(|(id,)| id).map_err(client))
            .collect::<Result<Vec<Uuid>, StoreError>>()?;
        let more = ids.len() > page_size as usize;
        ids.truncate(page_size as usize);
        let next_page_token = if more {
            ids.last()
                .map(|&wallet_id| PageToken::WalletsAfter { wallet_id }.encode())
        } else {
            None
        };
        let items = self.wallets_in_order(&ids).await?;
        Ok(Page {
            items,
            next_page_token,
        })
    }

    async fn get_balance(&self, wallet_id: Uuid) -> Result<Option<BalanceRow>, StoreError> {
        self.inner
            .read_row(Statement::SelectBalance, (wallet_id,), decode::balance)
            .await
    }

    async fn list_history(
        &self,
        wallet_id: Uuid,
        filter: HistoryFilter,
        page: PageRequest,
    ) -> Result<Page<HistoryRow>, StoreError> {
        let page_size = resolve_page_size(page.page_size)? as usize;
        let mut before = PageToken::history_before(page.page_token.as_deref(), wallet_id)?;
        let filtered =
            !filter.entry_types.is_empty() || filter.from_ms.is_some() || filter.to_ms.is_some();
        // One entry beyond the page says whether another page exists.
        let wanted = page_size + 1;
        let chunk = if filtered {
            HISTORY_SCAN_CHUNK_ROWS.max(wanted)
        } else {
            wanted
        };
        let mut items = Vec::with_capacity(wanted);
        let mut scanned = 0;
        // Where to continue when the scan budget runs out before the page fills.
        let mut resume_before = None;
        loop {
            let (read, entries) = self.inner.history_chunk(wallet_id, before, chunk).await?;
            let exhausted = read < chunk;
            scanned += read;
            let last_sequence = entries.last().map(|entry| entry.sequence);
            for entry in entries {
                if matches_filter(&filter, &entry) {
                    items.push(entry);
                    if items.len() == wanted {
                        break;
                    }
                }
            }
            if items.len() == wanted || exhausted {
                break;
            }
            let Some(last) = last_sequence else {
                break;
            };
            before = Some(last);
            if scanned >= HISTORY_SCAN_ROWS_MAX {
                resume_before = Some(last);
                break;
            }
        }
        let next_page_token = if items.len() > page_size {
            items.truncate(page_size);
            items.last().map(|last| last.sequence)
        } else {
            resume_before
        }
        .map(|sequence| {
            PageToken::HistoryBefore {
                wallet_id,
                sequence,
            }
            .encode()
        });
        Ok(Page {
            items,
            next_page_token,
        })
    }

    async fn list_lots(&self, wallet_id: Uuid) -> Result<Vec<LotRow>, StoreError> {
        let mut lots = self
            .inner
            .partition_rows(Statement::SelectLots, wallet_id, decode::lot)
            .await?;
        lots.sort_by_key(|lot| (lot.created_at_ms, lot.lot_id));
        Ok(lots)
    }

    async fn list_holds(&self, wallet_id: Uuid) -> Result<Vec<HoldRow>, StoreError> {
        let mut holds = self
            .inner
            .partition_rows(Statement::SelectHolds, wallet_id, decode::hold)
            .await?;
        // ScyllaDB orders `uuid` clustering keys by version nibble first; the contract orders by
        // id bytes (which for the UUIDv7 ids we issue is the same, and cheap to make certain).
        holds.sort_by_key(|hold| hold.hold_id);
        Ok(holds)
    }

    async fn get_top_up(&self, top_up_id: Uuid) -> Result<Option<TopUpRow>, StoreError> {
        self.inner.get_top_up(top_up_id).await
    }

    async fn get_top_up_by_checkout_session(
        &self,
        checkout_session_id: Uuid,
    ) -> Result<Option<TopUpRow>, StoreError> {
        let row = self
            .inner
            .execute(
                Statement::SelectTopUpIdByCheckoutSession,
                (checkout_session_id,),
            )
            .await?
            .into_rows_result()
            .map_err(client)?
            .maybe_first_row::<(Option<Uuid>,)>()
            .map_err(client)?;
        match row.and_then(|(top_up_id,)| top_up_id) {
            None => Ok(None),
            Some(top_up_id) => self.inner.get_top_up(top_up_id).await,
        }
    }

    async fn list_top_ups_by_wallet(
        &self,
        wallet_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<TopUpRow>, StoreError> {
        let page_size = resolve_page_size(page.page_size)?;
        let before = PageToken::top_ups_before(page.page_token.as_deref(), wallet_id)?;
        // One extra key says whether another page exists, so the last page has no token.
        let limit = i32::try_from(page_size)
            .unwrap_or(i32::MAX)
            .saturating_add(1);
        let result = match before {
            None => {
                self.inner
                    .execute(Statement::SelectTopUpKeysByWallet, (wallet_id, limit))
                    .await?
            }
            Some((created_at_ms, top_up_id)) => {
                self.inner
                    .execute(
                        Statement::SelectTopUpKeysByWalletBefore,
                        (
                            wallet_id,
                            created_at_ms,
                            top_up_id.as_bytes().as_slice(),
                            limit,
                        ),
                    )
                    .await?
            }
        };
        let mut keys = result
            .into_rows_result()
            .map_err(client)?
            .rows::<(i64, Vec<u8>)>()
            .map_err(client)?
            .map(|row| {
                let (created_at_ms, id) = row.map_err(client)?;
                Ok((created_at_ms, cql::top_up_id_from_blob(&id)?))
            })
            .collect::<Result<Vec<(i64, Uuid)>, StoreError>>()?;
        let more = keys.len() > page_size as usize;
        keys.truncate(page_size as usize);
        // From the index's key, not the row's: the index is what the next page continues.
        let next_page_token = if more {
            keys.last().map(|&(created_at_ms, top_up_id)| {
                PageToken::TopUpsBefore {
                    wallet_id,
                    created_at_ms,
                    top_up_id,
                }
                .encode()
            })
        } else {
            None
        };
        let ids: Vec<Uuid> = keys.iter().map(|&(_, id)| id).collect();
        let items = self
            .rows_in_order(&ids, |inner, id| async move { inner.get_top_up(id).await })
            .await?;
        Ok(Page {
            items,
            next_page_token,
        })
    }

    async fn get_payment(&self, payment_id: Uuid) -> Result<Option<PaymentRow>, StoreError> {
        self.inner
            .read_row(Statement::SelectPayment, (payment_id,), decode::payment)
            .await
    }

    async fn list_payment_methods(
        &self,
        tenant: &str,
        owner: &str,
        page: PageRequest,
    ) -> Result<Page<PaymentMethodRow>, StoreError> {
        let page_size = resolve_page_size(page.page_size)? as usize;
        let mut after = PageToken::payment_methods_after(page.page_token.as_deref())?;
        // One card beyond the page says whether another page exists.
        let wanted = page_size + 1;
        let chunk = PAYMENT_METHODS_SCAN_CHUNK_ROWS.max(wanted);
        let mut items = Vec::with_capacity(wanted);
        let mut scanned = 0;
        // Where to continue when the scan budget runs out before the page fills.
        let mut resume_after = None;
        loop {
            let ids = self
                .inner
                .payment_method_ids(tenant, owner, after, chunk)
                .await?;
            let exhausted = ids.len() < chunk;
            scanned += ids.len();
            let rows = self
                .rows_in_order(&ids, |inner, id| async move {
                    inner.get_payment_method(id).await
                })
                .await?;
            // In id order, so the page (and its token) ends exactly at the wanted-th card.
            items.extend(
                rows.into_iter()
                    .filter(|row| !row.removed)
                    .take(wanted - items.len()),
            );
            if items.len() == wanted || exhausted {
                break;
            }
            let Some(&last) = ids.last() else {
                break;
            };
            after = Some(last);
            if scanned >= PAYMENT_METHODS_SCAN_ROWS_MAX {
                resume_after = Some(last);
                break;
            }
        }
        let next_page_token = if items.len() > page_size {
            items.truncate(page_size);
            items.last().map(|last| last.payment_method_id)
        } else {
            resume_after
        }
        .map(|payment_method_id| PageToken::PaymentMethodsAfter { payment_method_id }.encode());
        Ok(Page {
            items,
            next_page_token,
        })
    }

    async fn get_auto_top_up_rule(
        &self,
        wallet_id: Uuid,
    ) -> Result<Option<AutoTopUpRuleRow>, StoreError> {
        // Two partitions of two tables (the activity's own table keeps migration 0003 free of
        // ALTER TABLE), read at once.
        let (rule, activity) = tokio::try_join!(
            self.inner
                .execute(Statement::SelectAutoTopUpRule, (wallet_id,)),
            self.inner
                .execute(Statement::SelectAutoTopUpActivity, (wallet_id,)),
        )?;
        let first_row = |result: QueryResult| {
            result
                .into_rows_result()
                .map_err(client)?
                .maybe_first_row::<Row>()
                .map_err(client)
        };
        let Some(rule) = first_row(rule)? else {
            return Ok(None);
        };
        let activity = first_row(activity)?;
        let reads = |statement: Statement| match statement.reads() {
            Some(reads) => reads,
            None => unreachable!("{statement:?} is not a generated select"),
        };
        let (table, groups) = reads(Statement::SelectAutoTopUpRule);
        let mut row = CqlRow::new(table, groups, &rule.columns)?;
        if let Some(activity) = &activity {
            // The activity's own table has the same key; its cells follow it.
            let (_, groups) = reads(Statement::SelectAutoTopUpActivity);
            row.also(
                groups,
                activity.columns.get(table.keys.len()..).unwrap_or(&[]),
            );
        }
        decode::auto_top_up_rule(&row)
    }
}

impl ScyllaStore {
    /// Runs units with at most [`WRITES_IN_FLIGHT_MAX`] in flight; the first failure stops the
    /// rest (they are idempotent and the caller will apply them again).
    async fn write_all(&self, units: Vec<Vec<CqlWrite>>) -> Result<(), StoreError> {
        let mut pending = units.into_iter();
        let mut in_flight = JoinSet::new();
        loop {
            while in_flight.len() < WRITES_IN_FLIGHT_MAX {
                let Some(unit) = pending.next() else {
                    break;
                };
                let inner = Arc::clone(&self.inner);
                in_flight.spawn(async move { inner.write_unit(unit).await });
            }
            match in_flight.join_next().await {
                None => return Ok(()),
                Some(result) => joined(result)??,
            }
        }
    }

    /// The wallets with these ids, in this order, skipping any not (yet) visible.
    async fn wallets_in_order(&self, ids: &[Uuid]) -> Result<Vec<WalletRow>, StoreError> {
        self.rows_in_order(ids, |inner, id| async move { inner.get_wallet(id).await })
            .await
    }

    /// The rows `get` finds for these ids, in this order, skipping any not (yet) visible; at
    /// most [`WALLET_READS_IN_FLIGHT_MAX`] reads in flight.
    async fn rows_in_order<T, F, Fut>(&self, ids: &[Uuid], get: F) -> Result<Vec<T>, StoreError>
    where
        T: Send + 'static,
        F: Fn(Arc<Inner>, Uuid) -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, StoreError>> + Send + 'static,
    {
        let mut found: Vec<Option<T>> = std::iter::repeat_with(|| None).take(ids.len()).collect();
        let mut pending = ids.iter().copied().enumerate();
        let mut in_flight = JoinSet::new();
        loop {
            while in_flight.len() < WALLET_READS_IN_FLIGHT_MAX {
                let Some((position, wallet_id)) = pending.next() else {
                    break;
                };
                let read = get(Arc::clone(&self.inner), wallet_id);
                in_flight.spawn(async move { (position, read.await) });
            }
            match in_flight.join_next().await {
                None => break,
                Some(result) => {
                    let (position, row) = joined(result)?;
                    found[position] = row?;
                }
            }
        }
        Ok(found.into_iter().flatten().collect())
    }
}
