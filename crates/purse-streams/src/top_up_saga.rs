//! Top-up sagas: one internal stream per top-up; no read model.

use purse_domain::Timestamp;
use purse_domain::saga::{
    CreditPart, TopUpFacts, TopUpResolution, TopUpSagaDecider, TopUpSagaEvent, TopUpSagaEventKind,
};
use purse_proto::event::v1 as pb;
use purse_proto::event::v1::top_up_saga_event::Event as E;
use purse_runtime::codec::{
    CodecError, asset_field, decimal_field, optional_uuid_field, optional_uuid_text, uuid_field,
};
use purse_runtime::topics::DeciderTopics;

use crate::codec::proto_enum;
use crate::payment::{
    decline_reason_from_proto, decline_reason_to_proto, refund_failure_reason_from_proto,
    refund_failure_reason_to_proto, refund_reason_from_proto, refund_reason_to_proto,
};
use crate::top_up::{
    credit_rejection_from_proto, credit_rejection_to_proto, failure_reason_from_proto,
    failure_reason_to_proto, top_up_kind_from_proto, top_up_kind_to_proto,
    top_up_status_from_proto, top_up_status_to_proto,
};

crate::bind_decider!(
    /// The top-up saga as the engine drives it.
    TopUpSagaStream => TopUpSagaDecider
);

crate::codec::event_codec!(TopUpSagaStream, TopUpSagaEvent, "top_up_saga", proto: TopUpSaga);

/// Where its commands and events travel.
pub const TOPICS: DeciderTopics = DeciderTopics {
    commands: "purse.saga.topup.commands",
    events: "purse.saga.topup.events",
    group: "purse-saga-topups",
};

proto_enum!(
    credit_part_to_proto, credit_part_from_proto,
    CreditPart => pb::CreditPart { Paid, Granted }
);

fn facts_to_proto(facts: &TopUpFacts) -> pb::TopUpFacts {
    pb::TopUpFacts {
        top_up_id: facts.top_up_id.to_string(),
        tenant: facts.tenant.clone(),
        wallet_id: facts.wallet_id.to_string(),
        owner: facts.owner.clone(),
        kind: top_up_kind_to_proto(facts.kind),
        asset: facts.asset.code().to_owned(),
        asset_scale: facts.asset.scale(),
        amount: facts.amount.to_string(),
        wallet_amount: facts.wallet_amount.to_string(),
        lots_expire_at_ms: facts.lots_expire_at.map(Timestamp::as_millis),
        payment_method_id: optional_uuid_text(facts.payment_method_id),
        payment_id: facts.payment_id.to_string(),
        expires_at_ms: facts.expires_at.as_millis(),
    }
}

fn facts_from_proto(facts: Option<&pb::TopUpFacts>) -> Result<TopUpFacts, CodecError> {
    let facts = facts.ok_or(CodecError::Field { field: "facts" })?;
    Ok(TopUpFacts {
        top_up_id: uuid_field(&facts.top_up_id, "facts.top_up_id")?,
        tenant: facts.tenant.clone(),
        wallet_id: uuid_field(&facts.wallet_id, "facts.wallet_id")?,
        owner: facts.owner.clone(),
        kind: top_up_kind_from_proto(facts.kind, "facts.kind")?,
        asset: asset_field(&facts.asset, facts.asset_scale, "facts.asset")?,
        amount: decimal_field(&facts.amount, "facts.amount")?,
        wallet_amount: decimal_field(&facts.wallet_amount, "facts.wallet_amount")?,
        lots_expire_at: facts.lots_expire_at_ms.map(Timestamp::from_millis),
        payment_method_id: optional_uuid_field(
            &facts.payment_method_id,
            "facts.payment_method_id",
        )?,
        payment_id: uuid_field(&facts.payment_id, "facts.payment_id")?,
        expires_at: Timestamp::from_millis(facts.expires_at_ms),
    })
}

fn resolution_to_proto(resolution: TopUpResolution) -> pb::TopUpResolution {
    use pb::top_up_resolution::{Complete, Expire, Resolution};
    pb::TopUpResolution {
        resolution: Some(match resolution {
            TopUpResolution::Complete => Resolution::Complete(Complete {}),
            TopUpResolution::Expire => Resolution::Expire(Expire {}),
            TopUpResolution::Fail { reason } => Resolution::Fail(failure_reason_to_proto(reason)),
        }),
    }
}

