//! The filter gradient of a Winograd F(m x m, r x r) convolution ((m, r) = (2, 3), (2, 5),
//! (3, 3), (4, 3)), on the same transforms.
//!
//! The forward pass computes, per tile `τ` and transform point `t`,
//! `M[t][o][τ] = Σ_c U[t][o][c]·V[t][c][τ]` and `Y_τ = Aᵀ·M_τ·A`, with `U = G·g·Gᵀ`. Its adjoint
//! is, reading the chain backwards:
//!
//! ```text
//! dM_τ    = A·dY_τ·Aᵀ                         (α x α from the m x m output tile; 0 where clipped)
//! dU[t]   = Σ_τ dM[t][·][τ] · V[t][·][τ]ᵀ      (α² GEMMs, [o] x [tiles] times [tiles] x [c])
//! dg      = Gᵀ·dU·G                            (r x r from α x α, per filter)
//! ```
//!
//! so `dW` costs `α²·O·C` multiplications per tile instead of im2col's `m²·r²·O·C`. The sums over
//! tiles run group by group in image order ([`accumulate`] adds into `dU`); a caller that splits
//! images into chunks keeps each chunk's `dU` apart and adds them in chunk order, so the result
//! does not depend on the thread count. Only with AVX-512 ([`available`]): the transforms are the
//! fused kernel's.

use super::{g_matrix, Wino};

/// True if [`accumulate`] can run here (the fused kernel's transforms need AVX-512).
pub fn available() -> bool {
    super::Fused::available()
}

/// Floats of scratch one block of tiles may take (`V` and `dM`): 1 MiB, so both stay in a
/// 2 MiB L2 (with `dU`) between the transforms that write them and the GEMMs that read them.
/// Half of it made alexnet-bn's 5x5 `dW` (32 tiles a block instead of 64: GEMMs of depth 32,
/// each packing both sides and reading and writing its 8 KiB of `dU`) 2-7% slower, two runs
/// of twelve alternated `conv_parts 32 64 22 5 0` (9 of 12 pairs faster in each).
const BLOCK_FLOATS: usize = 1 << 18;
/// Up to this many floats of `V` and `dM` (1 MiB), all the tiles go in one block: measured
/// faster than blocks on 64 -> 64 @22 (one image, 121 tiles: 991 KiB).
const ONE_BLOCK_FLOATS: usize = 1 << 18;
/// Largest `dU` (floats) for which [`accumulate`] works in blocks: each block's GEMMs read and
/// write all of `dU`, which then has to stay in L2 with the block (384 KiB).
const BLOCKED_DU_FLOATS: usize = 96 << 10;

/// Tiles per block of [`accumulate`] over `total` tiles: all of them when their `V` and `dM`
/// fit [`ONE_BLOCK_FLOATS`] or `dU` is large (128 -> 256 channels in F(3x3): 3.3 MB, read and written once
/// per block); else as many whole vectors of 16 as fit [`BLOCK_FLOATS`] (alexnet-bn's 5x5 layer,
/// two images of 81 tiles: 2.2 MiB in one block, 64 tiles a block). Depends only on the
/// geometry and `total`.
fn block_tiles(g: &Wino, total: usize) -> usize {
    let per_tile = g.points() * (g.c + g.o);
    if per_tile * total <= ONE_BLOCK_FLOATS || g.filter_len() > BLOCKED_DU_FLOATS {
        return total;
    }
    ((BLOCK_FLOATS / per_tile.max(1) / 16).max(1) * 16).min(total)
}

/// The form the filter gradient of `g` should take: [`Wino::preferred`] where the gathered
/// output adjoint can serve it (F(4x4, 3x3) has no other), else F(2x2).
pub fn preferred(g: &Wino) -> Wino {
    let p = g.preferred();
    if p.m == 2 || can_gather(&p) {
        p
    } else {
        g.small_tiles()
    }
}

/// Whether the gathered output adjoint (`adjoint.rs`) may run on this geometry: tile rows
/// narrower than a vector of 16 (a choice of speed: F(2x2)'s rows are then served by rows),
/// and offsets that fit 32-bit indices ([`super::offsets_fit`]).
pub(super) fn can_gather(g: &Wino) -> bool {
    g.tiles().1 < 16 && super::offsets_fit(g.o * g.oh * g.ow)
}

/// Floats of scratch [`accumulate`] needs for `gn` images: `V` and `dM` of one block of tiles.
pub fn scratch_len(g: &Wino, gn: usize) -> usize {
    g.points() * (g.c + g.o) * block_tiles(g, gn * g.tiles_per_image())
}

