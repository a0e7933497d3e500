//! The behaviour every [`ReadStore`] must have, as reusable async test cases.
//!
//! Each case takes a store and panics (with a message saying what broke) if the store
//! misbehaves. Cases use fresh ids (UUIDv7) and tenants, so they may share one store, or one
//! ScyllaDB keyspace across runs.
//!
//! An implementation runs all of them with
//! [`read_store_contract_tests!`](crate::read_store_contract_tests) in one of its test files:
//!
//! ```no_run
//! use std::sync::Arc;
//! use purse_store::{ReadStore, SqliteStore};
//!
//! async fn fresh_store() -> Arc<dyn ReadStore> {
//!     let path = std::env::temp_dir().join("purse-store-contract-example.db");
//!     Arc::new(SqliteStore::open(&path).expect("open"))
//! }
//!
//! purse_store::read_store_contract_tests!(fresh_store);
//! # fn main() {}
//! ```

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use crate::{
    AutoTopUpActivityRow, AutoTopUpFailureRow, AutoTopUpRuleRow, BalanceRow, Checkpoint,
    DEFAULT_PAGE_SIZE, Decimal, EntryType, HistoryFilter, HistoryRow, HoldRow, LimitsRow, LotRow,
    MAX_PAGE_SIZE, Page, PageRequest, PaymentMethodRow, PaymentRow, ReadStore, RowWrite,
    StoreError, StreamPosition, TopUpRow, WalletRow,
};

/// Runs every contract case as a `#[tokio::test]` (multi-threaded runtime).
///
/// `$factory` is any expression callable with no arguments that returns a future of a fresh
/// store: an `Arc<dyn ReadStore>`, or anything that dereferences to a `ReadStore` (e.g. a guard
/// that also owns a temporary directory). The calling crate needs `tokio` (with `macros` and
/// `rt-multi-thread`) among its dev-dependencies. See the [`contract`](crate::contract) module
/// for an example.
#[macro_export]
macro_rules! read_store_contract_tests {
    ($factory:expr) => {
        $crate::read_store_contract_tests!(
            @cases $factory;
            wallet_round_trips,
            balance_round_trips,
            history_round_trips,
            lots_round_trip_with_remaining_updates,
            holds_round_trip_with_resolution,
            older_versions_never_overwrite_newer,
            column_groups_have_their_own_versions,
            partial_writes_before_the_row_keep_the_newer_values,
            replaying_writes_yields_identical_rows,
            history_entries_are_immutable,
            history_is_newest_first_and_pages_without_gaps,
            history_filters_by_type_and_time,
            history_as_of_is_the_newest_entry_at_or_before_the_instant,
            wallets_by_owner_page_in_id_order_within_the_tenant,
            invalid_page_tokens_are_refused,
            page_size_is_defaulted_and_capped,
            checkpoints_round_trip_and_only_move_forward,
            stream_positions_are_guarded_by_sequence,
            decimals_keep_their_scale,
            top_ups_round_trip_by_id_session_and_wallet,
            top_up_updates_never_go_backwards,
            top_ups_by_wallet_are_newest_first_and_page,
            top_ups_by_wallet_are_newest_first_by_creation_time_not_id,
            payments_round_trip_and_updates_never_go_backwards,
            payment_methods_list_by_owner_without_removed_ones,
            auto_top_up_rules_are_replaced_and_removed_by_version,
            auto_top_up_activity_follows_the_newest_saga_outcome,
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store = ($factory)().await;
                $crate::contract::$case(&*store).await;
            }
        )*
    };
}

fn dec(value: &str) -> Decimal {
    value
        .parse()
        .unwrap_or_else(|e| panic!("bad decimal {value:?}: {e}"))
}

fn fresh_id() -> Uuid {
    Uuid::now_v7()
}

/// A tenant no other case (or earlier run) uses.
fn fresh_tenant() -> String {
    format!("tenant-{}", fresh_id())
}

fn wallet(wallet_id: Uuid, tenant: &str, owner: &str, version: u64) -> WalletRow {
    WalletRow {
        wallet_id,
        tenant: tenant.to_owned(),
        owner: owner.to_owned(),
        kind: "customer".to_owned(),
        asset: "USD".to_owned(),
        asset_scale: 2,
        status: "open".to_owned(),
        limits: LimitsRow {
            max_balance: Some(dec("1000.00")),
            daily_debit_limit: Some(dec("250.50")),
            per_transaction_max: None,
            velocity_max_operations: Some(10),
            velocity_window_ms: Some(60_000),
            low_balance_threshold: Some(dec("5.00")),
        },
        metadata: BTreeMap::from([
            ("plan".to_owned(), "gold".to_owned()),
            ("note".to_owned(), "ünïcode \"quoted\"".to_owned()),
        ]),
        created_at_ms: 1_700_000_000_000,
        version,
    }
}

fn history(wallet_id: Uuid, sequence: u64, entry_type: EntryType, at_ms: i64) -> HistoryRow {
    HistoryRow {
        wallet_id,
        sequence,
        entry_id: fresh_id(),
        entry_type,
        amount: dec("1.50"),
        balance_after: Decimal::from(sequence),
        held_after: Some(dec("0.50")),
        lots: Vec::new(),
        reference: format!("ref-{sequence}"),
        description: format!("entry {sequence}"),
        detail: String::new(),
        hold_id: None,
        occurred_at_ms: at_ms,
    }
}

fn lot(wallet_id: Uuid, lot_id: Uuid, remaining: &str, version: u64) -> LotRow {
    LotRow {
        wallet_id,
        lot_id,
        source: "granted".to_owned(),
        amount: dec("20.00"),
        remaining: dec(remaining),
        expires_at_ms: Some(1_800_000_000_000),
        created_at_ms: 1_700_000_000_000,
        version,
    }
}

fn hold(wallet_id: Uuid, hold_id: Uuid, version: u64) -> HoldRow {
    HoldRow {
        wallet_id,
        hold_id,
        amount: dec("7.25"),
        captured: dec("0.00"),
        status: "placed".to_owned(),
        expires_at_ms: 1_750_000_000_000,
        version,
    }
}

async fn apply(store: &dyn ReadStore, writes: Vec<RowWrite>) {
    store
        .apply(writes, Vec::new())
        .await
        .unwrap_or_else(|e| panic!("apply: {e}"));
}

async fn get_wallet(store: &dyn ReadStore, wallet_id: Uuid) -> Option<WalletRow> {
    store.get_wallet(wallet_id).await.expect("get_wallet")
}

async fn history_page(
    store: &dyn ReadStore,
    wallet_id: Uuid,
    filter: HistoryFilter,
    page_size: u32,
    page_token: Option<String>,
) -> Page<HistoryRow> {
    store
        .list_history(
            wallet_id,
            filter,
            PageRequest {
                page_size,
                page_token,
            },
        )
        .await
        .expect("list_history")
}

/// Every page of a history listing, in order.
async fn all_history(
    store: &dyn ReadStore,
    wallet_id: Uuid,
    filter: &HistoryFilter,
    page_size: u32,
) -> Vec<Page<HistoryRow>> {
    let mut pages: Vec<Page<HistoryRow>> = Vec::new();
    let mut token = None;
    loop {
        let page = history_page(store, wallet_id, filter.clone(), page_size, token).await;
        assert!(
            page.items.len() <= page_size as usize,
            "a page of {} items for page_size {page_size}",
            page.items.len()
        );
        token = page.next_page_token.clone();
        pages.push(page);
        match &token {
            None => return pages,
            Some(_) => assert!(pages.len() <= 1000, "paging does not end"),
        }
    }
}

fn sequences(pages: &[Page<HistoryRow>]) -> Vec<u64> {
    pages
        .iter()
        .flat_map(|p| p.items.iter().map(|h| h.sequence))
        .collect()
}

/// A wallet written with [`RowWrite::Wallet`] reads back identically, by id and by owner.
pub async fn wallet_round_trips(store: &dyn ReadStore) {
    let tenant = fresh_tenant();
    let written = wallet(fresh_id(), &tenant, "alice", 1);
    assert_eq!(get_wallet(store, written.wallet_id).await, None);
    apply(store, vec![RowWrite::Wallet(written.clone())]).await;
    assert_eq!(
        get_wallet(store, written.wallet_id).await,
        Some(written.clone())
    );
    let listed = store
        .list_wallets_by_owner(&tenant, "alice", PageRequest::default())
        .await
        .expect("list");
    assert_eq!(listed.items, vec![written]);
    assert_eq!(listed.next_page_token, None);

    let bare = WalletRow {
        limits: LimitsRow::default(),
        metadata: BTreeMap::new(),
        ..wallet(fresh_id(), &tenant, "bob", 1)
    };
    apply(store, vec![RowWrite::Wallet(bare.clone())]).await;
    assert_eq!(get_wallet(store, bare.wallet_id).await, Some(bare));
}