fn resolution_from_proto(
    resolution: Option<&pb::TopUpResolution>,
) -> Result<TopUpResolution, CodecError> {
    use pb::top_up_resolution::Resolution;
    match resolution.and_then(|resolution| resolution.resolution.as_ref()) {
        Some(Resolution::Complete(_)) => Ok(TopUpResolution::Complete),
        Some(Resolution::Expire(_)) => Ok(TopUpResolution::Expire),
        Some(Resolution::Fail(reason)) => Ok(TopUpResolution::Fail {
            reason: failure_reason_from_proto(Some(reason))?,
        }),
        None => Err(CodecError::Field {
            field: "resolution",
        }),
    }
}

fn to_proto(kind: &TopUpSagaEventKind) -> pb::TopUpSagaEvent {
    use TopUpSagaEventKind as K;
    let event = match kind {
        K::TopUpSagaStarted { facts } => E::TopUpSagaStarted(pb::TopUpSagaStarted {
            facts: Some(facts_to_proto(facts)),
        }),
        K::TopUpSagaPaymentCreated => E::TopUpSagaPaymentCreated(pb::TopUpSagaPaymentCreated {}),
        K::TopUpSagaResolutionChosen { resolution } => {
            E::TopUpSagaResolutionChosen(pb::TopUpSagaResolutionChosen {
                resolution: Some(resolution_to_proto(*resolution)),
            })
        }
        K::TopUpSagaDeadlineReached { expires_at } => {
            E::TopUpSagaDeadlineReached(pb::TopUpSagaDeadlineReached {
                expires_at_ms: expires_at.as_millis(),
            })
        }
        K::TopUpSagaPaymentCaptured { amount } => {
            E::TopUpSagaPaymentCaptured(pb::TopUpSagaPaymentCaptured {
                amount: amount.to_string(),
            })
        }
        K::TopUpSagaPaymentDeclined { reason } => {
            E::TopUpSagaPaymentDeclined(pb::TopUpSagaPaymentDeclined {
                reason: decline_reason_to_proto(*reason),
            })
        }
        K::TopUpSagaPaymentCanceled => E::TopUpSagaPaymentCanceled(pb::TopUpSagaPaymentCanceled {}),
        K::TopUpSagaLateCaptureDetected { amount } => {
            E::TopUpSagaLateCaptureDetected(pb::TopUpSagaLateCaptureDetected {
                amount: amount.to_string(),
            })
        }
        K::TopUpSagaRefundRequested { amount, reason } => {
            E::TopUpSagaRefundRequested(pb::TopUpSagaRefundRequested {
                amount: amount.to_string(),
                reason: refund_reason_to_proto(*reason),
            })
        }
        K::TopUpSagaRefundAccepted { refund_id } => {
            E::TopUpSagaRefundAccepted(pb::TopUpSagaRefundAccepted {
                refund_id: refund_id.to_string(),
            })
        }
        K::TopUpSagaRefundSucceeded { refund_id } => {
            E::TopUpSagaRefundSucceeded(pb::TopUpSagaRefundSucceeded {
                refund_id: refund_id.to_string(),
            })
        }
        K::TopUpSagaRefundFailed { refund_id, reason } => {
            E::TopUpSagaRefundFailed(pb::TopUpSagaRefundFailed {
                refund_id: refund_id.to_string(),
                reason: refund_failure_reason_to_proto(*reason),
            })
        }
        K::TopUpSagaCaptureRecorded => E::TopUpSagaCaptureRecorded(pb::TopUpSagaCaptureRecorded {}),
        K::TopUpSagaCredited { part, lot_id } => E::TopUpSagaCredited(pb::TopUpSagaCredited {
            part: credit_part_to_proto(*part),
            lot_id: lot_id.to_string(),
        }),
        K::TopUpSagaCreditDeferred {
            part,
            retry_at,
            attempts,
        } => E::TopUpSagaCreditDeferred(pb::TopUpSagaCreditDeferred {
            part: credit_part_to_proto(*part),
            retry_at_ms: retry_at.as_millis(),
            attempts: *attempts,
        }),
        K::TopUpSagaCreditRetryDue { part } => {
            E::TopUpSagaCreditRetryDue(pb::TopUpSagaCreditRetryDue {
                part: credit_part_to_proto(*part),
            })
        }
        K::TopUpSagaCreditRejected { part, reason } => {
            E::TopUpSagaCreditRejected(pb::TopUpSagaCreditRejected {
                part: credit_part_to_proto(*part),
                reason: credit_rejection_to_proto(*reason),
            })
        }
        K::TopUpSagaTopUpFinished { status } => {
            E::TopUpSagaTopUpFinished(pb::TopUpSagaTopUpFinished {
                status: top_up_status_to_proto(*status),
            })
        }
    };
    pb::TopUpSagaEvent { event: Some(event) }
}

