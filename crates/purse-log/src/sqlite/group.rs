//! In-process consumer groups for the embedded log.
//!
//! The coordinator keeps, per group, the live members, the target assignment (recomputed on every
//! join and leave) and the current owner of each partition. Rebalancing is cooperative: a
//! partition whose target moved stays with its owner until the owner polls and is told `Revoked`
//! (or until the revoke timeout passes, for an owner that stopped polling); only then does the new
//! target get it as `Assigned`. So no two members are ever told they own one partition at once,
//! except after a forced takeover, where the old owner's commits are refused (`NotAssigned`).
//!
//! Positions (the next offset to fetch) belong to the consumer, not to the coordinator: a newly
//! assigned partition starts at the group's committed offset, read from SQLite.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::Inner;
use crate::{GroupConsumer, GroupEvent, LogError, MAX_READ_RECORDS, TopicPartition};

type MemberKey = u64;
type Subscribers<'a> = Vec<(&'a str, MemberKey)>;

/// Assignment state of every group of one log.
pub(crate) struct Coordinator {
    groups: Mutex<HashMap<String, Group>>,
    next_key: AtomicU64,
    revoke_timeout: Duration,
}

struct Group {
    members: BTreeMap<MemberKey, Member>,
    /// Where each partition should be, given the live members.
    target: BTreeMap<TopicPartition, MemberKey>,
    /// Who holds each partition now: told `Assigned`, not yet told `Revoked`, not timed out.
    owners: BTreeMap<TopicPartition, MemberKey>,
    /// When an owner whose partition's target moved loses it even if it never polls.
    revoke_deadlines: BTreeMap<TopicPartition, Instant>,
    /// Bumped on every change another member may need to react to; members wait on it.
    changed: watch::Sender<u64>,
}

struct Member {
    member_id: String,
    /// Subscribed topics with their partition counts (fixed once a topic exists).
    topics: Vec<(String, u32)>,
    /// What this member was told it owns. Differs from `owners` only after a forced takeover,
    /// until the member polls and is told `Revoked`.
    held: BTreeSet<TopicPartition>,
}

/// What a member should do next.
pub(crate) enum Step {
    /// Report this to the member.
    Event(GroupEvent),
    /// Nothing changed: fetch records from these partitions, and if there are none, wait for a
    /// change, an append, or `wake_at` (when a partition this member awaits is taken by force).
    Fetch {
        held: Vec<TopicPartition>,
        wake_at: Option<Instant>,
    },
}

