//! Transaction events: the coordinator's facts, past tense, with stable names.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::types::{Operation, TransactionFailure};
use crate::event::{Event, EventKind};
use crate::idempotency::Fingerprint;
use crate::time::Timestamp;

/// A fact about one transaction, at the time it was decided.
pub type TransactionEvent = Event<TransactionEventKind>;

/// What happened to a transaction.
#[derive(Clone, Debug, PartialEq)]
pub enum TransactionEventKind {
    /// The transaction was recorded; prepares go out to its wallets.
    TransactionStarted {
        /// The transaction (and stream) id.
        transaction_id: Uuid,
        /// The owning tenant.
        tenant: String,
        /// The client's reference, unique per tenant.
        reference_id: String,
        /// [`super::request_fingerprint`]: tells a retry from a different request.
        request_fingerprint: Fingerprint,
        /// The operations, in order.
        operations: Vec<Operation>,
        /// The asset code of every wallet named, as the prepares carry them.
        wallet_assets: BTreeMap<Uuid, String>,
        /// The wallets must all prepare before this instant.
        deadline: Timestamp,
    },
    /// A wallet placed its hold.
    TransactionWalletPrepared {
        /// The wallet.
        wallet_id: Uuid,
    },
    /// Every wallet prepared: the transaction is done in effect; commits go out.
    TransactionCompleted,
    /// The transaction failed: no balance changes; aborts go out to prepared wallets.
    TransactionFailed {
        /// Where and why.
        failure: TransactionFailure,
    },
    /// A wallet posted its entries.
    TransactionWalletCommitted {
        /// The wallet.
        wallet_id: Uuid,
    },
    /// A prepared wallet released its hold.
    TransactionWalletAborted {
        /// The wallet.
        wallet_id: Uuid,
    },
}

impl EventKind for TransactionEventKind {
    fn event_type(&self) -> &'static str {
        match self {
            Self::TransactionStarted { .. } => "TransactionStarted",
            Self::TransactionWalletPrepared { .. } => "TransactionWalletPrepared",
            Self::TransactionCompleted => "TransactionCompleted",
            Self::TransactionFailed { .. } => "TransactionFailed",
            Self::TransactionWalletCommitted { .. } => "TransactionWalletCommitted",
            Self::TransactionWalletAborted { .. } => "TransactionWalletAborted",
        }
    }
}
