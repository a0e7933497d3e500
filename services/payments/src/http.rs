//! The gateway's HTTP side: the hosted checkout page, provider webhooks, health and metrics.
//!
//! Checkout page element ids (stable, for people and browser tests): the form `checkout` with
//! inputs `card_number`, `expiry` (MM/YY), `cvc`, checkbox `save_card` and submit button `pay`;
//! every outcome page has an element `result` whose `data-status` is `succeeded`, `declined`,
//! `processing`, `expired`, `preparing` or `unavailable`; form errors show in `error`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper::body::Bytes;
use purse_domain::payment::{
    CardDetails, DeclineReason, PaymentAction, PaymentError, PaymentStatus, ProviderEventId,
    RefundFailureReason,
};
use purse_runtime::metrics::{self, Event, WebhookOutcome};
use purse_runtime::shard::CommandError;
use purse_store::{PaymentRow, ReadStore, TopUpRow};
use tracing::{info, warn};
use uuid::Uuid;

use crate::gateway::{ChargeError, Gateway};
use crate::provider::{CardInput, ChargeInitiator, ChargeOutcome};
use crate::webhook::{SIGNATURE_HEADER, SignatureError, WebhookEvent, WebhookKind, WebhookSecret};

/// Largest checkout form body.
pub const CHECKOUT_BODY_MAX_BYTES: usize = 8 * 1024;
/// Largest webhook body.
pub const WEBHOOK_BODY_MAX_BYTES: usize = 64 * 1024;
/// How long the page waits for the payment intent's row (the saga creates the intent just
/// after the top-up) before showing a self-refreshing "preparing" page.
const PAYMENT_ROW_WAIT_MS: u64 = 2_000;
/// Pause between looks at the store while waiting.
const PAYMENT_ROW_POLL_MS: u64 = 50;
/// Refresh period of the "preparing" and "processing" pages, in seconds.
const REFRESH_S: u32 = 2;

/// What the HTTP handlers share.
#[derive(Clone)]
pub(crate) struct HttpState {
    pub(crate) gateway: Gateway,
    pub(crate) store: Arc<dyn ReadStore>,
    pub(crate) secret: WebhookSecret,
    pub(crate) tolerance_ms: i64,
}

/// The router: `GET|POST /checkout/{session_id}`, `POST /webhooks/{provider}`, `GET /healthz`,
/// `GET /metrics`.
pub(crate) fn router(state: HttpState) -> Router {
    Router::new()
        .route(
            "/checkout/{session_id}",
            get(checkout_page)
                .post(checkout_submit)
                .layer(DefaultBodyLimit::max(CHECKOUT_BODY_MAX_BYTES)),
        )
        .route(
            "/webhooks/{provider}",
            axum::routing::post(webhook).layer(DefaultBodyLimit::max(WEBHOOK_BODY_MAX_BYTES)),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics::handler))
        .with_state(state)
}

// ---------------------------------------------------------------------------------------------
// Checkout

/// The checkout form. Every field defaults to empty so a malformed post is answered by the page
/// (never by an extractor error that could echo input).
#[derive(serde::Deserialize, Default)]
pub(crate) struct CheckoutForm {
    #[serde(default)]
    card_number: String,
    #[serde(default)]
    expiry: String,
    #[serde(default)]
    cvc: String,
    #[serde(default)]
    save_card: Option<String>,
}

/// What the payer sees.
enum Outcome {
    Form {
        top_up: TopUpRow,
        error: Option<String>,
    },
    Succeeded {
        top_up: TopUpRow,
    },
    Declined {
        message: String,
    },
    Processing,
    Expired {
        message: &'static str,
    },
    Preparing,
    NotFound,
    Unavailable,
}

async fn checkout_page(State(state): State<HttpState>, Path(session_id): Path<String>) -> Response {
    render(state.page_for(&session_id).await)
}

async fn checkout_submit(
    State(state): State<HttpState>,
    Path(session_id): Path<String>,
    Form(form): Form<CheckoutForm>,
) -> Response {
    render(state.submit(&session_id, form).await)
}

