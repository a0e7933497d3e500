//! The payments gateway in process over the embedded log and store: webhook verification and
//! dedupe, the hosted checkout page with every simulator card, the processor (card saving,
//! stored-card charges, refunds), a delayed webhook surviving a restart, and no card number in
//! the log, the store, the data directory or the logs.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use purse_domain::idempotency::IdempotencyKey;
use purse_domain::money::Asset;
use purse_domain::payment::{
    CreatePayment, DeclineReason, PaymentAction, PaymentCommand, PaymentEventKind, RefundReason,
};
use purse_log::EventLog;
use purse_payments::app::PaymentsApp;
use purse_payments::simulator::pending::{PendingWebhook, PendingWebhooks};
use purse_payments::webhook::{SIGNATURE_HEADER, WebhookEvent, WebhookKind, WebhookSecret};
use purse_runtime::auth::TokenKey;
use purse_runtime::codec::{EventCodec, decode_record};
use purse_runtime::{backend, clock};
use purse_store::{PaymentRow, ReadStore, RowWrite, TopUpRow};
use purse_streams::buses::{Buses, EmbeddedShards};
use purse_streams::config::Config;
use purse_streams::payment::PaymentStream;
use purse_streams::payment_methods::PaymentMethodsStream;
use purse_streams::topics;
use rust_decimal::Decimal;
use uuid::Uuid;

const TENANT: &str = "acme";
const OWNER: &str = "customer-1";
const SUCCESS_CARD: &str = "4242424242424242";
const DECLINE_CARD: &str = "4000000000000002";
const NO_FUNDS_CARD: &str = "4000000000009995";
const DELAYED_CARD: &str = "4000000000003220";
const DECLINE_AFTER_SAVE_CARD: &str = "4000000000000341";
const ALL_CARDS: [&str; 5] = [
    SUCCESS_CARD,
    DECLINE_CARD,
    NO_FUNDS_CARD,
    DELAYED_CARD,
    DECLINE_AFTER_SAVE_CARD,
];
const WAIT_MS: u64 = 10_000;

/// Every log line of the test binary, to grep for card numbers.
fn captured_logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| Mutex::new(Vec::new()))
}

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        captured_logs().lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_writer(|| Capture)
            .with_ansi(false)
            .try_init();
    });
}

