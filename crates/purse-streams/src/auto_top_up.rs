//! Auto top-up sagas: one internal stream per wallet with a rule, projected into rule rows.

pub use crate::payment_rows::{auto_top_up_failure_text, auto_top_up_rows};

use purse_domain::Timestamp;
use purse_domain::saga::{
    AutoTopUpAmount, AutoTopUpDecider, AutoTopUpEvent, AutoTopUpEventKind, AutoTopUpFailure,
    AutoTopUpRule, DailyCap,
};
use purse_proto::event::v1 as pb;
use purse_proto::event::v1::auto_top_up_event::Event as E;
use purse_runtime::codec::{
    CodecError, asset_field, decimal_field, optional_decimal_field, uuid_field,
};
use purse_runtime::topics::DeciderTopics;

use crate::payment::{decline_reason_from_proto, decline_reason_to_proto};
use crate::top_up::{
    credit_rejection_from_proto, credit_rejection_to_proto, fee_rate_field, rejection_from_proto,
    rejection_to_proto,
};

crate::bind_decider!(
    /// The auto top-up saga as the engine drives it.
    AutoTopUpStream => AutoTopUpDecider
);

crate::codec::event_codec!(AutoTopUpStream, AutoTopUpEvent, "auto_top_up", proto: AutoTopUp);

/// Where its commands and events travel.
pub const TOPICS: DeciderTopics = DeciderTopics {
    commands: "purse.saga.auto_topup.commands",
    events: "purse.saga.auto_topup.events",
    group: "purse-saga-auto-topups",
};

fn rule_to_proto(rule: &AutoTopUpRule) -> pb::AutoTopUpRule {
    use pb::auto_top_up_rule::Amount;
    pb::AutoTopUpRule {
        threshold: rule.threshold.to_string(),
        amount: Some(match rule.amount {
            AutoTopUpAmount::Fixed { amount } => Amount::FixedAmount(amount.to_string()),
            AutoTopUpAmount::TargetBalance { target } => Amount::TargetBalance(target.to_string()),
        }),
        payment_method_id: rule.payment_method_id.to_string(),
        daily_cap: Some(pb::AutoTopUpDailyCap {
            max_count: rule.daily_cap.max_count,
            max_amount: rule.daily_cap.max_amount.map(|amount| amount.to_string()),
        }),
        backoff_ms: rule.backoff_ms,
        fee_rate: rule.fee_rate.as_percent().to_string(),
        timeout_ms: rule.timeout_ms,
    }
}

fn rule_from_proto(rule: Option<&pb::AutoTopUpRule>) -> Result<AutoTopUpRule, CodecError> {
    use pb::auto_top_up_rule::Amount;
    let rule = rule.ok_or(CodecError::Field { field: "rule" })?;
    let daily_cap = rule.daily_cap.as_ref().ok_or(CodecError::Field {
        field: "rule.daily_cap",
    })?;
    Ok(AutoTopUpRule {
        threshold: decimal_field(&rule.threshold, "rule.threshold")?,
        amount: match rule.amount.as_ref() {
            Some(Amount::FixedAmount(amount)) => AutoTopUpAmount::Fixed {
                amount: decimal_field(amount, "rule.fixed_amount")?,
            },
            Some(Amount::TargetBalance(target)) => AutoTopUpAmount::TargetBalance {
                target: decimal_field(target, "rule.target_balance")?,
            },
            None => {
                return Err(CodecError::Field {
                    field: "rule.amount",
                });
            }
        },
        payment_method_id: uuid_field(&rule.payment_method_id, "rule.payment_method_id")?,
        daily_cap: DailyCap {
            max_count: daily_cap.max_count,
            max_amount: optional_decimal_field(
                daily_cap.max_amount.as_deref(),
                "rule.daily_cap.max_amount",
            )?,
        },
        backoff_ms: rule.backoff_ms,
        fee_rate: fee_rate_field(&rule.fee_rate, "rule.fee_rate")?,
        timeout_ms: rule.timeout_ms,
    })
}

