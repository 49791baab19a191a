//! Winograd against a direct f64 convolution and its adjoint.

use super::grad_tests::{direct_dw, flip, winograd_dw};
use super::*;
use proptest::prelude::*;

pub(super) fn data(len: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(12345);
    (0..len)
        .map(|_| {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}

/// Direct `y[n][o][i][j] = b[o] + Σ w[o][c][u][v]·x[n][c][i+u-ph][j+v-pw]` in f64.
pub(super) fn direct(g: &Wino, n: usize, x: &[f32], w: &[f32], b: Option<&[f32]>) -> Vec<f64> {
    let mut y = vec![0.0f64; n * g.o * g.oh * g.ow];
    for img in 0..n {
        for o in 0..g.o {
            for i in 0..g.oh {
                for j in 0..g.ow {
                    let mut s = b.map_or(0.0, |b| b[o] as f64);
                    for c in 0..g.c {
                        for u in 0..g.r {
                            for v in 0..g.r {
                                let (iy, ix) = ((i + u) as isize - g.ph as isize, (j + v) as isize - g.pw as isize);
                                if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                                    let xv = x[((img * g.c + c) * g.h + iy as usize) * g.w + ix as usize] as f64;
                                    s += w[((o * g.c + c) * g.r + u) * g.r + v] as f64 * xv;
                                }
                            }
                        }
                    }
                    y[((img * g.o + o) * g.oh + i) * g.ow + j] = s;
                }
            }
        }
    }
    y
}

/// Largest |a - b| over the largest |b| (1 if all zero); infinite if an `a` is not finite
/// (`f64::max` skips NaN, so a NaN output would otherwise count as error 0).
pub(super) fn rel_err(a: &[f32], b: &[f64]) -> f64 {
    if !a.iter().all(|v| v.is_finite()) {
        return f64::INFINITY;
    }
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1.0);
    a.iter().zip(b).fold(0.0f64, |m, (&x, &y)| m.max((x as f64 - y).abs())) / scale
}

/// The error bound the tests hold each form to, relative to the output's scale: F(2x2, 5x5)'s,
/// F(3x3, 3x3)'s and F(4x4, 3x3)'s transforms (points 0, ±1, ±2 or 2, ∞) hold 2s to 8s and
/// their `G` thirds and sixths, so they lose more bits than F(2x2, 3x3).
pub(super) fn tol(g: &Wino) -> f64 {
    if g.alpha() >= 5 {
        TOL_5X5
    } else {
        1e-5
    }
}

/// The error bound of the forms on 5x5 and 6x6 tiles, F(2x2, 5x5), F(3x3, 3x3) and
/// F(4x4, 3x3) (see [`tol`]).
const TOL_5X5: f64 = 1e-4;

/// The geometry of `kind` (0: F(2x2, 3x3), 1: F(2x2, 5x5), 2: F(4x4, 3x3), 3: F(3x3, 3x3)).
pub(super) fn geometry(kind: usize, c: usize, h: usize, w: usize, o: usize, ph: usize, pw: usize) -> Option<Wino> {
    let g = Wino::new(if kind == 1 { 5 } else { 3 }, c, h, w, o, ph, pw)?;
    match kind {
        2 => g.with_tiles(4),
        3 => g.with_tiles(3),
        _ => Some(g),
    }
}

fn run(g: &Wino, n: usize, x: &[f32], u: &[f32], b: Option<&[f32]>, par: bool) -> Vec<f32> {
    let mut y = vec![f32::NAN; n * g.o * g.oh * g.ow];
    let mut scratch = vec![f32::NAN; g.scratch_len(n)];
    conv3x3(g, n, x, u, b, &mut y, &mut scratch, par);
    y
}

#[test]
fn geometry_and_limits() {
    let g = Wino::new(3, 64, 22, 22, 64, 1, 1).unwrap();
    assert_eq!((g.oh, g.ow, g.tiles()), (22, 22, (11, 11)));
    let g = Wino::new(3, 3, 7, 5, 2, 0, 2).unwrap();
    assert_eq!((g.oh, g.ow, g.tiles()), (5, 7, (3, 4)));
    let d = g.input_grad();
    assert_eq!((d.c, d.o, d.h, d.w, d.ph, d.pw, d.oh, d.ow), (2, 3, 5, 7, 2, 0, 7, 5));
    assert!(Wino::new(3, 1, 8, 8, 1, 3, 0).is_none());
    assert!(Wino::new(3, 1, 2, 8, 1, 0, 0).is_none());
}