struct Harness {
    _dir: tempfile::TempDir,
    config: Config,
    log: Arc<dyn EventLog>,
    store: Arc<dyn ReadStore>,
    buses: Buses,
    app: Option<PaymentsApp>,
    _shards: EmbeddedShards,
    base: String,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl Harness {
    async fn start() -> Self {
        Self::start_with_delay(300).await
    }

    /// A harness whose simulator's delayed card takes `delay_ms`.
    async fn start_with_delay(delay_ms: u64) -> Self {
        init_logs();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            partitions: 2,
            ..Config::default()
        };
        config.services.payments.simulator_delay_ms = delay_ms;
        let log = backend::open_embedded_log(&config).expect("log");
        let store = backend::open_store(&config).await.expect("store");
        let (buses, shards) = Buses::start_embedded(&config, log.clone())
            .await
            .expect("buses");
        let token_key = TokenKey::load_or_create(&config.token_key_path()).expect("token key");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let app = PaymentsApp::start_embedded(
            &config,
            &buses,
            log.clone(),
            store.clone(),
            token_key,
            listener,
        )
        .expect("payments app");
        let base = app.checkout_endpoint();
        Self {
            _dir: dir,
            config,
            log,
            store,
            buses,
            app: Some(app),
            _shards: shards,
            base,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Stops the gateway (drained: its HTTP server, reactors and simulator) and starts a new one
    /// over the same data directory, log, store and shard workers, on a new port, whose
    /// simulator's delay is `delay_ms`: what a restarted payments process would do.
    async fn restart(&mut self, delay_ms: u64) {
        self.stop_app().await;
        self.config.services.payments.simulator_delay_ms = delay_ms;
        let token_key = TokenKey::load_or_create(&self.config.token_key_path()).expect("token key");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let app = PaymentsApp::start_embedded(
            &self.config,
            &self.buses,
            self.log.clone(),
            self.store.clone(),
            token_key,
            listener,
        )
        .expect("payments app restarted");
        self.base = app.checkout_endpoint();
        self.app = Some(app);
    }

    async fn stop_app(&mut self) {
        if let Some(app) = self.app.take() {
            app.drain(5_000).await;
        }
    }

    fn pending_webhooks(&self) -> Vec<PendingWebhook> {
        PendingWebhooks::in_data_dir(&self.config.data_dir)
            .load()
            .expect("pending webhooks")
            .into_iter()
            .map(|item| item.expect("readable pending webhook"))
            .collect()
    }

    /// The webhook counter `outcome` of the running gateway.
    async fn webhooks_counted(&self, outcome: &str) -> u64 {
        let (status, metrics) = self.request("GET", "/metrics", &[], Vec::new()).await;
        assert_eq!(status, 200);
        let prefix = format!("purse_webhooks_total{{outcome=\"{outcome}\"}} ");
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {outcome} counter in {metrics}"))
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> (u16, String) {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request.body(Full::new(Bytes::from(body))).expect("request");
        let response =
            tokio::time::timeout(Duration::from_millis(WAIT_MS), self.client.request(request))
                .await
                .expect("answered in time")
                .expect("HTTP");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// A payment intent of 20.00 EUR (optionally for a stored card and a top-up).
    async fn create_intent(
        &self,
        top_up_id: Option<Uuid>,
        payment_method_id: Option<Uuid>,
    ) -> Uuid {
        let payment_id = Uuid::now_v7();
        self.payments(
            payment_id,
            PaymentAction::Create(CreatePayment {
                owner: OWNER.into(),
                asset: Asset::parse("EUR", None).expect("EUR"),
                amount: Decimal::new(2000, 2),
                top_up_id,
                payment_method_id,
                expires_at: Some(clock::now().plus_millis(300_000)),
            }),
            "create",
        )
        .await;
        payment_id
    }

    async fn payments(&self, payment_id: Uuid, action: PaymentAction, step: &str) {
        let key = IdempotencyKey::parse(&format!("test:{payment_id}:{step}")).expect("key");
        self.buses
            .payments
            .send(
                PaymentCommand {
                    tenant: TENANT.into(),
                    payment_id,
                    action,
                },
                Some(key),
                "test".into(),
            )
            .await
            .expect("payment command");
    }

    /// A manual top-up with its checkout session and intent, as the top-up saga and the
    /// projector would leave them.
    async fn checkout_session(&self) -> (Uuid, Uuid) {
        let top_up_id = Uuid::now_v7();
        let session_id = Uuid::now_v7();
        let payment_id = self.create_intent(Some(top_up_id), None).await;
        let now = clock::now().as_millis();
        let top_up = TopUpRow {
            top_up_id,
            tenant: TENANT.into(),
            wallet_id: Uuid::now_v7(),
            owner: OWNER.into(),
            kind: "manual".into(),
            asset: "EUR".into(),
            amount: Decimal::new(2000, 2),
            wallet_amount: Decimal::new(2200, 2),
            fee: Decimal::new(0, 2),
            status: "created".into(),
            failure_reason: None,
            payment_id,
            checkout_session_id: Some(session_id),
            payment_method_id: None,
            expires_at_ms: now + 300_000,
            lots_expire_at_ms: None,
            credited: Decimal::new(0, 2),
            late_capture: None,
            created_at_ms: now,
            updated_at_ms: now,
            version: 1,
        };
        let payment = PaymentRow {
            payment_id,
            tenant: TENANT.into(),
            owner: OWNER.into(),
            asset: "EUR".into(),
            amount: Decimal::new(2000, 2),
            status: "requires_payment_method".into(),
            top_up_id: Some(top_up_id),
            payment_method_id: None,
            card_brand: None,
            card_last4: None,
            card_exp_month: None,
            card_exp_year: None,
            decline_reason: None,
            cancel_reason: None,
            captured: None,
            refunded: None,
            created_at_ms: now,
            updated_at_ms: now,
            version: 1,
        };
        self.store
            .apply(
                vec![RowWrite::TopUp(top_up), RowWrite::Payment(payment)],
                Vec::new(),
            )
            .await
            .expect("rows");
        (session_id, payment_id)
    }

    async fn pay(&self, session_id: Uuid, card: &str, save_card: bool) -> (u16, String) {
        let mut form = format!("card_number={card}&expiry=12%2F39&cvc=123");
        if save_card {
            form.push_str("&save_card=on");
        }
        self.request(
            "POST",
            &format!("/checkout/{session_id}"),
            &[(
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            )],
            form.into_bytes(),
        )
        .await
    }

    /// Pays `payment_id`'s page with `card`, asking to save it, and waits until the payment
    /// succeeded and the card is saved for [`OWNER`]. Returns the page and the owner's
    /// payment-method stream.
    async fn pay_saving_the_card(
        &self,
        session_id: Uuid,
        payment_id: Uuid,
        card: &str,
    ) -> (String, Uuid) {
        let (status, page) = self.pay(session_id, card, true).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("data-status=\"succeeded\""), "{page}");
        assert_eq!(
            self.wait_for_event(topics::PAYMENTS.events, payment_id, "PaymentSucceeded")
                .await,
            [
                "PaymentIntentCreated",
                "PaymentSubmitted",
                "PaymentSucceeded"
            ]
        );
        let methods_stream = purse_domain::payment::payment_methods_stream_id(TENANT, OWNER);
        self.wait_for_event(
            topics::PAYMENT_METHODS.events,
            methods_stream,
            "PaymentMethodSaved",
        )
        .await;
        (page, methods_stream)
    }

    /// Event types of one stream of a topic, in order.
    async fn events(&self, topic: &str, stream_id: Uuid) -> Vec<String> {
        let mut types = Vec::new();
        let stream = stream_id.to_string();
        for partition in 0..self.config.partitions {
            let mut offset = 0;
            loop {
                let records = self
                    .log
                    .read(topic, partition, offset, 1_000, 0)
                    .await
                    .expect("read");
                let Some(last) = records.last() else { break };
                offset = last.offset + 1;
                for record in &records {
                    let decoded = decode_record(&record.payload).expect("record");
                    for envelope in decoded.events {
                        if envelope.stream_id == stream {
                            types.push(envelope.event_type);
                        }
                    }
                }
            }
        }
        types
    }

    async fn wait_for_event(&self, topic: &str, stream_id: Uuid, event_type: &str) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(WAIT_MS);
        loop {
            let events = self.events(topic, stream_id).await;
            if events.iter().any(|e| e == event_type) {
                return events;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {event_type} on {stream_id}: {events:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn secret(&self) -> WebhookSecret {
        WebhookSecret::load_or_create(
            &self
                .config
                .services
                .payments
                .webhook_secret_path(&self.config.data_dir),
        )
        .expect("secret")
    }

    async fn webhook(&self, body: &[u8], signature: Option<String>) -> (u16, String) {
        let mut headers = vec![("content-type", "application/json".to_owned())];
        if let Some(signature) = signature {
            headers.push((SIGNATURE_HEADER, signature));
        }
        self.request("POST", "/webhooks/simulator", &headers, body.to_vec())
            .await
    }

    /// No card number anywhere in the data directory (log, store, secrets, the simulator's
    /// pending webhooks) or the logs.
    fn assert_no_card_numbers(&self) {
        let logs = captured_logs().lock().expect("logs").clone();
        let mut files = vec![("logs".to_owned(), logs)];
        let mut dirs = vec![self.config.data_dir.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("data dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.is_file() {
                    files.push((
                        path.display().to_string(),
                        std::fs::read(&path).expect("file"),
                    ));
                }
            }
        }
        for (name, bytes) in files {
            for card in ALL_CARDS {
                assert!(
                    !bytes.windows(card.len()).any(|w| w == card.as_bytes()),
                    "{card} found in {name}"
                );
            }
        }
    }

    async fn stop(mut self) {
        self.stop_app().await;
    }
}

fn charge_succeeded(id: &str, payment_id: Uuid, amount: Decimal) -> Vec<u8> {
    serde_json::to_vec(&WebhookEvent {
        id: id.into(),
        kind: WebhookKind::ChargeSucceeded {
            tenant: TENANT.into(),
            payment_id,
            amount,
        },
    })
    .expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_are_verified_and_deduplicated() {
    let h = Harness::start().await;
    let payment_id = h.create_intent(None, None).await;
    let topic = topics::PAYMENTS.events;
    let before = h.events(topic, payment_id).await;
    assert_eq!(before, ["PaymentIntentCreated"]);
    let body = charge_succeeded("evt_test_1", payment_id, Decimal::new(2000, 2));
    let now = clock::now().as_millis();

    // Forged: signed with another secret.
    let forged = WebhookSecret::from_bytes(b"not-the-providers-secret".to_vec()).sign(now, &body);
    let (status, _) = h.webhook(&body, Some(forged)).await;
    assert_eq!(status, 401);
    // Altered body under a genuine signature.
    let genuine = h.secret().sign(now, &body);
    let altered = charge_succeeded("evt_test_1", payment_id, Decimal::new(1, 2));
    assert_eq!(h.webhook(&altered, Some(genuine.clone())).await.0, 401);
    // Stale: genuinely signed ten minutes ago.
    let stale = h.secret().sign(now - 600_000, &body);
    assert_eq!(h.webhook(&body, Some(stale)).await.0, 401);
    // Unsigned or malformed.
    assert_eq!(h.webhook(&body, None).await.0, 400);
    assert_eq!(h.webhook(&body, Some("t=1".into())).await.0, 400);
    // Another provider's path.
    let (status, _) = h
        .request(
            "POST",
            "/webhooks/acmepay",
            &[(SIGNATURE_HEADER, genuine.clone())],
            body.clone(),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        h.events(topic, payment_id).await,
        before,
        "rejected webhooks change nothing"
    );

    // Valid: recorded.
    let (status, text) = h.webhook(&body, Some(genuine.clone())).await;
    assert_eq!((status, text.trim()), (200, "recorded"));
    let after = h.events(topic, payment_id).await;
    assert_eq!(after, ["PaymentIntentCreated", "PaymentSucceeded"]);

    // Replayed as is, and redelivered freshly signed: 200, nothing new.
    assert_eq!(h.webhook(&body, Some(genuine)).await.0, 200);
    let resigned = h.secret().sign(clock::now().as_millis(), &body);
    let (status, text) = h.webhook(&body, Some(resigned)).await;
    assert_eq!((status, text.trim()), (200, "duplicate"));
    assert_eq!(h.events(topic, payment_id).await, after);

    // A webhook for an intent that does not exist.
    let unknown = charge_succeeded("evt_test_2", Uuid::now_v7(), Decimal::new(2000, 2));
    let signature = h.secret().sign(clock::now().as_millis(), &unknown);
    assert_eq!(h.webhook(&unknown, Some(signature)).await.0, 404);

    let (status, metrics) = h.request("GET", "/metrics", &[], Vec::new()).await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("purse_webhooks_total{outcome=\"duplicate\"} 2"),
        "{metrics}"
    );
    assert_eq!(h.request("GET", "/healthz", &[], Vec::new()).await.0, 200);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkout_page_renders_the_form_and_pays_with_the_success_card() {
    let h = Harness::start().await;
    let (session_id, payment_id) = h.checkout_session().await;
    let (status, page) = h
        .request("GET", &format!("/checkout/{session_id}"), &[], Vec::new())
        .await;
    assert_eq!(status, 200, "{page}");
    for needle in [
        "id=\"card_number\"",
        "name=\"card_number\"",
        "id=\"expiry\"",
        "id=\"cvc\"",
        "id=\"save_card\"",
        "id=\"pay\"",
        "20.00 EUR",
    ] {
        assert!(page.contains(needle), "{needle} missing in {page}");
    }

    // The payer asked to save the card: the processor stores it for the owner.
    let (page, _) = h
        .pay_saving_the_card(session_id, payment_id, SUCCESS_CARD)
        .await;
    assert!(page.contains("Payment received"), "{page}");

    // Paying again on the same link shows where it stands and charges nothing twice.
    let (_, page) = h.pay(session_id, SUCCESS_CARD, false).await;
    assert!(!page.contains("id=\"card_number\""), "{page}");
    assert_eq!(h.events(topics::PAYMENTS.events, payment_id).await.len(), 3);

    h.assert_no_card_numbers();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn declines_tell_the_payer_why() {
    let h = Harness::start().await;
    for (card, words, reason) in [
        (DECLINE_CARD, "Your card was declined.", "declined"),
        (
            NO_FUNDS_CARD,
            "Your card has insufficient funds.",
            "insufficient_funds",
        ),
    ] {
        let (session_id, payment_id) = h.checkout_session().await;
        let (status, page) = h.pay(session_id, card, false).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("data-status=\"declined\""), "{page}");
        assert!(page.contains(words), "{reason}: {page}");
        let events = h.events(topics::PAYMENTS.events, payment_id).await;
        assert_eq!(
            events,
            ["PaymentIntentCreated", "PaymentSubmitted", "PaymentFailed"]
        );
    }
    // A typo is answered on the form, without echoing the number.
    let (session_id, _) = h.checkout_session().await;
    let (status, page) = h.pay(session_id, "4242424242424241", false).await;
    assert_eq!(status, 422);
    assert!(
        page.contains("id=\"error\"") && page.contains("id=\"card_number\""),
        "{page}"
    );
    assert!(!page.contains("4242424242424241"));
    // An unknown session.
    let (status, page) = h
        .request(
            "GET",
            &format!("/checkout/{}", Uuid::now_v7()),
            &[],
            Vec::new(),
        )
        .await;
    assert_eq!(status, 404, "{page}");
    h.assert_no_card_numbers();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_delayed_card_is_captured_by_a_signed_webhook() {
    let h = Harness::start().await;
    let (session_id, payment_id) = h.checkout_session().await;
    let (status, page) = h.pay(session_id, DELAYED_CARD, false).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("data-status=\"processing\""), "{page}");
    let events = h
        .wait_for_event(topics::PAYMENTS.events, payment_id, "PaymentSucceeded")
        .await;
    assert_eq!(
        events,
        [
            "PaymentIntentCreated",
            "PaymentSubmitted",
            "PaymentSucceeded"
        ]
    );
    h.assert_no_card_numbers();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stored_cards_are_charged_and_refunds_reach_the_provider() {
    let h = Harness::start().await;
    // First payment on the page, saving the card.
    let (session_id, _) = h.checkout_session().await;
    let (_, page) = h.pay(session_id, SUCCESS_CARD, true).await;
    assert!(page.contains("data-status=\"succeeded\""), "{page}");
    let methods_stream = purse_domain::payment::payment_methods_stream_id(TENANT, OWNER);
    h.wait_for_event(
        topics::PAYMENT_METHODS.events,
        methods_stream,
        "PaymentMethodSaved",
    )
    .await;
    let method_id = saved_method_id(&h, methods_stream).await;

    // An intent for the stored card is submitted and charged by the processor alone.
    let payment_id = h.create_intent(None, Some(method_id)).await;
    let events = h
        .wait_for_event(topics::PAYMENTS.events, payment_id, "PaymentSucceeded")
        .await;
    assert_eq!(
        events,
        [
            "PaymentIntentCreated",
            "PaymentSubmitted",
            "PaymentSucceeded"
        ]
    );

    // A refund is sent to the provider and its answer recorded.
    h.payments(
        payment_id,
        PaymentAction::RequestRefund {
            amount: Decimal::new(500, 2),
            reason: RefundReason::RequestedByCustomer,
        },
        "refund",
    )
    .await;
    h.wait_for_event(topics::PAYMENTS.events, payment_id, "RefundSucceeded")
        .await;
    h.assert_no_card_numbers();
    h.stop().await;
}

async fn saved_method_id(h: &Harness, stream: Uuid) -> Uuid {
    let stream = stream.to_string();
    for partition in 0..h.config.partitions {
        let records = h
            .log
            .read(topics::PAYMENT_METHODS.events, partition, 0, 1_000, 0)
            .await
            .expect("read");
        for record in records {
            for envelope in decode_record(&record.payload).expect("record").events {
                if envelope.stream_id == stream && envelope.event_type == "PaymentMethodSaved" {
                    let event =
                        <PaymentMethodsStream as purse_runtime::codec::EventCodec>::from_envelope(
                            &envelope,
                        )
                        .expect("event");
                    if let purse_domain::payment::PaymentMethodsEventKind::PaymentMethodSaved {
                        payment_method_id,
                        ..
                    } = event.kind
                    {
                        return payment_method_id;
                    }
                }
            }
        }
    }
    panic!("no saved payment method")
}

/// The decline reason of a payment's `PaymentFailed`.
async fn decline_reason(h: &Harness, payment_id: Uuid) -> DeclineReason {
    let stream = payment_id.to_string();
    for partition in 0..h.config.partitions {
        let records = h
            .log
            .read(topics::PAYMENTS.events, partition, 0, 1_000, 0)
            .await
            .expect("read");
        for record in records {
            for envelope in decode_record(&record.payload).expect("record").events {
                if envelope.stream_id == stream && envelope.event_type == "PaymentFailed" {
                    let event = PaymentStream::from_envelope(&envelope).expect("event");
                    if let PaymentEventKind::PaymentFailed { reason, .. } = event.kind {
                        return reason;
                    }
                }
            }
        }
    }
    panic!("no PaymentFailed for {payment_id}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_card_saved_on_the_page_is_declined_when_charged_as_a_stored_card() {
    let h = Harness::start().await;
    // On the page, the payer present: paid, and saved as asked.
    let (session_id, first) = h.checkout_session().await;
    let (_, methods_stream) = h
        .pay_saving_the_card(session_id, first, DECLINE_AFTER_SAVE_CARD)
        .await;
    let method_id = saved_method_id(&h, methods_stream).await;

    // Later, merchant-initiated (the processor charges the stored card): declined, each time.
    for _ in 0..2 {
        let payment_id = h.create_intent(None, Some(method_id)).await;
        let events = h
            .wait_for_event(topics::PAYMENTS.events, payment_id, "PaymentFailed")
            .await;
        assert_eq!(
            events,
            ["PaymentIntentCreated", "PaymentSubmitted", "PaymentFailed"]
        );
        assert_eq!(
            decline_reason(&h, payment_id).await,
            DeclineReason::Declined
        );
    }
    h.assert_no_card_numbers();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delayed_webhook_pending_at_a_stop_is_delivered_once_after_the_restart() {
    // Long enough that the gateway is stopped well before the webhook is due.
    const FIRST_DELAY_MS: u64 = 3_000;
    // The restarted gateways' setting; the promised webhook keeps the due time it was given.
    const RESTART_DELAY_MS: u64 = 200;
    let mut h = Harness::start_with_delay(FIRST_DELAY_MS).await;
    let (session_id, payment_id) = h.checkout_session().await;
    let (status, page) = h.pay(session_id, DELAYED_CARD, false).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("data-status=\"processing\""), "{page}");
    // "Processing" was answered only once the promise was on disk.
    let pending = h.pending_webhooks();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].payment_id, payment_id);
    assert_eq!(pending[0].tenant, TENANT);
    assert_eq!(pending[0].amount, Decimal::new(2000, 2));

    h.stop_app().await;
    assert_eq!(
        h.events(topics::PAYMENTS.events, payment_id).await,
        ["PaymentIntentCreated", "PaymentSubmitted"],
        "stopped before the webhook was due"
    );
    assert_eq!(
        h.pending_webhooks(),
        pending,
        "the promise outlives the gateway"
    );
    // Restart once it is overdue: delivered at once.
    let overdue_in_ms = pending[0].due_at_ms - clock::now().as_millis();
    if let Ok(wait_ms) = u64::try_from(overdue_in_ms) {
        tokio::time::sleep(Duration::from_millis(wait_ms + 50)).await;
    }
    h.restart(RESTART_DELAY_MS).await;
    let events = h
        .wait_for_event(topics::PAYMENTS.events, payment_id, "PaymentSucceeded")
        .await;
    assert_eq!(
        events,
        [
            "PaymentIntentCreated",
            "PaymentSubmitted",
            "PaymentSucceeded"
        ]
    );
    // Forgotten once answered.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(WAIT_MS);
    while !h.pending_webhooks().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivered webhook still pending"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(h.webhooks_counted("recorded").await, 1);
    // The counters are the process's, so the restarted gateway (same process) continues them.
    let duplicates = h.webhooks_counted("duplicate").await;

    // A second restart has nothing to deliver: no webhook arrives within the (short) delay.
    h.restart(RESTART_DELAY_MS).await;
    assert!(h.pending_webhooks().is_empty());
    tokio::time::sleep(Duration::from_millis(RESTART_DELAY_MS + 1_000)).await;
    assert_eq!(h.webhooks_counted("recorded").await, 1);
    assert_eq!(h.webhooks_counted("duplicate").await, duplicates);
    assert_eq!(
        h.events(topics::PAYMENTS.events, payment_id).await,
        events,
        "captured exactly once"
    );
    h.assert_no_card_numbers();
    h.stop().await;
}
