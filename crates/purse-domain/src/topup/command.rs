//! Top-up commands and their canonical fingerprint.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::types::{FeeRate, GrantedCredit, TopUpFailureReason, TopUpKind};
use crate::idempotency::Fingerprint;
use crate::money::Asset;
use crate::support::Encoder;
use crate::time::Timestamp;
use crate::wallet::WalletStatus;

/// A request to change one top-up, on behalf of one tenant.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TopUpCommand {
    /// The caller's tenant; a top-up of another tenant is reported as not found.
    pub tenant: String,
    /// The top-up (and stream) addressed.
    pub top_up_id: Uuid,
    /// What to do.
    pub action: TopUpAction,
}

/// Facts about the wallet credited and the stored card charged that a decider cannot look up:
/// the service reads them from the read model and sends them with the command.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WalletFacts {
    /// The wallet's status.
    pub wallet_status: WalletStatus,
    /// Whether the command's payment method is a stored card of the wallet's owner that was not
    /// removed (false when the command names none).
    pub payment_method_on_file: bool,
}

/// What a top-up command asks for. Only `Create` comes from clients; the others come from the
/// top-up saga.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopUpAction {
    /// Create the top-up; the saga then creates its payment intent.
    Create(CreateTopUp),
    /// The payment was captured: on time while `created`, late (refund needed) once expired or
    /// declined.
    RecordPaymentCaptured {
        /// The payment; must be the top-up's.
        payment_id: Uuid,
        /// How much; must be the top-up's amount.
        amount: Decimal,
    },
    /// The wallet was credited: finish the top-up.
    Complete {
        /// The lot of the paid part.
        paid_lot_id: Uuid,
        /// What became of the granted part.
        granted: GrantedCredit,
    },
    /// The deadline passed and the payment intent was cancelled (or never created).
    Expire,
    /// The payment was declined, or the wallet refused the credit.
    Fail {
        /// Why.
        reason: TopUpFailureReason,
    },
}

/// What creating a top-up asks for.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CreateTopUp {
    /// The wallet credited.
    pub wallet_id: Uuid,
    /// The wallet's owner, who pays (1..=255 bytes).
    pub owner: String,
    /// How the payer pays.
    pub kind: TopUpKind,
    /// The wallet's asset, in which the payer is charged.
    pub asset: Asset,
    /// What the payer is charged.
    pub amount: Decimal,
    /// What the wallet is credited; at least `amount`, the excess as a `granted` lot.
    pub wallet_amount: Decimal,
    /// The tenant's configured fee rate, recorded with the fee it yields.
    pub fee_rate: FeeRate,
    /// How long the payer has to pay ([`super::DEFAULT_TOP_UP_TIMEOUT_MS`] unless
    /// configured), within [`super::MIN_TOP_UP_TIMEOUT_MS`]..=[`super::MAX_TOP_UP_TIMEOUT_MS`].
    pub timeout_ms: i64,
    /// When the credited lots expire, if ever; at least
    /// [`super::MIN_LOT_LIFETIME_AFTER_DEADLINE_MS`] after the top-up's deadline.
    pub lots_expire_at: Option<Timestamp>,
    /// The stored card charged: required for `manual_with_payment_method` and `auto`,
    /// refused for `manual`.
    pub payment_method_id: Option<Uuid>,
    /// What the read model says of the wallet and the card when a client asks. `None` for the
    /// auto top-up saga's own creation: its card and wallet were checked when the rule was
    /// set, and a wallet closed since then refuses the credit.
    #[serde(default)]
    pub facts: Option<WalletFacts>,
}

fn granted_credit(enc: &mut Encoder, granted: &GrantedCredit) {
    match granted {
        GrantedCredit::NotNeeded => enc.str("not_needed"),
        GrantedCredit::Credited { lot_id } => {
            enc.str("credited");
            enc.uuid(*lot_id);
        }
        GrantedCredit::Rejected { reason } => {
            enc.str("rejected");
            enc.str(reason.as_str());
        }
    }
}

impl TopUpCommand {
    /// Canonical, stable hash of tenant, top-up id and every action field (used to detect
    /// idempotency-key reuse with a different request).
    pub fn fingerprint(&self) -> Fingerprint {
        let mut enc = Encoder::new("purse.topup.command.v1");
        enc.str(&self.tenant);
        enc.uuid(self.top_up_id);
        match &self.action {
            // Facts are not the request: a retry after the wallet changed is the same request,
            // and replays.
            TopUpAction::Create(create) => {
                enc.str("create");
                enc.uuid(create.wallet_id);
                enc.str(&create.owner);
                enc.str(create.kind.as_str());
                enc.str(create.asset.code());
                enc.u64(create.asset.scale().into());
                enc.decimal(create.amount);
                enc.decimal(create.wallet_amount);
                enc.decimal(create.fee_rate.as_percent());
                enc.i64(create.timeout_ms);
                enc.option(create.lots_expire_at, Encoder::timestamp);
                enc.option(create.payment_method_id, Encoder::uuid);
            }
            TopUpAction::RecordPaymentCaptured { payment_id, amount } => {
                enc.str("record_payment_captured");
                enc.uuid(*payment_id);
                enc.decimal(*amount);
            }
            TopUpAction::Complete {
                paid_lot_id,
                granted,
            } => {
                enc.str("complete");
                enc.uuid(*paid_lot_id);
                granted_credit(&mut enc, granted);
            }
            TopUpAction::Expire => enc.str("expire"),
            TopUpAction::Fail { reason } => {
                enc.str("fail");
                enc.str(reason.as_str());
                enc.str(reason.detail());
            }
        }
        enc.finish()
    }
}
