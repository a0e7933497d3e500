//! The read-model tables, declared once for both stores (ADR 0015).
//!
//! A read-model row is written in *groups*: the columns one kind of write updates together, under
//! one version (the event's stream sequence), so that a late or replayed write never moves a
//! group backwards while other groups of the row move on. Each store keeps its own physical shape
//! of a group, and that shape is data here rather than a second hand-written column list:
//!
//! - SQLite (this crate): the group's columns in the row, plus a version column; an upsert writes
//!   them only `WHERE` the stored version is older ([`Group::sqlite_upsert`]).
//! - CQL (`purse-store-scylla`): one frozen UDT cell of the CQL table, written `USING TIMESTAMP`
//!   = version; the UDT's leading fields are `precedence` and `version`, then the group's columns.
//!
//! The shapes are the ones the released migrations create (SQLite `MIGRATIONS`, the CQL files of
//! `deploy/scylla/`); each store's tests check every declaration against them.

/// What a column holds, whichever store holds it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// A string.
    Text,
    /// A UUID: `uuid` in CQL, its hyphenated text in SQLite.
    Uuid,
    /// A 64-bit integer.
    BigInt,
    /// A 32-bit integer (CQL `int`).
    Int,
    /// An exact decimal: CQL `decimal`, its text in SQLite (never a float).
    Decimal,
    /// A flag: CQL `boolean`, 0 or 1 in SQLite.
    Bool,
    /// A string map: CQL `frozen<map<text, text>>`, a JSON object in SQLite.
    TextMap,
    /// A history entry's lot amounts: CQL `frozen<list<frozen<lot_amount>>>` (UDT fields `lot_id`,
    /// `amount`), a JSON array of `[lot id, amount]` string pairs in SQLite.
    LotAmounts,
    /// A UUID as its 16 bytes: CQL `blob`, which compares bytewise as the contract orders ids
    /// (a CQL `uuid` compares the version nibble first); its hyphenated text in SQLite.
    UuidBytes,
}

impl ColumnType {
    /// The type SQLite declares for the column (the tables are `STRICT`).
    pub fn sqlite(self) -> &'static str {
        match self {
            ColumnType::Text
            | ColumnType::Uuid
            | ColumnType::Decimal
            | ColumnType::TextMap
            | ColumnType::LotAmounts
            | ColumnType::UuidBytes => "TEXT",
            ColumnType::BigInt | ColumnType::Int | ColumnType::Bool => "INTEGER",
        }
    }

    /// The CQL type of the column or UDT field.
    pub fn cql(self) -> &'static str {
        match self {
            ColumnType::Text => "text",
            ColumnType::Uuid => "uuid",
            ColumnType::BigInt => "bigint",
            ColumnType::Int => "int",
            ColumnType::Decimal => "decimal",
            ColumnType::Bool => "boolean",
            ColumnType::TextMap => "frozen<map<text, text>>",
            ColumnType::LotAmounts => "frozen<list<frozen<lot_amount>>>",
            ColumnType::UuidBytes => "blob",
        }
    }
}

/// One column of a group.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// The CQL UDT field name.
    pub name: &'static str,
    /// The SQLite column name: a group's columns share one SQLite row with the other groups', so
    /// some carry a prefix (`card_brand`) where the UDT field needs none (`brand`).
    pub sqlite: &'static str,
    /// What it holds.
    pub ty: ColumnType,
}

/// A column named the same in both stores.
const fn col(name: &'static str, ty: ColumnType) -> Column {
    Column {
        name,
        sqlite: name,
        ty,
    }
}

/// A column whose SQLite name differs from its UDT field name.
const fn renamed(name: &'static str, sqlite: &'static str, ty: ColumnType) -> Column {
    Column { name, sqlite, ty }
}

/// The columns one kind of write updates together, under one version.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// SQLite: the column holding the group's version (NULL until the group is first written).
    pub sqlite_version: &'static str,
    /// CQL: the frozen UDT cell that holds the group.
    pub cql_cell: &'static str,
    /// CQL: the cell's UDT.
    pub cql_udt: &'static str,
    /// CQL: the table holding the cell when it is not the row's [`Table::cql`] (what the auto
    /// top-up saga reports lives apart from the rule it reports on).
    pub cql_table: Option<&'static str>,
    /// The group's columns, in the UDT's field order (after `precedence` and `version`).
    pub columns: &'static [Column],
}

impl Group {
    /// The SQLite upsert of this group into `table`: binds the key columns, then the group's
    /// columns, then the version (`?1`, `?2`, … in that order), creating the row if needed and
    /// updating it only if the stored version of the group is older (NULL, for a row created by
    /// another group, counts as older than anything).
    pub fn sqlite_upsert(&self, table: &Table) -> String {
        let keys: Vec<&str> = table.keys.iter().map(|c| c.sqlite).collect();
        let written: Vec<&str> = self
            .columns
            .iter()
            .map(|c| c.sqlite)
            .chain(std::iter::once(self.sqlite_version))
            .collect();
        let placeholders: Vec<String> = (1..=keys.len() + written.len())
            .map(|i| format!("?{i}"))
            .collect();
        let updates: Vec<String> = written
            .iter()
            .map(|name| format!("{name} = excluded.{name}"))
            .collect();
        format!(
            "INSERT INTO {table} ({keys}, {written}) VALUES ({placeholders}) \
             ON CONFLICT ({keys}) DO UPDATE SET {updates} \
             WHERE IFNULL({table}.{version}, -1) < excluded.{version}",
            table = table.sqlite,
            keys = keys.join(", "),
            written = written.join(", "),
            placeholders = placeholders.join(", "),
            updates = updates.join(", "),
            version = self.sqlite_version,
        )
    }
}