/// A balance reads back identically and is replaced by a newer one.
pub async fn balance_round_trips(store: &dyn ReadStore) {
    let wallet_id = fresh_id();
    assert_eq!(store.get_balance(wallet_id).await.expect("get"), None);
    let first = BalanceRow {
        wallet_id,
        balance: dec("12.34"),
        held: dec("0.00"),
        version: 3,
    };
    apply(store, vec![RowWrite::Balance(first.clone())]).await;
    assert_eq!(
        store.get_balance(wallet_id).await.expect("get"),
        Some(first)
    );
    let second = BalanceRow {
        wallet_id,
        balance: dec("2.34"),
        held: dec("1.00"),
        version: 4,
    };
    apply(store, vec![RowWrite::Balance(second.clone())]).await;
    assert_eq!(
        store.get_balance(wallet_id).await.expect("get"),
        Some(second)
    );
}

/// History entries read back identically, lots and hold included.
pub async fn history_round_trips(store: &dyn ReadStore) {
    let wallet_id = fresh_id();
    // As projected before `held_after` was recorded.
    let plain = HistoryRow {
        held_after: None,
        ..history(wallet_id, 1, EntryType::Credit, 1_000)
    };
    let detailed = HistoryRow {
        held_after: Some(dec("1.25")),
        lots: vec![(fresh_id(), dec("1.00")), (fresh_id(), dec("0.50"))],
        hold_id: Some(fresh_id()),
        detail: "captured in part".to_owned(),
        ..history(wallet_id, 2, EntryType::HoldCaptured, 2_000)
    };
    apply(
        store,
        vec![
            RowWrite::History(plain.clone()),
            RowWrite::History(detailed.clone()),
        ],
    )
    .await;
    let page = history_page(store, wallet_id, HistoryFilter::default(), 0, None).await;
    assert_eq!(page.items, vec![detailed, plain]);
    assert_eq!(page.next_page_token, None);
    let other = history_page(store, fresh_id(), HistoryFilter::default(), 0, None).await;
    assert!(other.items.is_empty(), "history leaked across wallets");
}

/// Lots read back identically, oldest first; [`RowWrite::LotRemaining`] updates only the
/// remaining amount.
pub async fn lots_round_trip_with_remaining_updates(store: &dyn ReadStore) {
    let wallet_id = fresh_id();
    let older = LotRow {
        source: "paid".to_owned(),
        expires_at_ms: None,
        created_at_ms: 1_600_000_000_000,
        ..lot(wallet_id, fresh_id(), "20.00", 1)
    };
    let newer = lot(wallet_id, fresh_id(), "20.00", 2);
    apply(
        store,
        vec![RowWrite::Lot(newer.clone()), RowWrite::Lot(older.clone())],
    )
    .await;
    assert_eq!(
        store.list_lots(wallet_id).await.expect("lots"),
        vec![older.clone(), newer.clone()]
    );
    apply(
        store,
        vec![RowWrite::LotRemaining {
            wallet_id,
            lot_id: newer.lot_id,
            remaining: dec("4.75"),
            version: 5,
        }],
    )
    .await;
    let expected = LotRow {
        remaining: dec("4.75"),
        version: 5,
        ..newer
    };
    assert_eq!(
        store.list_lots(wallet_id).await.expect("lots"),
        vec![older, expected]
    );
    assert!(store.list_lots(fresh_id()).await.expect("lots").is_empty());
}

/// Holds read back identically; [`RowWrite::HoldResolved`] updates status and captured only.
pub async fn holds_round_trip_with_resolution(store: &dyn ReadStore) {
    let wallet_id = fresh_id();
    let first = hold(wallet_id, fresh_id(), 1);
    let second = hold(wallet_id, fresh_id(), 2);
    apply(
        store,
        vec![
            RowWrite::Hold(second.clone()),
            RowWrite::Hold(first.clone()),
        ],
    )
    .await;
    assert_eq!(
        store.list_holds(wallet_id).await.expect("holds"),
        vec![first.clone(), second.clone()]
    );
    apply(
        store,
        vec![RowWrite::HoldResolved {
            wallet_id,
            hold_id: first.hold_id,
            status: "captured".to_owned(),
            captured: dec("7.00"),
            version: 6,
        }],
    )
    .await;
    let resolved = HoldRow {
        status: "captured".to_owned(),
        captured: dec("7.00"),
        version: 6,
        ..first
    };
    assert_eq!(
        store.list_holds(wallet_id).await.expect("holds"),
        vec![resolved, second]
    );
}

/// A write older than the stored version is ignored, and one with an equal version is a no-op.
pub async fn older_versions_never_overwrite_newer(store: &dyn ReadStore) {
    let wallet_id = fresh_id();
    let balance = |amount: &str, version| BalanceRow {
        wallet_id,
        balance: dec(amount),
        held: dec("0"),
        version,
    };
    apply(store, vec![RowWrite::Balance(balance("50.00", 5))]).await;
    apply(store, vec![RowWrite::Balance(balance("10.00", 3))]).await;
    apply(store, vec![RowWrite::Balance(balance("99.00", 5))]).await;
    assert_eq!(
        store.get_balance(wallet_id).await.expect("get"),
        Some(balance("50.00", 5)),
        "older and equal versions must not overwrite"
    );

    let tenant = fresh_tenant();
    let opened = wallet(fresh_id(), &tenant, "o", 1);
    let status = |status: &str, version| RowWrite::WalletStatus {
        wallet_id: opened.wallet_id,
        status: status.to_owned(),
        version,
    };
    apply(
        store,
        vec![RowWrite::Wallet(opened.clone()), status("suspended", 4)],
    )
    .await;
    apply(store, vec![status("open", 2), status("closed", 4)]).await;
    let read = get_wallet(store, opened.wallet_id).await.expect("wallet");
    assert_eq!(read.status, "suspended");
    assert_eq!(read.version, 4);

    let lot_id = fresh_id();
    apply(
        store,
        vec![RowWrite::Lot(lot(wallet_id, lot_id, "20.00", 2))],
    )
    .await;
    let remaining = |amount: &str, version| RowWrite::LotRemaining {
        wallet_id,
        lot_id,
        remaining: dec(amount),
        version,
    };
    apply(store, vec![remaining("5.00", 7)]).await;
    apply(store, vec![remaining("15.00", 6), remaining("1.00", 7)]).await;
    assert_eq!(
        store.list_lots(wallet_id).await.expect("lots")[0].remaining,
        dec("5.00")
    );

    let hold_id = fresh_id();
    let resolved = |status: &str, version| RowWrite::HoldResolved {
        wallet_id,
        hold_id,
        status: status.to_owned(),
        captured: dec("0.00"),
        version,
    };
    apply(
        store,
        vec![
            RowWrite::Hold(hold(wallet_id, hold_id, 3)),
            resolved("voided", 5),
        ],
    )
    .await;
    apply(store, vec![resolved("expired", 4), resolved("captured", 5)]).await;
    // A hold written again with its original (older) version does not undo the resolution.
    apply(store, vec![RowWrite::Hold(hold(wallet_id, hold_id, 3))]).await;
    assert_eq!(
        store.list_holds(wallet_id).await.expect("holds")[0].status,
        "voided"
    );
}

/// Status, limits and the rest of a wallet carry separate versions: a status change at v3 and a
/// limits change at v2 both apply, and neither is undone by the opening write replayed.
pub async fn column_groups_have_their_own_versions(store: &dyn ReadStore) {
    let tenant = fresh_tenant();
    let opened = wallet(fresh_id(), &tenant, "o", 1);
    let limits = LimitsRow {
        max_balance: Some(dec("500.00")),
        ..LimitsRow::default()
    };
    apply(
        store,
        vec![
            RowWrite::Wallet(opened.clone()),
            RowWrite::WalletStatus {
                wallet_id: opened.wallet_id,
                status: "suspended".to_owned(),
                version: 3,
            },
            RowWrite::WalletLimits {
                wallet_id: opened.wallet_id,
                limits: limits.clone(),
                version: 2,
            },
        ],
    )
    .await;
    // The opening event again (a replay), and an equal-version limits write with other values.
    apply(
        store,
        vec![
            RowWrite::Wallet(opened.clone()),
            RowWrite::WalletLimits {
                wallet_id: opened.wallet_id,
                limits: LimitsRow::default(),
                version: 2,
            },
        ],
    )
    .await;
    let expected = WalletRow {
        status: "suspended".to_owned(),
        limits,
        version: 3,
        ..opened
    };
    assert_eq!(get_wallet(store, expected.wallet_id).await, Some(expected));
}

