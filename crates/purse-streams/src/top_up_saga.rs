//! Top-up sagas: one internal stream per top-up; no read model.

use purse_domain::saga::{TopUpSagaDecider, TopUpSagaEvent};
use purse_runtime::topics::DeciderTopics;

crate::bind_decider!(
    /// The top-up saga as the engine drives it.
    TopUpSagaStream => TopUpSagaDecider
);

crate::json::json_codec!(TopUpSagaStream, TopUpSagaEvent, "top_up_saga");

/// Where its commands and events travel.
pub const TOPICS: DeciderTopics = DeciderTopics {
    commands: "purse.saga.topup.commands",
    events: "purse.saga.topup.events",
    group: "purse-saga-topups",
};
