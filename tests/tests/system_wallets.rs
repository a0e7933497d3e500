//! OpenSystemWallet over the wire against a running `pursed`: one system wallet per tenant, name
//! and asset, opened by the first call and answered by every later one (concurrent ones
//! included), recorded once in the log; bad names and assets refused with the wire field.

use purse_e2e::embedded_log;
use purse_e2e::requests::{balance, credit};
use purse_e2e::{Pursed, bad_fields, cli_json, reason, token};
use purse_proto::event::v1::wallet_event::Event as WalletEvent;
use purse_proto::wallet::v1 as pb;
use purse_runtime::auth::Scope;
use tonic::Code;

fn open(name: &str, asset: &str, asset_scale: Option<u32>) -> pb::OpenSystemWalletRequest {
    pb::OpenSystemWalletRequest {
        name: name.into(),
        asset: asset.into(),
        asset_scale,
    }
}

/// `WalletOpened` records of `wallet_id` in the embedded log, every record counted.
fn openings_logged(data_dir: &std::path::Path, wallet_id: &str) -> usize {
    embedded_log::wallet_events(data_dir, wallet_id)
        .iter()
        .filter(|event| matches!(event, WalletEvent::WalletOpened(_)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_system_wallet_is_opened_once_per_tenant_name_and_asset() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;

    let first = client
        .open_system_wallet(open("fees", "USD", None))
        .await
        .expect("opened")
        .into_inner();
    assert!(!first.replayed);
    let fees = first.wallet.expect("wallet");
    assert_eq!(fees.kind, pb::WalletKind::System as i32);
    assert_eq!(fees.owner, "fees");
    assert_eq!((fees.asset.as_str(), fees.asset_scale), ("USD", 2));
    assert_eq!(fees.status, pb::WalletStatus::Open as i32);
    // Readable right after the reply, and usable like any wallet.
    let got = client
        .get_wallet(pb::GetWalletRequest {
            wallet_id: fees.wallet_id.clone(),
            min_sequence: 0,
        })
        .await
        .expect("visible at once")
        .into_inner();
    assert_eq!(got, fees);
    let credited = client
        .credit(credit(
            &fees.wallet_id,
            "fee-1",
            "0.29",
            pb::CreditSource::Paid,
        ))
        .await
        .expect("credited")
        .into_inner();
    let after = balance(&mut client, &fees.wallet_id, credited.sequence).await;
    assert_eq!(after.balance, "0.29");

    // Again, and from eight clients at once: the same wallet, opened by none of them.
    let again = client
        .open_system_wallet(open("fees", "USD", Some(2)))
        .await
        .expect("answered")
        .into_inner();
    assert!(again.replayed);
    assert_eq!(again.wallet.expect("wallet").wallet_id, fees.wallet_id);
    let mut racers = Vec::new();
    for _ in 0..8 {
        let mut client = pursed.client().await;
        racers.push(tokio::spawn(async move {
            client
                .open_system_wallet(open("revenue", "USD", None))
                .await
                .expect("answered")
                .into_inner()
        }));
    }
    let mut revenue_ids = Vec::new();
    let mut openers = 0;
    for racer in racers {
        let answer = racer.await.expect("racer");
        openers += usize::from(!answer.replayed);
        revenue_ids.push(answer.wallet.expect("wallet").wallet_id);
    }
    revenue_ids.dedup();
    assert_eq!(revenue_ids.len(), 1, "{revenue_ids:?}");
    assert!(openers <= 1, "{openers} racers say they opened it");
    assert_eq!(openings_logged(dir.path(), &fees.wallet_id), 1);
    assert_eq!(openings_logged(dir.path(), &revenue_ids[0]), 1);

    // Another asset, another name, another tenant: other wallets. A tenant unit's scale is part of
    // what the wallet is.
    let mut ids = vec![fees.wallet_id.clone(), revenue_ids[0].clone()];
    for request in [
        open("fees", "EUR", None),
        open("fees", "points", Some(0)),
        open("fees", "points", Some(2)),
        open("promotions", "USD", None),
    ] {
        let answer = client.open_system_wallet(request).await.expect("opened");
        ids.push(answer.into_inner().wallet.expect("wallet").wallet_id);
    }
    let other_tenant = token(dir.path(), "globex", vec![Scope::Admin, Scope::Read]);
    let mut globex = pursed.client_with_token(&other_tenant).await;
    let theirs = globex
        .open_system_wallet(open("fees", "USD", None))
        .await
        .expect("opened")
        .into_inner();
    assert!(!theirs.replayed, "another tenant's fees wallet is its own");
    ids.push(theirs.wallet.expect("wallet").wallet_id);
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "{ids:?}");

    // The CLI answers the same wallet.
    let printed = cli_json(
        &pursed.endpoint,
        &pursed.token,
        &["wallet", "open-system", "--name", "fees", "--asset", "USD"],
    );
    assert_eq!(printed["wallet"]["walletId"], fees.wallet_id.as_str());
    assert_eq!(printed["replayed"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_system_wallet_request_names_its_field_and_opens_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    let too_long = "a".repeat(65);
    for (request, field, expected_reason) in [
        (open("", "USD", None), "name", "INVALID_NAME"),
        (open(&too_long, "USD", None), "name", "INVALID_NAME"),
        (open("Fees", "USD", None), "name", "INVALID_NAME"),
        (open("fees/usd", "USD", None), "name", "INVALID_NAME"),
        (open("1fees", "USD", None), "name", "INVALID_NAME"),
        (open("fees", "XYZ", None), "asset", "INVALID_ASSET"),
        (open("fees", "USD", Some(3)), "asset_scale", "INVALID_ASSET"),
        (open("fees", "points", None), "asset_scale", "INVALID_ASSET"),
    ] {
        let status = client
            .open_system_wallet(request.clone())
            .await
            .expect_err("refused");
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{request:?}: {status:?}"
        );
        let (got_reason, metadata) = reason(&status);
        assert_eq!(got_reason, expected_reason, "{request:?}");
        assert_eq!(
            metadata.get("field").map(String::as_str),
            Some(field),
            "{request:?}"
        );
        assert_eq!(bad_fields(&status), [field], "{request:?}");
    }
    let read_only = token(dir.path(), "dev", vec![Scope::Read]);
    let status = pursed
        .client_with_token(&read_only)
        .await
        .open_system_wallet(open("fees", "USD", None))
        .await
        .expect_err("admin scope required");
    assert_eq!(status.code(), Code::PermissionDenied);
    // Nothing was opened: the tenant's only wallets are the ones opened now.
    let fees = client
        .open_system_wallet(open("fees", "USD", None))
        .await
        .expect("opened")
        .into_inner();
    assert!(!fees.replayed, "no refused request opened it");
}