/// Partial writes that arrive before the row they update are kept, stay invisible until the row
/// arrives, and win over the row's older values whatever the order.
pub async fn partial_writes_before_the_row_keep_the_newer_values(store: &dyn ReadStore) {
    let wallet_id = fresh_id();
    let lot_id = fresh_id();
    let hold_id = fresh_id();
    let tenant = fresh_tenant();
    apply(
        store,
        vec![
            RowWrite::LotRemaining {
                wallet_id,
                lot_id,
                remaining: dec("3.00"),
                version: 5,
            },
            RowWrite::HoldResolved {
                wallet_id,
                hold_id,
                status: "captured".to_owned(),
                captured: dec("7.25"),
                version: 4,
            },
            RowWrite::WalletStatus {
                wallet_id,
                status: "closed".to_owned(),
                version: 9,
            },
        ],
    )
    .await;
    assert!(store.list_lots(wallet_id).await.expect("lots").is_empty());
    assert!(store.list_holds(wallet_id).await.expect("holds").is_empty());
    assert_eq!(get_wallet(store, wallet_id).await, None);
    let listed = store
        .list_wallets_by_owner(&tenant, "o", PageRequest::default())
        .await
        .expect("list");
    assert!(listed.items.is_empty());

    let opened = wallet(wallet_id, &tenant, "o", 1);
    apply(
        store,
        vec![
            RowWrite::Lot(lot(wallet_id, lot_id, "20.00", 2)),
            RowWrite::Hold(hold(wallet_id, hold_id, 1)),
            RowWrite::Wallet(opened.clone()),
        ],
    )
    .await;
    assert_eq!(
        store.list_lots(wallet_id).await.expect("lots"),
        vec![LotRow {
            remaining: dec("3.00"),
            version: 5,
            ..lot(wallet_id, lot_id, "20.00", 2)
        }]
    );
    assert_eq!(
        store.list_holds(wallet_id).await.expect("holds"),
        vec![HoldRow {
            status: "captured".to_owned(),
            captured: dec("7.25"),
            version: 4,
            ..hold(wallet_id, hold_id, 1)
        }]
    );
    assert_eq!(
        get_wallet(store, wallet_id).await,
        Some(WalletRow {
            status: "closed".to_owned(),
            version: 9,
            ..opened
        })
    );
}

/// Applying the same writes twice (a replay) leaves every row exactly as after the first time.
pub async fn replaying_writes_yields_identical_rows(store: &dyn ReadStore) {
    let tenant = fresh_tenant();
    let wallet_id = fresh_id();
    let lot_id = fresh_id();
    let hold_id = fresh_id();
    let writes = vec![
        RowWrite::Wallet(wallet(wallet_id, &tenant, "o", 1)),
        RowWrite::Lot(lot(wallet_id, lot_id, "20.00", 2)),
        RowWrite::Balance(BalanceRow {
            wallet_id,
            balance: dec("20.00"),
            held: dec("0.00"),
            version: 2,
        }),
        RowWrite::History(history(wallet_id, 2, EntryType::Credit, 10)),
        RowWrite::Hold(hold(wallet_id, hold_id, 3)),
        RowWrite::History(history(wallet_id, 3, EntryType::HoldPlaced, 20)),
        RowWrite::LotRemaining {
            wallet_id,
            lot_id,
            remaining: dec("12.75"),
            version: 4,
        },
        RowWrite::HoldResolved {
            wallet_id,
            hold_id,
            status: "captured".to_owned(),
            captured: dec("7.25"),
            version: 4,
        },
        RowWrite::Balance(BalanceRow {
            wallet_id,
            balance: dec("12.75"),
            held: dec("0.00"),
            version: 4,
        }),
        RowWrite::History(history(wallet_id, 4, EntryType::HoldCaptured, 30)),
        RowWrite::WalletStatus {
            wallet_id,
            status: "suspended".to_owned(),
            version: 5,
        },
        RowWrite::StreamPosition(StreamPosition {
            stream_id: wallet_id.to_string(),
            sequence: 5,
            event_id: "event-5".to_owned(),
        }),
    ];
    let stream_ids = [wallet_id.to_string()];
    async fn snapshot(store: &dyn ReadStore, wallet_id: Uuid, stream_ids: &[String]) -> String {
        format!(
            "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
            store.get_wallet(wallet_id).await.expect("wallet"),
            store.get_balance(wallet_id).await.expect("balance"),
            history_page(store, wallet_id, HistoryFilter::default(), 0, None)
                .await
                .items,
            store.list_lots(wallet_id).await.expect("lots"),
            store.list_holds(wallet_id).await.expect("holds"),
            store.stream_positions(stream_ids).await.expect("positions"),
        )
    }
    apply(store, writes.clone()).await;
    let first = snapshot(store, wallet_id, &stream_ids).await;
    apply(store, writes.clone()).await;
    assert_eq!(snapshot(store, wallet_id, &stream_ids).await, first);
    // Replayed in reverse order too: versions, not arrival order, decide.
    apply(store, writes.into_iter().rev().collect()).await;
    assert_eq!(snapshot(store, wallet_id, &stream_ids).await, first);
}

/// A history entry, once written, is never changed by a later write of the same sequence.
pub async fn history_entries_are_immutable(store: &dyn ReadStore) {
    let wallet_id = fresh_id();
    let original = history(wallet_id, 7, EntryType::Debit, 100);
    apply(store, vec![RowWrite::History(original.clone())]).await;
    let rewrite = HistoryRow {
        amount: dec("999.00"),
        description: "rewritten".to_owned(),
        ..history(wallet_id, 7, EntryType::Refund, 200)
    };
    apply(store, vec![RowWrite::History(rewrite)]).await;
    let page = history_page(store, wallet_id, HistoryFilter::default(), 0, None).await;
    assert_eq!(page.items, vec![original]);
}

/// History lists newest first; paging through it yields every entry once, in order, with no
/// token on the last page.
pub async fn history_is_newest_first_and_pages_without_gaps(store: &dyn ReadStore) {
    let wallet_id = fresh_id();
    // Written out of order, as a replay across partitions might.
    let mut writes: Vec<RowWrite> = (1..=25u64)
        .map(|seq| {
            RowWrite::History(history(
                wallet_id,
                seq,
                EntryType::Credit,
                seq as i64 * 1000,
            ))
        })
        .collect();
    writes.reverse();
    writes.swap(3, 17);
    apply(store, writes).await;
    let expected: Vec<u64> = (1..=25).rev().collect();
    for page_size in [1, 7, 10, 25, 100] {
        let pages = all_history(store, wallet_id, &HistoryFilter::default(), page_size).await;
        assert_eq!(
            sequences(&pages),
            expected,
            "page_size {page_size}: entries missing, repeated or out of order"
        );
        let full_pages = pages
            .iter()
            .filter(|p| p.items.len() == page_size as usize)
            .count();
        assert!(
            full_pages >= pages.len() - 1,
            "page_size {page_size}: a short page before the last"
        );
        assert_eq!(pages.len(), 25usize.div_ceil(page_size as usize).max(1));
    }
}

/// Filters by entry type and by time range (`from_ms` inclusive, `to_ms` exclusive), with paging
/// over the filtered entries.
pub async fn history_filters_by_type_and_time(store: &dyn ReadStore) {
    let wallet_id = fresh_id();
    let types = [
        EntryType::Credit,
        EntryType::Debit,
        EntryType::HoldPlaced,
        EntryType::Refund,
    ];
    let writes = (1..=20u64)
        .map(|seq| {
            RowWrite::History(history(
                wallet_id,
                seq,
                types[(seq % 4) as usize],
                seq as i64 * 100,
            ))
        })
        .collect();
    apply(store, writes).await;

    let by_type = HistoryFilter {
        entry_types: vec![EntryType::Debit, EntryType::Refund],
        ..HistoryFilter::default()
    };
    let pages = all_history(store, wallet_id, &by_type, 3).await;
    let expected: Vec<u64> = (1..=20u64)
        .rev()
        .filter(|seq| seq % 4 == 1 || seq % 4 == 3)
        .collect();
    assert_eq!(sequences(&pages), expected, "entry type filter");
    assert!(
        pages
            .iter()
            .flat_map(|p| &p.items)
            .all(|h| matches!(h.entry_type, EntryType::Debit | EntryType::Refund))
    );

    let by_time = HistoryFilter {
        from_ms: Some(500),
        to_ms: Some(1200),
        ..HistoryFilter::default()
    };
    let pages = all_history(store, wallet_id, &by_time, 4).await;
    assert_eq!(
        sequences(&pages),
        (5..12).rev().collect::<Vec<u64>>(),
        "time range filter"
    );

    let both = HistoryFilter {
        entry_types: vec![EntryType::Credit],
        from_ms: Some(800),
        to_ms: None,
    };
    let pages = all_history(store, wallet_id, &both, 2).await;
    assert_eq!(sequences(&pages), vec![20, 16, 12, 8], "type and time");

    let none = HistoryFilter {
        entry_types: vec![EntryType::LotExpired],
        ..HistoryFilter::default()
    };
    let page = history_page(store, wallet_id, none, 0, None).await;
    assert!(page.items.is_empty() && page.next_page_token.is_none());
}

