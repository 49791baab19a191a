//! The filter transforms `U = G·g·Gᵀ`, run on every call of a Winograd convolution (the
//! forward filters, and the flipped ones for the input gradient).
//!
//! Computed in f64 and rounded to f32 once, [`LANES`] filters at a time: lane `l` holds filter
//! `q0 + l`, so each step of the product is one operation on a short array, which the
//! compiler vectorises (AVX2 where the CPU has it, [`crate::simd::multiversion`]). One filter
//! at a time, the transforms of a saliency pass's convolutions took 6% of it. Every lane runs
//! the same operations in the same order as a single filter would (no fused multiply-add), so
//! the blocks give each filter's one-filter bits whatever the split; the tests check each form
//! against the matrix product in f64 and the blocks against single filters. The 3x3 forms'
//! `G` is written out ([`tiles3`]), F(2x2, 5x5)'s multiplied as a matrix ([`tiles_k`]). Blocks of
//! [`TASK_FILTERS`] filters run in parallel (`cargo run --release -p pupil-kernels --example
//! filter_time`): at batch 32 the transforms are a fixed cost beside a quarter of the work.

use super::Wino;
use crate::simd::multiversion;

/// Filters transformed together.
pub(super) const LANES: usize = 8;

/// The taps of the lanes past the last filter.
const ZEROS: [f32; 25] = [0.0; 25];

/// One f64 per filter of a block.
type Lanes = [f64; LANES];

/// `G·g·Gᵀ` of one `r x r` filter `g` (row-major) as `α²` values `[i·α + j]`, in f64, for
/// `m x m` tiles: the definition the block transform is tested against.
#[cfg(test)]
fn filter_tile(r: usize, m: usize, g: &[f32], out: &mut [f64; 36]) {
    let taps: Vec<Lanes> = g[..r * r].iter().map(|&v| [v as f64; LANES]).collect();
    let mut t = [[0.0; LANES]; 36];
    tiles(r, m, &taps, &mut t);
    for (o, t) in out.iter_mut().zip(&t) {
        *o = t[0];
    }
}

/// `out[i·α + j][l] = (G·g_l·Gᵀ)[i][j]` for the filters `g_l` of the lanes, `taps[k][l]` tap
/// `k` (row-major) of filter `l`.
#[inline(always)]
fn tiles(r: usize, m: usize, taps: &[Lanes], out: &mut [Lanes; 36]) {
    match (r, m) {
        (3, 2) => tiles3(taps, out, g23),
        (5, 2) => tiles_k::<5, 6>(&super::G5, taps, out),
        (3, 3) => tiles3(taps, out, g33),
        (3, 4) => tiles3(taps, out, g43),
        _ => unreachable!("Winograd F({m}x{m}, {r}x{r}) is not implemented"),
    }
}

/// [`tiles`] for a 3x3 filter and `α = A`, with `gv` computing `G·v` of one column `(a, b, c)`
/// per lane: down the filter's columns (`t = G·g`), then along the rows of `t` (`t·Gᵀ`).
///
/// Each 3x3 form's `G` is written out rather than multiplied as a matrix: its zeros and ones
/// are skipped and its rows pair up as `x ± y`, so a column takes a third to a half of the
/// matrix product's operations. The rounding differs from the product's sum of rounded terms
/// where a row has no power-of-two form (F(3x3): about 0.4% of the f32 values move by one
/// ulp; F(2x2) only the sign of some zeros), well within the tests' f64 check. The panels of
/// F(2x2, 3x3) took 0.5-0.65 of the time of the matrix product (`examples/filter_time`, one thread, the
/// two ways alternated in one process and as two builds), F(4x4, 3x3)'s (written out from the
/// start, but behind a `match` that also held the matrix products) 0.6-0.7, F(3x3, 3x3)'s about
/// the same. F(2x2, 5x5) written out ran 1.2x slower than its matrix product, which it keeps
/// ([`tiles_k`]).
#[inline(always)]
fn tiles3<const A: usize, G: Fn(&Lanes, &Lanes, &Lanes) -> [Lanes; A]>(taps: &[Lanes], out: &mut [Lanes; 36], gv: G) {
    let g = &taps[..9];
    let cols: [[Lanes; A]; 3] = std::array::from_fn(|k| gv(&g[k], &g[3 + k], &g[6 + k]));
    for i in 0..A {
        let row = gv(&cols[0][i], &cols[1][i], &cols[2][i]);
        out[i * A..i * A + A].copy_from_slice(&row);
    }
}

