//! The wallet admin RPCs over the wire against a running `pursed`: SuspendWallet and
//! ReactivateWallet, UpdateLimits, CloseWallet, and ListWallets paging and filtering.

use purse_client::Pager;
use purse_e2e::requests::{balance, create_wallet, credit, debit};
use purse_e2e::{Pursed, WalletClient, bad_fields, reason, token};
use purse_proto::wallet::v1 as pb;
use purse_runtime::auth::Scope;
use tonic::{Code, Status};

/// The status's code and ErrorInfo reason.
fn refusal(status: &Status) -> (Code, String) {
    (status.code(), reason(status).0)
}

fn limits_request(wallet_id: &str, key: &str, limits: pb::Limits) -> pb::UpdateLimitsRequest {
    pb::UpdateLimitsRequest {
        wallet_id: wallet_id.into(),
        idempotency_key: key.into(),
        limits: Some(limits),
    }
}

/// Every page of `owner`'s wallets at `page_size`, and how many pages there were.
async fn all_pages(
    client: &mut WalletClient,
    owner: &str,
    page_size: u32,
) -> (Vec<pb::Wallet>, usize) {
    let request = pb::ListWalletsRequest {
        owner: owner.into(),
        ..Default::default()
    };
    let mut pager = Pager::new(request, page_size, |request| {
        let mut client = client.clone();
        async move { client.list_wallets(request).await }
    });
    let (mut wallets, mut pages) = (Vec::new(), 0);
    while let Some(page) = pager.next_page().await {
        let page = page.expect("wallets");
        pages += 1;
        assert!(
            page_size == 0 || page.len() <= page_size as usize,
            "{page:?}"
        );
        wallets.extend(page);
    }
    (wallets, pages)
}

#[tokio::test]
async fn a_suspended_wallet_refuses_debits_until_reactivated_and_only_admins_suspend() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    let wallet = create_wallet(&mut client, "anna", "USD").await;
    client
        .credit(credit(&wallet, "c1", "20.00", pb::CreditSource::Paid))
        .await
        .expect("credit");

    // Write scope is not enough.
    let mut writer = pursed
        .client_with_token(&token(dir.path(), "dev", vec![Scope::Read, Scope::Write]))
        .await;
    let denied = writer
        .suspend_wallet(pb::SuspendWalletRequest {
            wallet_id: wallet.clone(),
            idempotency_key: "s0".into(),
            reason: "fraud review".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&denied),
        (Code::PermissionDenied, "MISSING_SCOPE".to_owned())
    );
    assert_eq!(reason(&denied).1["scope"], Scope::Admin.as_str());

    let suspended = client
        .suspend_wallet(pb::SuspendWalletRequest {
            wallet_id: wallet.clone(),
            idempotency_key: "s1".into(),
            reason: "fraud review".into(),
        })
        .await
        .expect("suspended")
        .into_inner();
    let shown = client
        .get_wallet(pb::GetWalletRequest {
            wallet_id: wallet.clone(),
            min_sequence: suspended.sequence,
        })
        .await
        .expect("wallet")
        .into_inner();
    assert_eq!(shown.status, pb::WalletStatus::Suspended as i32);
    let refused = client
        .debit(debit(&wallet, "d1", "5.00"))
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&refused),
        (Code::FailedPrecondition, "WALLET_SUSPENDED".to_owned())
    );
    // Suspending twice is a transition from the wrong status.
    let twice = client
        .suspend_wallet(pb::SuspendWalletRequest {
            wallet_id: wallet.clone(),
            idempotency_key: "s2".into(),
            reason: "again".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&twice),
        (
            Code::FailedPrecondition,
            "INVALID_STATUS_TRANSITION".to_owned()
        )
    );

    let reactivated = client
        .reactivate_wallet(pb::ReactivateWalletRequest {
            wallet_id: wallet.clone(),
            idempotency_key: "r1".into(),
        })
        .await
        .expect("reactivated")
        .into_inner();
    assert!(reactivated.sequence > suspended.sequence);
    let debited = client
        .debit(debit(&wallet, "d1", "5.00"))
        .await
        .expect("debit after reactivation")
        .into_inner();
    assert_eq!(debited.balance, "15.00");
    let shown = client
        .get_wallet(pb::GetWalletRequest {
            wallet_id: wallet.clone(),
            min_sequence: debited.sequence,
        })
        .await
        .expect("wallet")
        .into_inner();
    assert_eq!(shown.status, pb::WalletStatus::Open as i32);
}

