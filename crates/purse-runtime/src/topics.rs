//! Topic and consumer-group names of every stream kind, in one place: services, the saga
//! coordinator, the projector and the runbook all refer to these.

/// Where one decider's commands and events travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeciderTopics {
    /// Commands (cluster mode), keyed by stream id.
    pub commands: &'static str,
    /// Events: the source of truth, kept forever.
    pub events: &'static str,
    /// Consumer group of the shard hosts that own the command partitions.
    pub group: &'static str,
}

/// Command replies of every decider, one partition per group of instances.
pub const REPLIES_TOPIC: &str = "purse.replies";

/// Wallets.
pub const WALLETS: DeciderTopics = DeciderTopics {
    commands: "purse.wallet.commands",
    events: "purse.wallet.events",
    group: "purse-wallets",
};

/// Top-ups.
pub const TOP_UPS: DeciderTopics = DeciderTopics {
    commands: "purse.topup.commands",
    events: "purse.topup.events",
    group: "purse-topups",
};

/// Payment intents.
pub const PAYMENTS: DeciderTopics = DeciderTopics {
    commands: "purse.payment.commands",
    events: "purse.payment.events",
    group: "purse-payments",
};

/// Stored payment methods, one stream per (tenant, owner).
pub const PAYMENT_METHODS: DeciderTopics = DeciderTopics {
    commands: "purse.payment_method.commands",
    events: "purse.payment_method.events",
    group: "purse-payment-methods",
};

/// Top-up sagas, one stream per top-up (internal).
pub const TOP_UP_SAGAS: DeciderTopics = DeciderTopics {
    commands: "purse.saga.topup.commands",
    events: "purse.saga.topup.events",
    group: "purse-saga-topups",
};

/// Auto top-up sagas, one stream per wallet with a rule (internal).
pub const AUTO_TOP_UPS: DeciderTopics = DeciderTopics {
    commands: "purse.saga.auto_topup.commands",
    events: "purse.saga.auto_topup.events",
    group: "purse-saga-auto-topups",
};