/// A read-model table written in groups.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// The SQLite table.
    pub sqlite: &'static str,
    /// The CQL table.
    pub cql: &'static str,
    /// The primary key columns, partition key first.
    pub keys: &'static [Column],
    /// Every group of the row.
    pub groups: &'static [&'static Group],
}

impl Table {
    /// The group whose write creates the row: until it is written, the row is not shown (its
    /// other groups may arrive first).
    pub fn creating_group(&self) -> &'static Group {
        self.groups[0]
    }

    /// Every SQLite column of a row, in the order [`Table::sqlite_select`] returns them: the keys,
    /// then each group's columns followed by its version column.
    pub fn sqlite_columns(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.keys
            .iter()
            .map(|key| key.sqlite)
            .chain(self.groups.iter().flat_map(|group| {
                group
                    .columns
                    .iter()
                    .map(|column| column.sqlite)
                    .chain(std::iter::once(group.sqlite_version))
            }))
    }

    /// Where [`Table::sqlite_select`] returns the `index`-th column of `group` (of the keys when
    /// `group` is `None`), or, with `index` = the group's column count, the group's version.
    pub fn sqlite_position(&self, group: Option<&Group>, index: usize) -> Option<usize> {
        let Some(group) = group else {
            return (index < self.keys.len()).then_some(index);
        };
        let mut start = self.keys.len();
        for declared in self.groups {
            if **declared == *group {
                return (index <= group.columns.len()).then_some(start + index);
            }
            start += declared.columns.len() + 1;
        }
        None
    }

    /// The SQLite select of every column of the rows that match `filter` (a condition on this
    /// table's columns, with its own placeholders) and are created, followed by `rest` (an
    /// order and a limit).
    pub fn sqlite_select(&self, filter: &str, rest: &str) -> String {
        let columns: Vec<&str> = self.sqlite_columns().collect();
        let mut sql = format!(
            "SELECT {} FROM {} WHERE {filter} AND {} IS NOT NULL",
            columns.join(", "),
            self.sqlite,
            self.creating_group().sqlite_version,
        );
        if !rest.is_empty() {
            sql.push(' ');
            sql.push_str(rest);
        }
        sql
    }

    /// [`Table::sqlite_select`] of the row with the given key (bound as `?1`, `?2`, …).
    pub fn sqlite_select_by_key(&self) -> String {
        let keys: Vec<String> = (1..)
            .zip(self.keys)
            .map(|(i, key)| format!("{} = ?{i}", key.sqlite))
            .collect();
        self.sqlite_select(&keys.join(" AND "), "")
    }

    /// The CQL read of the key columns and `groups`' cells (one CQL table) of the rows whose
    /// first `bound_keys` key columns are bound, in that order.
    pub fn cql_select(&self, keyspace: &str, groups: &[&Group], bound_keys: usize) -> String {
        let table = groups
            .first()
            .and_then(|group| group.cql_table)
            .unwrap_or(self.cql);
        debug_assert!(
            groups
                .iter()
                .all(|group| group.cql_table.unwrap_or(self.cql) == table),
            "one statement reads one CQL table"
        );
        let columns: Vec<&str> = self
            .keys
            .iter()
            .map(|key| key.name)
            .chain(groups.iter().map(|group| group.cql_cell))
            .collect();
        let bound: Vec<String> = self.keys[..bound_keys]
            .iter()
            .map(|key| format!("{} = ?", key.name))
            .collect();
        format!(
            "SELECT {} FROM {keyspace}.{table} WHERE {}",
            columns.join(", "),
            bound.join(" AND "),
        )
    }

    /// The CQL write of `groups` (one cell each) of a row of this table in `keyspace`: binds the
    /// write timestamp (the version), then each group's cell, then the key columns, in that order.
    pub fn cql_update(&self, keyspace: &str, groups: &[&Group]) -> String {
        let table = groups
            .first()
            .and_then(|group| group.cql_table)
            .unwrap_or(self.cql);
        debug_assert!(
            groups
                .iter()
                .all(|group| group.cql_table.unwrap_or(self.cql) == table),
            "one statement writes one CQL table"
        );
        let cells: Vec<String> = groups
            .iter()
            .map(|group| format!("{} = ?", group.cql_cell))
            .collect();
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|key| format!("{} = ?", key.name))
            .collect();
        format!(
            "UPDATE {keyspace}.{table} USING TIMESTAMP ? SET {} WHERE {}",
            cells.join(", "),
            keys.join(" AND "),
        )
    }
}

/// How an [`Index`] lists the rows of one partition.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Order {
    /// By the listed columns, ascending; a page continues after the last row returned.
    Ascending,
    /// By the listed columns, descending (newest first); a page continues below the last row.
    Descending,
    /// One row per looked-up value: no order, no paging.
    Single,
}

