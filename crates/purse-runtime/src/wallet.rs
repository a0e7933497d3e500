//! The wallet decider's place in the runtime: routing, fingerprints and timers.

use purse_domain::Timestamp;
use purse_domain::idempotency::Fingerprint;
use purse_domain::wallet::{WalletAction, WalletCommand, WalletDecider, WalletState};
use uuid::Uuid;

use crate::shard::{ShardDecider, TimerSettings};

impl ShardDecider for WalletDecider {
    fn stream_id(command: &WalletCommand) -> Uuid {
        command.wallet_id
    }

    fn tenant(command: &WalletCommand) -> &str {
        &command.tenant
    }

    fn fingerprint(command: &WalletCommand) -> Fingerprint {
        command.fingerprint()
    }

    fn next_deadline(state: &WalletState, timers: &TimerSettings) -> Option<Timestamp> {
        state.next_deadline(timers.expiring_notice_lead_ms)
    }

    fn timer_command(
        stream_id: Uuid,
        state: &WalletState,
        timers: &TimerSettings,
    ) -> Option<WalletCommand> {
        let wallet = state.wallet()?;
        Some(WalletCommand {
            tenant: wallet.tenant().to_owned(),
            wallet_id: stream_id,
            action: WalletAction::Tick {
                notice_lead_ms: timers.expiring_notice_lead_ms,
            },
        })
    }
}