fn failure_to_proto(failure: &AutoTopUpFailure) -> pb::AutoTopUpFailure {
    use pb::auto_top_up_failure::{Expired, Reason};
    pb::AutoTopUpFailure {
        reason: Some(match failure {
            AutoTopUpFailure::Declined { reason } => {
                Reason::Declined(decline_reason_to_proto(*reason))
            }
            AutoTopUpFailure::CreditRejected { reason } => {
                Reason::CreditRejected(credit_rejection_to_proto(*reason))
            }
            AutoTopUpFailure::Expired => Reason::Expired(Expired {}),
            AutoTopUpFailure::CreateRejected { error } => {
                Reason::CreateRejected(rejection_to_proto(error))
            }
        }),
    }
}

fn failure_from_proto(
    failure: Option<&pb::AutoTopUpFailure>,
) -> Result<AutoTopUpFailure, CodecError> {
    use pb::auto_top_up_failure::Reason;
    match failure.and_then(|failure| failure.reason.as_ref()) {
        Some(Reason::Declined(reason)) => Ok(AutoTopUpFailure::Declined {
            reason: decline_reason_from_proto(*reason, "reason.declined")?,
        }),
        Some(Reason::CreditRejected(reason)) => Ok(AutoTopUpFailure::CreditRejected {
            reason: credit_rejection_from_proto(*reason, "reason.credit_rejected")?,
        }),
        Some(Reason::Expired(_)) => Ok(AutoTopUpFailure::Expired),
        Some(Reason::CreateRejected(rejection)) => Ok(AutoTopUpFailure::CreateRejected {
            error: rejection_from_proto(Some(rejection))?,
        }),
        None => Err(CodecError::Field { field: "reason" }),
    }
}

fn to_proto(kind: &AutoTopUpEventKind) -> pb::AutoTopUpEvent {
    use AutoTopUpEventKind as K;
    let event = match kind {
        K::AutoTopUpRuleSet {
            wallet_id,
            tenant,
            owner,
            asset,
            rule,
            below_threshold,
            pending,
        } => E::AutoTopUpRuleSet(pb::AutoTopUpRuleSet {
            wallet_id: wallet_id.to_string(),
            tenant: tenant.clone(),
            owner: owner.clone(),
            asset: asset.code().to_owned(),
            asset_scale: asset.scale(),
            rule: Some(rule_to_proto(rule)),
            below_threshold: *below_threshold,
            pending: *pending,
        }),
        K::AutoTopUpRuleRemoved => E::AutoTopUpRuleRemoved(pb::AutoTopUpRuleRemoved {}),
        K::AutoTopUpBalanceObserved {
            wallet_sequence,
            available,
            below_threshold,
            pending,
        } => E::AutoTopUpBalanceObserved(pb::AutoTopUpBalanceObserved {
            wallet_sequence: *wallet_sequence,
            available: available.to_string(),
            below_threshold: *below_threshold,
            pending: *pending,
        }),
        K::AutoTopUpStarted {
            top_up_id,
            amount,
            payment_method_id,
            fee_rate,
            timeout_ms,
            day,
        } => E::AutoTopUpStarted(pb::AutoTopUpStarted {
            top_up_id: top_up_id.to_string(),
            amount: amount.to_string(),
            payment_method_id: payment_method_id.to_string(),
            fee_rate: fee_rate.as_percent().to_string(),
            timeout_ms: *timeout_ms,
            day: *day,
        }),
        K::AutoTopUpTopUpCreated { top_up_id } => {
            E::AutoTopUpTopUpCreated(pb::AutoTopUpTopUpCreated {
                top_up_id: top_up_id.to_string(),
            })
        }
        K::AutoTopUpCompleted { top_up_id } => E::AutoTopUpCompleted(pb::AutoTopUpCompleted {
            top_up_id: top_up_id.to_string(),
        }),
        K::AutoTopUpFailed {
            top_up_id,
            reason,
            retry_at,
            consecutive_failures,
        } => E::AutoTopUpFailed(pb::AutoTopUpFailed {
            top_up_id: top_up_id.to_string(),
            reason: Some(failure_to_proto(reason)),
            retry_at_ms: retry_at.as_millis(),
            consecutive_failures: *consecutive_failures,
        }),
        K::AutoTopUpCapReached { day, count, amount } => {
            E::AutoTopUpCapReached(pb::AutoTopUpCapReached {
                day: *day,
                count: *count,
                amount: amount.to_string(),
            })
        }
    };
    pb::AutoTopUpEvent { event: Some(event) }
}