/// [`tiles`] for `r = R`, `α = A` by the matrix products `t = G·g`, then `t·Gᵀ`, each sum from
/// 0 in tap order.
#[inline(always)]
fn tiles_k<const R: usize, const A: usize>(gm: &[f64], taps: &[Lanes], out: &mut [Lanes; 36]) {
    let gm: &[f64] = &gm[..A * R];
    let taps: &[Lanes] = &taps[..R * R];
    let mut t = [[[0.0f64; LANES]; R]; A];
    for (i, ti) in t.iter_mut().enumerate() {
        for (k, tik) in ti.iter_mut().enumerate() {
            for l in 0..R {
                let (c, g) = (gm[i * R + l], &taps[l * R + k]);
                for (acc, &g) in tik.iter_mut().zip(g) {
                    *acc += c * g;
                }
            }
        }
    }
    for (i, ti) in t.iter().enumerate() {
        for j in 0..A {
            let o = &mut out[i * A + j];
            *o = [0.0; LANES];
            for (k, tik) in ti.iter().enumerate() {
                let c = gm[j * R + k];
                for (acc, &t) in o.iter_mut().zip(tik) {
                    *acc += t * c;
                }
            }
        }
    }
}

/// `G·v` for F(2x2, 3x3)'s `G` (`G3` in mod.rs), per lane.
#[inline(always)]
fn g23(a: &Lanes, b: &Lanes, c: &Lanes) -> [Lanes; 4] {
    let mut o = [[0.0; LANES]; 4];
    for l in 0..LANES {
        let (a, b, c) = (a[l], b[l], c[l]);
        o[0][l] = a;
        o[1][l] = (a + b + c) * 0.5;
        o[2][l] = (a - b + c) * 0.5;
        o[3][l] = c;
    }
    o
}

/// `G·v` for F(3x3, 3x3)'s `G` (`G33` in mod.rs), per lane.
#[inline(always)]
fn g33(a: &Lanes, b: &Lanes, c: &Lanes) -> [Lanes; 5] {
    let mut o = [[0.0; LANES]; 5];
    for l in 0..LANES {
        let (a, b, c) = (a[l], b[l], c[l]);
        let ac = a + c;
        o[0][l] = a * 0.5;
        o[1][l] = (ac + b) * -0.5;
        o[2][l] = (b - ac) * (1.0 / 6.0);
        o[3][l] = (a + 2.0 * b + 4.0 * c) * (1.0 / 6.0);
        o[4][l] = c;
    }
    o
}

/// `G·v` for F(4x4, 3x3)'s `G` (`G43` in mod.rs), per lane.
#[inline(always)]
fn g43(a: &Lanes, b: &Lanes, c: &Lanes) -> [Lanes; 6] {
    let mut o = [[0.0; LANES]; 6];
    for l in 0..LANES {
        let (a, b, c) = (a[l], b[l], c[l]);
        let (ac, ac4) = (a + c, a + 4.0 * c);
        o[0][l] = a * 0.25;
        o[1][l] = (ac + b) * (-1.0 / 6.0);
        o[2][l] = (ac - b) * (-1.0 / 6.0);
        o[3][l] = (ac4 + 2.0 * b) * (1.0 / 24.0);
        o[4][l] = (ac4 - 2.0 * b) * (1.0 / 24.0);
        o[5][l] = c;
    }
    o
}

/// `rows[t][q - q0] = (G·f_q·Gᵀ)[t]` (rounded to f32) for the filters `q0..q0 + len`
/// of the `n = o·c` filters `f_q` of `w: [o][c][r][r]`: `f_q = w[q / c][q % c]` as it is, or
/// with `flipped` `f_q = rot180(w[q % o][q / o])`. Always inlined: called from the AVX2 build,
/// a separate function would be compiled for the baseline only (perf showed its scalar SSE
/// code).
#[inline(always)]
fn transform_body(g: &Wino, w: &[f32], q0: usize, rows: &mut [&mut [f32]], flipped: bool) {
    let (o, c, r, p) = (g.o, g.c, g.r, g.points());
    let (n, rr, len) = (o * c, r * r, rows[0].len());
    let mut taps = [[0.0f64; LANES]; 25];
    let mut tile = [[0.0f64; LANES]; 36];
    for b0 in (0..len).step_by(LANES) {
        let lanes = LANES.min(len - b0);
        // lane l's filter; lanes past the last filter transform zeros, never stored
        let mut fs: [&[f32]; LANES] = [&ZEROS[..rr]; LANES];
        for (l, f) in fs.iter_mut().enumerate().take(lanes) {
            let q = q0 + b0 + l;
            debug_assert!(q < n);
            let (oc, ci) = if flipped { (q % o, q / o) } else { (q / c, q % c) };
            *f = &w[(oc * c + ci) * rr..(oc * c + ci + 1) * rr];
        }
        // each tap's lanes built whole, then stored once: lane-by-lane stores of taps read back
        // as vectors stalled on store forwarding (most of the transform's time)
        for (k, tap) in taps[..rr].iter_mut().enumerate() {
            let kk = if flipped { rr - 1 - k } else { k };
            let mut v = [0.0f64; LANES];
            for l in 0..LANES {
                v[l] = fs[l][kk] as f64;
            }
            *tap = v;
        }
        tiles(r, g.m, &taps[..rr], &mut tile);
        for (row, vals) in rows[..p].iter_mut().zip(&tile) {
            for (d, &v) in row[b0..b0 + lanes].iter_mut().zip(vals) {
                *d = v as f32;
            }
        }
    }
}

