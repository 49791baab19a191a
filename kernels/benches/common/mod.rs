//! What the kernel benches share: deterministic test data.

/// `len` values in [-0.5, 0.5) from a linear congruential generator seeded by `seed`: the same
/// data on every run, with no dependency on a random-number crate.
pub fn data(len: usize, seed: u32) -> Vec<f32> {
    let mut s = seed;
    (0..len)
        .map(|_| {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect()
}
