//! Every payment and payment-method rule. `decide` reads the state and the command and returns
//! events or the first rule broken; it never changes anything.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::command::{
    CreatePayment, PaymentAction, PaymentCommand, PaymentMethodsAction, PaymentMethodsCommand,
};
use super::error::{PaymentError, PaymentField, PaymentMethodsError, PaymentMethodsField};
use super::event::{
    PaymentEvent, PaymentEventKind, PaymentIntentCreated, PaymentMethodsEvent,
    PaymentMethodsEventKind,
};
use super::state::{PaymentIntent, PaymentMethods, PaymentMethodsState, PaymentState};
use super::types::{CardDetails, PaymentStatus, ProviderEventId, RefundStatus};
use super::{MAX_PAYMENT_METHODS_PER_OWNER, MAX_REFUNDS_PER_PAYMENT};
use crate::decider::Context;
use crate::money::validate_amount;
use crate::support::text_fits;
use crate::wallet::{MAX_OWNER_BYTES, MAX_TENANT_BYTES};

pub(crate) fn decide(
    state: &PaymentState,
    command: &PaymentCommand,
    ctx: &Context,
) -> Result<Vec<PaymentEvent>, PaymentError> {
    let Some(intent) = state.intent() else {
        return match &command.action {
            PaymentAction::Create(create) => {
                check_text(PaymentField::Tenant, &command.tenant, MAX_TENANT_BYTES)?;
                check_text(PaymentField::Owner, &create.owner, MAX_OWNER_BYTES)?;
                let amount = validate_amount(&create.asset, create.amount).map_err(|error| {
                    PaymentError::InvalidAmount {
                        field: PaymentField::Amount,
                        error,
                    }
                })?;
                if create.expires_at.is_some_and(|at| at <= ctx.now) {
                    return Err(PaymentError::ExpiryNotInFuture);
                }
                Ok(vec![event(
                    ctx,
                    PaymentEventKind::PaymentIntentCreated(PaymentIntentCreated::new(
                        command.payment_id,
                        command.tenant.clone(),
                        CreatePayment {
                            amount,
                            ..create.clone()
                        },
                    )),
                )])
            }
            _ => Err(PaymentError::NotFound),
        };
    };
    // Tenancy first, so another tenant learns nothing about this intent.
    if intent.tenant != command.tenant || intent.id != command.payment_id {
        return Err(PaymentError::NotFound);
    }
    if let Some(id) = command.action.provider_event_id() {
        // The provider retries webhooks and may report one capture both synchronously and by
        // webhook: a repeat is accepted and changes nothing, whatever has happened since.
        if intent.has_provider_event(id) {
            return Ok(Vec::new());
        }
    }
    let rules = Rules { intent, ctx };
    match &command.action {
        PaymentAction::Create { .. } => Err(PaymentError::AlreadyExists),
        PaymentAction::Submit {
            card,
            payment_method_id,
            save_card,
        } => rules.submit(card, *payment_method_id, *save_card),
        PaymentAction::RecordSucceeded {
            provider_event_id,
            amount,
        } => rules.record_succeeded(provider_event_id, *amount),
        PaymentAction::RecordFailed {
            provider_event_id,
            reason,
        } => {
            rules.require_open()?;
            Ok(vec![event(
                ctx,
                PaymentEventKind::PaymentFailed {
                    provider_event_id: provider_event_id.clone(),
                    reason: *reason,
                },
            )])
        }
        PaymentAction::Cancel { reason } => {
            rules.require_open()?;
            Ok(vec![event(
                ctx,
                PaymentEventKind::PaymentCanceled { reason: *reason },
            )])
        }
        PaymentAction::RequestRefund { amount, reason } => {
            if intent.status != PaymentStatus::Succeeded {
                return Err(PaymentError::InvalidTransition {
                    from: intent.status,
                });
            }
            let amount = validate_amount(&intent.asset, *amount).map_err(|error| {
                PaymentError::InvalidAmount {
                    field: PaymentField::Amount,
                    error,
                }
            })?;
            if intent.refunds.len() >= MAX_REFUNDS_PER_PAYMENT {
                return Err(PaymentError::TooManyRefunds {
                    max: MAX_REFUNDS_PER_PAYMENT,
                });
            }
            let refundable = intent.refundable();
            if amount > refundable {
                return Err(PaymentError::RefundExceedsCaptured { refundable });
            }
            Ok(vec![event(
                ctx,
                PaymentEventKind::RefundRequested {
                    refund_id: ctx.id(0),
                    amount,
                    reason: *reason,
                    refundable_after: refundable - amount,
                },
            )])
        }
        PaymentAction::RecordRefundSucceeded {
            provider_event_id,
            refund_id,
        } => {
            let amount = rules.pending_refund(*refund_id)?;
            Ok(vec![event(
                ctx,
                PaymentEventKind::RefundSucceeded {
                    provider_event_id: provider_event_id.clone(),
                    refund_id: *refund_id,
                    amount,
                    refunded_after: intent.refunded() + amount,
                },
            )])
        }
        PaymentAction::RecordRefundFailed {
            provider_event_id,
            refund_id,
            reason,
        } => {
            let amount = rules.pending_refund(*refund_id)?;
            Ok(vec![event(
                ctx,
                PaymentEventKind::RefundFailed {
                    provider_event_id: provider_event_id.clone(),
                    refund_id: *refund_id,
                    amount,
                    reason: *reason,
                    refundable_after: intent.refundable() + amount,
                },
            )])
        }
    }
}

fn event(ctx: &Context, kind: PaymentEventKind) -> PaymentEvent {
    PaymentEvent {
        occurred_at: ctx.now,
        kind,
    }
}