multiversion!(
    /// [`transform_body`], slices checked by the callers.
    fn transform(g: &Wino, w: &[f32], q0: usize, rows: &mut [&mut [f32]], flipped: bool) => transform_body
);

/// Filters a task transforms: 256 filters are some 5-20 µs of work (`examples/filter_time`),
/// enough to pay for a task.
const TASK_FILTERS: usize = 32 * LANES;

/// `u[t][q]` for all `n` filters, in blocks of [`TASK_FILTERS`] filters transformed in parallel,
/// each straight into its columns of `u`'s rows. Every value is computed by the same lane code
/// whatever the split, so the bits do not depend on the thread count.
fn transform_all(g: &Wino, w: &[f32], u: &mut [f32], flipped: bool) {
    use rayon::prelude::*;
    let (n, p) = (g.o * g.c, g.points());
    if n == 0 {
        return; // no filters: nothing to write (and no row to split)
    }
    let blocks = n.div_ceil(TASK_FILTERS);
    // block b's part of every row: by_block[b][t] = u[t][b·TASK_FILTERS..]
    let mut by_block: Vec<Vec<&mut [f32]>> = (0..blocks).map(|_| Vec::with_capacity(p)).collect();
    for row in u[..p * n].chunks_mut(n) {
        for (b, part) in row.chunks_mut(TASK_FILTERS).enumerate() {
            by_block[b].push(part);
        }
    }
    by_block.par_iter_mut().enumerate().for_each(|(b, rows)| transform(g, w, b * TASK_FILTERS, rows, flipped));
}

/// Which filter and which way round each row `R` and depth `D` of a packed panel holds
/// ([`transform_panels`]), for forward weights `w: [o][c][r][r]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PanelForm {
    /// `U[t][R][D]` from `w[R][D]`: the forward convolution's filters (rows `o`, depth `c`).
    Forward,
    /// `U[t][R][D]` from `rot180(w[D][R])`: the input gradient's convolution with the flipped,
    /// transposed filters (rows `c`, depth `o`).
    Flipped,
    /// `U[t][R][D]` from `w[D][R]` as it is: the forward filters transposed, for the adjoint
    /// input gradient (rows `c`, depth `o`).
    Transposed,
}

/// A filter size `r`, tile `m`, the panels' rows and depth and where their filters come from.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(super) struct PanelShape {
    pub(super) r: usize,
    pub(super) m: usize,
    pub(super) rows: usize,
    pub(super) depth: usize,
    pub(super) form: PanelForm,
}

