//! A data directory written by the release whose top-up, payment, stored-card and saga events were
//! JSON (ADR 0008) still opens: `tests/fixtures/json-era` (made by its `generate.sh` with that
//! release) holds only its event log and keys, so this `pursed` rebuilds every read model from the
//! JSON-era records, reads them back over gRPC, and pays a new top-up with the stored card on top,
//! whose events are written as protobuf (ADR 0013) after the JSON-era ones of the same topics.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use purse_e2e::requests::balance;
use purse_e2e::topups::{SETTLE_TIMEOUT, create_top_up, settled};
use purse_e2e::{Pursed, embedded_log, payments_client, top_up_client};
use purse_proto::event::v1::event_envelope::Payload;
use purse_proto::payment::v1 as pay;
use purse_proto::topup::v1 as pb;
use purse_runtime::codec::decode_record;
use purse_streams::topics;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/json-era");

/// The ids `generate.sh` recorded: wallet, paid, stored, declined, card.
fn fixture_ids() -> HashMap<String, String> {
    std::fs::read_to_string(Path::new(FIXTURE).join("ids.env"))
        .expect("ids.env")
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// A copy, so the test never writes into the fixture.
fn copy_data_dir(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(Path::new(FIXTURE).join("data")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_json_era_data_directory_reads_back_and_takes_a_new_top_up() {
    let ids = fixture_ids();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_data_dir(&data);
    let pursed = Pursed::start(&data, &[]);
    let mut wallets = pursed.client().await;
    let mut top_ups = top_up_client(&pursed.endpoint, &pursed.token).await;
    let mut payments = payments_client(&pursed.endpoint, &pursed.token).await;

    let paid = settled(&mut top_ups, &ids["paid"]).await;
    assert_eq!(paid.status, pb::TopUpStatus::Completed as i32);
    assert_eq!(
        (paid.amount.as_str(), paid.credited.as_str()),
        ("30.00", "33.00")
    );
    let stored = settled(&mut top_ups, &ids["stored"]).await;
    assert_eq!(stored.status, pb::TopUpStatus::Completed as i32);
    assert_eq!(stored.payment_method_id, ids["card"]);
    assert_eq!(stored.credited, "10.00");
    let declined = settled(&mut top_ups, &ids["declined"]).await;
    assert_eq!(declined.status, pb::TopUpStatus::Failed as i32);

    for (top_up, status) in [
        (&paid, pay::PaymentStatus::Succeeded),
        (&declined, pay::PaymentStatus::Failed),
    ] {
        let intent = payments
            .get_payment_intent(pay::GetPaymentIntentRequest {
                payment_id: top_up.payment_id.clone(),
            })
            .await
            .expect("payment intent")
            .into_inner();
        assert_eq!(intent.status, status as i32, "{intent:?}");
        assert_eq!(intent.amount, top_up.amount);
    }

    let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
    let card = loop {
        let methods = payments
            .list_payment_methods(pay::ListPaymentMethodsRequest {
                owner: "olga".into(),
                ..Default::default()
            })
            .await
            .expect("payment methods")
            .into_inner()
            .payment_methods;
        if let [card] = methods.as_slice() {
            break card.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{methods:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (card.payment_method_id.as_str(), card.last4.as_str()),
        (ids["card"].as_str(), "4242")
    );
    let rule = top_ups
        .get_auto_top_up(pb::GetAutoTopUpRequest {
            wallet_id: ids["wallet"].clone(),
            min_sequence: 1,
        })
        .await
        .expect("auto top-up rule")
        .into_inner();
    assert_eq!(rule.threshold, "5.00");
    assert_eq!(
        balance(&mut wallets, &ids["wallet"], 4).await.balance,
        "43.00"
    );

    // The stored card's stream and the sagas continue from their JSON-era events.
    let next = create_top_up(
        &mut top_ups,
        &ids["wallet"],
        "t4",
        "7.00",
        None,
        &ids["card"],
    )
    .await;
    assert_eq!(
        settled(&mut top_ups, &next.top_up_id).await.status,
        pb::TopUpStatus::Completed as i32
    );
    assert_eq!(
        balance(&mut wallets, &ids["wallet"], 5).await.balance,
        "50.00"
    );

    // The JSON-era records stay as they were written; the new top-up's events are protobuf.
    let top_up_payloads: Vec<_> = embedded_log::records(&data, topics::TOP_UPS.events)
        .iter()
        .flat_map(|record| decode_record(&record.payload).expect("record").events)
        .map(|envelope| envelope.payload.expect("payload"))
        .collect();
    let json = top_up_payloads
        .iter()
        .filter(|payload| matches!(payload, Payload::Json(_)))
        .count();
    let proto = top_up_payloads
        .iter()
        .filter(|payload| matches!(payload, Payload::TopUp(_)))
        .count();
    assert_eq!(
        (json + proto, json > 0, proto > 0),
        (top_up_payloads.len(), true, true),
        "{top_up_payloads:?}"
    );
}