fn from_proto(message: &pb::AutoTopUpEvent) -> Result<AutoTopUpEventKind, CodecError> {
    use AutoTopUpEventKind as K;
    Ok(match message.event.as_ref() {
        Some(E::AutoTopUpRuleSet(e)) => K::AutoTopUpRuleSet {
            wallet_id: uuid_field(&e.wallet_id, "wallet_id")?,
            tenant: e.tenant.clone(),
            owner: e.owner.clone(),
            asset: asset_field(&e.asset, e.asset_scale, "asset")?,
            rule: rule_from_proto(e.rule.as_ref())?,
            below_threshold: e.below_threshold,
            pending: e.pending,
        },
        Some(E::AutoTopUpRuleRemoved(_)) => K::AutoTopUpRuleRemoved,
        Some(E::AutoTopUpBalanceObserved(e)) => K::AutoTopUpBalanceObserved {
            wallet_sequence: e.wallet_sequence,
            available: decimal_field(&e.available, "available")?,
            below_threshold: e.below_threshold,
            pending: e.pending,
        },
        Some(E::AutoTopUpStarted(e)) => K::AutoTopUpStarted {
            top_up_id: uuid_field(&e.top_up_id, "top_up_id")?,
            amount: decimal_field(&e.amount, "amount")?,
            payment_method_id: uuid_field(&e.payment_method_id, "payment_method_id")?,
            fee_rate: fee_rate_field(&e.fee_rate, "fee_rate")?,
            timeout_ms: e.timeout_ms,
            day: e.day,
        },
        Some(E::AutoTopUpTopUpCreated(e)) => K::AutoTopUpTopUpCreated {
            top_up_id: uuid_field(&e.top_up_id, "top_up_id")?,
        },
        Some(E::AutoTopUpCompleted(e)) => K::AutoTopUpCompleted {
            top_up_id: uuid_field(&e.top_up_id, "top_up_id")?,
        },
        Some(E::AutoTopUpFailed(e)) => K::AutoTopUpFailed {
            top_up_id: uuid_field(&e.top_up_id, "top_up_id")?,
            reason: failure_from_proto(e.reason.as_ref())?,
            retry_at: Timestamp::from_millis(e.retry_at_ms),
            consecutive_failures: e.consecutive_failures,
        },
        Some(E::AutoTopUpCapReached(e)) => K::AutoTopUpCapReached {
            day: e.day,
            count: e.count,
            amount: decimal_field(&e.amount, "amount")?,
        },
        None => return Err(CodecError::Field { field: "event" }),
    })
}

#[cfg(test)]
mod tests {

    use purse_domain::money::Asset;
    use purse_domain::payment::DeclineReason;
    use purse_domain::topup::{CreditRejection, FeeRate, TopUpError, TopUpKind};
    use purse_proto::event::v1::event_envelope::Payload;
    use rust_decimal::Decimal;
    use uuid::Uuid;

    use super::*;
    use crate::codec::round_trip_each;

    fn rule(amount: AutoTopUpAmount, max_amount: Option<Decimal>) -> AutoTopUpRule {
        AutoTopUpRule {
            threshold: Decimal::new(500, 2),
            amount,
            payment_method_id: Uuid::from_u128(3),
            daily_cap: DailyCap {
                max_count: 3,
                max_amount,
            },
            backoff_ms: 3_600_000,
            fee_rate: FeeRate::percent(Decimal::new(125, 4)).unwrap(),
            timeout_ms: 900_000,
        }
    }

