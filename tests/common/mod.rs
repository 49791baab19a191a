//! Test inputs shared by the pooling gradient tests (each test file is its own crate and uses
//! what it needs).
#![allow(dead_code)]

use pupil::{Rng, Tensor};

/// Distinct values spread over [-1.02, -0.02] and [0.02, 1.02] in random order, at least
/// `2 / len` apart and 0.02 away from zero (and from a padding's zeros), so no
/// finite-difference step of gradcheck (5e-3) crosses a tie or ReLU's kink when `len <= 256`.
pub fn distinct(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut v: Vec<f32> =
        (0..n).map(|i| if n == 1 { 0.5 } else { -1.0 + 2.0 * i as f32 / (n - 1) as f32 }).map(|v| if v >= 0.0 { v + 0.02 } else { v - 0.02 }).collect();
    Rng::new(seed).shuffle(&mut v);
    Tensor::from_vec(v, shape).unwrap()
}

/// Coarse values: integers in `[-r, r]` (many ties, with each other and with zero).
pub fn coarse(shape: &[usize], seed: u64, r: f32) -> Tensor {
    let mut rng = Rng::new(seed);
    let n: usize = shape.iter().product();
    Tensor::from_vec((0..n).map(|_| rng.uniform(-r, r).round() + 0.0).collect(), shape).unwrap()
}

/// The bit patterns of a tensor's values (for exact comparisons, NaN and -0.0 included).
pub fn bits(t: &Tensor) -> Vec<u32> {
    t.data().iter().map(|v| v.to_bits()).collect()
}
