//! A wallet's history over the wire against a running `pursed`: ListEntries, the same pages as
//! its deprecated alias ListTransactions, and GetBalance as of an instant (docs/adr/0019),
//! checked against what GetBalance answered right after each entry.

use purse_client::Pager;
use purse_e2e::requests::{create_wallet, credit, debit, history};
use purse_e2e::{Pursed, WalletClient, now_ms, reason, token};
use purse_proto::wallet::v1 as pb;
use purse_runtime::auth::Scope;
use tonic::{Code, Status};

const DAY_MS: i64 = 86_400_000;

fn refusal(status: &Status) -> (Code, String) {
    (status.code(), reason(status).0)
}

fn balance_request(
    wallet_id: &str,
    min_sequence: u64,
    as_of_ms: Option<i64>,
) -> pb::GetBalanceRequest {
    pb::GetBalanceRequest {
        wallet_id: wallet_id.into(),
        min_sequence,
        as_of_ms,
    }
}

async fn balance_as_of(
    client: &mut WalletClient,
    wallet_id: &str,
    as_of_ms: i64,
) -> Result<pb::Balance, Status> {
    client
        .get_balance(balance_request(wallet_id, 0, Some(as_of_ms)))
        .await
        .map(tonic::Response::into_inner)
}

fn hold(wallet_id: &str, key: &str, amount: &str) -> pb::PlaceHoldRequest {
    pb::PlaceHoldRequest {
        wallet_id: wallet_id.into(),
        idempotency_key: key.into(),
        amount: amount.into(),
        expires_at_ms: now_ms() + DAY_MS,
        ..Default::default()
    }
}

