//! First writer wins: the one rule every reader of a log partition applies (DESIGN §4).
//!
//! A record is valid only if its first event has the next sequence of its stream and its
//! `previous_event_id` names the stream's current last event. The second condition is ours on top
//! of the sequence rule: without it, a stale writer whose record `n+1` lost could still land a
//! record `n+2` decided on that losing state, and it would look valid (see docs/adr/0003).

use std::collections::{HashMap, HashSet};

use tracing::error;

use crate::metrics::{self, Event, Reader};

/// The last accepted event of a stream.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct StreamHead {
    /// Last accepted stream sequence (0: nothing yet).
    pub sequence: u64,
    /// Event id at that sequence (empty: nothing yet).
    pub event_id: String,
}

/// What a reader must do with one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The record won: apply it.
    Accepted,
    /// A sequence already taken, or decided on a state that lost: ignore it (and count it).
    Conflict,
    /// A sequence gap: an invariant violation; the stream is halted.
    Gap {
        /// The sequence the stream needed next.
        expected: u64,
        /// The sequence the record carried.
        found: u64,
    },
    /// The stream was halted by an earlier gap; nothing more is applied to it.
    Halted,
}

/// The identity of a record as the guard sees it.
#[derive(Clone, Debug)]
pub struct RecordHeader<'a> {
    /// Stream every event of the record belongs to.
    pub stream_id: &'a str,
    /// Sequence of the record's first event.
    pub first_sequence: u64,
    /// Sequence of the record's last event.
    pub last_sequence: u64,
    /// Event id the writer believed was the stream's last.
    pub previous_event_id: &'a str,
    /// Ids of the record's events, in order.
    pub event_ids: Vec<&'a str>,
}

/// Per-partition first-writer-wins state, shared by every consumer (shard rebuild and read-back,
/// projector, and later sagas and notifications).
#[derive(Debug, Default)]
pub struct SequenceGuard {
    heads: HashMap<String, StreamHead>,
    /// Event ids of losing records, so a loser built on a loser is recognised as a conflict.
    losers: HashSet<String>,
    halted: HashSet<String>,
    conflicts: u64,
    /// The reader whose conflicts are also recorded for `/metrics`.
    exported: Option<Reader>,
}

impl SequenceGuard {
    /// A guard whose conflicts are also recorded as `reader`'s ([`Event::StreamConflict`]).
    pub fn exporting_to(reader: Reader) -> Self {
        Self {
            exported: Some(reader),
            ..Self::default()
        }
    }

    /// Starts a stream's head from a stored position (a reader resuming from a checkpoint).
    pub fn seed(&mut self, stream_id: &str, head: StreamHead) {
        self.heads.insert(stream_id.to_owned(), head);
    }

    /// Whether the guard already tracks this stream.
    pub fn knows(&self, stream_id: &str) -> bool {
        self.heads.contains_key(stream_id)
    }

    /// The stream's last accepted event.
    pub fn head(&self, stream_id: &str) -> Option<&StreamHead> {
        self.heads.get(stream_id)
    }

    /// Whether a gap halted this stream.
    pub fn is_halted(&self, stream_id: &str) -> bool {
        self.halted.contains(stream_id)
    }

    /// Number of losing records seen (`purse_stream_conflicts_total`).
    pub fn conflicts(&self) -> u64 {
        self.conflicts
    }

