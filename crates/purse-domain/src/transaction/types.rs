//! Operations, statuses and the split of a transaction into each wallet's legs.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use uuid::Uuid;

use crate::support::{Encoder, derived_id, named_enum};
use crate::time::Timestamp;
use crate::wallet::{CreditSource, LegEntry, TransactionFailureReason, TransactionLeg};

/// One operation of a transaction, as the client lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Create value in `wallet_id` as a new lot.
    Issue {
        /// The wallet credited.
        wallet_id: Uuid,
        /// How much (positive; its scale is checked by the wallet against its asset).
        amount: Decimal,
        /// `paid` or `granted`; `paid` when not given ([`DEFAULT_ISSUE_SOURCE`]).
        source: Option<CreditSource>,
        /// When the lot's remainder expires, if ever; in the future.
        expires_at: Option<Timestamp>,
    },
    /// Remove value from `wallet_id`.
    Redeem {
        /// The wallet debited.
        wallet_id: Uuid,
        /// How much.
        amount: Decimal,
    },
    /// Move value from `from` to `to`, two wallets of the same asset.
    Transfer {
        /// The paying wallet.
        from: Uuid,
        /// The receiving wallet (not `from`).
        to: Uuid,
        /// How much.
        amount: Decimal,
    },
    /// Convert value of `from`'s asset into `to`'s at a quoted rate. Quotes do not exist yet:
    /// a transaction with an exchange fails at it with `quote_not_found`.
    Exchange {
        /// The paying wallet.
        from: Uuid,
        /// The receiving wallet (not `from`).
        to: Uuid,
        /// How much of `from`'s asset.
        amount: Decimal,
        /// The quote fixing the rate.
        quote_id: Uuid,
    },
}

/// The source of an issued lot when the operation names none: value issued is taken to be
/// bought (the safer reading: granted value is spent first and reported as promotional).
pub const DEFAULT_ISSUE_SOURCE: CreditSource = CreditSource::Paid;

impl Operation {
    /// The wallets the operation touches, paying side first.
    pub fn wallets(&self) -> Vec<Uuid> {
        match self {
            Self::Issue { wallet_id, .. } | Self::Redeem { wallet_id, .. } => vec![*wallet_id],
            Self::Transfer { from, to, .. } | Self::Exchange { from, to, .. } => vec![*from, *to],
        }
    }

    /// The amount moved.
    pub fn amount(&self) -> Decimal {
        match self {
            Self::Issue { amount, .. }
            | Self::Redeem { amount, .. }
            | Self::Transfer { amount, .. }
            | Self::Exchange { amount, .. } => *amount,
        }
    }

    /// Canonical encoding, part of the request and command fingerprints.
    pub(crate) fn encode(&self, enc: &mut Encoder) {
        match self {
            Self::Issue {
                wallet_id,
                amount,
                source,
                expires_at,
            } => {
                enc.str("issue");
                enc.uuid(*wallet_id);
                enc.decimal(*amount);
                enc.option(*source, |enc, source| enc.str(source.as_str()));
                enc.option(*expires_at, Encoder::timestamp);
            }
            Self::Redeem { wallet_id, amount } => {
                enc.str("redeem");
                enc.uuid(*wallet_id);
                enc.decimal(*amount);
            }
            Self::Transfer { from, to, amount } => {
                enc.str("transfer");
                enc.uuid(*from);
                enc.uuid(*to);
                enc.decimal(*amount);
            }
            Self::Exchange {
                from,
                to,
                amount,
                quote_id,
            } => {
                enc.str("exchange");
                enc.uuid(*from);
                enc.uuid(*to);
                enc.decimal(*amount);
                enc.uuid(*quote_id);
            }
        }
    }
}

/// Each wallet's legs, in operation order, keyed (and so sorted) by wallet id, which makes
/// dispatch order deterministic. A transfer gives its paying wallet a `transfer_debit` and its
/// receiving wallet a `transfer_credit` with the same index. Exchanges yield no legs: they need
/// quotes, and a transaction holding one fails before any prepare is sent.
pub fn legs_by_wallet(operations: &[Operation]) -> BTreeMap<Uuid, Vec<TransactionLeg>> {
    let mut legs: BTreeMap<Uuid, Vec<TransactionLeg>> = BTreeMap::new();
    for (index, operation) in operations.iter().enumerate() {
        // At most MAX_OPERATIONS (100) operations, so the index always fits.
        let index = index as u32;
        let mut push = |wallet_id: Uuid, amount: Decimal, entry: LegEntry| {
            legs.entry(wallet_id).or_default().push(TransactionLeg {
                index,
                amount,
                entry,
            });
        };
        match operation {
            Operation::Issue {
                wallet_id,
                amount,
                source,
                expires_at,
            } => push(
                *wallet_id,
                *amount,
                LegEntry::Issue {
                    source: source.unwrap_or(DEFAULT_ISSUE_SOURCE),
                    expires_at: *expires_at,
                },
            ),
            Operation::Redeem { wallet_id, amount } => push(*wallet_id, *amount, LegEntry::Redeem),
            Operation::Transfer { from, to, amount } => {
                push(*from, *amount, LegEntry::TransferDebit { to: *to });
                push(*to, *amount, LegEntry::TransferCredit { from: *from });
            }
            Operation::Exchange { .. } => {}
        }
    }
    legs
}

/// The coordinator stream (and transaction id) of `reference_id` in `tenant`: a UUID version 8
/// derived like wallet ids (ADR 0002), so a retry of a start addresses the same stream and the
/// reference id is unique per tenant without a registry.
pub fn transaction_id(tenant: &str, reference_id: &str) -> Uuid {
    derived_id(
        b"purse.transaction-id.v1\0",
        &[tenant.as_bytes(), reference_id.as_bytes()],
    )
}

named_enum! {
    /// Where a transaction is; `completed` and `failed` are final.
    pub enum TransactionStatus {
        /// Started; prepares are out.
        Pending => "pending",
        /// Every wallet prepared: commits are out (and cannot fail).
        Completed => "completed",
        /// A wallet failed, an operation was refused, or the deadline passed: aborts are out.
        Failed => "failed",
    }
}

named_enum! {
    /// Where one wallet of a transaction is, as the coordinator knows it.
    pub enum WalletProgress {
        /// Its prepare is out and unanswered.
        Pending => "pending",
        /// Its hold is placed.
        Prepared => "prepared",
        /// Its prepare failed; it holds nothing.
        Failed => "failed",
        /// Its entries are posted.
        Committed => "committed",
        /// Its hold is released.
        Aborted => "aborted",
    }
}

/// Why and where a transaction failed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TransactionFailure {
    /// The failing operation's index; None when no single operation failed (the deadline).
    pub index: Option<u32>,
    /// The wallet that failed it, if one did.
    pub wallet_id: Option<Uuid>,
    /// The machine reason.
    pub reason: TransactionFailureReason,
    /// For `insufficient_funds`: what the wallet could spend at that step.
    pub available: Option<Decimal>,
}
