//! Transaction commands and their canonical fingerprints.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use uuid::Uuid;

use super::types::Operation;
use crate::idempotency::Fingerprint;
use crate::support::Encoder;
use crate::wallet::TransactionFailureReason;

/// A request to change one transaction, on behalf of one tenant.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TransactionCommand {
    /// The caller's tenant; a transaction of another tenant is reported as not found.
    pub tenant: String,
    /// The transaction (and coordinator stream): [`super::transaction_id`] of the tenant and
    /// the reference id.
    pub transaction_id: Uuid,
    /// What to do.
    pub action: TransactionAction,
}

/// What a transaction command asks for. `Start` comes from clients; the `Record*` commands
/// carry the wallets' answers; `Expire` is the deadline timer.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionAction {
    /// Start the transaction: record it and send every wallet its prepare.
    Start {
        /// The client's reference, unique per tenant (1..=255 visible ASCII characters).
        reference_id: String,
        /// 1..=[`super::MAX_OPERATIONS`] operations, performed in this order.
        operations: Vec<Operation>,
        /// The asset code of every wallet the operations name, as the read model knows it
        /// (a wallet's asset never changes, and each wallet checks its own at prepare).
        wallet_assets: BTreeMap<Uuid, String>,
        /// How long the wallets have to prepare
        /// ([`super::MIN_TRANSACTION_TIMEOUT_MS`]..=[`super::MAX_TRANSACTION_TIMEOUT_MS`]).
        timeout_ms: i64,
    },
    /// A wallet placed its hold.
    RecordPrepared {
        /// The wallet.
        wallet_id: Uuid,
    },
    /// A wallet's prepare failed (recorded by the wallet, or its rejection: not found, closed).
    RecordPrepareFailed {
        /// The wallet.
        wallet_id: Uuid,
        /// The failing operation's index.
        index: u32,
        /// Why.
        reason: TransactionFailureReason,
        /// For `insufficient_funds`: what the wallet could spend at that step.
        available: Option<Decimal>,
    },
    /// A wallet posted its entries.
    RecordCommitted {
        /// The wallet.
        wallet_id: Uuid,
    },
    /// A wallet released its hold (or had none to release).
    RecordAborted {
        /// The wallet.
        wallet_id: Uuid,
    },
    /// Timer: a transaction not fully prepared by its deadline fails.
    Expire,
}

/// The client's request as the reference id binds it: tenant, reference id and operations.
/// A start with the same reference id and this fingerprint is a retry (replayed); with another
/// it is `DUPLICATE_REFERENCE_ID`. The asset facts and the configured timeout are not part of
/// the request, so a retry across a read-model refresh or a config change is still a retry.
pub fn request_fingerprint(
    tenant: &str,
    reference_id: &str,
    operations: &[Operation],
) -> Fingerprint {
    let mut enc = Encoder::new("purse.transaction.request.v1");
    enc.str(tenant);
    enc.str(reference_id);
    encode_operations(&mut enc, operations);
    enc.finish()
}

fn encode_operations(enc: &mut Encoder, operations: &[Operation]) {
    enc.u64(operations.len() as u64);
    for operation in operations {
        operation.encode(enc);
    }
}

impl TransactionCommand {
    /// Canonical, stable hash of the whole command, for the engine's idempotency ledger.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut enc = Encoder::new("purse.transaction.command.v1");
        enc.str(&self.tenant);
        enc.uuid(self.transaction_id);
        match &self.action {
            TransactionAction::Start {
                reference_id,
                operations,
                wallet_assets,
                timeout_ms,
            } => {
                enc.str("start");
                enc.str(reference_id);
                encode_operations(&mut enc, operations);
                enc.u64(wallet_assets.len() as u64);
                for (wallet_id, asset) in wallet_assets {
                    enc.uuid(*wallet_id);
                    enc.str(asset);
                }
                enc.i64(*timeout_ms);
            }
            TransactionAction::RecordPrepared { wallet_id } => {
                enc.str("record_prepared");
                enc.uuid(*wallet_id);
            }
            TransactionAction::RecordPrepareFailed {
                wallet_id,
                index,
                reason,
                available,
            } => {
                enc.str("record_prepare_failed");
                enc.uuid(*wallet_id);
                enc.u64((*index).into());
                enc.str(reason.as_str());
                enc.option(*available, Encoder::decimal);
            }
            TransactionAction::RecordCommitted { wallet_id } => {
                enc.str("record_committed");
                enc.uuid(*wallet_id);
            }
            TransactionAction::RecordAborted { wallet_id } => {
                enc.str("record_aborted");
                enc.uuid(*wallet_id);
            }
            TransactionAction::Expire => enc.str("expire"),
        }
        enc.finish()
    }
}
