//! Property tests of the public API over random shapes and strides.

use proptest::prelude::*;
use pupil_kernels::*;

fn vals(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn sgemm_random_shapes(
        m in 1usize..80, k in 1usize..300, n in 1usize..90,
        ta in any::<bool>(), tb in any::<bool>(),
        alpha in prop_oneof![Just(1.0f32), -2.0f32..2.0],
        beta in prop_oneof![Just(0.0f32), Just(1.0f32), -2.0f32..2.0],
        seed in any::<u64>(),
    ) {
        let (rsa, csa) = if ta { (1, m) } else { (k, 1) };
        let (rsb, csb) = if tb { (1, k) } else { (n, 1) };
        let a = vals(m * k, seed);
        let b = vals(k * n, seed ^ 0x55);
        let ldc = n + (seed % 4) as usize;
        let c0 = if beta == 0.0 { vec![f32::NAN; m * ldc] } else { vals(m * ldc, seed ^ 0xAA) };
        for isa in available_isas() {
            let mut c = c0.clone();
            sgemm_with(isa, m, k, n, alpha, &a, rsa, csa, &b, rsb, csb, beta, &mut c, ldc);
            for i in 0..m {
                for j in 0..n {
                    let (mut s, mut mag) = (0.0f64, 0.0f64);
                    for p in 0..k {
                        let t = a[i * rsa + p * csa] as f64 * b[p * rsb + j * csb] as f64;
                        s += t;
                        mag += t.abs();
                    }
                    let cij = if beta == 0.0 { 0.0 } else { beta as f64 * c0[i * ldc + j] as f64 };
                    let want = alpha as f64 * s + cij;
                    let tol = 1e-5 * k as f64 * (alpha.abs() as f64 * mag + cij.abs() + 1e-20);
                    let got = c[i * ldc + j] as f64;
                    prop_assert!((got - want).abs() <= tol, "{:?} ({},{}) got {} want {}", isa, i, j, got, want);
                }
            }
        }
    }

    #[test]
    fn sgemm_par_bit_identical(
        m in 1usize..200, k in 1usize..400, n in 1usize..300, seed in any::<u64>(),
    ) {
        let a = vals(m * k, seed);
        let b = vals(k * n, seed ^ 3);
        let c0 = vals(m * n, seed ^ 7);
        let mut c1 = c0.clone();
        let mut c2 = c0.clone();
        sgemm(m, k, n, 1.5, &a, k, 1, &b, n, 1, 0.5, &mut c1, n);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        pool.install(|| sgemm_par(m, k, n, 1.5, &a, k, 1, &b, n, 1, 0.5, &mut c2, n));
        prop_assert!(c1.iter().zip(&c2).all(|(x, y)| x.to_bits() == y.to_bits()));
    }

    #[test]
    fn im2col_adjoint(
        c in 1usize..4, h in 1usize..12, w in 1usize..12,
        kh in 1usize..6, kw in 1usize..6, sh in 1usize..3, sw in 1usize..3,
        ph in 0usize..3, pw in 0usize..3, seed in any::<u64>(),
    ) {
        prop_assume!(h + 2 * ph >= kh && w + 2 * pw >= kw);
        let g = Patches::new(c, h, w, (kh, kw), (sh, sw), (ph, pw)).unwrap();
        let p = g.pixels();
        let x = vals(c * h * w, seed);
        let y = vals(c * kh * kw * p, seed ^ 9);
        let mut cols = vec![f32::NAN; y.len()];
        im2col(&g, &x, &mut cols, p, 0);
        let mut dx = vec![0.0f32; x.len()];
        col2im(&g, &y, p, 0, &mut dx);
        let lhs: f64 = cols.iter().zip(&y).map(|(a, b)| *a as f64 * *b as f64).sum();
        let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| *a as f64 * *b as f64).sum();
        let mag: f64 = cols.iter().zip(&y).map(|(a, b)| (*a as f64 * *b as f64).abs()).sum();
        prop_assert!((lhs - rhs).abs() <= 1e-5 * (mag + 1.0), "{} vs {}", lhs, rhs);
    }

    /// Max pooling against a naive row-major scan on inputs full of ties (values 0..=6) and
    /// some NaNs: the same maxima, and every argmax the FIRST maximum in row-major window
    /// order (PyTorch's rule), NaN counting as the largest value.
    #[test]
    fn max_pool_ties_match_row_major_reference(
        planes in 1usize..4, h in 1usize..10, w in 1usize..10,
        kh in 1usize..5, kw in 1usize..5, sh in 1usize..4, sw in 1usize..4,
        raw in proptest::collection::vec(0u8..8, 1..400),
    ) {
        prop_assume!(kh <= h && kw <= w);
        let (oh, ow) = (out_size(h, kh, sh, 0).unwrap(), out_size(w, kw, sw, 0).unwrap());
        let x: Vec<f32> = (0..planes * h * w).map(|i| match raw[i % raw.len()] { 7 => f32::NAN, v => v as f32 }).collect();
        let mut out = vec![0.0f32; planes * oh * ow];
        let mut am = vec![u32::MAX; planes * oh * ow];
        max_pool2d(&x, planes, h, w, kh, kw, sh, sw, &mut out, &mut am);
        for p in 0..planes {
            let xp = &x[p * h * w..(p + 1) * h * w];
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut bi = usize::MAX;
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let i = (oy * sh + ky) * w + ox * sw + kx;
                            let better = bi == usize::MAX || (xp[i].is_nan() && !xp[bi].is_nan()) || xp[i] > xp[bi];
                            if better {
                                bi = i;
                            }
                        }
                    }
                    let o = p * oh * ow + oy * ow + ox;
                    prop_assert_eq!(am[o] as usize, bi, "plane {} window ({}, {})", p, oy, ox);
                    prop_assert_eq!(out[o].to_bits(), xp[bi].to_bits());
                }
            }
        }
    }
}
