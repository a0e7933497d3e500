//! The auto top-up rule of one wallet.

use rust_decimal::Decimal;
use uuid::Uuid;

use crate::time::MILLIS_PER_DAY;
use crate::topup::FeeRate;

/// How long auto top-up waits after a failure unless configured otherwise: one hour.
pub const DEFAULT_AUTO_TOP_UP_BACKOFF_MS: i64 = 3_600_000;
/// Shortest configurable back-off.
pub const MIN_AUTO_TOP_UP_BACKOFF_MS: i64 = 60_000;
/// Longest configurable back-off.
pub const MAX_AUTO_TOP_UP_BACKOFF_MS: i64 = 7 * MILLIS_PER_DAY;
/// Auto top-ups per UTC day unless configured otherwise.
pub const DEFAULT_AUTO_TOP_UPS_PER_DAY: u32 = 3;
/// Most auto top-ups a rule may allow per UTC day.
pub const MAX_AUTO_TOP_UPS_PER_DAY: u32 = 24;
/// The notification type raised for `AutoTopUpFailed`.
pub const AUTO_TOP_UP_FAILED_NOTIFICATION: &str = "wallet.auto_top_up_failed";

/// How much an auto top-up charges: exactly one of a fixed amount or a target balance.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoTopUpAmount {
    /// Always this amount.
    Fixed {
        /// The amount charged and credited.
        amount: Decimal,
    },
    /// Whatever brings the available balance back to `target` (above the threshold).
    TargetBalance {
        /// The available balance aimed for.
        target: Decimal,
    },
}

/// What stops a runaway: per UTC day, at most `max_count` auto top-ups started, and, if set, at
/// most `max_amount` charged by them. Every start counts, failed ones included: each one is an
/// attempt on the payer's card.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DailyCap {
    /// Auto top-ups started per UTC day (1..=[`MAX_AUTO_TOP_UPS_PER_DAY`]).
    pub max_count: u32,
    /// Σ amounts of the auto top-ups started per UTC day, if bounded.
    pub max_amount: Option<Decimal>,
}

impl Default for DailyCap {
    fn default() -> Self {
        Self {
            max_count: DEFAULT_AUTO_TOP_UPS_PER_DAY,
            max_amount: None,
        }
    }
}

/// A wallet's auto top-up rule: when the available balance falls below `threshold`, charge the
/// stored card once (see [`crate::saga`] for the exact triggering rules).
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AutoTopUpRule {
    /// The available balance (balance − held) under which a top-up starts.
    pub threshold: Decimal,
    /// How much to charge.
    pub amount: AutoTopUpAmount,
    /// The owner's stored card to charge.
    pub payment_method_id: Uuid,
    /// The daily cap.
    pub daily_cap: DailyCap,
    /// Wait after a failed auto top-up before the next attempt
    /// ([`DEFAULT_AUTO_TOP_UP_BACKOFF_MS`] unless configured).
    pub backoff_ms: i64,
    /// The tenant's fee rate, applied to the top-ups this rule creates.
    pub fee_rate: FeeRate,
    /// The payment deadline of the top-ups this rule creates.
    pub timeout_ms: i64,
}
