//! Small value types of the wallet: kinds, statuses, sources and limits.

use rust_decimal::Decimal;

pub(crate) use crate::support::named_enum;

named_enum! {
    /// Whose wallet it is. Both kinds follow the same rules; the kind is recorded for reporting.
    pub enum WalletKind {
        /// Holds an end customer's funds.
        Customer => "customer",
        /// One of the tenant's own wallets (fees, revenue, promotions).
        System => "system",
    }
}

named_enum! {
    /// Where a wallet is in its lifecycle.
    pub enum WalletStatus {
        /// Accepts every operation.
        Open => "open",
        /// Keeps its balance; no credits, debits, refunds, hold placements or captures.
        Suspended => "suspended",
        /// Final; balance zero, nothing but timers.
        Closed => "closed",
    }
}

named_enum! {
    /// Why funds were credited; decides consumption order and keeps paid and granted spending
    /// traceable.
    pub enum CreditSource {
        /// Bought with money (a top-up).
        Paid => "paid",
        /// Given away (promotion, bonus); consumed before paid funds.
        Granted => "granted",
        /// Returned from an earlier debit; only through the `Refund` command.
        Refund => "refund",
        /// Received from another wallet.
        Transfer => "transfer",
        /// A manual correction.
        Adjustment => "adjustment",
    }
}

named_enum! {
    /// What a debit paid for.
    pub enum DebitKind {
        /// A purchase of goods or services.
        Purchase => "purchase",
        /// Redemption of credits for a reward.
        Redemption => "redemption",
        /// A fee charged by the tenant.
        Fee => "fee",
        /// Sent to another wallet.
        TransferOut => "transfer_out",
        /// Paid out of the platform.
        Payout => "payout",
    }
}

named_enum! {
    /// Where a hold is in its life; it leaves `Active` exactly once.
    pub enum HoldStatus {
        /// Funds reserved, awaiting capture or void.
        Active => "active",
        /// Debited (fully or partially; the rest was released).
        Captured => "captured",
        /// Released by the client.
        Voided => "voided",
        /// Released because its deadline passed.
        Expired => "expired",
    }
}

named_enum! {
    /// Why a hold released its funds without a capture.
    pub enum HoldReleaseReason {
        /// The client voided it.
        Void => "void",
        /// Its deadline passed.
        Expired => "expired",
    }
}

impl HoldReleaseReason {
    /// The status a hold ends in when released for this reason.
    pub fn final_status(self) -> HoldStatus {
        match self {
            Self::Void => HoldStatus::Voided,
            Self::Expired => HoldStatus::Expired,
        }
    }
}

/// A wallet's optional limits; amounts are in the wallet's asset.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Highest balance a credit may produce (refunds are exempt).
    pub max_balance: Option<Decimal>,
    /// Most that debits and hold placements may total within one UTC day.
    pub daily_debit_limit: Option<Decimal>,
    /// Largest single debit or hold placement.
    pub per_transaction_max: Option<Decimal>,
    /// Most client money operations within a trailing window.
    pub velocity: Option<VelocityLimit>,
    /// Balance under which downstream services warn the owner; no rule here depends on it.
    pub low_balance_threshold: Option<Decimal>,
}

/// At most `max_operations` client money operations per wallet within any trailing `window_ms`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VelocityLimit {
    /// Operations allowed within the window (1..=[`MAX_VELOCITY_OPERATIONS`]).
    pub max_operations: u32,
    /// Window length in milliseconds (1..=[`MAX_VELOCITY_WINDOW_MS`]).
    pub window_ms: i64,
}

/// Upper bound on [`VelocityLimit::max_operations`]: the wallet remembers that many operation
/// times, so the bound keeps state small.
pub const MAX_VELOCITY_OPERATIONS: u32 = 10_000;

/// Upper bound on [`VelocityLimit::window_ms`] (31 days).
pub const MAX_VELOCITY_WINDOW_MS: i64 = 31 * crate::time::MILLIS_PER_DAY;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in WalletKind::ALL {
            assert_eq!(WalletKind::parse(kind.as_str()), Some(*kind));
        }
        for status in WalletStatus::ALL {
            assert_eq!(WalletStatus::parse(status.as_str()), Some(*status));
        }
        for source in CreditSource::ALL {
            assert_eq!(CreditSource::parse(source.as_str()), Some(*source));
        }
        for kind in DebitKind::ALL {
            assert_eq!(DebitKind::parse(kind.as_str()), Some(*kind));
        }
        for status in HoldStatus::ALL {
            assert_eq!(HoldStatus::parse(status.as_str()), Some(*status));
        }
        for reason in HoldReleaseReason::ALL {
            assert_eq!(HoldReleaseReason::parse(reason.as_str()), Some(*reason));
        }
    }

    #[test]
    fn names_are_lower_snake_case() {
        assert_eq!(WalletKind::Customer.as_str(), "customer");
        assert_eq!(DebitKind::TransferOut.as_str(), "transfer_out");
        assert_eq!(HoldReleaseReason::Void.as_str(), "void");
        assert_eq!(DebitKind::parse("TransferOut"), None);
        assert_eq!(CreditSource::Granted.to_string(), "granted");
    }
}
