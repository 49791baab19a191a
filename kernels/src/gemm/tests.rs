//! Tests of every available micro-kernel against a naive f64 triple loop.

use super::*;

fn lcg_vec(seed: &mut u64, len: usize) -> Vec<f32> {
    (0..len)
        .map(|_| {
            *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Layout of an operand: row-major or transposed (column-major) storage,
/// possibly with padding between rows/columns.
#[derive(Clone, Copy, Debug)]
struct Layout {
    trans: bool,
    pad: usize,
}

/// `(rs, cs, len)` for a `rows x cols` matrix in this layout.
fn strides(l: Layout, rows: usize, cols: usize) -> (usize, usize, usize) {
    let (rs, cs) = if l.trans { (1, rows + l.pad) } else { (cols + l.pad, 1) };
    (rs, cs, needed_len(rows, cols, rs, cs).max(1))
}

#[allow(clippy::too_many_arguments)]
fn check_case(isa: Isa, m: usize, k: usize, n: usize, la: Layout, lb: Layout, alpha: f32, beta: f32, seed: &mut u64) {
    let (rsa, csa, alen) = strides(la, m, k);
    let (rsb, csb, blen) = strides(lb, k, n);
    let ldc = n + 3;
    let a = lcg_vec(seed, alen);
    let b = lcg_vec(seed, blen);
    let c0 = if beta == 0.0 { vec![f32::NAN; m * ldc] } else { lcg_vec(seed, m * ldc) };
    let mut c = c0.clone();
    sgemm_with(isa, m, k, n, alpha, &a, rsa, csa, &b, rsb, csb, beta, &mut c, ldc);
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f64;
            let mut mag = 0.0f64;
            for p in 0..k {
                let t = a[i * rsa + p * csa] as f64 * b[p * rsb + j * csb] as f64;
                s += t;
                mag += t.abs();
            }
            let cij = c0[i * ldc + j] as f64;
            let want = alpha as f64 * s + if beta == 0.0 { 0.0 } else { beta as f64 * cij };
            let scale = alpha.abs() as f64 * mag + if beta == 0.0 { 0.0 } else { (beta as f64 * cij).abs() };
            let got = c[i * ldc + j] as f64;
            assert!(
                (got - want).abs() <= 1e-6 * (k as f64 + 2.0) * (scale + 1e-30),
                "{isa:?} m={m} k={k} n={n} {la:?} {lb:?} alpha={alpha} beta={beta} at ({i},{j}): got {got} want {want}"
            );
        }
        // Padding columns of C untouched.
        for j in n..ldc {
            let (x, y) = (c[i * ldc + j], c0[i * ldc + j]);
            assert!(x.to_bits() == y.to_bits(), "C padding overwritten");
        }
    }
}

const DIMS: [usize; 10] = [1, 2, 7, 8, 15, 16, 17, 33, 64, 257];

#[test]
fn all_isas_odd_shapes() {
    let mut seed = 1u64;
    let row = Layout { trans: false, pad: 0 };
    let tr = Layout { trans: true, pad: 0 };
    for isa in available_isas() {
        for &m in &DIMS {
            for &k in &DIMS {
                for &n in &DIMS {
                    // Keep the 257^3 corner cheap but present.
                    check_case(isa, m, k, n, row, row, 1.0, 0.0, &mut seed);
                }
            }
        }
        let shapes = [(7, 17, 33), (64, 257, 15), (257, 64, 257), (16, 1, 2), (33, 300, 70)];
        for &(m, k, n) in &shapes {
            for la in [row, tr, Layout { trans: false, pad: 5 }, Layout { trans: true, pad: 2 }] {
                for lb in [row, tr, Layout { trans: true, pad: 3 }, Layout { trans: false, pad: 1 }] {
                    for (alpha, beta) in [(1.0, 0.0), (1.0, 1.0), (-0.5, 0.0), (2.0, -1.5), (0.25, 1.0)] {
                        check_case(isa, m, k, n, la, lb, alpha, beta, &mut seed);
                    }
                }
            }
        }
    }
}

#[test]
fn large_k_crosses_kc_blocks() {
    let mut seed = 9u64;
    let row = Layout { trans: false, pad: 0 };
    for isa in available_isas() {
        for &(m, k, n) in &[(9, 1100, 40), (150, 520, 1100)] {
            check_case(isa, m, k, n, row, row, 1.0, 0.5, &mut seed);
        }
    }
}

#[test]
fn degenerate_alpha_zero_and_k_zero() {
    for isa in available_isas() {
        let a = [f32::NAN; 6];
        let b = [1.0f32; 9];
        let mut c = vec![f32::NAN; 6];
        sgemm_with(isa, 2, 0, 3, 1.0, &a, 1, 1, &b, 1, 1, 0.0, &mut c, 3);
        assert!(c.iter().all(|&x| x == 0.0));
        let mut c = vec![2.0f32; 6];
        sgemm_with(isa, 2, 3, 3, 0.0, &a, 3, 1, &b, 3, 1, 0.5, &mut c, 3);
        assert!(c.iter().all(|&x| x == 1.0));
        // Empty outputs are no-ops even with empty slices.
        sgemm_with(isa, 0, 5, 7, 1.0, &[], 5, 1, &[], 7, 1, 0.0, &mut [], 7);
    }
}

#[test]
fn matches_matrixmultiply() {
    let mut seed = 5u64;
    for isa in available_isas() {
        for &(m, k, n) in &[(64, 25, 1936), (33, 77, 130), (128, 576, 100)] {
            let a = lcg_vec(&mut seed, m * k);
            let b = lcg_vec(&mut seed, k * n);
            let mut c1 = vec![0.0f32; m * n];
            let mut c2 = vec![0.0f32; m * n];
            sgemm_with(isa, m, k, n, 1.0, &a, k, 1, &b, 1, k, 0.0, &mut c1, n);
            // SAFETY: sizes match the strides.
            unsafe {
                matrixmultiply::sgemm(m, k, n, 1.0, a.as_ptr(), k as isize, 1, b.as_ptr(), 1, k as isize, 0.0, c2.as_mut_ptr(), n as isize, 1);
            }
            for (x, y) in c1.iter().zip(&c2) {
                assert!((x - y).abs() <= 1e-5 * k as f32 * (1.0 + y.abs()), "{x} vs {y}");
            }
        }
    }
}

#[test]
fn par_is_bit_identical_to_serial() {
    let mut seed = 13u64;
    let pools: Vec<rayon::ThreadPool> = [1, 2, 3, 5].iter().map(|&t| rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap()).collect();
    for isa in available_isas() {
        for &(m, k, n) in &[(64, 576, 484), (257, 300, 129), (13, 1000, 300), (300, 70, 17), (128, 600, 1300)] {
            let a = lcg_vec(&mut seed, m * k);
            let b = lcg_vec(&mut seed, k * n);
            let c0 = lcg_vec(&mut seed, m * n);
            let mut want = c0.clone();
            sgemm_with(isa, m, k, n, 0.7, &a, k, 1, &b, n, 1, 0.3, &mut want, n);
            for pool in &pools {
                let mut got = c0.clone();
                pool.install(|| sgemm_par_with(isa, m, k, n, 0.7, &a, k, 1, &b, n, 1, 0.3, &mut got, n));
                assert!(
                    got.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{isa:?} {m}x{k}x{n} differs with {} threads",
                    pool.current_num_threads()
                );
            }
        }
    }
}

#[test]
fn isa_env_override() {
    use Isa::*;
    let all = [Portable, Avx2, Avx512];
    assert_eq!(choose_isa(None, &all), Avx512);
    assert_eq!(choose_isa(Some("portable"), &all), Portable);
    assert_eq!(choose_isa(Some(" AVX2 "), &all), Avx2);
    assert_eq!(choose_isa(Some("avx512"), &all), Avx512);
    assert_eq!(choose_isa(Some("bogus"), &all), Avx512);
    assert_eq!(choose_isa(Some("avx512"), &[Portable, Avx2]), Avx2);
    assert_eq!(choose_isa(Some("avx2"), &[Portable]), Portable);
    assert_eq!(choose_isa(None, &[Portable]), Portable);
}

#[test]
fn isa_selection() {
    let sel = selected_isa();
    assert!(sel.is_available());
    assert_eq!(sgemm_isa(), sel.name());
    assert!(["avx512", "avx2+fma", "portable"].contains(&sgemm_isa()));
}

#[test]
#[should_panic(expected = "C slice too short")]
fn short_c_panics() {
    let a = [1.0f32; 4];
    let mut c = [0.0f32; 3];
    sgemm(2, 2, 2, 1.0, &a, 2, 1, &a, 2, 1, 0.0, &mut c, 2);
}

#[test]
fn forced_par_split_is_bit_identical_on_small_odd_shapes() {
    let mut seed = 21u64;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
    for isa in available_isas() {
        for &(m, k, n) in &[(1, 5, 1), (9, 3, 70), (17, 33, 257), (70, 9, 33), (257, 17, 8)] {
            let a = lcg_vec(&mut seed, m * k);
            let b = lcg_vec(&mut seed, k * n);
            let c0 = lcg_vec(&mut seed, m * n);
            let mut want = c0.clone();
            sgemm_with(isa, m, k, n, -1.25, &a, 1, m, &b, n, 1, 0.75, &mut want, n);
            for threads in 1..=6 {
                let mut got = c0.clone();
                let g = GemmArgs {
                    m,
                    k,
                    n,
                    alpha: -1.25,
                    a: a.as_ptr(),
                    rsa: 1,
                    csa: m,
                    b: b.as_ptr(),
                    rsb: n,
                    csb: 1,
                    beta: 0.75,
                    c: got.as_mut_ptr(),
                    ldc: n,
                    packed: None,
                };
                // SAFETY: operands sized for the strides; ISA available.
                pool.install(|| unsafe { par::gemm_par_raw(isa, &g, threads) });
                assert!(got.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits()), "{isa:?} {m}x{k}x{n} split for {threads} threads differs");
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn simd_packing_equals_generic_packing() {
    // Fails, rather than passing without checking anything, on an x86-64 CPU without AVX2.
    assert!(
        Isa::Avx2.is_available(),
        "this test needs a CPU with AVX2 + FMA to run pack_x86; on other CPUs skip it with --skip simd_packing_equals_generic_packing"
    );
    let mut seed = 33u64;
    for &(rows, cols) in &[(8, 8), (13, 37), (64, 9), (6, 300), (33, 16), (7, 7)] {
        for trans in [false, true] {
            let (rs, cs) = if trans { (1, rows + 1) } else { (cols + 2, 1) };
            let src = lcg_vec(&mut seed, needed_len(rows, cols, rs, cs));
            // A block: rows x depth(cols).
            fn check_a<const MR: usize>(r: usize, c: usize, s: &[f32], rs: usize, cs: usize) {
                let len = r.div_ceil(MR) * MR * c;
                let (mut x, mut y) = (vec![f32::NAN; len], vec![f32::NAN; len]);
                // SAFETY: `s` holds the strided r x c block (`needed_len`), `x`/`y` the padded
                // panels (`ceil(r/MR)*MR*c` floats); AVX2 was asserted above.
                unsafe {
                    pack::pack_a::<MR>(r, c, s.as_ptr(), rs, cs, x.as_mut_ptr());
                    pack_x86::pack_a::<MR>(r, c, s.as_ptr(), rs, cs, y.as_mut_ptr());
                }
                assert!(x.iter().zip(&y).all(|(a, b)| a.to_bits() == b.to_bits()));
            }
            // B block: depth(rows) x cols.
            fn check_b<const NR: usize>(r: usize, c: usize, s: &[f32], rs: usize, cs: usize) {
                let len = c.div_ceil(NR) * NR * r;
                let (mut x, mut y) = (vec![f32::NAN; len], vec![f32::NAN; len]);
                // SAFETY: `s` holds the strided r x c block (`needed_len`), `x`/`y` the padded
                // panels (`ceil(c/NR)*NR*r` floats); AVX2 was asserted above.
                unsafe {
                    pack::pack_b::<NR>(r, c, s.as_ptr(), rs, cs, x.as_mut_ptr());
                    pack_x86::pack_b::<NR>(r, c, s.as_ptr(), rs, cs, y.as_mut_ptr());
                }
                assert!(x.iter().zip(&y).all(|(a, b)| a.to_bits() == b.to_bits()));
            }
            check_a::<8>(rows, cols, &src, rs, cs);
            check_a::<6>(rows, cols, &src, rs, cs);
            check_b::<32>(rows, cols, &src, rs, cs);
            check_b::<16>(rows, cols, &src, rs, cs);
        }
    }
}

#[test]
fn packed_b_is_bit_identical_to_packing_per_call() {
    let mut seed = 31u64;
    let pools: Vec<rayon::ThreadPool> = [1, 2, 3].iter().map(|&t| rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap()).collect();
    // Edges: n not a multiple of any NR, k across KC blocks (a short last block), m one row and
    // not a multiple of MR, products above and below PAR_THRESHOLD, split by columns (128 x
    // 1030) and by rows (1000 x 40).
    let shapes = [(1, 5, 1), (9, 3, 70), (17, 600, 257), (128, 513, 1030), (32, 1000, 300), (300, 70, 17), (1000, 300, 40), (8, 40, 64)];
    for isa in available_isas() {
        for &(m, k, n) in &shapes {
            for lb in [Layout { trans: false, pad: 0 }, Layout { trans: true, pad: 3 }] {
                let (rsb, csb, blen) = strides(lb, k, n);
                let a = lcg_vec(&mut seed, m * (k + 1));
                let b = lcg_vec(&mut seed, blen);
                let c0 = lcg_vec(&mut seed, m * (n + 2));
                let packed = PackedB::with_isa(isa, k, n, &b, rsb, csb).clone(); // a clone computes the same
                assert!(packed.packs(k, n, rsb, csb) && !packed.packs(k, n + 1, rsb, csb));
                assert_eq!((packed.k(), packed.n(), packed.isa()), (k, n, isa));
                for (alpha, beta) in [(1.0, 0.0), (-0.7, 1.0), (0.5, 0.3)] {
                    let mut want = c0.clone();
                    sgemm_with(isa, m, k, n, alpha, &a, k + 1, 1, &b, rsb, csb, beta, &mut want, n + 2);
                    for pool in &pools {
                        let mut got = c0.clone();
                        pool.install(|| sgemm_packed(m, alpha, &a, k + 1, 1, &packed, beta, &mut got, n + 2));
                        assert!(
                            got.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits()),
                            "{isa:?} {m}x{k}x{n} {lb:?} alpha {alpha} beta {beta}: packed B differs on {} threads",
                            pool.current_num_threads()
                        );
                    }
                }
            }
        }
    }
}

#[test]
#[should_panic(expected = "B slice too short")]
fn packed_b_checks_its_slice() {
    PackedB::new(3, 4, &[0.0; 11], 4, 1);
}

#[test]
fn packed_b_degenerate_products_only_scale_c() {
    for isa in available_isas() {
        // k = 0 or alpha = 0: C = beta * C (beta = 0 overwrites even NaN); m = 0 or n = 0: nothing
        for &(m, k, n, alpha, beta) in &[(3, 0, 5, 1.0f32, 0.0f32), (3, 0, 5, 1.0, 0.5), (3, 4, 5, 0.0, 2.0), (0, 4, 5, 1.0, 0.0), (3, 4, 0, 1.0, 0.0)] {
            let b: Vec<f32> = (0..k * n).map(|i| i as f32).collect();
            let packed = PackedB::with_isa(isa, k, n, &b, n, 1);
            let a = vec![1.0f32; m * k];
            let mut c = vec![f32::NAN; m * n];
            c.iter_mut().enumerate().for_each(|(i, v)| {
                if i % 2 == 0 {
                    *v = i as f32
                }
            });
            let mut want = c.clone();
            sgemm_with(isa, m, k, n, alpha, &a, k, 1, &b, n, 1, beta, &mut want, n.max(1));
            sgemm_packed(m, alpha, &a, k, 1, &packed, beta, &mut c, n.max(1));
            assert!(c.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits()), "{isa:?} {m}x{k}x{n} alpha {alpha} beta {beta}: {c:?} vs {want:?}");
        }
    }
}

#[test]
fn packed_b_clone_is_aligned() {
    let b: Vec<f32> = (0..300).map(|i| i as f32).collect();
    let p = PackedB::new(10, 30, &b, 30, 1);
    for q in [p.clone(), p.clone().clone()] {
        assert_eq!(q.panels().as_ptr() as usize % 64, 0);
        assert_eq!(q.panels(), p.panels());
    }
}

#[test]
#[should_panic(expected = "overflows usize")]
fn packed_b_sizes_that_overflow_panic() {
    // zero strides make a one-float B "hold" any k x n: the size check must not wrap
    PackedB::new(1 << 40, 1 << 40, &[1.0], 0, 0);
}

#[test]
#[should_panic(expected = "C slice too short")]
fn packed_b_checks_c() {
    let p = PackedB::new(4, 8, &[0.0; 32], 8, 1);
    sgemm_packed(3, 1.0, &[0.0; 12], 4, 1, &p, 0.0, &mut [0.0; 23], 8);
}
