//! Top-ups end to end over `pursed`: the hosted checkout page in headless Chromium, the saga
//! driving completion, failure and expiry, stored cards, provider webhooks, and a crash between
//! capture and credit.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use hyper::Method;
use purse_e2e::auto_top_up_log::{AutoTopUpLog, auto_top_up_log};
use purse_e2e::browser::Browser;
use purse_e2e::requests::{balance, create_wallet, credit, debit};
use purse_e2e::topups::{
    DECLINE_CARD, DELAYED_CARD, SETTLE_TIMEOUT, SUCCESS_CARD, create_top_up, pay_by_form,
    pay_on_page, settled,
};
use purse_e2e::{Pursed, TopUpClient, embedded_log, http, payments_client, top_up_client};
use purse_proto::payment::v1 as pay;
use purse_proto::topup::v1 as pb;
use purse_proto::wallet::v1 as wpb;
use purse_streams::topics;

async fn transactions(pursed: &Pursed, wallet_id: &str) -> Vec<wpb::Transaction> {
    pursed
        .client()
        .await
        .list_entries(wpb::ListEntriesRequest {
            wallet_id: wallet_id.into(),
            ..Default::default()
        })
        .await
        .expect("history")
        .into_inner()
        .entries
}

#[tokio::test(flavor = "multi_thread")]
async fn paid_on_the_hosted_page_completes_with_paid_and_granted_credit_and_no_card_number_anywhere()
 {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("pursed.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let pursed = Pursed::start_with_stderr(
        &dir.path().join("data"),
        &[("PURSE_LOG", "debug")],
        Stdio::from(log_file),
    );
    let mut wallets = pursed.client().await;
    let mut top_ups = top_up_client(&pursed.endpoint, &pursed.token).await;
    let wallet_id = create_wallet(&mut wallets, "alice", "USD").await;

    let top_up = create_top_up(&mut top_ups, &wallet_id, "t1", "20.00", Some("22.00"), "").await;
    assert!(top_up.url.starts_with(&pursed.checkout), "{}", top_up.url);
    let browser = Browser::start().await;
    let (status, _) = pay_on_page(&browser, &top_up.url, SUCCESS_CARD, false).await;
    browser.close().await;
    assert_eq!(status, "succeeded");

    let done = settled(&mut top_ups, &top_up.top_up_id).await;
    assert_eq!(done.status, pb::TopUpStatus::Completed as i32);
    assert_eq!(done.credited, "22.00");
    let credits: Vec<_> = transactions(&pursed, &wallet_id)
        .await
        .into_iter()
        .filter(|entry| entry.reference == top_up.top_up_id)
        .map(|entry| (entry.detail, entry.amount))
        .collect();
    assert_eq!(credits.len(), 2, "{credits:?}");
    assert!(credits.contains(&("paid".to_owned(), "20.00".to_owned())));
    assert!(credits.contains(&("granted".to_owned(), "2.00".to_owned())));
    assert_eq!(balance(&mut wallets, &wallet_id, 0).await.balance, "22.00");

    // Nothing the process logged or stored holds the card number.
    drop(pursed);
    let mut files = vec![log_path];
    let mut directories = vec![dir.path().join("data")];
    while let Some(directory) = directories.pop() {
        for entry in std::fs::read_dir(directory).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                directories.push(path);
            } else {
                files.push(path);
            }
        }
    }
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let found = bytes
            .windows(SUCCESS_CARD.len())
            .any(|window| window == SUCCESS_CARD.as_bytes());
        assert!(!found, "{} holds the card number", file.display());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declined_card_fails_the_top_up_and_the_page_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let mut wallets = pursed.client().await;
    let mut top_ups = top_up_client(&pursed.endpoint, &pursed.token).await;
    let wallet_id = create_wallet(&mut wallets, "bob", "USD").await;
    let top_up = create_top_up(&mut top_ups, &wallet_id, "t1", "20.00", None, "").await;

    let browser = Browser::start().await;
    let (status, message) = pay_on_page(&browser, &top_up.url, DECLINE_CARD, false).await;
    browser.close().await;
    assert_eq!(status, "declined");
    assert!(message.to_lowercase().contains("declined"), "{message}");

    let done = settled(&mut top_ups, &top_up.top_up_id).await;
    assert_eq!(done.status, pb::TopUpStatus::Failed as i32);
    assert!(
        done.failure_reason.starts_with("declined"),
        "{}",
        done.failure_reason
    );
    assert_eq!(balance(&mut wallets, &wallet_id, 0).await.balance, "0.00");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unpaid_top_up_expires_and_forged_or_stale_webhooks_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[("PURSE_TOPUPS_TIMEOUT_MS", "3000")]);
    let mut wallets = pursed.client().await;
    let mut top_ups = top_up_client(&pursed.endpoint, &pursed.token).await;
    let wallet_id = create_wallet(&mut wallets, "carol", "USD").await;
    let top_up = create_top_up(&mut top_ups, &wallet_id, "t1", "5.00", None, "").await;

    // A success report for this payment with a wrong signature, then with a correct signature
    // over a timestamp an hour old: both refused, neither recorded.
    let body = serde_json::json!({
        "id": "evt_forged",
        "type": "charge.succeeded",
        "data": {"tenant": "dev", "payment_id": top_up.payment_id, "amount": "5.00"},
    })
    .to_string();
    let url = format!("{}/webhooks/simulator", pursed.checkout);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let forged = format!("t={now_ms},v1={}", "ab".repeat(32));
    let secret = std::fs::read_to_string(dir.path().join("webhook.key")).unwrap();
    let secret = secret.trim().as_bytes();
    let stale_ms = now_ms - 3_600_000;
    let stale = format!("t={stale_ms},v1={}", sign(secret, stale_ms, &body));
    for signature in [forged, stale] {
        let response = http::send(
            Method::POST,
            &url,
            &[
                ("content-type", "application/json"),
                ("purse-provider-signature", &signature),
            ],
            body.clone(),
        )
        .await;
        assert!(
            (400..500).contains(&response.status),
            "{signature}: {response:?}"
        );
    }

    let done = settled(&mut top_ups, &top_up.top_up_id).await;
    assert_eq!(done.status, pb::TopUpStatus::Expired as i32);
    let payment = payments_client(&pursed.endpoint, &pursed.token)
        .await
        .get_payment_intent(pay::GetPaymentIntentRequest {
            payment_id: top_up.payment_id.clone(),
        })
        .await
        .expect("payment")
        .into_inner();
    assert_eq!(payment.captured, "0.00");
    assert_eq!(balance(&mut wallets, &wallet_id, 0).await.balance, "0.00");
}

