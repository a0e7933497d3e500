//! What the auto top-up saga observes: rule changes from clients, the wallet's balance, its own
//! top-ups, and its timer.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::rule::AutoTopUpRule;
use crate::idempotency::Fingerprint;
use crate::money::Asset;
use crate::support::Encoder;
use crate::topup::{
    TopUp, TopUpError, TopUpEvent, TopUpEventKind, TopUpFailureReason, TopUpKind, TopUpOutcome,
    WalletFacts,
};
use crate::wallet::{WalletEvent, WalletEventKind};

/// One input for the auto top-up saga of one wallet (the saga id is the wallet id).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AutoTopUpCommand {
    /// The wallet, and the saga's stream.
    pub wallet_id: Uuid,
    /// What was asked or observed.
    pub input: AutoTopUpInput,
}

/// What the saga is asked or observed.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoTopUpInput {
    /// A client sets (or replaces) the wallet's rule.
    SetRule {
        /// The caller's tenant.
        tenant: String,
        /// The wallet's owner (1..=255 bytes).
        owner: String,
        /// The wallet's asset.
        asset: Asset,
        /// The rule.
        rule: AutoTopUpRule,
        /// What the read model says of the wallet and the rule's card.
        facts: WalletFacts,
    },
    /// A client removes the wallet's rule; an auto top-up in flight still finishes.
    RemoveRule {
        /// The caller's tenant.
        tenant: String,
    },
    /// The wallet's available balance after one of its events.
    BalanceObserved {
        /// The wallet event's stream sequence: older observations are ignored.
        wallet_sequence: u64,
        /// Balance − held after it.
        available: Decimal,
    },
    /// A top-up of this saga exists.
    TopUpCreated {
        /// The top-up.
        top_up_id: Uuid,
    },
    /// The top-up decider refused to create a top-up of this saga.
    TopUpRejected {
        /// The top-up.
        top_up_id: Uuid,
        /// Why.
        error: TopUpError,
    },
    /// A top-up of this saga completed.
    TopUpCompleted {
        /// The top-up.
        top_up_id: Uuid,
    },
    /// A top-up of this saga failed.
    TopUpFailed {
        /// The top-up.
        top_up_id: Uuid,
        /// Why.
        reason: TopUpFailureReason,
    },
    /// A top-up of this saga expired.
    TopUpExpired {
        /// The top-up.
        top_up_id: Uuid,
    },
    /// The saga's timer fired.
    Timer,
}

impl AutoTopUpCommand {
    /// The balance observation in a wallet event; None for events that move no money.
    pub fn from_wallet_event(
        wallet_id: Uuid,
        wallet_sequence: u64,
        event: &WalletEvent,
    ) -> Option<Self> {
        let (balance_after, held_after) = match &event.kind {
            WalletEventKind::FundsCredited {
                balance_after,
                held_after,
                ..
            }
            | WalletEventKind::FundsDebited {
                balance_after,
                held_after,
                ..
            }
            | WalletEventKind::HoldPlaced {
                balance_after,
                held_after,
                ..
            }
            | WalletEventKind::HoldCaptured {
                balance_after,
                held_after,
                ..
            }
            | WalletEventKind::HoldReleased {
                balance_after,
                held_after,
                ..
            }
            | WalletEventKind::LotExpired {
                balance_after,
                held_after,
                ..
            }
            | WalletEventKind::TransactionHoldPlaced {
                balance_after,
                held_after,
                ..
            }
            | WalletEventKind::TransactionPosted {
                balance_after,
                held_after,
                ..
            }
            | WalletEventKind::TransactionHoldReleased {
                balance_after,
                held_after,
                ..
            } => (*balance_after, *held_after),
            WalletEventKind::WalletOpened { .. }
            | WalletEventKind::WalletSuspended { .. }
            | WalletEventKind::WalletReactivated
            | WalletEventKind::WalletClosed
            | WalletEventKind::LimitsChanged { .. }
            | WalletEventKind::LotExpiringSoon { .. }
            | WalletEventKind::TransactionPrepareFailed { .. } => return None,
        };
        Some(Self {
            wallet_id,
            input: AutoTopUpInput::BalanceObserved {
                wallet_sequence,
                available: balance_after - held_after,
            },
        })
    }

