//! The built-in `simulator` provider: test mode (DESIGN §7). No money moves.
//!
//! | card number                  | outcome                                                       |
//! |------------------------------|---------------------------------------------------------------|
//! | ending `4242` (4242 4242 4242 4242) | succeeds, captured at once                             |
//! | ending `0002` (4000 0000 0000 0002) | declined: `declined` ("Your card was declined.")        |
//! | ending `9995` (4000 0000 0000 9995) | declined: `insufficient_funds`                          |
//! | `4000 0000 0000 3220`        | pending; after `payments.simulator_delay_ms` a signed `charge.succeeded` webhook is POSTed to our own `/webhooks/simulator` |
//! | `4000 0000 0000 0341`        | succeeds when the payer is present (the hosted page), so "save this card" stores it; every merchant-initiated charge of it (a stored-card top-up, manual or auto) is declined: `declined` (Stripe's card of the same number) |
//! | any other valid number       | declined: `declined`, so a real card never "succeeds" in test mode |
//!
//! The outcome is chosen at tokenization and carried in the token (`tok_sim_<outcome>_<random
//! letters>`), so a stored card keeps behaving the same across restarts. Who starts the charge
//! comes with it ([`ChargeInitiator`]), as a real provider is told (Stripe's `off_session`).
//! Charges are idempotent by payment id: a repeat returns the first answer and schedules no
//! second webhook. Provider event ids are derived from the payment or refund id, so even a
//! restarted simulator reports a repeated charge under the same id and the payment stream
//! ignores it. Cancelling does not stop a delayed capture: that is how a capture landing after
//! the top-up's deadline is produced.
//!
//! A delayed charge's webhook is durable: it is written to the data directory
//! ([`pending`]) before the charge answers `pending`, removed once our endpoint answered 2xx (or
//! a 4xx that retrying cannot change), and reloaded at start, overdue ones delivered at once. So
//! a process that dies during the delay still delivers it after its restart; the derived event
//! id makes a second delivery (a restart between the answer and the removal) a duplicate our
//! endpoint ignores. Each delivery makes up to [`WEBHOOK_ATTEMPTS_MAX`] attempts; one that gives
//! up stays on disk until the next start.

pub mod pending;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::StatusCode;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use purse_domain::payment::{CardBrand, CardDetails, DeclineReason, ProviderEventId};
use tokio::sync::{Mutex, watch};
use tracing::{debug, error, info, warn};
use uuid::Uuid;

use self::pending::{PendingWebhook, PendingWebhookError, PendingWebhooks};
use crate::provider::{
    CardInput, ChargeInitiator, ChargeOutcome, ChargeRequest, PaymentProvider, ProviderError,
    RefundOutcome, RefundRequest,
};
use crate::webhook::{SIGNATURE_HEADER, WebhookEvent, WebhookSecret};

/// The provider name (the `payments.provider` setting, `/webhooks/simulator`).
pub const SIMULATOR: &str = "simulator";
/// The delayed test card: pending, then captured by webhook.
pub const DELAYED_CARD: &str = "4000000000003220";
/// The test card that pays while the payer is present and declines every merchant-initiated
/// charge: saved on the page, declined when charged later as a stored card.
pub const DECLINE_AFTER_SAVE_CARD: &str = "4000000000000341";
/// Attempts to deliver a delayed card's webhook in one process life.
pub const WEBHOOK_ATTEMPTS_MAX: u32 = 10;
/// Wait before the first redelivery; doubles each time up to [`WEBHOOK_RETRY_MAX_MS`].
const WEBHOOK_RETRY_BASE_MS: u64 = 200;
/// Longest wait between two attempts (the ten attempts span about 40 s).
const WEBHOOK_RETRY_MAX_MS: u64 = 10_000;
/// Longest wait for our own endpoint's answer.
const WEBHOOK_TIMEOUT_MS: u64 = 5_000;
/// Letters of randomness in a token (26^16 ≈ 2^75).
const TOKEN_RANDOM_LETTERS: usize = 16;

/// What a simulated card does when charged.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Behaviour {
    Succeed,
    Decline(DeclineReason),
    Delayed,
    /// Succeeds for the payer, declined (`declined`) for the merchant.
    PayerOnly,
}

