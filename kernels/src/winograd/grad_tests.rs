//! The Winograd gradients against direct f64 computations: the filter gradient
//! (`filter_grad`) and the input gradient as the forward's adjoint (`input_grad`).

use super::tests::{data, direct, geometry, rel_err, tol, SEED_AND_EDGE_SHAPES};
use super::*;
use proptest::prelude::*;

/// Direct `dw[o][c][u][v] = Σ dy[n][o][i][j]·x[n][c][i+u-ph][j+v-pw]` in f64.
pub(super) fn direct_dw(g: &Wino, n: usize, x: &[f32], dy: &[f32]) -> Vec<f64> {
    let mut dw = vec![0.0f64; g.weight_len()];
    for img in 0..n {
        for o in 0..g.o {
            for c in 0..g.c {
                for u in 0..g.r {
                    for v in 0..g.r {
                        let mut s = 0.0;
                        for i in 0..g.oh {
                            for j in 0..g.ow {
                                let (iy, ix) = ((i + u) as isize - g.ph as isize, (j + v) as isize - g.pw as isize);
                                if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                                    let xv = x[((img * g.c + c) * g.h + iy as usize) * g.w + ix as usize] as f64;
                                    s += dy[((img * g.o + o) * g.oh + i) * g.ow + j] as f64 * xv;
                                }
                            }
                        }
                        dw[((o * g.c + c) * g.r + u) * g.r + v] += s;
                    }
                }
            }
        }
    }
    dw
}

/// dW of `n` images in groups of `gs`, accumulated in order, then finished.
pub(super) fn winograd_dw(g: &Wino, n: usize, gs: usize, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let mut du = vec![f32::NAN; g.filter_len()]; // the first group overwrites it
    let (il, ol) = (g.c * g.h * g.w, g.o * g.oh * g.ow);
    for n0 in (0..n).step_by(gs) {
        let gn = gs.min(n - n0);
        let mut scratch = vec![f32::NAN; filter_grad::scratch_len(g, gn)];
        filter_grad::accumulate(g, gn, &x[n0 * il..(n0 + gn) * il], &dy[n0 * ol..(n0 + gn) * ol], &mut du, &mut scratch, n0 == 0);
    }
    if n == 0 {
        du.fill(0.0);
    }
    let mut dw = vec![f32::NAN; g.weight_len()];
    filter_grad::finish(g, &du, &mut dw);
    dw
}

#[test]
fn filter_grad_seed_shapes_within_1e_5() {
    if !filter_grad::available() {
        eprintln!("no AVX-512: the Winograd filter gradient is not used on this CPU");
        return;
    }
    for (c, o, hw, p) in SEED_AND_EDGE_SHAPES {
        let g = Wino::new(3, c, hw, hw, o, p, p).unwrap();
        let n = 3;
        let (x, dy) = (data(n * c * hw * hw, 4), data(n * o * g.oh * g.ow, 5));
        let err = rel_err(&winograd_dw(&g, n, 2, &x, &dy), &direct_dw(&g, n, &x, &dy));
        assert!(err < 1e-5, "{c}->{o} @{hw} pad {p}: relative error {err}");
    }
}

/// The filter gradient runs wherever the fused kernel does (it uses its transforms), so the
/// tests above do not skip on an AVX-512 CPU (run with `PUPIL_ISA=avx2` too: both then off).
#[test]
fn filter_grad_is_available_with_the_fused_kernel() {
    assert_eq!(filter_grad::available(), Fused::available());
}

