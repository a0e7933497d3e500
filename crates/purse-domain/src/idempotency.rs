//! Idempotency keys, request fingerprints and the per-stream ledger of answered requests.
//!
//! Generic over the decider's outcome so the runtime uses one ledger for every stream type.
//! Only successful commands are recorded: a rejection is evaluated again on retry, because the
//! state that caused it may have changed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::time::{MILLIS_PER_DAY, Timestamp};

/// How long an answered key is remembered unless configured otherwise (documented to clients).
pub const DEFAULT_IDEMPOTENCY_RETENTION_MS: i64 = 7 * MILLIS_PER_DAY;

/// Longest accepted idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// A client-chosen key naming one logical request: 1 to 255 visible ASCII characters.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl TryFrom<String> for IdempotencyKey {
    type Error = IdempotencyKeyError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<IdempotencyKey> for String {
    fn from(key: IdempotencyKey) -> String {
        key.0
    }
}

impl IdempotencyKey {
    /// Accepts 1..=255 bytes, each visible ASCII (0x21..=0x7E): no spaces or control characters,
    /// so keys survive headers, logs and copy-paste unchanged.
    pub fn parse(text: &str) -> Result<Self, IdempotencyKeyError> {
        if text.is_empty() {
            return Err(IdempotencyKeyError::Missing);
        }
        if text.len() > MAX_IDEMPOTENCY_KEY_LEN {
            return Err(IdempotencyKeyError::TooLong {
                max: MAX_IDEMPOTENCY_KEY_LEN,
            });
        }
        if let Some(position) = text.bytes().position(|b| !(0x21..=0x7E).contains(&b)) {
            return Err(IdempotencyKeyError::InvalidCharacter { position });
        }
        Ok(Self(text.to_owned()))
    }

    /// The key as the client sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why an idempotency key was refused.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyKeyError {
    /// The key is empty; every mutating command requires one.
    #[error("idempotency key is required")]
    Missing,
    /// The key is longer than `max` bytes.
    #[error("idempotency key is longer than {max} bytes")]
    TooLong {
        /// The longest accepted key, in bytes.
        max: usize,
    },
    /// The byte at `position` is not visible ASCII (0x21..=0x7E).
    #[error("idempotency key has an invalid character at byte {position}")]
    InvalidCharacter {
        /// Zero-based byte offset of the first offending byte.
        position: usize,
    },
}

/// A digest of a request's canonical encoding, to tell a retry from a different request that
/// reuses a key. 128 bits keep accidental collisions out of reach while halving storage.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 16]);

impl Fingerprint {
    /// The first 16 bytes of the SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let digest = Sha256::digest(bytes);
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        Self(out)
    }

    /// 32 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        let mut text = String::with_capacity(32);
        for byte in self.0 {
            // Writing into a String cannot fail.
            let _ = write!(text, "{byte:02x}");
        }
        text
    }

    /// The inverse of [`Fingerprint::to_hex`]; accepts either case, and nothing but exactly
    /// 32 hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            *slot = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
        }
        Some(Self(out))
    }

    /// The raw digest bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The inverse of [`Fingerprint::as_bytes`]: events that carry a fingerprint store its
    /// bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// What the ledger knows about a key.
#[derive(Debug, PartialEq, Eq)]
pub enum IdempotencyCheck<'a, O> {
    /// Not seen within the retention window: decide the command.
    New,
    /// The same request was answered before: return its outcome without deciding again.
    Replay {
        /// The stream sequence of the last event the original command appended.
        sequence: u64,
        /// What the original command returned.
        outcome: &'a O,
    },
    /// The key was used for a different request: reject (`IDEMPOTENCY_KEY_REUSED`).
    KeyReused,
}

// Manual impls: a derive would demand `O: Clone`, which a borrowed outcome does not need.
impl<O> Clone for IdempotencyCheck<'_, O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<O> Copy for IdempotencyCheck<'_, O> {}

#[derive(Clone, Debug)]
struct Record<O> {
    fingerprint: Fingerprint,
    at: Timestamp,
    sequence: u64,
    outcome: O,
}