/// A lookup of a table's rows by other columns. In CQL it is a table of its own (`name`), written
/// beside the row under the row's version; in SQLite it is an index of the same name on the
/// table's own columns (created by the migrations), which the listing queries follow.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Index {
    /// The CQL table and the SQLite index.
    pub name: &'static str,
    /// The table whose rows it finds.
    pub table: &'static Table,
    /// The looked-up columns: the CQL partition key.
    pub lookup: &'static [Column],
    /// What a lookup returns, ending with the row's key: the CQL clustering key (a regular
    /// column when [`Order::Single`]), in the listing order.
    pub listed: &'static [Column],
    /// How one lookup's rows are listed.
    pub order: Order,
}

impl Index {
    /// The CQL write of one index row: binds the lookup columns, the listed columns, then the
    /// write timestamp (the row's version).
    pub fn cql_insert(&self, keyspace: &str) -> String {
        let columns: Vec<&str> = self
            .lookup
            .iter()
            .chain(self.listed)
            .map(|c| c.name)
            .collect();
        format!(
            "INSERT INTO {keyspace}.{} ({}) VALUES ({}) USING TIMESTAMP ?",
            self.name,
            columns.join(", "),
            vec!["?"; columns.len()].join(", "),
        )
    }

    /// The CQL read of one lookup's listed columns: binds the lookup columns, then (`after`) the
    /// listed columns of the last row of the previous page, then the row limit; an
    /// [`Order::Single`] index binds only the lookup.
    pub fn cql_select(&self, keyspace: &str, after: bool) -> String {
        let listed: Vec<&str> = self.listed.iter().map(|c| c.name).collect();
        let mut cql = format!(
            "SELECT {} FROM {keyspace}.{} WHERE {}",
            listed.join(", "),
            self.name,
            equal_to_placeholders(self.lookup.iter().map(|c| c.name)),
        );
        if self.order != Order::Single {
            if after {
                cql.push_str(" AND ");
                cql.push_str(&continuation(self.order, &listed));
            }
            cql.push_str(" LIMIT ?");
        }
        cql
    }

    /// The filter and the order of [`Table::sqlite_select`] for one lookup of this index, bound
    /// as in [`Index::cql_select`] (`?` placeholders, in that order).
    pub fn sqlite_lookup(&self, after: bool) -> (String, String) {
        let listed: Vec<&str> = self.listed.iter().map(|c| c.sqlite).collect();
        let mut filter = equal_to_placeholders(self.lookup.iter().map(|c| c.sqlite));
        if after && self.order != Order::Single {
            filter.push_str(" AND ");
            filter.push_str(&continuation(self.order, &listed));
        }
        (filter, sqlite_order(self.order, &listed))
    }
}

/// The rows past `listed` = the previous page's last row, in the listing order (a row value
/// compares column by column, as the order sorts).
fn continuation(order: Order, listed: &[&str]) -> String {
    let comparison = if order == Order::Descending { "<" } else { ">" };
    match listed {
        [single] => format!("{single} {comparison} ?"),
        _ => format!(
            "({}) {comparison} ({})",
            listed.join(", "),
            vec!["?"; listed.len()].join(", ")
        ),
    }
}

/// `ORDER BY … LIMIT ?` of a SQLite listing (`LIMIT 1` for [`Order::Single`]).
fn sqlite_order(order: Order, listed: &[&str]) -> String {
    let direction = if order == Order::Descending {
        " DESC"
    } else {
        ""
    };
    let columns: Vec<String> = listed
        .iter()
        .map(|name| format!("{name}{direction}"))
        .collect();
    let limit = if order == Order::Single { "1" } else { "?" };
    if columns.is_empty() {
        format!("LIMIT {limit}")
    } else {
        format!("ORDER BY {} LIMIT {limit}", columns.join(", "))
    }
}

/// When a [`Record`] row is replaced.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Overwrite {
    /// Never: the first write stays (immutable history entries).
    Never,
    /// By a write whose value of this column (the row's version) is greater: a guarded upsert in
    /// SQLite, the write timestamp in CQL.
    WhenGreater(&'static str),
}

/// A table whose rows are written whole, carrying their own version (history entries, stream
/// positions, checkpoints), rather than in groups.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The SQLite table.
    pub sqlite: &'static str,
    /// The CQL table.
    pub cql: &'static str,
    /// The primary key: the partition key, then the clustering key.
    pub keys: &'static [Column],
    /// How many of [`Record::keys`] form the partition key.
    pub partition: usize,
    /// How a partition lists its rows (by the clustering key).
    pub order: Order,
    /// The row's other columns.
    pub columns: &'static [Column],
    /// CQL: the frozen UDT cell (cell, UDT) that holds [`Record::columns`] after a leading
    /// `precedence`; `None` when they are plain CQL columns.
    pub cql_cell: Option<(&'static str, &'static str)>,
    /// When a row is replaced.
    pub overwrite: Overwrite,
}

impl Record {
    /// Every SQLite column, in the order [`Record::sqlite_select`] returns them: keys, then
    /// columns.
    pub fn sqlite_columns(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.keys
            .iter()
            .chain(self.columns)
            .map(|column| column.sqlite)
    }