/// `du[t][o][c] += Σ_τ dM[t][o][τ]·V[t][c][τ]` over the tiles of `gn` images `x: [gn][c][h][w]`
/// with output gradients `dy: [gn][o][oh][ow]`; `du: [α²][o][c]`. With `fresh`, `du` holds
/// nothing yet (its contents are ignored) and gets the sum itself: the first block's products
/// overwrite it, which spares the caller zeroing it (alexnet-bn's 128 -> 256 `dU` is 3.3 MB, a
/// chunk). `scratch` holds at least [`scratch_len`] floats (contents ignored). The tiles go in
/// blocks of a size fixed by the geometry, each block's products added into `du` in order.
///
/// Panics when a slice is too short, [`available`] is false, or `g` is an F(3x3) or F(4x4)
/// geometry the gathered transforms cannot serve (tile rows of 16 or more: use [`preferred`]).
pub fn accumulate(g: &Wino, gn: usize, x: &[f32], dy: &[f32], du: &mut [f32], scratch: &mut [f32], fresh: bool) {
    assert!(available(), "winograd filter_grad::accumulate: needs AVX-512");
    // F(3x3) and F(4x4) gather both their input and their output adjoint: both sides' offsets
    // must fit
    assert!(
        g.m == 2 || (can_gather(g) && super::offsets_fit(g.c * g.h * g.w)),
        "winograd filter_grad: F(3x3) and F(4x4) need the gathered transforms (tile rows under 16, offsets in i32): {g:?}"
    );
    assert!(x.len() >= gn * g.c * g.h * g.w, "winograd filter_grad: input shorter than {gn} images of {g:?}");
    assert!(dy.len() >= gn * g.o * g.oh * g.ow, "winograd filter_grad: output gradient shorter than {gn} images of {g:?}");
    assert!(du.len() >= g.filter_len(), "winograd filter_grad: dU shorter than {}x{}x{}", g.points(), g.o, g.c);
    assert!(scratch.len() >= scratch_len(g, gn), "winograd filter_grad: scratch shorter than {}", scratch_len(g, gn));
    let total = gn * g.tiles_per_image();
    if total == 0 || g.o == 0 || g.c == 0 {
        if fresh {
            du[..g.filter_len()].fill(0.0); // an empty sum
        }
        return;
    }
    let (p, o, c) = (g.points(), g.o, g.c);
    let ld = block_tiles(g, total);
    let (v, rest) = scratch.split_at_mut(p * c * ld);
    let dm = &mut rest[..p * o * ld];
    let mut segs = Vec::new();
    let mut beta = if fresh { 0.0 } else { 1.0 }; // 0: overwrite (even NaN), then add
    for b0 in (0..total).step_by(ld) {
        let nb = ld.min(total - b0);
        #[cfg(target_arch = "x86_64")]
        {
            segs.clear();
            super::fused::segments(g, b0, nb, |s| segs.push(s));
            // SAFETY: AVX-512F is the selected ISA (asserted above; `selected_isa` checks the
            // CPU); segments end at or before column `nb <= ld`.
            unsafe {
                if super::fused::gathers(g) {
                    super::fused::input_gathered(g, x, b0, nb, v, ld);
                } else {
                    super::fused::input_segments(g, x, &segs, v, ld);
                }
                if super::adjoint::gathers(g) {
                    super::adjoint::output_adjoint_gathered(g, dy, b0, nb, dm, ld);
                } else {
                    super::adjoint::output_adjoint_segments(g, dy, &segs, dm, ld);
                }
            }
        }
        for t in 0..p {
            // dU[t] (o x c) += dM[t] (o x nb) · V[t]ᵀ (nb x c): the block's first nb columns
            let (dmt, vt) = (&dm[t * o * ld..(t + 1) * o * ld], &v[t * c * ld..(t + 1) * c * ld]);
            crate::sgemm(o, nb, c, 1.0, dmt, ld, 1, vt, 1, ld, beta, &mut du[t * o * c..(t + 1) * o * c], c);
        }
        beta = 1.0;
    }
}

