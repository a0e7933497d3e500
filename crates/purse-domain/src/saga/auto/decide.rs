//! Every auto top-up rule: from an input and the saga's state to the saga's next facts, then,
//! on the state those facts lead to, whether an auto top-up starts now.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::error::{AutoTopUpError, AutoTopUpField};
use super::event::{AutoTopUpEvent, AutoTopUpEventKind, AutoTopUpFailure};
use super::input::{AutoTopUpCommand, AutoTopUpInput};
use super::rule::{
    AutoTopUpAmount, AutoTopUpRule, MAX_AUTO_TOP_UP_BACKOFF_MS, MAX_AUTO_TOP_UPS_PER_DAY,
    MIN_AUTO_TOP_UP_BACKOFF_MS,
};
use super::state::{AutoTopUp, AutoTopUpState};
use crate::decider::Context;
use crate::money::{Asset, validate_amount};
use crate::support::text_fits;
use crate::topup::{MAX_TOP_UP_TIMEOUT_MS, MIN_TOP_UP_TIMEOUT_MS, TopUpFailureReason, WalletFacts};
use crate::wallet::{MAX_OWNER_BYTES, MAX_TENANT_BYTES, WalletStatus};

use AutoTopUpEventKind as Kind;

pub(crate) fn decide(
    state: &AutoTopUpState,
    command: &AutoTopUpCommand,
    ctx: &Context,
) -> Result<Vec<AutoTopUpEvent>, AutoTopUpError> {
    let stamp = |kind| AutoTopUpEvent {
        occurred_at: ctx.now,
        kind,
    };
    let mut events: Vec<AutoTopUpEvent> = decide_kinds(state, command, ctx)?
        .into_iter()
        .map(stamp)
        .collect();
    // Whether a top-up starts is decided on the state the input leads to, after every input:
    // observations, outcomes, rule changes and the timer alike.
    let after = events
        .iter()
        .fold(state.clone(), |state, event| state.apply(event));
    if let Some(saga) = after.auto_top_up()
        && let Some(kind) = start(saga, ctx)
    {
        events.push(stamp(kind));
    }
    Ok(events)
}

