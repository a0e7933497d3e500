//! Top-ups: one stream per top-up, projected into top-up rows.

pub use crate::payment_rows::{failure_reason_text, top_up_rows};

use purse_domain::Timestamp;
use purse_domain::money::AmountError;
use purse_domain::topup::{
    CreditRejection, FeeRate, GrantedCredit, TopUpCreated, TopUpDecider, TopUpError, TopUpEvent,
    TopUpEventKind, TopUpFailureReason, TopUpField, TopUpKind, TopUpStatus,
};
use purse_domain::wallet::WalletStatus;
use purse_proto::event::v1 as pb;
use purse_proto::event::v1::top_up_event::Event as E;
use purse_proto::event::v1::top_up_rejection::{self as rejection, Reason as R};
use purse_runtime::codec::{
    CodecError, asset_field, decimal_field, optional_uuid_field, optional_uuid_text, uuid_field,
};
use purse_runtime::topics::DeciderTopics;

use crate::codec::proto_enum;
use crate::payment::{decline_reason_from_proto, decline_reason_to_proto};

crate::bind_decider!(
    /// The top-up decider as the engine drives it.
    TopUpStream => TopUpDecider
);

crate::codec::event_codec!(TopUpStream, TopUpEvent, "top_up", proto: TopUp);

/// Where its commands and events travel.
pub const TOPICS: DeciderTopics = DeciderTopics {
    commands: "purse.topup.commands",
    events: "purse.topup.events",
    group: "purse-topups",
};

proto_enum!(
    pub(crate) top_up_kind_to_proto, top_up_kind_from_proto,
    TopUpKind => pb::TopUpKind { Manual, ManualWithPaymentMethod, Auto }
);

proto_enum!(
    pub(crate) top_up_status_to_proto, top_up_status_from_proto,
    TopUpStatus => pb::TopUpStatus { Created, Completed, Expired, Failed }
);

proto_enum!(
    pub(crate) credit_rejection_to_proto, credit_rejection_from_proto,
    CreditRejection => pb::CreditRejection {
        WalletNotFound, WalletSuspended, WalletClosed, MaxBalanceExceeded, BalanceCeilingExceeded,
        VelocityLimited, InvalidCredit,
    }
);

proto_enum!(
    wallet_status_to_proto, wallet_status_from_proto,
    WalletStatus => pb::WalletStatus { Open, Suspended, Closed }
);

proto_enum!(
    top_up_field_to_proto, top_up_field_from_proto,
    TopUpField => pb::TopUpField { Tenant, Owner, Amount, WalletAmount }
);

/// The fee rate of a `fee_rate` field (per cent), validated as when it was configured.
pub(crate) fn fee_rate_field(text: &str, field: &'static str) -> Result<FeeRate, CodecError> {
    FeeRate::percent(decimal_field(text, field)?).map_err(|_| CodecError::Field { field })
}

/// The proto failure reason of a domain one (shared with the top-up saga).
pub(crate) fn failure_reason_to_proto(reason: TopUpFailureReason) -> pb::TopUpFailureReason {
    use pb::top_up_failure_reason::Reason;
    pb::TopUpFailureReason {
        reason: Some(match reason {
            TopUpFailureReason::Declined { reason } => {
                Reason::Declined(decline_reason_to_proto(reason))
            }
            TopUpFailureReason::CreditRejected { reason } => {
                Reason::CreditRejected(credit_rejection_to_proto(reason))
            }
        }),
    }
}

/// The domain failure reason of a proto one; a missing reason is an error.
pub(crate) fn failure_reason_from_proto(
    reason: Option<&pb::TopUpFailureReason>,
) -> Result<TopUpFailureReason, CodecError> {
    use pb::top_up_failure_reason::Reason;
    match reason.and_then(|reason| reason.reason) {
        Some(Reason::Declined(reason)) => Ok(TopUpFailureReason::Declined {
            reason: decline_reason_from_proto(reason, "reason.declined")?,
        }),
        Some(Reason::CreditRejected(reason)) => Ok(TopUpFailureReason::CreditRejected {
            reason: credit_rejection_from_proto(reason, "reason.credit_rejected")?,
        }),
        None => Err(CodecError::Field { field: "reason" }),
    }
}

