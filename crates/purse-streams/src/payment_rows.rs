//! Top-up, payment, stored-card and auto top-up events → read-model rows. Pure and stateless,
//! like [`crate::projection`]: each event maps to its rows alone, every row's version is the
//! event's stream sequence, and a fact an event does not carry (the owner of a removed card,
//! the rule of a removed auto top-up) is kept by the store from the row's creating write, which
//! is why later events write only their own column groups (DESIGN.md §6).
//!
//! Every function has the projector's row-mapping shape `(stream id, sequence, &event) ->
//! Vec<RowWrite>` ([`crate::projector::RowMapper`]), so it can be handed to
//! [`crate::projector::spawn_projectors`] as it is. Every event carries its tenant where a row
//! needs it (the creating events), so none takes the envelope's.

use purse_domain::payment::{
    PaymentEvent, PaymentEventKind, PaymentMethodsEvent, PaymentMethodsEventKind, PaymentStatus,
};
use purse_domain::saga::{AutoTopUpAmount, AutoTopUpEvent, AutoTopUpEventKind, AutoTopUpFailure};
use purse_domain::time::MILLIS_PER_DAY;
use purse_domain::topup::{
    TopUpError, TopUpEvent, TopUpEventKind, TopUpFailureReason, TopUpStatus,
};
use purse_store::{
    AutoTopUpActivityRow, AutoTopUpFailureRow, AutoTopUpRuleRow, PaymentMethodRow, PaymentRow,
    RowWrite, TopUpRow,
};
use rust_decimal::Decimal;
use uuid::Uuid;

/// How a failure reason is stored: its kind and its precise reason
/// (`declined:insufficient_funds`, `credit_rejected:wallet_closed`), so both stay queryable
/// from one column.
pub fn failure_reason_text(reason: TopUpFailureReason) -> String {
    format!("{}:{}", reason.as_str(), reason.detail())
}

/// How an auto top-up failure is stored: `kind:detail` like a top-up's
/// ([`failure_reason_text`]): `declined:insufficient_funds`, `credit_rejected:wallet_closed`,
/// `create_rejected:payment_method_required`, or `expired` (no detail to give).
pub fn auto_top_up_failure_text(failure: &AutoTopUpFailure) -> String {
    match failure {
        AutoTopUpFailure::Declined { reason } => format!("declined:{}", reason.as_str()),
        AutoTopUpFailure::CreditRejected { reason } => {
            format!("credit_rejected:{}", reason.as_str())
        }
        AutoTopUpFailure::Expired => "expired".to_owned(),
        AutoTopUpFailure::CreateRejected { error } => {
            format!("create_rejected:{}", rejection_name(error))
        }
    }
}

/// A top-up rejection's stable snake_case name ("payment_method_required"): the name the event
/// log already encodes it under (events never change), so it needs no second list to keep in
/// step with the variants.
fn rejection_name(error: &TopUpError) -> String {
    match serde_json::to_value(error) {
        // Unit variants encode as their name, the others as a map with their name as only key.
        Ok(serde_json::Value::String(name)) => name,
        Ok(serde_json::Value::Object(map)) if map.len() == 1 => map
            .into_iter()
            .next()
            .map(|(name, _)| name)
            .unwrap_or_default(),
        // Not reachable with serde's derive; a reason is still better than none.
        _ => error.to_string(),
    }
}

