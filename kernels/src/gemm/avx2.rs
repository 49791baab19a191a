//! AVX2 + FMA micro-kernel: 6 x 16 tile, 12 ymm accumulators.
//!
//! Per depth step: two 8-wide loads of packed B, six broadcasts of packed A and
//! twelve FMAs. With two FMA pipes of latency 4, at least 8 independent
//! accumulators are needed to keep them busy; 12 leaves headroom, and
//! 12 + 2 (B) + 1 (broadcast) fits the 16 ymm registers.

use super::{blocking, gemm_blocked, pack_x86, GemmArgs, MicroKernel, Spread};
use std::arch::x86_64::*;

pub(crate) const MR: usize = 6;
pub(crate) const NR: usize = 16;

pub(crate) struct Avx2;

impl MicroKernel for Avx2 {
    const MR: usize = MR;
    const NR: usize = NR;
    #[inline(always)]
    unsafe fn pack_a(mc: usize, kc: usize, a: *const f32, rsa: usize, csa: usize, out: *mut f32) {
        // SAFETY: the caller upholds `MicroKernel::pack_a`'s contract, which is
        // `pack_x86::pack_a`'s; AVX2 is part of this kernel's ISA.
        unsafe { pack_x86::pack_a::<MR>(mc, kc, a, rsa, csa, out) }
    }

    #[inline(always)]
    unsafe fn pack_b(kc: usize, nc: usize, b: *const f32, rsb: usize, csb: usize, out: *mut f32) {
        // SAFETY: the caller upholds `MicroKernel::pack_b`'s contract, which is
        // `pack_x86::pack_b`'s; AVX2 is part of this kernel's ISA.
        unsafe { pack_x86::pack_b::<NR>(kc, nc, b, rsb, csb, out) }
    }

    const BLOCKING: blocking::Blocking = blocking::AVX2;

    #[inline(always)]
    unsafe fn kernel(rows: usize, k: usize, alpha: f32, a: *const f32, b: *const f32, beta: f32, c: *mut f32, ldc: usize) {
        // SAFETY: `rows <= MR` picks a tile no taller than the packed panel; `a`, `b`, `c` and the
        // ISA are vouched for by the caller (`MicroKernel::kernel`).
        unsafe {
            match rows {
                6 => tile::<6, false>(k, alpha, a, b, beta, c, ldc, std::ptr::null(), 0),
                5 => tile::<5, false>(k, alpha, a, b, beta, c, ldc, std::ptr::null(), 0),
                4 => tile::<4, false>(k, alpha, a, b, beta, c, ldc, std::ptr::null(), 0),
                3 => tile::<3, false>(k, alpha, a, b, beta, c, ldc, std::ptr::null(), 0),
                2 => tile::<2, false>(k, alpha, a, b, beta, c, ldc, std::ptr::null(), 0),
                _ => tile::<1, false>(k, alpha, a, b, beta, c, ldc, std::ptr::null(), 0),
            }
        }
    }

    /// Spreads the prefetches evenly over the tile's depth loop ([`Spread`]).
    #[inline(always)]
    unsafe fn kernel_prefetching(k: usize, alpha: f32, a: *const f32, b: *const f32, beta: f32, c: *mut f32, ldc: usize, pf: *const i8, lines: usize) {
        // SAFETY: as `kernel` with `rows = MR`; prefetches never fault.
        unsafe { tile::<MR, true>(k, alpha, a, b, beta, c, ldc, pf, lines) }
    }
}

/// Whole blocked GEMM compiled with AVX2 + FMA enabled.
///
/// # Safety
/// Operands valid; CPU supports AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn gemm(g: &GemmArgs) {
    // SAFETY: the caller guarantees valid operands and AVX2 + FMA (see `# Safety`), which
    // `gemm_blocked` needs.
    unsafe { gemm_blocked::<Avx2, MR, NR>(g) }
}

/// Computes the first `R` rows of a 6 x 16 tile. With `PF`, it also asks for the `lines` cache
/// lines from `pf` in L2, spread over the depth loop ([`Spread`]).
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<const R: usize, const PF: bool>(
    k: usize,
    alpha: f32,
    a: *const f32,
    b: *const f32,
    beta: f32,
    c: *mut f32,
    ldc: usize,
    pf: *const i8,
    lines: usize,
) {
    // SAFETY: reads `k` steps of the packed panels (`MR` and `NR` floats each) and `R <= MR` rows
    // of 16 floats of C, all inside what the caller vouches for (see `# Safety`); the prefetches
    // never fault.
    unsafe {
        // Start fetching the C tile (64 bytes per row, at most 2 lines) now so
        // the misses overlap with the FMAs.
        for r in 0..R {
            let cr = c.add(r * ldc) as *const i8;
            _mm_prefetch::<_MM_HINT_ET0>(cr);
            _mm_prefetch::<_MM_HINT_ET0>(cr.add(63));
        }
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        let mut ap = a;
        let mut bp = b;
        let mut spread = Spread::new(pf, lines, k);
        for _ in 0..k {
            let b0 = _mm256_loadu_ps(bp);
            let b1 = _mm256_loadu_ps(bp.add(8));
            for (r, row) in acc.iter_mut().enumerate() {
                let av = _mm256_broadcast_ss(&*ap.add(r));
                row[0] = _mm256_fmadd_ps(av, b0, row[0]);
                row[1] = _mm256_fmadd_ps(av, b1, row[1]);
            }
            ap = ap.add(MR);
            bp = bp.add(NR);
            if PF {
                spread.step();
            }
        }
        if PF {
            spread.finish();
        }
        let va = _mm256_set1_ps(alpha);
        if beta == 0.0 {
            for (r, row) in acc.iter().enumerate() {
                let cr = c.add(r * ldc);
                _mm256_storeu_ps(cr, _mm256_mul_ps(row[0], va));
                _mm256_storeu_ps(cr.add(8), _mm256_mul_ps(row[1], va));
            }
        } else if beta == 1.0 {
            for (r, row) in acc.iter().enumerate() {
                let cr = c.add(r * ldc);
                _mm256_storeu_ps(cr, _mm256_fmadd_ps(row[0], va, _mm256_loadu_ps(cr)));
                let c1 = _mm256_loadu_ps(cr.add(8));
                _mm256_storeu_ps(cr.add(8), _mm256_fmadd_ps(row[1], va, c1));
            }
        } else {
            let vb = _mm256_set1_ps(beta);
            for (r, row) in acc.iter().enumerate() {
                let cr = c.add(r * ldc);
                let c0 = _mm256_mul_ps(_mm256_loadu_ps(cr), vb);
                let c1 = _mm256_mul_ps(_mm256_loadu_ps(cr.add(8)), vb);
                _mm256_storeu_ps(cr, _mm256_fmadd_ps(row[0], va, c0));
                _mm256_storeu_ps(cr.add(8), _mm256_fmadd_ps(row[1], va, c1));
            }
        }
    }
}