fn granted_to_proto(granted: GrantedCredit) -> pb::GrantedCredit {
    use pb::granted_credit::{NotNeeded, Result};
    pb::GrantedCredit {
        result: Some(match granted {
            GrantedCredit::NotNeeded => Result::NotNeeded(NotNeeded {}),
            GrantedCredit::Credited { lot_id } => Result::CreditedLotId(lot_id.to_string()),
            GrantedCredit::Rejected { reason } => {
                Result::Rejected(credit_rejection_to_proto(reason))
            }
        }),
    }
}

fn granted_from_proto(granted: Option<&pb::GrantedCredit>) -> Result<GrantedCredit, CodecError> {
    use pb::granted_credit::Result as G;
    match granted.and_then(|granted| granted.result.as_ref()) {
        Some(G::NotNeeded(_)) => Ok(GrantedCredit::NotNeeded),
        Some(G::CreditedLotId(lot_id)) => Ok(GrantedCredit::Credited {
            lot_id: uuid_field(lot_id, "granted.credited_lot_id")?,
        }),
        Some(G::Rejected(reason)) => Ok(GrantedCredit::Rejected {
            reason: credit_rejection_from_proto(*reason, "granted.rejected")?,
        }),
        None => Err(CodecError::Field { field: "granted" }),
    }
}

fn to_proto(kind: &TopUpEventKind) -> pb::TopUpEvent {
    let event = match kind {
        TopUpEventKind::TopUpCreated(created) => E::TopUpCreated(pb::TopUpCreated {
            top_up_id: created.top_up_id.to_string(),
            tenant: created.tenant.clone(),
            wallet_id: created.wallet_id.to_string(),
            owner: created.owner.clone(),
            kind: top_up_kind_to_proto(created.kind),
            asset: created.asset.code().to_owned(),
            asset_scale: created.asset.scale(),
            amount: created.amount.to_string(),
            wallet_amount: created.wallet_amount.to_string(),
            fee_rate: created.fee_rate.as_percent().to_string(),
            fee: created.fee.to_string(),
            lots_expire_at_ms: created.lots_expire_at.map(Timestamp::as_millis),
            payment_method_id: optional_uuid_text(created.payment_method_id),
            payment_id: created.payment_id.to_string(),
            checkout_session_id: optional_uuid_text(created.checkout_session_id),
            expires_at_ms: created.expires_at.as_millis(),
        }),
        TopUpEventKind::TopUpPaymentCaptured { payment_id, amount } => {
            E::TopUpPaymentCaptured(pb::TopUpPaymentCaptured {
                payment_id: payment_id.to_string(),
                amount: amount.to_string(),
            })
        }
        TopUpEventKind::TopUpLateCaptureRecorded { payment_id, amount } => {
            E::TopUpLateCaptureRecorded(pb::TopUpLateCaptureRecorded {
                payment_id: payment_id.to_string(),
                amount: amount.to_string(),
            })
        }
        TopUpEventKind::TopUpCompleted {
            paid_lot_id,
            granted,
            credited,
        } => E::TopUpCompleted(pb::TopUpCompleted {
            paid_lot_id: paid_lot_id.to_string(),
            granted: Some(granted_to_proto(*granted)),
            credited: credited.to_string(),
        }),
        TopUpEventKind::TopUpExpired { expires_at } => E::TopUpExpired(pb::TopUpExpired {
            expires_at_ms: expires_at.as_millis(),
        }),
        TopUpEventKind::TopUpFailed { reason } => E::TopUpFailed(pb::TopUpFailed {
            reason: Some(failure_reason_to_proto(*reason)),
        }),
    };
    pb::TopUpEvent { event: Some(event) }
}

