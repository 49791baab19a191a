//! The adjoint of the fused kernel's output transform, `dM = A·dY·Aᵀ` per tile, for the
//! filter gradient (`filter_grad.rs`): along tile rows ([`output_adjoint_segments`]) or 16
//! tiles per vector across rows and images ([`output_adjoint_gathered`], for tile rows
//! narrower than a vector).

use super::filter_grad::can_gather;
use super::fused::{at_adjoint, evens_odds, lanes, Segment};
use super::Wino;
use std::arch::x86_64::*;

/// Writes `dM = A·dY·Aᵀ` of the segments' tiles (the adjoint of the output transform), every
/// output channel, into columns `j0..j0 + n` of `dm: [α²][o][ld]`; clipped outputs count as 0.
///
/// # Safety
/// The CPU supports AVX-512F; every segment ends at or before column `ld`.
pub(super) unsafe fn output_adjoint_segments(g: &Wino, dy: &[f32], segs: &[Segment], dm: &mut [f32], ld: usize) {
    // SAFETY: the caller's contract.
    unsafe { by_alpha!(g, output_adjoint(g, dy, segs, dm, ld)) }
}

/// [`output_adjoint_segments`] for `α = A`.
///
/// # Safety
/// As [`output_adjoint_segments`].
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn output_adjoint<const A: usize>(g: &Wino, dy: &[f32], segs: &[Segment], dm: &mut [f32], ld: usize) {
    let (o, oh, ow) = (g.o, g.oh, g.ow);
    let (even, odd) = evens_odds();
    // nested loops: a flat_map over (channel, segment) pairs did not compile to plain loops
    // (its iterator was 4% of a filter gradient in perf)
    for oc in 0..o {
        for s in segs {
            let x0 = 2 * s.tx0;
            let cols = (ow - x0).min(2 * s.n) as isize;
            let (mask_lo, mask_hi) = (lanes(0, cols, 16), lanes(16, cols, 16));
            let store = ((1u32 << s.n) - 1) as u16;
            let oy = 2 * s.ty;
            let plane = &dy[(s.img * o + oc) * oh * ow..(s.img * o + oc + 1) * oh * ow];
            // [left, right] output columns of the tile's top and bottom rows, over the tiles
            let mut r = [[_mm512_setzero_ps(); 2]; 2];
            for (dyr, rr) in r.iter_mut().enumerate() {
                if oy + dyr >= oh {
                    break;
                }
                let row = plane[(oy + dyr) * ow + x0..].as_ptr();
                // SAFETY: the masks keep columns below `ow` and the segment's end, inside the row.
                let (a, b) = unsafe { (_mm512_maskz_loadu_ps(mask_lo, row), _mm512_maskz_loadu_ps(mask_hi, row.wrapping_add(16))) };
                *rr = [_mm512_permutex2var_ps(a, even, b), _mm512_permutex2var_ps(a, odd, b)];
            }
            // A·dY down the two columns, then (·)·Aᵀ along each of the α rows
            let (left, right) = (at_adjoint::<A, 2>([r[0][0], r[1][0]]), at_adjoint::<A, 2>([r[0][1], r[1][1]]));
            for i in 0..A {
                for (j, v) in at_adjoint::<A, 2>([left[i], right[i]]).into_iter().enumerate() {
                    let dst = &mut dm[((i * A + j) * o + oc) * ld + s.j0..];
                    debug_assert!(dst.len() >= s.n && s.j0 + s.n <= ld);
                    // SAFETY: the store mask keeps the first `n` lanes, inside the row (`j0 + n <= ld`).
                    unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr(), store, v) };
                }
            }
        }
    }
}

/// Whether [`output_adjoint_gathered`] serves this F(2x2) geometry: 5x5 kernels with tile rows
/// narrower than a vector of 16 ([`can_gather`]). Measured (criterion, thread CPU time, six
/// alternated runs): 5x5 32 -> 64 on 18x18 outputs (9-tile rows) 15% faster than by rows; 3x3
/// on 10x10 and 22x22 outputs 10-20% slower (their rows write 16 points a tile, 5x5's 36, and
/// the four gathers cost more than the stores they save). F(4x4, 3x3) is always gathered (the
/// rows variant is F(2x2)'s; [`can_gather`] is checked where it is called).
pub(super) fn gathers(g: &Wino) -> bool {
    g.m != 2 || (g.r == 5 && can_gather(g))
}

