//! Latency histograms and their percentiles, shared by every measurement of the generator (calls,
//! command→projection visibility, log produce→read-back), so all report the same way.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Highest latency the histograms resolve (one hour, in µs); longer waits count as this.
const LATENCY_US_MAX: u64 = 3_600_000_000;
/// Significant decimal digits kept by the histograms: 0.1% resolution.
const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;

/// An empty latency histogram in µs, with the bounds every histogram of a run shares (so any two
/// can be added).
pub(crate) fn histogram_us() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, LATENCY_SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid")
}

/// Records one latency.
pub(crate) fn record(histogram_us: &mut Histogram<u64>, latency: Duration) {
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    // The histogram's floor is 1 µs.
    histogram_us.saturating_record(micros.max(1));
}

/// Adds `other` into `into`.
pub(crate) fn add(into: &mut Histogram<u64>, other: &Histogram<u64>) {
    into.add(other)
        .expect("histograms built by histogram_us share their bounds and always add");
}

/// Percentiles of a latency histogram, in ms. Floating point: they are measurements, not money.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Percentiles {
    /// Median.
    pub(crate) p50_ms: f64,
    /// 90th percentile.
    pub(crate) p90_ms: f64,
    /// 99th percentile.
    pub(crate) p99_ms: f64,
    /// Largest value seen.
    pub(crate) max_ms: f64,
}

impl Percentiles {
    /// The percentiles of `histogram_us` (all zero when it is empty).
    pub(crate) fn of(histogram_us: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            p50_ms: ms(histogram_us.value_at_quantile(0.50)),
            p90_ms: ms(histogram_us.value_at_quantile(0.90)),
            p99_ms: ms(histogram_us.value_at_quantile(0.99)),
            max_ms: ms(histogram_us.max()),
        }
    }

    /// `p50 … p90 … p99 … max …` with three decimals, for the human report.
    pub(crate) fn text(&self) -> String {
        format!(
            "p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
            self.p50_ms, self.p90_ms, self.p99_ms, self.max_ms
        )
    }

    /// `{"p50": …, "p90": …, "p99": …, "max": …}` in ms, for the JSON report.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "p50": self.p50_ms,
            "p90": self.p90_ms,
            "p99": self.p99_ms,
            "max": self.max_ms,
        })
    }
}

/// `count` per second of `elapsed` (0 for an empty interval).
pub(crate) fn per_second(count: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_in_ms() {
        let mut h = histogram_us();
        for ms in 1..=100 {
            record(&mut h, Duration::from_millis(ms));
        }
        let p = Percentiles::of(&h);
        // 0.1% resolution.
        assert!((p.p50_ms - 50.0).abs() <= 0.05, "{p:?}");
        assert!((p.p99_ms - 99.0).abs() <= 0.1, "{p:?}");
        assert!((p.max_ms - 100.0).abs() <= 0.1, "{p:?}");
        let mut other = histogram_us();
        record(&mut other, Duration::ZERO);
        add(&mut h, &other);
        assert_eq!(h.len(), 101);
        assert_eq!(h.min(), 1, "zero is recorded at the 1 µs floor");
        assert_eq!(Percentiles::of(&histogram_us()).p99_ms, 0.0);
    }

    #[test]
    fn rates() {
        assert_eq!(per_second(10, Duration::from_secs(2)), 5.0);
        assert_eq!(per_second(10, Duration::ZERO), 0.0);
    }
}
