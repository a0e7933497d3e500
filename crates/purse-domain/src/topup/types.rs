//! Small value types of top-ups: kinds, statuses, the fee rate and failure reasons.

use rust_decimal::Decimal;
use uuid::Uuid;

use crate::money::Asset;
use crate::payment::DeclineReason;
use crate::support::named_enum;
use crate::wallet::{LimitKind, WalletError};

named_enum! {
    /// How the payer pays.
    pub enum TopUpKind {
        /// The payer enters a card on the hosted payment page.
        Manual => "manual",
        /// A stored card is charged at the payer's request.
        ManualWithPaymentMethod => "manual_with_payment_method",
        /// A stored card is charged by the wallet's auto top-up rule.
        Auto => "auto",
    }
}

impl TopUpKind {
    /// Whether this kind charges a stored card (and so needs a payment method id).
    pub fn uses_stored_card(self) -> bool {
        !matches!(self, Self::Manual)
    }
}

named_enum! {
    /// Where a top-up is in its life; it leaves `Created` exactly once, and every other status
    /// is final.
    pub enum TopUpStatus {
        /// Waiting for the payment and the wallet credit.
        Created => "created",
        /// Paid and credited.
        Completed => "completed",
        /// Not paid by its deadline.
        Expired => "expired",
        /// Declined, or the wallet refused the credit (and the payment is refunded).
        Failed => "failed",
    }
}

impl TopUpStatus {
    /// Whether the status is final.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Created)
    }
}

/// Most decimal places a fee rate may have (0.0125 %).
pub const MAX_FEE_RATE_SCALE: u32 = 4;

/// A fee as a percentage of the amount paid: 0 to 100 with at most [`MAX_FEE_RATE_SCALE`]
/// decimal places (2.9 means 2.9 %).
///
/// Serialized as the percentage (a decimal string) and validated again when read.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct FeeRate(Decimal);

impl TryFrom<Decimal> for FeeRate {
    type Error = FeeRateError;

    fn try_from(percent: Decimal) -> Result<Self, FeeRateError> {
        Self::percent(percent)
    }
}

impl From<FeeRate> for Decimal {
    fn from(rate: FeeRate) -> Self {
        rate.0
    }
}

impl FeeRate {
    /// No fee.
    pub const ZERO: FeeRate = FeeRate(Decimal::ZERO);

    /// The rate of `percent` per cent; trailing zeros do not count towards the scale.
    pub fn percent(percent: Decimal) -> Result<Self, FeeRateError> {
        let exact = percent.normalize();
        if exact.is_sign_negative() && !exact.is_zero() {
            return Err(FeeRateError::Negative);
        }
        if exact > Decimal::ONE_HUNDRED {
            return Err(FeeRateError::AboveHundred);
        }
        if exact.scale() > MAX_FEE_RATE_SCALE {
            return Err(FeeRateError::TooManyDecimals {
                max_scale: MAX_FEE_RATE_SCALE,
            });
        }
        // -0 normalises to a negative zero in rust_decimal; keep one zero.
        Ok(Self(if exact.is_zero() {
            Decimal::ZERO
        } else {
            exact
        }))
    }

    /// The rate in per cent.
    pub fn as_percent(self) -> Decimal {
        self.0
    }

    /// The fee on `amount` (an amount of `asset` at its scale): `amount × rate / 100`, computed
    /// exactly in 128-bit integers and rounded half up (ties away from zero) to the asset's
    /// scale, the usual commercial rule: 2.9 % of 0.50 USD is 0.0145, so 0.01; 2.5 % of 0.50 USD
    /// is 0.0125, so 0.01; 1 % of 0.50 USD is exactly 0.005, so 0.01. Never above `amount`.
    pub fn fee_for(self, asset: &Asset, amount: Decimal) -> Decimal {
        let scale = asset.scale();
        let mut amount = amount;
        amount.rescale(scale);
        let mut rate = self.0;
        rate.rescale(MAX_FEE_RATE_SCALE);
        // amount units < 10^29 and rate units <= 10^6, so the product stays below 10^35,
        // far inside i128 (about 1.7 * 10^38).
        let product = amount.mantissa() * rate.mantissa();
        let divisor = 100 * 10i128.pow(MAX_FEE_RATE_SCALE);
        let mut units = product / divisor;
        if 2 * (product % divisor) >= divisor {
            units += 1;
        }
        Decimal::from_i128_with_scale(units, scale)
    }
}

/// Why a fee rate was refused. INVALID_ARGUMENT `INVALID_FEE_RATE` (a configuration error).
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FeeRateError {
    /// Below zero.
    #[error("fee rate must not be negative")]
    Negative,
    /// Above 100 %.
    #[error("fee rate must be at most 100 %")]
    AboveHundred,
    /// More decimal places than [`MAX_FEE_RATE_SCALE`].
    #[error("fee rate has more than {max_scale} decimal places")]
    TooManyDecimals {
        /// [`MAX_FEE_RATE_SCALE`].
        max_scale: u32,
    },
}