fn decide_kinds(
    state: &AutoTopUpState,
    command: &AutoTopUpCommand,
    ctx: &Context,
) -> Result<Vec<Kind>, AutoTopUpError> {
    let Some(saga) = state.auto_top_up() else {
        return match &command.input {
            AutoTopUpInput::SetRule {
                tenant,
                owner,
                asset,
                rule,
                facts,
            } => {
                check_facts(facts)?;
                let rule = check_rule(tenant, owner, asset, rule)?;
                Ok(vec![Kind::AutoTopUpRuleSet {
                    wallet_id: command.wallet_id,
                    tenant: tenant.clone(),
                    owner: owner.clone(),
                    asset: asset.clone(),
                    rule,
                    below_threshold: false,
                    pending: false,
                }])
            }
            AutoTopUpInput::RemoveRule { .. } => Err(AutoTopUpError::NotFound),
            // No rule was ever set: nothing to react to.
            _ => Ok(vec![]),
        };
    };
    if saga.wallet_id != command.wallet_id {
        return Err(AutoTopUpError::NotFound);
    }
    match &command.input {
        AutoTopUpInput::SetRule {
            tenant,
            owner,
            asset,
            rule,
            facts,
        } => {
            if *tenant != saga.tenant || *owner != saga.owner {
                return Err(AutoTopUpError::NotFound);
            }
            check_facts(facts)?;
            if *asset != saga.asset {
                return Err(AutoTopUpError::AssetMismatch {
                    expected: saga.asset.code().to_owned(),
                });
            }
            let rule = check_rule(tenant, owner, asset, rule)?;
            let below_threshold = saga
                .available
                .is_some_and(|available| available < rule.threshold);
            // A new threshold makes a crossing only if it puts the balance on the other side.
            let pending = below_threshold && (saga.pending || !saga.below_threshold);
            Ok(vec![Kind::AutoTopUpRuleSet {
                wallet_id: saga.wallet_id,
                tenant: tenant.clone(),
                owner: owner.clone(),
                asset: asset.clone(),
                rule,
                below_threshold,
                pending,
            }])
        }
        AutoTopUpInput::RemoveRule { tenant } => {
            if *tenant != saga.tenant || saga.rule.is_none() {
                return Err(AutoTopUpError::NotFound);
            }
            Ok(vec![Kind::AutoTopUpRuleRemoved])
        }
        AutoTopUpInput::BalanceObserved {
            wallet_sequence,
            available,
        } => Ok(observe(saga, *wallet_sequence, *available)),
        AutoTopUpInput::TopUpCreated { top_up_id } => Ok(match saga.in_flight.as_ref() {
            Some(flight) if flight.top_up_id == *top_up_id && !flight.created => {
                vec![Kind::AutoTopUpTopUpCreated {
                    top_up_id: *top_up_id,
                }]
            }
            _ => vec![],
        }),
        AutoTopUpInput::TopUpRejected { top_up_id, error } => {
            let not_created = saga
                .in_flight
                .as_ref()
                .is_some_and(|flight| flight.top_up_id == *top_up_id && !flight.created);
            Ok(if not_created {
                vec![failed(
                    saga,
                    *top_up_id,
                    AutoTopUpFailure::CreateRejected {
                        error: error.clone(),
                    },
                    ctx,
                )]
            } else {
                vec![]
            })
        }
        AutoTopUpInput::TopUpCompleted { top_up_id } => Ok(if in_flight(saga, *top_up_id) {
            vec![Kind::AutoTopUpCompleted {
                top_up_id: *top_up_id,
            }]
        } else {
            vec![]
        }),
        AutoTopUpInput::TopUpFailed { top_up_id, reason } => Ok(if in_flight(saga, *top_up_id) {
            let failure = match *reason {
                TopUpFailureReason::Declined { reason } => AutoTopUpFailure::Declined { reason },
                TopUpFailureReason::CreditRejected { reason } => {
                    AutoTopUpFailure::CreditRejected { reason }
                }
            };
            vec![failed(saga, *top_up_id, failure, ctx)]
        } else {
            vec![]
        }),
        AutoTopUpInput::TopUpExpired { top_up_id } => Ok(if in_flight(saga, *top_up_id) {
            vec![failed(saga, *top_up_id, AutoTopUpFailure::Expired, ctx)]
        } else {
            vec![]
        }),
        AutoTopUpInput::Timer => Ok(vec![]),
    }
}

fn in_flight(saga: &AutoTopUp, top_up_id: Uuid) -> bool {
    saga.in_flight
        .as_ref()
        .is_some_and(|flight| flight.top_up_id == top_up_id)
}

/// Keeps what the start rules need: every observation below the threshold (the latest deficit
/// sizes a target-balance top-up) and the first one back above it. Repeats and older
/// observations (a re-consumed wallet partition) change nothing.
fn observe(saga: &AutoTopUp, wallet_sequence: u64, available: Decimal) -> Vec<Kind> {
    let Some(rule) = saga.rule.as_ref() else {
        return vec![];
    };
    if saga
        .last_sequence
        .is_some_and(|last| wallet_sequence <= last)
    {
        return vec![];
    }
    let below_threshold = available < rule.threshold;
    if !below_threshold && !saga.below_threshold && saga.available.is_some() {
        return vec![];
    }
    // Crossing below starts the wish for a top-up; being back above ends it.
    let pending = below_threshold && (saga.pending || !saga.below_threshold);
    vec![Kind::AutoTopUpBalanceObserved {
        wallet_sequence,
        available,
        below_threshold,
        pending,
    }]
}

/// A failure backs off: no auto top-up starts before `retry_at`. The crossing still wants its
/// top-up, so one starts at `retry_at` if the balance is still low and the cap allows.
fn failed(saga: &AutoTopUp, top_up_id: Uuid, reason: AutoTopUpFailure, ctx: &Context) -> Kind {
    Kind::AutoTopUpFailed {
        top_up_id,
        reason,
        retry_at: ctx.now.plus_millis(saga.backoff_ms),
        consecutive_failures: saga.consecutive_failures + 1,
    }
}