impl Behaviour {
    fn of(card: &CardInput) -> Self {
        match card.number() {
            DELAYED_CARD => return Self::Delayed,
            DECLINE_AFTER_SAVE_CARD => return Self::PayerOnly,
            _ => {}
        }
        match card.last4() {
            "4242" => Self::Succeed,
            "9995" => Self::Decline(DeclineReason::InsufficientFunds),
            _ => Self::Decline(DeclineReason::Declined),
        }
    }

    // Letters only, no `_`: the word is the token's second field.
    fn token_word(self) -> &'static str {
        match self {
            Self::Succeed => "ok",
            Self::Delayed => "delayed",
            Self::PayerOnly => "payeronly",
            Self::Decline(DeclineReason::InsufficientFunds) => "nofunds",
            Self::Decline(_) => "declined",
        }
    }

    fn from_token(token: &str) -> Option<Self> {
        let rest = token.strip_prefix("tok_sim_")?;
        let (word, _) = rest.split_once('_')?;
        Some(match word {
            "ok" => Self::Succeed,
            "delayed" => Self::Delayed,
            "payeronly" => Self::PayerOnly,
            "nofunds" => Self::Decline(DeclineReason::InsufficientFunds),
            "declined" => Self::Decline(DeclineReason::Declined),
            _ => return None,
        })
    }
}

/// The card network of a number, from its leading digits.
pub fn brand_of(number: &str) -> CardBrand {
    let prefix = |len: usize| {
        number
            .get(..len)
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(0)
    };
    match (prefix(1), prefix(2), prefix(4)) {
        (4, _, _) => CardBrand::Visa,
        (_, 51..=55, _) | (_, _, 2221..=2720) => CardBrand::Mastercard,
        (_, 34 | 37, _) => CardBrand::Amex,
        (_, 65, _) | (_, _, 6011) => CardBrand::Discover,
        (_, 35, _) => CardBrand::Jcb,
        (_, 30 | 36 | 38, _) => CardBrand::DinersClub,
        (_, 62, _) => CardBrand::UnionPay,
        _ => CardBrand::Unknown,
    }
}

/// What the simulator needs.
#[derive(Clone, Debug)]
pub struct SimulatorSettings {
    /// Signs its webhooks.
    pub secret: WebhookSecret,
    /// How long a delayed charge stays pending.
    pub delay_ms: u64,
    /// Where webhooks are POSTed (`http://{payments listener}/webhooks/simulator`).
    pub webhook_url: String,
    /// Where promised webhooks are kept (`{data_dir}/simulator-webhooks`).
    pub pending_dir: PathBuf,
}

/// The simulator.
pub struct Simulator {
    inner: Arc<Inner>,
}

struct Inner {
    secret: WebhookSecret,
    delay_ms: u64,
    webhook_url: String,
    client: Client<HttpConnector, Full<Bytes>>,
    pending: PendingWebhooks,
    /// Deliveries stop when this turns true or its sender is dropped; what they had not
    /// delivered stays on disk.
    stopped: watch::Receiver<bool>,
    // An async lock: a delayed charge holds it while its webhook is written, so a concurrent
    // repeat of the same charge cannot answer `pending` before the promise is durable.
    // Bounded by the number of distinct payments charged in this process's life; acceptable in
    // test mode, and the derived event ids keep repeats harmless even without it.
    charges: Mutex<HashMap<Uuid, ChargeOutcome>>,
}

/// How a delivery ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Delivery {
    /// Our endpoint answered 2xx.
    Accepted,
    /// Our endpoint refused it for good (a 4xx other than 408, 425 and 429).
    Refused(StatusCode),
    /// Every attempt failed (no answer, 5xx, or a 4xx worth retrying).
    GaveUp,
}