/// HMAC-SHA256 of `{t}.{body}`, hex, as the provider signs.
fn sign(secret: &[u8], timestamp_ms: i64, body: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(format!("{timestamp_ms}.{body}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_capture_landing_after_the_deadline_is_refunded_and_the_top_up_stays_expired() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(
        dir.path(),
        &[
            ("PURSE_TOPUPS_TIMEOUT_MS", "4000"),
            ("PURSE_PAYMENTS_SIMULATOR_DELAY_MS", "8000"),
        ],
    );
    let mut wallets = pursed.client().await;
    let mut top_ups = top_up_client(&pursed.endpoint, &pursed.token).await;
    let wallet_id = create_wallet(&mut wallets, "dave", "USD").await;
    let top_up = create_top_up(&mut top_ups, &wallet_id, "t1", "7.00", None, "").await;

    let browser = Browser::start().await;
    let (status, _) = pay_on_page(&browser, &top_up.url, DELAYED_CARD, false).await;
    browser.close().await;
    assert_eq!(status, "processing");

    let done = settled(&mut top_ups, &top_up.top_up_id).await;
    assert_eq!(done.status, pb::TopUpStatus::Expired as i32);
    // The capture arrives later: it is recorded as late and refunded, never credited.
    let mut payments = payments_client(&pursed.endpoint, &pursed.token).await;
    let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
    loop {
        let payment = payments
            .get_payment_intent(pay::GetPaymentIntentRequest {
                payment_id: top_up.payment_id.clone(),
            })
            .await
            .expect("payment")
            .into_inner();
        if payment.refunded == "7.00" {
            assert_eq!(payment.captured, "7.00");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no refund: {payment:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let late = top_ups
        .get_top_up(pb::GetTopUpRequest {
            top_up_id: top_up.top_up_id.clone(),
            min_sequence: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(late.status, pb::TopUpStatus::Expired as i32);
    assert_eq!(balance(&mut wallets, &wallet_id, 0).await.balance, "0.00");
}

/// Pays a first top-up of 30.00 on the page with `card`, saving it, and returns the stored card
/// once the owner's payment methods list it.
async fn save_card_on_the_page(
    pursed: &Pursed,
    top_ups: &mut TopUpClient,
    wallet_id: &str,
    owner: &str,
    card: &str,
) -> pay::PaymentMethod {
    let first = create_top_up(top_ups, wallet_id, "t1", "30.00", None, "").await;
    let browser = Browser::start().await;
    let (status, _) = pay_on_page(&browser, &first.url, card, true).await;
    browser.close().await;
    assert_eq!(status, "succeeded");
    assert_eq!(
        settled(top_ups, &first.top_up_id).await.status,
        pb::TopUpStatus::Completed as i32
    );
    let mut payments = payments_client(&pursed.endpoint, &pursed.token).await;
    let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
    loop {
        let methods = payments
            .list_payment_methods(pay::ListPaymentMethodsRequest {
                owner: owner.into(),
                ..Default::default()
            })
            .await
            .expect("payment methods")
            .into_inner()
            .payment_methods;
        if let Some(method) = methods.into_iter().next() {
            return method;
        }
        assert!(tokio::time::Instant::now() < deadline, "card not saved");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_card_pays_later_top_ups_and_the_auto_top_up_rule_starts_exactly_one() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let mut wallets = pursed.client().await;
    let mut top_ups = top_up_client(&pursed.endpoint, &pursed.token).await;
    let wallet_id = create_wallet(&mut wallets, "erin", "USD").await;

    let method =
        save_card_on_the_page(&pursed, &mut top_ups, &wallet_id, "erin", SUCCESS_CARD).await;
    assert_eq!(method.last4, "4242");

    let stored = create_top_up(
        &mut top_ups,
        &wallet_id,
        "t2",
        "10.00",
        None,
        &method.payment_method_id,
    )
    .await;
    assert!(stored.url.is_empty());
    let done = settled(&mut top_ups, &stored.top_up_id).await;
    assert_eq!(done.status, pb::TopUpStatus::Completed as i32);
    assert_eq!(balance(&mut wallets, &wallet_id, 0).await.balance, "40.00");

    // Auto top-up: under 15.00, charge 25.00 to the card. Eight concurrent debits of 4.00
    // take the balance from 40.00 to 8.00: one crossing, one auto top-up.
    top_ups
        .set_auto_top_up(pb::SetAutoTopUpRequest {
            idempotency_key: "rule".into(),
            wallet_id: wallet_id.clone(),
            threshold: "15.00".into(),
            charge: Some(pb::set_auto_top_up_request::Charge::Amount("25.00".into())),
            payment_method_id: method.payment_method_id.clone(),
            ..Default::default()
        })
        .await
        .expect("rule set");
    let mut debits = Vec::new();
    for n in 0..8 {
        let mut client = pursed.client().await;
        let wallet_id = wallet_id.clone();
        debits.push(tokio::spawn(async move {
            client
                .debit(debit(&wallet_id, &format!("d{n}"), "4.00"))
                .await
                .expect("debit");
        }));
    }
    for handle in debits {
        handle.await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
    let auto = loop {
        let listed = top_ups
            .list_top_ups(pb::ListTopUpsRequest {
                wallet_id: wallet_id.clone(),
                ..Default::default()
            })
            .await
            .expect("top-ups")
            .into_inner()
            .top_ups;
        let autos: Vec<_> = listed
            .into_iter()
            .filter(|t| t.kind == pb::TopUpKind::Auto as i32)
            .collect();
        if autos.len() == 1 && autos[0].status == pb::TopUpStatus::Completed as i32 {
            break autos;
        }
        assert!(autos.len() <= 1, "more than one auto top-up: {autos:?}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "no auto top-up completed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(auto[0].amount, "25.00");
    assert_eq!(balance(&mut wallets, &wallet_id, 0).await.balance, "33.00");
    // The log, not only the read model: one auto top-up created, one credit for it.
    assert_eq!(
        auto_top_up_log(dir.path(), &wallet_id),
        AutoTopUpLog {
            created: 1,
            credits: 1
        }
    );
}

/// Crash attempts in the pursed kill test: each pays a top-up and kills pursed the moment the
/// page answers; one landing before the credit is required.
const CRASH_ATTEMPTS: usize = 5;

/// How many records the embedded log holds for `wallet_id`'s stream.
fn wallet_stream_length(data_dir: &Path, wallet_id: &str) -> usize {
    embedded_log::records(data_dir, topics::WALLETS.events)
        .iter()
        .filter(|record| record.key == wallet_id.as_bytes())
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn pursed_killed_between_capture_and_credit_completes_the_top_up_once_and_a_pending_deadline_still_fires()
 {
    let dir = tempfile::tempdir().unwrap();
    let environment = [("PURSE_TOPUPS_TIMEOUT_MS", "20000")];
    let mut pursed = Pursed::start(dir.path(), &environment);
    let mut wallets = pursed.client().await;
    let mut top_ups = top_up_client(&pursed.endpoint, &pursed.token).await;
    let wallet_id = create_wallet(&mut wallets, "frank", "USD").await;
    wallets
        .credit(credit(&wallet_id, "seed", "1.00", wpb::CreditSource::Paid))
        .await
        .expect("seed credit");
    let unpaid = create_top_up(&mut top_ups, &wallet_id, "unpaid", "9.00", None, "").await;

    let mut landed_between = 0;
    let mut expected_balance = 100;
    for attempt in 0..CRASH_ATTEMPTS {
        let key = format!("paid-{attempt}");
        let paid = create_top_up(&mut top_ups, &wallet_id, &key, "20.00", Some("22.00"), "").await;
        let before = wallet_stream_length(dir.path(), &wallet_id);
        // The page answers once the capture is recorded; crash at once.
        let status = pay_by_form(&paid.url, SUCCESS_CARD).await;
        pursed.kill9();
        assert_eq!(status, "succeeded");
        if wallet_stream_length(dir.path(), &wallet_id) == before {
            landed_between += 1;
        }

        pursed = Pursed::start(dir.path(), &environment);
        wallets = pursed.client().await;
        top_ups = top_up_client(&pursed.endpoint, &pursed.token).await;
        let done = settled(&mut top_ups, &paid.top_up_id).await;
        assert_eq!(done.status, pb::TopUpStatus::Completed as i32);
        let credits = transactions(&pursed, &wallet_id)
            .await
            .into_iter()
            .filter(|entry| entry.reference == paid.top_up_id)
            .count();
        assert_eq!(credits, 2, "paid and granted, each exactly once");
        expected_balance += 2200;
        let shown = balance(&mut wallets, &wallet_id, 0).await.balance;
        assert_eq!(
            shown,
            format!("{}.{:02}", expected_balance / 100, expected_balance % 100)
        );
        if landed_between > 0 {
            break;
        }
    }
    assert!(
        landed_between > 0,
        "no crash of {CRASH_ATTEMPTS} landed between the capture and the credit"
    );

    let expired = settled(&mut top_ups, &unpaid.top_up_id).await;
    assert_eq!(expired.status, pb::TopUpStatus::Expired as i32);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_card_that_declines_later_fails_one_auto_top_up_per_back_off() {
    use std::collections::HashSet;

    use purse_e2e::topups::DECLINE_AFTER_SAVE_CARD;
    use purse_runtime::codec::{EventCodec, decode_record};
    use purse_streams::auto_top_up::AutoTopUpStream;

    /// The shortest back-off a rule accepts.
    const BACKOFF_MS: i64 = 60_000;

    /// One event of the auto top-up saga topic, read from the running pursed's embedded log.
    struct SagaEvent {
        event_type: String,
        occurred_at_ms: i64,
        body: serde_json::Value,
    }

    /// Every auto top-up saga event, in log order per partition, each event once.
    fn saga_events(data_dir: &Path) -> Vec<SagaEvent> {
        let payloads = embedded_log::records(data_dir, topics::AUTO_TOP_UPS.events)
            .into_iter()
            .map(|record| record.payload);
        let mut seen = HashSet::new();
        let mut events = Vec::new();
        for payload in payloads {
            for envelope in decode_record(&payload).expect("record").events {
                if !seen.insert(envelope.event_id.clone()) {
                    continue;
                }
                let event = AutoTopUpStream::from_envelope(&envelope).expect("saga event");
                // The domain event's serde form names its fields whichever payload the log holds.
                let body = serde_json::to_value(&event.kind).expect("serialisable");
                events.push(SagaEvent {
                    body: body[&envelope.event_type].clone(),
                    event_type: envelope.event_type,
                    occurred_at_ms: envelope.occurred_at_ms,
                });
            }
        }
        events
    }

    fn of_type<'a>(events: &'a [SagaEvent], event_type: &str) -> Vec<&'a SagaEvent> {
        events
            .iter()
            .filter(|e| e.event_type == event_type)
            .collect()
    }

    async fn auto_top_ups(top_ups: &mut purse_e2e::TopUpClient, wallet_id: &str) -> Vec<pb::TopUp> {
        top_ups
            .list_top_ups(pb::ListTopUpsRequest {
                wallet_id: wallet_id.into(),
                ..Default::default()
            })
            .await
            .expect("top-ups")
            .into_inner()
            .top_ups
            .into_iter()
            .filter(|t| t.kind == pb::TopUpKind::Auto as i32)
            .collect()
    }

    /// Waits until `wanted` failed auto top-ups exist, never seeing more (nor an unfinished
    /// extra one), and returns them.
    async fn failed_auto_top_ups(
        top_ups: &mut purse_e2e::TopUpClient,
        wallet_id: &str,
        wanted: usize,
        deadline: tokio::time::Instant,
    ) -> Vec<pb::TopUp> {
        loop {
            let autos = auto_top_ups(top_ups, wallet_id).await;
            assert!(autos.len() <= wanted, "too many auto top-ups: {autos:?}");
            let failed = autos
                .iter()
                .filter(|t| t.status == pb::TopUpStatus::Failed as i32)
                .count();
            if failed == wanted {
                return autos;
            }
            assert!(
                autos
                    .iter()
                    .all(|t| t.status == pb::TopUpStatus::Failed as i32
                        || t.status == pb::TopUpStatus::Created as i32),
                "an auto top-up did not fail: {autos:?}"
            );
            assert!(
                tokio::time::Instant::now() < deadline,
                "{wanted} failed auto top-ups never appeared: {autos:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until GetAutoTopUp shows `failures` auto top-ups failed in a row (never more), as
    /// the auto top-up projection records them, and returns the rule.
    async fn rule_after_failures(
        top_ups: &mut purse_e2e::TopUpClient,
        wallet_id: &str,
        failures: u32,
    ) -> pb::AutoTopUpRule {
        let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
        loop {
            let rule = top_ups
                .get_auto_top_up(pb::GetAutoTopUpRequest {
                    wallet_id: wallet_id.into(),
                    min_sequence: 0,
                })
                .await
                .expect("rule")
                .into_inner();
            assert!(
                rule.consecutive_failures <= failures,
                "more failures than expected: {rule:?}"
            );
            if rule.consecutive_failures == failures {
                return rule;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{failures} failures in a row never shown: {rule:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the saga topic holds `count` events of `event_type`.
    async fn saga_events_with(data_dir: &Path, event_type: &str, count: usize) -> Vec<SagaEvent> {
        let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
        loop {
            let events = saga_events(data_dir);
            let found = of_type(&events, event_type).len();
            assert!(found <= count, "{found} {event_type}, expected {count}");
            if found == count {
                return events;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{event_type} x{count} never recorded"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn debit_concurrently(
        pursed: &Pursed,
        wallet_id: &str,
        keys: &[&str],
        amount: &str,
    ) -> u64 {
        let mut debits = Vec::new();
        for key in keys {
            let mut client = pursed.client().await;
            let request = debit(wallet_id, key, amount);
            debits.push(tokio::spawn(async move {
                client
                    .debit(request)
                    .await
                    .expect("debit")
                    .into_inner()
                    .sequence
            }));
        }
        let mut last = 0;
        for handle in debits {
            last = last.max(handle.await.unwrap());
        }
        last
    }

    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path();
    let pursed = Pursed::start(data_dir, &[]);
    let mut wallets = pursed.client().await;
    let mut top_ups = top_up_client(&pursed.endpoint, &pursed.token).await;
    let wallet_id = create_wallet(&mut wallets, "grace", "USD").await;

    // The first top-up, on the page with the payer present: paid, and the card saved.
    let method = save_card_on_the_page(
        &pursed,
        &mut top_ups,
        &wallet_id,
        "grace",
        DECLINE_AFTER_SAVE_CARD,
    )
    .await;
    assert_eq!(method.last4, "0341");

    // Under 15.00, charge 25.00 to the saved card, backing off a minute after a failure.
    top_ups
        .set_auto_top_up(pb::SetAutoTopUpRequest {
            idempotency_key: "rule".into(),
            wallet_id: wallet_id.clone(),
            threshold: "15.00".into(),
            charge: Some(pb::set_auto_top_up_request::Charge::Amount("25.00".into())),
            payment_method_id: method.payment_method_id.clone(),
            backoff_ms: Some(BACKOFF_MS),
            ..Default::default()
        })
        .await
        .expect("rule set");
    // Four concurrent debits of 4.00: 30.00 → 14.00, one crossing.
    debit_concurrently(&pursed, &wallet_id, &["d1", "d2", "d3", "d4"], "4.00").await;

    // One auto top-up, charged to the card as a stored card: declined, so it fails.
    let autos = failed_auto_top_ups(
        &mut top_ups,
        &wallet_id,
        1,
        tokio::time::Instant::now() + SETTLE_TIMEOUT,
    )
    .await;
    assert_eq!(autos[0].amount, "25.00");
    assert!(
        autos[0].failure_reason.starts_with("declined"),
        "{}",
        autos[0].failure_reason
    );
    let events = saga_events_with(data_dir, "AutoTopUpFailed", 1).await;
    assert_eq!(of_type(&events, "AutoTopUpStarted").len(), 1);
    assert_eq!(
        auto_top_up_log(data_dir, &wallet_id),
        AutoTopUpLog {
            created: 1,
            credits: 0
        }
    );
    let failure = of_type(&events, "AutoTopUpFailed")[0];
    assert_eq!(failure.body["top_up_id"], autos[0].top_up_id.as_str());
    assert_eq!(failure.body["consecutive_failures"], 1);
    let retry_at_ms = failure.body["retry_at"].as_i64().expect("retry_at in ms");
    assert_eq!(retry_at_ms, failure.occurred_at_ms + BACKOFF_MS);
    // A client sees the back-off: until the failure's retry_at, after one failure of that top-up.
    let rule = rule_after_failures(&mut top_ups, &wallet_id, 1).await;
    assert_eq!(rule.backoff_until_ms, retry_at_ms);
    let last_failure = rule.last_failure.expect("the last failure");
    assert_eq!(last_failure.top_up_id, autos[0].top_up_id);
    assert_eq!(last_failure.failed_at_ms, failure.occurred_at_ms);
    assert!(
        last_failure.reason.starts_with("declined:"),
        "{}",
        last_failure.reason
    );
    assert_eq!(rule.daily_cap_reached_until_ms, 0);

    // Debits during the back-off: observed by the saga, and no top-up starts.
    let sequence = debit_concurrently(&pursed, &wallet_id, &["d5", "d6"], "1.00").await;
    let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
    let events = loop {
        let events = saga_events(data_dir);
        let observed = of_type(&events, "AutoTopUpBalanceObserved")
            .iter()
            .any(|e| e.body["wallet_sequence"].as_u64() >= Some(sequence));
        if observed {
            break events;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the saga never saw the debits"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    assert!(now_ms < retry_at_ms, "still backing off when checked");
    assert_eq!(
        of_type(&events, "AutoTopUpStarted").len(),
        1,
        "none during the back-off"
    );
    assert_eq!(auto_top_ups(&mut top_ups, &wallet_id).await.len(), 1);

    // At the back-off's end, the crossing still wants its top-up: one more attempt, declined.
    let backoff_left = Duration::from_millis(u64::try_from(retry_at_ms - now_ms).unwrap());
    let autos = failed_auto_top_ups(
        &mut top_ups,
        &wallet_id,
        2,
        tokio::time::Instant::now() + backoff_left + SETTLE_TIMEOUT,
    )
    .await;
    let events = saga_events_with(data_dir, "AutoTopUpFailed", 2).await;
    let started = of_type(&events, "AutoTopUpStarted");
    assert_eq!(started.len(), 2);
    assert!(
        started[1].occurred_at_ms >= retry_at_ms,
        "the second attempt came before the back-off's end"
    );
    let second = of_type(&events, "AutoTopUpFailed")[1];
    assert_eq!(second.body["consecutive_failures"], 2);
    assert_ne!(second.body["top_up_id"], failure.body["top_up_id"]);
    assert!(
        autos
            .iter()
            .any(|t| second.body["top_up_id"] == t.top_up_id.as_str())
    );
    // Backing off again, after two failures in a row, the second one's.
    let rule = rule_after_failures(&mut top_ups, &wallet_id, 2).await;
    assert_eq!(
        rule.backoff_until_ms,
        second.body["retry_at"].as_i64().expect("retry_at in ms")
    );
    assert_eq!(
        rule.last_failure.expect("the last failure").top_up_id,
        second.body["top_up_id"].as_str().expect("top_up_id")
    );
    // Nothing was credited by either attempt, and the log holds exactly the two top-ups.
    assert_eq!(balance(&mut wallets, &wallet_id, 0).await.balance, "12.00");
    assert_eq!(
        auto_top_up_log(data_dir, &wallet_id),
        AutoTopUpLog {
            created: 2,
            credits: 0
        }
    );
}

/// The checkout page answers as soon as CreateTopUp has replied (it reads a row the projection
/// writes; the reply waits for it), and right after CreateWallet a top-up of the new wallet is
/// accepted: 200 rounds of create wallet → create top-up → GET its URL, never a 404. The fee is
/// set the way a person types it, `PURSE_TOPUPS_FEE_PERCENT=3`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkout_page_exists_as_soon_as_create_top_up_returns() {
    const ROUNDS: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[("PURSE_TOPUPS_FEE_PERCENT", "3")]);
    let mut wallets = pursed.client().await;
    let mut top_ups = top_up_client(&pursed.endpoint, &pursed.token).await;
    for round in 0..ROUNDS {
        let wallet_id = create_wallet(&mut wallets, &format!("payer-{round}"), "USD").await;
        let top_up = create_top_up(
            &mut top_ups,
            &wallet_id,
            &format!("t-{round}"),
            "20.00",
            None,
            "",
        )
        .await;
        assert_eq!(top_up.fee, "0.60", "3 % of 20.00");
        assert!(top_up.created_at_ms > 0, "created_at_ms filled");
        let page = http::try_get(&top_up.url)
            .await
            .expect("checkout reachable");
        assert_ne!(
            page.status, 404,
            "round {round}: {} answered 404 right after CreateTopUp",
            top_up.url
        );
        assert_eq!(page.status, 200, "round {round}: {}", page.body);
    }
}
