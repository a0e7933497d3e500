//! A small deterministic PRNG for choosing wallets. Quality needs are modest (spread debits
//! evenly), so xorshift64* seeded through splitmix64 is enough, and a run can be reproduced from
//! its id.

/// xorshift64* (Vigna, "An experimental exploration of Marsaglia's xorshift generators").
#[derive(Debug, Clone)]
pub(crate) struct XorShift64Star {
    state: u64,
}

impl XorShift64Star {
    /// Seeds one stream; `stream` separates the generators of concurrent tasks.
    pub(crate) fn new(seed: u64, stream: u64) -> Self {
        // splitmix64 turns nearby seeds (task 0, 1, 2, ...) into unrelated states. xorshift
        // cannot leave the all-zero state, which splitmix yields for one input in 2^64: the
        // fallback covers it.
        let mut z = seed ^ stream.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        XorShift64Star {
            state: if z == 0 { 0x9E37_79B9_7F4A_7C15 } else { z },
        }
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..bound` (`bound > 0`), by multiply-shift: no division, and bias below
    /// bound/2^64, far under what a benchmark can notice.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_streams_differ() {
        let mut a = XorShift64Star::new(42, 0);
        let mut b = XorShift64Star::new(42, 0);
        let mut c = XorShift64Star::new(42, 1);
        let (xa, xb, xc) = (a.next_u64(), b.next_u64(), c.next_u64());
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = XorShift64Star::new(7, 3);
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            let v = rng.below(10);
            assert!(v < 10);
            seen[v as usize] += 1;
        }
        // Each bucket expects 1000; a broken generator would leave some near zero.
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
        assert_eq!(XorShift64Star::new(0, 0).below(1), 0);
    }
}