impl HttpState {
    async fn top_up(&self, session_id: &str) -> Result<TopUpRow, Outcome> {
        let session_id = Uuid::parse_str(session_id).map_err(|_| Outcome::NotFound)?;
        match self.store.get_top_up_by_checkout_session(session_id).await {
            Ok(Some(row)) => Ok(row),
            Ok(None) => Err(Outcome::NotFound),
            Err(err) => {
                warn!(error = %err, "checkout: read store failed");
                Err(Outcome::Unavailable)
            }
        }
    }

    /// The payment row, waiting (bounded) for the saga to create the intent.
    async fn payment(&self, payment_id: Uuid) -> Result<PaymentRow, Outcome> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(PAYMENT_ROW_WAIT_MS);
        loop {
            match self.store.get_payment(payment_id).await {
                Ok(Some(row)) => return Ok(row),
                Ok(None) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(PAYMENT_ROW_POLL_MS)).await;
                }
                Ok(None) => return Err(Outcome::Preparing),
                Err(err) => {
                    warn!(error = %err, "checkout: read store failed");
                    return Err(Outcome::Unavailable);
                }
            }
        }
    }

    async fn page_for(&self, session_id: &str) -> Outcome {
        let top_up = match self.top_up(session_id).await {
            Ok(row) => row,
            Err(outcome) => return outcome,
        };
        if let Some(outcome) = finished_top_up(&top_up) {
            return outcome;
        }
        let payment = match self.payment(top_up.payment_id).await {
            Ok(row) => row,
            Err(outcome) => return outcome,
        };
        match payment.status.as_str() {
            "requires_payment_method" if top_up.expires_at_ms <= now_ms() => {
                Outcome::Expired { message: EXPIRED }
            }
            "requires_payment_method" => Outcome::Form {
                top_up,
                error: None,
            },
            "processing" => Outcome::Processing,
            "succeeded" => Outcome::Succeeded { top_up },
            "failed" => Outcome::Declined {
                message: decline_message(
                    payment
                        .decline_reason
                        .as_deref()
                        .and_then(DeclineReason::parse)
                        .unwrap_or(DeclineReason::Declined),
                )
                .to_owned(),
            },
            _ => Outcome::Expired { message: EXPIRED },
        }
    }

    async fn submit(&self, session_id: &str, form: CheckoutForm) -> Outcome {
        let top_up = match self.top_up(session_id).await {
            Ok(row) => row,
            Err(outcome) => return outcome,
        };
        if let Some(outcome) = finished_top_up(&top_up) {
            return outcome;
        }
        // The number lives only in `card` (no Debug/Display that shows it) until tokenized.
        let card = match CardInput::parse(&form.card_number, &form.expiry, &form.cvc) {
            Ok(card) => card,
            Err(err) => {
                return Outcome::Form {
                    top_up,
                    error: Some(err.to_string()),
                };
            }
        };
        let save_card = form.save_card.is_some();
        drop(form);
        let tokenized = self.gateway.provider.tokenize(&card).await;
        drop(card);
        let details: CardDetails = match tokenized {
            Ok(details) => details,
            Err(err) => {
                warn!(error = %err, "checkout: tokenization failed");
                return Outcome::Unavailable;
            }
        };
        let token = details.provider_token().to_owned();
        let submitted = self
            .gateway
            .submit(&top_up.tenant, top_up.payment_id, details, None, save_card)
            .await;
        match submitted {
            Ok(_) => {}
            Err(CommandError::Rejected(rejection)) => {
                return match rejection {
                    PaymentError::NotFound => Outcome::Preparing,
                    PaymentError::Expired { .. } => Outcome::Expired { message: EXPIRED },
                    PaymentError::CardExpired => Outcome::Form {
                        top_up,
                        error: Some("This card has expired.".to_owned()),
                    },
                    // Submitted already (a second tab, a double click): show where it stands,
                    // from the intent itself (the read model may lag behind it).
                    PaymentError::InvalidTransition { from } => match from {
                        PaymentStatus::Succeeded => Outcome::Succeeded { top_up },
                        PaymentStatus::Failed => Outcome::Declined {
                            message: "This payment was declined. Please start a new top-up."
                                .to_owned(),
                        },
                        PaymentStatus::Canceled => Outcome::Expired { message: EXPIRED },
                        PaymentStatus::Processing | PaymentStatus::RequiresPaymentMethod => {
                            Outcome::Processing
                        }
                    },
                    _ => self.page_for(session_id).await,
                };
            }
            // The intent was submitted with another card: show where it stands.
            // If the read model still offers the form it lags behind the intent: the
            // self-refreshing "processing" page shows the outcome once it caught up.
            Err(CommandError::IdempotencyKeyReused) => {
                return match self.page_for(session_id).await {
                    Outcome::Form { .. } => Outcome::Processing,
                    other => other,
                };
            }
            Err(err) => {
                warn!(payment_id = %top_up.payment_id, error = %err, "checkout: submit failed");
                return Outcome::Unavailable;
            }
        }
        let charged = self
            .gateway
            .charge(
                &top_up.tenant,
                top_up.payment_id,
                &token,
                top_up.amount,
                &top_up.asset,
                // The payer typed the card on this page just now.
                ChargeInitiator::Payer,
            )
            .await;
        match charged {
            Ok(ChargeOutcome::Succeeded { .. }) => Outcome::Succeeded { top_up },
            Ok(ChargeOutcome::Declined { reason, .. }) => Outcome::Declined {
                message: decline_message(reason).to_owned(),
            },
            Ok(ChargeOutcome::Pending) => Outcome::Processing,
            // The submission is recorded: the processor charges it (same charge) and the page
            // shows the result on refresh.
            Err(ChargeError::Provider(err)) => {
                warn!(payment_id = %top_up.payment_id, error = %err, "checkout: charge failed; the processor retries");
                Outcome::Processing
            }
            Err(ChargeError::Record(err)) => {
                warn!(payment_id = %top_up.payment_id, error = %err, "checkout: recording the charge failed; the processor retries");
                Outcome::Processing
            }
        }
    }
}

