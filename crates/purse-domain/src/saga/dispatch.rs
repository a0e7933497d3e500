//! What sagas ask other streams to do: commands with derived idempotency keys.

use rust_decimal::Decimal;
use uuid::Uuid;

use crate::idempotency::IdempotencyKey;
use crate::payment::{PaymentCommand, PaymentMethodsCommand};
use crate::time::Timestamp;
use crate::topup::TopUpCommand;
use crate::wallet::{CreditSource, WalletAction, WalletCommand};

/// A command a saga wants executed, with the idempotency key that makes sending it again
/// harmless: the target stream replays the first outcome instead of acting twice.
///
/// Sagas are level-triggered: their outcome lists every command still wanted, computed from
/// state, so after a crash the runtime re-sends them all and nothing is lost or done twice
/// (within the idempotency retention window, which must exceed the longest saga outage).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Dispatch {
    /// Derived from the saga's ids and the step, never random.
    pub idempotency_key: IdempotencyKey,
    /// The command.
    pub command: DispatchCommand,
}

/// A command for one of the streams sagas drive.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DispatchCommand {
    /// To a payment intent.
    Payment(PaymentCommand),
    /// To an owner's stored cards.
    PaymentMethods(PaymentMethodsCommand),
    /// To a top-up.
    TopUp(TopUpCommand),
    /// A credit to a wallet.
    WalletCredit(WalletCredit),
}

/// A wallet credit requested by a saga ([`WalletCredit::to_command`] builds the wallet command).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WalletCredit {
    /// The wallet's tenant.
    pub tenant: String,
    /// The wallet.
    pub wallet_id: Uuid,
    /// How much.
    pub amount: Decimal,
    /// `paid` or `granted`.
    pub source: CreditSource,
    /// When the lot expires, if ever.
    pub expires_at: Option<Timestamp>,
    /// The integrator-visible reference: the top-up id.
    pub reference: String,
    /// Human-readable description.
    pub description: String,
}

impl WalletCredit {
    /// The wallet command.
    pub fn to_command(&self) -> WalletCommand {
        WalletCommand {
            tenant: self.tenant.clone(),
            wallet_id: self.wallet_id,
            action: WalletAction::Credit {
                amount: self.amount,
                source: self.source,
                expires_at: self.expires_at,
                reference: self.reference.clone(),
                description: self.description.clone(),
            },
        }
    }
}

/// An idempotency key built from ids and fixed ASCII words, which is always a valid key.
pub(crate) fn derived_key(text: String) -> IdempotencyKey {
    match IdempotencyKey::parse(&text) {
        Ok(key) => key,
        // Hyphenated UUIDs and the fixed words used here are visible ASCII, far below 255 bytes.
        Err(error) => panic!("derived idempotency key {text:?} is invalid: {error}"),
    }
}
