//! Every top-up rule. `decide` reads the state and the command and returns events or the first
//! rule broken; it never changes anything.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::command::{CreateTopUp, TopUpAction, TopUpCommand};
use super::error::{TopUpError, TopUpField};
use super::event::{TopUpCreated, TopUpEvent, TopUpEventKind};
use super::state::{TopUp, TopUpState};
use super::types::{GrantedCredit, TopUpFailureReason, TopUpStatus};
use super::{MAX_TOP_UP_TIMEOUT_MS, MIN_LOT_LIFETIME_AFTER_DEADLINE_MS, MIN_TOP_UP_TIMEOUT_MS};
use crate::decider::Context;
use crate::money::validate_amount;
use crate::support::text_fits;
use crate::wallet::{MAX_OWNER_BYTES, MAX_TENANT_BYTES, WalletStatus};

pub(crate) fn decide(
    state: &TopUpState,
    command: &TopUpCommand,
    ctx: &Context,
) -> Result<Vec<TopUpEvent>, TopUpError> {
    let Some(top_up) = state.top_up() else {
        return match &command.action {
            TopUpAction::Create(create) => create_top_up(command, ctx, create),
            _ => Err(TopUpError::NotFound),
        };
    };
    // Tenancy first, so another tenant learns nothing about this top-up.
    if top_up.created.tenant != command.tenant || top_up.created.top_up_id != command.top_up_id {
        return Err(TopUpError::NotFound);
    }
    match &command.action {
        TopUpAction::Create(_) => Err(TopUpError::AlreadyExists),
        TopUpAction::RecordPaymentCaptured { payment_id, amount } => {
            record_captured(top_up, *payment_id, *amount, ctx)
        }
        TopUpAction::Complete {
            paid_lot_id,
            granted,
        } => {
            require_created(top_up)?;
            if !top_up.captured {
                return Err(TopUpError::PaymentNotCaptured);
            }
            let excess = top_up.granted_amount();
            let granted_part = match granted {
                GrantedCredit::NotNeeded if excess.is_zero() => Decimal::ZERO,
                GrantedCredit::Credited { .. } if !excess.is_zero() => excess,
                GrantedCredit::Rejected { .. } if !excess.is_zero() => Decimal::ZERO,
                _ => return Err(TopUpError::GrantedCreditMismatch { excess }),
            };
            Ok(vec![event(
                ctx,
                TopUpEventKind::TopUpCompleted {
                    paid_lot_id: *paid_lot_id,
                    granted: *granted,
                    credited: top_up.created.amount + granted_part,
                },
            )])
        }
        TopUpAction::Expire => {
            require_created(top_up)?;
            if top_up.captured {
                return Err(TopUpError::AlreadyCaptured);
            }
            if ctx.now < top_up.created.expires_at {
                return Err(TopUpError::DeadlineNotReached {
                    expires_at: top_up.created.expires_at,
                });
            }
            Ok(vec![event(
                ctx,
                TopUpEventKind::TopUpExpired {
                    expires_at: top_up.created.expires_at,
                },
            )])
        }
        TopUpAction::Fail { reason } => {
            require_created(top_up)?;
            match reason {
                TopUpFailureReason::Declined { .. } if top_up.captured => {
                    return Err(TopUpError::AlreadyCaptured);
                }
                TopUpFailureReason::CreditRejected { .. } if !top_up.captured => {
                    return Err(TopUpError::PaymentNotCaptured);
                }
                _ => {}
            }
            Ok(vec![event(
                ctx,
                TopUpEventKind::TopUpFailed { reason: *reason },
            )])
        }
    }
}

fn event(ctx: &Context, kind: TopUpEventKind) -> TopUpEvent {
    TopUpEvent {
        occurred_at: ctx.now,
        kind,
    }
}

fn require_created(top_up: &TopUp) -> Result<(), TopUpError> {
    if top_up.status.is_final() {
        return Err(TopUpError::InvalidTransition {
            from: top_up.status,
        });
    }
    Ok(())
}