    #[test]
    fn every_event_is_written_as_its_proto_message_and_reads_back() {
        use AutoTopUpEventKind as K;
        let top_up_id = Uuid::from_u128(4);
        let rule_set = |rule, below_threshold, pending| K::AutoTopUpRuleSet {
            wallet_id: Uuid::from_u128(1),
            tenant: "dev".into(),
            owner: "olga".into(),
            asset: Asset::parse("USD", None).unwrap(),
            rule,
            below_threshold,
            pending,
        };
        let mut kinds = vec![
            rule_set(
                rule(
                    AutoTopUpAmount::Fixed {
                        amount: Decimal::new(2500, 2),
                    },
                    None,
                ),
                false,
                false,
            ),
            rule_set(
                rule(
                    AutoTopUpAmount::TargetBalance {
                        target: Decimal::new(5000, 2),
                    },
                    Some(Decimal::new(10_000, 2)),
                ),
                true,
                true,
            ),
            K::AutoTopUpRuleRemoved,
            K::AutoTopUpBalanceObserved {
                wallet_sequence: 17,
                available: Decimal::new(420, 2),
                below_threshold: true,
                pending: true,
            },
            K::AutoTopUpStarted {
                top_up_id,
                amount: Decimal::new(2500, 2),
                payment_method_id: Uuid::from_u128(3),
                fee_rate: FeeRate::ZERO,
                timeout_ms: 900_000,
                day: 20_795,
            },
            K::AutoTopUpTopUpCreated { top_up_id },
            K::AutoTopUpCompleted { top_up_id },
            K::AutoTopUpCapReached {
                day: 20_795,
                count: 3,
                amount: Decimal::new(7500, 2),
            },
        ];
        let failures = DeclineReason::ALL
            .iter()
            .map(|reason| AutoTopUpFailure::Declined { reason: *reason })
            .chain(
                CreditRejection::ALL
                    .iter()
                    .map(|reason| AutoTopUpFailure::CreditRejected { reason: *reason }),
            )
            .chain([
                AutoTopUpFailure::Expired,
                AutoTopUpFailure::CreateRejected {
                    error: TopUpError::PaymentMethodRequired {
                        kind: TopUpKind::Auto,
                    },
                },
                AutoTopUpFailure::CreateRejected {
                    error: TopUpError::AlreadyExists,
                },
            ]);
        kinds.extend(failures.map(|reason| K::AutoTopUpFailed {
            top_up_id,
            reason,
            retry_at: Timestamp::from_millis(1_796_645_529_161),
            consecutive_failures: 2,
        }));
        let types = round_trip_each::<AutoTopUpStream, _>(kinds, |payload| {
            matches!(payload, Payload::AutoTopUp(_))
        });
        assert_eq!(types.len(), 8, "every event type: {types:?}");
    }

    #[test]
    fn a_rule_without_amount_or_cap_or_a_failure_without_reason_is_refused() {
        let mut proto = rule_to_proto(&rule(
            AutoTopUpAmount::Fixed {
                amount: Decimal::new(2500, 2),
            },
            None,
        ));
        assert!(rule_from_proto(Some(&proto)).is_ok());
        proto.amount = None;
        assert_eq!(
            rule_from_proto(Some(&proto)),
            Err(CodecError::Field {
                field: "rule.amount"
            })
        );
        let mut proto = rule_to_proto(&rule(
            AutoTopUpAmount::Fixed {
                amount: Decimal::new(2500, 2),
            },
            None,
        ));
        proto.daily_cap = None;
        assert_eq!(
            rule_from_proto(Some(&proto)),
            Err(CodecError::Field {
                field: "rule.daily_cap"
            })
        );
        assert_eq!(
            failure_from_proto(Some(&pb::AutoTopUpFailure { reason: None })),
            Err(CodecError::Field { field: "reason" })
        );
        let declined = pb::AutoTopUpFailure {
            reason: Some(pb::auto_top_up_failure::Reason::Declined(
                pb::DeclineReason::Unspecified as i32,
            )),
        };
        assert_eq!(
            failure_from_proto(Some(&declined)),
            Err(CodecError::Field {
                field: "reason.declined"
            })
        );
    }
}
