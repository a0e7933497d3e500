//! The `ReadStore` contract suite, run against the embedded SQLite store.

use std::ops::Deref;

use purse_store::SqliteStore;
use tempfile::TempDir;

/// A store in a fresh temporary directory, removed when the test ends.
struct TempStore {
    // Declared first so the store closes before the directory goes.
    store: SqliteStore,
    _dir: TempDir,
}

impl Deref for TempStore {
    type Target = SqliteStore;

    fn deref(&self) -> &SqliteStore {
        &self.store
    }
}

async fn fresh_store() -> TempStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("store.db")).expect("open store");
    TempStore { store, _dir: dir }
}

purse_store::read_store_contract_tests!(fresh_store);