fn from_proto(message: &pb::TopUpEvent) -> Result<TopUpEventKind, CodecError> {
    Ok(match message.event.as_ref() {
        Some(E::TopUpCreated(e)) => TopUpEventKind::TopUpCreated(TopUpCreated {
            top_up_id: uuid_field(&e.top_up_id, "top_up_id")?,
            tenant: e.tenant.clone(),
            wallet_id: uuid_field(&e.wallet_id, "wallet_id")?,
            owner: e.owner.clone(),
            kind: top_up_kind_from_proto(e.kind, "kind")?,
            asset: asset_field(&e.asset, e.asset_scale, "asset")?,
            amount: decimal_field(&e.amount, "amount")?,
            wallet_amount: decimal_field(&e.wallet_amount, "wallet_amount")?,
            fee_rate: fee_rate_field(&e.fee_rate, "fee_rate")?,
            fee: decimal_field(&e.fee, "fee")?,
            lots_expire_at: e.lots_expire_at_ms.map(Timestamp::from_millis),
            payment_method_id: optional_uuid_field(&e.payment_method_id, "payment_method_id")?,
            payment_id: uuid_field(&e.payment_id, "payment_id")?,
            checkout_session_id: optional_uuid_field(
                &e.checkout_session_id,
                "checkout_session_id",
            )?,
            expires_at: Timestamp::from_millis(e.expires_at_ms),
        }),
        Some(E::TopUpPaymentCaptured(e)) => TopUpEventKind::TopUpPaymentCaptured {
            payment_id: uuid_field(&e.payment_id, "payment_id")?,
            amount: decimal_field(&e.amount, "amount")?,
        },
        Some(E::TopUpLateCaptureRecorded(e)) => TopUpEventKind::TopUpLateCaptureRecorded {
            payment_id: uuid_field(&e.payment_id, "payment_id")?,
            amount: decimal_field(&e.amount, "amount")?,
        },
        Some(E::TopUpCompleted(e)) => TopUpEventKind::TopUpCompleted {
            paid_lot_id: uuid_field(&e.paid_lot_id, "paid_lot_id")?,
            granted: granted_from_proto(e.granted.as_ref())?,
            credited: decimal_field(&e.credited, "credited")?,
        },
        Some(E::TopUpExpired(e)) => TopUpEventKind::TopUpExpired {
            expires_at: Timestamp::from_millis(e.expires_at_ms),
        },
        Some(E::TopUpFailed(e)) => TopUpEventKind::TopUpFailed {
            reason: failure_reason_from_proto(e.reason.as_ref())?,
        },
        None => return Err(CodecError::Field { field: "event" }),
    })
}

/// The proto form of a top-up rejection (recorded by an auto top-up whose create was refused).
pub(crate) fn rejection_to_proto(error: &TopUpError) -> pb::TopUpRejection {
    let reason = match error {
        TopUpError::NotFound => R::NotFound(rejection::NotFound {}),
        TopUpError::AlreadyExists => R::AlreadyExists(rejection::AlreadyExists {}),
        TopUpError::WalletNotOpen { status } => R::WalletNotOpen(rejection::WalletNotOpen {
            status: wallet_status_to_proto(*status),
        }),
        TopUpError::PaymentMethodNotFound => {
            R::PaymentMethodNotFound(rejection::PaymentMethodNotFound {})
        }
        TopUpError::InvalidAmount { field, error } => {
            let (error, max_scale) = match error {
                AmountError::Malformed => (pb::AmountError::Malformed, 0),
                AmountError::NotPositive => (pb::AmountError::NotPositive, 0),
                AmountError::TooManyDecimals { max_scale } => {
                    (pb::AmountError::TooManyDecimals, *max_scale)
                }
                AmountError::TooLarge => (pb::AmountError::TooLarge, 0),
            };
            R::InvalidAmount(rejection::InvalidAmount {
                field: top_up_field_to_proto(*field),
                error: error as i32,
                max_scale,
            })
        }
        TopUpError::InvalidText { field, max_bytes } => R::InvalidText(rejection::InvalidText {
            field: top_up_field_to_proto(*field),
            max_bytes: *max_bytes as u64,
        }),
        TopUpError::WalletAmountBelowAmount { amount } => {
            R::WalletAmountBelowAmount(rejection::WalletAmountBelowAmount {
                amount: amount.to_string(),
            })
        }
        TopUpError::InvalidTimeout { min_ms, max_ms } => {
            R::InvalidTimeout(rejection::InvalidTimeout {
                min_ms: *min_ms,
                max_ms: *max_ms,
            })
        }
        TopUpError::LotExpiryTooSoon { earliest } => {
            R::LotExpiryTooSoon(rejection::LotExpiryTooSoon {
                earliest_ms: earliest.as_millis(),
            })
        }
        TopUpError::PaymentMethodRequired { kind } => {
            R::PaymentMethodRequired(rejection::PaymentMethodRequired {
                kind: top_up_kind_to_proto(*kind),
            })
        }
        TopUpError::PaymentMethodNotAllowed { kind } => {
            R::PaymentMethodNotAllowed(rejection::PaymentMethodNotAllowed {
                kind: top_up_kind_to_proto(*kind),
            })
        }
        TopUpError::InvalidTransition { from } => {
            R::InvalidTransition(rejection::InvalidTransition {
                status: top_up_status_to_proto(*from),
            })
        }
        TopUpError::PaymentMismatch { expected } => {
            R::PaymentMismatch(rejection::PaymentMismatch {
                expected_payment_id: expected.to_string(),
            })
        }
        TopUpError::CaptureAmountMismatch { expected } => {
            R::CaptureAmountMismatch(rejection::CaptureAmountMismatch {
                expected_amount: expected.to_string(),
            })
        }
        TopUpError::PaymentNotCaptured => R::PaymentNotCaptured(rejection::PaymentNotCaptured {}),
        TopUpError::AlreadyCaptured => R::AlreadyCaptured(rejection::AlreadyCaptured {}),
        TopUpError::DeadlineNotReached { expires_at } => {
            R::DeadlineNotReached(rejection::DeadlineNotReached {
                expires_at_ms: expires_at.as_millis(),
            })
        }
        TopUpError::GrantedCreditMismatch { excess } => {
            R::GrantedCreditMismatch(rejection::GrantedCreditMismatch {
                excess: excess.to_string(),
            })
        }
    };
    pb::TopUpRejection {
        reason: Some(reason),
    }
}

