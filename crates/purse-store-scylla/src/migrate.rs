//! Versioned schema migrations: the CQL files of `deploy/scylla/`, embedded in the binary, applied
//! in order and recorded in `schema_version`.
//!
//! A file is named `NNNN_name.cql` (version `NNNN`, from 1 without gaps) and names every object
//! `{keyspace}.object`. Its statements are separated by `;` and are idempotent (`CREATE ... IF
//! NOT EXISTS`), so a migration interrupted half-way runs again from its start. A migration is
//! recorded with the SHA-256 of its exact text once all its statements have succeeded; a file
//! changed after it was applied is refused ([`MigrateError::ChecksumMismatch`]): changes go into a
//! new file. The keyspace itself is not a migration, because its replication is per deployment:
//! [`migrate`] creates it from [`ScyllaSettings::replication`].

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use scylla::client::session::Session;
use scylla::errors::{ExecutionError, SchemaAgreementError};
use scylla::value::CqlTimestamp;
use sha2::{Digest, Sha256};

use crate::settings::{ScyllaSettings, SettingsError};

/// Placeholder for the keyspace in migration files.
pub const KEYSPACE_PLACEHOLDER: &str = "{keyspace}";

/// Table recording applied migrations: version, name, checksum, applied_at.
pub const SCHEMA_VERSION_TABLE: &str = "schema_version";

/// One embedded migration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    version: u32,
    name: &'static str,
    file_name: &'static str,
    cql: &'static str,
}

/// Every migration this build knows, oldest first. A unit test checks that each entry matches its
/// file name and that `deploy/scylla/` holds exactly these files.
static MIGRATIONS: [Migration; 4] = [
    Migration {
        version: 1,
        name: "read_models",
        file_name: "0001_read_models.cql",
        cql: include_str!("../../../deploy/scylla/0001_read_models.cql"),
    },
    Migration {
        version: 2,
        name: "payments_read_models",
        file_name: "0002_payments_read_models.cql",
        cql: include_str!("../../../deploy/scylla/0002_payments_read_models.cql"),
    },
    Migration {
        version: 3,
        name: "top_ups_by_created_and_auto_top_up_activity",
        file_name: "0003_top_ups_by_created_and_auto_top_up_activity.cql",
        cql: include_str!(
            "../../../deploy/scylla/0003_top_ups_by_created_and_auto_top_up_activity.cql"
        ),
    },
    Migration {
        version: 4,
        name: "history_held_after",
        file_name: "0004_history_held_after.cql",
        cql: include_str!("../../../deploy/scylla/0004_history_held_after.cql"),
    },
];

/// Every migration this build knows, oldest first.
pub fn migrations() -> &'static [Migration] {
    &MIGRATIONS
}

impl Migration {
    /// Version, from the file name's number.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Name, from the file name after the number.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// File name under `deploy/scylla/`.
    pub fn file_name(&self) -> &'static str {
        self.file_name
    }

    /// The file's text, with the keyspace as [`KEYSPACE_PLACEHOLDER`].
    pub fn cql(&self) -> &'static str {
        self.cql
    }

    /// Lower-case hex SHA-256 of the file's exact text (see [`checksum`]).
    pub fn checksum(&self) -> String {
        checksum(self.cql)
    }

    /// The statements to run for `keyspace`, checked by [`check_statement`].
    pub fn statements(&self, keyspace: &str) -> Result<Vec<String>, MigrationFileError> {
        split_statements(self.cql)?
            .into_iter()
            .map(|statement| {
                check_statement(&statement)?;
                Ok(statement.replace(KEYSPACE_PLACEHOLDER, keyspace))
            })
            .collect()
    }
}

/// Lower-case hex SHA-256 of a migration's text, as recorded in `schema_version`.
pub fn checksum(cql: &str) -> String {
    Sha256::digest(cql.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Splits a file name `NNNN_name.cql` into its version and name.
pub fn parse_file_name(file_name: &str) -> Result<(u32, &str), MigrationFileError> {
    let bad = |reason| MigrationFileError::BadFileName {
        file_name: file_name.to_owned(),
        reason,
    };
    let stem = file_name
        .strip_suffix(".cql")
        .ok_or(bad("must end in .cql"))?;
    let (number, name) = stem.split_once('_').ok_or(bad("expected NNNN_name.cql"))?;
    if number.len() != 4 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("the version must be four digits"));
    }
    let version: u32 = number
        .parse()
        .map_err(|_| bad("the version must be four digits"))?;
    if version == 0 {
        return Err(bad("versions start at 0001"));
    }
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(bad("the name must be lower-case letters, digits and _"));
    }
    Ok((version, name))
}