    /// The input for an event of an `auto` top-up, addressed to its wallet's saga; None for
    /// other kinds and for events the saga does not need.
    pub fn from_top_up_event(top_up: &TopUp, event: &TopUpEvent) -> Option<Self> {
        if top_up.kind() != TopUpKind::Auto {
            return None;
        }
        let top_up_id = top_up.id();
        let input = match &event.kind {
            TopUpEventKind::TopUpCreated(_) => AutoTopUpInput::TopUpCreated { top_up_id },
            TopUpEventKind::TopUpCompleted { .. } => AutoTopUpInput::TopUpCompleted { top_up_id },
            TopUpEventKind::TopUpExpired { .. } => AutoTopUpInput::TopUpExpired { top_up_id },
            TopUpEventKind::TopUpFailed { reason } => AutoTopUpInput::TopUpFailed {
                top_up_id,
                reason: *reason,
            },
            TopUpEventKind::TopUpPaymentCaptured { .. }
            | TopUpEventKind::TopUpLateCaptureRecorded { .. } => return None,
        };
        Some(Self {
            wallet_id: top_up.wallet_id(),
            input,
        })
    }

    /// The input for the top-up decider's reply to the saga's create. `AlreadyExists` means an
    /// earlier attempt created it.
    pub fn from_create_reply(
        wallet_id: Uuid,
        top_up_id: Uuid,
        reply: Result<&TopUpOutcome, &TopUpError>,
    ) -> Self {
        let input = match reply {
            Ok(_) | Err(TopUpError::AlreadyExists) => AutoTopUpInput::TopUpCreated { top_up_id },
            Err(error) => AutoTopUpInput::TopUpRejected {
                top_up_id,
                error: error.clone(),
            },
        };
        Self { wallet_id, input }
    }

    /// Canonical, stable hash of the command, for the client inputs' idempotency keys.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut enc = Encoder::new("purse.auto_top_up.command.v1");
        enc.uuid(self.wallet_id);
        match &self.input {
            AutoTopUpInput::SetRule {
                tenant,
                owner,
                asset,
                rule,
                // Facts are not the request (see the top-up's fingerprint).
                facts: _,
            } => {
                enc.str("set_rule");
                enc.str(tenant);
                enc.str(owner);
                enc.str(asset.code());
                enc.u64(asset.scale().into());
                enc.decimal(rule.threshold);
                match rule.amount {
                    super::AutoTopUpAmount::Fixed { amount } => {
                        enc.str("fixed");
                        enc.decimal(amount);
                    }
                    super::AutoTopUpAmount::TargetBalance { target } => {
                        enc.str("target_balance");
                        enc.decimal(target);
                    }
                }
                enc.uuid(rule.payment_method_id);
                enc.u64(rule.daily_cap.max_count.into());
                enc.option(rule.daily_cap.max_amount, Encoder::decimal);
                enc.i64(rule.backoff_ms);
                enc.decimal(rule.fee_rate.as_percent());
                enc.i64(rule.timeout_ms);
            }
            AutoTopUpInput::RemoveRule { tenant } => {
                enc.str("remove_rule");
                enc.str(tenant);
            }
            AutoTopUpInput::BalanceObserved {
                wallet_sequence,
                available,
            } => {
                enc.str("balance_observed");
                enc.u64(*wallet_sequence);
                enc.decimal(*available);
            }
            AutoTopUpInput::TopUpCreated { top_up_id } => {
                enc.str("top_up_created");
                enc.uuid(*top_up_id);
            }
            AutoTopUpInput::TopUpRejected { top_up_id, error } => {
                enc.str("top_up_rejected");
                enc.uuid(*top_up_id);
                enc.str(&error.to_string());
            }
            AutoTopUpInput::TopUpCompleted { top_up_id } => {
                enc.str("top_up_completed");
                enc.uuid(*top_up_id);
            }
            AutoTopUpInput::TopUpFailed { top_up_id, reason } => {
                enc.str("top_up_failed");
                enc.uuid(*top_up_id);
                enc.str(reason.as_str());
                enc.str(reason.detail());
            }
            AutoTopUpInput::TopUpExpired { top_up_id } => {
                enc.str("top_up_expired");
                enc.uuid(*top_up_id);
            }
            AutoTopUpInput::Timer => enc.str("timer"),
        }
        enc.finish()
    }
}