/// `G·f·Gᵀ` of the filters of whole MR-row panels, written straight in the fused kernel's
/// packed layout: `planes[t]` is this task's part of point `t`'s panels, panel `b` (row
/// `(b0 + b)·LANES + l`, depth `d`) at `(b·depth + d)·LANES + l`. One lane per panel row, so
/// a step writes the panel's 8 rows at one depth side by side; rows past `rows` get +0 (the
/// packing's zero padding). The lanes run the operations of [`transform_body`] in its order:
/// the same bits.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn panels_body(shape: PanelShape, w: &[f32], b0: usize, planes: &mut [&mut [f32]]) {
    let PanelShape { r, m, rows, depth, form } = shape;
    let rr = r * r;
    let swap = form != PanelForm::Forward;
    let mut taps = [[0.0f64; LANES]; 25];
    let mut tile = [[0.0f64; LANES]; 36];
    let panels = planes[0].len() / (depth * LANES).max(1);
    for b in 0..panels {
        for d in 0..depth {
            let mut fs: [&[f32]; LANES] = [&ZEROS[..rr]; LANES];
            for (l, f) in fs.iter_mut().enumerate() {
                let row = (b0 + b) * LANES + l;
                if row < rows {
                    let q = if swap { d * rows + row } else { row * depth + d };
                    *f = &w[q * rr..(q + 1) * rr];
                }
            }
            // the same tap loop as `transform_body`'s; one `#[inline(always)]` helper for both
            // made these panels 1.2-1.5x slower on F(2x2, 3x3) (`filter_time`, four alternations)
            for (k, tap) in taps[..rr].iter_mut().enumerate() {
                let kk = if form == PanelForm::Flipped { rr - 1 - k } else { k };
                let mut v = [0.0f64; LANES];
                for l in 0..LANES {
                    v[l] = fs[l][kk] as f64;
                }
                *tap = v;
            }
            tiles(r, m, &taps[..rr], &mut tile);
            let at = (b * depth + d) * LANES;
            let valid = rows.saturating_sub((b0 + b) * LANES).min(LANES);
            for (plane, vals) in planes.iter_mut().zip(&tile) {
                let dst = &mut plane[at..at + LANES];
                let v: [f32; LANES] = std::array::from_fn(|l| vals[l] as f32);
                dst.copy_from_slice(&v);
                // padding rows hold +0, as the packing writes them (a transformed zero filter can
                // be -0); apart, so the full panels' loop above stays one vector conversion
                dst[valid..].fill(0.0);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
multiversion!(
    /// [`panels_body`], slices checked by the caller.
    fn panels(shape: PanelShape, w: &[f32], b0: usize, planes: &mut [&mut [f32]]) => panels_body
);

/// The fused kernel's packed filters straight from the weights `w: [o][c][r][r]` of kernel
/// size `shape.r`, for `F(m x m)` tiles: `points` planes of `opad x depth` (`opad` = `rows`
/// rounded up to [`LANES`] rows), each plane MR-row panels stored depth-major, as
/// `gemm::pack::pack_a` lays out `U[t]` (`rows x depth`). Equal to transforming into
/// `[α²][rows][depth]` and packing that, without writing and reading `U` in between: 1.4-1.7x
/// faster than the two steps on the seed layers, both directions (`examples/filter_time`, two
/// threads, the two ways alternated in one process: alexnet-bn's 128 -> 256 840 -> 531 µs
/// forward, 915 -> 539 flipped; keras-hw3's 128 -> 128 440 -> 276). Panels in parallel tasks
/// of about [`TASK_FILTERS`] filters; the bits do not depend on the split.
///
/// Panics when `w` or `a` is too short, or for a filter size and tile Winograd does not have.
#[cfg(target_arch = "x86_64")]
pub(super) fn transform_panels(shape: PanelShape, points: usize, w: &[f32], a: &mut [f32]) {
    use rayon::prelude::*;
    let PanelShape { r, rows, depth, .. } = shape;
    let opad = rows.div_ceil(LANES) * LANES;
    let plane = opad * depth;
    assert!(w.len() >= rows * depth * r * r && a.len() >= points * plane, "winograd transform_panels: slices too short for {rows}x{depth}x{r}x{r}");
    if plane == 0 {
        return;
    }
    let per_task = (TASK_FILTERS / (LANES * depth)).max(1); // panels a task
    let tasks = (opad / LANES).div_ceil(per_task);
    // task k's part of every plane: by_task[k][t]
    let mut by_task: Vec<Vec<&mut [f32]>> = (0..tasks).map(|_| Vec::with_capacity(points)).collect();
    for p in a[..points * plane].chunks_mut(plane) {
        for (k, part) in p.chunks_mut(per_task * LANES * depth).enumerate() {
            by_task[k].push(part);
        }
    }
    by_task.par_iter_mut().enumerate().for_each(|(k, planes)| panels(shape, w, k * per_task, planes));
}

/// [`transform`] after checking the slices' lengths.
fn checked(what: &str, g: &Wino, w: &[f32], u: &mut [f32], flipped: bool) {
    let (o, c, r) = (g.o, g.c, g.r);
    assert!(w.len() >= g.weight_len() && u.len() >= g.filter_len(), "{what}: slices too short for {o}x{c}x{r}x{r}");
    transform_all(g, w, u, flipped);
}

/// `u: [α²][o][c]` = `G·w[o][c]·Gᵀ` for the filters `w: [o][c][r][r]` of `g`.
pub fn filter_transform(g: &Wino, w: &[f32], u: &mut [f32]) {
    checked("filter_transform", g, w, u, false);
}

/// The transformed filters of the input gradient of `g`: `u: [α²][c][o]` = `G·w'[c][o]·Gᵀ`
/// with `w'[c][o][a][b] = w[o][c][r-1-a][r-1-b]` (transposed and rotated by 180°), for
/// `w: [o][c][r][r]`. They go with the geometry [`Wino::input_grad`].
pub fn filter_transform_flipped(g: &Wino, w: &[f32], u: &mut [f32]) {
    checked("filter_transform_flipped", g, w, u, true);
}

#[cfg(test)]
mod tests {
    use super::super::tests::data as weights;
    use super::super::{G3, G33, G43, G5};
    use super::*;

    /// The matrix product `G·g·Gᵀ` in f64, one filter, written as plainly as possible.
    fn reference(r: usize, gm: &[f64], g: &[f32]) -> Vec<f64> {
        let a = gm.len() / r;
        let t: Vec<f64> = (0..a * r).map(|ik| (0..r).map(|l| gm[ik / r * r + l] * g[l * r + ik % r] as f64).sum()).collect();
        (0..a * a).map(|ij| (0..r).map(|k| t[ij / a * r + k] * gm[ij % a * r + k]).sum()).collect()
    }

    /// Each form's one-filter transform (the 3x3 forms' `G` written out) is the matrix product
    /// `G·g·Gᵀ`.
    #[test]
    fn one_filter_is_the_matrix_product() {
        for (r, m, gm) in [(3, 2, &G3[..]), (5, 2, &G5[..]), (3, 3, &G33[..]), (3, 4, &G43[..])] {
            for seed in 0..20 {
                let g = weights(r * r, seed);
                let mut tile = [0.0; 36];
                filter_tile(r, m, &g, &mut tile);
                let want = reference(r, gm, &g);
                for (a, b) in tile.iter().zip(&want) {
                    assert!((a - b).abs() < 1e-12, "F({m}x{m}, {r}x{r}): {a} against {b}");
                }
            }
        }
    }

    /// A geometry without filters (no input or no output channels) transforms nothing and
    /// leaves `u` alone.
    #[test]
    fn no_filters_write_nothing() {
        for (o, c) in [(0, 4), (4, 0)] {
            let g = Wino { r: 3, m: 2, c, h: 6, w: 6, o, ph: 1, pw: 1, oh: 6, ow: 6 };
            let mut u = vec![7.0; 4];
            filter_transform(&g, &[], &mut u);
            filter_transform_flipped(&g, &[], &mut u);
            assert_eq!(u, [7.0; 4]);
        }
    }

    /// The block transforms, forward and flipped, hold exactly the one-filter transform of each
    /// filter (rounded to f32) at its place, for filter counts that leave a partial block (of
    /// lanes, and of a task's filters), on the dispatched (AVX2) build and the portable one,
    /// on one thread and on three.
    #[test]
    fn blocks_equal_one_filter_at_a_time() {
        for (r, m) in [(3, 2), (5, 2), (3, 3), (3, 4)] {
            for (o, c) in [(1, 1), (3, 5), (8, 8), (13, 2), (37, 11)] {
                let g = Wino { r, m, c, h: 8, w: 8, o, ph: 1, pw: 1, oh: 8 + 3 - r, ow: 8 + 3 - r };
                let w = weights(g.weight_len(), (o * 31 + c) as u32);
                for flipped in [false, true] {
                    let mut want = vec![f32::NAN; g.filter_len()];
                    let mut tile = [0.0; 36];
                    for oc in 0..o {
                        for ci in 0..c {
                            let mut f: Vec<f32> = w[(oc * c + ci) * r * r..(oc * c + ci + 1) * r * r].to_vec();
                            if flipped {
                                f.reverse();
                            }
                            filter_tile(r, m, &f, &mut tile);
                            let q = if flipped { ci * o + oc } else { oc * c + ci };
                            for (t, &v) in tile[..g.points()].iter().enumerate() {
                                want[t * o * c + q] = v as f32;
                            }
                        }
                    }
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    for threads in [1, 3] {
                        let mut fast = vec![f32::NAN; g.filter_len()];
                        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                        pool.install(|| if flipped { filter_transform_flipped(&g, &w, &mut fast) } else { filter_transform(&g, &w, &mut fast) });
                        assert_eq!(bits(&fast), bits(&want), "F({m}x{m}, {r}x{r}) {o}x{c} flipped {flipped}, {threads} threads");
                    }
                    let mut portable = vec![f32::NAN; g.filter_len()];
                    let mut rows: Vec<&mut [f32]> = portable.chunks_mut(o * c).collect();
                    transform_body(&g, &w, 0, &mut rows, flipped);
                    assert_eq!(bits(&portable), bits(&want), "F({m}x{m}, {r}x{r}) {o}x{c} flipped {flipped}, portable");
                }
            }
        }
    }
}
