//! The top-up, payment and saga deciders' places in the runtime: routing, fingerprints and
//! timers (the wallet's is in [`crate::wallet`]).
//!
//! Only the sagas have timers: a top-up's expiry is scheduled by its saga, which cancels the
//! payment intent before expiring the top-up (see `purse_domain::saga`). Saga inputs carry no
//! tenant (the saga's stream is internal and its first input names the tenant), so their events'
//! envelopes carry none either.

use purse_domain::Timestamp;
use purse_domain::idempotency::Fingerprint;
use purse_domain::payment::{
    PaymentCommand, PaymentDecider, PaymentMethodsCommand, PaymentMethodsDecider,
    PaymentMethodsState, PaymentState,
};
use purse_domain::saga::{
    AutoTopUpCommand, AutoTopUpDecider, AutoTopUpInput, AutoTopUpState, TopUpSagaCommand,
    TopUpSagaDecider, TopUpSagaInput, TopUpSagaState,
};
use purse_domain::topup::{TopUpCommand, TopUpDecider, TopUpState};
use uuid::Uuid;

use crate::shard::{ShardDecider, TimerSettings};

impl ShardDecider for TopUpDecider {
    fn stream_id(command: &TopUpCommand) -> Uuid {
        command.top_up_id
    }

    fn tenant(command: &TopUpCommand) -> &str {
        &command.tenant
    }

    fn fingerprint(command: &TopUpCommand) -> Fingerprint {
        command.fingerprint()
    }

    fn next_deadline(_: &TopUpState, _: &TimerSettings) -> Option<Timestamp> {
        None
    }

    fn timer_command(_: Uuid, _: &TopUpState, _: &TimerSettings) -> Option<TopUpCommand> {
        None
    }
}

impl ShardDecider for PaymentDecider {
    fn stream_id(command: &PaymentCommand) -> Uuid {
        command.payment_id
    }

    fn tenant(command: &PaymentCommand) -> &str {
        &command.tenant
    }

    fn fingerprint(command: &PaymentCommand) -> Fingerprint {
        command.fingerprint()
    }

    fn next_deadline(_: &PaymentState, _: &TimerSettings) -> Option<Timestamp> {
        None
    }

    fn timer_command(_: Uuid, _: &PaymentState, _: &TimerSettings) -> Option<PaymentCommand> {
        None
    }
}

impl ShardDecider for PaymentMethodsDecider {
    fn stream_id(command: &PaymentMethodsCommand) -> Uuid {
        command.stream_id()
    }

    fn tenant(command: &PaymentMethodsCommand) -> &str {
        &command.tenant
    }

    fn fingerprint(command: &PaymentMethodsCommand) -> Fingerprint {
        command.fingerprint()
    }

    fn next_deadline(_: &PaymentMethodsState, _: &TimerSettings) -> Option<Timestamp> {
        None
    }

    fn timer_command(
        _: Uuid,
        _: &PaymentMethodsState,
        _: &TimerSettings,
    ) -> Option<PaymentMethodsCommand> {
        None
    }
}

impl ShardDecider for TopUpSagaDecider {
    fn stream_id(command: &TopUpSagaCommand) -> Uuid {
        command.top_up_id
    }

    fn tenant(_: &TopUpSagaCommand) -> &str {
        ""
    }

    // Saga inputs are sent without idempotency keys (a repeated observation yields no events),
    // so this only has to be stable.
    fn fingerprint(command: &TopUpSagaCommand) -> Fingerprint {
        Fingerprint::of(&serde_json::to_vec(command).unwrap_or_default())
    }

    fn next_deadline(state: &TopUpSagaState, _: &TimerSettings) -> Option<Timestamp> {
        state.next_deadline()
    }

    fn timer_command(
        stream_id: Uuid,
        _: &TopUpSagaState,
        _: &TimerSettings,
    ) -> Option<TopUpSagaCommand> {
        Some(TopUpSagaCommand {
            top_up_id: stream_id,
            input: TopUpSagaInput::Timer,
        })
    }
}

impl ShardDecider for AutoTopUpDecider {
    fn stream_id(command: &AutoTopUpCommand) -> Uuid {
        command.wallet_id
    }

    fn tenant(_: &AutoTopUpCommand) -> &str {
        ""
    }

    fn fingerprint(command: &AutoTopUpCommand) -> Fingerprint {
        command.fingerprint()
    }

    fn next_deadline(state: &AutoTopUpState, _: &TimerSettings) -> Option<Timestamp> {
        state.next_deadline()
    }

    fn timer_command(
        stream_id: Uuid,
        _: &AutoTopUpState,
        _: &TimerSettings,
    ) -> Option<AutoTopUpCommand> {
        Some(AutoTopUpCommand {
            wallet_id: stream_id,
            input: AutoTopUpInput::Timer,
        })
    }
}