#[tokio::test]
async fn update_limits_applies_to_the_next_debit_and_bad_limits_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    let wallet = create_wallet(&mut client, "ben", "USD").await;
    client
        .credit(credit(&wallet, "c1", "50.00", pb::CreditSource::Paid))
        .await
        .expect("credit");
    client
        .debit(debit(&wallet, "d1", "8.00"))
        .await
        .expect("no limit yet");

    let updated = client
        .update_limits(limits_request(
            &wallet,
            "l1",
            pb::Limits {
                per_transaction_max: Some("5.00".into()),
                ..Default::default()
            },
        ))
        .await
        .expect("limits updated")
        .into_inner();
    let over = client
        .debit(debit(&wallet, "d2", "8.00"))
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&over),
        (Code::FailedPrecondition, "LIMIT_EXCEEDED".to_owned())
    );
    let (_, metadata) = reason(&over);
    assert_eq!(metadata["limit"], "per_transaction");
    assert_eq!(metadata["limit_value"], "5.00");
    client
        .debit(debit(&wallet, "d3", "5.00"))
        .await
        .expect("a debit at the limit");
    let shown = client
        .get_wallet(pb::GetWalletRequest {
            wallet_id: wallet.clone(),
            min_sequence: updated.sequence,
        })
        .await
        .expect("wallet")
        .into_inner();
    assert_eq!(
        shown.limits.expect("limits").per_transaction_max.as_deref(),
        Some("5.00")
    );

    // Refused limits change nothing: more decimals than the asset has, an empty velocity window.
    let too_precise = client
        .update_limits(limits_request(
            &wallet,
            "l2",
            pb::Limits {
                per_transaction_max: Some("50.001".into()),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&too_precise),
        (Code::InvalidArgument, "INVALID_AMOUNT".to_owned())
    );
    assert_eq!(bad_fields(&too_precise), ["limits.per_transaction_max"]);
    let no_window = client
        .update_limits(limits_request(
            &wallet,
            "l3",
            pb::Limits {
                velocity: Some(pb::VelocityLimit {
                    max_operations: 0,
                    window_ms: 0,
                }),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&no_window),
        (Code::InvalidArgument, "INVALID_LIMIT".to_owned())
    );
    assert_eq!(bad_fields(&no_window), ["limits.velocity"]);
    let still = client
        .debit(debit(&wallet, "d4", "6.00"))
        .await
        .unwrap_err();
    assert_eq!(reason(&still).0, "LIMIT_EXCEEDED");
    assert_eq!(balance(&mut client, &wallet, 0).await.balance, "37.00");
}

#[tokio::test]
async fn close_needs_an_empty_wallet_and_a_closed_wallet_refuses_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    let wallet = create_wallet(&mut client, "cleo", "USD").await;
    client
        .credit(credit(&wallet, "c1", "3.00", pb::CreditSource::Paid))
        .await
        .expect("credit");
    let close = |key: &str| pb::CloseWalletRequest {
        wallet_id: wallet.clone(),
        idempotency_key: key.into(),
    };

    let not_empty = client.close_wallet(close("x1")).await.unwrap_err();
    assert_eq!(
        refusal(&not_empty),
        (Code::FailedPrecondition, "BALANCE_NOT_ZERO".to_owned())
    );
    assert_eq!(reason(&not_empty).1["balance"], "3.00");

    client
        .debit(debit(&wallet, "d1", "3.00"))
        .await
        .expect("emptied");
    let closed = client
        .close_wallet(close("x2"))
        .await
        .expect("closed")
        .into_inner();
    let shown = client
        .get_wallet(pb::GetWalletRequest {
            wallet_id: wallet.clone(),
            min_sequence: closed.sequence,
        })
        .await
        .expect("wallet")
        .into_inner();
    assert_eq!(shown.status, pb::WalletStatus::Closed as i32);

    let refusals = [
        client
            .credit(credit(&wallet, "c2", "1.00", pb::CreditSource::Paid))
            .await
            .map(drop),
        client.debit(debit(&wallet, "d2", "1.00")).await.map(drop),
        client
            .place_hold(pb::PlaceHoldRequest {
                wallet_id: wallet.clone(),
                idempotency_key: "h1".into(),
                amount: "1.00".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        client
            .update_limits(limits_request(&wallet, "l1", pb::Limits::default()))
            .await
            .map(drop),
        client
            .suspend_wallet(pb::SuspendWalletRequest {
                wallet_id: wallet.clone(),
                idempotency_key: "s1".into(),
                reason: "late".into(),
            })
            .await
            .map(drop),
        client
            .reactivate_wallet(pb::ReactivateWalletRequest {
                wallet_id: wallet.clone(),
                idempotency_key: "r1".into(),
            })
            .await
            .map(drop),
        client.close_wallet(close("x3")).await.map(drop),
    ];
    for refused in refusals {
        assert_eq!(
            refusal(&refused.unwrap_err()),
            (Code::FailedPrecondition, "WALLET_CLOSED".to_owned())
        );
    }
    let after = balance(&mut client, &wallet, 0).await;
    assert_eq!(
        (after.balance.as_str(), after.sequence),
        ("0.00", closed.sequence)
    );
}

#[tokio::test]
async fn list_wallets_pages_one_owners_wallets_of_this_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let mut client = pursed.client().await;
    let mut dora = Vec::new();
    for asset in ["USD", "EUR", "GBP"] {
        dora.push(create_wallet(&mut client, "dora", asset).await);
    }
    let eddie = create_wallet(&mut client, "eddie", "USD").await;

    let (listed, pages) = all_pages(&mut client, "dora", 2).await;
    assert!(pages >= 2, "three wallets at two a page: {pages} page(s)");
    let mut ids: Vec<_> = listed.iter().map(|w| w.wallet_id.clone()).collect();
    ids.sort_unstable();
    dora.sort_unstable();
    assert_eq!(ids, dora, "each of dora's wallets once, across pages");
    assert!(
        listed
            .iter()
            .all(|w| w.owner == "dora" && w.tenant == "dev")
    );
    let (one, pages) = all_pages(&mut client, "dora", 1).await;
    assert_eq!(one.len(), 3);
    assert!(pages >= 3);

    let (listed, _) = all_pages(&mut client, "eddie", 0).await;
    assert_eq!(
        listed
            .iter()
            .map(|w| w.wallet_id.as_str())
            .collect::<Vec<_>>(),
        [eddie.as_str()]
    );
    let (nobody, _) = all_pages(&mut client, "nobody", 0).await;
    assert!(nobody.is_empty());

    let mut other = pursed
        .client_with_token(&token(dir.path(), "other", Scope::ALL.to_vec()))
        .await;
    let (hidden, _) = all_pages(&mut other, "dora", 0).await;
    assert!(hidden.is_empty(), "another tenant's wallets: {hidden:?}");

    let missing = client
        .list_wallets(pb::ListWalletsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&missing),
        (Code::InvalidArgument, "MISSING_FIELD".to_owned())
    );
    assert_eq!(bad_fields(&missing), ["owner"]);
    let bad_token = client
        .list_wallets(pb::ListWalletsRequest {
            owner: "dora".into(),
            page_size: 1,
            page_token: "not a token".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_token.code(), Code::InvalidArgument);
}