fn check_text(field: PaymentField, text: &str, max_bytes: usize) -> Result<(), PaymentError> {
    if text_fits(text, max_bytes, true) {
        Ok(())
    } else {
        Err(PaymentError::InvalidText { field, max_bytes })
    }
}

/// The rules of an existing intent of the caller's tenant.
struct Rules<'a> {
    intent: &'a PaymentIntent,
    ctx: &'a Context,
}

impl Rules<'_> {
    fn require_open(&self) -> Result<(), PaymentError> {
        if self.intent.status.is_open() {
            Ok(())
        } else {
            Err(PaymentError::InvalidTransition {
                from: self.intent.status,
            })
        }
    }

    fn submit(
        &self,
        card: &CardDetails,
        payment_method_id: Option<Uuid>,
        save_card: bool,
    ) -> Result<Vec<PaymentEvent>, PaymentError> {
        let intent = self.intent;
        if intent.status != PaymentStatus::RequiresPaymentMethod {
            return Err(PaymentError::InvalidTransition {
                from: intent.status,
            });
        }
        if let Some(expires_at) = intent.expires_at
            && self.ctx.now >= expires_at
        {
            return Err(PaymentError::Expired { expires_at });
        }
        // An intent created for a stored card may only charge that card; a hosted-page intent
        // may be paid with any card, stored or new.
        if intent.payment_method_id.is_some() && payment_method_id != intent.payment_method_id {
            return Err(PaymentError::PaymentMethodMismatch {
                expected: intent.payment_method_id,
            });
        }
        if save_card && payment_method_id.is_some() {
            return Err(PaymentError::CardAlreadyStored);
        }
        if card.is_expired_at(self.ctx.now) {
            return Err(PaymentError::CardExpired);
        }
        Ok(vec![event(
            self.ctx,
            PaymentEventKind::PaymentSubmitted {
                card: card.clone(),
                payment_method_id,
                save_card,
            },
        )])
    }

    /// A capture is a fact about money that moved: it is recorded from every status but
    /// `succeeded`, including after a cancel or a decline (a late capture, which the top-up saga
    /// refunds). Refusing it would lose track of the payer's money.
    fn record_succeeded(
        &self,
        provider_event_id: &ProviderEventId,
        amount: Decimal,
    ) -> Result<Vec<PaymentEvent>, PaymentError> {
        let intent = self.intent;
        if intent.status == PaymentStatus::Succeeded {
            return Err(PaymentError::InvalidTransition {
                from: intent.status,
            });
        }
        if amount != intent.amount {
            return Err(PaymentError::CaptureAmountMismatch {
                expected: intent.amount,
            });
        }
        Ok(vec![event(
            self.ctx,
            PaymentEventKind::PaymentSucceeded {
                provider_event_id: provider_event_id.clone(),
                amount: intent.amount,
                previous_status: intent.status,
            },
        )])
    }

    /// The amount of the pending refund `refund_id`.
    fn pending_refund(&self, refund_id: Uuid) -> Result<Decimal, PaymentError> {
        let refund = self
            .intent
            .refund(refund_id)
            .ok_or(PaymentError::RefundNotFound)?;
        if refund.status != RefundStatus::Pending {
            return Err(PaymentError::RefundNotPending {
                status: refund.status,
            });
        }
        Ok(refund.amount)
    }
}

pub(crate) fn decide_methods(
    state: &PaymentMethodsState,
    command: &PaymentMethodsCommand,
    ctx: &Context,
) -> Result<Vec<PaymentMethodsEvent>, PaymentMethodsError> {
    for (field, text, max_bytes) in [
        (
            PaymentMethodsField::Tenant,
            &command.tenant,
            MAX_TENANT_BYTES,
        ),
        (PaymentMethodsField::Owner, &command.owner, MAX_OWNER_BYTES),
    ] {
        if !text_fits(text, max_bytes, true) {
            return Err(PaymentMethodsError::InvalidText { field, max_bytes });
        }
    }
    let methods = state.methods();
    if let Some(methods) = methods
        && (methods.tenant != command.tenant || methods.owner != command.owner)
    {
        return Err(PaymentMethodsError::NotFound);
    }
    let kind = match &command.action {
        PaymentMethodsAction::Save {
            card,
            source_payment_id,
        } => {
            if card.is_expired_at(ctx.now) {
                return Err(PaymentMethodsError::CardExpired);
            }
            if let Some(existing) = methods.and_then(|m| m.by_token(card.provider_token())) {
                return Err(PaymentMethodsError::AlreadySaved {
                    payment_method_id: existing.id,
                });
            }
            if methods.map_or(0, |m| m.methods.len()) >= MAX_PAYMENT_METHODS_PER_OWNER {
                return Err(PaymentMethodsError::TooManyPaymentMethods {
                    max: MAX_PAYMENT_METHODS_PER_OWNER,
                });
            }
            PaymentMethodsEventKind::PaymentMethodSaved {
                payment_method_id: ctx.id(0),
                tenant: command.tenant.clone(),
                owner: command.owner.clone(),
                card: card.clone(),
                source_payment_id: *source_payment_id,
            }
        }
        PaymentMethodsAction::Remove { payment_method_id } => {
            if methods
                .and_then(|m: &PaymentMethods| m.method(*payment_method_id))
                .is_none()
            {
                return Err(PaymentMethodsError::NotFound);
            }
            PaymentMethodsEventKind::PaymentMethodRemoved {
                payment_method_id: *payment_method_id,
            }
        }
    };
    Ok(vec![PaymentMethodsEvent {
        occurred_at: ctx.now,
        kind,
    }])
}
