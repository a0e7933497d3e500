//! Helpers shared by every decider: stable enum names, the canonical
//! fingerprint encoding, text bounds and calendar arithmetic.
//!

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::idempotency::Fingerprint;
use crate::time::{MILLIS_PER_DAY, Timestamp};

/// Declares a fieldless enum with stable lower-snake-case names for the wire and the event log.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stable lower-snake-case name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $text, )+
                }
            }

            /// The variant named `s` by [`Self::as_str`], if any.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $( $text => Some(Self::$variant), )+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use named_enum;

/// Whether `text` fits in `max_bytes` (and is not empty when `required`).
pub(crate) fn text_fits(text: &str, max_bytes: usize, required: bool) -> bool {
    text.len() <= max_bytes && !(required && text.is_empty())
}

/// The byte offset of the first byte outside visible ASCII (0x21..=0x7E), if any.
pub(crate) fn first_invisible_byte(text: &str) -> Option<usize> {
    text.bytes().position(|b| !(0x21..=0x7E).contains(&b))
}

/// The UTC calendar (year, month 1..=12) of an instant.
///
/// Howard Hinnant's `civil_from_days`: exact for the proleptic Gregorian calendar over the whole
/// `i64` millisecond range, with no table and no clock.
pub(crate) fn utc_year_month(at: Timestamp) -> (i64, u32) {
    let days = at.as_millis().div_euclid(MILLIS_PER_DAY) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // March is 0
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // month is 1..=12 by construction.
    (year, month as u32)
}

/// Midnight UTC starting the day after `at`'s day.
pub(crate) fn next_utc_midnight(at: Timestamp) -> Timestamp {
    Timestamp::from_millis(
        at.utc_day()
            .saturating_add(1)
            .saturating_mul(MILLIS_PER_DAY),
    )
}

/// The UUID version 8 made of the first 16 bytes of a SHA-256 `hash`: the ids Purse derives
/// (wallets from their creation key, top-ups, payments, stored-card streams, system wallets,
/// transactions), so that a retry or another service names the same stream without a lookup.
pub fn derived_uuid(hash: Sha256) -> Uuid {
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::new_v8(bytes)
}

/// [`derived_uuid`] of `domain` followed by each part length-prefixed: no two part lists share an
/// encoding, so no two share an id (short of a hash collision).
pub(crate) fn derived_id(domain: &[u8], parts: &[&[u8]]) -> Uuid {
    let mut hash = Sha256::new().chain_update(domain);
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    derived_uuid(hash)
}

/// Length-prefixed, tagged encoding of a command: unambiguous, so distinct commands never
/// collide by layout. Versioned by the domain string each command type starts with; an
/// encoding only ever gains cases, or retries across a deploy would look like key reuse.
pub(crate) struct Encoder(Vec<u8>);

impl Encoder {
    /// Starts an encoding under `domain` ("purse.payment.command.v1").
    pub(crate) fn new(domain: &str) -> Self {
        let mut enc = Self(Vec::with_capacity(128));
        enc.str(domain);
        enc
    }

    pub(crate) fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_be_bytes());
    }

    pub(crate) fn i64(&mut self, value: i64) {
        self.0.extend_from_slice(&value.to_be_bytes());
    }

    pub(crate) fn bool(&mut self, value: bool) {
        self.0.push(u8::from(value));
    }

    pub(crate) fn str(&mut self, text: &str) {
        self.u64(text.len() as u64);
        self.0.extend_from_slice(text.as_bytes());
    }

    pub(crate) fn uuid(&mut self, id: Uuid) {
        self.0.extend_from_slice(id.as_bytes());
    }

    pub(crate) fn timestamp(&mut self, at: Timestamp) {
        self.i64(at.as_millis());
    }

    /// By value: "20" and "20.00" encode alike, as a retry that reformats an amount is the same
    /// request.
    pub(crate) fn decimal(&mut self, value: Decimal) {
        self.str(&value.normalize().to_string());
    }

    pub(crate) fn option<T>(&mut self, value: Option<T>, write: impl FnOnce(&mut Self, T)) {
        match value {
            None => self.0.push(0),
            Some(value) => {
                self.0.push(1);
                write(self, value);
            }
        }
    }

    pub(crate) fn finish(self) -> Fingerprint {
        Fingerprint::of(&self.0)
    }
}

