//! The input gradient of an F(2x2) Winograd convolution as the adjoint of its forward pass,
//! on the forward's own tiles (AVX-512).
//!
//! The forward pass computes `Y_τ,o = Aᵀ·[Σ_c U[o][c] ⊙ (Bᵀ·d_τ,c·B)]·A` per output tile `τ`
//! from the `α x α` input patch `d_τ,c`. Reading it backwards:
//!
//! ```text
//! dM_τ,o  = A·dY_τ,o·Aᵀ                       (α x α from the 2x2 output tile; 0 where clipped)
//! dV[t]   = U[t]ᵀ · dM[t]                      (α² GEMMs, [c] x [o] times [o] x [tiles])
//! dd_τ,c  = B·dV_τ,c·Bᵀ                        (α x α, the patch's gradient)
//! dX      = Σ_τ dd_τ, added at each patch's place (patches overlap by r - 1 rows and columns;
//!           entries on the zero padding are dropped)
//! ```
//!
//! [`super::filter_transform_flipped`] instead computes `dX` as a convolution of `dY` padded by
//! `r - 1 - p`, whose tiles cover the whole input: for a 5x5 convolution without padding
//! (alexnet-bn's 32 -> 64 on 22x22) 121 tiles an image against the forward's 81, each
//! transformed on the 64 channels of `dY`. Here the 64-channel side is `A·dY·Aᵀ` from 2x2
//! values (`adjoint.rs`, the filter gradient's), and the scatter runs on the 32 channels of `dX`.
//!
//! The adds into `dX` go block by block, segment by segment, in an order fixed by the geometry
//! and the images a call gets, so the result does not depend on the thread count.

use super::adjoint;
use super::fused::{lanes, segments, Fused, Segment, MR, NB};
use super::output::Interleave;
use super::Wino;
use crate::gemm::{avx512, MicroKernel};
use std::arch::x86_64::*;

/// Whether [`conv_input_grad`] serves `g` (the forward geometry): F(2x2) with the fused kernel
/// (its tiles start 2 columns apart, which the scatter relies on).
pub fn available(g: &Wino) -> bool {
    g.m == 2 && Fused::available()
}

/// Floats of scratch [`conv_input_grad`] needs: one block's `dM` and `dV`.
pub fn scratch_len(g: &Wino) -> usize {
    g.points() * (g.o + g.c.div_ceil(MR) * MR) * NB
}

/// Adds the input gradient of `gn` images to `dx: [gn][c][h][w]` (the caller zeroes it first)
/// from `dy: [gn][o][oh][ow]`, `g` the forward geometry, `ft` the transposed filters: from
/// [`Fused::new_transposed`] on the forward's transformed filters, or [`Fused::from_weights`]
/// with [`super::PanelForm::Transposed`] on the weights. `scratch` holds [`scratch_len`] floats.
///
/// Panics when a slice is too short, [`available`] is false, or `ft` does not match `g`.
pub fn conv_input_grad(g: &Wino, gn: usize, dy: &[f32], ft: &Fused, dx: &mut [f32], scratch: &mut [f32]) {
    assert!(available(g), "winograd conv_input_grad: F(2x2) with AVX-512 only ({g:?})");
    let Some((cpad, panels)) = ft.transposed_panels(g) else {
        panic!("winograd conv_input_grad: the filters are not the transposed ones (Fused::new_transposed, from_weights Transposed) for {g:?}");
    };
    assert!(dy.len() >= gn * g.o * g.oh * g.ow, "winograd conv_input_grad: output gradient shorter than {gn} images of {g:?}");
    assert!(dx.len() >= gn * g.c * g.h * g.w, "winograd conv_input_grad: input gradient shorter than {gn} images of {g:?}");
    assert!(scratch.len() >= scratch_len(g), "winograd conv_input_grad: scratch shorter than {}", scratch_len(g));
    assert!(!adjoint::gathers(g) || super::offsets_fit(g.o * g.oh * g.ow), "winograd conv_input_grad: images too large for gathers ({g:?})");
    // SAFETY: AVX-512F is available (checked above); every slice length was checked above.
    unsafe { by_alpha!(g, run(g, gn, dy, panels, cpad, dx, scratch)) }
}