    /// Where [`Record::sqlite_select`] returns the key or column declared as `name`.
    pub fn sqlite_position(&self, name: &str) -> Option<usize> {
        self.keys
            .iter()
            .chain(self.columns)
            .position(|column| column.name == name)
    }

    /// The SQLite write of a row: binds the keys, then the columns (`?1`, `?2`, … in that
    /// order), keeping the stored row unless [`Record::overwrite`] says otherwise.
    pub fn sqlite_insert(&self) -> String {
        let keys: Vec<&str> = self.keys.iter().map(|c| c.sqlite).collect();
        let columns: Vec<&str> = self.columns.iter().map(|c| c.sqlite).collect();
        let placeholders: Vec<String> = (1..=keys.len() + columns.len())
            .map(|i| format!("?{i}"))
            .collect();
        let conflict = match self.overwrite {
            Overwrite::Never => "DO NOTHING".to_owned(),
            Overwrite::WhenGreater(version) => {
                let version = self
                    .columns
                    .iter()
                    .find(|column| column.name == version)
                    .map_or(version, |column| column.sqlite);
                let updates: Vec<String> = columns
                    .iter()
                    .map(|name| format!("{name} = excluded.{name}"))
                    .collect();
                format!(
                    "DO UPDATE SET {} WHERE {}.{version} < excluded.{version}",
                    updates.join(", "),
                    self.sqlite
                )
            }
        };
        format!(
            "INSERT INTO {} ({}, {}) VALUES ({}) ON CONFLICT ({}) {conflict}",
            self.sqlite,
            keys.join(", "),
            columns.join(", "),
            placeholders.join(", "),
            keys.join(", "),
        )
    }

    /// The SQLite select of every column of the rows that match `filter`, then `rest` (an order
    /// and a limit).
    pub fn sqlite_select(&self, filter: &str, rest: &str) -> String {
        let columns: Vec<&str> = self.sqlite_columns().collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE {filter}",
            columns.join(", "),
            self.sqlite
        );
        if rest.is_empty() {
            sql
        } else {
            format!("{sql} {rest}")
        }
    }

    /// The filter (the partition, and with `after` the rows past the previous page's last one)
    /// and the order of a SQLite page of one partition, bound in that order, then the limit.
    pub fn sqlite_page(&self, after: bool) -> (String, String) {
        let (partition, clustering) = self.keys.split_at(self.partition);
        let clustering: Vec<&str> = clustering.iter().map(|c| c.sqlite).collect();
        let mut filter = equal_to_placeholders(partition.iter().map(|c| c.sqlite));
        if after {
            filter.push_str(" AND ");
            filter.push_str(&continuation(self.order, &clustering));
        }
        (filter, sqlite_order(self.order, &clustering))
    }

    /// The CQL write of a row: binds the write timestamp, then the cell (or the columns), then
    /// the keys.
    pub fn cql_update(&self, keyspace: &str) -> String {
        let set: Vec<String> = match self.cql_cell {
            Some((cell, _)) => vec![format!("{cell} = ?")],
            None => self
                .columns
                .iter()
                .map(|c| format!("{} = ?", c.name))
                .collect(),
        };
        format!(
            "UPDATE {keyspace}.{} USING TIMESTAMP ? SET {} WHERE {}",
            self.cql,
            set.join(", "),
            equal_to_placeholders(self.keys.iter().map(|c| c.name)),
        )
    }

    /// The CQL read of the keys and the cell (or the columns) of the rows whose `condition`
    /// holds (on the key columns, with its own placeholders).
    pub fn cql_select(&self, keyspace: &str, condition: &str) -> String {
        let columns: Vec<&str> = self
            .keys
            .iter()
            .map(|c| c.name)
            .chain(match self.cql_cell {
                Some((cell, _)) => vec![cell],
                None => self.columns.iter().map(|c| c.name).collect(),
            })
            .collect();
        format!(
            "SELECT {} FROM {keyspace}.{} WHERE {condition}",
            columns.join(", "),
            self.cql
        )
    }

    /// [`Record::cql_select`] of the row with the given key.
    pub fn cql_select_by_key(&self, keyspace: &str) -> String {
        self.cql_select(
            keyspace,
            &equal_to_placeholders(self.keys.iter().map(|c| c.name)),
        )
    }

    /// [`Record::cql_select`] of a page of one partition: binds the partition, then (`after`)
    /// the previous page's last clustering key, then the row limit.
    pub fn cql_page(&self, keyspace: &str, after: bool) -> String {
        let (partition, clustering) = self.keys.split_at(self.partition);
        let clustering: Vec<&str> = clustering.iter().map(|c| c.name).collect();
        let mut condition = equal_to_placeholders(partition.iter().map(|c| c.name));
        if after {
            condition.push_str(" AND ");
            condition.push_str(&continuation(self.order, &clustering));
        }
        condition.push_str(" LIMIT ?");
        self.cql_select(keyspace, &condition)
    }
}

/// `a = ? AND b = ?`.
fn equal_to_placeholders(names: impl Iterator<Item = &'static str>) -> String {
    names
        .map(|name| format!("{name} = ?"))
        .collect::<Vec<_>>()
        .join(" AND ")
}