fn from_proto(message: &pb::TopUpSagaEvent) -> Result<TopUpSagaEventKind, CodecError> {
    use TopUpSagaEventKind as K;
    Ok(match message.event.as_ref() {
        Some(E::TopUpSagaStarted(e)) => K::TopUpSagaStarted {
            facts: facts_from_proto(e.facts.as_ref())?,
        },
        Some(E::TopUpSagaPaymentCreated(_)) => K::TopUpSagaPaymentCreated,
        Some(E::TopUpSagaResolutionChosen(e)) => K::TopUpSagaResolutionChosen {
            resolution: resolution_from_proto(e.resolution.as_ref())?,
        },
        Some(E::TopUpSagaDeadlineReached(e)) => K::TopUpSagaDeadlineReached {
            expires_at: Timestamp::from_millis(e.expires_at_ms),
        },
        Some(E::TopUpSagaPaymentCaptured(e)) => K::TopUpSagaPaymentCaptured {
            amount: decimal_field(&e.amount, "amount")?,
        },
        Some(E::TopUpSagaPaymentDeclined(e)) => K::TopUpSagaPaymentDeclined {
            reason: decline_reason_from_proto(e.reason, "reason")?,
        },
        Some(E::TopUpSagaPaymentCanceled(_)) => K::TopUpSagaPaymentCanceled,
        Some(E::TopUpSagaLateCaptureDetected(e)) => K::TopUpSagaLateCaptureDetected {
            amount: decimal_field(&e.amount, "amount")?,
        },
        Some(E::TopUpSagaRefundRequested(e)) => K::TopUpSagaRefundRequested {
            amount: decimal_field(&e.amount, "amount")?,
            reason: refund_reason_from_proto(e.reason, "reason")?,
        },
        Some(E::TopUpSagaRefundAccepted(e)) => K::TopUpSagaRefundAccepted {
            refund_id: uuid_field(&e.refund_id, "refund_id")?,
        },
        Some(E::TopUpSagaRefundSucceeded(e)) => K::TopUpSagaRefundSucceeded {
            refund_id: uuid_field(&e.refund_id, "refund_id")?,
        },
        Some(E::TopUpSagaRefundFailed(e)) => K::TopUpSagaRefundFailed {
            refund_id: uuid_field(&e.refund_id, "refund_id")?,
            reason: refund_failure_reason_from_proto(e.reason, "reason")?,
        },
        Some(E::TopUpSagaCaptureRecorded(_)) => K::TopUpSagaCaptureRecorded,
        Some(E::TopUpSagaCredited(e)) => K::TopUpSagaCredited {
            part: credit_part_from_proto(e.part, "part")?,
            lot_id: uuid_field(&e.lot_id, "lot_id")?,
        },
        Some(E::TopUpSagaCreditDeferred(e)) => K::TopUpSagaCreditDeferred {
            part: credit_part_from_proto(e.part, "part")?,
            retry_at: Timestamp::from_millis(e.retry_at_ms),
            attempts: e.attempts,
        },
        Some(E::TopUpSagaCreditRetryDue(e)) => K::TopUpSagaCreditRetryDue {
            part: credit_part_from_proto(e.part, "part")?,
        },
        Some(E::TopUpSagaCreditRejected(e)) => K::TopUpSagaCreditRejected {
            part: credit_part_from_proto(e.part, "part")?,
            reason: credit_rejection_from_proto(e.reason, "reason")?,
        },
        Some(E::TopUpSagaTopUpFinished(e)) => K::TopUpSagaTopUpFinished {
            status: top_up_status_from_proto(e.status, "status")?,
        },
        None => return Err(CodecError::Field { field: "event" }),
    })
}

#[cfg(test)]
mod tests {

    use purse_domain::money::Asset;
    use purse_domain::payment::{DeclineReason, RefundFailureReason, RefundReason};
    use purse_domain::topup::{CreditRejection, TopUpFailureReason, TopUpKind, TopUpStatus};
    use purse_proto::event::v1::event_envelope::Payload;
    use rust_decimal::Decimal;
    use uuid::Uuid;

    use super::*;
    use crate::codec::round_trip_each;

    fn facts(kind: TopUpKind, optional: bool) -> TopUpFacts {
        TopUpFacts {
            top_up_id: Uuid::from_u128(1),
            tenant: "dev".into(),
            wallet_id: Uuid::from_u128(2),
            owner: "olga".into(),
            kind,
            asset: Asset::parse("USD", None).unwrap(),
            amount: Decimal::new(1000, 2),
            wallet_amount: Decimal::new(1100, 2),
            lots_expire_at: optional.then(|| Timestamp::from_millis(1_900_000_000_000)),
            payment_method_id: optional.then(|| Uuid::from_u128(3)),
            payment_id: Uuid::from_u128(4),
            expires_at: Timestamp::from_millis(1_796_642_229_412),
        }
    }

