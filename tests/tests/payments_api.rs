//! `PaymentsService` over the wire against a running `pursed`: intents charged to a stored card,
//! idempotent creation, cancel, refunds answered by the provider, stored cards paged per owner,
//! and scopes.

use std::time::Duration;

use purse_e2e::browser::Browser;
use purse_e2e::requests::create_wallet;
use purse_e2e::topups::{
    DECLINE_AFTER_SAVE_CARD, SETTLE_TIMEOUT, SUCCESS_CARD, create_top_up, pay_on_page, settled,
};
use purse_e2e::{PaymentsClient, Pursed, payments_client, reason, top_up_client};
use purse_proto::payment::v1 as pay;
use purse_proto::topup::v1 as pb;
use purse_runtime::auth::{Principal, Scope, TokenKey};
use tonic::Code;

/// Saves `card` for `owner` by paying a top-up of a fresh wallet on the hosted page with "save
/// this card" ticked (the only way cards get stored).
async fn save_card(pursed: &Pursed, browser: &Browser, owner: &str, asset: &str, card: &str) {
    let mut wallets = pursed.client().await;
    let mut top_ups = top_up_client(&pursed.endpoint, &pursed.token).await;
    let wallet_id = create_wallet(&mut wallets, owner, asset).await;
    let top_up = create_top_up(&mut top_ups, &wallet_id, "save", "5.00", None, "").await;
    let (status, _) = pay_on_page(browser, &top_up.url, card, true).await;
    assert_eq!(status, "succeeded");
    assert_eq!(
        settled(&mut top_ups, &top_up.top_up_id).await.status,
        pb::TopUpStatus::Completed as i32
    );
}

/// One page of `owner`'s stored cards.
async fn methods_page(
    payments: &mut PaymentsClient,
    owner: &str,
    page_size: u32,
    page_token: &str,
) -> pay::ListPaymentMethodsResponse {
    payments
        .list_payment_methods(pay::ListPaymentMethodsRequest {
            owner: owner.into(),
            page_size,
            page_token: page_token.into(),
        })
        .await
        .expect("payment methods")
        .into_inner()
}

