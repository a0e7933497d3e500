//! What the checkout page, the webhooks and the processor share: sending payment commands with
//! keys derived from the payment id, and turning a provider's answer into the matching
//! `Record*` command.

use std::sync::Arc;

use purse_domain::idempotency::IdempotencyKey;
use purse_domain::payment::{
    CardDetails, PaymentAction, PaymentCommand, PaymentError, PaymentOutcome, ProviderEventId,
};
use purse_runtime::bus::CommandBus;
use purse_runtime::shard::{CommandError, CommandReply};
use purse_streams::payment::PaymentStream;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::provider::{
    ChargeInitiator, ChargeOutcome, ChargeRequest, PaymentProvider, ProviderError,
};
use crate::webhook::hex;

/// A payment command's result.
pub(crate) type PaymentResult = Result<CommandReply<PaymentOutcome>, CommandError<PaymentError>>;

/// Why charging failed.
#[derive(thiserror::Error, Debug)]
pub(crate) enum ChargeError {
    /// The provider did not answer usably; the processor charges again later (same payment id,
    /// so the same charge).
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// Recording the provider's answer failed.
    #[error("recording the charge: {0}")]
    Record(#[from] CommandError<PaymentError>),
}

/// The payment bus and the provider.
#[derive(Clone)]
pub(crate) struct Gateway {
    pub(crate) payments: Arc<dyn CommandBus<PaymentStream>>,
    pub(crate) provider: Arc<dyn PaymentProvider>,
}

/// A key derived from the payment id and a step: the same step sent twice replays.
pub(crate) fn derived_key(payment_id: Uuid, step: &str) -> IdempotencyKey {
    let text = format!("payment:{payment_id}:{step}");
    IdempotencyKey::parse(&text).expect("derived keys are short visible ASCII")
}

/// The key of a `Record*` command: one per provider event, hashed because provider ids may be
/// up to 255 bytes themselves.
pub(crate) fn provider_key(
    payment_id: Uuid,
    provider_event_id: &ProviderEventId,
) -> IdempotencyKey {
    let digest = Sha256::digest(provider_event_id.as_str().as_bytes());
    derived_key(payment_id, &format!("provider:{}", hex(&digest[..16])))
}

impl Gateway {
    /// Sends `action` to the intent `payment_id` of `tenant`.
    pub(crate) async fn send(
        &self,
        tenant: &str,
        payment_id: Uuid,
        action: PaymentAction,
        key: IdempotencyKey,
        correlation_id: String,
    ) -> PaymentResult {
        let command = PaymentCommand {
            tenant: tenant.to_owned(),
            payment_id,
            action,
        };
        self.payments.send(command, Some(key), correlation_id).await
    }

    /// Submits a tokenized card (hosted page or stored card). One key per payment: an intent is
    /// submitted once.
    pub(crate) async fn submit(
        &self,
        tenant: &str,
        payment_id: Uuid,
        card: CardDetails,
        payment_method_id: Option<Uuid>,
        save_card: bool,
    ) -> PaymentResult {
        let action = PaymentAction::Submit {
            card,
            payment_method_id,
            save_card,
        };
        self.send(
            tenant,
            payment_id,
            action,
            derived_key(payment_id, "submit"),
            correlation(payment_id),
        )
        .await
    }

    /// Charges the intent's card (idempotent at the provider by payment id) and records a
    /// synchronous answer. A pending charge is recorded later, by webhook.
    pub(crate) async fn charge(
        &self,
        tenant: &str,
        payment_id: Uuid,
        token: &str,
        amount: Decimal,
        asset: &str,
        initiator: ChargeInitiator,
    ) -> Result<ChargeOutcome, ChargeError> {
        let outcome = self
            .provider
            .charge(&ChargeRequest {
                tenant: tenant.to_owned(),
                payment_id,
                token: token.to_owned(),
                amount,
                asset: asset.to_owned(),
                initiator,
            })
            .await?;
        let action = match &outcome {
            ChargeOutcome::Succeeded { provider_event_id } => PaymentAction::RecordSucceeded {
                provider_event_id: provider_event_id.clone(),
                amount,
            },
            ChargeOutcome::Declined {
                provider_event_id,
                reason,
            } => PaymentAction::RecordFailed {
                provider_event_id: provider_event_id.clone(),
                reason: *reason,
            },
            ChargeOutcome::Pending => return Ok(outcome),
        };
        self.record(tenant, payment_id, action).await?;
        Ok(outcome)
    }

    /// Records what the provider reported (a `Record*` action). A repeat of the same provider
    /// event is accepted and changes nothing.
    pub(crate) async fn record(
        &self,
        tenant: &str,
        payment_id: Uuid,
        action: PaymentAction,
    ) -> PaymentResult {
        // Every Record* action carries a provider event id; anything else gets a step key.
        let key = action.provider_event_id().map_or_else(
            || derived_key(payment_id, "record"),
            |id| provider_key(payment_id, id),
        );
        self.send(tenant, payment_id, action, key, correlation(payment_id))
            .await
    }
}

/// Correlation id of gateway-originated commands: the payment, so its whole life greps together.
pub(crate) fn correlation(payment_id: Uuid) -> String {
    format!("payment-{payment_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_derived_from_the_payment_and_the_step() {
        let id = Uuid::nil();
        assert_eq!(
            derived_key(id, "submit").as_str(),
            "payment:00000000-0000-0000-0000-000000000000:submit"
        );
        let long = ProviderEventId::parse(&"e".repeat(255)).expect("id");
        let key = provider_key(id, &long);
        assert!(key.as_str().len() < 100);
        assert_eq!(key, provider_key(id, &long));
        let other = ProviderEventId::parse("evt_2").expect("id");
        assert_ne!(key, provider_key(id, &other));
    }
}