use ColumnType::{BigInt, Bool, Decimal, Int, LotAmounts, Text, TextMap, Uuid, UuidBytes};

/// When a top-up or payment row last changed: its own group, so the newest event sets it.
pub const TOUCH: Group = Group {
    sqlite_version: "updated_version",
    cql_cell: "touched",
    cql_udt: "row_touch",
    cql_table: None,
    columns: &[col("updated_at_ms", BigInt)],
};

/// Whether a payment method or auto top-up rule was removed.
pub const REMOVAL: Group = Group {
    sqlite_version: "removal_version",
    cql_cell: "removal",
    cql_udt: "row_removal",
    cql_table: None,
    columns: &[col("removed", Bool)],
};

/// A wallet's identity, written once at creation.
pub const WALLET_IDENTITY: Group = Group {
    sqlite_version: "row_version",
    cql_cell: "identity",
    cql_udt: "wallet_identity",
    cql_table: None,
    columns: &[
        col("tenant", Text),
        col("owner", Text),
        col("kind", Text),
        col("asset", Text),
        col("asset_scale", Int),
        col("metadata", TextMap),
        col("created_at_ms", BigInt),
    ],
};

/// A wallet's status.
pub const WALLET_STATUS: Group = Group {
    sqlite_version: "status_version",
    cql_cell: "status",
    cql_udt: "wallet_status",
    cql_table: None,
    columns: &[col("status", Text)],
};

/// A wallet's limits.
pub const WALLET_LIMITS: Group = Group {
    sqlite_version: "limits_version",
    cql_cell: "limits",
    cql_udt: "wallet_limits",
    cql_table: None,
    columns: &[
        col("max_balance", Decimal),
        col("daily_debit_limit", Decimal),
        col("per_transaction_max", Decimal),
        col("velocity_max_operations", BigInt),
        col("velocity_window_ms", BigInt),
        col("low_balance_threshold", Decimal),
    ],
};

/// Wallets by id.
pub const WALLETS: Table = Table {
    sqlite: "wallets",
    cql: "wallets",
    keys: &[col("wallet_id", Uuid)],
    groups: &[&WALLET_IDENTITY, &WALLET_STATUS, &WALLET_LIMITS],
};

/// A wallet's balance and held amount.
pub const BALANCE: Group = Group {
    sqlite_version: "version",
    cql_cell: "state",
    cql_udt: "balance_state",
    cql_table: None,
    columns: &[col("balance", Decimal), col("held", Decimal)],
};

/// Balances by wallet.
pub const BALANCES: Table = Table {
    sqlite: "balances",
    cql: "balances",
    keys: &[col("wallet_id", Uuid)],
    groups: &[&BALANCE],
};

/// A lot as created.
pub const LOT: Group = Group {
    sqlite_version: "row_version",
    cql_cell: "lot",
    cql_udt: "lot_state",
    cql_table: None,
    columns: &[
        col("source", Text),
        col("amount", Decimal),
        col("expires_at_ms", BigInt),
        col("created_at_ms", BigInt),
    ],
};

/// What is left of a lot.
pub const LOT_REMAINING: Group = Group {
    sqlite_version: "remaining_version",
    cql_cell: "remaining",
    cql_udt: "lot_remaining",
    cql_table: None,
    columns: &[col("remaining", Decimal)],
};

/// Lots by wallet.
pub const LOTS: Table = Table {
    sqlite: "lots",
    cql: "lots",
    keys: &[col("wallet_id", Uuid), col("lot_id", Uuid)],
    groups: &[&LOT, &LOT_REMAINING],
};

/// A hold as placed.
pub const HOLD: Group = Group {
    sqlite_version: "row_version",
    cql_cell: "hold",
    cql_udt: "hold_state",
    cql_table: None,
    columns: &[col("amount", Decimal), col("expires_at_ms", BigInt)],
};

/// How a hold ended (or that it is still active).
pub const HOLD_RESOLUTION: Group = Group {
    sqlite_version: "resolution_version",
    cql_cell: "resolution",
    cql_udt: "hold_resolution",
    cql_table: None,
    columns: &[col("status", Text), col("captured", Decimal)],
};

/// Holds by wallet.
pub const HOLDS: Table = Table {
    sqlite: "holds",
    cql: "holds",
    keys: &[col("wallet_id", Uuid), col("hold_id", Uuid)],
    groups: &[&HOLD, &HOLD_RESOLUTION],
};

/// A top-up as requested.
pub const TOP_UP_REQUEST: Group = Group {
    sqlite_version: "row_version",
    cql_cell: "request",
    cql_udt: "top_up_request",
    cql_table: None,
    columns: &[
        col("tenant", Text),
        col("wallet_id", Uuid),
        col("owner", Text),
        col("kind", Text),
        col("asset", Text),
        col("amount", Decimal),
        col("wallet_amount", Decimal),
        col("fee", Decimal),
        col("payment_id", Uuid),
        col("checkout_session_id", Uuid),
        col("payment_method_id", Uuid),
        col("expires_at_ms", BigInt),
        col("lots_expire_at_ms", BigInt),
        col("created_at_ms", BigInt),
    ],
};

/// A top-up's status.
pub const TOP_UP_STATE: Group = Group {
    sqlite_version: "status_version",
    cql_cell: "status",
    cql_udt: "top_up_state",
    cql_table: None,
    columns: &[col("status", Text), col("failure_reason", Text)],
};