/// [`ReadStore::history_as_of`]: the entry of greatest sequence among those that occurred at or
/// before the instant (inclusive); none before the first entry, none for another wallet.
pub async fn history_as_of_is_the_newest_entry_at_or_before_the_instant(store: &dyn ReadStore) {
    let wallet_id = fresh_id();
    // Two entries in one millisecond (2, 3), and one whose clock went back (6 at 400, after 5
    // at 500): the greater sequence is the later state either way.
    let times = [(1, 100), (2, 200), (3, 200), (4, 300), (5, 500), (6, 400)];
    let writes = times
        .iter()
        .map(|&(seq, at_ms)| {
            RowWrite::History(HistoryRow {
                held_after: Some(Decimal::new(seq as i64, 1)),
                ..history(wallet_id, seq, EntryType::Credit, at_ms)
            })
        })
        .collect();
    apply(store, writes).await;
    apply(
        store,
        vec![RowWrite::History(history(
            fresh_id(),
            1,
            EntryType::Credit,
            50,
        ))],
    )
    .await;

    let at = |as_of_ms: i64| async move {
        store
            .history_as_of(wallet_id, as_of_ms)
            .await
            .unwrap_or_else(|e| panic!("history_as_of({as_of_ms}): {e}"))
            .map(|entry| entry.sequence)
    };
    for (as_of_ms, expected) in [
        (i64::MIN, None),
        (0, None),
        (99, None),
        (100, Some(1)),
        (199, Some(1)),
        (200, Some(3)),
        (299, Some(3)),
        (300, Some(4)),
        (399, Some(4)),
        (400, Some(6)),
        (500, Some(6)),
        (i64::MAX, Some(6)),
    ] {
        assert_eq!(at(as_of_ms).await, expected, "as of {as_of_ms}");
    }
    let entry = store
        .history_as_of(wallet_id, 300)
        .await
        .expect("as of")
        .expect("entry 4");
    assert_eq!(
        (entry.balance_after, entry.held_after),
        (Decimal::from(4), Some(dec("0.4"))),
        "the entry is read whole"
    );
    assert_eq!(
        store
            .history_as_of(fresh_id(), i64::MAX)
            .await
            .expect("as of"),
        None,
        "a wallet without history"
    );
}