impl Simulator {
    /// Starts the simulator: reloads the webhooks promised before a restart from
    /// `settings.pending_dir` and schedules them (overdue ones at once). Deliveries stop when
    /// `stopped` turns true or its sender is dropped. Reads the directory synchronously, once;
    /// an unreadable file is logged (ERROR) and left in place, the others are delivered.
    pub fn start(
        settings: SimulatorSettings,
        stopped: watch::Receiver<bool>,
    ) -> Result<Self, PendingWebhookError> {
        let pending = PendingWebhooks::new(settings.pending_dir);
        let loaded = pending.load()?;
        let simulator = Self {
            inner: Arc::new(Inner {
                secret: settings.secret,
                delay_ms: settings.delay_ms,
                webhook_url: settings.webhook_url,
                client: Client::builder(TokioExecutor::new()).build_http(),
                pending,
                stopped,
                charges: Mutex::new(HashMap::new()),
            }),
        };
        let mut reloaded = 0usize;
        for item in loaded {
            match item {
                Ok(item) => {
                    reloaded += 1;
                    simulator.inner.schedule(item);
                }
                // A capture the gateway may never hear of: someone should look.
                Err(err) => error!(error = %err, "simulator pending webhook not reloaded"),
            }
        }
        if reloaded > 0 {
            info!(
                count = reloaded,
                "simulator pending webhooks reloaded and scheduled"
            );
        }
        Ok(simulator)
    }
}

fn event_id(text: String) -> ProviderEventId {
    ProviderEventId::parse(&text).expect("simulator event ids are short visible ASCII")
}

fn random_letters() -> Result<String, ProviderError> {
    let mut bytes = [0u8; TOKEN_RANDOM_LETTERS];
    getrandom::fill(&mut bytes).map_err(|err| ProviderError::Unavailable(err.to_string()))?;
    // Letters only: a token must never contain a run of digits that could pass for a card number.
    Ok(bytes.iter().map(|b| char::from(b'a' + b % 26)).collect())
}

/// The milliseconds since the epoch `delay_ms` from now.
fn due_in(delay_ms: u64) -> i64 {
    purse_runtime::clock::now()
        .as_millis()
        .saturating_add(i64::try_from(delay_ms).unwrap_or(i64::MAX))
}

#[async_trait::async_trait]
impl PaymentProvider for Simulator {
    fn name(&self) -> &'static str {
        SIMULATOR
    }

    async fn tokenize(&self, card: &CardInput) -> Result<CardDetails, ProviderError> {
        let behaviour = Behaviour::of(card);
        let token = format!("tok_sim_{}_{}", behaviour.token_word(), random_letters()?);
        Ok(CardDetails::new(
            brand_of(card.number()),
            card.last4(),
            card.exp_month(),
            card.exp_year(),
            &token,
        )?)
    }

    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, ProviderError> {
        let behaviour = Behaviour::from_token(&request.token).ok_or(ProviderError::UnknownToken)?;
        let mut charges = self.inner.charges.lock().await;
        if let Some(outcome) = charges.get(&request.payment_id) {
            return Ok(outcome.clone());
        }
        let id = request.payment_id.simple();
        let succeeded = || ChargeOutcome::Succeeded {
            provider_event_id: event_id(format!("evt_sim_{id}_charge")),
        };
        let declined = |reason| ChargeOutcome::Declined {
            provider_event_id: event_id(format!("evt_sim_{id}_decline")),
            reason,
        };
        let outcome = match behaviour {
            Behaviour::Succeed => succeeded(),
            Behaviour::Decline(reason) => declined(reason),
            Behaviour::PayerOnly => match request.initiator {
                ChargeInitiator::Payer => succeeded(),
                ChargeInitiator::Merchant => declined(DeclineReason::Declined),
            },
            Behaviour::Delayed => {
                let promise = PendingWebhook {
                    event_id: format!("evt_sim_{id}_charge"),
                    tenant: request.tenant.clone(),
                    payment_id: request.payment_id,
                    amount: request.amount,
                    due_at_ms: due_in(self.inner.delay_ms),
                };
                // Durable before answering: the caller waits for the webhook and nothing else.
                // Already on disk (a repeat after a restart): it is scheduled already.
                let written = self
                    .inner
                    .pending
                    .save_new(&promise)
                    .await
                    .map_err(|err| ProviderError::Unavailable(err.to_string()))?;
                if written {
                    self.inner.schedule(promise);
                }
                ChargeOutcome::Pending
            }
        };
        charges.insert(request.payment_id, outcome.clone());
        Ok(outcome)
    }

    async fn cancel(&self, _tenant: &str, _payment_id: Uuid) -> Result<(), ProviderError> {
        // Nothing is held: charges capture at once, and a delayed one is deliberately left to
        // land (the late-capture case).
        Ok(())
    }

    async fn refund(&self, request: &RefundRequest) -> Result<RefundOutcome, ProviderError> {
        Ok(RefundOutcome::Succeeded {
            provider_event_id: event_id(format!("evt_sim_{}_refund", request.refund_id.simple())),
        })
    }
}