/// The top-up rejection of its proto form; a missing reason is an error.
pub(crate) fn rejection_from_proto(
    rejection: Option<&pb::TopUpRejection>,
) -> Result<TopUpError, CodecError> {
    Ok(
        match rejection.and_then(|rejection| rejection.reason.as_ref()) {
            Some(R::NotFound(_)) => TopUpError::NotFound,
            Some(R::AlreadyExists(_)) => TopUpError::AlreadyExists,
            Some(R::WalletNotOpen(e)) => TopUpError::WalletNotOpen {
                status: wallet_status_from_proto(e.status, "wallet_not_open.status")?,
            },
            Some(R::PaymentMethodNotFound(_)) => TopUpError::PaymentMethodNotFound,
            Some(R::InvalidAmount(e)) => TopUpError::InvalidAmount {
                field: top_up_field_from_proto(e.field, "invalid_amount.field")?,
                error: match pb::AmountError::try_from(e.error) {
                    Ok(pb::AmountError::Malformed) => AmountError::Malformed,
                    Ok(pb::AmountError::NotPositive) => AmountError::NotPositive,
                    Ok(pb::AmountError::TooManyDecimals) => AmountError::TooManyDecimals {
                        max_scale: e.max_scale,
                    },
                    Ok(pb::AmountError::TooLarge) => AmountError::TooLarge,
                    Ok(pb::AmountError::Unspecified) | Err(_) => {
                        return Err(CodecError::Field {
                            field: "invalid_amount.error",
                        });
                    }
                },
            },
            Some(R::InvalidText(e)) => TopUpError::InvalidText {
                field: top_up_field_from_proto(e.field, "invalid_text.field")?,
                max_bytes: usize::try_from(e.max_bytes).map_err(|_| CodecError::Field {
                    field: "invalid_text.max_bytes",
                })?,
            },
            Some(R::WalletAmountBelowAmount(e)) => TopUpError::WalletAmountBelowAmount {
                amount: decimal_field(&e.amount, "wallet_amount_below_amount.amount")?,
            },
            Some(R::InvalidTimeout(e)) => TopUpError::InvalidTimeout {
                min_ms: e.min_ms,
                max_ms: e.max_ms,
            },
            Some(R::LotExpiryTooSoon(e)) => TopUpError::LotExpiryTooSoon {
                earliest: Timestamp::from_millis(e.earliest_ms),
            },
            Some(R::PaymentMethodRequired(e)) => TopUpError::PaymentMethodRequired {
                kind: top_up_kind_from_proto(e.kind, "payment_method_required.kind")?,
            },
            Some(R::PaymentMethodNotAllowed(e)) => TopUpError::PaymentMethodNotAllowed {
                kind: top_up_kind_from_proto(e.kind, "payment_method_not_allowed.kind")?,
            },
            Some(R::InvalidTransition(e)) => TopUpError::InvalidTransition {
                from: top_up_status_from_proto(e.status, "invalid_transition.status")?,
            },
            Some(R::PaymentMismatch(e)) => TopUpError::PaymentMismatch {
                expected: uuid_field(
                    &e.expected_payment_id,
                    "payment_mismatch.expected_payment_id",
                )?,
            },
            Some(R::CaptureAmountMismatch(e)) => TopUpError::CaptureAmountMismatch {
                expected: decimal_field(
                    &e.expected_amount,
                    "capture_amount_mismatch.expected_amount",
                )?,
            },
            Some(R::PaymentNotCaptured(_)) => TopUpError::PaymentNotCaptured,
            Some(R::AlreadyCaptured(_)) => TopUpError::AlreadyCaptured,
            Some(R::DeadlineNotReached(e)) => TopUpError::DeadlineNotReached {
                expires_at: Timestamp::from_millis(e.expires_at_ms),
            },
            Some(R::GrantedCreditMismatch(e)) => TopUpError::GrantedCreditMismatch {
                excess: decimal_field(&e.excess, "granted_credit_mismatch.excess")?,
            },
            None => {
                return Err(CodecError::Field {
                    field: "create_rejected",
                });
            }
        },
    )
}