/// `dw[o][c] = Gᵀ·du[·][o][c]·G` for `du: [α²][o][c]` into `dw: [o][c][r][r]` (in f64, rounded
/// once), `G` the geometry's (see the module docs of [`super`]).
///
/// In tasks of about [`FINISH_TASK_FILTERS`] filters run in parallel, each four input
/// channels at a time with AVX2 (their `dU` values sit side by side in every plane). Every
/// filter gets the one-filter loop's operations in its order (sums from 0, no fused
/// multiply-add), so neither the lanes nor the split change the bits (test
/// `finish_in_lanes_equals_one_filter_at_a_time`). Serial and one filter at a time, this was
/// 0.7 ms of alexnet-bn's 128 -> 256 layer on every call (`examples/filter_time`).
pub fn finish(g: &Wino, du: &[f32], dw: &mut [f32]) {
    use rayon::prelude::*;
    let (o, c, r) = (g.o, g.c, g.r);
    assert!(du.len() >= g.filter_len() && dw.len() >= g.weight_len(), "winograd filter_grad::finish: slices too short for {o}x{c}x{r}x{r}");
    let per_oc = c * r * r; // floats of dw per output channel
    if per_oc == 0 || o == 0 {
        return;
    }
    let ocs = FINISH_TASK_FILTERS.div_ceil(c); // output channels a task
    dw[..o * per_oc].par_chunks_mut(ocs * per_oc).enumerate().for_each(|(t, rows)| match (r, g.m) {
        (3, 2) => finish_k::<3, 4>(g_matrix(3, 2), o, c, du, t * ocs, rows),
        (5, 2) => finish_k::<5, 6>(g_matrix(5, 2), o, c, du, t * ocs, rows),
        (3, 3) => finish_k::<3, 5>(g_matrix(3, 3), o, c, du, t * ocs, rows),
        (3, 4) => finish_k::<3, 6>(g_matrix(3, 4), o, c, du, t * ocs, rows),
        (r, m) => unreachable!("Winograd F({m}x{m}, {r}x{r}) is not implemented"),
    });
}

/// Filters a task of [`finish`] computes: some 20-50 µs of work.
const FINISH_TASK_FILTERS: usize = 2048;

/// [`finish`] for `r = R`, `α = A` on `rows`, the `dw` of output channels `oc0..` (whole
/// `[c][r][r]` blocks): channels in fours with AVX2 ([`finish_quads`]), the rest (and every
/// channel without AVX2) by [`finish_one`].
fn finish_k<const R: usize, const A: usize>(gm: &[f64], o: usize, c: usize, du: &[f32], oc0: usize, rows: &mut [f32]) {
    let gm: &[f64] = &gm[..A * R];
    for (k, dwo) in rows.chunks_exact_mut(c * R * R).enumerate() {
        let oc = oc0 + k;
        let done = finish_quads::<R, A>(gm, o, c, du, oc, dwo);
        for ci in done..c {
            finish_one::<R, A>(gm, o, c, du, oc, ci, &mut dwo[ci * R * R..(ci + 1) * R * R]);
        }
    }
}

/// The filters `(oc, 0..4·⌊c/4⌋)` of output channel `oc` into `dwo` (its `[c][r][r]`) four at a
/// time with AVX2; returns how many input channels it did (0 without AVX2).
#[cfg(target_arch = "x86_64")]
fn finish_quads<const R: usize, const A: usize>(gm: &[f64], o: usize, c: usize, du: &[f32], oc: usize, dwo: &mut [f32]) -> usize {
    if !crate::simd::has_avx2() {
        return 0;
    }
    for ci0 in (0..c / 4).map(|q| 4 * q) {
        // SAFETY: AVX2 is present (checked above); channels ci0..ci0 + 4 lie inside `c`, so the
        // loads stay in `du` (length checked by `finish`) and the stores in `dwo`.
        unsafe { finish_quad::<R, A>(gm, o, c, du, oc, ci0, &mut dwo[ci0 * R * R..(ci0 + 4) * R * R]) };
    }
    c / 4 * 4
}

/// Without x86-64: none ([`finish_one`] does them all).
#[cfg(not(target_arch = "x86_64"))]
fn finish_quads<const R: usize, const A: usize>(_gm: &[f64], _o: usize, _c: usize, _du: &[f32], _oc: usize, _dwo: &mut [f32]) -> usize {
    0
}

/// The filter `(oc, ci)` of [`finish`]: `t = Gᵀ·dU` (r x α), then `t·G`, each sum from 0.
#[inline]
fn finish_one<const R: usize, const A: usize>(gm: &[f64], o: usize, c: usize, du: &[f32], oc: usize, ci: usize, out: &mut [f32]) {
    let d = |i: usize, j: usize| du[((i * A + j) * o + oc) * c + ci] as f64;
    let mut t = [[0.0f64; A]; R];
    for (u, tu) in t.iter_mut().enumerate() {
        for (j, tuj) in tu.iter_mut().enumerate() {
            let mut acc = 0.0;
            for i in 0..A {
                acc += gm[i * R + u] * d(i, j);
            }
            *tuj = acc;
        }
    }
    for (u, tu) in t.iter().enumerate() {
        for v in 0..R {
            let mut acc = 0.0;
            for (j, &tuj) in tu.iter().enumerate() {
                acc += tuj * gm[j * R + v];
            }
            out[u * R + v] = acc as f32;
        }
    }
}