impl Inner {
    /// Delivers `promise` when it is due, then forgets it, unless the simulator stops first.
    fn schedule(self: &Arc<Self>, promise: PendingWebhook) {
        let inner = Arc::clone(self);
        let mut stopped = self.stopped.clone();
        tokio::spawn(async move {
            tokio::select! {
                // Stop asked, or the app is gone: the promise stays on disk for the next start.
                _ = stopped.wait_for(|stop| *stop) => {
                    debug!(payment_id = %promise.payment_id, "simulator stopping; webhook stays pending");
                }
                () = inner.deliver_when_due(&promise) => {}
            }
        });
    }

    async fn deliver_when_due(&self, promise: &PendingWebhook) {
        let wait_ms = promise
            .due_at_ms
            .saturating_sub(purse_runtime::clock::now().as_millis());
        if let Ok(wait_ms) = u64::try_from(wait_ms) {
            tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        }
        let event = promise.event();
        match self.deliver(&event).await {
            Delivery::Accepted => {}
            Delivery::Refused(status) => {
                warn!(event_id = %event.id, %status, "simulator webhook refused for good; dropped");
            }
            Delivery::GaveUp => {
                warn!(event_id = %event.id, "simulator webhook given up; delivered again at the next start");
                return;
            }
        }
        if let Err(err) = self.pending.remove(promise.payment_id).await {
            warn!(event_id = %event.id, error = %err, "simulator webhook delivered but still on disk; the next start repeats it");
        }
    }

    /// Delivers a webhook with bounded, doubling retries (our own endpoint may be starting).
    async fn deliver(&self, event: &WebhookEvent) -> Delivery {
        let body = serde_json::to_vec(event).expect("webhook events serialize");
        let mut pause_ms = WEBHOOK_RETRY_BASE_MS;
        for attempt in 1..=WEBHOOK_ATTEMPTS_MAX {
            // Signed at each attempt, as a provider does: a redelivery is fresh.
            let signature = self
                .secret
                .sign(purse_runtime::clock::now().as_millis(), &body);
            let request = hyper::Request::post(&self.webhook_url)
                .header("content-type", "application/json")
                .header(SIGNATURE_HEADER, signature)
                .body(Full::new(Bytes::from(body.clone())))
                .expect("a valid request");
            let sent = tokio::time::timeout(
                Duration::from_millis(WEBHOOK_TIMEOUT_MS),
                self.client.request(request),
            )
            .await;
            match sent {
                Ok(Ok(response)) => {
                    let status = response.status();
                    let _ = response.into_body().collect().await;
                    if status.is_success() {
                        info!(event_id = %event.id, attempt, "simulator webhook delivered");
                        return Delivery::Accepted;
                    }
                    if refused_for_good(status) {
                        return Delivery::Refused(status);
                    }
                    warn!(event_id = %event.id, attempt, %status, "simulator webhook not accepted yet");
                }
                Ok(Err(err)) => {
                    warn!(event_id = %event.id, attempt, error = %err, "simulator webhook failed")
                }
                Err(_) => warn!(event_id = %event.id, attempt, "simulator webhook timed out"),
            }
            if attempt < WEBHOOK_ATTEMPTS_MAX {
                tokio::time::sleep(Duration::from_millis(pause_ms)).await;
                pause_ms = (pause_ms * 2).min(WEBHOOK_RETRY_MAX_MS);
            }
        }
        Delivery::GaveUp
    }
}

