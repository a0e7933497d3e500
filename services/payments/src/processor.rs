//! The payment processor: reactions to payment events that need the provider.
//!
//! | event (state after it)                                  | does                                                    |
//! |---------------------------------------------------------|---------------------------------------------------------|
//! | `PaymentIntentCreated` with a stored card, still waiting | `Submit` the stored card (key `payment:{id}:submit`)    |
//! | `PaymentSubmitted`                                      | charge at the provider (idempotent by payment id; merchant-initiated for a stored card, else the payer's), then `RecordSucceeded`/`RecordFailed` (key per provider event) |
//! | `PaymentSucceeded` in time, payer asked to save the card | save it as a payment method (key `payment:{id}:save-card`) |
//! | `PaymentCanceled`                                       | provider cancel                                         |
//! | `RefundRequested`, still pending                        | provider refund, then `RecordRefundSucceeded`/`Failed`  |
//!
//! Every step is idempotent (derived keys, provider idempotency by payment or refund id, and
//! the payment stream ignoring repeated provider events), so the reactor may hand the same
//! event again after a restart. The hosted page charges synchronously too, to show the payer
//! the result at once; the processor's charge of the same submission is then a repeat.
//!
//! Stored cards (their provider tokens) are known from a second reactor over the
//! payment-methods topic, which fills [`StoredCards`] from offset 0 at every start.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use purse_domain::payment::PaymentMethodsError;
use purse_domain::payment::{
    CardDetails, DeclineReason, PaymentAction, PaymentError, PaymentEventKind,
    PaymentMethodsEventKind, PaymentStatus, ProviderEventId, RefundStatus,
};
use purse_domain::saga::{DispatchCommand, save_card_on_success};
use purse_runtime::bus::CommandBus;
use purse_runtime::reactor::{Reacted, Reaction, ReactionError};
use purse_runtime::shard::CommandError;
use purse_streams::payment::PaymentStream;
use purse_streams::payment_methods::PaymentMethodsStream;
use tracing::{debug, info, warn};
use uuid::Uuid;

use crate::gateway::{ChargeError, Gateway, correlation};
use crate::provider::{ChargeInitiator, ProviderError, RefundOutcome, RefundRequest};

/// Checkpoint name of the payment processor.
pub const PAYMENT_PROCESSOR: &str = "payment-processor";
/// Checkpoint name of the stored-card index (it re-reads from 0 anyway; the name keeps its
/// checkpoint apart).
pub const STORED_CARDS: &str = "payment-stored-cards";
/// Attempts to find a stored card before the intent is declined: the card's save may still be
/// on its way through the index.
const STORED_CARD_ATTEMPTS_MAX: u32 = 30;

/// A stored card and whose it is.
#[derive(Clone, Debug)]
struct StoredCard {
    tenant: String,
    owner: String,
    card: CardDetails,
}

/// Every stored card by payment method id, rebuilt from the payment-methods topic.
#[derive(Default)]
pub struct StoredCards {
    cards: Mutex<HashMap<Uuid, StoredCard>>,
    caught_up_partitions: AtomicU32,
    partitions: u32,
}

impl StoredCards {
    /// An empty index over a topic of `partitions` partitions.
    pub fn new(partitions: u32) -> Self {
        Self {
            partitions,
            ..Self::default()
        }
    }

    fn apply(&self, event: &Reacted<'_, PaymentMethodsStream>) {
        let mut cards = self.cards.lock().expect("stored cards lock");
        match &event.event.kind {
            PaymentMethodsEventKind::PaymentMethodSaved {
                payment_method_id,
                tenant,
                owner,
                card,
                ..
            } => {
                cards.insert(
                    *payment_method_id,
                    StoredCard {
                        tenant: tenant.clone(),
                        owner: owner.clone(),
                        card: card.clone(),
                    },
                );
            }
            PaymentMethodsEventKind::PaymentMethodRemoved { payment_method_id } => {
                cards.remove(payment_method_id);
            }
        }
    }

    /// The card `id` if it belongs to `tenant` and `owner`.
    fn find(&self, id: Uuid, tenant: &str, owner: &str) -> Option<CardDetails> {
        let cards = self.cards.lock().expect("stored cards lock");
        cards
            .get(&id)
            .filter(|stored| stored.tenant == tenant && stored.owner == owner)
            .map(|stored| stored.card.clone())
    }

    /// Whether every partition was read up to where the index started following it.
    fn caught_up(&self) -> bool {
        self.caught_up_partitions.load(Ordering::Acquire) >= self.partitions
    }
}