/// [`finish_one`] for the four filters `(oc, ci0..ci0 + 4)` at once, one f64 lane each, the
/// same operations in the same order. `out` holds their `4·r²` floats.
///
/// # Safety
/// The CPU supports AVX2; `ci0 + 4 <= c` and `du` holds the `α²` planes of `o x c`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn finish_quad<const R: usize, const A: usize>(gm: &[f64], o: usize, c: usize, du: &[f32], oc: usize, ci0: usize, out: &mut [f32]) {
    use std::arch::x86_64::*;
    debug_assert!(ci0 + 4 <= c && out.len() == 4 * R * R);
    let plane = o * c;
    let base = du[oc * c + ci0..].as_ptr();
    // SAFETY: element (i·α + j)·o·c + oc·c + ci0 + l (l < 4) lies inside du (the caller's contract).
    let d = |i: usize, j: usize| unsafe { _mm256_cvtps_pd(_mm_loadu_ps(base.add((i * A + j) * plane))) };
    let mut res = [[0.0f32; 4]; 25];
    for u in 0..R {
        let mut acc = [_mm256_setzero_pd(); R];
        for j in 0..A {
            // t[u][j] = Σ_i G[i][u]·dU[i][j], from 0
            let mut t = _mm256_setzero_pd();
            for i in 0..A {
                t = _mm256_add_pd(t, _mm256_mul_pd(_mm256_set1_pd(gm[i * R + u]), d(i, j)));
            }
            // dw[u][v] += t[u][j]·G[j][v], in j order
            for (v, a) in acc.iter_mut().enumerate() {
                *a = _mm256_add_pd(*a, _mm256_mul_pd(t, _mm256_set1_pd(gm[j * R + v])));
            }
        }
        for (v, a) in acc.iter().enumerate() {
            // SAFETY: a 16-byte store into a local [f32; 4].
            unsafe { _mm_storeu_ps(res[u * R + v].as_mut_ptr(), _mm256_cvtpd_ps(*a)) };
        }
    }
    for (l, f) in out.chunks_exact_mut(R * R).enumerate() {
        for (e, x) in f.iter_mut().enumerate() {
            *x = res[e][l];
        }
    }
}

/// [`finish`] one filter at a time on one thread: the definition the lanes are tested against.
#[cfg(test)]
fn finish_one_by_one(g: &Wino, du: &[f32], dw: &mut [f32]) {
    fn all<const R: usize, const A: usize>(g: &Wino, du: &[f32], dw: &mut [f32]) {
        let gm = g_matrix(g.r, g.m);
        for oc in 0..g.o {
            for ci in 0..g.c {
                let at = (oc * g.c + ci) * R * R;
                finish_one::<R, A>(gm, g.o, g.c, du, oc, ci, &mut dw[at..at + R * R]);
            }
        }
    }
    match (g.r, g.m) {
        (3, 2) => all::<3, 4>(g, du, dw),
        (5, 2) => all::<5, 6>(g, du, dw),
        (3, 3) => all::<3, 5>(g, du, dw),
        _ => all::<3, 6>(g, du, dw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lanes and the parallel split give the one-filter loop's bits, for channel counts
    /// that fill the lanes, leave 1-3 channels after them, or fit in none, and output channels
    /// that take one task or several, in all four forms.
    #[test]
    fn finish_in_lanes_equals_one_filter_at_a_time() {
        for (r, m) in [(3, 2), (5, 2), (3, 3), (3, 4)] {
            for (c, o) in [(1, 1), (3, 2), (8, 5), (13, 7), (6, 3), (11, 2), (16, 300), (700, 9)] {
                let pad = r / 2;
                // (the tiles set directly: `with_tiles` refuses F(3x3) and F(4x4) without AVX-512)
                let g = Wino { m, ..Wino::new(r, c, 12, 12, o, pad, pad).expect("a Winograd geometry") };
                let du: Vec<f32> = super::super::tests::data(g.filter_len(), (c * 1000 + o) as u32).iter().map(|v| v * 4.0).collect();
                let (mut lanes, mut one) = (vec![f32::NAN; g.weight_len()], vec![f32::NAN; g.weight_len()]);
                finish(&g, &du, &mut lanes);
                finish_one_by_one(&g, &du, &mut one);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&lanes), bits(&one), "F({m}x{m}, {r}x{r}) {c} -> {o}");
            }
        }
    }
}
