//! The read models over ScyllaDB: [`ScyllaStore`] implements [`purse_store::ReadStore`] with the
//! same semantics as the embedded SQLite store (DESIGN.md §6), and [`migrate`] applies the
//! versioned CQL schema of `deploy/scylla/`.
//!
//! # Using it
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use purse_store_scylla::{ScyllaSettings, ScyllaStore, migrate, open_session};
//!
//! let settings = ScyllaSettings::from_lookup(|key| std::env::var(key).ok())?;
//! // Once per deployment (the `purse-projector migrate` step):
//! let applied = migrate(&open_session(&settings).await?, &settings).await?;
//! // In every process that reads or projects:
//! let store = ScyllaStore::connect(&settings).await?;
//! # let _ = (applied, store);
//! # Ok(())
//! # }
//! ```
//!
//! # Tables (keyspace from [`ScyllaSettings::keyspace`])
//!
//! | table | partition key | clustering key | serves |
//! |---|---|---|---|
//! | `wallets` | `wallet_id` | — | `get_wallet`; rows of by-owner listings |
//! | `wallets_by_owner` | `(tenant, owner)` | `wallet_id` ASC | `list_wallets_by_owner` (ids, then `wallets`) |
//! | `balances` | `wallet_id` | — | `get_balance` |
//! | `history` | `wallet_id` | `sequence` DESC | `list_history`, newest first, paged below a sequence |
//! | `lots` | `wallet_id` | `lot_id` | `list_lots` |
//! | `holds` | `wallet_id` | `hold_id` | `list_holds` |
//! | `stream_positions` | `stream_id` | — | `stream_positions` (`IN` of up to 100 ids) |
//! | `checkpoints` | `(projector, topic, log_partition)` | — | `checkpoint` |
//! | `top_ups` | `top_up_id` | — | `get_top_up`; rows of the top-up listings |
//! | `top_ups_by_wallet_created` | `wallet_id` | `(created_at_ms, top_up_id)` DESC | `list_top_ups_by_wallet` (keys, then `top_ups`; the id as a blob, see Paging) |
//! | `top_ups_by_checkout_session` | `checkout_session_id` | — | `get_top_up_by_checkout_session` |
//! | `payment_intents` | `payment_id` | — | `get_payment` |
//! | `payment_methods` | `payment_method_id` | — | rows of `list_payment_methods` (removed ones skipped) |
//! | `payment_methods_by_owner` | `(tenant, owner)` | `payment_method_id` ASC | `list_payment_methods` (ids) |
//! | `auto_top_up_rules` | `wallet_id` | — | `get_auto_top_up_rule` (the rule) |
//! | `auto_top_up_activity` | `wallet_id` | — | `get_auto_top_up_rule` (last failure, back-off, daily cap; read beside the rule) |
//! | `topups`, `topups_by_wallet`, `payments` | | | declared by migration 0001, superseded by 0002, unused |
//! | `top_ups_by_wallet` | | | declared by migration 0002 (by id, which is not creation order), superseded by 0003, unused |
//! | `webhook_deliveries` | `subscription_id` | `delivery_id` DESC | a subscription's deliveries |
//! | `daily_totals` | `(tenant, asset)` | `day` DESC | reporting per tenant and asset |
//! | `schema_version` | `version` | — | applied migrations (name, checksum, applied_at) |
//!
//! # Versions and `USING TIMESTAMP`
//!
//! The SQLite store keeps one version per group of columns that some write updates on its own and
//! applies a write only if its version is greater. Here each such group is one frozen UDT cell
//! (`wallets.identity`, `wallets.status`, `wallets.limits`, `balances.state`, `lots.lot`,
//! `lots.remaining`, `holds.hold`, `holds.resolution`, `history.entry`,
//! `stream_positions.position`, and the groups of `top_ups`, `payment_intents`,
//! `payment_methods` and `auto_top_up_rules` that migration 0002 declares, and of
//! `auto_top_up_activity` that 0003 declares) written `USING TIMESTAMP` = the write's version
//! (the event's stream sequence; for a history entry and a stream position, their sequence).
//! ScyllaDB keeps the cell with the highest timestamp, so an older version never replaces a
//! newer one, whatever the order of arrival, and a group's columns always come from one write.
//!
//! At an *equal* timestamp ScyllaDB keeps the cell with the greater serialized value. Every
//! versioned UDT therefore starts with `precedence` = `i64::MAX` − the write's stamp (the
//! process's clock in microseconds, strictly increasing within a process and along the writes of
//! one [`apply`](purse_store::ReadStore::apply)): the earlier write wins and a replayed or
//! competing write at the same version is a no-op, exactly the embedded store's rule. Partial
//! rows (a status, remaining amount or resolution written before its row) are kept and hidden
//! until the row's creating group arrives. Checkpoints are written after all rows, `USING
//! TIMESTAMP` = `next_offset`, so a checkpoint only moves forward. No counter and no lightweight
//! transaction is used. A consequence for operators: anything written to these tables without
//! `USING TIMESTAMP` (a wall-clock timestamp, far above every version) would shadow all later
//! projections (see `deploy/scylla/0001_read_models.cql`).
//!
//! # Paging
//!
//! Page tokens are the shared [`purse_store::PageToken`]s (the last key returned: wallet id,
//! history sequence, top-up creation time and id, or payment method id), not the driver's paging
//! state: a key is valid on any node and across server upgrades, a page is fetched with one
//! extra row so the last page carries no token (ScyllaDB's paging state is also returned after
//! an exactly full last page), and history
//! filters are applied here, which a server paging state could not resume. Tokens are opaque
//! URL-safe strings and are checked on the way in ([`purse_store::StoreError::InvalidPageToken`]
//! for a malformed token or one from another list or wallet). The driver's paging state is used
//! inside whole-partition reads (lots, holds). A filtered history page scans at most
//! [`HISTORY_SCAN_ROWS_MAX`] rows and may then end early, with a token to continue; a page of
//! stored cards likewise scans at most [`PAYMENT_METHODS_SCAN_ROWS_MAX`] index rows, since
//! removed cards stay in the owner's index and are skipped.
//!
//! Payment method listings order by the `uuid` clustering key, which ScyllaDB compares by
//! version nibble first and then by bytes: the same as the byte order of the contract (and of the
//! SQLite store) for ids of one UUID version, which stored cards' are (v7). Top-ups order by
//! creation time and then id, but a wallet's top-up ids mix versions (v8 derived from
//! idempotency keys, v7 for auto top-ups), so that index keys the id as a 16-byte `blob`, which
//! ScyllaDB compares bytewise as the contract does; the next page starts with a multi-column
//! slice, `(created_at_ms, top_up_id) < (?, ?)`.
//!
//! # Tests against a real node
//!
//! The [`ReadStore`](purse_store::ReadStore) contract suite
//! (`purse_store::read_store_contract_tests!`) runs in `tests/contract_scylla.rs` in every test
//! run, against one Apache Cassandra node that the suite starts (`purse-test-engines`), or against
//! the ScyllaDB node named by `PURSE_TEST_SCYLLA=host:port` (e.g. `docker compose up scylla`,
//! then `PURSE_TEST_SCYLLA=127.0.0.1:9042 cargo test -p purse-store-scylla --test
//! contract_scylla`; keyspace `purse_contract` unless `PURSE_TEST_SCYLLA_KEYSPACE` says
//! otherwise). It prints which engine and version it ran against. What Cassandra does and does
//! not show about ScyllaDB: `docs/cql-engines.md`.