    /// Judges one record, in partition order, and advances the stream's head if it won.
    pub fn admit(&mut self, record: &RecordHeader<'_>) -> Verdict {
        if self.halted.contains(record.stream_id) {
            return Verdict::Halted;
        }
        let head = self
            .heads
            .get(record.stream_id)
            .cloned()
            .unwrap_or_default();
        let next = head.sequence + 1;
        let builds_on_loser = self.losers.contains(record.previous_event_id);
        if record.first_sequence == next && record.previous_event_id == head.event_id {
            let last_event_id = record.event_ids.last().copied().unwrap_or_default();
            self.heads.insert(
                record.stream_id.to_owned(),
                StreamHead {
                    sequence: record.last_sequence,
                    event_id: last_event_id.to_owned(),
                },
            );
            return Verdict::Accepted;
        }
        if record.first_sequence <= next || builds_on_loser {
            self.conflicts += 1;
            if let Some(reader) = self.exported {
                metrics::record(Event::StreamConflict { reader });
            }
            self.losers
                .extend(record.event_ids.iter().map(|id| (*id).to_owned()));
            return Verdict::Conflict;
        }
        error!(
            stream_id = record.stream_id,
            expected = next,
            found = record.first_sequence,
            "sequence gap in stream: invariant violated, stream halted"
        );
        self.halted.insert(record.stream_id.to_owned());
        Verdict::Gap {
            expected: next,
            found: record.first_sequence,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(
        stream: &'a str,
        first: u64,
        previous: &'a str,
        ids: &'a [&'a str],
    ) -> RecordHeader<'a> {
        RecordHeader {
            stream_id: stream,
            first_sequence: first,
            last_sequence: first + ids.len() as u64 - 1,
            previous_event_id: previous,
            event_ids: ids.to_vec(),
        }
    }

    #[test]
    fn the_first_record_of_each_sequence_wins() {
        let mut guard = SequenceGuard::default();
        assert_eq!(guard.admit(&header("w", 1, "", &["a1"])), Verdict::Accepted);
        assert_eq!(
            guard.admit(&header("w", 2, "a1", &["a2", "a3"])),
            Verdict::Accepted
        );
        assert_eq!(
            guard.admit(&header("w", 2, "a1", &["b2"])),
            Verdict::Conflict
        );
        assert_eq!(guard.head("w").unwrap().sequence, 3);
        assert_eq!(guard.conflicts(), 1);
    }

    #[test]
    fn a_record_decided_on_a_losing_state_loses_even_with_the_next_sequence() {
        let mut guard = SequenceGuard::default();
        guard.admit(&header("w", 1, "", &["a1"]));
        guard.admit(&header("w", 2, "a1", &["b2"]));
        // Stale writer: its 2 lost to b2; its 3 is built on its own 2.
        assert_eq!(
            guard.admit(&header("w", 2, "a1", &["s2"])),
            Verdict::Conflict
        );
        assert_eq!(
            guard.admit(&header("w", 3, "s2", &["s3"])),
            Verdict::Conflict
        );
        assert_eq!(
            guard.admit(&header("w", 4, "s3", &["s4"])),
            Verdict::Conflict
        );
        assert_eq!(
            guard.admit(&header("w", 3, "b2", &["b3"])),
            Verdict::Accepted
        );
        assert_eq!(guard.conflicts(), 3);
    }

    #[test]
    fn a_gap_halts_the_stream_and_nothing_more_applies() {
        let mut guard = SequenceGuard::default();
        guard.admit(&header("w", 1, "", &["a1"]));
        assert_eq!(
            guard.admit(&header("w", 3, "x2", &["a3"])),
            Verdict::Gap {
                expected: 2,
                found: 3
            }
        );
        assert_eq!(guard.admit(&header("w", 2, "a1", &["a2"])), Verdict::Halted);
        assert_eq!(
            guard.admit(&header("other", 1, "", &["o1"])),
            Verdict::Accepted
        );
    }

    #[test]
    fn a_seeded_head_continues_where_a_checkpoint_left_off() {
        let mut guard = SequenceGuard::default();
        guard.seed(
            "w",
            StreamHead {
                sequence: 7,
                event_id: "e7".into(),
            },
        );
        assert_eq!(
            guard.admit(&header("w", 7, "e6", &["x7"])),
            Verdict::Conflict
        );
        assert_eq!(
            guard.admit(&header("w", 8, "e7", &["e8"])),
            Verdict::Accepted
        );
    }
}