/// Splits CQL text into statements at `;`, dropping `--` and `//` line comments and `/* */`
/// block comments, collapsing whitespace outside quotes to single spaces, and keeping quoted
/// strings and identifiers (`;` included) exactly. Text after the last `;` other than whitespace
/// and comments is an error, so a truncated file is never half-run.
pub fn split_statements(cql: &str) -> Result<Vec<String>, MigrationFileError> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut current_line = 1;
    let mut line = 1;
    let mut chars = cql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '-' | '/' if chars.peek() == Some(&c) => {
                skip_line(&mut chars, &mut line);
                push_space(&mut current);
            }
            '/' if chars.peek() == Some(&'*') => {
                let start = line;
                chars.next();
                let mut previous = ' ';
                loop {
                    match chars.next() {
                        None => {
                            return Err(MigrationFileError::UnterminatedComment { line: start });
                        }
                        Some('/') if previous == '*' => break,
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            previous = c;
                        }
                    }
                }
                push_space(&mut current);
            }
            '\'' | '"' => {
                let start = line;
                if current.trim().is_empty() {
                    current_line = line;
                }
                current.push(c);
                loop {
                    match chars.next() {
                        None => return Err(MigrationFileError::UnterminatedQuote { line: start }),
                        Some(q) if q == c => {
                            current.push(q);
                            // A doubled quote is an escaped quote, not the end.
                            if chars.peek() == Some(&c) {
                                current.push(c);
                                chars.next();
                            } else {
                                break;
                            }
                        }
                        Some(other) => {
                            if other == '\n' {
                                line += 1;
                            }
                            current.push(other);
                        }
                    }
                }
            }
            ';' => {
                let statement = current.trim();
                if statement.is_empty() {
                    return Err(MigrationFileError::EmptyStatement { line });
                }
                statements.push(statement.to_owned());
                current.clear();
            }
            c if c.is_whitespace() => {
                if c == '\n' {
                    line += 1;
                }
                push_space(&mut current);
            }
            c => {
                if current.trim().is_empty() {
                    current_line = line;
                }
                current.push(c);
            }
        }
    }
    if !current.trim().is_empty() {
        return Err(MigrationFileError::MissingSemicolon { line: current_line });
    }
    Ok(statements)
}

/// One space between tokens, none at the start of a statement.
fn push_space(current: &mut String) {
    if !current.is_empty() && !current.ends_with(' ') {
        current.push(' ');
    }
}

fn skip_line(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, line: &mut usize) {
    for c in chars.by_ref() {
        if c == '\n' {
            *line += 1;
            break;
        }
    }
}

/// The statement kinds a migration may hold: creations that are idempotent and alterations, all
/// of objects named `{keyspace}.name`, so a migration never touches another keyspace.
const ALLOWED_PREFIXES: [&str; 5] = [
    "CREATE TABLE IF NOT EXISTS {keyspace}.",
    "CREATE TYPE IF NOT EXISTS {keyspace}.",
    "CREATE INDEX IF NOT EXISTS ",
    "ALTER TABLE {keyspace}.",
    "ALTER TYPE {keyspace}.",
];

/// Checks one statement (as returned by [`split_statements`]) against the allowed kinds.
pub fn check_statement(statement: &str) -> Result<(), MigrationFileError> {
    let allowed = ALLOWED_PREFIXES.iter().any(|prefix| {
        statement
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    });
    if allowed {
        Ok(())
    } else {
        let head: String = statement.chars().take(60).collect();
        Err(MigrationFileError::UnsupportedStatement { statement: head })
    }
}

/// A migration file that cannot be applied as written.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MigrationFileError {
    /// The file name is not `NNNN_name.cql`.
    #[error("migration file name {file_name:?}: {reason}")]
    BadFileName {
        /// The file name.
        file_name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A quoted string or identifier is not closed.
    #[error("quote opened on line {line} is never closed")]
    UnterminatedQuote {
        /// Line of the opening quote.
        line: usize,
    },
    /// A `/*` comment is not closed.
    #[error("comment opened on line {line} is never closed")]
    UnterminatedComment {
        /// Line of the `/*`.
        line: usize,
    },
    /// Text after the last `;`.
    #[error("statement starting on line {line} does not end with ';'")]
    MissingSemicolon {
        /// Line where the statement starts.
        line: usize,
    },
    /// A `;` with nothing before it.
    #[error("empty statement (a lone ';') on line {line}")]
    EmptyStatement {
        /// Line of the `;`.
        line: usize,
    },
    /// A statement other than CREATE ... IF NOT EXISTS / ALTER of a `{keyspace}.` object.
    #[error(
        "unsupported migration statement {statement:?}: only CREATE TABLE/TYPE/INDEX IF NOT EXISTS and ALTER TABLE/TYPE of {{keyspace}}.objects"
    )]
    UnsupportedStatement {
        /// The statement's beginning.
        statement: String,
    },
}