/// Polls ListPaymentMethods until `owner` has `count` stored cards (the projection lags the
/// checkout's answer).
async fn await_methods(payments: &mut PaymentsClient, owner: &str, count: usize) {
    let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
    loop {
        let listed = methods_page(payments, owner, 0, "").await.payment_methods;
        assert!(listed.len() <= count, "{listed:?}");
        if listed.len() == count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{owner} never had {count} cards: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls GetPaymentIntent until `done` holds for the intent, and returns it.
async fn intent_when(
    payments: &mut PaymentsClient,
    payment_id: &str,
    done: impl Fn(&pay::PaymentIntent) -> bool,
) -> pay::PaymentIntent {
    let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
    loop {
        let intent = payments
            .get_payment_intent(pay::GetPaymentIntentRequest {
                payment_id: payment_id.into(),
            })
            .await
            .map(|response| response.into_inner());
        match intent {
            Ok(intent) if done(&intent) => return intent,
            Ok(_) => {}
            // Not projected yet.
            Err(status) => assert_eq!(status.code(), Code::NotFound, "{status:?}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "payment {payment_id} never reached the expected state"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn create(key: &str, owner: &str, amount: &str, method: &str) -> pay::CreatePaymentIntentRequest {
    pay::CreatePaymentIntentRequest {
        idempotency_key: key.into(),
        owner: owner.into(),
        asset: "USD".into(),
        amount: amount.into(),
        payment_method_id: method.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_payments_rpc_over_the_wire_against_pursed() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let mut payments = payments_client(&pursed.endpoint, &pursed.token).await;

    // Two cards for erin (a card number is stored once per owner), one for bob.
    let browser = Browser::start().await;
    save_card(&pursed, &browser, "erin", "USD", SUCCESS_CARD).await;
    save_card(&pursed, &browser, "erin", "EUR", DECLINE_AFTER_SAVE_CARD).await;
    save_card(&pursed, &browser, "bob", "USD", SUCCESS_CARD).await;
    browser.close().await;
    await_methods(&mut payments, "erin", 2).await;
    await_methods(&mut payments, "bob", 1).await;

    // ListPaymentMethods: page_size 1 gives two pages of erin's cards, none of bob's.
    let first = methods_page(&mut payments, "erin", 1, "").await;
    assert_eq!(first.payment_methods.len(), 1);
    assert!(!first.next_page_token.is_empty());
    let second = methods_page(&mut payments, "erin", 1, &first.next_page_token).await;
    assert_eq!(second.payment_methods.len(), 1);
    let erin: Vec<_> = first
        .payment_methods
        .iter()
        .chain(&second.payment_methods)
        .collect();
    if !second.next_page_token.is_empty() {
        let third = methods_page(&mut payments, "erin", 1, &second.next_page_token).await;
        assert!(third.payment_methods.is_empty(), "{third:?}");
    }
    assert!(erin.iter().all(|m| m.owner == "erin"), "{erin:?}");
    let mut last4: Vec<_> = erin.iter().map(|m| m.last4.as_str()).collect();
    last4.sort_unstable();
    assert_eq!(last4, ["0341", "4242"]);
    let bob = methods_page(&mut payments, "bob", 0, "")
        .await
        .payment_methods;
    assert_eq!(bob.len(), 1);
    assert!(
        erin.iter()
            .all(|m| m.payment_method_id != bob[0].payment_method_id)
    );
    let card = erin
        .iter()
        .find(|m| m.last4 == "4242")
        .expect("erin's 4242")
        .payment_method_id
        .clone();

    // CreatePaymentIntent charged to the stored card at once; GetPaymentIntent shows it
    // captured once the simulator answered.
    let created = payments
        .create_payment_intent(create("pay-1", "erin", "10.00", &card))
        .await
        .expect("intent created")
        .into_inner();
    assert!(!created.replayed);
    let captured = intent_when(&mut payments, &created.payment_id, |i| {
        i.status == pay::PaymentStatus::Succeeded as i32
    })
    .await;
    assert_eq!(
        (captured.owner.as_str(), captured.asset.as_str()),
        ("erin", "USD")
    );
    assert_eq!(captured.amount, "10.00");
    assert_eq!(captured.captured, "10.00");
    assert_eq!(captured.refunded, "0.00");
    assert_eq!(captured.payment_method_id, card);
    assert_eq!(captured.card.expect("card summary").last4, "4242");

    // The same key replays the first answer: the same intent, not a second charge.
    let retried = payments
        .create_payment_intent(create("pay-1", "erin", "10.00", &card))
        .await
        .expect("retry answered")
        .into_inner();
    assert_eq!(retried.payment_id, created.payment_id);
    assert!(retried.replayed);
    assert_eq!(retried.sequence, created.sequence);

    // A captured intent cannot be cancelled.
    let refused = payments
        .cancel_payment_intent(pay::CancelPaymentIntentRequest {
            payment_id: created.payment_id.clone(),
            idempotency_key: "cancel-captured".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let (why, metadata) = reason(&refused);
    assert_eq!(why, "PAYMENT_INVALID_STATE");
    assert_eq!(metadata["status"], "succeeded");

    // An intent waiting for a card on the hosted page is cancelled.
    let hosted = payments
        .create_payment_intent(create("pay-2", "erin", "3.00", ""))
        .await
        .expect("hosted intent created")
        .into_inner();
    assert_eq!(
        hosted.status,
        pay::PaymentStatus::RequiresPaymentMethod as i32
    );
    let cancelled = payments
        .cancel_payment_intent(pay::CancelPaymentIntentRequest {
            payment_id: hosted.payment_id.clone(),
            idempotency_key: "cancel".into(),
            reason: pay::CancelReason::Abandoned as i32,
        })
        .await
        .expect("cancelled")
        .into_inner();
    assert_eq!(cancelled.status, pay::PaymentStatus::Canceled as i32);
    let shown = intent_when(&mut payments, &hosted.payment_id, |i| {
        i.status == pay::PaymentStatus::Canceled as i32
    })
    .await;
    assert_eq!(shown.captured, "0.00");
    assert!(!shown.cancel_reason.is_empty());

    // A partial refund, then more than is left: refused with what is still refundable.
    let refund = payments
        .refund_payment(pay::RefundPaymentRequest {
            payment_id: created.payment_id.clone(),
            idempotency_key: "refund-1".into(),
            amount: "4.00".into(),
            ..Default::default()
        })
        .await
        .expect("refund requested")
        .into_inner();
    assert!(!refund.refund_id.is_empty());
    let too_much = payments
        .refund_payment(pay::RefundPaymentRequest {
            payment_id: created.payment_id.clone(),
            idempotency_key: "refund-2".into(),
            amount: "6.01".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(too_much.code(), Code::FailedPrecondition);
    let (why, metadata) = reason(&too_much);
    assert_eq!(why, "REFUND_EXCEEDS_CAPTURED");
    assert_eq!(metadata["refundable"], "6.00");
    // The provider's answer arrives later and shows in `refunded`.
    let refunded = intent_when(&mut payments, &created.payment_id, |i| i.refunded != "0.00").await;
    assert_eq!(refunded.refunded, "4.00");
    assert_eq!(refunded.captured, "10.00");
    assert_eq!(refunded.status, pay::PaymentStatus::Succeeded as i32);
}

#[tokio::test(flavor = "multi_thread")]
async fn payments_rpcs_need_their_scope_and_hide_another_tenants_intents() {
    let dir = tempfile::tempdir().unwrap();
    let pursed = Pursed::start(dir.path(), &[]);
    let mut payments = payments_client(&pursed.endpoint, &pursed.token).await;
    let hosted = payments
        .create_payment_intent(create("pay-1", "erin", "3.00", ""))
        .await
        .expect("intent created")
        .into_inner();
    intent_when(&mut payments, &hosted.payment_id, |_| true).await;

    let key = TokenKey::load_or_create(&dir.path().join("token.key")).expect("token key");
    let token = |tenant: &str, scopes: Vec<Scope>| {
        key.issue(&Principal {
            tenant: tenant.into(),
            scopes,
        })
        .expect("token issued")
    };

    // Read-only: reads answer, every change is refused with the scope it lacks.
    let mut reader = payments_client(&pursed.endpoint, &token("dev", vec![Scope::Read])).await;
    reader
        .get_payment_intent(pay::GetPaymentIntentRequest {
            payment_id: hosted.payment_id.clone(),
        })
        .await
        .expect("read allowed");
    let refusals = [
        reader
            .create_payment_intent(create("pay-2", "erin", "3.00", ""))
            .await
            .map(drop),
        reader
            .cancel_payment_intent(pay::CancelPaymentIntentRequest {
                payment_id: hosted.payment_id.clone(),
                idempotency_key: "cancel".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        reader
            .refund_payment(pay::RefundPaymentRequest {
                payment_id: hosted.payment_id.clone(),
                idempotency_key: "refund".into(),
                amount: "1.00".into(),
                ..Default::default()
            })
            .await
            .map(drop),
    ];
    for refused in refusals {
        let refused = refused.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);
        let (why, metadata) = reason(&refused);
        assert_eq!(why, "MISSING_SCOPE");
        assert_eq!(metadata["scope"], Scope::Write.as_str());
    }
    // Write without read: reads are refused.
    let mut writer = payments_client(&pursed.endpoint, &token("dev", vec![Scope::Write])).await;
    for refused in [
        writer
            .get_payment_intent(pay::GetPaymentIntentRequest {
                payment_id: hosted.payment_id.clone(),
            })
            .await
            .map(drop),
        writer
            .list_payment_methods(pay::ListPaymentMethodsRequest {
                owner: "erin".into(),
                ..Default::default()
            })
            .await
            .map(drop),
    ] {
        let refused = refused.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);
        assert_eq!(reason(&refused).1["scope"], Scope::Read.as_str());
    }
    // Another tenant does not see the intent.
    let mut other = payments_client(&pursed.endpoint, &token("other", Scope::ALL.to_vec())).await;
    let hidden = other
        .get_payment_intent(pay::GetPaymentIntentRequest {
            payment_id: hosted.payment_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    assert_eq!(reason(&hidden).0, "PAYMENT_NOT_FOUND");
    // The intent is still waiting for its card.
    let intent = intent_when(&mut payments, &hosted.payment_id, |_| true).await;
    assert_eq!(
        intent.status,
        pay::PaymentStatus::RequiresPaymentMethod as i32
    );
}
