//! Top-ups: one stream per top-up, projected into top-up rows.

pub use crate::payment_rows::{failure_reason_text, top_up_rows};

use purse_domain::topup::{TopUpDecider, TopUpEvent};
use purse_runtime::topics::DeciderTopics;

crate::bind_decider!(
    /// The top-up decider as the engine drives it.
    TopUpStream => TopUpDecider
);

crate::json::json_codec!(TopUpStream, TopUpEvent, "top_up");

/// Where its commands and events travel.
pub const TOPICS: DeciderTopics = DeciderTopics {
    commands: "purse.topup.commands",
    events: "purse.topup.events",
    group: "purse-topups",
};
