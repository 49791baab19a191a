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

/// Floats of scratch one block of tiles may take (`V` and `dM`): 512 KiB, so both stay in L2
/// between the transforms that write them and the GEMMs that read them.
const BLOCK_FLOATS: usize = 1 << 17;
/// Up to this many floats of `V` and `dM` (1 MiB), all the tiles go in one block: measured
/// faster than blocks on 64 -> 64 @22 (one image, 121 tiles: 991 KiB).
const ONE_BLOCK_FLOATS: usize = 1 << 18;
/// Largest `dU` (floats) for which [`accumulate`] works in blocks: each block's GEMMs read and
/// write all of `dU`, which then has to stay in L2 with the block (384 KiB).
const BLOCKED_DU_FLOATS: usize = 96 << 10;

/// Tiles per block of [`accumulate`] over `total` tiles: all of them when their `V` and `dM`
/// fit [`ONE_BLOCK_FLOATS`] or `dU` is large (128 -> 256 channels: 2 MiB, read and written once
/// per block); else as many whole vectors of 16 as fit [`BLOCK_FLOATS`] (alexnet-bn's 5x5 layer,
/// two images of 81 tiles: 2.2 MiB in one block, 32 tiles a block). Depends only on the
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
/// with output gradients `dy: [gn][o][oh][ow]`; `du: [α²][o][c]`. `scratch` holds at least
/// [`scratch_len`] floats (contents ignored). The tiles go in blocks of a size fixed by the
/// geometry, each block's products added into `du` in order.
///
/// Panics when a slice is too short, [`available`] is false, or `g` is an F(3x3) or F(4x4)
/// geometry the gathered transforms cannot serve (tile rows of 16 or more: use [`preferred`]).
pub fn accumulate(g: &Wino, gn: usize, x: &[f32], dy: &[f32], du: &mut [f32], scratch: &mut [f32]) {
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
        return;
    }
    let (p, o, c) = (g.points(), g.o, g.c);
    let ld = block_tiles(g, total);
    let (v, rest) = scratch.split_at_mut(p * c * ld);
    let dm = &mut rest[..p * o * ld];
    let mut segs = Vec::new();
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
            crate::sgemm(o, nb, c, 1.0, dmt, ld, 1, vt, 1, ld, 1.0, &mut du[t * o * c..(t + 1) * o * c], c);
        }
    }
}

/// `dw[o][c] = Gᵀ·du[·][o][c]·G` for `du: [α²][o][c]` into `dw: [o][c][r][r]` (in f64, rounded
/// once), `G` the geometry's (see the module docs of [`super`]).
pub fn finish(g: &Wino, du: &[f32], dw: &mut [f32]) {
    let (o, c, r) = (g.o, g.c, g.r);
    assert!(du.len() >= g.filter_len() && dw.len() >= g.weight_len(), "winograd filter_grad::finish: slices too short for {o}x{c}x{r}x{r}");
    match (r, g.m) {
        (3, 2) => finish_k::<3, 4>(g_matrix(3, 2), o, c, du, dw),
        (5, 2) => finish_k::<5, 6>(g_matrix(5, 2), o, c, du, dw),
        (3, 3) => finish_k::<3, 5>(g_matrix(3, 3), o, c, du, dw),
        (3, 4) => finish_k::<3, 6>(g_matrix(3, 4), o, c, du, dw),
        (r, m) => unreachable!("Winograd F({m}x{m}, {r}x{r}) is not implemented"),
    }
}

/// [`finish`] for `r = R`, `α = A`, with fixed loop bounds (dynamic ones made it 2% of a
/// batch-32 training step).
fn finish_k<const R: usize, const A: usize>(gm: &[f64], o: usize, c: usize, du: &[f32], dw: &mut [f32]) {
    let gm: &[f64] = &gm[..A * R];
    for oc in 0..o {
        for ci in 0..c {
            let d = |i: usize, j: usize| du[((i * A + j) * o + oc) * c + ci] as f64;
            // t = Gᵀ·dU: r x α
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
            let out = &mut dw[(oc * c + ci) * R * R..(oc * c + ci + 1) * R * R];
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
    }
}