mod cql;
mod migrate;
mod settings;
mod store;

pub use migrate::{
    KEYSPACE_PLACEHOLDER, MigrateError, Migration, MigrationFileError, SCHEMA_VERSION_TABLE,
    check_statement, checksum, keyspace_cql, migrate, migrations, parse_file_name,
    schema_version_table_cql, split_statements,
};
pub use settings::{
    Consistency, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_CONSISTENCY, DEFAULT_KEYSPACE,
    DEFAULT_REQUEST_TIMEOUT_MS, ENV_CONNECT_TIMEOUT_MS, ENV_CONSISTENCY, ENV_KEYSPACE,
    ENV_LOCAL_DATACENTER, ENV_NODES, ENV_REPLICATION, ENV_REQUEST_TIMEOUT_MS, KEYSPACE_LEN_MAX,
    ScyllaSettings, SettingsError, parse_consistency, parse_nodes, parse_replication,
    validate_keyspace,
};
pub use store::{
    BATCH_STATEMENTS_MAX, ConnectError, HISTORY_SCAN_CHUNK_ROWS, HISTORY_SCAN_ROWS_MAX,
    PARTITION_PAGE_ROWS, PARTITION_ROWS_MAX, PAYMENT_METHODS_SCAN_CHUNK_ROWS,
    PAYMENT_METHODS_SCAN_ROWS_MAX, STREAM_IDS_PER_QUERY, ScyllaError, ScyllaStore,
    WALLET_READS_IN_FLIGHT_MAX, WRITES_IN_FLIGHT_MAX, open_session,
};