/// A 4xx that a retry cannot change (bad signature, unknown intent, a contradiction); 408, 425
/// and 429 say "later".
fn refused_for_good(status: StatusCode) -> bool {
    status.is_client_error()
        && !matches!(
            status,
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_EARLY | StatusCode::TOO_MANY_REQUESTS
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    /// A simulator whose webhooks go nowhere (port 9, discard), keeping promises in `dir`.
    fn simulator_in(dir: &std::path::Path, stopped: watch::Receiver<bool>) -> Simulator {
        Simulator::start(
            SimulatorSettings {
                secret: WebhookSecret::from_bytes(b"secret-secret-secret".to_vec()),
                delay_ms: 10,
                webhook_url: "http://127.0.0.1:9/webhooks/simulator".into(),
                pending_dir: dir.join(pending::PENDING_DIR),
            },
            stopped,
        )
        .expect("simulator")
    }

    fn simulator() -> (Simulator, tempfile::TempDir, watch::Sender<bool>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let (stop, stopped) = watch::channel(false);
        (simulator_in(dir.path(), stopped), dir, stop)
    }

    async fn charge_as(
        sim: &Simulator,
        number: &str,
        payment_id: Uuid,
        initiator: ChargeInitiator,
    ) -> ChargeOutcome {
        let card = CardInput::parse(number, "12/39", "123").expect("card");
        let details = sim.tokenize(&card).await.expect("tokenized");
        assert!(!details.provider_token().contains(&number[..8]));
        charge_token(sim, details.provider_token(), payment_id, initiator).await
    }

    async fn charge_token(
        sim: &Simulator,
        token: &str,
        payment_id: Uuid,
        initiator: ChargeInitiator,
    ) -> ChargeOutcome {
        sim.charge(&ChargeRequest {
            tenant: "acme".into(),
            payment_id,
            token: token.to_owned(),
            amount: Decimal::new(2000, 2),
            asset: "EUR".into(),
            initiator,
        })
        .await
        .expect("charged")
    }

    async fn charge(sim: &Simulator, number: &str, payment_id: Uuid) -> ChargeOutcome {
        charge_as(sim, number, payment_id, ChargeInitiator::Payer).await
    }

    #[tokio::test]
    async fn test_cards_behave_as_documented() {
        let (sim, _dir, _stop) = simulator();
        let id = Uuid::now_v7();
        assert_eq!(
            charge(&sim, "4242424242424242", id).await,
            ChargeOutcome::Succeeded {
                provider_event_id: event_id(format!("evt_sim_{}_charge", id.simple()))
            }
        );
        assert!(matches!(
            charge(&sim, "4000000000000002", Uuid::now_v7()).await,
            ChargeOutcome::Declined {
                reason: DeclineReason::Declined,
                ..
            }
        ));
        assert!(matches!(
            charge(&sim, "4000000000009995", Uuid::now_v7()).await,
            ChargeOutcome::Declined {
                reason: DeclineReason::InsufficientFunds,
                ..
            }
        ));
        assert_eq!(
            charge(&sim, DELAYED_CARD, Uuid::now_v7()).await,
            ChargeOutcome::Pending
        );
        assert!(matches!(
            charge(&sim, "5555555555554444", Uuid::now_v7()).await,
            ChargeOutcome::Declined {
                reason: DeclineReason::Declined,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn charges_are_idempotent_by_payment_id() {
        let (sim, _dir, _stop) = simulator();
        let id = Uuid::now_v7();
        let first = charge(&sim, "4242424242424242", id).await;
        // Another card for the same payment: still the first answer.
        let again = charge(&sim, "4000000000000002", id).await;
        assert_eq!(first, again);
    }

    #[tokio::test]
    async fn tokens_keep_brand_last4_expiry_only() {
        let (sim, _dir, _stop) = simulator();
        let card = CardInput::parse("5555 5555 5555 4444", "03/31", "123").expect("card");
        let details = sim.tokenize(&card).await.expect("tokenized");
        assert_eq!(details.brand(), CardBrand::Mastercard);
        assert_eq!(
            (details.last4(), details.exp_month(), details.exp_year()),
            ("4444", 3, 2031)
        );
        assert!(details.provider_token().starts_with("tok_sim_declined_"));
        assert!(!details.provider_token().bytes().any(|b| b.is_ascii_digit()));
        let unknown = ChargeRequest {
            tenant: "acme".into(),
            payment_id: Uuid::now_v7(),
            token: "tok_other".into(),
            amount: Decimal::ONE,
            asset: "EUR".into(),
            initiator: ChargeInitiator::Payer,
        };
        assert!(matches!(
            sim.charge(&unknown).await,
            Err(ProviderError::UnknownToken)
        ));
    }

    #[tokio::test]
    async fn the_decline_after_save_card_pays_for_the_payer_only() {
        let (sim, _dir, _stop) = simulator();
        let card = CardInput::parse("4000 0000 0000 0341", "12/39", "123").expect("card");
        let details = sim.tokenize(&card).await.expect("tokenized");
        assert!(details.provider_token().starts_with("tok_sim_payeronly_"));
        assert_eq!(details.last4(), "0341");
        let token = details.provider_token();
        let on_page = Uuid::now_v7();
        assert_eq!(
            charge_token(&sim, token, on_page, ChargeInitiator::Payer).await,
            ChargeOutcome::Succeeded {
                provider_event_id: event_id(format!("evt_sim_{}_charge", on_page.simple()))
            }
        );
        // The processor repeating the page's charge gets the same answer.
        assert_eq!(
            charge_token(&sim, token, on_page, ChargeInitiator::Payer).await,
            charge_token(&sim, token, on_page, ChargeInitiator::Merchant).await,
        );
        // Later, as a stored card: declined, every time, restarts included (it is in the token).
        for _ in 0..2 {
            let later = Uuid::now_v7();
            assert_eq!(
                charge_token(&sim, token, later, ChargeInitiator::Merchant).await,
                ChargeOutcome::Declined {
                    provider_event_id: event_id(format!("evt_sim_{}_decline", later.simple())),
                    reason: DeclineReason::Declined,
                }
            );
        }
        let (restarted, _dir2, _stop2) = simulator();
        assert!(matches!(
            charge_token(&restarted, token, Uuid::now_v7(), ChargeInitiator::Merchant).await,
            ChargeOutcome::Declined { .. }
        ));
    }

    #[tokio::test]
    async fn a_delayed_charge_is_on_disk_before_it_answers_and_survives_a_stop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = PendingWebhooks::in_data_dir(dir.path());
        let (stop, stopped) = watch::channel(false);
        let sim = simulator_in(dir.path(), stopped);
        // Stopped first: nothing is delivered (nor removed) from here on.
        stop.send(true).expect("stop");
        let id = Uuid::now_v7();
        assert_eq!(charge(&sim, DELAYED_CARD, id).await, ChargeOutcome::Pending);
        let on_disk: Vec<_> = store
            .load()
            .expect("load")
            .into_iter()
            .map(|item| item.expect("readable"))
            .collect();
        assert_eq!(on_disk.len(), 1);
        assert_eq!(on_disk[0].payment_id, id);
        assert_eq!(
            on_disk[0].event_id,
            format!("evt_sim_{}_charge", id.simple())
        );
        assert_eq!(on_disk[0].amount, Decimal::new(2000, 2));
        drop(sim);
        drop(stop);

        // Restarted (still unable to deliver: nobody listens on port 9): a repeat of the charge
        // is still pending and keeps the one promise.
        let (_stop, stopped) = watch::channel(true);
        let restarted = simulator_in(dir.path(), stopped);
        assert_eq!(
            charge(&restarted, DELAYED_CARD, id).await,
            ChargeOutcome::Pending
        );
        let again = store.load().expect("load");
        assert_eq!(again.len(), 1);
        assert_eq!(*again[0].as_ref().expect("readable"), on_disk[0]);
    }

    #[test]
    fn only_retryable_answers_are_retried() {
        for status in [400, 401, 404, 409, 422] {
            assert!(refused_for_good(
                StatusCode::from_u16(status).expect("status")
            ));
        }
        for status in [408, 425, 429, 500, 502, 503] {
            assert!(!refused_for_good(
                StatusCode::from_u16(status).expect("status")
            ));
        }
    }

    #[test]
    fn brands_follow_the_leading_digits() {
        assert_eq!(brand_of("4242424242424242"), CardBrand::Visa);
        assert_eq!(brand_of("5555555555554444"), CardBrand::Mastercard);
        assert_eq!(brand_of("2223003122003222"), CardBrand::Mastercard);
        assert_eq!(brand_of("378282246310005"), CardBrand::Amex);
        assert_eq!(brand_of("6011111111111117"), CardBrand::Discover);
        assert_eq!(brand_of("3566002020360505"), CardBrand::Jcb);
        assert_eq!(brand_of("36227206271667"), CardBrand::DinersClub);
        assert_eq!(brand_of("6200000000000005"), CardBrand::UnionPay);
        assert_eq!(brand_of("9999999999999995"), CardBrand::Unknown);
    }
}