/// What a top-up credited.
pub const TOP_UP_CREDIT: Group = Group {
    sqlite_version: "credited_version",
    cql_cell: "credit",
    cql_udt: "top_up_credit",
    cql_table: None,
    columns: &[col("credited", Decimal)],
};

/// A capture that arrived after the top-up expired.
pub const TOP_UP_LATE_CAPTURE: Group = Group {
    sqlite_version: "late_capture_version",
    cql_cell: "late_capture",
    cql_udt: "top_up_late_capture",
    cql_table: None,
    columns: &[col("late_capture", Decimal)],
};

/// Top-ups by id.
pub const TOP_UPS: Table = Table {
    sqlite: "top_ups",
    cql: "top_ups",
    keys: &[col("top_up_id", Uuid)],
    groups: &[
        &TOP_UP_REQUEST,
        &TOP_UP_STATE,
        &TOP_UP_CREDIT,
        &TOP_UP_LATE_CAPTURE,
        &TOUCH,
    ],
};

/// A payment as created.
pub const PAYMENT_CREATED: Group = Group {
    sqlite_version: "row_version",
    cql_cell: "intent",
    cql_udt: "payment_created",
    cql_table: None,
    columns: &[
        col("tenant", Text),
        col("owner", Text),
        col("asset", Text),
        col("amount", Decimal),
        col("top_up_id", Uuid),
        renamed("payment_method_id", "created_payment_method_id", Uuid),
        col("created_at_ms", BigInt),
    ],
};

/// A payment's status and captured amount.
pub const PAYMENT_STATE: Group = Group {
    sqlite_version: "status_version",
    cql_cell: "status",
    cql_udt: "payment_state",
    cql_table: None,
    columns: &[col("status", Text), col("captured", Decimal)],
};

/// The card a payment was submitted with.
pub const PAYMENT_CARD: Group = Group {
    sqlite_version: "card_version",
    cql_cell: "card",
    cql_udt: "payment_card",
    cql_table: None,
    columns: &[
        renamed("brand", "card_brand", Text),
        renamed("last4", "card_last4", Text),
        renamed("exp_month", "card_exp_month", Int),
        renamed("exp_year", "card_exp_year", Int),
        renamed("payment_method_id", "card_payment_method_id", Uuid),
    ],
};

/// Why a payment was declined or cancelled.
pub const PAYMENT_RESOLUTION: Group = Group {
    sqlite_version: "resolution_version",
    cql_cell: "resolution",
    cql_udt: "payment_resolution",
    cql_table: None,
    columns: &[col("decline_reason", Text), col("cancel_reason", Text)],
};

/// What was refunded of a payment.
pub const PAYMENT_REFUNDS: Group = Group {
    sqlite_version: "refunded_version",
    cql_cell: "refunds",
    cql_udt: "payment_refunds",
    cql_table: None,
    columns: &[col("refunded", Decimal)],
};

/// Payments by id (`payment_intents` in CQL).
pub const PAYMENTS: Table = Table {
    sqlite: "payments",
    cql: "payment_intents",
    keys: &[col("payment_id", Uuid)],
    groups: &[
        &PAYMENT_CREATED,
        &PAYMENT_STATE,
        &PAYMENT_CARD,
        &PAYMENT_RESOLUTION,
        &PAYMENT_REFUNDS,
        &TOUCH,
    ],
};

/// A stored card.
pub const PAYMENT_METHOD_CARD: Group = Group {
    sqlite_version: "row_version",
    cql_cell: "method",
    cql_udt: "payment_method_card",
    cql_table: None,
    columns: &[
        col("tenant", Text),
        col("owner", Text),
        col("brand", Text),
        col("last4", Text),
        col("exp_month", Int),
        col("exp_year", Int),
        col("created_at_ms", BigInt),
    ],
};

/// Stored payment methods by id.
pub const PAYMENT_METHODS: Table = Table {
    sqlite: "payment_methods",
    cql: "payment_methods",
    keys: &[col("payment_method_id", Uuid)],
    groups: &[&PAYMENT_METHOD_CARD, &REMOVAL],
};

/// An auto top-up rule as last set.
pub const AUTO_TOP_UP_RULE: Group = Group {
    sqlite_version: "row_version",
    cql_cell: "rule",
    cql_udt: "auto_top_up_rule",
    cql_table: None,
    columns: &[
        col("tenant", Text),
        col("owner", Text),
        col("asset", Text),
        col("threshold", Decimal),
        col("amount", Decimal),
        col("target_balance", Decimal),
        col("payment_method_id", Uuid),
        col("daily_max_count", Int),
        col("daily_max_amount", Decimal),
        col("backoff_ms", BigInt),
        col("fee_rate", Decimal),
        col("timeout_ms", BigInt),
        col("updated_at_ms", BigInt),
    ],
};

/// The latest failed automatic top-up (CQL: `auto_top_up_activity`).
pub const AUTO_TOP_UP_FAILURE: Group = Group {
    sqlite_version: "failure_version",
    cql_cell: "failure",
    cql_udt: "auto_top_up_failure",
    cql_table: Some("auto_top_up_activity"),
    columns: &[
        renamed("top_up_id", "last_failure_top_up_id", Uuid),
        renamed("reason", "last_failure_reason", Text),
        renamed("failed_at_ms", "last_failed_at_ms", BigInt),
    ],
};

