//! Time as the domain sees it: an instant supplied by the runtime, never read from a clock here.

/// Milliseconds in one UTC day (UTC has no leap-second days at this resolution).
pub const MILLIS_PER_DAY: i64 = 86_400_000;

/// An instant: milliseconds since the Unix epoch, UTC.
///
/// Arithmetic saturates instead of overflowing because deadlines computed from untrusted
/// durations must never panic a decider.
#[derive(
    Copy,
    Clone,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `ms` milliseconds after the epoch (negative: before it).
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// The UTC day number: `floor(ms / 86_400_000)`, so instants before the epoch fall on
    /// negative days rather than sharing day 0.
    pub const fn utc_day(self) -> i64 {
        self.0.div_euclid(MILLIS_PER_DAY)
    }

    /// The instant `ms` later (earlier if negative), saturating at the representable range.
    pub const fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_day_floors_towards_negative_infinity() {
        assert_eq!(Timestamp::from_millis(0).utc_day(), 0);
        assert_eq!(Timestamp::from_millis(MILLIS_PER_DAY - 1).utc_day(), 0);
        assert_eq!(Timestamp::from_millis(MILLIS_PER_DAY).utc_day(), 1);
        assert_eq!(Timestamp::from_millis(-1).utc_day(), -1);
    }

    #[test]
    fn plus_millis_saturates() {
        assert_eq!(Timestamp::from_millis(5).plus_millis(7).as_millis(), 12);
        assert_eq!(
            Timestamp::from_millis(i64::MAX).plus_millis(1).as_millis(),
            i64::MAX
        );
        assert_eq!(
            Timestamp::from_millis(i64::MIN).plus_millis(-1).as_millis(),
            i64::MIN
        );
    }
}