/// The rows one top-up event writes; `top_up_id` is the stream id, `sequence` the event's stream
/// sequence (every row's version).
///
/// `TopUpPaymentCaptured` writes nothing: the top-up stays `created` until the wallet credit
/// completes it, and the capture itself shows on the payment's row.
pub fn top_up_rows(top_up_id: Uuid, sequence: u64, event: &TopUpEvent) -> Vec<RowWrite> {
    let at_ms = event.occurred_at.as_millis();
    let status = |status: TopUpStatus, failure_reason, credited| {
        vec![RowWrite::TopUpStatus {
            top_up_id,
            status: status.as_str().to_owned(),
            failure_reason,
            credited,
            updated_at_ms: at_ms,
            version: sequence,
        }]
    };
    match &event.kind {
        TopUpEventKind::TopUpCreated(created) => vec![RowWrite::TopUp(TopUpRow {
            top_up_id,
            tenant: created.tenant.clone(),
            wallet_id: created.wallet_id,
            owner: created.owner.clone(),
            kind: created.kind.as_str().to_owned(),
            asset: created.asset.code().to_owned(),
            amount: created.amount,
            wallet_amount: created.wallet_amount,
            fee: created.fee,
            status: TopUpStatus::Created.as_str().to_owned(),
            failure_reason: None,
            payment_id: created.payment_id,
            checkout_session_id: created.checkout_session_id,
            payment_method_id: created.payment_method_id,
            expires_at_ms: created.expires_at.as_millis(),
            lots_expire_at_ms: created.lots_expire_at.map(|t| t.as_millis()),
            // Zero at the asset's scale, so an uncredited top-up reads "0.00", not "0".
            credited: Decimal::new(0, created.asset.scale()),
            late_capture: None,
            created_at_ms: at_ms,
            updated_at_ms: at_ms,
            version: sequence,
        })],
        TopUpEventKind::TopUpPaymentCaptured { .. } => Vec::new(),
        TopUpEventKind::TopUpLateCaptureRecorded { amount, .. } => {
            vec![RowWrite::TopUpLateCapture {
                top_up_id,
                late_capture: *amount,
                updated_at_ms: at_ms,
                version: sequence,
            }]
        }
        TopUpEventKind::TopUpCompleted { credited, .. } => {
            status(TopUpStatus::Completed, None, Some(*credited))
        }
        TopUpEventKind::TopUpExpired { .. } => status(TopUpStatus::Expired, None, None),
        TopUpEventKind::TopUpFailed { reason } => status(
            TopUpStatus::Failed,
            Some(failure_reason_text(*reason)),
            None,
        ),
    }
}

/// The rows one payment event writes; `payment_id` is the stream id.
///
/// `RefundRequested` and `RefundFailed` write nothing: the row shows the refunded total, which
/// only a succeeded refund changes.
pub fn payment_rows(payment_id: Uuid, sequence: u64, event: &PaymentEvent) -> Vec<RowWrite> {
    let at_ms = event.occurred_at.as_millis();
    let status = |status: PaymentStatus, captured| RowWrite::PaymentStatus {
        payment_id,
        status: status.as_str().to_owned(),
        captured,
        updated_at_ms: at_ms,
        version: sequence,
    };
    let resolution = |decline_reason, cancel_reason| RowWrite::PaymentResolution {
        payment_id,
        decline_reason,
        cancel_reason,
        updated_at_ms: at_ms,
        version: sequence,
    };
    match &event.kind {
        PaymentEventKind::PaymentIntentCreated(created) => vec![RowWrite::Payment(PaymentRow {
            payment_id,
            tenant: created.tenant.clone(),
            owner: created.owner.clone(),
            asset: created.asset.code().to_owned(),
            amount: created.amount,
            status: PaymentStatus::RequiresPaymentMethod.as_str().to_owned(),
            top_up_id: created.top_up_id,
            payment_method_id: created.payment_method_id,
            card_brand: None,
            card_last4: None,
            card_exp_month: None,
            card_exp_year: None,
            decline_reason: None,
            cancel_reason: None,
            captured: None,
            refunded: None,
            created_at_ms: at_ms,
            updated_at_ms: at_ms,
            version: sequence,
        })],
        PaymentEventKind::PaymentSubmitted {
            card,
            payment_method_id,
            save_card: _,
        } => vec![
            // Brand, last 4 and expiry only: the provider token stays in the event log.
            RowWrite::PaymentCard {
                payment_id,
                brand: card.brand().as_str().to_owned(),
                last4: card.last4().to_owned(),
                exp_month: card.exp_month(),
                exp_year: card.exp_year(),
                payment_method_id: *payment_method_id,
                updated_at_ms: at_ms,
                version: sequence,
            },
            status(PaymentStatus::Processing, None),
        ],
        PaymentEventKind::PaymentSucceeded { amount, .. } => {
            vec![status(PaymentStatus::Succeeded, Some(*amount))]
        }
        PaymentEventKind::PaymentFailed { reason, .. } => vec![
            resolution(Some(reason.as_str().to_owned()), None),
            status(PaymentStatus::Failed, None),
        ],
        PaymentEventKind::PaymentCanceled { reason } => vec![
            resolution(None, Some(reason.as_str().to_owned())),
            status(PaymentStatus::Canceled, None),
        ],
        PaymentEventKind::RefundSucceeded { refunded_after, .. } => {
            vec![RowWrite::PaymentRefunded {
                payment_id,
                refunded: *refunded_after,
                updated_at_ms: at_ms,
                version: sequence,
            }]
        }
        PaymentEventKind::RefundRequested { .. } | PaymentEventKind::RefundFailed { .. } => {
            Vec::new()
        }
    }
}