#[test]
fn seed_shapes_within_1e_5() {
    for (c, o, hw) in [(64, 64, 22), (64, 128, 10), (128, 128, 10)] {
        let g = Wino::new(3, c, hw, hw, o, 1, 1).unwrap();
        let n = 2;
        let (x, w, b) = (data(n * c * hw * hw, 1), data(o * c * 9, 2), data(o, 3));
        let mut u = vec![0.0; g.filter_len()];
        filter_transform(&g, &w, &mut u);
        let err = rel_err(&run(&g, n, &x, &u, Some(&b), false), &direct(&g, n, &x, &w, Some(&b)));
        assert!(err < 1e-5, "{c}->{o} @{hw}: relative error {err}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn forward_matches_direct(c in 1usize..6, o in 1usize..6, h in 1usize..10, w in 1usize..10, ph in 0usize..3, pw in 0usize..3, n in 1usize..3, seed in 0u32..1000) {
        prop_assume!(h + 2 * ph >= 3 && w + 2 * pw >= 3);
        let g = Wino::new(3, c, h, w, o, ph, pw).unwrap();
        let (x, wt, b) = (data(n * c * h * w, seed), data(o * c * 9, seed + 1), data(o, seed + 2));
        let mut u = vec![0.0; g.filter_len()];
        filter_transform(&g, &wt, &mut u);
        let y = run(&g, n, &x, &u, Some(&b), false);
        let err = rel_err(&y, &direct(&g, n, &x, &wt, Some(&b)));
        prop_assert!(err < 1e-5, "relative error {}", err);
        // the parallel GEMM driver gives the same bits
        prop_assert_eq!(y, run(&g, n, &x, &u, Some(&b), true));
    }

    /// The flipped filters on the gradient geometry give the adjoint: <conv(x), dy> = <x, dx>.
    #[test]
    fn input_grad_is_the_adjoint(c in 1usize..6, o in 1usize..6, h in 1usize..9, w in 1usize..9, ph in 0usize..3, pw in 0usize..3, seed in 0u32..1000) {
        prop_assume!(h + 2 * ph >= 3 && w + 2 * pw >= 3);
        let g = Wino::new(3, c, h, w, o, ph, pw).unwrap();
        let d = g.input_grad();
        let (x, wt, dy) = (data(c * h * w, seed), data(o * c * 9, seed + 1), data(o * g.oh * g.ow, seed + 2));
        let mut u = vec![0.0; d.filter_len()];
        filter_transform_flipped(&g, &wt, &mut u);
        let dx = run(&d, 1, &dy, &u, None, false);
        prop_assert_eq!(dx.len(), x.len());
        let y = direct(&g, 1, &x, &wt, None);
        let lhs: f64 = y.iter().zip(&dy).map(|(a, &b)| a * b as f64).sum();
        let rhs: f64 = x.iter().zip(&dx).map(|(&a, &b)| a as f64 * b as f64).sum();
        let scale = y.iter().zip(&dy).map(|(a, &b)| (a * b as f64).abs()).sum::<f64>().max(1.0);
        prop_assert!((lhs - rhs).abs() < 1e-5 * scale, "<conv x, dy> = {} but <x, dx> = {}", lhs, rhs);
    }
}

/// `(C, O, side, padding)`: the seed layers, 9x9 (odd: clipped tiles), 48x48 (24 tiles a row:
/// segments of 16 + 8), padding 0 and 2, channels not multiples of MR.
pub(super) const SEED_AND_EDGE_SHAPES: [(usize, usize, usize, usize); 6] =
    [(64, 64, 22, 1), (64, 128, 10, 1), (128, 128, 9, 1), (16, 13, 48, 1), (9, 20, 11, 0), (8, 8, 7, 2)];

fn run_fused(g: &Wino, n: usize, x: &[f32], u: &[f32], b: Option<&[f32]>) -> Option<Vec<f32>> {
    let f = Fused::new(g, u)?;
    let mut y = vec![f32::NAN; n * g.o * g.oh * g.ow];
    let mut scratch = vec![f32::NAN; f.scratch_len()];
    conv_fused(g, n, x, &f, b, &mut y, &mut scratch);
    Some(y)
}

#[test]
fn fused_seed_shapes_within_1e_5() {
    if !Fused::available() {
        eprintln!("no AVX-512: the fused kernel is not used on this CPU");
        return;
    }
    for (c, o, hw, p) in SEED_AND_EDGE_SHAPES {
        let (err, _, _) = fused_forward_err(&Wino::new(3, c, hw, hw, o, p, p).unwrap(), 3);
        assert!(err < 1e-5, "{c}->{o} @{hw} pad {p}: relative error {err}");
    }
}

/// The fused kernel's relative error on `n` images of `g` against the direct f64 convolution
/// (inputs of seed 1, filters 2, bias 3), with the inputs and filters.
fn fused_forward_err(g: &Wino, n: usize) -> (f64, Vec<f32>, Vec<f32>) {
    let (x, w, b) = (data(n * g.c * g.h * g.w, 1), data(g.weight_len(), 2), data(g.o, 3));
    let mut u = vec![0.0; g.filter_len()];
    filter_transform(g, &w, &mut u);
    let y = run_fused(g, n, &x, &u, Some(&b)).unwrap();
    (rel_err(&y, &direct(g, n, &x, &w, Some(&b))), x, w)
}

/// F(4x4, 3x3) and F(3x3, 3x3) on the seed and edge shapes, forward, as the input gradient
/// (the flipped filters on [`Wino::input_grad`]) and the filter gradient, within [`TOL_5X5`]
/// of a direct f64 computation.
#[test]
fn fused_4x4_and_3x3_seed_shapes() {
    if !Fused::available() {
        eprintln!("no AVX-512: F(4x4, 3x3) and F(3x3, 3x3) do not run on this CPU");
        return;
    }
    // (16, 13, 56): tile rows of 14, so a segment's 4th interleaved vector (columns 48-55);
    // (16, 13, 43) in 3x3 tiles: rows of 15 tiles, the third interleaved vector (columns 32-44)
    let shapes = SEED_AND_EDGE_SHAPES.into_iter().chain([(16, 13, 56, 1), (16, 13, 43, 1), (64, 128, 9, 1), (128, 256, 9, 1)]);
    for ((c, o, hw, p), m) in shapes.flat_map(|s| [(s, 4), (s, 3)]) {
        let g = Wino::new(3, c, hw, hw, o, p, p).unwrap().with_tiles(m).unwrap();
        let (d, n) = (g.input_grad(), 3);
        let (err, x, w) = fused_forward_err(&g, n);
        // the input gradient is the convolution of dY with the flipped, transposed filters
        let dy = data(n * o * g.oh * g.ow, 4);
        let flipped = flip(&w, o, c, 3);
        let mut ud = vec![0.0; d.filter_len()];
        filter_transform_flipped(&g, &w, &mut ud);
        let err_dx = rel_err(&run_fused(&d, n, &dy, &ud, None).unwrap(), &direct(&d, n, &dy, &flipped, None));
        // (the filter gradient of tile rows of 16 or more takes F(2x2): `filter_grad::preferred`)
        let err_dw = if filter_grad::can_gather(&g) { rel_err(&winograd_dw(&g, n, 2, &x, &dy), &direct_dw(&g, n, &x, &dy)) } else { 0.0 };
        eprintln!("F({m}x{m}, 3x3) {c}->{o} @{hw} pad {p}: forward {err:.2e}, dX {err_dx:.2e}, dW {err_dw:.2e}");
        assert!(
            err < TOL_5X5 && err_dx < TOL_5X5 && err_dw < TOL_5X5,
            "F({m}x{m}) {c}->{o} @{hw} pad {p}: relative error {err} forward, {err_dx} dX, {err_dw} dW"
        );
    }
}

/// The AVX-512 1-D transforms with `G`: `Aᵀ·[(G·g) ⊙ (Bᵀ·d)]` is the correlation
/// `y_i = Σ_k g_k·d_{i+k}` (i < m) for random `d` and `g`, each of the four forms, lane by lane; and
/// `at_adjoint` is the transpose of `at`: `<at(m), y> = <m, at_adjoint(y)>`.
#[test]
fn one_d_transforms_compute_the_correlation() {
    if !Fused::available() {
        return;
    }
    // SAFETY: the CPU has AVX-512 (checked above).
    unsafe { check_one_d::<4, 2>(3) };
    // SAFETY: as above.
    unsafe { check_one_d::<6, 2>(5) };
    // SAFETY: as above.
    unsafe { check_one_d::<5, 3>(3) };
    // SAFETY: as above.
    unsafe { check_one_d::<6, 4>(3) };
}

#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn check_one_d<const A: usize, const M: usize>(r: usize) {
    use std::arch::x86_64::*;
    let gm = g_matrix(r, M);
    for seed in 0..20 {
        let (d, g) = (data(A * 16, seed), data(r * 16, seed + 100));
        // lane l holds the l-th random vector
        let vec_of = |vals: &[f32], i: usize, n: usize| -> __m512 {
            let lanes: [f32; 16] = std::array::from_fn(|l| vals[l * n + i]);
            // SAFETY: an unaligned load of a local array of 16 floats.
            unsafe { _mm512_loadu_ps(lanes.as_ptr()) }
        };
        let v = fused::bt::<A>(std::array::from_fn(|i| vec_of(&d, i, A)));
        let u: [__m512; A] = std::array::from_fn(|t| {
            let lanes: [f32; 16] = std::array::from_fn(|l| (0..r).map(|k| gm[t * r + k] * g[l * r + k] as f64).sum::<f64>() as f32);
            // SAFETY: as above.
            unsafe { _mm512_loadu_ps(lanes.as_ptr()) }
        });
        let y = fused::at::<A, M>(std::array::from_fn(|t| _mm512_mul_ps(u[t], v[t])));
        let mut ys = [[0.0f32; 16]; M];
        for (yi, v) in ys.iter_mut().zip(y) {
            // SAFETY: an unaligned store into a local array of 16 floats.
            unsafe { _mm512_storeu_ps(yi.as_mut_ptr(), v) };
        }
        for l in 0..16 {
            for (i, yi) in ys.iter().map(|y| y[l]).enumerate() {
                let want: f64 = (0..r).map(|k| g[l * r + k] as f64 * d[l * A + i + k] as f64).sum();
                assert!((yi as f64 - want).abs() < 1e-5, "r = {r}, m = {M}, lane {l}, y{i} = {yi}, want {want}");
            }
        }
        // <at(m), y> = <m, at_adjoint(y)>
        let m: [__m512; A] = std::array::from_fn(|i| vec_of(&d, i, A));
        let yv = data(M * 16, seed + 200);
        let yy: [__m512; M] = std::array::from_fn(|i| vec_of(&yv, i, M));
        let (am, ay) = (fused::at::<A, M>(m), fused::at_adjoint::<A, M>(yy));
        let dot = |a: &[__m512], b: &[__m512]| -> f32 { a.iter().zip(b).map(|(&a, &b)| _mm512_reduce_add_ps(_mm512_mul_ps(a, b))).sum() };
        let (lhs, rhs) = (dot(&am, &yy), dot(&m, &ay));
        assert!((lhs - rhs).abs() < 1e-4 * (1.0 + lhs.abs()), "r = {r}, m = {M}: <at m, y> = {lhs}, <m, at_adjoint y> = {rhs}");
    }
}