/// A tenant's wallets of one owner list in wallet id order, page by page, without wallets of
/// other owners or of the same owner id in another tenant.
pub async fn wallets_by_owner_page_in_id_order_within_the_tenant(store: &dyn ReadStore) {
    let tenant = fresh_tenant();
    let other_tenant = fresh_tenant();
    let mut mine: Vec<WalletRow> = (0..7)
        .map(|_| wallet(fresh_id(), &tenant, "carol", 1))
        .collect();
    let mut writes: Vec<RowWrite> = mine.iter().cloned().map(RowWrite::Wallet).collect();
    writes.push(RowWrite::Wallet(wallet(fresh_id(), &tenant, "dave", 1)));
    writes.push(RowWrite::Wallet(wallet(
        fresh_id(),
        &other_tenant,
        "carol",
        1,
    )));
    writes.reverse();
    apply(store, writes).await;
    mine.sort_by_key(|w| w.wallet_id);

    let mut listed = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_wallets_by_owner(
                &tenant,
                "carol",
                PageRequest {
                    page_size: 3,
                    page_token: token,
                },
            )
            .await
            .expect("list");
        pages += 1;
        assert!(page.items.len() <= 3);
        listed.extend(page.items);
        token = page.next_page_token;
        if token.is_none() {
            break;
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(listed, mine);
    assert_eq!(pages, 3);

    let elsewhere = store
        .list_wallets_by_owner(&other_tenant, "carol", PageRequest::default())
        .await
        .expect("list");
    assert_eq!(
        elsewhere.items.len(),
        1,
        "tenants must not see each other's wallets"
    );
    assert_eq!(elsewhere.items[0].tenant, other_tenant);
    let nobody = store
        .list_wallets_by_owner(&tenant, "nobody", PageRequest::default())
        .await
        .expect("list");
    assert!(nobody.items.is_empty() && nobody.next_page_token.is_none());
}

/// Tokens that were not issued by the same list are refused with
/// [`StoreError::InvalidPageToken`].
pub async fn invalid_page_tokens_are_refused(store: &dyn ReadStore) {
    let tenant = fresh_tenant();
    let wallet_id = fresh_id();
    let other_wallet = fresh_id();
    apply(
        store,
        vec![
            RowWrite::Wallet(wallet(fresh_id(), &tenant, "o", 1)),
            RowWrite::Wallet(wallet(fresh_id(), &tenant, "o", 1)),
            RowWrite::History(history(wallet_id, 1, EntryType::Credit, 1)),
            RowWrite::History(history(wallet_id, 2, EntryType::Credit, 2)),
            RowWrite::History(history(other_wallet, 1, EntryType::Credit, 1)),
        ],
    )
    .await;
    let wallets_token = store
        .list_wallets_by_owner(
            &tenant,
            "o",
            PageRequest {
                page_size: 1,
                page_token: None,
            },
        )
        .await
        .expect("list")
        .next_page_token
        .expect("a second page");
    let history_token = history_page(store, wallet_id, HistoryFilter::default(), 1, None)
        .await
        .next_page_token
        .expect("a second page");

    let garbage = [
        "".to_owned(),
        "not a token!".to_owned(),
        "AAAA".to_owned(),
        format!("{history_token}x"),
    ];
    for token in garbage.iter().chain([&wallets_token]) {
        let result = store
            .list_history(
                wallet_id,
                HistoryFilter::default(),
                PageRequest {
                    page_size: 1,
                    page_token: Some(token.clone()),
                },
            )
            .await;
        assert!(
            matches!(result, Err(StoreError::InvalidPageToken)),
            "history with token {token:?}: {result:?}"
        );
    }
    let result = store
        .list_history(
            other_wallet,
            HistoryFilter::default(),
            PageRequest {
                page_size: 1,
                page_token: Some(history_token.clone()),
            },
        )
        .await;
    assert!(
        matches!(result, Err(StoreError::InvalidPageToken)),
        "a token of another wallet's history: {result:?}"
    );
    for token in garbage.iter().chain([&history_token]) {
        let result = store
            .list_wallets_by_owner(
                &tenant,
                "o",
                PageRequest {
                    page_size: 1,
                    page_token: Some(token.clone()),
                },
            )
            .await;
        assert!(
            matches!(result, Err(StoreError::InvalidPageToken)),
            "wallets with token {token:?}: {result:?}"
        );
    }
}

/// A page size of 0 means [`DEFAULT_PAGE_SIZE`]; above [`MAX_PAGE_SIZE`] is refused.
pub async fn page_size_is_defaulted_and_capped(store: &dyn ReadStore) {
    let wallet_id = fresh_id();
    let count = u64::from(DEFAULT_PAGE_SIZE) + 10;
    let writes = (1..=count)
        .map(|seq| RowWrite::History(history(wallet_id, seq, EntryType::Debit, seq as i64)))
        .collect();
    apply(store, writes).await;
    let page = history_page(store, wallet_id, HistoryFilter::default(), 0, None).await;
    assert_eq!(page.items.len(), DEFAULT_PAGE_SIZE as usize);
    assert!(page.next_page_token.is_some());
    let page = history_page(
        store,
        wallet_id,
        HistoryFilter::default(),
        MAX_PAGE_SIZE,
        None,
    )
    .await;
    assert_eq!(page.items.len() as u64, count);
    assert!(page.next_page_token.is_none());

    let too_large = PageRequest {
        page_size: MAX_PAGE_SIZE + 1,
        page_token: None,
    };
    let result = store
        .list_history(wallet_id, HistoryFilter::default(), too_large.clone())
        .await;
    assert!(
        matches!(
            result,
            Err(StoreError::PageSizeTooLarge { max: MAX_PAGE_SIZE })
        ),
        "history: {result:?}"
    );
    let result = store.list_wallets_by_owner("t", "o", too_large).await;
    assert!(
        matches!(
            result,
            Err(StoreError::PageSizeTooLarge { max: MAX_PAGE_SIZE })
        ),
        "wallets: {result:?}"
    );
}

/// Checkpoints read back per (projector, topic, partition) and never move backwards.
pub async fn checkpoints_round_trip_and_only_move_forward(store: &dyn ReadStore) {
    let projector = format!("projector-{}", fresh_id());
    let checkpoint = |topic: &str, partition, next_offset| Checkpoint {
        projector: projector.clone(),
        topic: topic.to_owned(),
        partition,
        next_offset,
    };
    assert_eq!(
        store
            .checkpoint(&projector, "events", 0)
            .await
            .expect("get"),
        None
    );
    store
        .apply(
            Vec::new(),
            vec![checkpoint("events", 0, 10), checkpoint("events", 1, 3)],
        )
        .await
        .expect("apply");
    assert_eq!(
        store
            .checkpoint(&projector, "events", 0)
            .await
            .expect("get"),
        Some(10)
    );
    assert_eq!(
        store
            .checkpoint(&projector, "events", 1)
            .await
            .expect("get"),
        Some(3)
    );
    assert_eq!(
        store.checkpoint(&projector, "other", 0).await.expect("get"),
        None
    );
    assert_eq!(
        store
            .checkpoint("another-projector", "events", 0)
            .await
            .expect("get"),
        None
    );
    store
        .apply(Vec::new(), vec![checkpoint("events", 0, 4)])
        .await
        .expect("apply");
    assert_eq!(
        store
            .checkpoint(&projector, "events", 0)
            .await
            .expect("get"),
        Some(10),
        "a lower offset must not replace a higher one"
    );
    let wallet_id = fresh_id();
    store
        .apply(
            vec![RowWrite::Balance(BalanceRow {
                wallet_id,
                balance: dec("1"),
                held: dec("0"),
                version: 1,
            })],
            vec![checkpoint("events", 0, 11)],
        )
        .await
        .expect("apply");
    assert_eq!(
        store
            .checkpoint(&projector, "events", 0)
            .await
            .expect("get"),
        Some(11)
    );
    assert!(store.get_balance(wallet_id).await.expect("get").is_some());
}

/// A stream's position only moves to a higher sequence; the first event id seen for a sequence
/// stays.
pub async fn stream_positions_are_guarded_by_sequence(store: &dyn ReadStore) {
    let a = format!("stream-{}", fresh_id());
    let b = format!("stream-{}", fresh_id());
    let missing = format!("stream-{}", fresh_id());
    let position = |stream: &str, sequence, event: &str| {
        RowWrite::StreamPosition(StreamPosition {
            stream_id: stream.to_owned(),
            sequence,
            event_id: event.to_owned(),
        })
    };
    apply(store, vec![position(&a, 3, "a3"), position(&b, 1, "b1")]).await;
    apply(
        store,
        vec![
            position(&a, 2, "a2"),
            position(&a, 3, "a3-loser"),
            position(&b, 2, "b2"),
        ],
    )
    .await;
    let found = store
        .stream_positions(&[a.clone(), b.clone(), missing.clone()])
        .await
        .expect("positions");
    let expected = HashMap::from([
        (
            a.clone(),
            StreamPosition {
                stream_id: a.clone(),
                sequence: 3,
                event_id: "a3".to_owned(),
            },
        ),
        (
            b.clone(),
            StreamPosition {
                stream_id: b.clone(),
                sequence: 2,
                event_id: "b2".to_owned(),
            },
        ),
    ]);
    assert_eq!(found, expected);
    assert!(
        store
            .stream_positions(&[])
            .await
            .expect("positions")
            .is_empty(),
        "no ids, no positions"
    );
}

/// Decimals come back with the scale they were written with ("20.00" stays "20.00").
pub async fn decimals_keep_their_scale(store: &dyn ReadStore) {
    let wallet_id = fresh_id();
    let lot_id = fresh_id();
    let scaled = [
        "20.00",
        "0.000000000000000001",
        "1000000000000000",
        "7.10",
        "0",
    ];
    apply(
        store,
        vec![
            RowWrite::Balance(BalanceRow {
                wallet_id,
                balance: dec("20.00"),
                held: dec("0.500"),
                version: 1,
            }),
            RowWrite::Lot(lot(wallet_id, lot_id, "20.00", 1)),
            RowWrite::History(HistoryRow {
                amount: dec("20.00"),
                balance_after: dec("20.00"),
                held_after: Some(dec("0.500")),
                lots: scaled.iter().map(|s| (fresh_id(), dec(s))).collect(),
                ..history(wallet_id, 1, EntryType::Credit, 1)
            }),
        ],
    )
    .await;
    let balance = store
        .get_balance(wallet_id)
        .await
        .expect("get")
        .expect("balance");
    assert_eq!(balance.balance.to_string(), "20.00");
    assert_eq!(balance.held.to_string(), "0.500");
    let lots = store.list_lots(wallet_id).await.expect("lots");
    assert_eq!(lots[0].amount.to_string(), "20.00");
    assert_eq!(lots[0].remaining.to_string(), "20.00");
    let entry = history_page(store, wallet_id, HistoryFilter::default(), 0, None)
        .await
        .items
        .remove(0);
    assert_eq!(entry.amount.to_string(), "20.00");
    assert_eq!(
        entry.held_after.map(|h| h.to_string()).as_deref(),
        Some("0.500")
    );
    let amounts: Vec<String> = entry.lots.iter().map(|(_, a)| a.to_string()).collect();
    assert_eq!(amounts, scaled);

    let tenant = fresh_tenant();
    let opened = wallet(fresh_id(), &tenant, "o", 1);
    apply(store, vec![RowWrite::Wallet(opened.clone())]).await;
    let read = get_wallet(store, opened.wallet_id).await.expect("wallet");
    let limits = [
        read.limits.max_balance,
        read.limits.daily_debit_limit,
        read.limits.low_balance_threshold,
    ]
    .map(|d| d.map(|d| d.to_string()));
    assert_eq!(
        limits,
        [
            Some("1000.00".to_owned()),
            Some("250.50".to_owned()),
            Some("5.00".to_owned())
        ]
    );
}

// ---- top-ups, payments, stored cards, auto top-up rules ------------------------------------

fn top_up(top_up_id: Uuid, wallet_id: Uuid, version: u64) -> TopUpRow {
    TopUpRow {
        top_up_id,
        tenant: "acme".to_owned(),
        wallet_id,
        owner: "alice".to_owned(),
        kind: "manual".to_owned(),
        asset: "USD".to_owned(),
        amount: dec("20.00"),
        wallet_amount: dec("22.00"),
        fee: dec("0.58"),
        status: "created".to_owned(),
        failure_reason: None,
        payment_id: fresh_id(),
        checkout_session_id: Some(fresh_id()),
        payment_method_id: None,
        expires_at_ms: 1_700_000_300_000,
        lots_expire_at_ms: Some(1_800_000_000_000),
        credited: dec("0.00"),
        late_capture: None,
        created_at_ms: 1_700_000_000_000,
        updated_at_ms: 1_700_000_000_000,
        version,
    }
}

fn payment(payment_id: Uuid, version: u64) -> PaymentRow {
    PaymentRow {
        payment_id,
        tenant: "acme".to_owned(),
        owner: "alice".to_owned(),
        asset: "USD".to_owned(),
        amount: dec("20.00"),
        status: "requires_payment_method".to_owned(),
        top_up_id: Some(fresh_id()),
        payment_method_id: Some(fresh_id()),
        card_brand: None,
        card_last4: None,
        card_exp_month: None,
        card_exp_year: None,
        decline_reason: None,
        cancel_reason: None,
        captured: None,
        refunded: None,
        created_at_ms: 1_700_000_000_000,
        updated_at_ms: 1_700_000_000_000,
        version,
    }
}

fn payment_method(tenant: &str, owner: &str, id: Uuid, version: u64) -> PaymentMethodRow {
    PaymentMethodRow {
        tenant: tenant.to_owned(),
        owner: owner.to_owned(),
        payment_method_id: id,
        brand: "visa".to_owned(),
        last4: "4242".to_owned(),
        exp_month: 12,
        exp_year: 2030,
        created_at_ms: 1_700_000_000_000,
        removed: false,
        version,
    }
}

fn auto_rule(wallet_id: Uuid, version: u64) -> AutoTopUpRuleRow {
    AutoTopUpRuleRow {
        wallet_id,
        tenant: "acme".to_owned(),
        owner: "alice".to_owned(),
        asset: "USD".to_owned(),
        threshold: dec("5.00"),
        amount: Some(dec("20.00")),
        target_balance: None,
        payment_method_id: fresh_id(),
        daily_max_count: 3,
        daily_max_amount: Some(dec("100.00")),
        backoff_ms: 3_600_000,
        fee_rate: dec("2.9"),
        timeout_ms: 300_000,
        removed: false,
        updated_at_ms: 1_700_000_000_000,
        activity: AutoTopUpActivityRow::default(),
        version,
    }
}

/// Every page of a wallet's top-ups, in order.
async fn all_top_ups(store: &dyn ReadStore, wallet_id: Uuid, page_size: u32) -> Vec<Vec<Uuid>> {
    let mut pages = Vec::new();
    let mut page_token = None;
    loop {
        let page = store
            .list_top_ups_by_wallet(
                wallet_id,
                PageRequest {
                    page_size,
                    page_token,
                },
            )
            .await
            .expect("list_top_ups_by_wallet");
        assert!(page.items.len() <= page_size as usize);
        pages.push(page.items.iter().map(|t| t.top_up_id).collect());
        page_token = page.next_page_token;
        if page_token.is_none() {
            return pages;
        }
        assert!(pages.len() <= 1000, "paging does not end");
    }
}

/// A top-up reads back identically by id, by checkout session and in its wallet's list; a
/// session or id that is unknown finds nothing.
pub async fn top_ups_round_trip_by_id_session_and_wallet(store: &dyn ReadStore) {
    let wallet_id = fresh_id();
    let manual = top_up(fresh_id(), wallet_id, 1);
    let stored_card = TopUpRow {
        kind: "manual_with_payment_method".to_owned(),
        checkout_session_id: None,
        payment_method_id: Some(fresh_id()),
        lots_expire_at_ms: None,
        ..top_up(fresh_id(), wallet_id, 1)
    };
    apply(
        store,
        vec![
            RowWrite::TopUp(manual.clone()),
            RowWrite::TopUp(stored_card.clone()),
        ],
    )
    .await;
    let get = |id| async move { store.get_top_up(id).await.expect("get_top_up") };
    assert_eq!(get(manual.top_up_id).await, Some(manual.clone()));
    assert_eq!(get(stored_card.top_up_id).await, Some(stored_card.clone()));
    assert_eq!(get(fresh_id()).await, None);
    let session = manual.checkout_session_id.expect("session");
    assert_eq!(
        store
            .get_top_up_by_checkout_session(session)
            .await
            .expect("by session"),
        Some(manual.clone())
    );
    assert_eq!(
        store
            .get_top_up_by_checkout_session(fresh_id())
            .await
            .expect("by session"),
        None
    );
    let listed = store
        .list_top_ups_by_wallet(wallet_id, PageRequest::default())
        .await
        .expect("list");
    let mut expected = vec![manual, stored_card];
    expected.sort_by_key(|t| std::cmp::Reverse(t.top_up_id));
    assert_eq!(listed.items, expected);
    assert_eq!(listed.next_page_token, None);
}

/// Status, credit and late capture of a top-up carry their own versions: older and equal
/// versions never overwrite, a replayed creation never resets them, and updates that arrive
/// before the creation stay hidden until it does and then win.
pub async fn top_up_updates_never_go_backwards(store: &dyn ReadStore) {
    let wallet_id = fresh_id();
    let created = top_up(fresh_id(), wallet_id, 1);
    let id = created.top_up_id;
    let status = |status: &str, credited: Option<&str>, version: u64| RowWrite::TopUpStatus {
        top_up_id: id,
        status: status.to_owned(),
        failure_reason: None,
        credited: credited.map(dec),
        updated_at_ms: 1_700_000_000_000 + version as i64,
        version,
    };
    // The completion arrives before the creation: nothing is visible yet.
    apply(store, vec![status("completed", Some("22.00"), 3)]).await;
    assert_eq!(store.get_top_up(id).await.expect("get"), None);
    let session = created.checkout_session_id.expect("session");
    assert_eq!(
        store
            .get_top_up_by_checkout_session(session)
            .await
            .expect("by session"),
        None
    );
    assert!(
        store
            .list_top_ups_by_wallet(wallet_id, PageRequest::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    apply(store, vec![RowWrite::TopUp(created.clone())]).await;
    let completed = TopUpRow {
        status: "completed".to_owned(),
        credited: dec("22.00"),
        updated_at_ms: 1_700_000_000_003,
        version: 3,
        ..created.clone()
    };
    assert_eq!(
        store.get_top_up(id).await.expect("get"),
        Some(completed.clone())
    );

    // Older and equal versions, and the creation replayed, change nothing.
    apply(
        store,
        vec![
            RowWrite::TopUpStatus {
                top_up_id: id,
                status: "failed".to_owned(),
                failure_reason: Some("declined:insufficient_funds".to_owned()),
                credited: None,
                updated_at_ms: 1_700_000_000_002,
                version: 2,
            },
            status("expired", Some("0.00"), 3),
            RowWrite::TopUp(created.clone()),
        ],
    )
    .await;
    assert_eq!(
        store.get_top_up(id).await.expect("get"),
        Some(completed.clone())
    );

    // A late capture has its own group: it neither needs nor changes the status.
    let late = |amount: &str, version: u64| RowWrite::TopUpLateCapture {
        top_up_id: id,
        late_capture: dec(amount),
        updated_at_ms: 1_700_000_000_000 + version as i64,
        version,
    };
    apply(
        store,
        vec![late("20.00", 5), late("1.00", 4), late("2.00", 5)],
    )
    .await;
    let with_late = TopUpRow {
        late_capture: Some(dec("20.00")),
        updated_at_ms: 1_700_000_000_005,
        version: 5,
        ..completed
    };
    assert_eq!(
        store.get_top_up(id).await.expect("get"),
        Some(with_late.clone())
    );
    // A status without a credited amount leaves the credited group as it is.
    apply(store, vec![status("failed", None, 6)]).await;
    let read = store.get_top_up(id).await.expect("get").expect("top-up");
    assert_eq!(
        (read.status.as_str(), read.credited, read.version),
        ("failed", dec("22.00"), 6)
    );
    assert_eq!(read.credited.to_string(), "22.00");
}

/// A wallet's top-ups list newest first, page by page without gaps, without other wallets'
/// top-ups; tokens of other lists or wallets are refused. Created at the same instant here, they
/// come in id order (the tie-break).
pub async fn top_ups_by_wallet_are_newest_first_and_page(store: &dyn ReadStore) {
    let wallet_id = fresh_id();
    let other_wallet = fresh_id();
    let mut ids: Vec<Uuid> = (0..7).map(|_| fresh_id()).collect();
    let mut writes: Vec<RowWrite> = ids
        .iter()
        .map(|id| RowWrite::TopUp(top_up(*id, wallet_id, 1)))
        .collect();
    writes.push(RowWrite::TopUp(top_up(fresh_id(), other_wallet, 1)));
    writes.reverse();
    writes.swap(1, 5);
    apply(store, writes).await;
    ids.sort_by_key(|id| std::cmp::Reverse(*id));
    for page_size in [1, 3, 7, 100] {
        let pages = all_top_ups(store, wallet_id, page_size).await;
        assert_eq!(
            pages.concat(),
            ids,
            "page_size {page_size}: top-ups missing, repeated or out of order"
        );
        assert_eq!(pages.len(), 7usize.div_ceil(page_size as usize));
    }
    assert_eq!(all_top_ups(store, other_wallet, 10).await.concat().len(), 1);
    assert_eq!(
        all_top_ups(store, fresh_id(), 10).await,
        vec![Vec::<Uuid>::new()]
    );

    let token = store
        .list_top_ups_by_wallet(
            wallet_id,
            PageRequest {
                page_size: 2,
                page_token: None,
            },
        )
        .await
        .expect("list")
        .next_page_token
        .expect("a second page");
    let wallets_token = crate::PageToken::WalletsAfter { wallet_id }.encode();
    for (listed, token) in [
        (other_wallet, token.clone()),
        (wallet_id, wallets_token),
        (wallet_id, "garbage!".to_owned()),
    ] {
        let result = store
            .list_top_ups_by_wallet(
                listed,
                PageRequest {
                    page_size: 2,
                    page_token: Some(token.clone()),
                },
            )
            .await;
        assert!(
            matches!(result, Err(StoreError::InvalidPageToken)),
            "token {token:?}: {result:?}"
        );
    }
    let result = store
        .list_top_ups_by_wallet(
            wallet_id,
            PageRequest {
                page_size: MAX_PAGE_SIZE + 1,
                page_token: None,
            },
        )
        .await;
    assert!(matches!(
        result,
        Err(StoreError::PageSizeTooLarge { max: MAX_PAGE_SIZE })
    ));
}

/// Top-ups list by creation time, newest first, whatever their ids (which derive from
/// idempotency keys): created in an order unrelated to their ids, they page back newest first,
/// equal creation times broken by id descending (by its bytes, whatever the UUID version), with
/// page boundaries anywhere, also between two top-ups created at the same instant.
pub async fn top_ups_by_wallet_are_newest_first_by_creation_time_not_id(store: &dyn ReadStore) {
    const T0: i64 = 1_700_000_000_000;
    let wallet_id = fresh_id();
    // Unique per run (the suite may share a ScyllaDB keyspace across runs), with a first byte
    // that sets the id order: `lead` 0x10 sorts below 0x90 whatever follows.
    let id = |lead: u8, version: u8| {
        let mut bytes = *fresh_id().as_bytes();
        bytes.reverse();
        bytes[0] = lead;
        if version == 7 {
            // The version and variant bits of a UUIDv7, as auto top-up ids have them.
            bytes[6] = (bytes[6] & 0x0f) | 0x70;
            bytes[8] = (bytes[8] & 0x3f) | 0x80;
            Uuid::from_bytes(bytes)
        } else {
            Uuid::new_v8(bytes)
        }
    };
    // (first id byte, UUID version, created at): the oldest top-up has the largest id, the newest
    // a small one; two pairs share an instant, one of them across UUID versions (auto top-ups
    // have v7 ids, the others v8), where the bytes and the version disagree on the order.
    let made = [
        (0xf0, 8, T0),
        (0x10, 8, T0 + 5_000),
        (0xc0, 8, T0 + 1_000),
        (0x20, 8, T0 + 3_000),
        (0x90, 8, T0 + 3_000),
        (0x80, 7, T0 + 4_000),
        (0x30, 8, T0 + 4_000),
        (0x50, 8, T0 + 2_000),
    ];
    let rows: Vec<TopUpRow> = made
        .iter()
        .map(|&(lead, version, created_at_ms)| TopUpRow {
            created_at_ms,
            updated_at_ms: created_at_ms,
            ..top_up(id(lead, version), wallet_id, 1)
        })
        .collect();
    // Newest first: (created at, id) descending.
    let mut expected = rows.clone();
    expected.sort_by_key(|t| std::cmp::Reverse((t.created_at_ms, *t.top_up_id.as_bytes())));
    let expected: Vec<Uuid> = expected.iter().map(|t| t.top_up_id).collect();
    let mut by_id: Vec<Uuid> = rows.iter().map(|t| t.top_up_id).collect();
    by_id.sort_by_key(|id| std::cmp::Reverse(*id.as_bytes()));
    assert_ne!(
        expected, by_id,
        "the case must tell creation order from id order"
    );
    assert_eq!(
        (&expected[..3], &expected[7]),
        (
            &[rows[1].top_up_id, rows[5].top_up_id, rows[6].top_up_id][..],
            &rows[0].top_up_id
        ),
        "newest first, ties by id bytes (0x80… v7 before 0x30… v8)"
    );

    // Projected one by one, in creation order (as a projector would, one top-up stream each).
    let mut in_creation_order = rows.clone();
    in_creation_order.sort_by_key(|t| t.created_at_ms);
    for row in in_creation_order {
        apply(store, vec![RowWrite::TopUp(row)]).await;
    }
    for page_size in [1, 2, 3, 8, 100] {
        let pages = all_top_ups(store, wallet_id, page_size).await;
        assert_eq!(
            pages.concat(),
            expected,
            "page_size {page_size}: not newest first by creation time"
        );
        assert_eq!(pages.len(), 8usize.div_ceil(page_size as usize));
    }
    // Rows read through the list are the rows written.
    let listed = store
        .list_top_ups_by_wallet(wallet_id, PageRequest::default())
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 8);
    for item in &listed.items {
        let written = rows
            .iter()
            .find(|r| r.top_up_id == item.top_up_id)
            .expect("written");
        assert_eq!(item, written);
    }
    // A status update later on does not move a top-up: the order is by creation.
    apply(
        store,
        vec![RowWrite::TopUpStatus {
            top_up_id: rows[0].top_up_id,
            status: "completed".to_owned(),
            failure_reason: None,
            credited: Some(dec("22.00")),
            updated_at_ms: T0 + 9_000,
            version: 4,
        }],
    )
    .await;
    assert_eq!(all_top_ups(store, wallet_id, 3).await.concat(), expected);
}

/// The auto top-up activity (last failure, back-off, daily cap) follows the saga's outcomes by
/// version, each group on its own: hidden until the rule exists, never moved backwards by older
/// or equal versions, untouched by setting or removing the rule; a completion ends the back-off
/// and keeps the last failure.
pub async fn auto_top_up_activity_follows_the_newest_saga_outcome(store: &dyn ReadStore) {
    let wallet_id = fresh_id();
    let get = || async move {
        store
            .get_auto_top_up_rule(wallet_id)
            .await
            .expect("get_auto_top_up_rule")
    };
    let failure = |top_up_id: Uuid, reason: &str, at_ms: i64| AutoTopUpFailureRow {
        top_up_id,
        reason: reason.to_owned(),
        failed_at_ms: at_ms,
    };
    let failed =
        |failure: AutoTopUpFailureRow, consecutive_failures, version| RowWrite::AutoTopUpFailed {
            wallet_id,
            backoff_until_ms: failure.failed_at_ms + 3_600_000,
            failure,
            consecutive_failures,
            version,
        };
    let (first_top_up, second_top_up) = (fresh_id(), fresh_id());
    let first = failure(
        first_top_up,
        "declined:insufficient_funds",
        1_700_000_100_000,
    );
    let second = failure(second_top_up, "expired", 1_700_003_800_000);

    // A failure before the rule is kept but not shown.
    apply(store, vec![failed(first.clone(), 1, 5)]).await;
    assert_eq!(get().await, None);
    let rule = auto_rule(wallet_id, 1);
    apply(store, vec![RowWrite::AutoTopUpRule(rule.clone())]).await;
    let backing_off = AutoTopUpRuleRow {
        activity: AutoTopUpActivityRow {
            consecutive_failures: 1,
            backoff_until_ms: Some(1_700_003_700_000),
            last_failure: Some(first.clone()),
            daily_cap_reached_until_ms: None,
        },
        version: 5,
        ..rule.clone()
    };
    assert_eq!(get().await, Some(backing_off.clone()));

    // Older and equal versions change nothing (the first write of a version stays).
    apply(
        store,
        vec![
            failed(second.clone(), 2, 5),
            failed(second.clone(), 7, 4),
            RowWrite::AutoTopUpCompleted {
                wallet_id,
                version: 5,
            },
            RowWrite::AutoTopUpCapReached {
                wallet_id,
                until_ms: 1_700_006_400_000,
                version: 5,
            },
        ],
    )
    .await;
    assert_eq!(
        get().await,
        Some(AutoTopUpRuleRow {
            activity: AutoTopUpActivityRow {
                daily_cap_reached_until_ms: Some(1_700_006_400_000),
                ..backing_off.activity.clone()
            },
            ..backing_off.clone()
        }),
        "only the cap group, never written before, takes its first write"
    );

    // A newer failure replaces the failure and the back-off; replacing the rule keeps both.
    apply(store, vec![failed(second.clone(), 2, 8)]).await;
    let replaced = AutoTopUpRuleRow {
        threshold: dec("7.00"),
        ..auto_rule(wallet_id, 9)
    };
    apply(store, vec![RowWrite::AutoTopUpRule(replaced.clone())]).await;
    let twice = AutoTopUpActivityRow {
        consecutive_failures: 2,
        backoff_until_ms: Some(1_700_007_400_000),
        last_failure: Some(second.clone()),
        daily_cap_reached_until_ms: Some(1_700_006_400_000),
    };
    assert_eq!(
        get().await,
        Some(AutoTopUpRuleRow {
            activity: twice.clone(),
            ..replaced.clone()
        })
    );

    // A completion ends the back-off and keeps the last failure; an older failure replayed
    // after it does not bring the back-off back; a removal keeps the activity.
    apply(
        store,
        vec![
            RowWrite::AutoTopUpCompleted {
                wallet_id,
                version: 11,
            },
            failed(second.clone(), 2, 8),
            RowWrite::AutoTopUpRuleRemoved {
                wallet_id,
                version: 12,
            },
        ],
    )
    .await;
    let done = get().await.expect("rule");
    assert_eq!(
        done.activity,
        AutoTopUpActivityRow {
            consecutive_failures: 0,
            backoff_until_ms: None,
            ..twice
        }
    );
    assert!(done.removed);
    assert_eq!(done.version, 12);
}

/// A payment's groups (status with capture, card, resolution, refunds) carry their own
/// versions: applied in any order, the newest of each wins; a decline reason survives a late
/// capture; a card submission without a stored card keeps the intent's.
pub async fn payments_round_trip_and_updates_never_go_backwards(store: &dyn ReadStore) {
    let created = payment(fresh_id(), 1);
    let id = created.payment_id;
    assert_eq!(store.get_payment(id).await.expect("get"), None);
    apply(store, vec![RowWrite::Payment(created.clone())]).await;
    assert_eq!(
        store.get_payment(id).await.expect("get"),
        Some(created.clone())
    );
    let bare = PaymentRow {
        top_up_id: None,
        payment_method_id: None,
        ..payment(fresh_id(), 1)
    };
    apply(store, vec![RowWrite::Payment(bare.clone())]).await;
    assert_eq!(
        store.get_payment(bare.payment_id).await.expect("get"),
        Some(bare)
    );

    let at = |version: u64| 1_700_000_000_000 + version as i64;
    let status = |status: &str, captured: Option<&str>, version| RowWrite::PaymentStatus {
        payment_id: id,
        status: status.to_owned(),
        captured: captured.map(dec),
        updated_at_ms: at(version),
        version,
    };
    let updates = vec![
        // Submitted (v2), declined (v3), captured late (v4), refunded (v5, v6).
        RowWrite::PaymentCard {
            payment_id: id,
            brand: "visa".to_owned(),
            last4: "4242".to_owned(),
            exp_month: 12,
            exp_year: 2030,
            payment_method_id: None,
            updated_at_ms: at(2),
            version: 2,
        },
        status("processing", None, 2),
        RowWrite::PaymentResolution {
            payment_id: id,
            decline_reason: Some("insufficient_funds".to_owned()),
            cancel_reason: None,
            updated_at_ms: at(3),
            version: 3,
        },
        status("failed", None, 3),
        status("succeeded", Some("20.00"), 4),
        RowWrite::PaymentRefunded {
            payment_id: id,
            refunded: dec("5.00"),
            updated_at_ms: at(5),
            version: 5,
        },
        RowWrite::PaymentRefunded {
            payment_id: id,
            refunded: dec("20.00"),
            updated_at_ms: at(6),
            version: 6,
        },
    ];
    let expected = PaymentRow {
        status: "succeeded".to_owned(),
        card_brand: Some("visa".to_owned()),
        card_last4: Some("4242".to_owned()),
        card_exp_month: Some(12),
        card_exp_year: Some(2030),
        decline_reason: Some("insufficient_funds".to_owned()),
        captured: Some(dec("20.00")),
        refunded: Some(dec("20.00")),
        updated_at_ms: at(6),
        version: 6,
        ..created.clone()
    };
    apply(store, updates.iter().rev().cloned().collect()).await;
    assert_eq!(
        store.get_payment(id).await.expect("get"),
        Some(expected.clone())
    );
    // Replayed in order, with the creation and an equal-version status with other values.
    let mut replay = vec![RowWrite::Payment(created.clone())];
    replay.extend(updates);
    replay.push(status("canceled", None, 4));
    apply(store, replay).await;
    assert_eq!(
        store.get_payment(id).await.expect("get"),
        Some(expected.clone())
    );

    // A submission naming a stored card says which one was charged.
    let charged = fresh_id();
    apply(
        store,
        vec![RowWrite::PaymentCard {
            payment_id: id,
            brand: "mastercard".to_owned(),
            last4: "4444".to_owned(),
            exp_month: 1,
            exp_year: 2031,
            payment_method_id: Some(charged),
            updated_at_ms: at(7),
            version: 7,
        }],
    )
    .await;
    let read = store.get_payment(id).await.expect("get").expect("payment");
    assert_eq!(read.payment_method_id, Some(charged));
    assert_eq!(read.card_last4.as_deref(), Some("4444"));

    // Updates before the creation stay hidden.
    let early = fresh_id();
    apply(
        store,
        vec![RowWrite::PaymentStatus {
            payment_id: early,
            status: "canceled".to_owned(),
            captured: None,
            updated_at_ms: at(2),
            version: 2,
        }],
    )
    .await;
    assert_eq!(store.get_payment(early).await.expect("get"), None);
}

/// Stored cards list per (tenant, owner) in payment method id order, page by page; removed
/// ones are not listed, even when the removal arrives before the card or the card is written
/// again afterwards (a replay).
pub async fn payment_methods_list_by_owner_without_removed_ones(store: &dyn ReadStore) {
    let tenant = fresh_tenant();
    let other_tenant = fresh_tenant();
    let mut cards: Vec<PaymentMethodRow> = (0..6)
        .map(|_| payment_method(&tenant, "alice", fresh_id(), 1))
        .collect();
    cards.sort_by_key(|c| c.payment_method_id);
    let removed_early = cards[1].payment_method_id;
    let removed_late = cards[4].payment_method_id;
    // The removal of one card arrives before the card itself.
    apply(
        store,
        vec![RowWrite::PaymentMethodRemoved {
            payment_method_id: removed_early,
            version: 2,
        }],
    )
    .await;
    let mut writes: Vec<RowWrite> = cards.iter().cloned().map(RowWrite::PaymentMethod).collect();
    writes.push(RowWrite::PaymentMethod(payment_method(
        &tenant,
        "bob",
        fresh_id(),
        1,
    )));
    writes.push(RowWrite::PaymentMethod(payment_method(
        &other_tenant,
        "alice",
        fresh_id(),
        1,
    )));
    writes.reverse();
    writes.push(RowWrite::PaymentMethodRemoved {
        payment_method_id: removed_late,
        version: 3,
    });
    apply(store, writes).await;
    // A replay of the saving writes does not bring the removed cards back.
    apply(
        store,
        cards.iter().cloned().map(RowWrite::PaymentMethod).collect(),
    )
    .await;

    let expected: Vec<PaymentMethodRow> = cards
        .iter()
        .filter(|c| c.payment_method_id != removed_early && c.payment_method_id != removed_late)
        .cloned()
        .collect();
    let mut listed = Vec::new();
    let mut page_token = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_payment_methods(
                &tenant,
                "alice",
                PageRequest {
                    page_size: 2,
                    page_token,
                },
            )
            .await
            .expect("list_payment_methods");
        pages += 1;
        assert!(page.items.len() <= 2);
        listed.extend(page.items);
        page_token = page.next_page_token;
        if page_token.is_none() {
            break;
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(listed, expected);
    assert_eq!(pages, 2);
    let elsewhere = store
        .list_payment_methods(&other_tenant, "alice", PageRequest::default())
        .await
        .expect("list");
    assert_eq!(
        elsewhere.items.len(),
        1,
        "tenants must not see each other's cards"
    );
    let nobody = store
        .list_payment_methods(&tenant, "nobody", PageRequest::default())
        .await
        .expect("list");
    assert!(nobody.items.is_empty() && nobody.next_page_token.is_none());

    let wallets_token = crate::PageToken::WalletsAfter {
        wallet_id: fresh_id(),
    }
    .encode();
    let result = store
        .list_payment_methods(
            &tenant,
            "alice",
            PageRequest {
                page_size: 2,
                page_token: Some(wallets_token),
            },
        )
        .await;
    assert!(
        matches!(result, Err(StoreError::InvalidPageToken)),
        "{result:?}"
    );
}

/// A rule is replaced by a newer set and hidden by a removal (kept, with `removed`); an older
/// set replayed after the removal does not bring it back, a newer one does.
pub async fn auto_top_up_rules_are_replaced_and_removed_by_version(store: &dyn ReadStore) {
    let wallet_id = fresh_id();
    assert_eq!(
        store.get_auto_top_up_rule(wallet_id).await.expect("get"),
        None
    );
    // A removal before the rule is invisible.
    apply(
        store,
        vec![RowWrite::AutoTopUpRuleRemoved {
            wallet_id,
            version: 2,
        }],
    )
    .await;
    assert_eq!(
        store.get_auto_top_up_rule(wallet_id).await.expect("get"),
        None
    );
    let first = auto_rule(wallet_id, 1);
    apply(store, vec![RowWrite::AutoTopUpRule(first.clone())]).await;
    assert_eq!(
        store.get_auto_top_up_rule(wallet_id).await.expect("get"),
        Some(AutoTopUpRuleRow {
            removed: true,
            version: 2,
            ..first.clone()
        })
    );
    let replaced = AutoTopUpRuleRow {
        amount: None,
        target_balance: Some(dec("50.00")),
        daily_max_amount: None,
        updated_at_ms: 1_700_000_000_003,
        ..auto_rule(wallet_id, 3)
    };
    apply(
        store,
        vec![
            RowWrite::AutoTopUpRule(replaced.clone()),
            RowWrite::AutoTopUpRule(first.clone()),
            RowWrite::AutoTopUpRuleRemoved {
                wallet_id,
                version: 2,
            },
        ],
    )
    .await;
    assert_eq!(
        store.get_auto_top_up_rule(wallet_id).await.expect("get"),
        Some(replaced.clone())
    );
    apply(
        store,
        vec![RowWrite::AutoTopUpRuleRemoved {
            wallet_id,
            version: 4,
        }],
    )
    .await;
    let read = store
        .get_auto_top_up_rule(wallet_id)
        .await
        .expect("get")
        .expect("rule");
    assert!(read.removed);
    assert_eq!(read.version, 4);
    assert_eq!(read.target_balance, Some(dec("50.00")));
    assert_eq!(read.fee_rate.to_string(), "2.9");
}