/// [`output_adjoint_segments`] for the tiles `b0..b0 + nb` (numbered image by image, row by
/// row) of `dy: [images][o][oh][ow]`, into columns `0..nb` of `dm: [α²][o][ld]`, 16 tiles per
/// vector whatever row or image they lie in: each lane gathers its tile's m x m outputs (clipped
/// ones masked to 0). Computes the same bits as [`output_adjoint_segments`] (F(2x2)).
///
/// # Safety
/// The CPU supports AVX-512F; `nb <= ld`; [`can_gather`] holds.
pub(super) unsafe fn output_adjoint_gathered(g: &Wino, dy: &[f32], b0: usize, nb: usize, dm: &mut [f32], ld: usize) {
    // SAFETY: the caller's contract.
    unsafe { by_tile!(g, adjoint_gathered(g, dy, b0, nb, dm, ld)) }
}

/// [`output_adjoint_gathered`] for `α = A`, `m = M`.
///
/// # Safety
/// As [`output_adjoint_gathered`].
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn adjoint_gathered<const A: usize, const M: usize>(g: &Wino, dy: &[f32], b0: usize, nb: usize, dm: &mut [f32], ld: usize) {
    let (o, oh, ow, plane) = (g.o, g.oh, g.ow, g.oh * g.ow);
    let (tpi, tw) = (g.tiles_per_image(), g.tiles().1);
    for j0 in (0..nb).step_by(16) {
        let n = 16.min(nb - j0);
        // lane l: its tile's top-left output, as an element offset in channel 0 of the vector's
        // first image
        let img0 = (b0 + j0) / tpi;
        let dy = &dy[img0 * o * plane..];
        let mut idx = [0i32; 16];
        let mut masks = [[0u16; M]; M];
        for (l, id) in idx.iter_mut().enumerate().take(n) {
            let tile = b0 + j0 + l;
            let (img, r) = (tile / tpi - img0, tile % tpi);
            let (oy, ox) = (M * (r / tw), M * (r % tw));
            *id = (img * o * plane + oy * ow + ox) as i32;
            for (dr, mr) in masks.iter_mut().enumerate() {
                for (dc, m) in mr.iter_mut().enumerate() {
                    if oy + dr < oh && ox + dc < ow {
                        *m |= 1 << l;
                    }
                }
            }
        }
        let store = ((1u32 << n) - 1) as u16;
        // SAFETY: an unaligned load of a local array of 16 i32.
        let base = unsafe { _mm512_loadu_si512(idx.as_ptr().cast()) };
        let mut offsets = [[_mm512_setzero_si512(); M]; M];
        for (dr, row) in offsets.iter_mut().enumerate() {
            for (dc, off) in row.iter_mut().enumerate() {
                *off = _mm512_add_epi32(base, _mm512_set1_epi32((dr * ow + dc) as i32));
            }
        }
        for oc in 0..o {
            let yc = dy.as_ptr().wrapping_add(oc * plane);
            // r[dr][dc]: output (dr, dc) of every lane's tile
            let mut r = [[_mm512_setzero_ps(); M]; M];
            for dr in 0..M {
                for dc in 0..M {
                    // SAFETY: a lane is gathered only when its mask bit is set, i.e. its output
                    // lies inside its image's plane `oc`, inside `dy` (the caller's contract).
                    r[dr][dc] = unsafe { _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), masks[dr][dc], offsets[dr][dc], yc.cast()) };
                }
            }
            // A·dY down the M columns (cols[dc][i]), then (·)·Aᵀ along each of the α rows
            let mut cols = [[_mm512_setzero_ps(); A]; M];
            for (dc, col) in cols.iter_mut().enumerate() {
                let mut down = [_mm512_setzero_ps(); M];
                for (dr, d) in down.iter_mut().enumerate() {
                    *d = r[dr][dc];
                }
                *col = at_adjoint::<A, M>(down);
            }
            for i in 0..A {
                let mut along = [_mm512_setzero_ps(); M];
                for (dc, a) in along.iter_mut().enumerate() {
                    *a = cols[dc][i];
                }
                for (j, v) in at_adjoint::<A, M>(along).into_iter().enumerate() {
                    let dst = &mut dm[((i * A + j) * o + oc) * ld + j0..];
                    debug_assert!(dst.len() >= n && j0 + n <= ld);
                    // SAFETY: the store mask keeps the first `n` lanes, inside the row (`nb <= ld`).
                    unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr(), store, v) };
                }
            }
        }
    }
}
