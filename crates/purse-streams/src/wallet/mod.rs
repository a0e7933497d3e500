//! Wallets: one stream per wallet, its events the public contract `purse.event.v1.WalletEvent`
//! (docs/event-catalogue.md), projected into wallets, balances, history, lots and holds.

mod codec;
mod rows;

pub use rows::wallet_rows;

use purse_domain::wallet::WalletDecider;
use purse_runtime::topics::DeciderTopics;

crate::bind_decider!(
    /// The wallet decider as the engine drives it.
    WalletStream => WalletDecider
);

/// Where wallet commands and events travel.
pub const TOPICS: DeciderTopics = DeciderTopics {
    commands: "purse.wallet.commands",
    events: "purse.wallet.events",
    group: "purse-wallets",
};