#[cfg(test)]
mod tests {

    use purse_domain::money::Asset;
    use purse_domain::payment::DeclineReason;
    use purse_proto::event::v1::event_envelope::Payload;
    use rust_decimal::Decimal;
    use uuid::Uuid;

    use super::*;
    use crate::codec::round_trip_each;

    fn created(kind: TopUpKind, optional: bool) -> TopUpEventKind {
        TopUpEventKind::TopUpCreated(TopUpCreated {
            top_up_id: Uuid::from_u128(1),
            tenant: "dev".into(),
            wallet_id: Uuid::from_u128(2),
            owner: "olga".into(),
            kind,
            asset: Asset::parse("BHD", None).unwrap(),
            amount: Decimal::new(10_000, 3),
            wallet_amount: Decimal::new(12_500, 3),
            fee_rate: FeeRate::percent(Decimal::new(29, 1)).unwrap(),
            fee: Decimal::new(290, 3),
            lots_expire_at: optional.then(|| Timestamp::from_millis(1_900_000_000_000)),
            payment_method_id: optional.then(|| Uuid::from_u128(3)),
            payment_id: Uuid::from_u128(4),
            checkout_session_id: optional.then(|| Uuid::from_u128(5)),
            expires_at: Timestamp::from_millis(1_796_642_229_412),
        })
    }

    #[test]
    fn every_event_is_written_as_its_proto_message_and_reads_back() {
        let mut kinds: Vec<_> = TopUpKind::ALL
            .iter()
            .flat_map(|kind| [created(*kind, true), created(*kind, false)])
            .collect();
        kinds.extend([
            TopUpEventKind::TopUpPaymentCaptured {
                payment_id: Uuid::from_u128(4),
                amount: Decimal::new(10_000, 3),
            },
            TopUpEventKind::TopUpLateCaptureRecorded {
                payment_id: Uuid::from_u128(4),
                amount: Decimal::new(10_000, 3),
            },
            TopUpEventKind::TopUpExpired {
                expires_at: Timestamp::from_millis(1_796_642_229_412),
            },
        ]);
        let granted = [
            GrantedCredit::NotNeeded,
            GrantedCredit::Credited {
                lot_id: Uuid::from_u128(7),
            },
        ]
        .into_iter()
        .chain(
            CreditRejection::ALL
                .iter()
                .map(|reason| GrantedCredit::Rejected { reason: *reason }),
        );
        kinds.extend(granted.map(|granted| TopUpEventKind::TopUpCompleted {
            paid_lot_id: Uuid::from_u128(6),
            granted,
            credited: Decimal::new(10_000, 3),
        }));
        let declined = DeclineReason::ALL
            .iter()
            .map(|reason| TopUpFailureReason::Declined { reason: *reason });
        let rejected = CreditRejection::ALL
            .iter()
            .map(|reason| TopUpFailureReason::CreditRejected { reason: *reason });
        kinds.extend(
            declined
                .chain(rejected)
                .map(|reason| TopUpEventKind::TopUpFailed { reason }),
        );
        let types = round_trip_each::<TopUpStream, _>(kinds, |payload| {
            matches!(payload, Payload::TopUp(_))
        });
        assert_eq!(types.len(), 6, "every event type: {types:?}");
    }