impl Coordinator {
    pub(crate) fn new(revoke_timeout: Duration) -> Self {
        Self {
            groups: Mutex::new(HashMap::new()),
            next_key: AtomicU64::new(0),
            revoke_timeout,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Group>> {
        // Every mutation below finishes before anything can panic, so a poisoned lock still
        // guards consistent state; recovering keeps `Drop` of consumers from double-panicking.
        self.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a member and rebalances.
    pub(crate) fn join(
        &self,
        group: &str,
        member_id: &str,
        topics: Vec<(String, u32)>,
    ) -> (MemberKey, watch::Receiver<u64>) {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let mut groups = self.lock();
        let state = groups.entry(group.to_owned()).or_insert_with(|| Group {
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            owners: BTreeMap::new(),
            revoke_deadlines: BTreeMap::new(),
            changed: watch::Sender::new(0),
        });
        state.members.insert(
            key,
            Member {
                member_id: member_id.to_owned(),
                topics,
                held: BTreeSet::new(),
            },
        );
        state.rebalance(Instant::now() + self.revoke_timeout);
        (key, state.changed.subscribe())
    }

    /// Removes a member; its partitions are free at once (it will not process them again).
    pub(crate) fn leave(&self, group: &str, key: MemberKey) {
        let mut groups = self.lock();
        let Some(state) = groups.get_mut(group) else {
            return;
        };
        state.members.remove(&key);
        if state.members.is_empty() {
            groups.remove(group);
            return;
        }
        state.owners.retain(|_, owner| *owner != key);
        state.rebalance(Instant::now() + self.revoke_timeout);
    }

    /// Decides what member `key` sees next.
    pub(crate) fn step(&self, group: &str, key: MemberKey, now: Instant) -> Result<Step, LogError> {
        let mut groups = self.lock();
        let state = groups.get_mut(group).ok_or(LogError::Closed)?;
        Ok(state.step(key, now))
    }

    /// Whether member `key` currently owns the partition (and so may commit it).
    pub(crate) fn owns(&self, group: &str, key: MemberKey, partition: &TopicPartition) -> bool {
        let groups = self.lock();
        groups.get(group).is_some_and(|state| {
            state.owners.get(partition) == Some(&key)
                && state
                    .members
                    .get(&key)
                    .is_some_and(|member| member.held.contains(partition))
        })
    }
}

impl Group {
    /// Recomputes the target assignment after a membership change.
    fn rebalance(&mut self, revoke_deadline: Instant) {
        // Per topic: its partition count and its subscribers as (member id, key).
        let mut subscribers: BTreeMap<&str, (u32, Subscribers<'_>)> = BTreeMap::new();
        for (key, member) in &self.members {
            for (topic, partitions) in &member.topics {
                subscribers
                    .entry(topic)
                    .or_insert((*partitions, Vec::new()))
                    .1
                    .push((&member.member_id, *key));
            }
        }
        let mut target = BTreeMap::new();
        // Round-robin over all partitions of all topics (members in a stable order), carrying the
        // position from one topic to the next so single-partition topics spread too.
        let mut turn = 0usize;
        for (topic, (partitions, mut members)) in subscribers {
            members.sort_unstable();
            for partition in 0..partitions {
                let (_, key) = members[turn % members.len()];
                target.insert(TopicPartition::new(topic, partition), key);
                turn += 1;
            }
        }
        self.target = target;
        let deadlines = &mut self.revoke_deadlines;
        deadlines.retain(|partition, _| self.owners.contains_key(partition));
        for (partition, owner) in &self.owners {
            if self.target.get(partition) == Some(owner) {
                deadlines.remove(partition);
            } else {
                deadlines
                    .entry(partition.clone())
                    .or_insert(revoke_deadline);
            }
        }
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn step(&mut self, key: MemberKey, now: Instant) -> Step {
        let mut changed = false;
        // An owner that did not poll in time loses its partitions without being asked; it learns
        // of it (as `Revoked`) on its next poll, and its commits are refused meanwhile.
        let expired: Vec<TopicPartition> = self
            .revoke_deadlines
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(partition, _)| partition.clone())
            .collect();
        for partition in expired {
            self.revoke_deadlines.remove(&partition);
            if let Some(owner) = self.owners.remove(&partition) {
                tracing::warn!(
                    topic = %partition.topic,
                    partition = partition.partition,
                    owner,
                    "consumer did not acknowledge a revocation in time; partition taken over"
                );
            }
            changed = true;
        }

        let Self {
            members,
            target,
            owners,
            revoke_deadlines,
            changed: changed_tx,
        } = self;
        let member = members
            .get_mut(&key)
            .expect("a consumer's member stays in its group until the consumer is dropped");

        let revoked: Vec<TopicPartition> = member
            .held
            .iter()
            .filter(|p| owners.get(*p) != Some(&key) || target.get(*p) != Some(&key))
            .cloned()
            .collect();
        let event = if !revoked.is_empty() {
            for partition in &revoked {
                member.held.remove(partition);
                if owners.get(partition) == Some(&key) {
                    owners.remove(partition);
                    revoke_deadlines.remove(partition);
                }
            }
            changed = true;
            Some(GroupEvent::Revoked(revoked))
        } else {
            let assigned: Vec<TopicPartition> = target
                .iter()
                .filter(|(p, k)| **k == key && !owners.contains_key(*p))
                .map(|(p, _)| p.clone())
                .collect();
            for partition in &assigned {
                owners.insert(partition.clone(), key);
                member.held.insert(partition.clone());
            }
            (!assigned.is_empty()).then_some(GroupEvent::Assigned(assigned))
        };
        if changed {
            changed_tx.send_modify(|n| *n = n.wrapping_add(1));
        }
        match event {
            Some(event) => Step::Event(event),
            None => Step::Fetch {
                held: member.held.iter().cloned().collect(),
                wake_at: target
                    .iter()
                    .filter(|(_, k)| **k == key)
                    .filter_map(|(p, _)| revoke_deadlines.get(p).copied())
                    .min(),
            },
        }
    }
}

/// A member of a consumer group of a [`SqliteLog`](crate::SqliteLog).
///
/// Dropping it leaves the group. `poll` is cancel-safe: an assignment change is decided and
/// returned with no await in between, so dropping a pending `poll` loses no event.
pub struct SqliteGroupConsumer {
    log: Arc<Inner>,
    group: String,
    key: MemberKey,
    /// Next offset to fetch per held partition; absent until first fetched (then read from the
    /// committed offset).
    positions: HashMap<TopicPartition, u64>,
    /// Where the next fetch starts among held partitions, so one busy partition cannot starve
    /// the others.
    cursor: usize,
    group_changes: watch::Receiver<u64>,
    appends: watch::Receiver<u64>,
}

impl SqliteGroupConsumer {
    pub(crate) fn new(
        log: Arc<Inner>,
        group: &str,
        member_id: &str,
        topics: Vec<(String, u32)>,
    ) -> Self {
        let (key, group_changes) = log.coordinator.join(group, member_id, topics);
        let appends = log.shared.appended.subscribe();
        Self {
            log,
            group: group.to_owned(),
            key,
            positions: HashMap::new(),
            cursor: 0,
            group_changes,
            appends,
        }
    }

    /// A partition that is assigned again starts over from the committed offset.
    fn forget_positions(&mut self, event: &GroupEvent) {
        if let GroupEvent::Assigned(partitions) | GroupEvent::Revoked(partitions) = event {
            for partition in partitions {
                self.positions.remove(partition);
            }
        }
    }

    /// Records from the first held partition (from the cursor on) that has any.
    async fn fetch(
        &mut self,
        held: &[TopicPartition],
        max_records: usize,
    ) -> Result<Option<GroupEvent>, LogError> {
        for i in 0..held.len() {
            let index = (self.cursor + i) % held.len();
            let partition = &held[index];
            let end = self
                .log
                .shared
                .end_offset(&partition.topic, partition.partition)?;
            let position = match self.positions.get(partition) {
                Some(position) => *position,
                None => {
                    let committed = self
                        .log
                        .committed(&self.group, &partition.topic, partition.partition)
                        .await?
                        .unwrap_or(0);
                    self.positions.insert(partition.clone(), committed);
                    committed
                }
            };
            if position >= end {
                continue;
            }
            let records = self
                .log
                .read_stored(&partition.topic, partition.partition, position, max_records)
                .await?;
            if let Some(last) = records.last() {
                self.positions.insert(partition.clone(), last.offset + 1);
                self.cursor = index + 1;
                return Ok(Some(GroupEvent::Records {
                    partition: partition.clone(),
                    records,
                }));
            }
        }
        Ok(None)
    }
}

#[async_trait::async_trait]
impl GroupConsumer for SqliteGroupConsumer {
    async fn poll(
        &mut self,
        max_records: usize,
        wait_ms: u64,
    ) -> Result<Option<GroupEvent>, LogError> {
        let max_records = max_records.min(MAX_READ_RECORDS);
        let deadline = Instant::now() + Duration::from_millis(wait_ms);
        loop {
            // Mark both signals seen before looking at the state, so a change made after the
            // look wakes the wait below instead of being missed.
            self.group_changes.borrow_and_update();
            self.appends.borrow_and_update();
            let step = self
                .log
                .coordinator
                .step(&self.group, self.key, Instant::now())?;
            let (held, wake_at) = match step {
                Step::Event(event) => {
                    self.forget_positions(&event);
                    return Ok(Some(event));
                }
                Step::Fetch { held, wake_at } => (held, wake_at),
            };
            if max_records > 0
                && !held.is_empty()
                && let Some(event) = self.fetch(&held, max_records).await?
            {
                return Ok(Some(event));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            let wake = wake_at.map_or(deadline, |at| at.min(deadline));
            tokio::select! {
                // The senders live as long as this member's group and the log: never closed here.
                _ = self.group_changes.changed() => {}
                _ = self.appends.changed() => {}
                () = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }

    async fn commit(
        &mut self,
        topic: &str,
        partition: u32,
        next_offset: u64,
    ) -> Result<(), LogError> {
        let owned = TopicPartition::new(topic, partition);
        if !self.log.coordinator.owns(&self.group, self.key, &owned) {
            return Err(LogError::NotAssigned {
                topic: topic.to_owned(),
                partition,
            });
        }
        self.log
            .commit_offset(&self.group, topic, partition, next_offset)
            .await
    }

    async fn leave(self: Box<Self>) -> Result<(), LogError> {
        // Leaving is dropping: `Drop` frees the partitions.
        Ok(())
    }
}

impl Drop for SqliteGroupConsumer {
    fn drop(&mut self) {
        self.log.coordinator.leave(&self.group, self.key);
    }
}
