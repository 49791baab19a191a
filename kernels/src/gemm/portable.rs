//! Portable micro-kernel on `wide::f32x8`: 6 x 8 tile, 6 accumulators.
//!
//! On baseline x86-64 (SSE2 only) each `f32x8` is two xmm registers, so the
//! 6 x 8 tile uses 12 of the 16 xmm registers for accumulators and leaves room
//! for B and the broadcast (a 4 x 16 tile would need 16 and spill). Without
//! FMA each step is a multiply and an add, so 12 independent chains also cover
//! the add latency.
//!
//! Used when neither AVX2+FMA nor AVX-512 is available (or when forced with
//! `PUPIL_ISA=portable`). Compiled for the baseline target, `wide` lowers each
//! `f32x8` to two SSE registers on x86-64 and to NEON or scalar code elsewhere.

use super::{blocking, gemm_blocked, pack, GemmArgs, MicroKernel};
use wide::f32x8;

pub(crate) const MR: usize = 6;
pub(crate) const NR: usize = 8;
/// `f32x8` vectors per tile row.
const NV: usize = NR / 8;

pub(crate) struct Portable;

impl MicroKernel for Portable {
    const MR: usize = MR;
    const NR: usize = NR;
    #[inline(always)]
    unsafe fn pack_a(mc: usize, kc: usize, a: *const f32, rsa: usize, csa: usize, out: *mut f32) {
        // SAFETY: the caller upholds `MicroKernel::pack_a`'s contract, which is `pack::pack_a`'s.
        unsafe { pack::pack_a::<MR>(mc, kc, a, rsa, csa, out) }
    }

    #[inline(always)]
    unsafe fn pack_b(kc: usize, nc: usize, b: *const f32, rsb: usize, csb: usize, out: *mut f32) {
        // SAFETY: the caller upholds `MicroKernel::pack_b`'s contract, which is `pack::pack_b`'s.
        unsafe { pack::pack_b::<NR>(kc, nc, b, rsb, csb, out) }
    }

    const BLOCKING: blocking::Blocking = blocking::PORTABLE;

    #[inline(always)]
    unsafe fn kernel(rows: usize, k: usize, alpha: f32, a: *const f32, b: *const f32, beta: f32, c: *mut f32, ldc: usize) {
        // SAFETY: `rows <= MR` picks a tile no taller than the packed panel; `a`, `b` and `c` are
        // vouched for by the caller (`MicroKernel::kernel`).
        unsafe {
            match rows {
                8 => tile::<8>(k, alpha, a, b, beta, c, ldc),
                7 => tile::<7>(k, alpha, a, b, beta, c, ldc),
                6 => tile::<6>(k, alpha, a, b, beta, c, ldc),
                5 => tile::<5>(k, alpha, a, b, beta, c, ldc),
                4 => tile::<4>(k, alpha, a, b, beta, c, ldc),
                3 => tile::<3>(k, alpha, a, b, beta, c, ldc),
                2 => tile::<2>(k, alpha, a, b, beta, c, ldc),
                _ => tile::<1>(k, alpha, a, b, beta, c, ldc),
            }
        }
    }
}

/// Whole blocked GEMM with the portable kernel.
///
/// # Safety
/// Operands valid.
pub(crate) unsafe fn gemm(g: &GemmArgs) {
    // SAFETY: the caller guarantees valid operands (see `# Safety`), which `gemm_blocked` needs.
    unsafe { gemm_blocked::<Portable, MR, NR>(g) }
}

#[inline(always)]
unsafe fn load8(p: *const f32) -> f32x8 {
    // SAFETY: the caller guarantees 8 readable floats at `p`; the read is unaligned.
    unsafe { f32x8::from(std::ptr::read_unaligned(p as *const [f32; 8])) }
}

/// # Safety
/// `p` is valid for writing 8 floats (any alignment).
#[inline(always)]
unsafe fn store8(p: *mut f32, v: f32x8) {
    // SAFETY: the caller guarantees 8 writable floats at `p`; the write is unaligned.
    unsafe {
        std::ptr::write_unaligned(p as *mut [f32; 8], v.to_array());
    }
}

/// Computes the first `R` rows of a 6 x 8 tile.
///
/// # Safety
/// `a` holds a packed `MR x k` panel, `b` a packed `k x NR` panel, `c` is valid for `R`
/// rows of `NR` floats with stride `ldc`.
#[inline(always)]
unsafe fn tile<const R: usize>(k: usize, alpha: f32, a: *const f32, b: *const f32, beta: f32, c: *mut f32, ldc: usize) {
    // SAFETY: reads `k` steps of the packed panels and `R <= MR` rows of `NR` floats of C, all
    // inside what the caller vouches for (see `# Safety`).
    unsafe {
        let mut acc = [[f32x8::ZERO; NV]; R];
        let mut ap = a;
        let mut bp = b;
        for _ in 0..k {
            let mut bv = [f32x8::ZERO; NV];
            for (h, v) in bv.iter_mut().enumerate() {
                *v = load8(bp.add(8 * h));
            }
            for (r, row) in acc.iter_mut().enumerate() {
                let av = f32x8::splat(*ap.add(r));
                for h in 0..NV {
                    row[h] = av.mul_add(bv[h], row[h]);
                }
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
}
