//! Wallet commands and their canonical fingerprint.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use uuid::Uuid;

use super::transaction::TransactionLeg;
use super::types::{CreditSource, DebitKind, Limits, WalletKind};
use crate::idempotency::Fingerprint;
use crate::money::Asset;
use crate::support::Encoder;
use crate::time::Timestamp;

/// A request to change one wallet, on behalf of one tenant.
///
/// Serializable because in cluster mode a command travels through `purse.wallet.commands` from
/// the instance that took the call to the instance that owns the wallet's partition.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct WalletCommand {
    /// The caller's tenant; a wallet of another tenant is reported as not found.
    pub tenant: String,
    /// The wallet (and stream) addressed.
    pub wallet_id: Uuid,
    /// What to do.
    pub action: WalletAction,
}

/// What a wallet command asks for.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WalletAction {
    /// Create the wallet.
    Open {
        /// The integrator's customer id (1..=255 bytes, opaque).
        owner: String,
        /// Customer or system wallet.
        kind: WalletKind,
        /// The one asset it will hold.
        asset: Asset,
        /// Initial limits.
        limits: Limits,
        /// Integrator metadata (bounded).
        metadata: BTreeMap<String, String>,
    },
    /// Add funds as a new lot.
    Credit {
        /// How much.
        amount: Decimal,
        /// Why (not `Refund`: that is the `Refund` action).
        source: CreditSource,
        /// When the lot's remainder expires, if ever; must be in the future.
        expires_at: Option<Timestamp>,
        /// The integrator's reference.
        reference: String,
        /// Human-readable description.
        description: String,
    },
    /// Spend available funds.
    Debit {
        /// How much.
        amount: Decimal,
        /// What for.
        kind: DebitKind,
        /// The integrator's reference.
        reference: String,
        /// Human-readable description.
        description: String,
    },
    /// Return (part of) an earlier debit as a new lot.
    Refund {
        /// The debit (or capture) refunded.
        debit_id: Uuid,
        /// How much; at most what remains refundable.
        amount: Decimal,
        /// The integrator's reference.
        reference: String,
        /// Human-readable description.
        description: String,
    },
    /// Reserve available funds until captured, voided or `expires_at`.
    PlaceHold {
        /// How much.
        amount: Decimal,
        /// Deadline; in the future and at most [`super::MAX_HOLD_DURATION_MS`] away.
        expires_at: Timestamp,
        /// The integrator's reference.
        reference: String,
        /// Human-readable description.
        description: String,
    },
    /// Debit up to a hold's amount from its reserved lots and release the rest.
    CaptureHold {
        /// The hold.
        hold_id: Uuid,
        /// How much to debit; at most the hold's amount.
        amount: Decimal,
    },
    /// Release a hold entirely.
    VoidHold {
        /// The hold.
        hold_id: Uuid,
    },
    /// Replace the limits.
    UpdateLimits {
        /// The new limits, complete.
        limits: Limits,
    },
    /// Stop money movements.
    Suspend {
        /// Why (at most [`super::MAX_TEXT_BYTES`]).
        reason: String,
    },
    /// Resume a suspended wallet.
    Reactivate,
    /// Close for good (balance zero, no active holds).
    Close,
    /// Transaction prepare (from the transaction coordinator): walk `legs` in order on the
    /// running balance; place one hold for the largest running drawdown until `expires_at`, or
    /// record the first failing leg. A transaction already answered gets no new events.
    PrepareTransaction {
        /// The transaction (the coordinator's stream id).
        transaction_id: Uuid,
        /// The asset code the coordinator was told this wallet holds; a different one fails
        /// the prepare with `asset_mismatch`.
        asset: String,
        /// This wallet's operations, in transaction order (indexes strictly increasing),
        /// 1..=[`super::MAX_TRANSACTION_LEGS`] of them.
        legs: Vec<TransactionLeg>,
        /// The hold's deadline; in the future and within [`super::MAX_HOLD_DURATION_MS`].
        expires_at: Timestamp,
    },
    /// Transaction commit: post the prepared legs and capture their hold. Again: no-op.
    CommitTransaction {
        /// The transaction.
        transaction_id: Uuid,
    },
    /// Transaction abort: release the prepared hold. Unknown or already released: no-op.
    AbortTransaction {
        /// The transaction.
        transaction_id: Uuid,
    },
    /// Timer: expire due lots, release holds past their deadline, raise due expiring-soon
    /// notices. Produces no events when nothing is due.
    Tick {
        /// How long before a lot's expiry its expiring-soon notice is due.
        notice_lead_ms: i64,
    },
}