/// The failure streak and back-off (CQL: `auto_top_up_activity`).
pub const AUTO_TOP_UP_BACKOFF: Group = Group {
    sqlite_version: "backoff_version",
    cql_cell: "backoff",
    cql_udt: "auto_top_up_backoff",
    cql_table: Some("auto_top_up_activity"),
    columns: &[
        col("consecutive_failures", Int),
        col("backoff_until_ms", BigInt),
    ],
};

/// Until when the daily cap stops automatic top-ups (CQL: `auto_top_up_activity`).
pub const AUTO_TOP_UP_CAP: Group = Group {
    sqlite_version: "cap_version",
    cql_cell: "cap",
    cql_udt: "auto_top_up_cap",
    cql_table: Some("auto_top_up_activity"),
    columns: &[renamed("reached_until_ms", "cap_reached_until_ms", BigInt)],
};

/// Auto top-up rules by wallet, with what the saga last reported (one SQLite row; two CQL
/// tables, `auto_top_up_rules` and `auto_top_up_activity`).
pub const AUTO_TOP_UP_RULES: Table = Table {
    sqlite: "auto_top_up_rules",
    cql: "auto_top_up_rules",
    keys: &[col("wallet_id", Uuid)],
    groups: &[
        &AUTO_TOP_UP_RULE,
        &REMOVAL,
        &AUTO_TOP_UP_FAILURE,
        &AUTO_TOP_UP_BACKOFF,
        &AUTO_TOP_UP_CAP,
    ],
};

/// Wallets by tenant and owner, in id order.
pub const WALLETS_BY_OWNER: Index = Index {
    name: "wallets_by_owner",
    table: &WALLETS,
    lookup: &[col("tenant", Text), col("owner", Text)],
    listed: &[col("wallet_id", Uuid)],
    order: Order::Ascending,
};

/// A wallet's top-ups, newest first by creation time, then by id bytes.
pub const TOP_UPS_BY_WALLET_CREATED: Index = Index {
    name: "top_ups_by_wallet_created",
    table: &TOP_UPS,
    lookup: &[col("wallet_id", Uuid)],
    listed: &[col("created_at_ms", BigInt), col("top_up_id", UuidBytes)],
    order: Order::Descending,
};

/// The top-up of a checkout session (a fresh session per top-up).
pub const TOP_UPS_BY_CHECKOUT_SESSION: Index = Index {
    name: "top_ups_by_checkout_session",
    table: &TOP_UPS,
    lookup: &[col("checkout_session_id", Uuid)],
    listed: &[col("top_up_id", Uuid)],
    order: Order::Single,
};

/// Stored payment methods by tenant and owner, in id order (removed ones stay listed).
pub const PAYMENT_METHODS_BY_OWNER: Index = Index {
    name: "payment_methods_by_owner",
    table: &PAYMENT_METHODS,
    lookup: &[col("tenant", Text), col("owner", Text)],
    listed: &[col("payment_method_id", Uuid)],
    order: Order::Ascending,
};

/// A wallet's history, newest first: immutable entries keyed by the wallet's stream sequence.
pub const HISTORY: Record = Record {
    sqlite: "history",
    cql: "history",
    keys: &[col("wallet_id", Uuid), col("sequence", BigInt)],
    partition: 1,
    order: Order::Descending,
    columns: &[
        col("entry_id", Uuid),
        col("entry_type", Text),
        col("amount", Decimal),
        col("balance_after", Decimal),
        col("lots", LotAmounts),
        col("reference", Text),
        col("description", Text),
        col("detail", Text),
        col("hold_id", Uuid),
        col("occurred_at_ms", BigInt),
        // Added by SQLite step 4 and CQL migration 0004, hence last and nullable.
        col("held_after", Decimal),
    ],
    cql_cell: Some(("entry", "history_entry")),
    overwrite: Overwrite::Never,
};

/// The guard state of each stream: the newest sequence projected and its event id.
pub const STREAM_POSITIONS: Record = Record {
    sqlite: "stream_positions",
    cql: "stream_positions",
    keys: &[col("stream_id", Text)],
    partition: 1,
    order: Order::Single,
    columns: &[col("sequence", BigInt), col("event_id", Text)],
    cql_cell: Some(("position", "stream_position")),
    overwrite: Overwrite::WhenGreater("sequence"),
};

/// Where each projector continues in each log partition.
pub const CHECKPOINTS: Record = Record {
    sqlite: "checkpoints",
    cql: "checkpoints",
    keys: &[
        col("projector", Text),
        col("topic", Text),
        // `partition` is a keyword in both dialects; SQLite quotes it.
        renamed("log_partition", "\"partition\"", BigInt),
    ],
    partition: 3,
    order: Order::Single,
    columns: &[col("next_offset", BigInt)],
    cql_cell: None,
    overwrite: Overwrite::WhenGreater("next_offset"),
};

/// Every record table.
pub const RECORDS: [&Record; 3] = [&HISTORY, &STREAM_POSITIONS, &CHECKPOINTS];