/// A given/when/then harness shared by the payment, top-up and saga tests, after the wallet's:
/// `given(events)` folds facts with `evolve` (so every given history also exercises its
/// assertions), `when(command)` decides at [`harness::NOW`] with fresh ids
/// [`harness::fresh`]`(0..)`, and `then(kinds)` checks the events (all stamped with the decision
/// time), applies them, and returns the resulting state.
#[cfg(test)]
pub(crate) mod harness {
    use std::fmt::Debug;
    use std::marker::PhantomData;

    use rust_decimal::Decimal;
    use uuid::Uuid;

    use crate::decider::{Context, Decider, MAX_IDS_PER_COMMAND};
    use crate::event::Event;
    use crate::money::{Asset, parse_decimal};
    use crate::time::{MILLIS_PER_DAY, Timestamp};

    pub(crate) const TENANT: &str = "acme";
    pub(crate) const MINUTE_MS: i64 = 60_000;
    pub(crate) const HOUR_MS: i64 = 3_600_000;
    /// Midnight UTC starting day 20 000 (2024-10-04).
    pub(crate) const DAY0: i64 = 20_000 * MILLIS_PER_DAY;
    /// The default decision time: noon on DAY0.
    pub(crate) const NOW: Timestamp = Timestamp::from_millis(DAY0 + 12 * HOUR_MS);

    /// A test id for things in given histories.
    pub(crate) fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// The n-th fresh id the context supplies to the decision under test.
    pub(crate) fn fresh(n: u128) -> Uuid {
        Uuid::from_u128(0xF000 + n)
    }

    pub(crate) fn d(text: &str) -> Decimal {
        parse_decimal(text).expect("test decimal")
    }

    /// `NOW` shifted by `ms`.
    pub(crate) fn now_plus(ms: i64) -> Timestamp {
        NOW.plus_millis(ms)
    }

    pub(crate) fn usd() -> Asset {
        Asset::parse("USD", None).expect("USD")
    }

    /// What the harness needs to know about an event type.
    pub(crate) trait TestEvent {
        /// What happened, without the time.
        type Kind: Clone + PartialEq + Debug;
        /// What happened.
        fn kind(&self) -> &Self::Kind;
        /// When it was decided.
        fn occurred_at(&self) -> Timestamp;
        /// Stamps `kind` with `at`.
        fn at(at: Timestamp, kind: Self::Kind) -> Self;
    }

    impl<K: Clone + PartialEq + Debug> TestEvent for Event<K> {
        type Kind = K;

        fn kind(&self) -> &K {
            &self.kind
        }

        fn occurred_at(&self) -> Timestamp {
            self.occurred_at
        }

        fn at(occurred_at: Timestamp, kind: K) -> Self {
            Self { occurred_at, kind }
        }
    }

    /// `kind` stamped early on DAY0 (before `NOW`), for histories where the time does not matter.
    pub(crate) fn early<E: TestEvent>(kind: E::Kind) -> E {
        E::at(Timestamp::from_millis(DAY0 + HOUR_MS), kind)
    }

    pub(crate) struct Given<D: Decider> {
        pub(crate) state: D::State,
    }

    pub(crate) fn given<D: Decider>(events: impl IntoIterator<Item = D::Event>) -> Given<D> {
        let state = events
            .into_iter()
            .fold(D::State::default(), |state, event| D::evolve(state, &event));
        Given { state }
    }

    impl<D: Decider> Given<D> {
        pub(crate) fn when(self, command: D::Command) -> When<D> {
            When {
                state: self.state,
                command,
                now: NOW,
                first_fresh: 0,
                decider: PhantomData,
            }
        }
    }

    pub(crate) struct When<D: Decider> {
        state: D::State,
        command: D::Command,
        now: Timestamp,
        first_fresh: u128,
        decider: PhantomData<D>,
    }