#[async_trait::async_trait]
impl purse_runtime::reactor::Reaction<PaymentMethodsStream> for StoredCards {
    async fn react(&self, event: &Reacted<'_, PaymentMethodsStream>) -> Result<(), ReactionError> {
        self.apply(event);
        Ok(())
    }

    fn replay(&self, event: &Reacted<'_, PaymentMethodsStream>) {
        self.apply(event);
    }

    async fn caught_up(&self, _partition: u32) -> Result<(), ReactionError> {
        self.caught_up_partitions.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }
}

/// The payment processor's reaction.
pub struct PaymentProcessor {
    gateway: Gateway,
    payment_methods: Arc<dyn CommandBus<PaymentMethodsStream>>,
    cards: Arc<StoredCards>,
    // Per payment: how often its stored card was looked for in vain. Entries are removed once
    // the card is found or the intent declined.
    missing_card_attempts: Mutex<HashMap<Uuid, u32>>,
}

impl PaymentProcessor {
    pub(crate) fn new(
        gateway: Gateway,
        payment_methods: Arc<dyn CommandBus<PaymentMethodsStream>>,
        cards: Arc<StoredCards>,
    ) -> Self {
        Self {
            gateway,
            payment_methods,
            cards,
            missing_card_attempts: Mutex::new(HashMap::new()),
        }
    }

    async fn submit_stored_card(
        &self,
        event: &Reacted<'_, PaymentStream>,
    ) -> Result<(), ReactionError> {
        let Some(intent) = event.state.intent() else {
            return Ok(());
        };
        let Some(method_id) = intent.payment_method_id() else {
            return Ok(());
        };
        if intent.status() != PaymentStatus::RequiresPaymentMethod {
            return Ok(());
        }
        let Some(card) = self.cards.find(method_id, intent.tenant(), intent.owner()) else {
            let attempts = {
                let mut missing = self.missing_card_attempts.lock().expect("attempts lock");
                let attempts = missing.entry(intent.id()).or_default();
                *attempts += 1;
                *attempts
            };
            if !self.cards.caught_up() || attempts < STORED_CARD_ATTEMPTS_MAX {
                return Err(ReactionError::Transient(format!(
                    "stored card {method_id} not known yet"
                )));
            }
            // The intent names a card its owner does not have: nothing can be charged. Declined
            // under a gateway-issued event id, so the top-up fails instead of waiting forever.
            warn!(payment_id = %intent.id(), payment_method_id = %method_id, "stored card not found; declining");
            let provider_event_id = gateway_event_id(intent.id(), "no-card");
            let result = self
                .gateway
                .record(
                    intent.tenant(),
                    intent.id(),
                    PaymentAction::RecordFailed {
                        provider_event_id,
                        reason: DeclineReason::ProcessingError,
                    },
                )
                .await;
            self.forget_attempts(intent.id());
            return settle(result.map(|_| ()));
        };
        self.forget_attempts(intent.id());
        let result = self
            .gateway
            .submit(intent.tenant(), intent.id(), card, Some(method_id), false)
            .await;
        settle(result.map(|_| ()))
    }

    fn forget_attempts(&self, payment_id: Uuid) {
        self.missing_card_attempts
            .lock()
            .expect("attempts lock")
            .remove(&payment_id);
    }

    async fn charge(&self, event: &Reacted<'_, PaymentStream>) -> Result<(), ReactionError> {
        let Some(intent) = event.state.intent() else {
            return Ok(());
        };
        let Some(card) = intent.card() else {
            return Ok(());
        };
        // An intent for a stored card is charged with no payer present (the processor submitted
        // it); a card typed on the hosted page is the payer's own charge, which the page made
        // first and this repeats.
        let initiator = if intent.payment_method_id().is_some() {
            ChargeInitiator::Merchant
        } else {
            ChargeInitiator::Payer
        };
        let result = self
            .gateway
            .charge(
                intent.tenant(),
                intent.id(),
                card.provider_token(),
                intent.amount(),
                intent.asset().code(),
                initiator,
            )
            .await;
        match result {
            Ok(outcome) => {
                debug!(payment_id = %intent.id(), ?outcome, "charged");
                Ok(())
            }
            Err(ChargeError::Provider(err)) => Err(provider_failure(err)),
            Err(ChargeError::Record(err)) => settle(Err(err)),
        }
    }

