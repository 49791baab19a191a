//! Portable micro-kernel on `wide::f32x8`: 4 x 16 tile, 8 accumulators.
//!
//! Used when neither AVX2+FMA nor AVX-512 is available (or when forced with
//! `PUPIL_ISA=portable`). Compiled for the baseline target, `wide` lowers each
//! `f32x8` to two SSE registers on x86-64 and to NEON or scalar code elsewhere.

use super::{blocking, gemm_blocked, GemmArgs, MicroKernel};
use wide::f32x8;

pub(crate) const MR: usize = 4;
pub(crate) const NR: usize = 16;

pub(crate) struct Portable;

impl MicroKernel for Portable {
    const MR: usize = MR;
    const NR: usize = NR;
    const BLOCKING: blocking::Blocking = blocking::PORTABLE;

    #[inline(always)]
    unsafe fn kernel(
        rows: usize,
        k: usize,
        alpha: f32,
        a: *const f32,
        b: *const f32,
        beta: f32,
        c: *mut f32,
        ldc: usize,
    ) {
        match rows {
            4 => tile::<4>(k, alpha, a, b, beta, c, ldc),
            3 => tile::<3>(k, alpha, a, b, beta, c, ldc),
            2 => tile::<2>(k, alpha, a, b, beta, c, ldc),
            _ => tile::<1>(k, alpha, a, b, beta, c, ldc),
        }
    }
}

/// Whole blocked GEMM with the portable kernel.
///
/// # Safety
/// Operands valid.
pub(crate) unsafe fn gemm(g: &GemmArgs) {
    gemm_blocked::<Portable, MR, NR>(g)
}

#[inline(always)]
unsafe fn load8(p: *const f32) -> f32x8 {
    f32x8::from(std::ptr::read_unaligned(p as *const [f32; 8]))
}

#[inline(always)]
unsafe fn store8(p: *mut f32, v: f32x8) {
    std::ptr::write_unaligned(p as *mut [f32; 8], v.to_array());
}

/// Computes the first `R` rows of a 4 x 16 tile.
#[inline(always)]
unsafe fn tile<const R: usize>(
    k: usize,
    alpha: f32,
    a: *const f32,
    b: *const f32,
    beta: f32,
    c: *mut f32,
    ldc: usize,
) {
    let mut acc = [[f32x8::ZERO; 2]; R];
    let mut ap = a;
    let mut bp = b;
    for _ in 0..k {
        let b0 = load8(bp);
        let b1 = load8(bp.add(8));
        for (r, row) in acc.iter_mut().enumerate() {
            let av = f32x8::splat(*ap.add(r));
            row[0] = av.mul_add(b0, row[0]);
            row[1] = av.mul_add(b1, row[1]);
        }
        ap = ap.add(MR);
        bp = bp.add(NR);
    }
    let va = f32x8::splat(alpha);
    let vb = f32x8::splat(beta);
    for (r, row) in acc.iter().enumerate() {
        let cr = c.add(r * ldc);
        for (h, v) in row.iter().enumerate() {
            let p = cr.add(8 * h);
            let out = if beta == 0.0 {
                *v * va
            } else if beta == 1.0 {
                v.mul_add(va, load8(p))
            } else {
                v.mul_add(va, load8(p) * vb)
            };
            store8(p, out);
        }
    }
}