/// One operation's reply and what GetBalance answered right after it (reading its write).
async fn recorded(
    client: &mut WalletClient,
    reply: Result<tonic::Response<pb::MutationResponse>, Status>,
) -> (pb::MutationResponse, pb::Balance) {
    let reply = reply.expect("operation accepted").into_inner();
    let balance = client
        .get_balance(balance_request(&reply.wallet_id, reply.sequence, None))
        .await
        .expect("balance")
        .into_inner();
    // The entry happened before its reply (same clock): once the clock has moved on, the next
    // entry falls in a later millisecond, so every entry has an instant of its own.
    let replied_ms = now_ms();
    while now_ms() <= replied_ms {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    (reply, balance)
}

/// Credits, debits, holds placed, captured in part and voided: one entry each, with what
/// GetBalance answered after each.
async fn busy_wallet(
    client: &mut WalletClient,
    owner: &str,
) -> (String, Vec<(pb::MutationResponse, pb::Balance)>) {
    let wallet = create_wallet(client, owner, "USD").await;
    let mut steps = Vec::new();
    let reply = client
        .credit(credit(&wallet, "paid", "100.00", pb::CreditSource::Paid))
        .await;
    steps.push(recorded(client, reply).await);
    let reply = client.place_hold(hold(&wallet, "hold-1", "30.00")).await;
    steps.push(recorded(client, reply).await);
    let first_hold = steps[1].0.entry_id.clone();
    let reply = client.debit(debit(&wallet, "buy", "20.00")).await;
    steps.push(recorded(client, reply).await);
    let reply = client
        .capture_hold(pb::CaptureHoldRequest {
            wallet_id: wallet.clone(),
            idempotency_key: "capture-1".into(),
            hold_id: first_hold,
            amount: "10.00".into(),
        })
        .await;
    steps.push(recorded(client, reply).await);
    let reply = client
        .credit(credit(&wallet, "grant", "5.00", pb::CreditSource::Granted))
        .await;
    steps.push(recorded(client, reply).await);
    let reply = client.place_hold(hold(&wallet, "hold-2", "15.00")).await;
    steps.push(recorded(client, reply).await);
    let second_hold = steps[5].0.entry_id.clone();
    let reply = client
        .void_hold(pb::VoidHoldRequest {
            wallet_id: wallet.clone(),
            idempotency_key: "void-2".into(),
            hold_id: second_hold,
        })
        .await;
    steps.push(recorded(client, reply).await);
    (wallet, steps)
}

/// Every page of both listings at `page_size`: ListEntries' (entries, next token) pages and
/// ListTransactions' must be the same.
#[allow(deprecated)] // ListTransactions is called on purpose: it must keep answering the same.
async fn both_listings(
    client: &mut WalletClient,
    request: pb::ListEntriesRequest,
) -> (
    Vec<(Vec<pb::Transaction>, String)>,
    Vec<(Vec<pb::Transaction>, String)>,
) {
    let (mut entries, mut transactions) = (Vec::new(), Vec::new());
    let mut token = String::new();
    loop {
        let page = client
            .list_entries(pb::ListEntriesRequest {
                page_token: token.clone(),
                ..request.clone()
            })
            .await
            .expect("entries")
            .into_inner();
        let old = client
            .list_transactions(pb::ListTransactionsRequest {
                wallet_id: request.wallet_id.clone(),
                page_size: request.page_size,
                page_token: token,
                entry_types: request.entry_types.clone(),
                from_ms: request.from_ms,
                to_ms: request.to_ms,
                min_sequence: request.min_sequence,
            })
            .await
            .expect("transactions")
            .into_inner();
        token = page.next_page_token.clone();
        entries.push((page.entries, page.next_page_token));
        transactions.push((old.transactions, old.next_page_token));
        if token.is_empty() {
            return (entries, transactions);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_entries_answers_what_list_transactions_answers_page_for_page() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    let (wallet, steps) = busy_wallet(&mut client, "alice").await;
    let replies: Vec<pb::MutationResponse> = steps.into_iter().map(|(reply, _)| reply).collect();
    let last = replies.last().expect("replies").sequence;

    let all = history(&mut client, &wallet, last).await;
    assert_eq!(all.len(), replies.len(), "one entry per operation");
    let sequences: Vec<u64> = all.iter().map(|e| e.sequence).collect();
    let mut expected: Vec<u64> = replies.iter().map(|r| r.sequence).collect();
    expected.reverse();
    assert_eq!(sequences, expected, "newest first");

    let debit_types = vec![
        pb::EntryType::Debit as i32,
        pb::EntryType::HoldCaptured as i32,
    ];
    let middle = all[all.len() / 2].occurred_at_ms;
    for (page_size, entry_types, from_ms) in [
        (0, Vec::new(), None),
        (1, Vec::new(), None),
        (2, Vec::new(), None),
        (3, debit_types.clone(), None),
        (2, Vec::new(), Some(middle)),
    ] {
        let request = pb::ListEntriesRequest {
            wallet_id: wallet.clone(),
            page_size,
            entry_types,
            from_ms,
            min_sequence: last,
            ..Default::default()
        };
        let (entries, transactions) = both_listings(&mut client, request.clone()).await;
        assert_eq!(entries, transactions, "{request:?}");
        let listed: usize = entries.iter().map(|(page, _)| page.len()).sum();
        assert!(listed > 0, "{request:?} lists something");
        if page_size == 1 {
            assert_eq!(entries.len(), all.len(), "one page per entry");
        }
    }

    // The paging iterator over ListEntries walks the same entries.
    let paged = Pager::new(
        pb::ListEntriesRequest {
            wallet_id: wallet.clone(),
            ..Default::default()
        },
        2,
        |request| {
            let mut client = client.clone();
            async move { client.list_entries(request).await }
        },
    )
    .collect()
    .await
    .expect("pages");
    assert_eq!(paged, all);

    // The CLI's history lists through ListEntries: its JSON is ListEntriesResponse's.
    let json = purse_e2e::cli_json(
        &pursed.endpoint,
        &pursed.token,
        &["history", &wallet, "--page-size", "3"],
    );
    let listed = json["entries"].as_array().expect("entries");
    assert_eq!(listed.len(), 3, "{json}");
    assert_eq!(listed[0]["entryId"], all[0].entry_id.as_str());
    assert!(!json["nextPageToken"].as_str().expect("token").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balance_as_of_an_instant_is_what_get_balance_answered_then() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    let (wallet, steps) = busy_wallet(&mut client, "bob").await;
    let answered: Vec<pb::Balance> = steps
        .iter()
        .map(|(reply, balance)| {
            assert_eq!(balance.sequence, reply.sequence, "nothing else happened");
            balance.clone()
        })
        .collect();
    let opened = client
        .get_wallet(pb::GetWalletRequest {
            wallet_id: wallet.clone(),
            min_sequence: 0,
        })
        .await
        .expect("wallet")
        .into_inner()
        .created_at_ms;
    // The instants are the entries' own times.
    let entries = history(&mut client, &wallet, 0).await;
    let time_of = |sequence: u64| {
        entries
            .iter()
            .find(|e| e.sequence == sequence)
            .expect("an entry per operation")
            .occurred_at_ms
    };
    // What GetBalance answered after the newest entry at or before `instant`; all zero (and
    // sequence 0) when none was.
    let expected_at = |instant: i64| {
        answered
            .iter()
            .rev()
            .find(|b| time_of(b.sequence) <= instant)
            .cloned()
            .unwrap_or_else(|| pb::Balance {
                wallet_id: wallet.clone(),
                asset: "USD".into(),
                balance: "0.00".into(),
                held: "0.00".into(),
                available: "0.00".into(),
                sequence: 0,
            })
    };

    let mut instants = vec![opened, now_ms()];
    for entry in &entries {
        instants.extend([
            entry.occurred_at_ms - 1,
            entry.occurred_at_ms,
            entry.occurred_at_ms + 1,
        ]);
    }
    for instant in instants.into_iter().filter(|t| *t >= opened) {
        let at = balance_as_of(&mut client, &wallet, instant)
            .await
            .unwrap_or_else(|s| panic!("as of {instant}: {s:?}"));
        assert_eq!(at, expected_at(instant), "as of {instant}");
    }
    // At each entry's own instant (inclusive), exactly what GetBalance answered after it.
    for then in &answered {
        let instant = time_of(then.sequence);
        assert_eq!(
            entries
                .iter()
                .filter(|e| e.occurred_at_ms == instant)
                .count(),
            1,
            "an instant of its own"
        );
        let at = balance_as_of(&mut client, &wallet, instant)
            .await
            .expect("as of");
        assert_eq!(&at, then, "as of the entry at sequence {}", then.sequence);
    }
    // Now is the balance now.
    let now = client
        .get_balance(balance_request(&wallet, 0, None))
        .await
        .expect("balance")
        .into_inner();
    assert_eq!(
        balance_as_of(&mut client, &wallet, now_ms())
            .await
            .expect("now"),
        now
    );
    assert_eq!(
        (
            now.balance.as_str(),
            now.held.as_str(),
            now.available.as_str()
        ),
        ("75.00", "0.00", "75.00")
    );
    // While the first hold was open, part of the balance was held.
    let held = &answered[1];
    assert_eq!(
        (
            held.balance.as_str(),
            held.held.as_str(),
            held.available.as_str()
        ),
        ("100.00", "30.00", "70.00")
    );

    // Before the wallet was opened it did not exist.
    let before = balance_as_of(&mut client, &wallet, opened - 1)
        .await
        .expect_err("before opening");
    assert_eq!(
        refusal(&before),
        (Code::NotFound, "WALLET_NOT_OPEN_AS_OF".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balance_as_of_reads_its_writes_and_never_reveals_another_tenants_wallet() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    let wallet = create_wallet(&mut client, "carol", "USD").await;
    let credited = client
        .credit(credit(&wallet, "paid", "12.50", pb::CreditSource::Paid))
        .await
        .expect("credit")
        .into_inner();
    // Right after the reply, as of now: min_sequence waits for the projection.
    let at = client
        .get_balance(balance_request(&wallet, credited.sequence, Some(now_ms())))
        .await
        .expect("as of now")
        .into_inner();
    assert_eq!(
        (at.balance.as_str(), at.available.as_str(), at.sequence),
        ("12.50", "12.50", credited.sequence)
    );

    // Another tenant sees no such wallet, whatever the instant (not even "not open yet").
    let other = token(dir.path(), "other", vec![Scope::Read]);
    let mut intruder = pursed.client_with_token(&other).await;
    for as_of_ms in [Some(now_ms()), Some(0), None] {
        let hidden = intruder
            .get_balance(balance_request(&wallet, 0, as_of_ms))
            .await
            .expect_err("another tenant's wallet");
        assert_eq!(
            refusal(&hidden),
            (Code::NotFound, "WALLET_NOT_FOUND".into()),
            "{as_of_ms:?}"
        );
    }

    // The CLI asks for an instant with --as-of-ms.
    let json = purse_e2e::cli_json(
        &pursed.endpoint,
        &pursed.token,
        &["balance", &wallet, "--as-of-ms", &now_ms().to_string()],
    );
    assert_eq!(json["balance"], "12.50", "{json}");
}

/// Entries projected before `held_after` was recorded (a store upgraded in place) cannot answer
/// an as-of balance: FAILED_PRECONDITION until the read models are rebuilt from the log, after
/// which they do (docs/runbook.md, "Rebuilding read models").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_from_before_held_after_answer_not_recorded_until_the_read_models_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let mut pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    let wallet = create_wallet(&mut client, "dave", "USD").await;
    let reply = client
        .credit(credit(&wallet, "paid", "8.00", pb::CreditSource::Paid))
        .await;
    let (credited, then) = recorded(&mut client, reply).await;
    let instant = history(&mut client, &wallet, credited.sequence).await[0].occurred_at_ms;
    assert!(pursed.terminate().success());

    // As a store migrated to step 4 holds the entries projected before it.
    let store = dir.path().join("store.db");
    rusqlite::Connection::open(&store)
        .expect("store")
        .execute("UPDATE history SET held_after = NULL", [])
        .expect("forget held_after");
    let mut pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    let refused = balance_as_of(&mut client, &wallet, instant)
        .await
        .expect_err("not recorded");
    assert_eq!(
        refusal(&refused),
        (Code::FailedPrecondition, "AS_OF_NOT_RECORDED".into())
    );
    let now = client
        .get_balance(balance_request(&wallet, 0, None))
        .await
        .expect("the balance now is unaffected")
        .into_inner();
    assert_eq!(now, then);
    assert!(pursed.terminate().success());

    // Rebuilt from the log: the entry carries its held amount again.
    for file in ["store.db", "store.db-wal", "store.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(file));
    }
    let pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    let at = client
        .get_balance(balance_request(&wallet, credited.sequence, Some(instant)))
        .await
        .expect("as of, after the rebuild")
        .into_inner();
    assert_eq!(at, then);
}