    async fn save_card(&self, event: &Reacted<'_, PaymentStream>) -> Result<(), ReactionError> {
        let Some(intent) = event.state.intent() else {
            return Ok(());
        };
        let Some(dispatch) = save_card_on_success(intent, event.event) else {
            return Ok(());
        };
        let DispatchCommand::PaymentMethods(command) = dispatch.command else {
            return Ok(());
        };
        let sent = self
            .payment_methods
            .send(
                command,
                Some(dispatch.idempotency_key),
                correlation(intent.id()),
            )
            .await;
        match sent {
            Ok(reply) => {
                info!(payment_id = %intent.id(), payment_method_id = ?reply.outcome.payment_method_id, "card saved");
                Ok(())
            }
            // Already stored, too many cards, expired since: the payer's wish cannot be met,
            // and the payment itself is unaffected.
            Err(CommandError::Rejected(rejection)) => {
                let level_warn = !matches!(rejection, PaymentMethodsError::AlreadySaved { .. });
                if level_warn {
                    warn!(payment_id = %intent.id(), error = %rejection, "card not saved");
                }
                Ok(())
            }
            Err(CommandError::IdempotencyKeyReused) => Ok(()),
            Err(err) => Err(ReactionError::Transient(err.to_string())),
        }
    }

    async fn refund(
        &self,
        event: &Reacted<'_, PaymentStream>,
        refund_id: Uuid,
    ) -> Result<(), ReactionError> {
        let Some(intent) = event.state.intent() else {
            return Ok(());
        };
        let Some(refund) = intent.refund(refund_id) else {
            return Ok(());
        };
        if refund.status() != RefundStatus::Pending {
            return Ok(());
        }
        let outcome = self
            .gateway
            .provider
            .refund(&RefundRequest {
                tenant: intent.tenant().to_owned(),
                payment_id: intent.id(),
                refund_id,
                amount: refund.amount(),
            })
            .await
            .map_err(provider_failure)?;
        let action = match outcome {
            RefundOutcome::Succeeded { provider_event_id } => {
                PaymentAction::RecordRefundSucceeded {
                    provider_event_id,
                    refund_id,
                }
            }
            RefundOutcome::Failed {
                provider_event_id,
                reason,
            } => PaymentAction::RecordRefundFailed {
                provider_event_id,
                refund_id,
                reason,
            },
        };
        settle(
            self.gateway
                .record(intent.tenant(), intent.id(), action)
                .await
                .map(|_| ()),
        )
    }
}

#[async_trait::async_trait]
impl Reaction<PaymentStream> for PaymentProcessor {
    async fn react(&self, event: &Reacted<'_, PaymentStream>) -> Result<(), ReactionError> {
        match &event.event.kind {
            PaymentEventKind::PaymentIntentCreated { .. } => self.submit_stored_card(event).await,
            PaymentEventKind::PaymentSubmitted { .. } => self.charge(event).await,
            PaymentEventKind::PaymentSucceeded { .. } => self.save_card(event).await,
            PaymentEventKind::PaymentCanceled { .. } => {
                let Some(intent) = event.state.intent() else {
                    return Ok(());
                };
                self.gateway
                    .provider
                    .cancel(intent.tenant(), intent.id())
                    .await
                    .map_err(provider_failure)
            }
            PaymentEventKind::RefundRequested { refund_id, .. } => {
                self.refund(event, *refund_id).await
            }
            PaymentEventKind::PaymentFailed { .. }
            | PaymentEventKind::RefundSucceeded { .. }
            | PaymentEventKind::RefundFailed { .. } => Ok(()),
        }
    }
}

/// A provider event id the gateway issues for an answer it gives itself.
fn gateway_event_id(payment_id: Uuid, what: &str) -> ProviderEventId {
    ProviderEventId::parse(&format!("purse_{}_{what}", payment_id.simple()))
        .expect("short visible ASCII")
}

fn provider_failure(err: ProviderError) -> ReactionError {
    ReactionError::Transient(format!("provider: {err}"))
}

/// What a payment command's failure means for a reaction: a rejection says the step is done or
/// can no longer be done (submitted already, no longer open, expired): nothing to retry.
fn settle(result: Result<(), CommandError<PaymentError>>) -> Result<(), ReactionError> {
    match result {
        Ok(()) => Ok(()),
        Err(CommandError::Rejected(rejection)) => {
            debug!(error = %rejection, "payment step already settled");
            Ok(())
        }
        // Same key, other request: another path (the hosted page) did this step first.
        Err(CommandError::IdempotencyKeyReused) => Ok(()),
        Err(
            err @ (CommandError::Retry
            | CommandError::StreamHalted
            | CommandError::Unavailable(_)
            | CommandError::Timeout { .. }),
        ) => Err(ReactionError::Transient(err.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_event_ids_are_valid_provider_ids() {
        let id = gateway_event_id(Uuid::nil(), "no-card");
        assert_eq!(
            id.as_str(),
            "purse_00000000000000000000000000000000_no-card"
        );
    }
}