const EXPIRED: &str = "This payment link has expired. Please start a new top-up.";

fn finished_top_up(top_up: &TopUpRow) -> Option<Outcome> {
    match top_up.status.as_str() {
        "completed" => Some(Outcome::Succeeded {
            top_up: top_up.clone(),
        }),
        "expired" => Some(Outcome::Expired { message: EXPIRED }),
        "failed" => {
            let reason = top_up
                .failure_reason
                .as_deref()
                .and_then(|reason| reason.strip_prefix("declined:"))
                .and_then(DeclineReason::parse);
            Some(match reason {
                Some(reason) => Outcome::Declined {
                    message: decline_message(reason).to_owned(),
                },
                None => Outcome::Declined {
                    message: "This top-up failed. You have not been charged for it; please \
                              start a new top-up."
                        .to_owned(),
                },
            })
        }
        _ => None,
    }
}

/// What the payer is told about a decline.
pub fn decline_message(reason: DeclineReason) -> &'static str {
    match reason {
        DeclineReason::Declined => "Your card was declined.",
        DeclineReason::InsufficientFunds => "Your card has insufficient funds.",
        DeclineReason::ExpiredCard => "Your card has expired.",
        DeclineReason::IncorrectCvc => "The security code (CVC) is incorrect.",
        DeclineReason::AuthenticationRequired => {
            "Your bank asked for an authentication that did not complete."
        }
        DeclineReason::Fraudulent => "Your bank refused this payment.",
        DeclineReason::ProcessingError => {
            "The payment could not be processed. Please try again later."
        }
    }
}

fn now_ms() -> i64 {
    purse_runtime::clock::now().as_millis()
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn html(status: StatusCode, title: &str, body: &str, refresh_s: Option<u32>) -> Response {
    let refresh = refresh_s
        .map(|s| format!("<meta http-equiv=\"refresh\" content=\"{s}\">"))
        .unwrap_or_default();
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{refresh}\
         <title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}\
         label{{display:block;margin:.8rem 0 .2rem}}input[type=text]{{width:100%;padding:.4rem;font-size:1rem}}\
         button{{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem}}#error{{color:#b00020}}</style>\
         </head><body>{body}</body></html>\n",
        title = escape(title),
    );
    let mut response = (status, page).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // Card data must never be cached or framed by another site.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
        ),
    );
    response
}

fn result(status: &str, heading: &str, message: &str) -> String {
    format!(
        "<div id=\"result\" data-status=\"{status}\"><h1>{}</h1><p id=\"message\">{}</p></div>",
        escape(heading),
        escape(message)
    )
}