/// Every index.
pub const INDEXES: [&Index; 4] = [
    &WALLETS_BY_OWNER,
    &TOP_UPS_BY_WALLET_CREATED,
    &TOP_UPS_BY_CHECKOUT_SESSION,
    &PAYMENT_METHODS_BY_OWNER,
];

/// Every table written in groups.
pub const GROUPED_TABLES: [&Table; 8] = [
    &WALLETS,
    &BALANCES,
    &LOTS,
    &HOLDS,
    &TOP_UPS,
    &PAYMENTS,
    &PAYMENT_METHODS,
    &AUTO_TOP_UP_RULES,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_list_keys_then_each_group_and_its_version_and_hide_rows_not_created() {
        assert_eq!(
            LOTS.sqlite_select_by_key(),
            "SELECT wallet_id, lot_id, source, amount, expires_at_ms, created_at_ms, row_version, \
             remaining, remaining_version FROM lots \
             WHERE wallet_id = ?1 AND lot_id = ?2 AND row_version IS NOT NULL"
        );
        assert_eq!(
            LOTS.cql_select("purse", &[&LOT, &LOT_REMAINING], 1),
            "SELECT wallet_id, lot_id, lot, remaining FROM purse.lots WHERE wallet_id = ?"
        );
        assert_eq!(
            AUTO_TOP_UP_RULES.cql_select("ks", &[&AUTO_TOP_UP_CAP], 1),
            "SELECT wallet_id, cap FROM ks.auto_top_up_activity WHERE wallet_id = ?"
        );
    }

    /// A reader finds a column where the generated select put it, whatever the declaration's
    /// order: positions come from the same declaration as the column list.
    #[test]
    fn every_declared_column_is_read_where_the_select_lists_it() {
        for table in GROUPED_TABLES {
            let listed: Vec<&str> = table.sqlite_columns().collect();
            for (index, key) in table.keys.iter().enumerate() {
                let position = table.sqlite_position(None, index).expect("key");
                assert_eq!(listed[position], key.sqlite, "{}", table.sqlite);
            }
            for group in table.groups {
                for (index, column) in group.columns.iter().enumerate() {
                    let position = table.sqlite_position(Some(group), index).expect("column");
                    assert_eq!(listed[position], column.sqlite, "{}", table.sqlite);
                }
                let version = table
                    .sqlite_position(Some(group), group.columns.len())
                    .expect("version");
                assert_eq!(listed[version], group.sqlite_version, "{}", table.sqlite);
            }
            assert_eq!(
                table.sqlite_position(Some(&BALANCE), 0).is_some(),
                *table == BALANCES
            );
        }
    }

    #[test]
    fn records_keep_their_first_write_or_move_only_forward() {
        assert_eq!(
            CHECKPOINTS.sqlite_insert(),
            "INSERT INTO checkpoints (projector, topic, \"partition\", next_offset) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (projector, topic, \"partition\") \
             DO UPDATE SET next_offset = excluded.next_offset \
             WHERE checkpoints.next_offset < excluded.next_offset"
        );
        assert!(HISTORY.sqlite_insert().ends_with(
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
             ON CONFLICT (wallet_id, sequence) DO NOTHING"
        ));
        assert_eq!(
            HISTORY.sqlite_page(true),
            (
                "wallet_id = ? AND sequence < ?".to_owned(),
                "ORDER BY sequence DESC LIMIT ?".to_owned()
            )
        );
        assert_eq!(
            CHECKPOINTS.cql_update("ks"),
            "UPDATE ks.checkpoints USING TIMESTAMP ? SET next_offset = ? \
             WHERE projector = ? AND topic = ? AND log_partition = ?"
        );
    }

    #[test]
    fn index_lookups_page_in_the_listing_order() {
        assert_eq!(
            TOP_UPS_BY_WALLET_CREATED.cql_select("ks", true),
            "SELECT created_at_ms, top_up_id FROM ks.top_ups_by_wallet_created \
             WHERE wallet_id = ? AND (created_at_ms, top_up_id) < (?, ?) LIMIT ?"
        );
        assert_eq!(
            WALLETS_BY_OWNER.sqlite_lookup(true),
            (
                "tenant = ? AND owner = ? AND wallet_id > ?".to_owned(),
                "ORDER BY wallet_id LIMIT ?".to_owned()
            )
        );
        assert_eq!(
            TOP_UPS_BY_WALLET_CREATED.sqlite_lookup(false).1,
            "ORDER BY created_at_ms DESC, top_up_id DESC LIMIT ?"
        );
        assert_eq!(
            TOP_UPS_BY_CHECKOUT_SESSION.sqlite_lookup(true),
            (
                "checkout_session_id = ?".to_owned(),
                "ORDER BY top_up_id LIMIT 1".to_owned()
            )
        );
    }

    #[test]
    fn the_upsert_binds_keys_then_columns_then_the_version_and_guards_by_version() {
        assert_eq!(
            BALANCE.sqlite_upsert(&BALANCES),
            "INSERT INTO balances (wallet_id, balance, held, version) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (wallet_id) DO UPDATE SET balance = excluded.balance, \
             held = excluded.held, version = excluded.version \
             WHERE IFNULL(balances.version, -1) < excluded.version"
        );
    }
}