fn create_top_up(
    command: &TopUpCommand,
    ctx: &Context,
    create: &CreateTopUp,
) -> Result<Vec<TopUpEvent>, TopUpError> {
    // The payer is charged only for a credit the wallet can take, and only on their own card.
    if let Some(facts) = create.facts {
        if facts.wallet_status != WalletStatus::Open {
            return Err(TopUpError::WalletNotOpen {
                status: facts.wallet_status,
            });
        }
        if create.kind.uses_stored_card()
            && create.payment_method_id.is_some()
            && !facts.payment_method_on_file
        {
            return Err(TopUpError::PaymentMethodNotFound);
        }
    }
    for (field, text, max_bytes) in [
        (
            TopUpField::Tenant,
            command.tenant.as_str(),
            MAX_TENANT_BYTES,
        ),
        (TopUpField::Owner, create.owner.as_str(), MAX_OWNER_BYTES),
    ] {
        if !text_fits(text, max_bytes, true) {
            return Err(TopUpError::InvalidText { field, max_bytes });
        }
    }
    let amount = validate_amount(&create.asset, create.amount).map_err(|error| {
        TopUpError::InvalidAmount {
            field: TopUpField::Amount,
            error,
        }
    })?;
    let wallet_amount = validate_amount(&create.asset, create.wallet_amount).map_err(|error| {
        TopUpError::InvalidAmount {
            field: TopUpField::WalletAmount,
            error,
        }
    })?;
    if wallet_amount < amount {
        return Err(TopUpError::WalletAmountBelowAmount { amount });
    }
    if !(MIN_TOP_UP_TIMEOUT_MS..=MAX_TOP_UP_TIMEOUT_MS).contains(&create.timeout_ms) {
        return Err(TopUpError::InvalidTimeout {
            min_ms: MIN_TOP_UP_TIMEOUT_MS,
            max_ms: MAX_TOP_UP_TIMEOUT_MS,
        });
    }
    let expires_at = ctx.now.plus_millis(create.timeout_ms);
    // The credit follows the capture, which comes at the latest around the deadline: lots that
    // expire this long after it are always credited before they expire.
    let earliest = expires_at.plus_millis(MIN_LOT_LIFETIME_AFTER_DEADLINE_MS);
    if create.lots_expire_at.is_some_and(|at| at < earliest) {
        return Err(TopUpError::LotExpiryTooSoon { earliest });
    }
    match (create.kind.uses_stored_card(), create.payment_method_id) {
        (true, None) => {
            return Err(TopUpError::PaymentMethodRequired { kind: create.kind });
        }
        (false, Some(_)) => {
            return Err(TopUpError::PaymentMethodNotAllowed { kind: create.kind });
        }
        _ => {}
    }
    Ok(vec![event(
        ctx,
        TopUpEventKind::TopUpCreated(TopUpCreated {
            top_up_id: command.top_up_id,
            tenant: command.tenant.clone(),
            wallet_id: create.wallet_id,
            owner: create.owner.clone(),
            kind: create.kind,
            asset: create.asset.clone(),
            amount,
            wallet_amount,
            fee_rate: create.fee_rate,
            fee: create.fee_rate.fee_for(&create.asset, amount),
            lots_expire_at: create.lots_expire_at,
            payment_method_id: create.payment_method_id,
            payment_id: ctx.id(0),
            checkout_session_id: (!create.kind.uses_stored_card()).then(|| ctx.id(1)),
            expires_at,
        }),
    )])
}

/// A capture is a fact: it is recorded whatever the status. In time while `created`; after
/// expiry or a decline it is recorded as late (the top-up stays as it is and the saga refunds);
/// a capture already known changes nothing.
fn record_captured(
    top_up: &TopUp,
    payment_id: Uuid,
    amount: Decimal,
    ctx: &Context,
) -> Result<Vec<TopUpEvent>, TopUpError> {
    if payment_id != top_up.created.payment_id {
        return Err(TopUpError::PaymentMismatch {
            expected: top_up.created.payment_id,
        });
    }
    if amount != top_up.created.amount {
        return Err(TopUpError::CaptureAmountMismatch {
            expected: top_up.created.amount,
        });
    }
    if top_up.captured || top_up.late_capture.is_some() {
        return Ok(Vec::new());
    }
    let kind = match top_up.status {
        TopUpStatus::Created => TopUpEventKind::TopUpPaymentCaptured {
            payment_id,
            amount: top_up.created.amount,
        },
        TopUpStatus::Expired | TopUpStatus::Failed => TopUpEventKind::TopUpLateCaptureRecorded {
            payment_id,
            amount: top_up.created.amount,
        },
        // Completion requires a capture in time, so this is a repeat as well.
        TopUpStatus::Completed => return Ok(Vec::new()),
    };
    Ok(vec![event(ctx, kind)])
}