/// alexnet-bn's 5x5 layer (32 -> 64 on 22x22, no padding), the geometry of its input gradient
/// (64 -> 32 on 18x18, padding 4, here run as a plain convolution) and two edge shapes: forward
/// and `dW` within [`TOL_5X5`] (`dX` through the flipped filters: the adjoint proptest).
#[test]
fn fused_5x5_seed_shapes() {
    if !Fused::available() {
        eprintln!("no AVX-512: 5x5 convolutions do not take Winograd on this CPU");
        return;
    }
    for (c, o, hw, p) in [(32, 64, 22, 0), (64, 32, 18, 4), (9, 20, 11, 2), (8, 8, 5, 1)] {
        let g = Wino::new(5, c, hw, hw, o, p, p).unwrap();
        let n = 3;
        let (x, w, b, dy) = (data(n * c * hw * hw, 1), data(g.weight_len(), 2), data(o, 3), data(n * o * g.oh * g.ow, 4));
        let mut u = vec![0.0; g.filter_len()];
        filter_transform(&g, &w, &mut u);
        let y = run_fused(&g, n, &x, &u, Some(&b)).unwrap();
        let err = rel_err(&y, &direct(&g, n, &x, &w, Some(&b)));
        // (the filter gradient of tile rows of 16 or more takes F(2x2): `filter_grad::preferred`)
        let err_dw = if filter_grad::can_gather(&g) { rel_err(&winograd_dw(&g, n, 2, &x, &dy), &direct_dw(&g, n, &x, &dy)) } else { 0.0 };
        eprintln!("5x5 {c}->{o} @{hw} pad {p}: forward {err:.2e}, dW {err_dw:.2e}");
        assert!(err < TOL_5X5 && err_dw < TOL_5X5, "{c}->{o} @{hw} pad {p}: relative error {err} forward, {err_dw} dW");
    }
}

