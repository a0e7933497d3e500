//! Stored payment methods: one stream per (tenant, owner), projected into payment method rows.

pub use crate::payment_rows::payment_method_rows;

use purse_domain::payment::{PaymentMethodsDecider, PaymentMethodsEvent};
use purse_runtime::topics::DeciderTopics;

crate::bind_decider!(
    /// The stored-card decider as the engine drives it.
    PaymentMethodsStream => PaymentMethodsDecider
);

crate::json::json_codec!(PaymentMethodsStream, PaymentMethodsEvent, "payment_methods");

/// Where its commands and events travel.
pub const TOPICS: DeciderTopics = DeciderTopics {
    commands: "purse.payment_method.commands",
    events: "purse.payment_method.events",
    group: "purse-payment-methods",
};
