//! What the embedded store promises beyond the contract: one transaction per `apply`, data that
//! survives reopening, and refusal of files it does not understand.

use purse_store::{
    AutoTopUpActivityRow, AutoTopUpRuleRow, BalanceRow, Checkpoint, Decimal, EntryType, HistoryRow,
    PageRequest, ReadStore, RowWrite, SqliteStore, StoreError, TopUpRow, Uuid,
};

fn balance(wallet_id: Uuid, amount: &str, version: u64) -> RowWrite {
    RowWrite::Balance(BalanceRow {
        wallet_id,
        balance: amount.parse::<Decimal>().expect("decimal"),
        held: Decimal::ZERO,
        version,
    })
}

fn checkpoint(next_offset: u64) -> Checkpoint {
    Checkpoint {
        projector: "wallets".to_owned(),
        topic: "purse.wallet.events".to_owned(),
        partition: 0,
        next_offset,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_apply_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("store.db")).expect("open");
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    store
        .apply(vec![balance(a, "1.00", 1)], vec![checkpoint(1)])
        .await
        .expect("apply");

    // The last write cannot be stored (versions are signed 64-bit in SQLite).
    let result = store
        .apply(
            vec![
                balance(a, "2.00", 2),
                balance(b, "3.00", 2),
                balance(b, "4.00", u64::MAX),
            ],
            vec![checkpoint(2)],
        )
        .await;
    assert!(
        matches!(result, Err(StoreError::OutOfRange { value: u64::MAX })),
        "{result:?}"
    );
    assert_eq!(
        store.get_balance(a).await.expect("get").map(|b| b.version),
        Some(1),
        "the earlier writes of the failed apply must be rolled back"
    );
    assert_eq!(store.get_balance(b).await.expect("get"), None);
    assert_eq!(
        store
            .checkpoint("wallets", "purse.wallet.events", 0)
            .await
            .expect("checkpoint"),
        Some(1),
        "the checkpoint must not move past rows that were not written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_and_checkpoints_survive_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let wallet_id = Uuid::now_v7();
    {
        let store = SqliteStore::open(&path).expect("open");
        store
            .apply(vec![balance(wallet_id, "20.00", 4)], vec![checkpoint(9)])
            .await
            .expect("apply");
    }
    let store = SqliteStore::open(&path).expect("reopen");
    let read = store
        .get_balance(wallet_id)
        .await
        .expect("get")
        .expect("row");
    assert_eq!(
        (read.balance.to_string(), read.version),
        ("20.00".to_owned(), 4)
    );
    assert_eq!(
        store
            .checkpoint("wallets", "purse.wallet.events", 0)
            .await
            .expect("checkpoint"),
        Some(9)
    );
}

#[test]
fn a_file_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    rusqlite::Connection::open(&path)
        .expect("sqlite")
        .pragma_update(None, "user_version", 99)
        .expect("user_version");
    assert!(matches!(
        SqliteStore::open(&path),
        Err(StoreError::UnsupportedSchema { found: 99, .. })
    ));
}

/// A file written by a build that knew only schema version 1 (wallet read models) gains the
/// version 2 tables (top-ups, payments, stored cards, auto top-up rules) and the version 3
/// columns and index, and keeps its rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_file_is_migrated_in_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let wallet_id = Uuid::now_v7();
    {
        let store = SqliteStore::open(&path).expect("open");
        store
            .apply(vec![balance(wallet_id, "5.00", 1)], vec![checkpoint(3)])
            .await
            .expect("apply");
    }
    {
        // Back to what a version 1 build left behind.
        let conn = rusqlite::Connection::open(&path).expect("sqlite");
        conn.execute_batch(
            "DROP TABLE top_ups; DROP TABLE payments; DROP TABLE payment_methods;
             DROP TABLE auto_top_up_rules; ALTER TABLE history DROP COLUMN held_after;
             PRAGMA user_version = 1;",
        )
        .expect("downgrade");
    }
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(
        store
            .get_balance(wallet_id)
            .await
            .expect("balance")
            .map(|b| b.balance.to_string()),
        Some("5.00".to_owned())
    );
    assert_eq!(
        store
            .checkpoint("wallets", "purse.wallet.events", 0)
            .await
            .expect("checkpoint"),
        Some(3)
    );
    assert_eq!(store.get_top_up(wallet_id).await.expect("top-ups"), None);
    assert_eq!(
        store.get_auto_top_up_rule(wallet_id).await.expect("rules"),
        None
    );
    let version: i64 = rusqlite::Connection::open(&path)
        .expect("sqlite")
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("user_version");
    assert_eq!(version, 4);
}

fn top_up(wallet_id: Uuid, top_up_id: Uuid, created_at_ms: i64) -> TopUpRow {
    TopUpRow {
        top_up_id,
        tenant: "acme".to_owned(),
        wallet_id,
        owner: "alice".to_owned(),
        kind: "manual".to_owned(),
        asset: "USD".to_owned(),
        amount: "20.00".parse().expect("decimal"),
        wallet_amount: "20.00".parse().expect("decimal"),
        fee: "0.00".parse().expect("decimal"),
        status: "created".to_owned(),
        failure_reason: None,
        payment_id: Uuid::now_v7(),
        checkout_session_id: None,
        payment_method_id: None,
        expires_at_ms: created_at_ms + 300_000,
        lots_expire_at_ms: None,
        credited: "0.00".parse().expect("decimal"),
        late_capture: None,
        created_at_ms,
        updated_at_ms: created_at_ms,
        version: 1,
    }
}

