//! AVX-512F micro-kernel: 8 x 32 tile, 16 zmm accumulators.
//!
//! Per depth step: two 16-wide loads of the packed B row, eight broadcasts of
//! packed A and sixteen FMAs. Zen 4 executes one 512-bit FMA per cycle (two
//! 256-bit halves) with a latency of 4, so 16 independent accumulators hide
//! the latency with room to spare, and the loads (10 per 16 FMAs) stay far
//! below the two-per-cycle load ports.

use super::{blocking, gemm_blocked, GemmArgs, MicroKernel};
use std::arch::x86_64::*;

pub(crate) const MR: usize = 8;
pub(crate) const NR: usize = 32;

pub(crate) struct Avx512;

impl MicroKernel for Avx512 {
    const MR: usize = MR;
    const NR: usize = NR;
    const BLOCKING: blocking::Blocking = blocking::AVX512;

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

/// Whole blocked GEMM compiled with AVX-512 enabled.
///
/// # Safety
/// Operands valid; CPU supports AVX-512F.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(crate) unsafe fn gemm(g: &GemmArgs) {
    gemm_blocked::<Avx512, MR, NR>(g)
}

/// Computes the first `R` rows of an 8 x 32 tile.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
unsafe fn tile<const R: usize>(
    k: usize,
    alpha: f32,
    a: *const f32,
    b: *const f32,
    beta: f32,
    c: *mut f32,
    ldc: usize,
) {
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let mut ap = a;
    let mut bp = b;
    for _ in 0..k {
        let b0 = _mm512_loadu_ps(bp);
        let b1 = _mm512_loadu_ps(bp.add(16));
        for (r, row) in acc.iter_mut().enumerate() {
            let av = _mm512_set1_ps(*ap.add(r));
            row[0] = _mm512_fmadd_ps(av, b0, row[0]);
            row[1] = _mm512_fmadd_ps(av, b1, row[1]);
        }
        ap = ap.add(MR);
        bp = bp.add(NR);
    }
    let va = _mm512_set1_ps(alpha);
    if beta == 0.0 {
        for (r, row) in acc.iter().enumerate() {
            let cr = c.add(r * ldc);
            _mm512_storeu_ps(cr, _mm512_mul_ps(row[0], va));
            _mm512_storeu_ps(cr.add(16), _mm512_mul_ps(row[1], va));
        }
    } else if beta == 1.0 {
        for (r, row) in acc.iter().enumerate() {
            let cr = c.add(r * ldc);
            _mm512_storeu_ps(cr, _mm512_fmadd_ps(row[0], va, _mm512_loadu_ps(cr)));
            let c1 = _mm512_loadu_ps(cr.add(16));
            _mm512_storeu_ps(cr.add(16), _mm512_fmadd_ps(row[1], va, c1));
        }
    } else {
        let vb = _mm512_set1_ps(beta);
        for (r, row) in acc.iter().enumerate() {
            let cr = c.add(r * ldc);
            let c0 = _mm512_mul_ps(_mm512_loadu_ps(cr), vb);
            let c1 = _mm512_mul_ps(_mm512_loadu_ps(cr.add(16)), vb);
            _mm512_storeu_ps(cr, _mm512_fmadd_ps(row[0], va, c0));
            _mm512_storeu_ps(cr.add(16), _mm512_fmadd_ps(row[1], va, c1));
        }
    }
}