    impl<D> When<D>
    where
        D: Decider,
        D::Event: TestEvent,
        D::Error: PartialEq,
    {
        pub(crate) fn at(mut self, now: Timestamp) -> Self {
            self.now = now;
            self
        }

        /// Supplies `fresh(first..)` instead of `fresh(0..)`.
        pub(crate) fn fresh_from(mut self, first: u128) -> Self {
            self.first_fresh = first;
            self
        }

        fn decide(&self) -> Result<Vec<D::Event>, D::Error> {
            let first = self.first_fresh;
            let ids = (first..first + MAX_IDS_PER_COMMAND as u128)
                .map(fresh)
                .collect();
            D::decide(&self.state, &self.command, &Context::new(self.now, ids))
        }

        /// Asserts the decision's events and returns the state after applying them.
        #[track_caller]
        pub(crate) fn then(self, expected: Vec<<D::Event as TestEvent>::Kind>) -> D::State {
            self.then_outcome(expected).1
        }

        /// As [`When::then`], also returning the command's outcome.
        #[track_caller]
        pub(crate) fn then_outcome(
            self,
            expected: Vec<<D::Event as TestEvent>::Kind>,
        ) -> (D::Outcome, D::State) {
            let events = match self.decide() {
                Ok(events) => events,
                Err(error) => panic!("expected events, got error {error:?}"),
            };
            let kinds: Vec<_> = events.iter().map(|event| event.kind().clone()).collect();
            assert_eq!(kinds, expected);
            assert!(
                events.iter().all(|event| event.occurred_at() == self.now),
                "every event occurs at the decision time"
            );
            let state = events
                .iter()
                .fold(self.state, |state, event| D::evolve(state, event));
            (D::outcome(&state, &events), state)
        }

        /// Asserts only that the command is accepted (events stamped with the decision time);
        /// returns the outcome and the state after it.
        #[track_caller]
        pub(crate) fn then_outcome_any(self) -> (D::Outcome, D::State) {
            let events = match self.decide() {
                Ok(events) => events,
                Err(error) => panic!("expected events, got error {error:?}"),
            };
            assert!(events.iter().all(|event| event.occurred_at() == self.now));
            let state = events
                .iter()
                .fold(self.state, |state, event| D::evolve(state, event));
            (D::outcome(&state, &events), state)
        }

        #[track_caller]
        pub(crate) fn then_error(self, expected: D::Error) {
            match self.decide() {
                Ok(events) => panic!("expected {expected:?}, got events {events:?}"),
                Err(error) => assert_eq!(error, expected),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(year: i64, month: u32, day: u32) -> Timestamp {
        // Days from civil (Hinnant), to cross-check utc_year_month independently.
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Timestamp::from_millis((era * 146_097 + doe - 719_468) * MILLIS_PER_DAY)
    }

    #[test]
    fn utc_year_month_matches_the_calendar() {
        assert_eq!(utc_year_month(Timestamp::from_millis(0)), (1970, 1));
        assert_eq!(utc_year_month(Timestamp::from_millis(-1)), (1969, 12));
        // 2024-10-04 is day 20 000.
        assert_eq!(
            utc_year_month(Timestamp::from_millis(20_000 * MILLIS_PER_DAY)),
            (2024, 10)
        );
        assert_eq!(utc_year_month(day(2024, 2, 29)), (2024, 2));
        assert_eq!(utc_year_month(day(2024, 3, 1)), (2024, 3));
        assert_eq!(
            utc_year_month(day(2023, 12, 31).plus_millis(MILLIS_PER_DAY - 1)),
            (2023, 12)
        );
        assert_eq!(utc_year_month(day(2100, 1, 1)), (2100, 1));
        for year in [1999, 2000, 2031, 2099] {
            for month in 1..=12 {
                assert_eq!(utc_year_month(day(year, month, 1)), (year, month));
                assert_eq!(
                    utc_year_month(day(year, month, 1).plus_millis(-1)),
                    if month == 1 {
                        (year - 1, 12)
                    } else {
                        (year, month - 1)
                    }
                );
            }
        }
    }

    #[test]
    fn next_utc_midnight_starts_the_following_day() {
        let noon = Timestamp::from_millis(3 * MILLIS_PER_DAY + MILLIS_PER_DAY / 2);
        assert_eq!(
            next_utc_midnight(noon),
            Timestamp::from_millis(4 * MILLIS_PER_DAY)
        );
        let midnight = Timestamp::from_millis(4 * MILLIS_PER_DAY);
        assert_eq!(
            next_utc_midnight(midnight),
            Timestamp::from_millis(5 * MILLIS_PER_DAY)
        );
    }

    #[test]
    fn text_bounds_and_visible_ascii() {
        assert!(text_fits("", 3, false));
        assert!(!text_fits("", 3, true));
        assert!(!text_fits("abcd", 3, false));
        assert_eq!(first_invisible_byte("ab c"), Some(2));
        assert_eq!(first_invisible_byte("tok_123"), None);
    }
}