/// Answered requests of one stream, keyed by idempotency key, forgotten after the retention window.
#[derive(Clone, Debug)]
pub struct IdempotencyLedger<O> {
    records: BTreeMap<IdempotencyKey, Record<O>>,
    // Ordered by record time so pruning touches only what it removes.
    by_time: BTreeSet<(Timestamp, IdempotencyKey)>,
}

impl<O> Default for IdempotencyLedger<O> {
    fn default() -> Self {
        Self {
            records: BTreeMap::new(),
            by_time: BTreeSet::new(),
        }
    }
}

/// A record is retained while its age is at most `retention_ms`; older counts as absent.
fn is_retained(at: Timestamp, now: Timestamp, retention_ms: i64) -> bool {
    now.as_millis().saturating_sub(at.as_millis()) <= retention_ms
}

impl<O> IdempotencyLedger<O> {
    /// A record older than `retention_ms` at `now` counts as absent (the key may be used again).
    pub fn check(
        &self,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
        now: Timestamp,
        retention_ms: i64,
    ) -> IdempotencyCheck<'_, O> {
        match self.records.get(key) {
            Some(record) if is_retained(record.at, now, retention_ms) => {
                if record.fingerprint == fingerprint {
                    IdempotencyCheck::Replay {
                        sequence: record.sequence,
                        outcome: &record.outcome,
                    }
                } else {
                    IdempotencyCheck::KeyReused
                }
            }
            _ => IdempotencyCheck::New,
        }
    }

    /// Remembers that `key` was answered at `at` with `outcome`, its last event at `sequence`.
    /// Replaces an earlier (expired) record of the same key.
    pub fn record(
        &mut self,
        key: IdempotencyKey,
        fingerprint: Fingerprint,
        at: Timestamp,
        sequence: u64,
        outcome: O,
    ) {
        let record = Record {
            fingerprint,
            at,
            sequence,
            outcome,
        };
        if let Some(previous) = self.records.insert(key.clone(), record) {
            self.by_time.remove(&(previous.at, key.clone()));
        }
        self.by_time.insert((at, key));
    }

    /// Drops records older than the window (bounded memory).
    pub fn prune(&mut self, now: Timestamp, retention_ms: i64) {
        // Retained means `at >= now - retention_ms`; the empty key sorts before every real key.
        let cutoff = Timestamp::from_millis(now.as_millis().saturating_sub(retention_ms));
        let kept = self
            .by_time
            .split_off(&(cutoff, IdempotencyKey(String::new())));
        let expired = std::mem::replace(&mut self.by_time, kept);
        for (_, key) in expired {
            self.records.remove(&key);
        }
    }

    /// How many keys are remembered (including ones past the window not yet pruned).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;

    fn key(text: &str) -> IdempotencyKey {
        IdempotencyKey::parse(text).expect("valid key")
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn key_accepts_visible_ascii_up_to_255_bytes() {
        assert_eq!(key("order-42/attempt:1").as_str(), "order-42/attempt:1");
        assert!(IdempotencyKey::parse(&"k".repeat(MAX_IDEMPOTENCY_KEY_LEN)).is_ok());
        assert!(IdempotencyKey::parse("!~").is_ok());
    }

    #[test]
    fn key_rejects_empty_long_and_invisible() {
        assert_eq!(IdempotencyKey::parse(""), Err(IdempotencyKeyError::Missing));
        assert_eq!(
            IdempotencyKey::parse(&"k".repeat(MAX_IDEMPOTENCY_KEY_LEN + 1)),
            Err(IdempotencyKeyError::TooLong { max: 255 })
        );
        assert_eq!(
            IdempotencyKey::parse("ab c"),
            Err(IdempotencyKeyError::InvalidCharacter { position: 2 })
        );
        assert_eq!(
            IdempotencyKey::parse("é"),
            Err(IdempotencyKeyError::InvalidCharacter { position: 0 })
        );
        assert_eq!(
            IdempotencyKey::parse("a\x7f"),
            Err(IdempotencyKeyError::InvalidCharacter { position: 1 })
        );
    }

    #[test]
    fn fingerprint_is_a_truncated_sha256_with_hex_round_trip() {
        // SHA-256("abc") starts ba7816bf 8f01cfea 414140de 5dae2223.
        let fp = Fingerprint::of(b"abc");
        assert_eq!(fp.to_hex(), "ba7816bf8f01cfea414140de5dae2223");
        assert_eq!(Fingerprint::from_hex(&fp.to_hex()), Some(fp));
        assert_eq!(
            Fingerprint::from_hex("BA7816BF8F01CFEA414140DE5DAE2223"),
            Some(fp)
        );
        assert_eq!(Fingerprint::from_hex("ba78"), None);
        assert_eq!(
            Fingerprint::from_hex("zz7816bf8f01cfea414140de5dae2223"),
            None
        );
        assert_ne!(Fingerprint::of(b"abd"), fp);
    }

    #[test]
    fn unseen_key_is_new() {
        let ledger: IdempotencyLedger<u32> = IdempotencyLedger::default();
        let check = ledger.check(&key("k"), Fingerprint::of(b"x"), at(0), HOUR_MS);
        assert_eq!(check, IdempotencyCheck::New);
        assert!(ledger.is_empty());
    }

    #[test]
    fn same_fingerprint_replays_the_recorded_outcome() {
        let mut ledger = IdempotencyLedger::default();
        ledger.record(key("k"), Fingerprint::of(b"x"), at(0), 7, "done");
        let check = ledger.check(&key("k"), Fingerprint::of(b"x"), at(10), HOUR_MS);
        assert_eq!(
            check,
            IdempotencyCheck::Replay {
                sequence: 7,
                outcome: &"done"
            }
        );
    }

    #[test]
    fn different_fingerprint_is_key_reuse() {
        let mut ledger = IdempotencyLedger::default();
        ledger.record(key("k"), Fingerprint::of(b"x"), at(0), 7, "done");
        let check = ledger.check(&key("k"), Fingerprint::of(b"y"), at(10), HOUR_MS);
        assert_eq!(check, IdempotencyCheck::KeyReused);
    }

    #[test]
    fn after_retention_the_key_is_new_again() {
        let mut ledger = IdempotencyLedger::default();
        ledger.record(key("k"), Fingerprint::of(b"x"), at(0), 7, "done");
        let fp = Fingerprint::of(b"y");
        assert_eq!(
            ledger.check(&key("k"), fp, at(HOUR_MS), HOUR_MS),
            IdempotencyCheck::KeyReused
        );
        assert_eq!(
            ledger.check(&key("k"), fp, at(HOUR_MS + 1), HOUR_MS),
            IdempotencyCheck::New
        );
    }

    #[test]
    fn prune_drops_only_records_past_the_window() {
        let mut ledger = IdempotencyLedger::default();
        ledger.record(key("old"), Fingerprint::of(b"a"), at(0), 1, 1);
        ledger.record(key("edge"), Fingerprint::of(b"b"), at(HOUR_MS), 2, 2);
        ledger.record(key("new"), Fingerprint::of(b"c"), at(2 * HOUR_MS), 3, 3);
        ledger.prune(at(2 * HOUR_MS), HOUR_MS);
        assert_eq!(ledger.len(), 2);
        assert_eq!(
            ledger.check(&key("old"), Fingerprint::of(b"a"), at(0), HOUR_MS),
            IdempotencyCheck::New
        );
        assert!(matches!(
            ledger.check(
                &key("edge"),
                Fingerprint::of(b"b"),
                at(2 * HOUR_MS),
                HOUR_MS
            ),
            IdempotencyCheck::Replay { sequence: 2, .. }
        ));
        ledger.prune(at(10 * HOUR_MS), HOUR_MS);
        assert!(ledger.is_empty());
    }

    #[test]
    fn re_recording_a_key_replaces_its_record_and_time() {
        let mut ledger = IdempotencyLedger::default();
        ledger.record(key("k"), Fingerprint::of(b"a"), at(0), 1, 1);
        ledger.record(key("k"), Fingerprint::of(b"b"), at(5 * HOUR_MS), 9, 2);
        ledger.prune(at(5 * HOUR_MS), HOUR_MS);
        assert_eq!(ledger.len(), 1);
        assert_eq!(
            ledger.check(&key("k"), Fingerprint::of(b"b"), at(5 * HOUR_MS), HOUR_MS),
            IdempotencyCheck::Replay {
                sequence: 9,
                outcome: &2
            }
        );
    }
}
