//! End-to-end tests of `pursed` (all-in-one) over real gRPC on loopback, including kill -9.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use purse_e2e::requests::{balance, create_wallet, credit, debit, history};
use purse_e2e::{Pursed, bad_fields, reason};
use purse_proto::wallet::v1 as pb;
use tokio::sync::Notify;
use tonic::Code;

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn the_debit_spends_the_expiring_granted_lot_first() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    let wallet = create_wallet(&mut client, "alice", "USD").await;
    let mut granted = credit(&wallet, "grant-1", "50.00", pb::CreditSource::Granted);
    granted.expires_at_ms = Some(now_ms() + DAY_MS);
    let granted = client.credit(granted).await.unwrap().into_inner();
    client
        .credit(credit(&wallet, "paid-1", "100.00", pb::CreditSource::Paid))
        .await
        .unwrap();
    let debited = client
        .debit(debit(&wallet, "buy-1", "30.00"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (debited.balance.as_str(), debited.available.as_str()),
        ("120.00", "120.00")
    );

    let entries = history(&mut client, &wallet, debited.sequence).await;
    let newest = &entries[0];
    assert_eq!(newest.entry_type, pb::EntryType::Debit as i32);
    assert_eq!(newest.balance_after, "120.00");
    assert_eq!(newest.lots.len(), 1, "one lot covers the debit");
    assert_eq!(
        newest.lots[0].lot_id, granted.entry_id,
        "the granted lot is consumed first"
    );
    assert_eq!(newest.lots[0].amount, "30.00");
    let shown = balance(&mut client, &wallet, debited.sequence).await;
    assert_eq!(
        (
            shown.balance.as_str(),
            shown.held.as_str(),
            shown.available.as_str()
        ),
        ("120.00", "0.00", "120.00")
    );
}

#[tokio::test]
async fn a_debit_above_available_is_refused_with_the_available_amount_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    let wallet = create_wallet(&mut client, "bob", "USD").await;
    let credited = client
        .credit(credit(&wallet, "c1", "20.00", pb::CreditSource::Paid))
        .await
        .unwrap()
        .into_inner();

    let refused = client
        .debit(debit(&wallet, "d1", "20.01"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let (why, details) = reason(&refused);
    assert_eq!(why, "INSUFFICIENT_FUNDS");
    assert_eq!(details["available"], "20.00");

    let after = balance(&mut client, &wallet, credited.sequence).await;
    assert_eq!(
        (after.balance.as_str(), after.sequence),
        ("20.00", credited.sequence)
    );
    // A rejection is not recorded: the same key is evaluated again and may now succeed.
    let retried = client
        .debit(debit(&wallet, "d1", "20.00"))
        .await
        .unwrap()
        .into_inner();
    assert!(!retried.replayed);
    assert_eq!(retried.balance, "0.00");
}

#[tokio::test]
async fn the_same_key_replays_and_a_different_request_under_it_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    let wallet = create_wallet(&mut client, "carol", "USD").await;
    client
        .credit(credit(&wallet, "c1", "100.00", pb::CreditSource::Paid))
        .await
        .unwrap();

    let first = client
        .debit(debit(&wallet, "k1", "10.00"))
        .await
        .unwrap()
        .into_inner();
    let again = client
        .debit(debit(&wallet, "k1", "10.00"))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.replayed);
    assert!(again.replayed);
    assert_eq!(
        (again.entry_id, again.balance, again.sequence),
        (
            first.entry_id.clone(),
            first.balance.clone(),
            first.sequence
        )
    );

    let reused = client
        .debit(debit(&wallet, "k1", "11.00"))
        .await
        .unwrap_err();
    assert_eq!(reason(&reused).0, "IDEMPOTENCY_KEY_REUSED");
    let debits = history(&mut client, &wallet, first.sequence).await;
    assert_eq!(
        debits
            .iter()
            .filter(|t| t.entry_type == pb::EntryType::Debit as i32)
            .count(),
        1
    );
    assert_eq!(
        balance(&mut client, &wallet, first.sequence).await.balance,
        "90.00"
    );

    // Creating a wallet is idempotent too: the same key addresses the same wallet.
    let again = create_wallet(&mut client, "carol", "USD").await;
    assert_eq!(again, wallet);
}