named_enum! {
    /// Why a wallet refused a top-up's credit, as the top-up and the saga record it.
    pub enum CreditRejection {
        /// The wallet does not exist (or belongs to another tenant).
        WalletNotFound => "wallet_not_found",
        /// The wallet is suspended.
        WalletSuspended => "wallet_suspended",
        /// The wallet is closed.
        WalletClosed => "wallet_closed",
        /// The credit would take the balance above the wallet's `max_balance`.
        MaxBalanceExceeded => "max_balance_exceeded",
        /// The credit would take the balance above the asset's largest amount.
        BalanceCeilingExceeded => "balance_ceiling_exceeded",
        /// The wallet's velocity limit refused it; the saga retries later before giving up.
        VelocityLimited => "velocity_limited",
        /// The wallet found the credit itself invalid (a bug in the caller: logged as an error).
        InvalidCredit => "invalid_credit",
    }
}

impl CreditRejection {
    /// How the wallet's rejection of a credit is recorded. Written out variant by variant, so
    /// a new wallet error forces a decision here.
    pub fn from_wallet_error(error: &WalletError) -> Self {
        match error {
            WalletError::NotFound => Self::WalletNotFound,
            WalletError::Suspended => Self::WalletSuspended,
            WalletError::Closed => Self::WalletClosed,
            WalletError::BalanceCeilingExceeded { .. } => Self::BalanceCeilingExceeded,
            WalletError::LimitExceeded { limit, .. } => match limit {
                LimitKind::MaxBalance => Self::MaxBalanceExceeded,
                LimitKind::Velocity => Self::VelocityLimited,
                // Debit limits never apply to a credit.
                LimitKind::DailyDebit | LimitKind::PerTransaction => Self::InvalidCredit,
            },
            WalletError::AlreadyExists
            | WalletError::InsufficientFunds { .. }
            | WalletError::InvalidAmount { .. }
            | WalletError::InvalidVelocity
            | WalletError::InvalidText { .. }
            | WalletError::InvalidMetadata { .. }
            | WalletError::ExpiryNotInFuture { .. }
            | WalletError::HoldTooLong { .. }
            | WalletError::HoldNotFound
            | WalletError::HoldNotActive { .. }
            | WalletError::CaptureExceedsHold { .. }
            | WalletError::DebitNotFound
            | WalletError::RefundExceedsDebit { .. }
            | WalletError::SourceNotAllowed { .. }
            | WalletError::InvalidTransition { .. }
            | WalletError::BalanceNotZero { .. }
            | WalletError::OpenHolds { .. }
            | WalletError::HoldOwnedByTransaction { .. }
            | WalletError::InvalidTransactionLegs { .. }
            | WalletError::TransactionNotFound
            | WalletError::TransactionNotPrepared { .. } => Self::InvalidCredit,
        }
    }

    /// Whether the same credit may succeed later without anyone acting (worth a retry).
    pub fn is_transient(self) -> bool {
        matches!(self, Self::VelocityLimited)
    }
}

/// Why a top-up failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopUpFailureReason {
    /// The provider declined the payment.
    Declined {
        /// The provider's reason.
        reason: DeclineReason,
    },
    /// The payment was captured but the wallet refused the credit; the payment is refunded.
    CreditRejected {
        /// The wallet's reason.
        reason: CreditRejection,
    },
}

impl TopUpFailureReason {
    /// Stable name of the failure's kind ("declined", "credit_rejected").
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Declined { .. } => "declined",
            Self::CreditRejected { .. } => "credit_rejected",
        }
    }

    /// Stable name of the precise reason ("insufficient_funds", "wallet_closed").
    pub fn detail(self) -> &'static str {
        match self {
            Self::Declined { reason } => reason.as_str(),
            Self::CreditRejected { reason } => reason.as_str(),
        }
    }
}