fn render(outcome: Outcome) -> Response {
    match outcome {
        Outcome::Form { top_up, error } => {
            let amount = format!("{} {}", top_up.amount, top_up.asset);
            let error = error
                .map(|e| format!("<p id=\"error\" role=\"alert\">{}</p>", escape(&e)))
                .unwrap_or_default();
            // No `value` attributes: nothing the payer typed is ever sent back.
            let body = format!(
                "<h1>Top up your wallet</h1>\
                 <p>Amount: <strong id=\"amount\">{amount}</strong></p>{error}\
                 <form id=\"checkout\" method=\"post\" autocomplete=\"off\">\
                 <label for=\"card_number\">Card number</label>\
                 <input type=\"text\" id=\"card_number\" name=\"card_number\" inputmode=\"numeric\" autocomplete=\"cc-number\" required>\
                 <label for=\"expiry\">Expiry (MM/YY)</label>\
                 <input type=\"text\" id=\"expiry\" name=\"expiry\" placeholder=\"MM/YY\" autocomplete=\"cc-exp\" required>\
                 <label for=\"cvc\">CVC</label>\
                 <input type=\"text\" id=\"cvc\" name=\"cvc\" inputmode=\"numeric\" autocomplete=\"cc-csc\" required>\
                 <label><input type=\"checkbox\" id=\"save_card\" name=\"save_card\" value=\"on\"> Save this card for later top-ups</label>\
                 <button type=\"submit\" id=\"pay\">Pay {amount}</button>\
                 </form>",
                amount = escape(&amount),
            );
            let status = if error.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            html(status, "Top up", &body, None)
        }
        Outcome::Succeeded { top_up } => html(
            StatusCode::OK,
            "Payment received",
            &result(
                "succeeded",
                "Payment received",
                &format!(
                    "Thank you. {} {} is on its way to your wallet.",
                    top_up.amount, top_up.asset
                ),
            ),
            None,
        ),
        Outcome::Declined { message } => html(
            StatusCode::OK,
            "Payment declined",
            &result("declined", "Payment declined", &message),
            None,
        ),
        Outcome::Processing => html(
            StatusCode::OK,
            "Processing",
            &result(
                "processing",
                "Processing your payment",
                "Your bank is processing the payment. This page updates by itself.",
            ),
            Some(REFRESH_S),
        ),
        Outcome::Expired { message } => html(
            StatusCode::GONE,
            "Link expired",
            &result("expired", "This payment link has expired", message),
            None,
        ),
        Outcome::Preparing => html(
            StatusCode::OK,
            "Preparing",
            &result(
                "preparing",
                "Preparing your payment",
                "One moment please. This page updates by itself.",
            ),
            Some(REFRESH_S),
        ),
        Outcome::NotFound => html(
            StatusCode::NOT_FOUND,
            "Not found",
            &result(
                "not_found",
                "Unknown payment link",
                "Please check the link you followed.",
            ),
            None,
        ),
        Outcome::Unavailable => html(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again",
            &result(
                "unavailable",
                "Please try again",
                "The payment service is busy. Nothing was charged twice; please try again in a moment.",
            ),
            None,
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Webhooks

async fn webhook(
    State(state): State<HttpState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if provider != state.gateway.provider.name() {
        return (StatusCode::NOT_FOUND, "unknown provider\n").into_response();
    }
    let header = headers
        .get(SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if let Err(err) = state
        .secret
        .verify(header, &body, now_ms(), state.tolerance_ms)
    {
        metrics::record(Event::WebhookReceived {
            outcome: WebhookOutcome::RejectedSignature,
        });
        warn!(provider = %provider, error = %err, "webhook rejected");
        let status = match err {
            SignatureError::Malformed => StatusCode::BAD_REQUEST,
            SignatureError::Mismatch | SignatureError::Stale { .. } => StatusCode::UNAUTHORIZED,
        };
        return (status, format!("{err}\n")).into_response();
    }
    let event: WebhookEvent = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(err) => {
            metrics::record(Event::WebhookReceived {
                outcome: WebhookOutcome::RejectedOther,
            });
            return (
                StatusCode::BAD_REQUEST,
                format!("unreadable event: {err}\n"),
            )
                .into_response();
        }
    };
    let Ok(provider_event_id) = ProviderEventId::parse(&event.id) else {
        metrics::record(Event::WebhookReceived {
            outcome: WebhookOutcome::RejectedOther,
        });
        return (StatusCode::BAD_REQUEST, "invalid event id\n").into_response();
    };
    let (tenant, payment_id, action) = match webhook_action(event.kind, provider_event_id) {
        Ok(parts) => parts,
        Err(message) => {
            metrics::record(Event::WebhookReceived {
                outcome: WebhookOutcome::RejectedOther,
            });
            return (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response();
        }
    };
    match state.gateway.record(&tenant, payment_id, action).await {
        Ok(reply) if reply.outcome.provider_repeat || reply.replayed => {
            metrics::record(Event::WebhookReceived {
                outcome: WebhookOutcome::Duplicate,
            });
            info!(provider_event = %event.id, %payment_id, "webhook repeated; nothing changed");
            (StatusCode::OK, "duplicate\n").into_response()
        }
        Ok(_) => {
            metrics::record(Event::WebhookReceived {
                outcome: WebhookOutcome::Recorded,
            });
            info!(provider_event = %event.id, %payment_id, "webhook recorded");
            (StatusCode::OK, "recorded\n").into_response()
        }
        Err(CommandError::Rejected(PaymentError::NotFound)) => {
            metrics::record(Event::WebhookReceived {
                outcome: WebhookOutcome::RejectedOther,
            });
            (StatusCode::NOT_FOUND, "payment not found\n").into_response()
        }
        // The provider's report contradicts the intent (a second capture, another amount...):
        // retrying will not help; it is logged for someone to look at.
        Err(CommandError::Rejected(rejection)) => {
            metrics::record(Event::WebhookReceived {
                outcome: WebhookOutcome::RejectedOther,
            });
            warn!(provider_event = %event.id, %payment_id, error = %rejection, "webhook contradicts the payment");
            (StatusCode::CONFLICT, format!("{rejection}\n")).into_response()
        }
        Err(CommandError::IdempotencyKeyReused) => {
            metrics::record(Event::WebhookReceived {
                outcome: WebhookOutcome::RejectedOther,
            });
            warn!(provider_event = %event.id, %payment_id, "provider reused an event id for another event");
            (StatusCode::CONFLICT, "event id reused\n").into_response()
        }
        // Unknown outcome: the provider retries, which is safe.
        Err(err) => {
            warn!(provider_event = %event.id, %payment_id, error = %err, "webhook not recorded yet");
            (StatusCode::SERVICE_UNAVAILABLE, "try again\n").into_response()
        }
    }
}

fn webhook_action(
    kind: WebhookKind,
    provider_event_id: ProviderEventId,
) -> Result<(String, Uuid, PaymentAction), &'static str> {
    Ok(match kind {
        WebhookKind::ChargeSucceeded {
            tenant,
            payment_id,
            amount,
        } => (
            tenant,
            payment_id,
            PaymentAction::RecordSucceeded {
                provider_event_id,
                amount,
            },
        ),
        WebhookKind::ChargeFailed {
            tenant,
            payment_id,
            reason,
        } => (
            tenant,
            payment_id,
            PaymentAction::RecordFailed {
                provider_event_id,
                reason: DeclineReason::parse(&reason).ok_or("unknown decline reason")?,
            },
        ),
        WebhookKind::RefundSucceeded {
            tenant,
            payment_id,
            refund_id,
        } => (
            tenant,
            payment_id,
            PaymentAction::RecordRefundSucceeded {
                provider_event_id,
                refund_id,
            },
        ),
        WebhookKind::RefundFailed {
            tenant,
            payment_id,
            refund_id,
            reason,
        } => (
            tenant,
            payment_id,
            PaymentAction::RecordRefundFailed {
                provider_event_id,
                refund_id,
                reason: RefundFailureReason::parse(&reason)
                    .ok_or("unknown refund failure reason")?,
            },
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn every_decline_has_words() {
        for reason in DeclineReason::ALL {
            assert!(decline_message(*reason).ends_with('.'));
        }
    }
}