/// Starts one auto top-up when a crossing wants one, none is in flight, the back-off is over
/// and the daily cap allows it; reports the cap once per day when it is what stops it.
fn start(saga: &AutoTopUp, ctx: &Context) -> Option<Kind> {
    let rule = saga.rule.as_ref()?;
    if !saga.pending || saga.in_flight.is_some() {
        return None;
    }
    if saga.backoff_until.is_some_and(|until| ctx.now < until) {
        return None;
    }
    let amount = saga.next_amount()?;
    let day = ctx.now.utc_day();
    let (count, used) = saga.usage.on(day);
    let capped = count >= rule.daily_cap.max_count
        || rule
            .daily_cap
            .max_amount
            .is_some_and(|max| used + amount > max);
    if capped {
        return (saga.cap_reported_day != Some(day)).then_some(Kind::AutoTopUpCapReached {
            day,
            count,
            amount: used,
        });
    }
    Some(Kind::AutoTopUpStarted {
        top_up_id: ctx.id(0),
        amount,
        payment_method_id: rule.payment_method_id,
        fee_rate: rule.fee_rate,
        timeout_ms: rule.timeout_ms,
        day,
    })
}

/// A rule charges its owner's own card, for a wallet that can still take credit.
fn check_facts(facts: &WalletFacts) -> Result<(), AutoTopUpError> {
    if facts.wallet_status == WalletStatus::Closed {
        return Err(AutoTopUpError::WalletNotOpen {
            status: facts.wallet_status,
        });
    }
    if !facts.payment_method_on_file {
        return Err(AutoTopUpError::PaymentMethodNotFound);
    }
    Ok(())
}

/// Validates a rule and returns it with every amount at the asset's scale.
fn check_rule(
    tenant: &str,
    owner: &str,
    asset: &Asset,
    rule: &AutoTopUpRule,
) -> Result<AutoTopUpRule, AutoTopUpError> {
    for (field, text, max_bytes) in [
        (AutoTopUpField::Tenant, tenant, MAX_TENANT_BYTES),
        (AutoTopUpField::Owner, owner, MAX_OWNER_BYTES),
    ] {
        if !text_fits(text, max_bytes, true) {
            return Err(AutoTopUpError::InvalidText { field, max_bytes });
        }
    }
    let amount = |field, value| {
        validate_amount(asset, value)
            .map_err(|error| AutoTopUpError::InvalidAmount { field, error })
    };
    let threshold = amount(AutoTopUpField::Threshold, rule.threshold)?;
    let top_up_amount = match rule.amount {
        AutoTopUpAmount::Fixed { amount: fixed } => AutoTopUpAmount::Fixed {
            amount: amount(AutoTopUpField::Amount, fixed)?,
        },
        AutoTopUpAmount::TargetBalance { target } => {
            let target = amount(AutoTopUpField::TargetBalance, target)?;
            if target <= threshold {
                return Err(AutoTopUpError::TargetNotAboveThreshold { threshold });
            }
            AutoTopUpAmount::TargetBalance { target }
        }
    };
    if !(1..=MAX_AUTO_TOP_UPS_PER_DAY).contains(&rule.daily_cap.max_count) {
        return Err(AutoTopUpError::InvalidDailyCap {
            max: MAX_AUTO_TOP_UPS_PER_DAY,
        });
    }
    let max_amount = rule
        .daily_cap
        .max_amount
        .map(|max| amount(AutoTopUpField::DailyMaxAmount, max))
        .transpose()?;
    if let (AutoTopUpAmount::Fixed { amount: fixed }, Some(max)) = (top_up_amount, max_amount)
        && fixed > max
    {
        return Err(AutoTopUpError::CapBelowAmount { amount: fixed });
    }
    if !(MIN_AUTO_TOP_UP_BACKOFF_MS..=MAX_AUTO_TOP_UP_BACKOFF_MS).contains(&rule.backoff_ms) {
        return Err(AutoTopUpError::InvalidBackoff {
            min_ms: MIN_AUTO_TOP_UP_BACKOFF_MS,
            max_ms: MAX_AUTO_TOP_UP_BACKOFF_MS,
        });
    }
    if !(MIN_TOP_UP_TIMEOUT_MS..=MAX_TOP_UP_TIMEOUT_MS).contains(&rule.timeout_ms) {
        return Err(AutoTopUpError::InvalidTimeout {
            min_ms: MIN_TOP_UP_TIMEOUT_MS,
            max_ms: MAX_TOP_UP_TIMEOUT_MS,
        });
    }
    let mut rule = *rule;
    rule.threshold = threshold;
    rule.amount = top_up_amount;
    rule.daily_cap.max_amount = max_amount;
    Ok(rule)
}
