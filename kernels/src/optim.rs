//! Optimiser updates of one slice of parameters. They run once per parameter per step over
//! every weight, and their divisions and square roots make them compute-bound at the
//! baseline's 4 lanes; compiled for AVX2 ([`crate::simd::multiversion`]) they run 8 wide, and
//! Adam takes one square root and one division per weight (PyTorch's arrangement of the bias
//! corrections; dividing `m` and `v` by them first cost two more divisions and made the step
//! 15-20% slower: `cargo run --release --example adam_step`). The
//! f32 operations are the same in both builds (IEEE division and square root are exactly
//! rounded, and no multiply-add is fused), so both give the same bits.

use crate::simd::multiversion;

/// The constants of one Adam step (Kingma & Ba; AdamW when `wd_w` is set):
/// `g' = g + wd_g·w`, `m ← β₁m + (1-β₁)g'`, `v ← β₂v + (1-β₂)g'²`,
/// `w ← w - wd_w·w - (lr / c1) · m / (sqrt(v) / sqrt(c2) + eps)`, with the bias corrections
/// `c1 = 1 - β₁ᵗ`, `c2 = 1 - β₂ᵗ`.
#[derive(Clone, Copy, Debug)]
pub struct AdamStep {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub c1: f32,
    pub c2: f32,
    /// L2 decay added to the gradient (Adam's `weight_decay`).
    pub wd_g: f32,
    /// Decoupled decay applied to the weight (AdamW's `lr · weight_decay`).
    pub wd_w: f32,
}

#[inline(always)]
fn adam_body(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: &AdamStep) {
    let AdamStep { lr, beta1, beta2, eps, c1, c2, wd_g, wd_w } = *s;
    let n = w.len();
    assert!(g.len() == n && m.len() == n && v.len() == n, "adam: slices of different lengths");
    for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let g = g + wd_g * *w;
        *m = beta1 * *m + (1.0 - beta1) * g;
        *v = beta2 * *v + (1.0 - beta2) * g * g;
        let upd = *m / (v.sqrt() * (1.0 / c2.sqrt()) + eps);
        *w -= wd_w * *w;
        *w -= (lr / c1) * upd;
    }
}

multiversion!(
    /// One Adam step over `w` with gradient `g` and moments `m`, `v` (all the same length;
    /// panics otherwise), in place.
    pub fn adam(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: &AdamStep) => adam_body
);

#[cfg(test)]
mod tests {
    use super::*;

    /// The dispatched build (AVX2 on a CPU that has it) gives the portable build's bits, on
    /// ordinary values and on zeros, tiny, huge, infinite and NaN ones, with both decays.
    /// Two steps agree with Adam computed in f64 from its definition (bias-corrected moments).
    #[test]
    fn adam_matches_the_definition_in_f64() {
        let (w0, gs) = ([0.5f32, -1.5, 2.0, 0.0], [[0.3f32, -2.0, 1e-4, 7.0], [-0.1, -1.0, 3.0, 7.0]]);
        let (lr, b1, b2, eps) = (1e-2f32, 0.9f32, 0.999f32, 1e-7f32);
        let (mut w, mut m, mut v) = (w0.to_vec(), vec![0f32; 4], vec![0f32; 4]);
        let (mut wd, mut md, mut vd) = (w0.map(f64::from).to_vec(), vec![0f64; 4], vec![0f64; 4]);
        for (t, g) in gs.iter().enumerate() {
            let (c1, c2) = (1.0 - b1.powi(t as i32 + 1), 1.0 - b2.powi(t as i32 + 1));
            adam(&mut w, g, &mut m, &mut v, &AdamStep { lr, beta1: b1, beta2: b2, eps, c1, c2, wd_g: 0.0, wd_w: 0.0 });
            for i in 0..4 {
                let gd = f64::from(g[i]);
                md[i] = f64::from(b1) * md[i] + (1.0 - f64::from(b1)) * gd;
                vd[i] = f64::from(b2) * vd[i] + (1.0 - f64::from(b2)) * gd * gd;
                let (mh, vh) = (md[i] / (1.0 - f64::from(b1).powi(t as i32 + 1)), vd[i] / (1.0 - f64::from(b2).powi(t as i32 + 1)));
                wd[i] -= f64::from(lr) * mh / (vh.sqrt() + f64::from(eps));
            }
        }
        for i in 0..4 {
            assert!((f64::from(w[i]) - wd[i]).abs() <= 1e-6 * wd[i].abs().max(1.0), "{i}: {} vs {}", w[i], wd[i]);
            assert!(w[i] != w0[i], "{i} moved");
        }
    }

    #[test]
    fn dispatched_adam_equals_the_portable_loop() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
        };
        let n = 1003; // not a multiple of any vector width
        let special = [0.0, -0.0, 1e-30, -3e38, f32::INFINITY, f32::NAN, 1e-45];
        let mut fill = |k: usize| -> Vec<f32> { (0..n).map(|i| if i % 97 == k { special[i % special.len()] } else { next() }).collect() };
        let (w0, g, m0, v0) = (fill(1), fill(2), fill(3), fill(4).into_iter().map(f32::abs).collect::<Vec<_>>());
        for (wd_g, wd_w) in [(0.0, 0.0), (1e-2, 0.0), (0.0, 1e-3)] {
            let s = AdamStep { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-7, c1: 1.0 - 0.9f32.powi(3), c2: 1.0 - 0.999f32.powi(3), wd_g, wd_w };
            let (mut w1, mut m1, mut v1) = (w0.clone(), m0.clone(), v0.clone());
            let (mut w2, mut m2, mut v2) = (w0.clone(), m0.clone(), v0.clone());
            adam(&mut w1, &g, &mut m1, &mut v1, &s);
            adam_body(&mut w2, &g, &mut m2, &mut v2, &s);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!((bits(&w1), bits(&m1), bits(&v1)), (bits(&w2), bits(&m2), bits(&v2)), "decays {wd_g} {wd_w}");
            assert!(w1.iter().zip(&w0).filter(|(a, b)| a != b).count() > n / 2, "the step changed the weights");
        }
    }
}