    #[test]
    fn every_event_is_written_as_its_proto_message_and_reads_back() {
        use TopUpSagaEventKind as K;
        let amount = Decimal::new(1000, 2);
        let refund_id = Uuid::from_u128(5);
        let mut kinds: Vec<_> = TopUpKind::ALL
            .iter()
            .flat_map(|kind| {
                [true, false].map(|optional| K::TopUpSagaStarted {
                    facts: facts(*kind, optional),
                })
            })
            .collect();
        kinds.extend([
            K::TopUpSagaPaymentCreated,
            K::TopUpSagaResolutionChosen {
                resolution: TopUpResolution::Complete,
            },
            K::TopUpSagaResolutionChosen {
                resolution: TopUpResolution::Expire,
            },
            K::TopUpSagaResolutionChosen {
                resolution: TopUpResolution::Fail {
                    reason: TopUpFailureReason::Declined {
                        reason: DeclineReason::Fraudulent,
                    },
                },
            },
            K::TopUpSagaResolutionChosen {
                resolution: TopUpResolution::Fail {
                    reason: TopUpFailureReason::CreditRejected {
                        reason: CreditRejection::WalletClosed,
                    },
                },
            },
            K::TopUpSagaDeadlineReached {
                expires_at: Timestamp::from_millis(1_796_642_229_412),
            },
            K::TopUpSagaPaymentCaptured { amount },
            K::TopUpSagaPaymentCanceled,
            K::TopUpSagaLateCaptureDetected { amount },
            K::TopUpSagaRefundAccepted { refund_id },
            K::TopUpSagaRefundSucceeded { refund_id },
            K::TopUpSagaCaptureRecorded,
        ]);
        kinds.extend(
            DeclineReason::ALL
                .iter()
                .map(|reason| K::TopUpSagaPaymentDeclined { reason: *reason }),
        );
        kinds.extend(
            RefundReason::ALL
                .iter()
                .map(|reason| K::TopUpSagaRefundRequested {
                    amount,
                    reason: *reason,
                }),
        );
        kinds.extend(
            RefundFailureReason::ALL
                .iter()
                .map(|reason| K::TopUpSagaRefundFailed {
                    refund_id,
                    reason: *reason,
                }),
        );
        for part in CreditPart::ALL {
            kinds.extend([
                K::TopUpSagaCredited {
                    part: *part,
                    lot_id: Uuid::from_u128(6),
                },
                K::TopUpSagaCreditDeferred {
                    part: *part,
                    retry_at: Timestamp::from_millis(1_796_642_000_000),
                    attempts: 3,
                },
                K::TopUpSagaCreditRetryDue { part: *part },
            ]);
            kinds.extend(
                CreditRejection::ALL
                    .iter()
                    .map(|reason| K::TopUpSagaCreditRejected {
                        part: *part,
                        reason: *reason,
                    }),
            );
        }
        kinds.extend(
            TopUpStatus::ALL
                .iter()
                .map(|status| K::TopUpSagaTopUpFinished { status: *status }),
        );
        let types = round_trip_each::<TopUpSagaStream, _>(kinds, |payload| {
            matches!(payload, Payload::TopUpSaga(_))
        });
        assert_eq!(types.len(), 18, "every event type: {types:?}");
    }

    #[test]
    fn an_unspecified_part_or_a_missing_resolution_is_refused_not_defaulted() {
        let retry_due = pb::TopUpSagaEvent {
            event: Some(E::TopUpSagaCreditRetryDue(pb::TopUpSagaCreditRetryDue {
                part: pb::CreditPart::Unspecified as i32,
            })),
        };
        assert_eq!(
            from_proto(&retry_due),
            Err(CodecError::Field { field: "part" })
        );
        let chosen = pb::TopUpSagaEvent {
            event: Some(E::TopUpSagaResolutionChosen(
                pb::TopUpSagaResolutionChosen { resolution: None },
            )),
        };
        assert_eq!(
            from_proto(&chosen),
            Err(CodecError::Field {
                field: "resolution"
            })
        );
        let started = pb::TopUpSagaEvent {
            event: Some(E::TopUpSagaStarted(pb::TopUpSagaStarted { facts: None })),
        };
        assert_eq!(
            from_proto(&started),
            Err(CodecError::Field { field: "facts" })
        );
    }
}