/// No images, no input channels or no filters: `dU` is left as it was, or with `fresh`
/// zeroed (an empty sum).
#[test]
fn filter_grad_of_nothing_adds_nothing() {
    if !filter_grad::available() {
        return;
    }
    for (c, o, gn) in [(3, 2, 0), (0, 2, 1), (3, 0, 1)] {
        let g = Wino::new(3, c, 5, 6, o, 1, 0).unwrap();
        let (x, dy) = (data(gn * c * 30, 1), data(gn * o * g.oh * g.ow, 2));
        let mut du = data(g.filter_len(), 3);
        let before = du.clone();
        let mut scratch = vec![f32::NAN; filter_grad::scratch_len(&g, gn)];
        filter_grad::accumulate(&g, gn, &x, &dy, &mut du, &mut scratch, false);
        assert_eq!(du, before, "{c}->{o}, {gn} images");
        du.fill(f32::NAN);
        filter_grad::accumulate(&g, gn, &x, &dy, &mut du, &mut scratch, true);
        assert!(du.iter().all(|&v| v == 0.0), "{c}->{o}, {gn} images, fresh");
    }
}

/// With `fresh`, whatever `dU` held (NaN here) is overwritten: the sum equals adding into
/// zeros, bit for bit, whether the tiles take one block or several.
#[test]
fn fresh_accumulation_overwrites_what_du_held() {
    if !filter_grad::available() {
        return;
    }
    // 22x22 (121 tiles an image, one block for one image) and 10x10 in F(2x2), 3 images
    for (c, o, side) in [(16, 24, 22), (8, 8, 10), (64, 64, 22)] {
        let g = Wino::new(3, c, side, side, o, 1, 1).unwrap();
        let n = 3;
        let (x, dy) = (data(n * c * side * side, 4), data(n * o * g.oh * g.ow, 5));
        let mut scratch = vec![f32::NAN; filter_grad::scratch_len(&g, n)];
        let (mut fresh, mut zeros) = (vec![f32::NAN; g.filter_len()], vec![0.0f32; g.filter_len()]);
        filter_grad::accumulate(&g, n, &x, &dy, &mut fresh, &mut scratch, true);
        filter_grad::accumulate(&g, n, &x, &dy, &mut zeros, &mut scratch, false);
        assert!(fresh.iter().all(|v| v.is_finite()), "{c}->{o} @{side}: NaN left in dU");
        let bits = |v: &[f32]| v.iter().map(|x| x.abs().to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&fresh), bits(&zeros), "{c}->{o} @{side}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any small geometry in any of the three forms, and grouping of images: the Winograd filter gradient
    /// matches the direct one.
    #[test]
    fn filter_grad_matches_direct(kind in 0usize..4, c in 1usize..10, o in 1usize..10, h in 1usize..14, w in 1usize..40, ph in 0usize..5, pw in 0usize..5, n in 1usize..4, gs in 1usize..3, seed in 0u32..1000) {
        let r = if kind == 1 { 5 } else { 3 };
        prop_assume!(ph < r && pw < r && h + 2 * ph >= r && w + 2 * pw >= r);
        if !filter_grad::available() {
            return Ok(());
        }
        let g = geometry(kind, c, h, w, o, ph, pw).unwrap();
        prop_assume!(g.m == 2 || filter_grad::can_gather(&g));
        let (x, dy) = (data(n * c * h * w, seed), data(n * o * g.oh * g.ow, seed + 1));
        let err = rel_err(&winograd_dw(&g, n, gs, &x, &dy), &direct_dw(&g, n, &x, &dy));
        prop_assert!(err < tol(&g), "relative error {}", err);
    }
}

/// The flipped, transposed filters `W'[c][o][u][v] = W[o][c][r-1-u][r-1-v]`: the input
/// gradient is the convolution of `dY` with them.
pub(super) fn flip(w: &[f32], o: usize, c: usize, r: usize) -> Vec<f32> {
    let rr = r * r;
    (0..c * o * rr)
        .map(|i| {
            let (ci, oc, k) = (i / (o * rr), i / rr % o, i % rr);
            w[(oc * c + ci) * rr + rr - 1 - k]
        })
        .collect()
}

/// [`input_grad::conv_input_grad`] on `n` images of `g` from zeros, with the filters of `w`.
fn adjoint_dx(g: &Wino, n: usize, dy: &[f32], w: &[f32]) -> Option<Vec<f32>> {
    if !input_grad::available(g) {
        return None;
    }
    let mut u = vec![0.0; g.filter_len()];
    filter_transform(g, w, &mut u);
    let ft = Fused::new_transposed(g, &u)?;
    let mut dx = vec![0.0f32; n * g.c * g.h * g.w];
    let mut s = vec![f32::NAN; input_grad::scratch_len(g)];
    input_grad::conv_input_grad(g, n, dy, &ft, &mut dx, &mut s);
    Some(dx)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// The input gradient as the adjoint of the forward pass, on the forward's tiles
    /// (`input_grad`), equals the convolution of `dY` with the flipped filters computed
    /// directly in f64, 3x3 and 5x5 kernels, any padding, several images per call.
    #[test]
    fn adjoint_input_grad_matches_direct(r5 in any::<bool>(), c in 1usize..10, o in 1usize..12, h in 1usize..16, w in 1usize..40, ph in 0usize..5, pw in 0usize..5, n in 1usize..4, seed in 0u32..1000) {
        let r = if r5 { 5 } else { 3 };
        let Some(g) = Wino::new(r, c, h, w, o, ph, pw) else { return Ok(()) };
        let (wt, dy) = (data(g.weight_len(), seed), data(n * o * g.oh * g.ow, seed + 1));
        let Some(dx) = adjoint_dx(&g, n, &dy, &wt) else { return Ok(()) };
        let want = direct(&g.input_grad(), n, &dy, &flip(&wt, o, c, r), None);
        let err = rel_err(&dx, &want);
        prop_assert!(err < tol(&g), "{g:?}: relative error {err}");
    }
}

/// alexnet-bn's 5x5 layer and the seed 3x3 shapes: the adjoint input gradient within the
/// forms' bounds of a direct f64 computation.
#[test]
fn adjoint_input_grad_seed_shapes() {
    for (r, c, o, hw, p) in [(5, 32, 64, 22, 0), (3, 64, 64, 22, 1), (3, 64, 128, 10, 1), (5, 9, 20, 11, 2)] {
        let g = Wino::new(r, c, hw, hw, o, p, p).unwrap();
        let n = 2;
        let (wt, dy) = (data(g.weight_len(), 7), data(n * o * g.oh * g.ow, 8));
        let Some(dx) = adjoint_dx(&g, n, &dy, &wt) else { return };
        let err = rel_err(&dx, &direct(&g.input_grad(), n, &dy, &flip(&wt, o, c, r), None));
        eprintln!("adjoint dX {r}x{r} {c}->{o} @{hw} pad {p}: {err:.2e}");
        assert!(err < tol(&g), "{r}x{r} {c}->{o} @{hw} pad {p}: relative error {err}");
    }
}

/// Filters packed for the forward pass are refused by the adjoint input gradient, and the
/// transposed ones by the forward pass, even where the shapes would fit (o = c).
#[test]
fn packed_filters_are_used_only_where_they_belong() {
    let g = Wino::new(5, 8, 12, 12, 8, 0, 0).unwrap();
    let mut u = vec![0.0; g.filter_len()];
    filter_transform(&g, &data(g.weight_len(), 1), &mut u);
    let (Some(f), Some(ft)) = (Fused::new(&g, &u), Fused::new_transposed(&g, &u)) else { return };
    let (x, dy) = (data(g.c * g.h * g.w, 2), data(g.o * g.oh * g.ow, 3));
    let forward = std::panic::catch_unwind(|| conv_fused(&g, 1, &x, &ft, None, &mut vec![0.0; g.o * g.oh * g.ow], &mut vec![0.0; ft.scratch_len()]));
    let backward =
        std::panic::catch_unwind(|| input_grad::conv_input_grad(&g, 1, &dy, &f, &mut vec![0.0; g.c * g.h * g.w], &mut vec![0.0; input_grad::scratch_len(&g)]));
    assert!(forward.is_err() && backward.is_err());
}
