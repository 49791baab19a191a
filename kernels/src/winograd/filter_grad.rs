//! The filter gradient of a Winograd F(2x2, 3x3) convolution, on the same transforms.
//!
//! The forward pass computes, per tile `τ` and transform point `t`,
//! `M[t][o][τ] = Σ_c U[t][o][c]·V[t][c][τ]` and `Y_τ = Aᵀ·M_τ·A`, with `U = G·g·Gᵀ`. Its adjoint
//! is, reading the chain backwards:
//!
//! ```text
//! dM_τ    = A·dY_τ·Aᵀ                         (4x4 from the 2x2 output tile; 0 where clipped)
//! dU[t]   = Σ_τ dM[t][·][τ] · V[t][·][τ]ᵀ      (16 GEMMs, [o] x [tiles] times [tiles] x [c])
//! dg      = Gᵀ·dU·G                            (3x3 from 4x4, per filter)
//! ```
//!
//! so `dW` costs `16·O·C` multiplications per tile instead of im2col's `36·O·C`. The sums over
//! tiles run group by group in image order ([`accumulate`] adds into `dU`); a caller that splits
//! images into chunks keeps each chunk's `dU` apart and adds them in chunk order, so the result
//! does not depend on the thread count. Only with AVX-512 ([`available`]): the transforms are the
//! fused kernel's.

use super::{Wino3x3, POINTS};

/// True if [`accumulate`] can run here (the fused kernel's transforms need AVX-512).
pub fn available() -> bool {
    cfg!(target_arch = "x86_64") && crate::selected_isa() == crate::Isa::Avx512
}

/// Floats of scratch [`accumulate`] needs for `gn` images: `V` and `dM` of all their tiles.
pub fn scratch_len(g: &Wino3x3, gn: usize) -> usize {
    POINTS * (g.c + g.o) * gn * g.tiles_per_image()
}

/// `du[t][o][c] += Σ_τ dM[t][o][τ]·V[t][c][τ]` over the tiles of `gn` images `x: [gn][c][h][w]`
/// with output gradients `dy: [gn][o][oh][ow]`; `du: [16][o][c]`. `scratch` holds at least
/// [`scratch_len`] floats (contents ignored).
///
/// Panics when a slice is too short or [`available`] is false.
pub fn accumulate(g: &Wino3x3, gn: usize, x: &[f32], dy: &[f32], du: &mut [f32], scratch: &mut [f32]) {
    assert!(available(), "winograd filter_grad::accumulate: needs AVX-512");
    assert!(x.len() >= gn * g.c * g.h * g.w, "winograd filter_grad: input shorter than {gn} images of {g:?}");
    assert!(dy.len() >= gn * g.o * g.oh * g.ow, "winograd filter_grad: output gradient shorter than {gn} images of {g:?}");
    assert!(du.len() >= POINTS * g.o * g.c, "winograd filter_grad: dU shorter than 16x{}x{}", g.o, g.c);
    assert!(scratch.len() >= scratch_len(g, gn), "winograd filter_grad: scratch shorter than {}", scratch_len(g, gn));
    let ld = gn * g.tiles_per_image();
    if ld == 0 || g.o == 0 || g.c == 0 {
        return;
    }
    let (v, rest) = scratch.split_at_mut(POINTS * g.c * ld);
    let dm = &mut rest[..POINTS * g.o * ld];
    #[cfg(target_arch = "x86_64")]
    {
        let mut segs = Vec::new();
        super::fused::segments(g, 0, ld, |s| segs.push(s));
        // SAFETY: AVX-512F is the selected ISA (asserted above; `selected_isa` checks the CPU);
        // segments end at or before column `ld`.
        unsafe {
            if super::fused::gathers(g, gn) {
                super::fused::input_gathered(g, x, 0, ld, v, ld);
            } else {
                super::fused::input_segments(g, x, &segs, v, ld);
            }
            super::fused::output_adjoint_segments(g, dy, &segs, dm, ld);
        }
    }
    let (o, c) = (g.o, g.c);
    for t in 0..POINTS {
        // dU[t] (o x c) += dM[t] (o x ld) · V[t]ᵀ (ld x c)
        let (dmt, vt) = (&dm[t * o * ld..(t + 1) * o * ld], &v[t * c * ld..(t + 1) * c * ld]);
        crate::sgemm(o, ld, c, 1.0, dmt, ld, 1, vt, 1, ld, 1.0, &mut du[t * o * c..(t + 1) * o * c], c);
    }
}

/// `dw[o][c] = Gᵀ·du[·][o][c]·G` for `du: [16][o][c]` into `dw: [o][c][3][3]`.
///
/// `G = [[1, 0, 0], [½, ½, ½], [½, -½, ½], [0, 0, 1]]`.
pub fn finish(o: usize, c: usize, du: &[f32], dw: &mut [f32]) {
    assert!(du.len() >= POINTS * o * c && dw.len() >= o * c * 9, "winograd filter_grad::finish: slices too short for {o}x{c}");
    for oc in 0..o {
        for ci in 0..c {
            let d = |t: usize| du[(t * o + oc) * c + ci];
            // r = Gᵀ·dU: 3 x 4
            let r: [[f32; 4]; 3] = std::array::from_fn(|a| {
                std::array::from_fn(|j| {
                    let (d0, d1, d2, d3) = (d(j), d(4 + j), d(8 + j), d(12 + j));
                    match a {
                        0 => d0 + 0.5 * (d1 + d2),
                        1 => 0.5 * (d1 - d2),
                        _ => 0.5 * (d1 + d2) + d3,
                    }
                })
            });
            let out = &mut dw[(oc * c + ci) * 9..(oc * c + ci + 1) * 9];
            for (a, [r0, r1, r2, r3]) in r.into_iter().enumerate() {
                out[a * 3] = r0 + 0.5 * (r1 + r2);
                out[a * 3 + 1] = 0.5 * (r1 - r2);
                out[a * 3 + 2] = 0.5 * (r1 + r2) + r3;
            }
        }
    }
}