/// The panels transformed straight from the weights hold exactly what packing the transformed
/// filters gives, in all three forms and all four tile forms, for channel counts that leave
/// partial panels and (9 x 300) split the panels into several tasks, on one thread and on three.
#[test]
fn panels_from_weights_equal_transformed_then_packed() {
    if !Fused::available() {
        return;
    }
    let bits = |f: &Fused| f.panels().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for (r, m) in [(3, 2), (5, 2), (3, 3), (3, 4)] {
        for (o, c) in [(1, 1), (3, 5), (8, 8), (13, 2), (37, 11), (9, 300)] {
            let pad = r / 2;
            let fwd = Wino { m, ..Wino::new(r, c, 9, 9, o, pad, pad).expect("a geometry") };
            let w = data(fwd.weight_len(), (o * 7 + c) as u32);
            let mut u = vec![0.0; fwd.filter_len()];
            filter_transform(&fwd, &w, &mut u);
            let dxg = fwd.input_grad();
            let mut uf = vec![0.0; dxg.filter_len()];
            filter_transform_flipped(&dxg.input_grad(), &w, &mut uf);
            let cases = [
                (PanelForm::Forward, fwd, Fused::new(&fwd, &u)),
                (PanelForm::Flipped, dxg, Fused::new(&dxg, &uf)),
                (PanelForm::Transposed, fwd, Fused::new_transposed(&fwd, &u)),
            ];
            for (form, g, want) in cases {
                let want = want.expect("the fused kernel is available");
                for threads in [1, 3] {
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                    let got = pool.install(|| Fused::from_weights(&g, &w, form)).expect("available");
                    assert_eq!(bits(&got), bits(&want), "F({m}x{m}, {r}x{r}) {o}x{c} {form:?}, {threads} threads");
                }
                // into a buffer holding NaN, so every float, padding rows included, must be written
                // (small pooled buffers come zeroed, which would hide unwritten padding)
                let (rows, depth) = if form == PanelForm::Transposed { (g.c, g.o) } else { (g.o, g.c) };
                let mut into_nan = vec![f32::NAN; want.panels().len()];
                super::filters::transform_panels(super::filters::PanelShape { r, m, rows, depth, form }, g.points(), &w, &mut into_nan);
                let nan_bits: Vec<u32> = into_nan.iter().map(|v| v.to_bits()).collect();
                assert_eq!(nan_bits, bits(&want), "F({m}x{m}, {r}x{r}) {o}x{c} {form:?}, into NaN");
            }
        }
    }
}