/// A file of schema version 2 (top-ups indexed by id; rules without back-off state) keeps its
/// top-ups and rules: they list by creation time at once (the new index covers existing rows),
/// and a rule reads with no activity until the saga reports some.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_2_file_is_migrated_in_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let wallet_id = Uuid::now_v7();
    // The older top-up has the larger id.
    let (older, newer) = (Uuid::from_u128(u128::MAX), Uuid::from_u128(1));
    let rule = AutoTopUpRuleRow {
        wallet_id,
        tenant: "acme".to_owned(),
        owner: "alice".to_owned(),
        asset: "USD".to_owned(),
        threshold: "5.00".parse().expect("decimal"),
        amount: Some("20.00".parse().expect("decimal")),
        target_balance: None,
        payment_method_id: Uuid::now_v7(),
        daily_max_count: 3,
        daily_max_amount: None,
        backoff_ms: 3_600_000,
        fee_rate: "0".parse().expect("decimal"),
        timeout_ms: 300_000,
        removed: false,
        updated_at_ms: 1_700_000_000_000,
        activity: AutoTopUpActivityRow::default(),
        version: 1,
    };
    {
        let store = SqliteStore::open(&path).expect("open");
        store
            .apply(
                vec![
                    RowWrite::TopUp(top_up(wallet_id, older, 1_700_000_000_000)),
                    RowWrite::TopUp(top_up(wallet_id, newer, 1_700_000_060_000)),
                    RowWrite::AutoTopUpRule(rule.clone()),
                ],
                Vec::new(),
            )
            .await
            .expect("apply");
    }
    {
        // Back to what a version 2 build left behind.
        let conn = rusqlite::Connection::open(&path).expect("sqlite");
        conn.execute_batch(
            "DROP INDEX top_ups_by_wallet_created;
             CREATE INDEX top_ups_by_wallet ON top_ups (wallet_id, top_up_id);
             ALTER TABLE auto_top_up_rules DROP COLUMN last_failure_top_up_id;
             ALTER TABLE auto_top_up_rules DROP COLUMN last_failure_reason;
             ALTER TABLE auto_top_up_rules DROP COLUMN last_failed_at_ms;
             ALTER TABLE auto_top_up_rules DROP COLUMN failure_version;
             ALTER TABLE auto_top_up_rules DROP COLUMN consecutive_failures;
             ALTER TABLE auto_top_up_rules DROP COLUMN backoff_until_ms;
             ALTER TABLE auto_top_up_rules DROP COLUMN backoff_version;
             ALTER TABLE auto_top_up_rules DROP COLUMN cap_reached_until_ms;
             ALTER TABLE auto_top_up_rules DROP COLUMN cap_version;
             ALTER TABLE history DROP COLUMN held_after;
             PRAGMA user_version = 2;",
        )
        .expect("downgrade");
    }
    let store = SqliteStore::open(&path).expect("reopen");
    let listed: Vec<Uuid> = store
        .list_top_ups_by_wallet(wallet_id, PageRequest::default())
        .await
        .expect("list")
        .items
        .iter()
        .map(|t| t.top_up_id)
        .collect();
    assert_eq!(listed, vec![newer, older], "newest first by creation time");
    assert_eq!(
        store.get_auto_top_up_rule(wallet_id).await.expect("rule"),
        Some(rule)
    );
    let indexes: Vec<String> = {
        let conn = rusqlite::Connection::open(&path).expect("sqlite");
        let mut statement = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'top_ups'")
            .expect("prepare");
        statement
            .query_map([], |row| row.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    assert!(
        indexes.contains(&"top_ups_by_wallet_created".to_owned())
            && !indexes.contains(&"top_ups_by_wallet".to_owned()),
        "{indexes:?}"
    );
}

fn entry(wallet_id: Uuid, sequence: u64, at_ms: i64) -> HistoryRow {
    HistoryRow {
        wallet_id,
        sequence,
        entry_id: Uuid::now_v7(),
        entry_type: EntryType::Credit,
        amount: Decimal::ONE,
        balance_after: Decimal::from(sequence),
        held_after: Some(Decimal::new(25, 2)),
        lots: Vec::new(),
        reference: String::new(),
        description: String::new(),
        detail: String::new(),
        hold_id: None,
        occurred_at_ms: at_ms,
    }
}

/// Step 4 adds `held_after` to the history: entries written before it read back without one
/// (what GetBalance as of their instant reports as not recorded), entries written after with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_3_file_is_migrated_in_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let wallet_id = Uuid::now_v7();
    {
        let store = SqliteStore::open(&path).expect("open");
        store
            .apply(vec![RowWrite::History(entry(wallet_id, 1, 100))], vec![])
            .await
            .expect("apply");
    }
    {
        // Back to what a version 3 build left behind.
        let conn = rusqlite::Connection::open(&path).expect("sqlite");
        conn.execute_batch("ALTER TABLE history DROP COLUMN held_after; PRAGMA user_version = 3;")
            .expect("downgrade");
    }
    let store = SqliteStore::open(&path).expect("reopen");
    store
        .apply(vec![RowWrite::History(entry(wallet_id, 2, 200))], vec![])
        .await
        .expect("apply after the migration");
    let held = |as_of_ms| {
        let store = &store;
        async move {
            let found = store
                .history_as_of(wallet_id, as_of_ms)
                .await
                .expect("as of");
            found.map(|entry| (entry.sequence, entry.held_after))
        }
    };
    assert_eq!(held(150).await, Some((1, None)), "written before step 4");
    assert_eq!(
        held(200).await,
        Some((2, Some(Decimal::new(25, 2)))),
        "written after step 4"
    );
}