/// A migration recorded in `schema_version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppliedMigration {
    pub(crate) name: String,
    pub(crate) checksum: String,
}

/// The embedded migrations not yet applied, in order, after checking the applied ones against
/// the embedded files.
pub(crate) fn pending<'m>(
    applied: &BTreeMap<u32, AppliedMigration>,
    embedded: &'m [Migration],
) -> Result<Vec<&'m Migration>, MigrateError> {
    let known: HashMap<u32, &Migration> = embedded.iter().map(|m| (m.version, m)).collect();
    for (version, recorded) in applied {
        let Some(migration) = known.get(version) else {
            return Err(MigrateError::UnknownAppliedVersion {
                version: *version,
                name: recorded.name.clone(),
                latest: embedded.iter().map(|m| m.version).max().unwrap_or(0),
            });
        };
        let embedded_checksum = migration.checksum();
        if recorded.checksum != embedded_checksum {
            return Err(MigrateError::ChecksumMismatch {
                version: *version,
                file_name: migration.file_name,
                recorded: recorded.checksum.clone(),
                embedded: embedded_checksum,
            });
        }
    }
    Ok(embedded
        .iter()
        .filter(|m| !applied.contains_key(&m.version))
        .collect())
}

/// `CREATE KEYSPACE` for the settings: NetworkTopologyStrategy with the configured factor per
/// datacenter (SimpleStrategy ignores datacenters and racks, so it is never used).
pub fn keyspace_cql(settings: &ScyllaSettings) -> String {
    let factors: Vec<String> = settings
        .replication
        .iter()
        .map(|(datacenter, factor)| format!(", '{datacenter}': {factor}"))
        .collect();
    format!(
        "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = \
         {{'class': 'NetworkTopologyStrategy'{}}} AND durable_writes = true",
        settings.keyspace,
        factors.concat()
    )
}

/// `CREATE TABLE` of the table recording applied migrations.
pub fn schema_version_table_cql(keyspace: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {keyspace}.{SCHEMA_VERSION_TABLE} \
         (version int PRIMARY KEY, name text, checksum text, applied_at timestamp)"
    )
}

/// Whether an existing keyspace's replication (as `system_schema.keyspaces` reports it) is the
/// configured one.
pub(crate) fn replication_matches(
    found: &HashMap<String, String>,
    configured: &BTreeMap<String, u32>,
) -> bool {
    let network_topology = found
        .get("class")
        .is_some_and(|class| class.ends_with("NetworkTopologyStrategy"));
    let factors: BTreeMap<&str, Option<u32>> = found
        .iter()
        .filter(|(key, _)| key.as_str() != "class")
        .map(|(datacenter, factor)| (datacenter.as_str(), factor.parse().ok()))
        .collect();
    let wanted: BTreeMap<&str, Option<u32>> = configured
        .iter()
        .map(|(datacenter, factor)| (datacenter.as_str(), Some(*factor)))
        .collect();
    network_topology && factors == wanted
}

fn describe_replication(found: &HashMap<String, String>) -> String {
    let sorted: BTreeMap<&String, &String> = found.iter().collect();
    format!("{sorted:?}")
}

/// Creates the keyspace if needed and applies every embedded migration not yet recorded, in
/// order. Returns the versions applied now (empty when the schema was already current).
///
/// Run it from one place at a time (the `purse-projector migrate` step of a deployment): the
/// statements are idempotent, but two runs at once may both apply, and record, the same version.
pub async fn migrate(
    session: &Session,
    settings: &ScyllaSettings,
) -> Result<Vec<u32>, MigrateError> {
    settings.validate()?;
    let keyspace = settings.keyspace.as_str();
    // Every file is checked before anything runs, so a bad file changes nothing.
    let mut plans = Vec::new();
    for migration in migrations() {
        let statements = migration
            .statements(keyspace)
            .map_err(|source| MigrateError::File {
                file_name: migration.file_name,
                source,
            })?;
        plans.push((migration, statements));
    }

    ensure_keyspace(session, settings).await?;
    session
        .query_unpaged(schema_version_table_cql(keyspace), ())
        .await
        .map_err(|e| bookkeeping("create the schema_version table", e))?;
    let applied = read_applied(session, keyspace).await?;
    let pending_versions: Vec<u32> = pending(&applied, migrations())?
        .iter()
        .map(|m| m.version)
        .collect();

    let insert = format!(
        "INSERT INTO {keyspace}.{SCHEMA_VERSION_TABLE} (version, name, checksum, applied_at) \
         VALUES (?, ?, ?, ?)"
    );
    let mut done = Vec::new();
    for (migration, statements) in plans {
        if !pending_versions.contains(&migration.version) {
            continue;
        }
        for (index, statement) in statements.iter().enumerate() {
            session
                .query_unpaged(statement.as_str(), ())
                .await
                .map_err(|source| MigrateError::Statement {
                    file_name: migration.file_name,
                    number: index + 1,
                    source: Box::new(source),
                })?;
        }
        // Recorded only once every node has the new schema, so a reader that sees the version
        // also sees the tables.
        session
            .await_schema_agreement()
            .await
            .map_err(|e| MigrateError::SchemaAgreement(Box::new(e)))?;
        let version = i32::try_from(migration.version).unwrap_or(i32::MAX);
        session
            .query_unpaged(
                insert.as_str(),
                (
                    version,
                    migration.name,
                    migration.checksum(),
                    CqlTimestamp(now_ms()),
                ),
            )
            .await
            .map_err(|e| bookkeeping("record the applied version", e))?;
        tracing::info!(
            keyspace,
            version = migration.version,
            file = migration.file_name,
            "schema migration applied"
        );
        done.push(migration.version);
    }
    Ok(done)
}