/// What became of the granted part (`wallet_amount − amount`) of a completed top-up.
///
/// The paid and granted parts are two wallet credits (one lot per source), because a lot has one
/// source. The paid part is credited first; if the wallet then refuses the granted part (its
/// `max_balance`, typically), the payer still gets what they paid for and the top-up completes,
/// recording the refusal here so it is reported rather than lost.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantedCredit {
    /// `wallet_amount == amount`: nothing to grant.
    NotNeeded,
    /// The granted part was credited as this lot.
    Credited {
        /// The granted lot.
        lot_id: Uuid,
    },
    /// The wallet refused the granted part.
    Rejected {
        /// The wallet's reason.
        reason: CreditRejection,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::parse_decimal;

    fn d(text: &str) -> Decimal {
        parse_decimal(text).expect("decimal")
    }

    fn rate(text: &str) -> FeeRate {
        FeeRate::percent(d(text)).expect("rate")
    }

    fn usd() -> Asset {
        Asset::parse("USD", None).expect("USD")
    }

    #[test]
    fn fee_rates_are_percentages_with_four_decimals_at_most() {
        assert_eq!(rate("2.9").as_percent(), d("2.9"));
        assert_eq!(rate("2.90000").as_percent(), d("2.9"));
        assert_eq!(rate("0").as_percent(), Decimal::ZERO);
        assert_eq!(rate("-0").as_percent(), Decimal::ZERO);
        assert_eq!(rate("100").as_percent(), d("100"));
        assert_eq!(FeeRate::percent(d("-0.01")), Err(FeeRateError::Negative));
        assert_eq!(
            FeeRate::percent(d("100.0001")),
            Err(FeeRateError::AboveHundred)
        );
        assert_eq!(
            FeeRate::percent(d("0.00001")),
            Err(FeeRateError::TooManyDecimals { max_scale: 4 })
        );
    }

    #[test]
    fn fee_rates_are_validated_when_read() {
        assert_eq!(FeeRate::try_from(d("101")), Err(FeeRateError::AboveHundred));
        assert_eq!(Decimal::from(rate("2.9")), d("2.9"));
    }

    #[test]
    fn fees_round_half_up_to_the_asset_scale() {
        let usd = usd();
        assert_eq!(rate("2.9").fee_for(&usd, d("20.00")), d("0.58"));
        assert_eq!(rate("2.9").fee_for(&usd, d("0.50")), d("0.01"));
        assert_eq!(rate("2.5").fee_for(&usd, d("0.50")), d("0.01"));
        assert_eq!(rate("1").fee_for(&usd, d("0.50")), d("0.01"));
        assert_eq!(rate("1").fee_for(&usd, d("0.49")), d("0.00"));
        assert_eq!(rate("0.0125").fee_for(&usd, d("1000.00")), d("0.13"));
        assert_eq!(rate("3.3333").fee_for(&usd, d("10.00")), d("0.33"));
        assert_eq!(FeeRate::ZERO.fee_for(&usd, d("10.00")), d("0.00"));
        assert_eq!(rate("100").fee_for(&usd, d("10.00")), d("10.00"));
        assert_eq!(rate("2.9").fee_for(&usd, d("20")).to_string(), "0.58");
        let jpy = Asset::parse("JPY", None).expect("JPY");
        assert_eq!(rate("3.6").fee_for(&jpy, d("1250")), d("45"));
        assert_eq!(rate("3.6").fee_for(&jpy, d("125")), d("5"));
        let bhd = Asset::parse("BHD", None).expect("BHD");
        assert_eq!(rate("2.5").fee_for(&bhd, d("1.001")), d("0.025"));
    }

    #[test]
    fn fees_stay_exact_at_the_largest_amounts_and_finest_scales() {
        let usd = usd();
        let max = usd.max_amount();
        assert_eq!(rate("100").fee_for(&usd, max), max);
        assert_eq!(rate("0.0001").fee_for(&usd, max), d("1000000000"));
        let dust = Asset::parse("dust", Some(18)).expect("dust");
        let max = dust.max_amount();
        assert_eq!(rate("99.9999").fee_for(&dust, max), d("9999990000"));
        assert_eq!(
            rate("2.9").fee_for(&dust, d("0.000000000000000001")),
            Decimal::ZERO
        );
        assert_eq!(
            rate("50").fee_for(&dust, d("0.000000000000000001")),
            d("0.000000000000000001")
        );
    }

    #[test]
    fn wallet_errors_map_to_credit_rejections() {
        use crate::wallet::CreditSource;
        assert_eq!(
            CreditRejection::from_wallet_error(&WalletError::Suspended),
            CreditRejection::WalletSuspended
        );
        assert_eq!(
            CreditRejection::from_wallet_error(&WalletError::LimitExceeded {
                limit: LimitKind::MaxBalance,
                limit_value: "100.00".into(),
            }),
            CreditRejection::MaxBalanceExceeded
        );
        let velocity = CreditRejection::from_wallet_error(&WalletError::LimitExceeded {
            limit: LimitKind::Velocity,
            limit_value: "5 per 60000 ms".into(),
        });
        assert_eq!(velocity, CreditRejection::VelocityLimited);
        assert!(velocity.is_transient());
        assert_eq!(
            CreditRejection::from_wallet_error(&WalletError::SourceNotAllowed {
                source: CreditSource::Refund
            }),
            CreditRejection::InvalidCredit
        );
        assert!(!CreditRejection::WalletClosed.is_transient());
    }

    #[test]
    fn names_round_trip() {
        for kind in TopUpKind::ALL {
            assert_eq!(TopUpKind::parse(kind.as_str()), Some(*kind));
        }
        for status in TopUpStatus::ALL {
            assert_eq!(TopUpStatus::parse(status.as_str()), Some(*status));
        }
        for rejection in CreditRejection::ALL {
            assert_eq!(CreditRejection::parse(rejection.as_str()), Some(*rejection));
        }
        assert_eq!(
            TopUpKind::ManualWithPaymentMethod.as_str(),
            "manual_with_payment_method"
        );
        let failure = TopUpFailureReason::Declined {
            reason: DeclineReason::InsufficientFunds,
        };
        assert_eq!(
            (failure.as_str(), failure.detail()),
            ("declined", "insufficient_funds")
        );
    }
}