/// The rows one stored-cards event writes. The stream (one per tenant and owner) is keyed by a
/// hash of both, so rows are keyed by the payment method id the event names instead.
pub fn payment_method_rows(
    _methods_stream_id: Uuid,
    sequence: u64,
    event: &PaymentMethodsEvent,
) -> Vec<RowWrite> {
    match &event.kind {
        PaymentMethodsEventKind::PaymentMethodSaved {
            payment_method_id,
            tenant,
            owner,
            card,
            source_payment_id: _,
        } => vec![RowWrite::PaymentMethod(PaymentMethodRow {
            tenant: tenant.clone(),
            owner: owner.clone(),
            payment_method_id: *payment_method_id,
            brand: card.brand().as_str().to_owned(),
            last4: card.last4().to_owned(),
            exp_month: card.exp_month(),
            exp_year: card.exp_year(),
            created_at_ms: event.occurred_at.as_millis(),
            removed: false,
            version: sequence,
        })],
        PaymentMethodsEventKind::PaymentMethodRemoved { payment_method_id } => {
            vec![RowWrite::PaymentMethodRemoved {
                payment_method_id: *payment_method_id,
                version: sequence,
            }]
        }
    }
}

/// The rows one auto top-up saga event writes; `wallet_id` is the stream id (the saga's stream
/// is its wallet's id). The rule, and beside it what tells a client why no auto top-up fires:
/// the last failure and the back-off (AutoTopUpFailed, ended by AutoTopUpCompleted) and the
/// daily cap (AutoTopUpCapReached). The saga's other progress (observations, starts, creations)
/// writes nothing.
pub fn auto_top_up_rows(wallet_id: Uuid, sequence: u64, event: &AutoTopUpEvent) -> Vec<RowWrite> {
    match &event.kind {
        AutoTopUpEventKind::AutoTopUpRuleSet {
            wallet_id: _,
            tenant,
            owner,
            asset,
            rule,
            below_threshold: _,
            pending: _,
        } => {
            let (amount, target_balance) = match rule.amount {
                AutoTopUpAmount::Fixed { amount } => (Some(amount), None),
                AutoTopUpAmount::TargetBalance { target } => (None, Some(target)),
            };
            vec![RowWrite::AutoTopUpRule(AutoTopUpRuleRow {
                wallet_id,
                tenant: tenant.clone(),
                owner: owner.clone(),
                asset: asset.code().to_owned(),
                threshold: rule.threshold,
                amount,
                target_balance,
                payment_method_id: rule.payment_method_id,
                daily_max_count: rule.daily_cap.max_count,
                daily_max_amount: rule.daily_cap.max_amount,
                backoff_ms: rule.backoff_ms,
                fee_rate: rule.fee_rate.as_percent(),
                timeout_ms: rule.timeout_ms,
                removed: false,
                updated_at_ms: event.occurred_at.as_millis(),
                // Not written by this row (see RowWrite::AutoTopUpRule): a new rule does not end
                // a back-off, in the saga either.
                activity: AutoTopUpActivityRow::default(),
                version: sequence,
            })]
        }
        AutoTopUpEventKind::AutoTopUpRuleRemoved => vec![RowWrite::AutoTopUpRuleRemoved {
            wallet_id,
            version: sequence,
        }],
        AutoTopUpEventKind::AutoTopUpFailed {
            top_up_id,
            reason,
            retry_at,
            consecutive_failures,
        } => vec![RowWrite::AutoTopUpFailed {
            wallet_id,
            failure: AutoTopUpFailureRow {
                top_up_id: *top_up_id,
                reason: auto_top_up_failure_text(reason),
                failed_at_ms: event.occurred_at.as_millis(),
            },
            consecutive_failures: *consecutive_failures,
            backoff_until_ms: retry_at.as_millis(),
            version: sequence,
        }],
        // The saga resets its failures in a row on a completion; its back-off is then over (the
        // next start waited for it), so the row shows none.
        AutoTopUpEventKind::AutoTopUpCompleted { .. } => vec![RowWrite::AutoTopUpCompleted {
            wallet_id,
            version: sequence,
        }],
        // The cap is per UTC day: no auto top-up starts again before that day's end.
        AutoTopUpEventKind::AutoTopUpCapReached { day, .. } => {
            vec![RowWrite::AutoTopUpCapReached {
                wallet_id,
                until_ms: day.saturating_add(1).saturating_mul(MILLIS_PER_DAY),
                version: sequence,
            }]
        }
        AutoTopUpEventKind::AutoTopUpBalanceObserved { .. }
        | AutoTopUpEventKind::AutoTopUpStarted { .. }
        | AutoTopUpEventKind::AutoTopUpTopUpCreated { .. } => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use purse_domain::Timestamp;
    use purse_domain::money::Asset;
    use purse_domain::payment::{
        CancelReason, CardBrand, CardDetails, DeclineReason, PaymentIntentCreated, ProviderEventId,
        RefundReason,
    };
    use purse_domain::saga::{AutoTopUpFailure, AutoTopUpRule, DailyCap};
    use purse_domain::topup::{CreditRejection, FeeRate, GrantedCredit, TopUpCreated, TopUpKind};

    use super::*;

    const AT_MS: i64 = 1_700_000_000_000;

    fn dec(text: &str) -> Decimal {
        text.parse().expect("decimal")
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn usd() -> Asset {
        Asset::parse("USD", None).expect("USD")
    }

    fn card() -> CardDetails {
        CardDetails::new(CardBrand::Visa, "4242", 12, 2030, "tok_visa").expect("card")
    }

    fn top_up_event(kind: TopUpEventKind) -> TopUpEvent {
        TopUpEvent {
            occurred_at: Timestamp::from_millis(AT_MS),
            kind,
        }
    }

    fn payment_event(kind: PaymentEventKind) -> PaymentEvent {
        PaymentEvent {
            occurred_at: Timestamp::from_millis(AT_MS),
            kind,
        }
    }

    fn provider(text: &str) -> ProviderEventId {
        ProviderEventId::parse(text).expect("provider event id")
    }

    #[test]
    fn a_created_top_up_is_written_whole_with_nothing_credited_at_the_asset_scale() {
        let event = top_up_event(TopUpEventKind::TopUpCreated(TopUpCreated {
            top_up_id: id(1),
            tenant: "acme".to_owned(),
            wallet_id: id(2),
            owner: "alice".to_owned(),
            kind: TopUpKind::Manual,
            asset: usd(),
            amount: dec("20.00"),
            wallet_amount: dec("22.00"),
            fee_rate: FeeRate::percent(dec("2.9")).expect("rate"),
            fee: dec("0.58"),
            lots_expire_at: Some(Timestamp::from_millis(AT_MS + 86_400_000)),
            payment_method_id: None,
            payment_id: id(3),
            checkout_session_id: Some(id(4)),
            expires_at: Timestamp::from_millis(AT_MS + 300_000),
        }));
        let rows = top_up_rows(id(1), 1, &event);
        let expected = TopUpRow {
            top_up_id: id(1),
            tenant: "acme".to_owned(),
            wallet_id: id(2),
            owner: "alice".to_owned(),
            kind: "manual".to_owned(),
            asset: "USD".to_owned(),
            amount: dec("20.00"),
            wallet_amount: dec("22.00"),
            fee: dec("0.58"),
            status: "created".to_owned(),
            failure_reason: None,
            payment_id: id(3),
            checkout_session_id: Some(id(4)),
            payment_method_id: None,
            expires_at_ms: AT_MS + 300_000,
            lots_expire_at_ms: Some(AT_MS + 86_400_000),
            credited: dec("0.00"),
            late_capture: None,
            created_at_ms: AT_MS,
            updated_at_ms: AT_MS,
            version: 1,
        };
        assert_eq!(rows, vec![RowWrite::TopUp(expected)]);
        let RowWrite::TopUp(row) = &rows[0] else {
            unreachable!()
        };
        assert_eq!(row.credited.to_string(), "0.00");
    }

    #[test]
    fn top_up_outcomes_write_only_their_groups() {
        let status = |status: &str, failure_reason: Option<&str>, credited: Option<&str>| {
            vec![RowWrite::TopUpStatus {
                top_up_id: id(1),
                status: status.to_owned(),
                failure_reason: failure_reason.map(str::to_owned),
                credited: credited.map(dec),
                updated_at_ms: AT_MS,
                version: 4,
            }]
        };
        let rows = |kind| top_up_rows(id(1), 4, &top_up_event(kind));
        assert_eq!(
            rows(TopUpEventKind::TopUpCompleted {
                paid_lot_id: id(5),
                granted: GrantedCredit::Credited { lot_id: id(6) },
                credited: dec("22.00"),
            }),
            status("completed", None, Some("22.00"))
        );
        assert_eq!(
            rows(TopUpEventKind::TopUpExpired {
                expires_at: Timestamp::from_millis(AT_MS),
            }),
            status("expired", None, None)
        );
        assert_eq!(
            rows(TopUpEventKind::TopUpFailed {
                reason: TopUpFailureReason::Declined {
                    reason: DeclineReason::InsufficientFunds,
                },
            }),
            status("failed", Some("declined:insufficient_funds"), None)
        );
        assert_eq!(
            rows(TopUpEventKind::TopUpFailed {
                reason: TopUpFailureReason::CreditRejected {
                    reason: CreditRejection::WalletClosed,
                },
            }),
            status("failed", Some("credit_rejected:wallet_closed"), None)
        );
        assert_eq!(
            rows(TopUpEventKind::TopUpLateCaptureRecorded {
                payment_id: id(3),
                amount: dec("20.00"),
            }),
            vec![RowWrite::TopUpLateCapture {
                top_up_id: id(1),
                late_capture: dec("20.00"),
                updated_at_ms: AT_MS,
                version: 4,
            }]
        );
        assert!(
            rows(TopUpEventKind::TopUpPaymentCaptured {
                payment_id: id(3),
                amount: dec("20.00"),
            })
            .is_empty()
        );
    }

    #[test]
    fn a_created_payment_is_written_whole() {
        let event = payment_event(PaymentEventKind::PaymentIntentCreated(
            PaymentIntentCreated {
                payment_id: id(3),
                tenant: "acme".to_owned(),
                owner: "alice".to_owned(),
                asset: usd(),
                amount: dec("20.00"),
                top_up_id: Some(id(1)),
                payment_method_id: Some(id(7)),
                expires_at: None,
            },
        ));
        assert_eq!(
            payment_rows(id(3), 1, &event),
            vec![RowWrite::Payment(PaymentRow {
                payment_id: id(3),
                tenant: "acme".to_owned(),
                owner: "alice".to_owned(),
                asset: "USD".to_owned(),
                amount: dec("20.00"),
                status: "requires_payment_method".to_owned(),
                top_up_id: Some(id(1)),
                payment_method_id: Some(id(7)),
                card_brand: None,
                card_last4: None,
                card_exp_month: None,
                card_exp_year: None,
                decline_reason: None,
                cancel_reason: None,
                captured: None,
                refunded: None,
                created_at_ms: AT_MS,
                updated_at_ms: AT_MS,
                version: 1,
            })]
        );
    }

    #[test]
    fn payment_progress_writes_status_card_resolution_and_refunds() {
        let rows = |kind| payment_rows(id(3), 5, &payment_event(kind));
        let status = |status: &str, captured: Option<&str>| RowWrite::PaymentStatus {
            payment_id: id(3),
            status: status.to_owned(),
            captured: captured.map(dec),
            updated_at_ms: AT_MS,
            version: 5,
        };
        let submitted = rows(PaymentEventKind::PaymentSubmitted {
            card: card(),
            payment_method_id: None,
            save_card: true,
        });
        assert_eq!(
            submitted,
            vec![
                RowWrite::PaymentCard {
                    payment_id: id(3),
                    brand: "visa".to_owned(),
                    last4: "4242".to_owned(),
                    exp_month: 12,
                    exp_year: 2030,
                    payment_method_id: None,
                    updated_at_ms: AT_MS,
                    version: 5,
                },
                status("processing", None),
            ]
        );
        assert!(
            !format!("{submitted:?}").contains("tok_visa"),
            "the provider token never reaches a read model"
        );
        assert_eq!(
            rows(PaymentEventKind::PaymentSucceeded {
                provider_event_id: provider("evt_1"),
                amount: dec("20.00"),
                previous_status: PaymentStatus::Processing,
            }),
            vec![status("succeeded", Some("20.00"))]
        );
        let resolution =
            |decline: Option<&str>, cancel: Option<&str>| RowWrite::PaymentResolution {
                payment_id: id(3),
                decline_reason: decline.map(str::to_owned),
                cancel_reason: cancel.map(str::to_owned),
                updated_at_ms: AT_MS,
                version: 5,
            };
        assert_eq!(
            rows(PaymentEventKind::PaymentFailed {
                provider_event_id: provider("evt_2"),
                reason: DeclineReason::ExpiredCard,
            }),
            vec![
                resolution(Some("expired_card"), None),
                status("failed", None)
            ]
        );
        assert_eq!(
            rows(PaymentEventKind::PaymentCanceled {
                reason: CancelReason::TopUpExpired,
            }),
            vec![
                resolution(None, Some("top_up_expired")),
                status("canceled", None)
            ]
        );
        assert_eq!(
            rows(PaymentEventKind::RefundSucceeded {
                provider_event_id: provider("evt_3"),
                refund_id: id(9),
                amount: dec("5.00"),
                refunded_after: dec("15.00"),
            }),
            vec![RowWrite::PaymentRefunded {
                payment_id: id(3),
                refunded: dec("15.00"),
                updated_at_ms: AT_MS,
                version: 5,
            }]
        );
        assert!(
            rows(PaymentEventKind::RefundRequested {
                refund_id: id(9),
                amount: dec("5.00"),
                reason: RefundReason::LateCapture,
                refundable_after: dec("15.00"),
            })
            .is_empty()
        );
    }

    #[test]
    fn stored_cards_are_saved_and_removed_by_their_own_id() {
        let saved = PaymentMethodsEvent {
            occurred_at: Timestamp::from_millis(AT_MS),
            kind: PaymentMethodsEventKind::PaymentMethodSaved {
                payment_method_id: id(7),
                tenant: "acme".to_owned(),
                owner: "alice".to_owned(),
                card: card(),
                source_payment_id: Some(id(3)),
            },
        };
        assert_eq!(
            payment_method_rows(id(99), 1, &saved),
            vec![RowWrite::PaymentMethod(PaymentMethodRow {
                tenant: "acme".to_owned(),
                owner: "alice".to_owned(),
                payment_method_id: id(7),
                brand: "visa".to_owned(),
                last4: "4242".to_owned(),
                exp_month: 12,
                exp_year: 2030,
                created_at_ms: AT_MS,
                removed: false,
                version: 1,
            })]
        );
        let removed = PaymentMethodsEvent {
            occurred_at: Timestamp::from_millis(AT_MS + 1),
            kind: PaymentMethodsEventKind::PaymentMethodRemoved {
                payment_method_id: id(7),
            },
        };
        assert_eq!(
            payment_method_rows(id(99), 2, &removed),
            vec![RowWrite::PaymentMethodRemoved {
                payment_method_id: id(7),
                version: 2,
            }]
        );
    }

    #[test]
    fn auto_top_up_rules_mirror_the_domain_rule() {
        let rule = |amount| AutoTopUpRule {
            threshold: dec("5.00"),
            amount,
            payment_method_id: id(7),
            daily_cap: DailyCap {
                max_count: 3,
                max_amount: Some(dec("100.00")),
            },
            backoff_ms: 3_600_000,
            fee_rate: FeeRate::percent(dec("2.9")).expect("rate"),
            timeout_ms: 300_000,
        };
        let event = |kind| AutoTopUpEvent {
            occurred_at: Timestamp::from_millis(AT_MS),
            kind,
        };
        let set = |amount| {
            event(AutoTopUpEventKind::AutoTopUpRuleSet {
                wallet_id: id(2),
                tenant: "acme".to_owned(),
                owner: "alice".to_owned(),
                asset: usd(),
                rule: rule(amount),
                below_threshold: false,
                pending: false,
            })
        };
        let expected = AutoTopUpRuleRow {
            wallet_id: id(2),
            tenant: "acme".to_owned(),
            owner: "alice".to_owned(),
            asset: "USD".to_owned(),
            threshold: dec("5.00"),
            amount: Some(dec("20.00")),
            target_balance: None,
            payment_method_id: id(7),
            daily_max_count: 3,
            daily_max_amount: Some(dec("100.00")),
            backoff_ms: 3_600_000,
            fee_rate: dec("2.9"),
            timeout_ms: 300_000,
            removed: false,
            updated_at_ms: AT_MS,
            activity: AutoTopUpActivityRow::default(),
            version: 1,
        };
        assert_eq!(
            auto_top_up_rows(
                id(2),
                1,
                &set(AutoTopUpAmount::Fixed {
                    amount: dec("20.00")
                })
            ),
            vec![RowWrite::AutoTopUpRule(expected.clone())]
        );
        assert_eq!(
            auto_top_up_rows(
                id(2),
                1,
                &set(AutoTopUpAmount::TargetBalance {
                    target: dec("50.00")
                })
            ),
            vec![RowWrite::AutoTopUpRule(AutoTopUpRuleRow {
                amount: None,
                target_balance: Some(dec("50.00")),
                ..expected
            })]
        );
        assert_eq!(
            auto_top_up_rows(id(2), 2, &event(AutoTopUpEventKind::AutoTopUpRuleRemoved)),
            vec![RowWrite::AutoTopUpRuleRemoved {
                wallet_id: id(2),
                version: 2,
            }]
        );
    }

    #[test]
    fn auto_top_up_outcomes_write_the_back_off_and_the_cap() {
        let event = |kind| AutoTopUpEvent {
            occurred_at: Timestamp::from_millis(AT_MS),
            kind,
        };
        let rows = |sequence, kind| auto_top_up_rows(id(2), sequence, &event(kind));
        let failed = |reason| AutoTopUpEventKind::AutoTopUpFailed {
            top_up_id: id(1),
            reason,
            retry_at: Timestamp::from_millis(AT_MS + 3_600_000),
            consecutive_failures: 2,
        };
        let failure = |reason: &str| {
            vec![RowWrite::AutoTopUpFailed {
                wallet_id: id(2),
                failure: AutoTopUpFailureRow {
                    top_up_id: id(1),
                    reason: reason.to_owned(),
                    failed_at_ms: AT_MS,
                },
                consecutive_failures: 2,
                backoff_until_ms: AT_MS + 3_600_000,
                version: 7,
            }]
        };
        assert_eq!(
            rows(
                7,
                failed(AutoTopUpFailure::Declined {
                    reason: DeclineReason::InsufficientFunds,
                })
            ),
            failure("declined:insufficient_funds")
        );
        assert_eq!(
            rows(
                7,
                failed(AutoTopUpFailure::CreditRejected {
                    reason: CreditRejection::WalletClosed,
                })
            ),
            failure("credit_rejected:wallet_closed")
        );
        assert_eq!(
            rows(7, failed(AutoTopUpFailure::Expired)),
            failure("expired")
        );
        assert_eq!(
            rows(
                7,
                failed(AutoTopUpFailure::CreateRejected {
                    error: TopUpError::PaymentMethodRequired {
                        kind: TopUpKind::Auto,
                    },
                })
            ),
            failure("create_rejected:payment_method_required")
        );
        assert_eq!(
            rows(
                7,
                failed(AutoTopUpFailure::CreateRejected {
                    error: TopUpError::AlreadyExists,
                })
            ),
            failure("create_rejected:already_exists")
        );

        assert_eq!(
            rows(
                8,
                AutoTopUpEventKind::AutoTopUpCompleted { top_up_id: id(1) }
            ),
            vec![RowWrite::AutoTopUpCompleted {
                wallet_id: id(2),
                version: 8,
            }]
        );
        // Capped on day 19_675 (2023-11-14, UTC): until the next midnight.
        assert_eq!(
            rows(
                9,
                AutoTopUpEventKind::AutoTopUpCapReached {
                    day: Timestamp::from_millis(AT_MS).utc_day(),
                    count: 3,
                    amount: dec("60.00"),
                }
            ),
            vec![RowWrite::AutoTopUpCapReached {
                wallet_id: id(2),
                until_ms: 1_700_006_400_000,
                version: 9,
            }]
        );

        // The saga's other progress is not a read model.
        for kind in [
            AutoTopUpEventKind::AutoTopUpBalanceObserved {
                wallet_sequence: 9,
                available: dec("1.00"),
                below_threshold: true,
                pending: true,
            },
            AutoTopUpEventKind::AutoTopUpStarted {
                top_up_id: id(1),
                amount: dec("20.00"),
                payment_method_id: id(7),
                fee_rate: FeeRate::percent(dec("2.9")).expect("rate"),
                timeout_ms: 300_000,
                day: 1,
            },
            AutoTopUpEventKind::AutoTopUpTopUpCreated { top_up_id: id(1) },
        ] {
            assert!(rows(3, kind).is_empty());
        }
    }
}
