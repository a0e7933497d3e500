//! Why an auto top-up command was rejected. Each variant names the gRPC status and reason it
//! maps to (only `SetRule` and `RemoveRule` come from clients).

use rust_decimal::Decimal;

use crate::money::AmountError;
use crate::support::named_enum;
use crate::wallet::WalletStatus;

named_enum! {
    /// A field of an auto top-up rule named in an error.
    pub enum AutoTopUpField {
        /// The caller's tenant.
        Tenant => "tenant",
        /// The wallet's owner.
        Owner => "owner",
        /// `rule.threshold`.
        Threshold => "threshold",
        /// `rule.amount` (fixed).
        Amount => "amount",
        /// `rule.amount` (target balance).
        TargetBalance => "target_balance",
        /// `rule.daily_cap.max_amount`.
        DailyMaxAmount => "daily_cap.max_amount",
    }
}

/// A rejected auto top-up command. Rejections produce no events.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoTopUpError {
    /// NOT_FOUND `AUTO_TOP_UP_NOT_FOUND`: no rule to remove, or a wallet of another tenant.
    #[error("auto top-up rule not found")]
    NotFound,
    /// FAILED_PRECONDITION `WALLET_CLOSED`: a closed wallet takes no credit, so it gets no rule
    /// (a suspended one may: it can be reactivated).
    #[error("wallet is {status}")]
    WalletNotOpen {
        /// The wallet's status.
        status: WalletStatus,
    },
    /// NOT_FOUND `PAYMENT_METHOD_NOT_FOUND`: the rule's card is not a stored card of the wallet's
    /// owner (or one removed, or not visible yet: the client retries).
    #[error("payment method not found for the wallet's owner")]
    PaymentMethodNotFound,
    /// INVALID_ARGUMENT `INVALID_TEXT`: an empty or over-long tenant or owner.
    #[error("{field} must be 1..={max_bytes} bytes")]
    InvalidText {
        /// The offending field.
        field: AutoTopUpField,
        /// Its byte limit.
        max_bytes: usize,
    },
    /// INVALID_ARGUMENT `INVALID_AMOUNT`: an amount of the rule is malformed or out of range.
    #[error("invalid {field}: {error}")]
    InvalidAmount {
        /// The offending field.
        field: AutoTopUpField,
        /// What is wrong with it.
        error: AmountError,
    },
    /// INVALID_ARGUMENT `TARGET_NOT_ABOVE_THRESHOLD`: a target balance at or below the threshold.
    #[error("target balance must be above the threshold of {threshold}")]
    TargetNotAboveThreshold {
        /// The rule's threshold.
        threshold: Decimal,
    },
    /// INVALID_ARGUMENT `INVALID_DAILY_CAP`: a daily count outside 1..=`max`.
    #[error("daily cap must allow 1..={max} auto top-ups")]
    InvalidDailyCap {
        /// [`super::MAX_AUTO_TOP_UPS_PER_DAY`].
        max: u32,
    },
    /// INVALID_ARGUMENT `DAILY_CAP_BELOW_AMOUNT`: a daily amount cap below the fixed amount, so
    /// no auto top-up could ever start.
    #[error("daily amount cap is below the top-up amount of {amount}")]
    CapBelowAmount {
        /// The fixed amount.
        amount: Decimal,
    },
    /// INVALID_ARGUMENT `INVALID_BACKOFF`: a back-off outside the accepted range.
    #[error("back-off must be {min_ms}..={max_ms} ms")]
    InvalidBackoff {
        /// [`super::MIN_AUTO_TOP_UP_BACKOFF_MS`].
        min_ms: i64,
        /// [`super::MAX_AUTO_TOP_UP_BACKOFF_MS`].
        max_ms: i64,
    },
    /// INVALID_ARGUMENT `INVALID_TIMEOUT`: a payment deadline outside the top-up's range.
    #[error("timeout must be {min_ms}..={max_ms} ms")]
    InvalidTimeout {
        /// [`crate::topup::MIN_TOP_UP_TIMEOUT_MS`].
        min_ms: i64,
        /// [`crate::topup::MAX_TOP_UP_TIMEOUT_MS`].
        max_ms: i64,
    },
    /// FAILED_PRECONDITION `ASSET_MISMATCH`: a rule for another asset than the wallet's.
    #[error("the wallet holds {expected}")]
    AssetMismatch {
        /// The wallet's asset code.
        expected: String,
    },
}