#[tokio::test]
async fn a_partial_capture_releases_the_rest_and_the_hold_resolves_once() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    let wallet = create_wallet(&mut client, "dave", "USD").await;
    client
        .credit(credit(&wallet, "c1", "100.00", pb::CreditSource::Paid))
        .await
        .unwrap();

    let hold = client
        .place_hold(pb::PlaceHoldRequest {
            wallet_id: wallet.clone(),
            idempotency_key: "h1".into(),
            amount: "20.00".into(),
            expires_at_ms: now_ms() + 3_600_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            hold.balance.as_str(),
            hold.held.as_str(),
            hold.available.as_str()
        ),
        ("100.00", "20.00", "80.00")
    );

    let captured = client
        .capture_hold(pb::CaptureHoldRequest {
            wallet_id: wallet.clone(),
            idempotency_key: "cap1".into(),
            hold_id: hold.entry_id.clone(),
            amount: "5.00".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            captured.balance.as_str(),
            captured.held.as_str(),
            captured.available.as_str()
        ),
        ("95.00", "0.00", "95.00")
    );

    let void = client
        .void_hold(pb::VoidHoldRequest {
            wallet_id: wallet.clone(),
            idempotency_key: "void1".into(),
            hold_id: hold.entry_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(void.code(), Code::FailedPrecondition);
    let (why, details) = reason(&void);
    assert_eq!(
        (why.as_str(), details["status"].as_str()),
        ("HOLD_NOT_ACTIVE", "captured")
    );
    assert_eq!(
        balance(&mut client, &wallet, captured.sequence)
            .await
            .available,
        "95.00"
    );
}

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_the_field_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    let wallet = create_wallet(&mut client, "erin", "USD").await;
    let credited = client
        .credit(credit(&wallet, "c1", "10.00", pb::CreditSource::Paid))
        .await
        .unwrap()
        .into_inner();

    let cases: Vec<(&str, pb::DebitRequest)> = vec![
        ("amount", debit(&wallet, "bad-1", "0")),
        ("amount", debit(&wallet, "bad-2", "-1.00")),
        ("amount", debit(&wallet, "bad-3", "1.001")),
        ("amount", debit(&wallet, "bad-4", "one")),
        ("wallet_id", debit("not-a-uuid", "bad-5", "1.00")),
        ("idempotency_key", debit(&wallet, "", "1.00")),
        ("idempotency_key", debit(&wallet, "has space", "1.00")),
    ];
    for (field, request) in cases {
        let status = client.debit(request.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{request:?}");
        assert_eq!(bad_fields(&status), vec![field.to_owned()], "{request:?}");
    }

    let unknown_asset = client
        .create_wallet(pb::CreateWalletRequest {
            idempotency_key: "w-xyz".into(),
            owner: "erin".into(),
            asset: "XYZ".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&unknown_asset), vec!["asset".to_owned()]);

    let oversized = client
        .create_wallet(pb::CreateWalletRequest {
            idempotency_key: "w-meta".into(),
            owner: "erin".into(),
            asset: "EUR".into(),
            metadata: (0..17).map(|i| (format!("k{i}"), "v".to_owned())).collect(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(oversized.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&oversized), vec!["metadata".to_owned()]);

    let wallets = client
        .list_wallets(pb::ListWalletsRequest {
            owner: "erin".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        wallets.wallets.len(),
        1,
        "no wallet was written by a refused creation"
    );
    let after = balance(&mut client, &wallet, credited.sequence).await;
    assert_eq!(
        (after.balance.as_str(), after.sequence),
        ("10.00", credited.sequence)
    );
}

#[tokio::test]
async fn calls_need_a_valid_token_and_another_tenants_wallet_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    let wallet = create_wallet(&mut client, "frank", "USD").await;

    let mut anonymous = pursed.client_with_token("purse1.forged.token").await;
    let refused = anonymous
        .get_wallet(pb::GetWalletRequest {
            wallet_id: wallet.clone(),
            min_sequence: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);

    // A token of another tenant, signed with this deployment's key.
    let key: [u8; 32] = std::fs::read(dir.path().join("token.key"))
        .unwrap()
        .try_into()
        .unwrap();
    let other = sign_token(&key, "other", "wallets:read,wallets:write");
    let mut intruder = pursed.client_with_token(&other).await;
    let hidden = intruder
        .get_wallet(pb::GetWalletRequest {
            wallet_id: wallet.clone(),
            min_sequence: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    let debit = intruder
        .debit(debit(&wallet, "steal", "1.00"))
        .await
        .unwrap_err();
    assert_eq!(debit.code(), Code::NotFound);
    let read_only = sign_token(&key, "dev", "wallets:read");
    let mut reader = pursed.client_with_token(&read_only).await;
    let denied = reader
        .credit(credit(&wallet, "c", "1.00", pb::CreditSource::Paid))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
}

/// Signs a token the way the server does (HMAC-SHA256 over `tenant|scopes`).
fn sign_token(key: &[u8; 32], tenant: &str, scopes: &str) -> String {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys,hmac,hashlib,base64\nk=bytes.fromhex(sys.argv[1]);p=sys.argv[2].encode()\nb=lambda x: base64.urlsafe_b64encode(x).decode().rstrip('=')\nprint('purse1.'+b(p)+'.'+b(hmac.new(k,p,hashlib.sha256).digest()))",
            &key.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            &format!("{tenant}|{scopes}"),
        ])
        .output()
        .expect("python3 runs");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn a_lot_expires_on_its_timer_without_any_other_activity() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    let wallet = create_wallet(&mut client, "gina", "USD").await;
    let mut expiring = credit(&wallet, "c1", "5.00", pb::CreditSource::Granted);
    expiring.expires_at_ms = Some(now_ms() + 1_500);
    client.credit(expiring).await.unwrap();
    let topped = client
        .credit(credit(&wallet, "c2", "1.00", pb::CreditSource::Paid))
        .await
        .unwrap()
        .into_inner();
    // Nothing else happens to the wallet: the timer's events follow. Wait for each next sequence
    // through read-your-writes (bounded by the server) until the expiry shows.
    let mut expired = None;
    for sequence in topped.sequence + 1.. {
        let entries = history(&mut client, &wallet, sequence).await;
        if let Some(entry) = entries
            .iter()
            .find(|t| t.entry_type == pb::EntryType::LotExpired as i32)
        {
            expired = Some(entry.clone());
            break;
        }
    }
    let expired = expired.expect("lot expired");
    assert_eq!(
        (expired.amount.as_str(), expired.balance_after.as_str()),
        ("5.00", "1.00")
    );
}

#[tokio::test]
async fn kill9_during_concurrent_debits_loses_nothing_acknowledged_and_applies_nothing_twice() {
    const CLIENTS: usize = 8;
    const ATTEMPTS_PER_CLIENT: usize = 40;
    const KILL_AFTER_ACKS: usize = 80;
    let dir = tempfile::tempdir().unwrap();
    let mut pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    let wallet = create_wallet(&mut client, "henry", "USD").await;
    // Funds for 200 of the 320 attempted debits: the rest must be refused.
    client
        .credit(credit(&wallet, "fund", "200.00", pb::CreditSource::Paid))
        .await
        .unwrap();

    let acks = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(Notify::new());
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let mut client = pursed.client().await;
        let (wallet, acks, enough) = (wallet.clone(), acks.clone(), enough.clone());
        tasks.spawn(async move {
            let mut outcomes: Vec<(String, Result<(), Code>)> = Vec::new();
            for i in 0..ATTEMPTS_PER_CLIENT {
                let key = format!("c{c}-{i}");
                match client.debit(debit(&wallet, &key, "1.00")).await {
                    Ok(_) => {
                        outcomes.push((key, Ok(())));
                        if acks.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER_ACKS {
                            enough.notify_one();
                        }
                    }
                    Err(status) if status.code() == Code::FailedPrecondition => {
                        outcomes.push((key, Err(status.code())))
                    }
                    Err(status) => {
                        // In flight when the process died: the outcome is unknown.
                        outcomes.push((key, Err(status.code())));
                        break;
                    }
                }
            }
            outcomes
        });
    }
    enough.notified().await;
    pursed.kill9();
    let mut acknowledged = HashSet::new();
    let mut refused = HashSet::new();
    let mut unknown = Vec::new();
    while let Some(outcomes) = tasks.join_next().await {
        for (key, outcome) in outcomes.unwrap() {
            match outcome {
                Ok(()) => acknowledged.insert(key),
                Err(Code::FailedPrecondition) => refused.insert(key),
                Err(_) => {
                    unknown.push(key);
                    true
                }
            };
        }
    }
    assert!(acknowledged.len() >= KILL_AFTER_ACKS);

    let pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    // Clients whose call was cut off retry with the same key and learn the one outcome.
    for key in unknown {
        match client.debit(debit(&wallet, &key, "1.00")).await {
            Ok(_) => acknowledged.insert(key),
            Err(status) if status.code() == Code::FailedPrecondition => refused.insert(key),
            Err(status) => panic!("retry of {key} failed: {status}"),
        };
    }
    let last = client.debit(debit(&wallet, "probe", "0.01")).await;
    let min_sequence = match last {
        Ok(reply) => {
            acknowledged.insert("probe".to_owned());
            reply.into_inner().sequence
        }
        Err(_) => balance(&mut client, &wallet, 0).await.sequence,
    };
    let entries = history(&mut client, &wallet, min_sequence).await;
    let mut debited: HashMap<String, usize> = HashMap::new();
    for entry in entries
        .iter()
        .filter(|t| t.entry_type == pb::EntryType::Debit as i32)
    {
        *debited.entry(entry.reference.clone()).or_default() += 1;
    }
    for key in &acknowledged {
        assert_eq!(
            debited.get(key),
            Some(&1),
            "acknowledged debit {key} present exactly once"
        );
    }
    for key in &refused {
        assert!(!debited.contains_key(key), "refused debit {key} is absent");
    }
    assert_eq!(
        debited.len(),
        acknowledged.len(),
        "no debit beyond the acknowledged ones"
    );
    let spent_cents: i64 = acknowledged
        .iter()
        .map(|k| if k == "probe" { 1 } else { 100 })
        .sum();
    let expected = format!(
        "{}.{:02}",
        (20_000 - spent_cents) / 100,
        (20_000 - spent_cents) % 100
    );
    assert_eq!(
        balance(&mut client, &wallet, min_sequence).await.balance,
        expected
    );
}

#[tokio::test]
async fn a_graceful_stop_exits_cleanly_and_a_restart_keeps_every_wallet() {
    let dir = tempfile::tempdir().unwrap();
    let mut pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    let wallet = create_wallet(&mut client, "iris", "JPY").await;
    let credited = client
        .credit(credit(&wallet, "c1", "500", pb::CreditSource::Paid))
        .await
        .unwrap()
        .into_inner();
    assert!(pursed.terminate().success());

    let pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    let shown = balance(&mut client, &wallet, credited.sequence).await;
    assert_eq!(
        (shown.asset.as_str(), shown.balance.as_str()),
        ("JPY", "500")
    );
    let replay = client
        .credit(credit(&wallet, "c1", "500", pb::CreditSource::Paid))
        .await
        .unwrap()
        .into_inner();
    assert!(replay.replayed, "idempotency keys survive a restart");
}

fn cli_json(pursed: &Pursed, args: &[&str]) -> serde_json::Value {
    purse_e2e::cli_json(&pursed.endpoint, &pursed.token, args)
}

#[tokio::test]
async fn the_cli_tour_works_against_pursed() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let created = cli_json(
        &pursed,
        &[
            "wallet",
            "create",
            "--owner",
            "alice",
            "--asset",
            "USD",
            "--idempotency-key",
            "alice-usd",
        ],
    );
    let wallet = created["wallet"]["walletId"].as_str().unwrap().to_owned();
    let granted = cli_json(
        &pursed,
        &[
            "credit",
            &wallet,
            "50.00",
            "--source",
            "granted",
            "--expires-in",
            "1d",
        ],
    );
    cli_json(&pursed, &["credit", &wallet, "100.00", "--source", "paid"]);
    let debited = cli_json(
        &pursed,
        &["debit", &wallet, "30.00", "--reference", "order-42"],
    );
    assert_eq!(debited["balance"], "120.00");
    // int64 fields are strings in the proto3 JSON mapping.
    let sequence = debited["sequence"].as_str().unwrap().to_owned();

    let history = cli_json(
        &pursed,
        &[
            "history",
            &wallet,
            "--type",
            "debit",
            "--min-sequence",
            &sequence,
        ],
    );
    let debit = &history["entries"][0];
    assert_eq!(debit["reference"], "order-42");
    assert_eq!(
        debit["lots"][0]["lotId"], granted["entryId"],
        "the debit took the granted lot"
    );
    assert_eq!(debit["lots"][0]["amount"], "30.00");
    let balance = cli_json(&pursed, &["balance", &wallet, "--min-sequence", &sequence]);
    assert_eq!(
        (balance["balance"].as_str(), balance["available"].as_str()),
        (Some("120.00"), Some("120.00"))
    );

    let refused = pursed.cli(&["debit", &wallet, "500.00"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one error line: {stderr}");
    assert!(
        stderr.contains("FAILED_PRECONDITION INSUFFICIENT_FUNDS")
            && stderr.contains("available=120.00"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_load_generator_runs_against_pursed_and_reports_throughput_and_percentiles() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let output = std::process::Command::new(purse_e2e::binary("purse-bench", "purse-bench"))
        .args(["--endpoint", &pursed.endpoint, "--token", &pursed.token])
        .args([
            "--wallets",
            "20",
            "--concurrency",
            "4",
            "--debits",
            "400",
            "--batch-size",
            "100",
        ])
        .args(["--mode", "both", "--json"])
        .output()
        .expect("purse-bench runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON summary");
    let modes = summary["modes"].as_array().expect("modes");
    assert_eq!(modes.len(), 2, "unary and batch");
    for mode in modes {
        assert_eq!(mode["debits"], 400, "{mode}");
        assert_eq!(mode["failed"], 0, "{mode}");
        assert!(mode["debits_per_s"].as_f64().unwrap() > 0.0);
        assert!(
            mode["latency_ms"]["p99"].as_f64().unwrap()
                >= mode["latency_ms"]["p50"].as_f64().unwrap()
        );
    }
}

/// Exports spans to the in-test collector about every 100 ms.
fn exporting_to(collector: &purse_e2e::otlp::Collector) -> [(&str, &str); 2] {
    [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_reach_an_otlp_collector_with_the_correlation_id_and_never_a_card_number() {
    use purse_e2e::topups::{SUCCESS_CARD, create_top_up, pay_by_form, settled};
    use purse_proto::topup::v1 as tpb;

    let collector = purse_e2e::otlp::Collector::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut pursed = Pursed::start(dir.path(), &exporting_to(&collector));
    let mut client = pursed.client().await;
    let mut create = tonic::Request::new(pb::CreateWalletRequest {
        idempotency_key: "create-traced".into(),
        owner: "alice".into(),
        asset: "USD".into(),
        ..Default::default()
    });
    create
        .metadata_mut()
        .insert("x-correlation-id", "e2e-wallet-1".parse().unwrap());
    let created = client.create_wallet(create).await.expect("wallet created");
    assert_eq!(
        created.metadata().get("x-correlation-id").unwrap(),
        "e2e-wallet-1"
    );
    let wallet_id = created.into_inner().wallet.unwrap().wallet_id;

    // A top-up paid on the hosted page with a full card number.
    let mut top_ups = purse_e2e::top_up_client(&pursed.endpoint, &pursed.token).await;
    let top_up = create_top_up(&mut top_ups, &wallet_id, "traced-1", "20.00", None, "").await;
    assert_eq!(pay_by_form(&top_up.url, SUCCESS_CARD).await, "succeeded");
    let done = settled(&mut top_ups, &top_up.top_up_id).await;
    assert_eq!(done.status, tpb::TopUpStatus::Completed as i32);

    // A graceful stop flushes what is still queued.
    assert!(pursed.terminate().success());
    let spans = collector.spans();
    let with_id = |name: &str, id: &str| {
        spans
            .iter()
            .any(|span| span.name == name && span.attribute("correlation_id") == id)
    };
    assert!(
        with_id("purse.wallet.v1.WalletService/CreateWallet", "e2e-wallet-1"),
        "the call's span: {spans:#?}"
    );
    assert!(
        with_id("command WalletCommand", "e2e-wallet-1"),
        "the shard command's span: {spans:#?}"
    );
    let call = spans
        .iter()
        .find(|span| span.name.ends_with("/CreateWallet"))
        .unwrap();
    assert_eq!(call.service, "pursed");
    assert_eq!(call.attribute("tenant"), "dev");
    // The top-up's id flows from its call through the saga to the wallet credit.
    let top_up_call = spans
        .iter()
        .find(|span| span.name.ends_with("/CreateTopUp"))
        .expect("the top-up call's span");
    let top_up_id = top_up_call.attribute("correlation_id");
    assert!(with_id("command TopUpCommand", top_up_id), "{spans:#?}");
    assert!(
        spans
            .iter()
            .any(|span| span.attribute("reactor").starts_with("saga-")
                && span.attribute("correlation_id") == top_up_id),
        "a saga reaction carries the top-up's id: {spans:#?}"
    );

    // The rule: traces never hold a full card number (nor the CVC field).
    let bodies = collector.bodies();
    assert!(!bodies.is_empty());
    for body in bodies {
        let holds = |needle: &[u8]| body.windows(needle.len()).any(|window| window == needle);
        assert!(
            !holds(SUCCESS_CARD.as_bytes()),
            "an export holds the card number"
        );
        assert!(!holds(b"cvc="), "an export holds the checkout form");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_collector_costs_a_warning_and_an_invalid_otel_setting_exits_64() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1: every export fails at once.
    let mut pursed = Pursed::start(
        &dir.path().join("unreachable"),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1"),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ],
    );
    let mut client = pursed.client().await;
    let wallet = create_wallet(&mut client, "alice", "USD").await;
    balance(&mut client, &wallet, 0).await;
    assert!(
        pursed.terminate().success(),
        "a failing export stops nothing"
    );

    for (variable, value) in [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
        ("OTEL_BSP_SCHEDULE_DELAY", "soon"),
    ] {
        let output = std::process::Command::new(purse_e2e::binary("purse-pursed", "pursed"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("invalid"))
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
            .env(variable, value)
            .output()
            .expect("pursed runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(64),
            "{variable}={value}: {stderr}"
        );
        assert!(stderr.contains(variable), "{stderr}");
    }
}

/// BatchExecute applies one wallet's operations in the order listed, wallets side by side, and
/// answers in request order: on wallets holding 5.00, `[debit 11.00, credit 6.00]` fails its debit
/// every time and `[credit 6.00, debit 11.00]` succeeds every time (interleaved in one batch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_execute_keeps_the_order_of_each_wallets_operations() {
    use pb::batch_operation::Operation;
    use pb::batch_result::Result as Outcome;
    const RUNS: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    let operation = |operation| pb::BatchOperation {
        operation: Some(operation),
    };
    for run in 0..RUNS {
        let debit_first = create_wallet(&mut client, &format!("debit-first-{run}"), "USD").await;
        let credit_first = create_wallet(&mut client, &format!("credit-first-{run}"), "USD").await;
        for wallet in [&debit_first, &credit_first] {
            let funding = credit(wallet, "fund", "5.00", pb::CreditSource::Paid);
            client.credit(funding).await.expect("funded");
        }
        let topped_up = |wallet: &str| {
            Operation::Credit(credit(wallet, "top-up", "6.00", pb::CreditSource::Paid))
        };
        let spent = |wallet: &str| Operation::Debit(debit(wallet, "spend", "11.00"));
        let results = client
            .batch_execute(pb::BatchExecuteRequest {
                operations: vec![
                    operation(spent(&debit_first)),
                    operation(topped_up(&credit_first)),
                    operation(topped_up(&debit_first)),
                    operation(spent(&credit_first)),
                ],
            })
            .await
            .expect("batch answered")
            .into_inner()
            .results;
        let outcomes: Vec<_> = results
            .into_iter()
            .map(|r| r.result.expect("a result"))
            .collect();
        match &outcomes[0] {
            Outcome::Error(error) => assert_eq!(
                error.reason, "INSUFFICIENT_FUNDS",
                "run {run}: the debit listed first fails: {error:?}"
            ),
            Outcome::Ok(applied) => panic!(
                "run {run}: debit 11.00 of 5.00 applied before the credit listed after it: \
                 {applied:?}"
            ),
        }
        let balances_after: Vec<&str> = outcomes[1..]
            .iter()
            .map(|outcome| match outcome {
                Outcome::Ok(applied) => applied.balance.as_str(),
                Outcome::Error(error) => panic!("run {run}: {error:?}"),
            })
            .collect();
        assert_eq!(
            balances_after,
            ["11.00", "11.00", "0.00"],
            "run {run}: results in request order, each wallet's in its own order"
        );
    }
}