#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run<const A: usize>(g: &Wino, gn: usize, dy: &[f32], u: &[f32], cpad: usize, dx: &mut [f32], scratch: &mut [f32]) {
    let total = gn * g.tiles_per_image();
    let (o, p) = (g.o, A * A);
    let (dm, rest) = scratch.split_at_mut(p * o * NB);
    let dv = &mut rest[..p * cpad * NB];
    let mut segs = Vec::with_capacity(NB);
    for b0 in (0..total).step_by(NB) {
        let nb = NB.min(total - b0);
        if nb < NB {
            // columns past the last tile feed only unused columns of dV: keep them finite
            dm.fill(0.0);
        }
        segs.clear();
        segments(g, b0, nb, |s| segs.push(s));
        // SAFETY: AVX-512F is enabled here; segments end at NB; the gathers' offsets fit
        // (checked by the caller).
        unsafe {
            if adjoint::gathers(g) {
                adjoint::output_adjoint_gathered(g, dy, b0, nb, dm, NB);
            } else {
                adjoint::output_adjoint_segments(g, dy, &segs, dm, NB);
            }
        }
        for t in 0..p {
            let b = dm[t * o * NB..].as_ptr();
            for cb in 0..cpad / MR {
                let rows = MR.min(g.c - cb * MR);
                let a = u[(t * cpad + cb * MR) * o..].as_ptr();
                let out = dv[(t * cpad + cb * MR) * NB..].as_mut_ptr();
                // SAFETY: `a` is a packed MR x o panel and `b` a packed o x NB one (both inside
                // their slices), `out` holds `rows` rows of NB floats; AVX-512F is enabled.
                unsafe { avx512::Avx512::kernel(rows, o, 1.0, a, b, 0.0, out, NB) };
            }
        }
        // SAFETY: as above.
        unsafe { scatter::<A>(g, dv, cpad, &segs, dx) };
    }
}

/// `B·w` along one axis: the adjoint of `fused::bt` (`w[j]` weighted by column `k` of `Bᵀ`).
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
fn bt_adjoint<const A: usize>(w: [__m512; A]) -> [__m512; A] {
    let mut o = w;
    match (&w[..], &mut o[..]) {
        (&[w0, w1, w2, w3], [o0, o1, o2, o3]) => {
            *o0 = w0;
            *o1 = _mm512_add_ps(_mm512_sub_ps(w1, w2), w3);
            *o2 = _mm512_add_ps(_mm512_add_ps(w1, w2), _mm512_sub_ps(_mm512_setzero_ps(), w0));
            *o3 = _mm512_sub_ps(_mm512_setzero_ps(), w3);
        }
        (&[w0, w1, w2, w3, w4, w5], [o0, o1, o2, o3, o4, o5]) => {
            let (two, four, five) = (_mm512_set1_ps(2.0), _mm512_set1_ps(4.0), _mm512_set1_ps(5.0));
            let (s12, d21, s34, d43) = (_mm512_add_ps(w1, w2), _mm512_sub_ps(w2, w1), _mm512_add_ps(w3, w4), _mm512_sub_ps(w4, w3));
            *o0 = _mm512_mul_ps(four, w0);
            // -4w1 + 4w2 - 2w3 + 2w4 + 4w5
            *o1 = _mm512_fmadd_ps(four, _mm512_add_ps(d21, w5), _mm512_mul_ps(two, d43));
            // -5w0 - 4(w1 + w2) - (w3 + w4)
            *o2 = _mm512_fnmadd_ps(five, w0, _mm512_fnmadd_ps(four, s12, _mm512_sub_ps(_mm512_setzero_ps(), s34)));
            // (w1 - w2) - 2(w4 - w3) - 5w5
            *o3 = _mm512_fnmadd_ps(five, w5, _mm512_fnmadd_ps(two, d43, _mm512_sub_ps(w1, w2)));
            *o4 = _mm512_add_ps(_mm512_add_ps(w0, s12), s34);
            *o5 = w5;
        }
        _ => unreachable!("Winograd F(2x2) transforms for α = 4 or 6"),
    }
    o
}