async fn ensure_keyspace(session: &Session, settings: &ScyllaSettings) -> Result<(), MigrateError> {
    let found = session
        .query_unpaged(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
            (settings.keyspace.as_str(),),
        )
        .await
        .map_err(|e| bookkeeping("read the keyspace", e))?
        .into_rows_result()
        .map_err(|e| bookkeeping("read the keyspace", e))?
        .maybe_first_row::<(HashMap<String, String>,)>()
        .map_err(|e| bookkeeping("read the keyspace", e))?;
    match found {
        Some((replication,)) if replication_matches(&replication, &settings.replication) => Ok(()),
        Some((replication,)) => Err(MigrateError::ReplicationMismatch {
            keyspace: settings.keyspace.clone(),
            configured: format!("{:?}", settings.replication),
            found: describe_replication(&replication),
        }),
        None => {
            session
                .query_unpaged(keyspace_cql(settings), ())
                .await
                .map_err(|e| bookkeeping("create the keyspace", e))?;
            session
                .await_schema_agreement()
                .await
                .map_err(|e| MigrateError::SchemaAgreement(Box::new(e)))?;
            tracing::info!(keyspace = settings.keyspace, "keyspace created");
            Ok(())
        }
    }
}

pub(crate) async fn read_applied(
    session: &Session,
    keyspace: &str,
) -> Result<BTreeMap<u32, AppliedMigration>, MigrateError> {
    let rows = session
        .query_unpaged(
            format!("SELECT version, name, checksum FROM {keyspace}.{SCHEMA_VERSION_TABLE}"),
            (),
        )
        .await
        .map_err(|e| bookkeeping("read applied versions", e))?
        .into_rows_result()
        .map_err(|e| bookkeeping("read applied versions", e))?;
    let mut applied = BTreeMap::new();
    for row in rows
        .rows::<(i32, Option<String>, Option<String>)>()
        .map_err(|e| bookkeeping("read applied versions", e))?
    {
        let (version, name, checksum) = row.map_err(|e| bookkeeping("read applied versions", e))?;
        let version =
            u32::try_from(version).map_err(|_| MigrateError::CorruptVersionRow { version })?;
        applied.insert(
            version,
            AppliedMigration {
                name: name.unwrap_or_default(),
                checksum: checksum.unwrap_or_default(),
            },
        );
    }
    Ok(applied)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn bookkeeping(
    step: &'static str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> MigrateError {
    MigrateError::Bookkeeping {
        step,
        source: Box::new(source),
    }
}

/// Why [`migrate`] stopped. Nothing after the failing step ran; what ran before is idempotent
/// and is simply run again next time.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum MigrateError {
    /// The settings are invalid.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// An embedded migration file cannot be applied as written (a build defect).
    #[error("migration {file_name}: {source}")]
    File {
        /// The file.
        file_name: &'static str,
        /// What is wrong with it.
        #[source]
        source: MigrationFileError,
    },
    /// The keyspace exists with another replication. It is never altered automatically, because
    /// changing replication needs a repair: run `ALTER KEYSPACE` and `nodetool repair` by hand,
    /// or fix the configured replication.
    #[error(
        "keyspace {keyspace} exists with replication {found}, but {configured} is configured; \
         alter it by hand (ALTER KEYSPACE, then repair) or fix the configuration"
    )]
    ReplicationMismatch {
        /// The keyspace.
        keyspace: String,
        /// The configured datacenter → factor map.
        configured: String,
        /// What `system_schema.keyspaces` reports.
        found: String,
    },
    /// An applied migration's file has changed since it was applied.
    #[error(
        "migration {file_name} was applied with checksum {recorded} but the embedded file has \
         {embedded}: released migrations must not change; put the change in a new file"
    )]
    ChecksumMismatch {
        /// The version.
        version: u32,
        /// The embedded file.
        file_name: &'static str,
        /// Checksum recorded when it was applied.
        recorded: String,
        /// Checksum of the embedded file.
        embedded: String,
    },
    /// The keyspace has a migration this build does not know: it was migrated by a newer build.
    #[error(
        "schema version {version} ({name}) is applied but this build only knows versions up to \
         {latest}; run a build at least as new as the one that migrated"
    )]
    UnknownAppliedVersion {
        /// The unknown version.
        version: u32,
        /// Its recorded name.
        name: String,
        /// Newest version this build knows.
        latest: u32,
    },
    /// A statement of a migration failed.
    #[error("migration {file_name}, statement {number}: {source}")]
    Statement {
        /// The file.
        file_name: &'static str,
        /// The statement's position in the file, from 1.
        number: usize,
        /// The driver's error.
        #[source]
        source: Box<ExecutionError>,
    },
    /// Reading or writing the keyspace or `schema_version` failed.
    #[error("could not {step}: {source}")]
    Bookkeeping {
        /// What was being done.
        step: &'static str,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The nodes did not agree on the schema in time.
    #[error("schema agreement: {0}")]
    SchemaAgreement(#[source] Box<SchemaAgreementError>),
    /// A `schema_version` row with a negative version.
    #[error("schema_version holds a negative version {version}")]
    CorruptVersionRow {
        /// The version found.
        version: i32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields of `CREATE TYPE {keyspace}.udt` in the migrations, one a line as the files
    /// write them.
    /// The body of the first `CREATE {kind} IF NOT EXISTS` of `name` in the migrations.
    fn migrated_body(kind: &str, name: &str) -> &'static str {
        let opening = format!("CREATE {kind} IF NOT EXISTS {KEYSPACE_PLACEHOLDER}.{name} (\n");
        MIGRATIONS
            .iter()
            .find_map(|migration| {
                let start = migration.cql.find(&opening)? + opening.len();
                let length = migration.cql[start..].find("\n)")?;
                Some(&migration.cql[start..start + length])
            })
            .unwrap_or_else(|| panic!("no migration creates {kind} {name}"))
    }

    /// Its fields as created, then those later migrations add (`ALTER TYPE ... ADD`), in order.
    fn migrated_udt_fields(udt: &str) -> Vec<(String, String)> {
        let alter = format!("ALTER TYPE {KEYSPACE_PLACEHOLDER}.{udt} ADD ");
        let added = MIGRATIONS.iter().flat_map(|migration| {
            migration
                .cql
                .lines()
                .filter_map(|line| line.strip_prefix(alter.as_str()))
                .map(|field| field.trim_end_matches(';'))
        });
        migrated_body("TYPE", udt)
            .lines()
            .map(|line| line.trim().trim_end_matches(','))
            .filter(|line| !line.is_empty() && !line.starts_with("--"))
            .chain(added)
            .map(|line| {
                let (name, ty) = line.split_once(' ').expect("a field and its type");
                (name.to_owned(), ty.to_owned())
            })
            .collect()
    }

    /// The shared declarations (`purse_store::schema`) describe exactly the UDT cells the
    /// released migrations create, so existing keyspaces need no migration.
    #[test]
    fn the_declared_groups_are_the_migrated_udts() {
        for table in purse_store::schema::GROUPED_TABLES {
            for group in table.groups {
                let declared: Vec<(String, String)> = ["precedence", "version"]
                    .into_iter()
                    .map(|leading| (leading.to_owned(), "bigint".to_owned()))
                    .chain(
                        group
                            .columns
                            .iter()
                            .map(|column| (column.name.to_owned(), column.ty.cql().to_owned())),
                    )
                    .collect();
                assert_eq!(
                    declared,
                    migrated_udt_fields(group.cql_udt),
                    "{}",
                    group.cql_udt
                );
                let cell = format!("    {} frozen<{}>", group.cql_cell, group.cql_udt);
                assert!(
                    MIGRATIONS
                        .iter()
                        .any(|migration| migration.cql.contains(&cell)),
                    "no table has the cell {cell:?}"
                );
            }
        }
    }

    /// The CQL table of an index as the released migrations write it.
    fn index_table_cql(index: &purse_store::schema::Index) -> String {
        use purse_store::schema::Order;
        let column = |c: &purse_store::schema::Column| format!("    {} {}", c.name, c.ty.cql());
        let names = |columns: &[purse_store::schema::Column]| {
            columns
                .iter()
                .map(|c| c.name)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let opening = format!(
            "CREATE TABLE IF NOT EXISTS {KEYSPACE_PLACEHOLDER}.{} (\n",
            index.name
        );
        let direction = match index.order {
            Order::Single => {
                let [lookup] = index.lookup else {
                    panic!("{}: one looked-up column", index.name)
                };
                let columns: Vec<String> =
                    std::iter::once(format!("{} PRIMARY KEY", column(lookup)))
                        .chain(index.listed.iter().map(column))
                        .collect();
                return format!("{opening}{}\n);", columns.join(",\n"));
            }
            Order::Ascending => "ASC",
            Order::Descending => "DESC",
        };
        let columns: Vec<String> = index
            .lookup
            .iter()
            .chain(index.listed)
            .map(column)
            .collect();
        let clustering: Vec<String> = index
            .listed
            .iter()
            .map(|c| format!("{} {direction}", c.name))
            .collect();
        format!(
            "{opening}{},\n    PRIMARY KEY (({}), {})\n) WITH CLUSTERING ORDER BY ({});",
            columns.join(",\n"),
            names(index.lookup),
            names(index.listed),
            clustering.join(", "),
        )
    }

    /// The declared records are the tables (and their cells' UDTs) the released migrations
    /// create.
    #[test]
    fn the_declared_records_are_the_migrated_tables() {
        for record in purse_store::schema::RECORDS {
            let table = migrated_body("TABLE", record.cql);
            let plain: &[purse_store::schema::Column] = if record.cql_cell.is_some() {
                &[]
            } else {
                record.columns
            };
            for column in record.keys.iter().chain(plain) {
                let line = format!("    {} {}", column.name, column.ty.cql());
                assert!(table.contains(&line), "{}: {line:?}", record.cql);
            }
            if let Some((cell, udt)) = record.cql_cell {
                assert!(
                    table.contains(&format!("    {cell} frozen<{udt}>")),
                    "{}: cell {cell}",
                    record.cql
                );
                let declared: Vec<(String, String)> =
                    std::iter::once(("precedence".to_owned(), "bigint".to_owned()))
                        .chain(
                            record
                                .columns
                                .iter()
                                .map(|c| (c.name.to_owned(), c.ty.cql().to_owned())),
                        )
                        .collect();
                assert_eq!(declared, migrated_udt_fields(udt), "{udt}");
            }
        }
    }

    /// The declared indexes are the index tables the released migrations create.
    #[test]
    fn the_declared_indexes_are_the_migrated_index_tables() {
        for index in purse_store::schema::INDEXES {
            let cql = index_table_cql(index);
            assert!(
                MIGRATIONS
                    .iter()
                    .any(|migration| migration.cql.contains(&cql)),
                "no migration creates {cql}"
            );
        }
    }

    fn settings(replication: &[(&str, u32)]) -> ScyllaSettings {
        ScyllaSettings::new(
            vec!["scylla:9042".to_owned()],
            replication
                .iter()
                .map(|(dc, rf)| ((*dc).to_owned(), *rf))
                .collect(),
        )
    }

    #[test]
    fn embedded_migrations_match_their_file_names_and_are_contiguous() {
        for (index, migration) in migrations().iter().enumerate() {
            let (version, name) = parse_file_name(migration.file_name()).expect("file name");
            assert_eq!(version, migration.version(), "{}", migration.file_name());
            assert_eq!(name, migration.name(), "{}", migration.file_name());
            assert_eq!(
                migration.version() as usize,
                index + 1,
                "versions run from 1 without gaps"
            );
        }
    }

    #[test]
    fn deploy_directory_holds_exactly_the_embedded_migrations() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/scylla");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("deploy/scylla")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .into_string()
                    .expect("utf-8")
            })
            .filter(|name| name.ends_with(".cql"))
            .collect();
        on_disk.sort();
        let embedded: Vec<&str> = migrations().iter().map(|m| m.file_name()).collect();
        assert_eq!(
            on_disk, embedded,
            "a .cql file is not embedded (or vice versa)"
        );
        for migration in migrations() {
            let text = std::fs::read_to_string(dir.join(migration.file_name())).expect("read");
            assert_eq!(text, migration.cql(), "{}", migration.file_name());
        }
    }

    /// Released migrations never change: a new checksum here means an applied file was edited,
    /// which `migrate` would refuse on every existing cluster. Add a new file instead.
    #[test]
    fn released_migrations_keep_their_checksums() {
        let released: [(u32, &str); 4] = [
            (
                1,
                "e1e20070aff5cc9d2c3bd335e86eee127c879ca454235623ce39c664834b5e43",
            ),
            (
                2,
                "34cca85aea46e15a228b42acaedfee83f57cd7a9d88de157aa6c21477bc1cccf",
            ),
            (
                3,
                "0c6cd0cfc5d728e578615cdae0321501980fc8b427c9aefa1e2d33d220895d18",
            ),
            (
                4,
                "d49713ad0971ecc6938ae97b2ea2387d821c3076fd0af97f1ce68a3d0e620cdd",
            ),
        ];
        for (version, expected) in released {
            let migration = migrations()
                .iter()
                .find(|m| m.version() == version)
                .expect("released migration is embedded");
            assert_eq!(migration.checksum(), expected, "{}", migration.file_name());
        }
    }

    #[test]
    fn embedded_migrations_split_into_checked_statements() {
        for migration in migrations() {
            let statements = migration.statements("purse_x").expect("valid file");
            assert!(!statements.is_empty());
            for statement in &statements {
                assert!(!statement.contains(KEYSPACE_PLACEHOLDER), "{statement}");
                assert!(
                    statement.contains("purse_x."),
                    "names its keyspace: {statement}"
                );
                assert!(
                    !statement.contains("--"),
                    "comments are stripped: {statement}"
                );
            }
        }
    }

    #[test]
    fn file_names_parse_or_are_refused_precisely() {
        assert_eq!(
            parse_file_name("0001_read_models.cql"),
            Ok((1, "read_models"))
        );
        assert_eq!(parse_file_name("0123_add_x2.cql"), Ok((123, "add_x2")));
        for (file_name, reason) in [
            ("0001_read_models.sql", "must end in .cql"),
            ("0001.cql", "expected NNNN_name.cql"),
            ("1_read_models.cql", "the version must be four digits"),
            ("00a1_read_models.cql", "the version must be four digits"),
            ("0000_read_models.cql", "versions start at 0001"),
            (
                "0002_Read-Models.cql",
                "the name must be lower-case letters, digits and _",
            ),
            (
                "0002_.cql",
                "the name must be lower-case letters, digits and _",
            ),
        ] {
            assert_eq!(
                parse_file_name(file_name),
                Err(MigrationFileError::BadFileName {
                    file_name: file_name.to_owned(),
                    reason
                }),
                "{file_name}"
            );
        }
    }

    #[test]
    fn statements_split_around_comments_and_quotes() {
        let cql = "-- header; not a statement\n\
                   CREATE TABLE IF NOT EXISTS {keyspace}.a (k int PRIMARY KEY, -- key\n\
                   v text) WITH comment = 'semi; colon' ;\n\
                   /* block; comment */ CREATE TYPE IF NOT EXISTS {keyspace}.\"T;\" (x int);\n\
                   // trailing comment\n";
        assert_eq!(
            split_statements(cql).expect("valid"),
            vec![
                "CREATE TABLE IF NOT EXISTS {keyspace}.a (k int PRIMARY KEY, v text) WITH \
                 comment = 'semi; colon'"
                    .to_owned(),
                "CREATE TYPE IF NOT EXISTS {keyspace}.\"T;\" (x int)".to_owned(),
            ]
        );
        assert_eq!(
            split_statements("ALTER TABLE {keyspace}.a\n  WITH comment = 'it''s  --  kept';")
                .expect("valid"),
            vec!["ALTER TABLE {keyspace}.a WITH comment = 'it''s  --  kept'".to_owned()]
        );
        assert_eq!(
            split_statements("ALTER TABLE {keyspace}.a--comment\nWITH x = 1;").expect("valid"),
            vec!["ALTER TABLE {keyspace}.a WITH x = 1".to_owned()]
        );
    }

    #[test]
    fn malformed_statements_are_refused_precisely() {
        assert_eq!(
            split_statements(
                "CREATE TABLE IF NOT EXISTS {keyspace}.a (k int PRIMARY KEY);\n\nCREATE TYPE"
            ),
            Err(MigrationFileError::MissingSemicolon { line: 3 })
        );
        assert_eq!(
            split_statements("\nALTER TABLE {keyspace}.a WITH comment = 'open;\n"),
            Err(MigrationFileError::UnterminatedQuote { line: 2 })
        );
        assert_eq!(
            split_statements("/* never closed"),
            Err(MigrationFileError::UnterminatedComment { line: 1 })
        );
        assert_eq!(
            split_statements("CREATE TYPE IF NOT EXISTS {keyspace}.t (x int);\n;"),
            Err(MigrationFileError::EmptyStatement { line: 2 })
        );
        for statement in [
            "CREATE TABLE {keyspace}.a (k int PRIMARY KEY)",
            "CREATE TABLE IF NOT EXISTS other.a (k int PRIMARY KEY)",
            "DROP TABLE {keyspace}.a",
            "INSERT INTO {keyspace}.a (k) VALUES (1)",
        ] {
            assert!(
                matches!(
                    check_statement(statement),
                    Err(MigrationFileError::UnsupportedStatement { .. })
                ),
                "{statement}"
            );
        }
        assert_eq!(
            check_statement("create type if not exists {keyspace}.t (x int)"),
            Ok(())
        );
    }

    fn applied(entries: &[(u32, &str, String)]) -> BTreeMap<u32, AppliedMigration> {
        entries
            .iter()
            .map(|(version, name, checksum)| {
                (
                    *version,
                    AppliedMigration {
                        name: (*name).to_owned(),
                        checksum: checksum.clone(),
                    },
                )
            })
            .collect()
    }

    const FIRST: Migration = Migration {
        version: 1,
        name: "first",
        file_name: "0001_first.cql",
        cql: "CREATE TYPE IF NOT EXISTS {keyspace}.t (x int);",
    };
    const SECOND: Migration = Migration {
        version: 2,
        name: "second",
        file_name: "0002_second.cql",
        cql: "ALTER TYPE {keyspace}.t ADD y int;",
    };

    #[test]
    fn pending_migrations_are_the_unapplied_ones_in_order() {
        let embedded = [FIRST, SECOND];
        let versions = |pending: Vec<&Migration>| -> Vec<u32> {
            pending.iter().map(|m| m.version()).collect()
        };
        assert_eq!(
            versions(pending(&BTreeMap::new(), &embedded).expect("fresh")),
            [1, 2]
        );
        let first_done = applied(&[(1, "first", FIRST.checksum())]);
        assert_eq!(
            versions(pending(&first_done, &embedded).expect("half")),
            [2]
        );
        let both_done = applied(&[
            (1, "first", FIRST.checksum()),
            (2, "second", SECOND.checksum()),
        ]);
        assert!(
            pending(&both_done, &embedded).expect("current").is_empty(),
            "re-running applies nothing"
        );
    }

    #[test]
    fn a_changed_applied_file_is_a_checksum_mismatch() {
        let edited = Migration {
            cql: "CREATE TYPE IF NOT EXISTS {keyspace}.t (x bigint);",
            ..FIRST
        };
        let recorded = applied(&[(1, "first", FIRST.checksum())]);
        match pending(&recorded, &[edited, SECOND]) {
            Err(MigrateError::ChecksumMismatch {
                version: 1,
                file_name: "0001_first.cql",
                recorded: r,
                embedded: e,
            }) => {
                assert_eq!(r, FIRST.checksum());
                assert_eq!(e, edited.checksum());
            }
            other => panic!("expected a checksum mismatch, got {other:?}"),
        }
    }

    #[test]
    fn a_version_from_a_newer_build_is_refused() {
        let recorded = applied(&[
            (1, "first", FIRST.checksum()),
            (2, "second", SECOND.checksum()),
        ]);
        assert!(matches!(
            pending(&recorded, &[FIRST]),
            Err(MigrateError::UnknownAppliedVersion {
                version: 2,
                latest: 1,
                ..
            })
        ));
    }

    #[test]
    fn checksums_are_sha256_hex() {
        assert_eq!(
            checksum(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_ne!(checksum("a"), checksum("a "));
    }

    #[test]
    fn keyspace_uses_network_topology_per_datacenter() {
        assert_eq!(
            keyspace_cql(&settings(&[("datacenter1", 3), ("dc2", 2)])),
            "CREATE KEYSPACE IF NOT EXISTS purse WITH replication = {'class': \
             'NetworkTopologyStrategy', 'datacenter1': 3, 'dc2': 2} AND durable_writes = true"
        );
        assert_eq!(
            schema_version_table_cql("purse"),
            "CREATE TABLE IF NOT EXISTS purse.schema_version (version int PRIMARY KEY, name \
             text, checksum text, applied_at timestamp)"
        );
    }

    #[test]
    fn existing_replication_is_compared_with_the_configured_one() {
        let configured = BTreeMap::from([("dc1".to_owned(), 3), ("dc2".to_owned(), 3)]);
        let found = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let nts = "org.apache.cassandra.locator.NetworkTopologyStrategy";
        assert!(replication_matches(
            &found(&[("class", nts), ("dc1", "3"), ("dc2", "3")]),
            &configured
        ));
        assert!(replication_matches(
            &found(&[
                ("class", "NetworkTopologyStrategy"),
                ("dc1", "3"),
                ("dc2", "3")
            ]),
            &configured
        ));
        for mismatch in [
            found(&[("class", nts), ("dc1", "3")]),
            found(&[("class", nts), ("dc1", "3"), ("dc2", "1")]),
            found(&[("class", nts), ("dc1", "3"), ("dc2", "3"), ("dc3", "3")]),
            found(&[
                ("class", "org.apache.cassandra.locator.SimpleStrategy"),
                ("replication_factor", "3"),
            ]),
        ] {
            assert!(!replication_matches(&mismatch, &configured), "{mismatch:?}");
        }
    }
}
