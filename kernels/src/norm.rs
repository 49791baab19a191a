//! The per-channel reductions of batch normalisation, on one row of a channel's values at a
//! time (`pupil::ops::batch_norm` walks a channel's rows in batch order and keeps the partial
//! sums between them).
//!
//! Sums are taken in f64 over [`LANES`] independent partial sums (value `i` of a row goes to
//! lane `i % LANES`), added up in lane order at the end ([`total`]): they vectorise, where one
//! running sum waits for every add, and the order is fixed, so the result does not depend on
//! the thread count. Compiled for AVX2 where the CPU has it ([`crate::simd::multiversion`]):
//! the baseline build converts and adds two f64 at a time, slower than memory
//! (`cargo run --release --example bn_time`); both builds do the same operations in the
//! same order, so they give the same bits.

use crate::simd::multiversion;

/// Partial sums per reduction.
pub const LANES: usize = 16;

/// `K` reductions' partial sums.
pub type Partials<const K: usize> = [[f64; LANES]; K];

/// Lane `l` of the row's value `i` with `i % LANES == l`, `f(value)` added in, `K` sums at once.
#[inline(always)]
fn add_row<const K: usize>(a: &[f32], b: &[f32], acc: &mut Partials<K>, f: impl Fn(f32, f32) -> [f64; K]) {
    let ((ca, ta), (cb, tb)) = (a.as_chunks::<LANES>(), b.as_chunks::<LANES>());
    for (ca, cb) in ca.iter().zip(cb) {
        for l in 0..LANES {
            let v = f(ca[l], cb[l]);
            for k in 0..K {
                acc[k][l] += v[k];
            }
        }
    }
    for (l, (&x, &y)) in ta.iter().zip(tb).enumerate() {
        let v = f(x, y);
        for k in 0..K {
            acc[k][l] += v[k];
        }
    }
}

/// The terms of [`shifted_sums`] for one value `v`: `v - shift` and `(v - shift)²`, in f64.
#[inline(always)]
pub fn shifted_terms(v: f32, shift: f64) -> [f64; 2] {
    let d = v as f64 - shift;
    [d, d * d]
}

/// The terms of [`grad_sums`] for one value `v` with gradient `g`: `g` and `g · x̂`.
#[inline(always)]
pub fn grad_terms(v: f32, g: f32, mean: f32, invstd: f32) -> [f64; 2] {
    [g as f64, g as f64 * ((v - mean) * invstd) as f64]
}

#[inline(always)]
fn shifted_body(x: &[f32], shift: f64, acc: &mut Partials<2>) {
    add_row(x, x, acc, |v, _| shifted_terms(v, shift));
}

multiversion!(
    /// Adds `v - shift` and `(v - shift)²` (in f64) of the values `v` of `x` into `acc[0]` and
    /// `acc[1]`: one pass for the mean and the variance, shifted by a value of the data so the
    /// squares do not cancel.
    pub fn shifted_sums(x: &[f32], shift: f64, acc: &mut Partials<2>) => shifted_body
);

#[inline(always)]
fn grad_body(x: &[f32], g: &[f32], mean: f32, invstd: f32, acc: &mut Partials<2>) {
    assert_eq!(x.len(), g.len(), "grad_sums: x and g differ in length");
    add_row(x, g, acc, |v, g| grad_terms(v, g, mean, invstd));
}

multiversion!(
    /// Adds `g` and `g · x̂` (`x̂ = (x - mean) · invstd` in f32, the products in f64) over the
    /// values of `x` and their gradients `g` into `acc[0]` and `acc[1]`: batch norm's `dβ` and
    /// `dγ`. Panics if `x` and `g` differ in length.
    pub fn grad_sums(x: &[f32], g: &[f32], mean: f32, invstd: f32, acc: &mut Partials<2>) => grad_body
);

/// The sums of the partials, each in lane order.
pub fn total<const K: usize>(acc: &Partials<K>) -> [f64; K] {
    acc.map(|lanes| lanes.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 8.0 + 3.0
            })
            .collect()
    }

    /// The dispatched build gives the portable one's bits, and the sums are the plain sums of
    /// the same terms in f64 (to rounding), on rows that leave partial lane blocks.
    #[test]
    fn sums_match_the_portable_build_and_the_plain_sums() {
        let (x, g) = (values(1003, 1), values(1003, 2));
        let (mut fast, mut slow) = ([[0.0; LANES]; 2], [[0.0; LANES]; 2]);
        let (mut gfast, mut gslow) = ([[0.0; LANES]; 2], [[0.0; LANES]; 2]);
        for row in [0..81, 81..500, 500..1003] {
            shifted_sums(&x[row.clone()], 2.5, &mut fast);
            shifted_body(&x[row.clone()], 2.5, &mut slow);
            grad_sums(&x[row.clone()], &g[row.clone()], 0.25, 1.5, &mut gfast);
            grad_body(&x[row.clone()], &g[row], 0.25, 1.5, &mut gslow);
        }
        assert_eq!(fast, slow);
        assert_eq!(gfast, gslow);
        let [s1, s2] = total(&fast);
        let plain1: f64 = x.iter().map(|&v| v as f64 - 2.5).sum();
        let plain2: f64 = x.iter().map(|&v| (v as f64 - 2.5).powi(2)).sum();
        assert!((s1 - plain1).abs() < 1e-9 * plain1.abs().max(1.0) && (s2 - plain2).abs() < 1e-9 * plain2, "{s1} {plain1} {s2} {plain2}");
        let [sg, sgx] = total(&gfast);
        let plain_g: f64 = g.iter().map(|&v| v as f64).sum();
        let plain_gx: f64 = x.iter().zip(&g).map(|(&v, &g)| g as f64 * ((v - 0.25) * 1.5) as f64).sum();
        assert!((sg - plain_g).abs() < 1e-9 * plain_g.abs().max(1.0) && (sgx - plain_gx).abs() < 1e-9 * plain_gx.abs().max(1.0));
    }
}
