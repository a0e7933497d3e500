//! What every stream's events share: the fact and the instant it was decided.

use crate::time::Timestamp;

/// A fact about one stream, at the time it was decided. Each stream names its own kind of fact
/// (`WalletEvent = Event<WalletEventKind>`, …).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Event<K> {
    /// When the decision that produced it was made.
    pub occurred_at: Timestamp,
    /// What happened.
    pub kind: K,
}

/// A stream's kind of fact, with the stable type names that logs, metrics and consumers see.
pub trait EventKind {
    /// Stable event type name ("FundsDebited").
    fn event_type(&self) -> &'static str;
}

impl<K: EventKind> Event<K> {
    /// Stable event type name of what happened ("FundsDebited").
    pub fn event_type(&self) -> &'static str {
        self.kind.event_type()
    }
}
