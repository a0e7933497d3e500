//! Auto top-up saga events: past tense, stable names.

use crate::event::{Event, EventKind};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::rule::AutoTopUpRule;
use crate::money::Asset;
use crate::payment::DeclineReason;
use crate::time::Timestamp;
use crate::topup::{CreditRejection, FeeRate, TopUpError};

/// A fact about one wallet's auto top-up, at the time it was decided.
pub type AutoTopUpEvent = Event<AutoTopUpEventKind>;

/// Why an auto top-up failed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AutoTopUpFailure {
    /// The card was declined.
    Declined {
        /// The provider's reason.
        reason: DeclineReason,
    },
    /// The wallet refused the credit (the payment was refunded).
    CreditRejected {
        /// The wallet's reason.
        reason: CreditRejection,
    },
    /// The provider did not answer before the top-up's deadline.
    Expired,
    /// The top-up could not be created (the stored card or the rule no longer fits).
    CreateRejected {
        /// The top-up decider's reason.
        error: TopUpError,
    },
}

/// What happened to a wallet's auto top-up.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum AutoTopUpEventKind {
    /// The rule was set or replaced.
    AutoTopUpRuleSet {
        /// The wallet (and saga stream).
        wallet_id: Uuid,
        /// The wallet's tenant.
        tenant: String,
        /// The wallet's owner.
        owner: String,
        /// The wallet's asset.
        asset: Asset,
        /// The rule.
        rule: AutoTopUpRule,
        /// Whether the last known available balance is below the new threshold.
        below_threshold: bool,
        /// Whether a top-up is wanted under the new rule (see [`crate::saga`]).
        pending: bool,
    },
    /// The rule was removed.
    AutoTopUpRuleRemoved,
    /// An available balance the saga keeps: every one below the threshold, and the first one
    /// back above it. Others change nothing and are not recorded.
    AutoTopUpBalanceObserved {
        /// The wallet event's stream sequence.
        wallet_sequence: u64,
        /// Balance − held.
        available: Decimal,
        /// Whether it is below the threshold.
        below_threshold: bool,
        /// Whether a top-up is wanted: it crossed below the threshold (or still waits for the
        /// top-up of an earlier crossing).
        pending: bool,
    },
    /// An auto top-up started: the top-up is created next.
    AutoTopUpStarted {
        /// The top-up.
        top_up_id: Uuid,
        /// What it charges and credits.
        amount: Decimal,
        /// The stored card.
        payment_method_id: Uuid,
        /// The fee rate.
        fee_rate: FeeRate,
        /// The top-up's payment deadline.
        timeout_ms: i64,
        /// The UTC day it counts against.
        day: i64,
    },
    /// The top-up exists.
    AutoTopUpTopUpCreated {
        /// The top-up.
        top_up_id: Uuid,
    },
    /// The auto top-up completed.
    AutoTopUpCompleted {
        /// The top-up.
        top_up_id: Uuid,
    },
    /// The auto top-up failed (notification `wallet.auto_top_up_failed`); none starts before
    /// `retry_at`.
    AutoTopUpFailed {
        /// The top-up.
        top_up_id: Uuid,
        /// Why.
        reason: AutoTopUpFailure,
        /// The end of the back-off.
        retry_at: Timestamp,
        /// Failures in a row, this one included.
        consecutive_failures: u32,
    },
    /// A top-up was wanted but the daily cap was reached; raised once per UTC day.
    AutoTopUpCapReached {
        /// The UTC day.
        day: i64,
        /// Auto top-ups started that day.
        count: u32,
        /// Σ their amounts.
        amount: Decimal,
    },
}

impl EventKind for AutoTopUpEventKind {
    fn event_type(&self) -> &'static str {
        match self {
            Self::AutoTopUpRuleSet { .. } => "AutoTopUpRuleSet",
            Self::AutoTopUpRuleRemoved => "AutoTopUpRuleRemoved",
            Self::AutoTopUpBalanceObserved { .. } => "AutoTopUpBalanceObserved",
            Self::AutoTopUpStarted { .. } => "AutoTopUpStarted",
            Self::AutoTopUpTopUpCreated { .. } => "AutoTopUpTopUpCreated",
            Self::AutoTopUpCompleted { .. } => "AutoTopUpCompleted",
            Self::AutoTopUpFailed { .. } => "AutoTopUpFailed",
            Self::AutoTopUpCapReached { .. } => "AutoTopUpCapReached",
        }
    }
}