impl WalletCommand {
    /// Canonical, stable hash of tenant, wallet id and every action field (used to detect
    /// idempotency-key reuse with a different request).
    ///
    /// Amounts are hashed by value ("20" and "20.00" are the same request). The encoding is
    /// versioned and length-prefixed so no two different commands share an encoding; changing
    /// it would make retries across a deploy look like key reuse, so it only ever gains cases.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut enc = Encoder::new("purse.wallet.command.v1");
        enc.str(&self.tenant);
        enc.uuid(self.wallet_id);
        match &self.action {
            WalletAction::Open {
                owner,
                kind,
                asset,
                limits,
                metadata,
            } => {
                enc.str("open");
                enc.str(owner);
                enc.str(kind.as_str());
                enc.str(asset.code());
                enc.u64(asset.scale().into());
                encode_limits(&mut enc, limits);
                enc.u64(metadata.len() as u64);
                for (key, value) in metadata {
                    enc.str(key);
                    enc.str(value);
                }
            }
            WalletAction::Credit {
                amount,
                source,
                expires_at,
                reference,
                description,
            } => {
                enc.str("credit");
                enc.decimal(*amount);
                enc.str(source.as_str());
                enc.option(*expires_at, |enc, at| enc.timestamp(at));
                enc.str(reference);
                enc.str(description);
            }
            WalletAction::Debit {
                amount,
                kind,
                reference,
                description,
            } => {
                enc.str("debit");
                enc.decimal(*amount);
                enc.str(kind.as_str());
                enc.str(reference);
                enc.str(description);
            }
            WalletAction::Refund {
                debit_id,
                amount,
                reference,
                description,
            } => {
                enc.str("refund");
                enc.uuid(*debit_id);
                enc.decimal(*amount);
                enc.str(reference);
                enc.str(description);
            }
            WalletAction::PlaceHold {
                amount,
                expires_at,
                reference,
                description,
            } => {
                enc.str("place_hold");
                enc.decimal(*amount);
                enc.timestamp(*expires_at);
                enc.str(reference);
                enc.str(description);
            }
            WalletAction::CaptureHold { hold_id, amount } => {
                enc.str("capture_hold");
                enc.uuid(*hold_id);
                enc.decimal(*amount);
            }
            WalletAction::VoidHold { hold_id } => {
                enc.str("void_hold");
                enc.uuid(*hold_id);
            }
            WalletAction::UpdateLimits { limits } => {
                enc.str("update_limits");
                encode_limits(&mut enc, limits);
            }
            WalletAction::Suspend { reason } => {
                enc.str("suspend");
                enc.str(reason);
            }
            WalletAction::Reactivate => enc.str("reactivate"),
            WalletAction::Close => enc.str("close"),
            WalletAction::PrepareTransaction {
                transaction_id,
                asset,
                legs,
                expires_at,
            } => {
                enc.str("prepare_transaction");
                enc.uuid(*transaction_id);
                enc.str(asset);
                enc.u64(legs.len() as u64);
                for leg in legs {
                    leg.encode(&mut enc);
                }
                enc.timestamp(*expires_at);
            }
            WalletAction::CommitTransaction { transaction_id } => {
                enc.str("commit_transaction");
                enc.uuid(*transaction_id);
            }
            WalletAction::AbortTransaction { transaction_id } => {
                enc.str("abort_transaction");
                enc.uuid(*transaction_id);
            }
            WalletAction::Tick { notice_lead_ms } => {
                enc.str("tick");
                enc.u64(*notice_lead_ms as u64);
            }
        }
        enc.finish()
    }
}

/// The canonical encoding of a wallet's limits, part of two commands' fingerprints.
fn encode_limits(enc: &mut Encoder, limits: &Limits) {
    enc.option(limits.max_balance, Encoder::decimal);
    enc.option(limits.daily_debit_limit, Encoder::decimal);
    enc.option(limits.per_transaction_max, Encoder::decimal);
    enc.option(limits.velocity, |enc, v| {
        enc.u64(v.max_operations.into());
        enc.u64(v.window_ms as u64);
    });
    enc.option(limits.low_balance_threshold, Encoder::decimal);
}
