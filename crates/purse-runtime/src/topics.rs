//! What a stream kind's topics are (each kind names its own in `purse-streams`), and the reply
//! topic every command bus shares.

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