    #[test]
    fn every_top_up_rejection_reads_back() {
        let errors = [
            TopUpError::NotFound,
            TopUpError::AlreadyExists,
            TopUpError::PaymentMethodNotFound,
            TopUpError::InvalidText {
                field: TopUpField::Owner,
                max_bytes: 255,
            },
            TopUpError::WalletAmountBelowAmount {
                amount: Decimal::new(1000, 2),
            },
            TopUpError::InvalidTimeout {
                min_ms: 60_000,
                max_ms: 86_400_000,
            },
            TopUpError::LotExpiryTooSoon {
                earliest: Timestamp::from_millis(1_800_000_000_000),
            },
            TopUpError::PaymentMethodRequired {
                kind: TopUpKind::Auto,
            },
            TopUpError::PaymentMethodNotAllowed {
                kind: TopUpKind::Manual,
            },
            TopUpError::InvalidTransition {
                from: TopUpStatus::Expired,
            },
            TopUpError::PaymentMismatch {
                expected: Uuid::from_u128(9),
            },
            TopUpError::CaptureAmountMismatch {
                expected: Decimal::new(1000, 2),
            },
            TopUpError::PaymentNotCaptured,
            TopUpError::AlreadyCaptured,
            TopUpError::DeadlineNotReached {
                expires_at: Timestamp::from_millis(1_796_642_229_412),
            },
            TopUpError::GrantedCreditMismatch {
                excess: Decimal::new(250, 2),
            },
        ];
        let amount_errors = [
            AmountError::Malformed,
            AmountError::NotPositive,
            AmountError::TooManyDecimals { max_scale: 2 },
            AmountError::TooLarge,
        ];
        let invalid_amounts = TopUpField::ALL.iter().flat_map(|field| {
            amount_errors.iter().map(|error| TopUpError::InvalidAmount {
                field: *field,
                error: error.clone(),
            })
        });
        let not_open = WalletStatus::ALL
            .iter()
            .map(|status| TopUpError::WalletNotOpen { status: *status });
        for error in errors.into_iter().chain(invalid_amounts).chain(not_open) {
            let proto = rejection_to_proto(&error);
            assert_eq!(rejection_from_proto(Some(&proto)), Ok(error));
        }
        assert!(rejection_from_proto(None).is_err());
    }

    #[test]
    fn an_unspecified_enum_or_a_missing_reason_is_refused_not_defaulted() {
        let mut message = to_proto(&created(TopUpKind::Manual, false));
        if let Some(E::TopUpCreated(e)) = message.event.as_mut() {
            e.kind = pb::TopUpKind::Unspecified as i32;
        }
        assert_eq!(
            from_proto(&message),
            Err(CodecError::Field { field: "kind" })
        );
        let failed = pb::TopUpEvent {
            event: Some(E::TopUpFailed(pb::TopUpFailed { reason: None })),
        };
        assert_eq!(
            from_proto(&failed),
            Err(CodecError::Field { field: "reason" })
        );
        let rejected = pb::TopUpFailureReason {
            reason: Some(pb::top_up_failure_reason::Reason::CreditRejected(
                pb::CreditRejection::Unspecified as i32,
            )),
        };
        assert_eq!(
            failure_reason_from_proto(Some(&rejected)),
            Err(CodecError::Field {
                field: "reason.credit_rejected"
            })
        );
    }

    #[test]
    fn a_fee_rate_out_of_range_is_refused() {
        let mut message = to_proto(&created(TopUpKind::Manual, false));
        if let Some(E::TopUpCreated(e)) = message.event.as_mut() {
            e.fee_rate = "100.5".into();
        }
        assert_eq!(
            from_proto(&message),
            Err(CodecError::Field { field: "fee_rate" })
        );
    }
}
