//! Top-up helpers shared by the end-to-end tests: create, pay on the hosted page, wait for a
//! final status.

use std::time::Duration;

use purse_proto::topup::v1 as pb;

use crate::TopUpClient;
use crate::browser::Browser;

/// Cards of the simulator (DESIGN §7, docs/runbook.md).
pub const SUCCESS_CARD: &str = "4242424242424242";
pub const DECLINE_CARD: &str = "4000000000000002";
pub const DELAYED_CARD: &str = "4000000000003220";
/// Pays on the hosted page (so it can be saved), declined whenever charged later as a stored
/// card (merchant-initiated).
pub const DECLINE_AFTER_SAVE_CARD: &str = "4000000000000341";
/// How long a top-up may take to reach a final status once it can.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(40);

/// Creates a manual top-up (or, with `payment_method_id`, one charged to that stored card).
pub async fn create_top_up(
    client: &mut TopUpClient,
    wallet_id: &str,
    key: &str,
    amount: &str,
    wallet_amount: Option<&str>,
    payment_method_id: &str,
) -> pb::TopUp {
    let kind = if payment_method_id.is_empty() {
        pb::TopUpKind::Manual
    } else {
        pb::TopUpKind::ManualWithPaymentMethod
    };
    client
        .create_top_up(pb::CreateTopUpRequest {
            idempotency_key: key.into(),
            wallet_id: wallet_id.into(),
            kind: kind as i32,
            amount: amount.into(),
            wallet_amount: wallet_amount.map(str::to_owned),
            payment_method_id: payment_method_id.into(),
            ..Default::default()
        })
        .await
        .expect("top-up created")
        .into_inner()
        .top_up
        .expect("top-up in response")
}

/// Polls GetTopUp until its status is final, and returns it.
pub async fn settled(client: &mut TopUpClient, top_up_id: &str) -> pb::TopUp {
    let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
    loop {
        let top_up = client
            .get_top_up(pb::GetTopUpRequest {
                top_up_id: top_up_id.into(),
                min_sequence: 0,
            })
            .await
            .map(|response| response.into_inner());
        if let Ok(top_up) = top_up
            && top_up.status != pb::TopUpStatus::Created as i32
        {
            return top_up;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "top-up {top_up_id} did not settle"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Pays on the hosted page and returns the result's `data-status` and message.
pub async fn pay_on_page(
    browser: &Browser,
    url: &str,
    card: &str,
    save_card: bool,
) -> (String, String) {
    browser.open(url).await;
    browser.fill("#card_number", card).await;
    browser.fill("#expiry", "12/34").await;
    browser.fill("#cvc", "123").await;
    if save_card {
        browser.click("#save_card").await;
    }
    browser.click("#pay").await;
    let status = browser
        .attribute("#result", "data-status")
        .await
        .unwrap_or_default();
    let text = browser.text("#result").await;
    (status, text)
}

/// Pays on the hosted page by posting its form over plain HTTP once the page offers it (until the
/// read model has the top-up and its intent, the page says "not found" or "preparing"), and
/// returns the result's `data-status`. The page answers once the capture is recorded.
pub async fn pay_by_form(url: &str, card: &str) -> String {
    let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
    loop {
        let page = crate::http::try_get(url).await;
        if page.is_some_and(|page| page.body.contains("id=\"checkout\"")) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the checkout form never showed at {url}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let body = format!("card_number={card}&expiry=12%2F34&cvc=123");
    let page = crate::http::send(
        hyper::Method::POST,
        url,
        &[("content-type", "application/x-www-form-urlencoded")],
        body,
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let status = page
        .body
        .split_once("data-status=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(status, _)| status.to_owned());
    status.unwrap_or_else(|| panic!("no result on the page: {}", page.body))
}
