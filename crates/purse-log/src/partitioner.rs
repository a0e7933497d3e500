//! Kafka's default key partitioner, so that the embedded log and a Kafka cluster (and any Java
//! client producing to it) place a key on the same partition.

/// Kafka's murmur2 hash (`org.apache.kafka.common.utils.Utils.murmur2`), as the signed 32-bit
/// value the Java client computes.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    // The Java code mixes the length in as a 32-bit int; keys longer than 4 GiB do not exist.
    let mut h = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    // Java's switch falls through from case 3 to case 1; the multiply happens once for any tail.
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's Java client assigns to `key` among `partitions`:
/// `toPositive(murmur2(key)) % partitions`, where `toPositive` clears the sign bit.
///
/// librdkafka's default partitioner is a different hash (CRC32); the Kafka log sets
/// `partitioner=murmur2_random` or, better, passes this partition explicitly.
///
/// # Panics
/// If `partitions` is 0: every topic has at least one partition.
pub fn partition_for(key: &[u8], partitions: u32) -> u32 {
    assert!(partitions > 0, "a topic has at least one partition");
    ((murmur2(key) as u32) & 0x7fff_ffff) % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors from Kafka's `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_matches_the_java_client() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key), expected, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn partition_is_the_positive_hash_modulo_the_count() {
        // murmur2("21") = -973932308; & 0x7fffffff = 1173551340.
        // With 2^31 partitions the modulo is the identity on positive hashes.
        assert_eq!(partition_for(b"21", 1 << 31), 1_173_551_340);
        assert_eq!(partition_for(b"21", 16), 1_173_551_340 % 16);
        assert_eq!(partition_for(b"abc", 7), 479_470_107 % 7);
        assert_eq!(partition_for(b"anything", 1), 0);
    }

    #[test]
    fn partition_is_stable_and_in_range() {
        for i in 0..1000u32 {
            let key = format!("wallet-{i}");
            let p = partition_for(key.as_bytes(), 12);
            assert!(p < 12);
            assert_eq!(p, partition_for(key.as_bytes(), 12));
        }
    }
}