/// Lanes of `v` moved up by `q` (`q < 16`): `(low, high)` with `low[l] = v[l - q]` (0 below
/// `q`) and `high[l] = v[16 + l - q]` (the `q` lanes pushed out, then 0).
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
fn shift_up(v: __m512, q: usize) -> (__m512, __m512) {
    let (z, vi) = (_mm512_setzero_si512(), _mm512_castps_si512(v));
    let (lo, hi) = match q {
        0 => (vi, z),
        1 => (_mm512_alignr_epi32::<15>(vi, z), _mm512_alignr_epi32::<15>(z, vi)),
        2 => (_mm512_alignr_epi32::<14>(vi, z), _mm512_alignr_epi32::<14>(z, vi)),
        _ => unreachable!("patches of at most 6 columns"),
    };
    (_mm512_castsi512_ps(lo), _mm512_castsi512_ps(hi))
}

/// Adds `B·dV·Bᵀ` of the segments' tiles, every input channel, into `dx` at each tile's patch
/// (rows `2·ty - ph ..`, columns `2·tx - pw ..`), dropping the entries on the padding; `dv:
/// [α²][cpad][NB]`. Within a segment the 16 patches of a patch row go out as one row of plane
/// columns: columns `2l + k` take lane `l` of patch column `k`, so the even patch columns,
/// moved up by `k / 2` lanes and added, give the even plane columns, the odd ones the odd
/// columns, and one interleave gives the row.
///
/// # Safety
/// The CPU supports AVX-512F; every segment ends at or before column `NB`.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn scatter<const A: usize>(g: &Wino, dv: &[f32], cpad: usize, segs: &[Segment], dx: &mut [f32]) {
    let (c, h, w) = (g.c, g.h as isize, g.w as isize);
    // the output transform's interleave of two vectors' lanes: even columns, odd columns
    let Interleave { pair_lo, pair_hi, .. } = Interleave::new::<2>();
    for ci in 0..c {
        for s in segs {
            let take = ((1u32 << s.n) - 1) as u16;
            // z[i][k]: row i, column k of every tile's B·dV·Bᵀ; along the rows first
            let mut r = [[_mm512_setzero_ps(); A]; A];
            for (i, ri) in r.iter_mut().enumerate() {
                let mut row = [_mm512_setzero_ps(); A];
                for (j, v) in row.iter_mut().enumerate() {
                    // SAFETY: a masked load of the first `n` lanes of row `(i·α + j, ci)` of the
                    // block, inside `dv`.
                    *v = unsafe { _mm512_maskz_loadu_ps(take, dv[((i * A + j) * cpad + ci) * NB + s.j0..].as_ptr()) };
                }
                *ri = bt_adjoint::<A>(row);
            }
            let mut z = [[_mm512_setzero_ps(); A]; A];
            for k in 0..A {
                let col = bt_adjoint::<A>(std::array::from_fn(|i| r[i][k]));
                for (i, v) in col.into_iter().enumerate() {
                    z[i][k] = v;
                }
            }
            let x0 = 2 * s.tx0 as isize - g.pw as isize;
            let span = 2 * s.n as isize + A as isize - 2;
            let plane = (s.img * c + ci) * g.h * g.w;
            for (i, zi) in z.iter().enumerate() {
                let y = 2 * s.ty as isize - g.ph as isize + i as isize;
                if y < 0 || y >= h {
                    continue;
                }
                let (mut e, mut od) = ([_mm512_setzero_ps(); 2], [_mm512_setzero_ps(); 2]);
                for q in 0..A / 2 {
                    let ((el, eh), (ol, oh)) = (shift_up(zi[2 * q], q), shift_up(zi[2 * q + 1], q));
                    e = [_mm512_add_ps(e[0], el), _mm512_add_ps(e[1], eh)];
                    od = [_mm512_add_ps(od[0], ol), _mm512_add_ps(od[1], oh)];
                }
                let cols =
                    [_mm512_permutex2var_ps(e[0], pair_lo, od[0]), _mm512_permutex2var_ps(e[0], pair_hi, od[0]), _mm512_permutex2var_ps(e[1], pair_lo, od[1])];
                let row = plane as isize + y * w + x0;
                for (v, add) in cols.into_iter().enumerate() {
                    let off = 16 * v as isize;
                    let mask = lanes(x0 + off, w, span - off);
                    if mask == 0 {
                        continue;
                    }
                    let p = dx.as_mut_ptr().wrapping_offset(row + off);
                    // SAFETY: the mask keeps plane columns inside `0..w` of row `y < h` of this
                    // image's plane `ci`, inside `dx` (checked by the caller); unset lanes are
                    // neither read nor written.
                    unsafe { _mm512_mask_storeu_ps(p, mask, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, p), add)) };
                }
            }
        }
    }
}
