//! Payment intents: one stream per intent, projected into payment rows.

pub use crate::payment_rows::payment_rows;

use purse_domain::payment::{PaymentDecider, PaymentEvent};
use purse_runtime::topics::DeciderTopics;

crate::bind_decider!(
    /// The payment intent decider as the engine drives it.
    PaymentStream => PaymentDecider
);

crate::json::json_codec!(PaymentStream, PaymentEvent, "payment");

/// Where its commands and events travel.
pub const TOPICS: DeciderTopics = DeciderTopics {
    commands: "purse.payment.commands",
    events: "purse.payment.events",
    group: "purse-payments",
};
