//! The built-in `simulator` provider: test mode (DESIGN §7). No money moves.
//!
//! | card number                  | outcome                                                       |
//! |------------------------------|---------------------------------------------------------------|
//! | ending `4242` (4242 4242 4242 4242) | succeeds, captured at once                             |
//! | ending `0002` (4000 0000 0000 0002) | declined: `declined` ("Your card was declined.")        |
//! | ending `9995` (4000 0000 0000 9995) | declined: `insufficient_funds`                          |
//! | `4000 0000 0000 3220`        | pending; after `payments.simulator_delay_ms` a signed `charge.succeeded` webhook is POSTed to our own `/webhooks/simulator` |
//! | any other valid number       | declined: `declined`, so a real card never "succeeds" in test mode |
//!
//! The outcome is chosen at tokenization and carried in the token (`tok_sim_<outcome>_<random
//! letters>`), so a stored card keeps behaving the same across restarts. Charges are idempotent
//! by payment id: a repeat returns the first answer and schedules no second webhook. Provider
//! event ids are derived from the payment or refund id, so even a restarted simulator reports a
//! repeated charge under the same id and the payment stream ignores it. Cancelling does not stop
//! a delayed capture: that is how a capture landing after the top-up's deadline is produced.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use purse_domain::payment::{CardBrand, CardDetails, DeclineReason, ProviderEventId};
use tracing::{info, warn};
use uuid::Uuid;

use crate::provider::{
    CardInput, ChargeOutcome, ChargeRequest, PaymentProvider, ProviderError, RefundOutcome,
    RefundRequest,
};
use crate::webhook::{SIGNATURE_HEADER, WebhookEvent, WebhookKind, WebhookSecret};

/// The provider name (`config.payments.provider`, `/webhooks/simulator`).
pub const SIMULATOR: &str = "simulator";
/// The delayed test card: pending, then captured by webhook.
pub const DELAYED_CARD: &str = "4000000000003220";
/// Attempts to deliver the delayed card's webhook.
const WEBHOOK_ATTEMPTS_MAX: u32 = 5;
/// Wait before the first redelivery; doubles each time.
const WEBHOOK_RETRY_BASE_MS: u64 = 200;
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
}

impl Behaviour {
    fn of(card: &CardInput) -> Self {
        if card.number() == DELAYED_CARD {
            return Self::Delayed;
        }
        match card.last4() {
            "4242" => Self::Succeed,
            "9995" => Self::Decline(DeclineReason::InsufficientFunds),
            _ => Self::Decline(DeclineReason::Declined),
        }
    }

    fn token_word(self) -> &'static str {
        match self {
            Self::Succeed => "ok",
            Self::Delayed => "delayed",
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

/// The simulator.
pub struct Simulator {
    inner: Arc<Inner>,
}

struct Inner {
    secret: WebhookSecret,
    delay_ms: u64,
    webhook_url: String,
    client: Client<HttpConnector, Full<Bytes>>,
    // Bounded by the number of distinct payments charged in this process's life; acceptable in
    // test mode, and the derived event ids keep repeats harmless even without it.
    charges: Mutex<HashMap<Uuid, ChargeOutcome>>,
}

impl Simulator {
    /// A simulator that signs its webhooks with `secret` and POSTs them to `webhook_url`
    /// (`http://{payments listener}/webhooks/simulator`) `delay_ms` after a delayed charge.
    pub fn new(secret: WebhookSecret, delay_ms: u64, webhook_url: String) -> Self {
        Self {
            inner: Arc::new(Inner {
                secret,
                delay_ms,
                webhook_url,
                client: Client::builder(TokioExecutor::new()).build_http(),
                charges: Mutex::new(HashMap::new()),
            }),
        }
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
        let (outcome, first) = {
            let mut charges = self.inner.charges.lock().expect("charges lock");
            match charges.get(&request.payment_id) {
                Some(outcome) => (outcome.clone(), false),
                None => {
                    let id = request.payment_id.simple();
                    let outcome = match behaviour {
                        Behaviour::Succeed => ChargeOutcome::Succeeded {
                            provider_event_id: event_id(format!("evt_sim_{id}_charge")),
                        },
                        Behaviour::Decline(reason) => ChargeOutcome::Declined {
                            provider_event_id: event_id(format!("evt_sim_{id}_decline")),
                            reason,
                        },
                        Behaviour::Delayed => ChargeOutcome::Pending,
                    };
                    charges.insert(request.payment_id, outcome.clone());
                    (outcome, true)
                }
            }
        };
        if first && outcome == ChargeOutcome::Pending {
            let inner = self.inner.clone();
            let event = WebhookEvent {
                id: format!("evt_sim_{}_charge", request.payment_id.simple()),
                kind: WebhookKind::ChargeSucceeded {
                    tenant: request.tenant.clone(),
                    payment_id: request.payment_id,
                    amount: request.amount,
                },
            };
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(inner.delay_ms)).await;
                inner.deliver(&event).await;
            });
        }
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
    /// Delivers a webhook with bounded, doubling retries (our own endpoint may be starting).
    async fn deliver(&self, event: &WebhookEvent) {
        let body = serde_json::to_vec(event).expect("webhook events serialize");
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
                Ok(Ok(response)) if response.status().is_success() => {
                    let _ = response.into_body().collect().await;
                    info!(event_id = %event.id, attempt, "simulator webhook delivered");
                    return;
                }
                Ok(Ok(response)) => {
                    warn!(event_id = %event.id, attempt, status = %response.status(), "simulator webhook refused")
                }
                Ok(Err(err)) => {
                    warn!(event_id = %event.id, attempt, error = %err, "simulator webhook failed")
                }
                Err(_) => warn!(event_id = %event.id, attempt, "simulator webhook timed out"),
            }
            tokio::time::sleep(Duration::from_millis(
                WEBHOOK_RETRY_BASE_MS << (attempt - 1),
            ))
            .await;
        }
        warn!(event_id = %event.id, "simulator webhook given up");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn simulator() -> Simulator {
        Simulator::new(
            WebhookSecret::from_bytes(b"secret-secret-secret".to_vec()),
            10,
            "http://127.0.0.1:9/webhooks/simulator".into(),
        )
    }

    async fn charge(sim: &Simulator, number: &str, payment_id: Uuid) -> ChargeOutcome {
        let card = CardInput::parse(number, "12/39", "123").expect("card");
        let details = sim.tokenize(&card).await.expect("tokenized");
        assert!(!details.provider_token().contains(&number[..8]));
        sim.charge(&ChargeRequest {
            tenant: "acme".into(),
            payment_id,
            token: details.provider_token().to_owned(),
            amount: Decimal::new(2000, 2),
            asset: "EUR".into(),
        })
        .await
        .expect("charged")
    }

    #[tokio::test]
    async fn test_cards_behave_as_documented() {
        let sim = simulator();
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
        let sim = simulator();
        let id = Uuid::now_v7();
        let first = charge(&sim, "4242424242424242", id).await;
        // Another card for the same payment: still the first answer.
        let again = charge(&sim, "4000000000000002", id).await;
        assert_eq!(first, again);
    }

    #[tokio::test]
    async fn tokens_keep_brand_last4_expiry_only() {
        let sim = simulator();
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
        };
        assert!(matches!(
            sim.charge(&unknown).await,
            Err(ProviderError::UnknownToken)
        ));
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
