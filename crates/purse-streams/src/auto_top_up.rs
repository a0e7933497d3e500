//! Auto top-up sagas: one internal stream per wallet with a rule, projected into rule rows.

pub use crate::payment_rows::{auto_top_up_failure_text, auto_top_up_rows};

use purse_domain::saga::{AutoTopUpDecider, AutoTopUpEvent};
use purse_runtime::topics::DeciderTopics;

crate::bind_decider!(
    /// The auto top-up saga as the engine drives it.
    AutoTopUpStream => AutoTopUpDecider
);

crate::json::json_codec!(AutoTopUpStream, AutoTopUpEvent, "auto_top_up");

/// Where its commands and events travel.
pub const TOPICS: DeciderTopics = DeciderTopics {
    commands: "purse.saga.auto_topup.commands",
    events: "purse.saga.auto_topup.events",
    group: "purse-saga-auto-topups",
};