#[test]
fn images_per_task_fills_the_blocks() {
    let g = |hw| Wino::new(3, 64, hw, hw, 64, 1, 1).unwrap();
    if !Fused::available() {
        return;
    }
    assert_eq!(Fused::images_per_task(&g(22), 8), 1); // 121 tiles of 128
    assert_eq!(Fused::images_per_task(&g(10), 8), 5); // 125 of 128
    assert_eq!(Fused::images_per_task(&g(10), 4), 4); // all of 1..=4 fill 78%: the largest
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any small geometry, F(2x2, 3x3), F(2x2, 5x5) or F(4x4, 3x3), images split into tasks or not: the fused kernel
    /// matches the direct convolution, and its bits do not depend on how images are grouped.
    #[test]
    fn fused_matches_direct(kind in 0usize..4, c in 1usize..12, o in 1usize..20, h in 1usize..14, w in 1usize..40, ph in 0usize..5, pw in 0usize..5, n in 1usize..4, seed in 0u32..1000) {
        let r = if kind == 1 { 5 } else { 3 };
        if !Fused::available() {
            return Ok(()); // (rejecting every case would fail the test on a CPU without AVX-512)
        }
        prop_assume!(ph < r && pw < r && h + 2 * ph >= r && w + 2 * pw >= r);
        let g = geometry(kind, c, h, w, o, ph, pw).unwrap();
        let (x, wt, b) = (data(n * c * h * w, seed), data(g.weight_len(), seed + 1), data(o, seed + 2));
        let mut u = vec![0.0; g.filter_len()];
        filter_transform(&g, &wt, &mut u);
        let y = run_fused(&g, n, &x, &u, Some(&b)).unwrap();
        let err = rel_err(&y, &direct(&g, n, &x, &wt, Some(&b)));
        prop_assert!(err < tol(&g), "relative error {}", err);
        let (il, ol) = (c * h * w, o * g.oh * g.ow);
        let one_by_one: Vec<f32> = (0..n).flat_map(|i| run_fused(&g, 1, &x[i * il..(i + 1) * il], &u, Some(&b)).unwrap()).collect();
        prop_assert_eq!(y.len(), n * ol);
        prop_assert_eq!(y, one_by_one);
    }

    /// The fused kernel on the gradient geometry with the flipped filters is the adjoint of the
    /// convolution, in all three forms: <conv(x), dy> = <x, dx>.
    #[test]
    fn fused_input_grad_is_the_adjoint(kind in 0usize..4, c in 1usize..10, o in 1usize..10, h in 1usize..12, w in 1usize..30, ph in 0usize..5, pw in 0usize..5, seed in 0u32..1000) {
        let r = if kind == 1 { 5 } else { 3 };
        if !Fused::available() {
            return Ok(()); // (rejecting every case would fail the test on a CPU without AVX-512)
        }
        prop_assume!(ph < r && pw < r && h + 2 * ph >= r && w + 2 * pw >= r);
        let g = geometry(kind, c, h, w, o, ph, pw).unwrap();
        let d = g.input_grad();
        let (x, wt, dy) = (data(c * h * w, seed), data(g.weight_len(), seed + 1), data(o * g.oh * g.ow, seed + 2));
        let mut u = vec![0.0; d.filter_len()];
        filter_transform_flipped(&g, &wt, &mut u);
        let dx = run_fused(&d, 1, &dy, &u, None).unwrap();
        prop_assert_eq!(dx.len(), x.len());
        let y = direct(&g, 1, &x, &wt, None);
        let lhs: f64 = y.iter().zip(&dy).map(|(a, &b)| a * b as f64).sum();
        let rhs: f64 = x.iter().zip(&dx).map(|(&a, &b)| a as f64 * b as f64).sum();
        let scale = y.iter().zip(&dy).map(|(a, &b)| (a * b as f64).abs()).sum::<f64>().max(1.0);
        prop_assert!((lhs - rhs).abs() < tol(&g) * scale, "<conv x, dy> = {} but <x, dx> = {}", lhs, rhs);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The gathering input transform (narrow tile rows) writes the same bits as the one that
    /// works row by row, for any block of tiles, across rows and images, padding included.
    #[test]
    fn gathered_input_transform_equals_the_row_one(r5 in any::<bool>(), c in 1usize..5, h in 1usize..14, w in 1usize..18, ph in 0usize..5, pw in 0usize..5, n in 1usize..4, first in 0usize..40, nb in 1usize..33, seed in 0u32..1000) {
        let r = if r5 { 5 } else { 3 };
        if !Fused::available() {
            return Ok(()); // (rejecting every case would fail the test on a CPU without AVX-512)
        }
        prop_assume!(ph < r && pw < r && h + 2 * ph >= r && w + 2 * pw >= r);
        let g = Wino::new(r, c, h, w, 1, ph, pw).unwrap();
        let x = data(n * c * h * w, seed);
        let (rows, gathered) = rows_and_gathered(&g, n, first, nb, c, |segs, b0, nb, rows, gathered| {
            // SAFETY: the CPU has AVX-512 (checked above); the blocks end at column nb <= 32.
            unsafe {
                fused::input_segments(&g, &x, segs, rows, 32);
                fused::input_gathered(&g, &x, b0, nb, gathered, 32);
            }
        });
        prop_assert_eq!(rows, gathered);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The gathering output adjoint (tile rows narrower than 16) writes the same bits as the
    /// one that works row by row, for any block of tiles, clipped outputs included.
    #[test]
    fn gathered_output_adjoint_equals_the_row_one(r5 in any::<bool>(), o in 1usize..5, h in 1usize..14, w in 1usize..26, ph in 0usize..5, pw in 0usize..5, n in 1usize..4, first in 0usize..40, nb in 1usize..33, seed in 0u32..1000) {
        if !Fused::available() {
            return Ok(()); // (rejecting every case would fail the test on a CPU without AVX-512)
        }
        let r = if r5 { 5 } else { 3 };
        prop_assume!(ph < r && pw < r && h + 2 * ph >= r && w + 2 * pw >= r);
        let g = Wino::new(r, 1, h, w, o, ph, pw).unwrap();
        prop_assume!(filter_grad::can_gather(&g));
        let dy = data(n * o * g.oh * g.ow, seed);
        let (rows, gathered) = rows_and_gathered(&g, n, first, nb, o, |segs, b0, nb, rows, gathered| {
            // SAFETY: the CPU has AVX-512 (checked above); the blocks end at column nb <= 32.
            unsafe {
                adjoint::output_adjoint_segments(&g, &dy, segs, rows, 32);
                adjoint::output_adjoint_gathered(&g, &dy, b0, nb, gathered, 32);
            }
        });
        prop_assert_eq!(rows, gathered);
    }
}

/// A block of tiles of `n` images (`first` wrapped to a tile, at most `nb` tiles, within one
/// NB-wide block) written by `run(segments, b0, nb, rows, gathered)` into two NaN-filled
/// `[α²][ch][32]` blocks, returned as bits: the row-by-row and the gathering variant of a
/// transform must agree on them.
fn rows_and_gathered(
    g: &Wino,
    n: usize,
    first: usize,
    nb: usize,
    ch: usize,
    run: impl FnOnce(&[fused::Segment], usize, usize, &mut [f32], &mut [f32]),
) -> (Vec<u32>, Vec<u32>) {
    let total = n * g.tiles_per_image();
    let b0 = first % total;
    let nb = nb.min(total - b0);
    let (mut rows, mut gathered) = (vec![f32::NAN; g.points() * ch * 32], vec![f32::NAN; g.points() * ch * 32]);
    let mut segs = vec![];
    fused::segments(g, b0, nb, |s| segs.push(s));
    run(&segs, b0, nb, &mut rows, &mut gathered);
    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    (bits(&rows), bits(&gathered))
}

/// F(4x4, 3x3) is preferred on 22x22 and larger outputs, F(3x3, 3x3) on 9x9 ones (its tiles
/// fit exactly) and on 18x18 ones (a tie with F(4x4): the smaller tiles), F(2x2) on 10x10 ones
/// (where the larger tiles overhang), never for 5x5 kernels, and only where the fused
/// kernel runs; the input gradient's geometry taken twice is the forward one, tiles included.
#[test]
fn preferred_form() {
    let m = |r, hw, p| Wino::new(r, 64, hw, hw, 64, p, p).unwrap().preferred().m;
    let (large, medium) = if Fused::available() { (4, 3) } else { (2, 2) };
    assert_eq!((m(3, 22, 1), m(3, 24, 0), m(3, 48, 1)), (large, large, large));
    assert_eq!((m(3, 9, 1), m(3, 18, 1)), (medium, medium));
    assert_eq!((m(3, 10, 1), m(5, 22, 0), m(3, 7, 1)), (2, 2, large));
    assert!(Wino::new(5, 8, 9, 9, 8, 2, 2).unwrap().with_tiles(3).is_none());
    let g3 = Wino::new(3, 64, 9, 9, 128, 1, 1).unwrap().preferred();
    assert_eq!(g3.input_grad().input_grad(), g3);
    let g = Wino::new(3, 64, 22, 22, 32, 1, 1).unwrap().preferred();
    assert_eq!(g.input_grad().input_grad(), g);
    assert_eq!(g.small_tiles().m, 2);
    // images whose gather offsets would overflow i32, on either side: no large tiles
    assert!(Wino::new(3, 8_000_000, 4, 4, 1, 1, 1).unwrap().large_tiles().is_none());
    assert!(Wino::new(3, 1, 4, 4, 8_000_000, 1, 1).unwrap().large_tiles().is_none());
    // the filter gradient keeps F(2x2) where its gathered adjoint cannot serve (16-tile rows)
    let wide = Wino::new(3, 8, 64, 64, 8, 1, 1).unwrap();
    assert_eq!((wide.preferred().m, filter_grad::preferred(&wide).m), (large, 2));
    if Fused::available() {
        assert_eq!(filter_grad::preferred(&Wino::new(3, 8, 56, 56, 8, 1, 1).unwrap()).m, 4);
    }
}
