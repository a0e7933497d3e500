//! What the embedded store promises beyond the contract: one transaction per `apply`, data that
//! survives reopening, and refusal of files it does not understand.

use purse_store::{
    BalanceRow, Checkpoint, Decimal, ReadStore, RowWrite, SqliteStore, StoreError, Uuid,
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
/// version 2 tables (top-ups, payments, stored cards, auto top-up rules) and keeps its rows.
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
             DROP TABLE auto_top_up_rules; PRAGMA user_version = 1;",
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
    assert_eq!(version, 2);
}
