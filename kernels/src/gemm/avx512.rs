//! AVX-512F micro-kernel: 8 x 32 tile, 16 zmm accumulators.
//!
//! Per depth step: two 16-wide loads of the packed B row, eight broadcasts of
//! packed A and sixteen FMAs. Zen 4 executes one 512-bit FMA per cycle (two
//! 256-bit halves) with a latency of 4, so 16 independent accumulators hide
//! the latency with room to spare, and the loads (10 per 16 FMAs) stay far
//! below the two-per-cycle load ports.

use super::{blocking, gemm_blocked, pack_x86, GemmArgs, MicroKernel, Spread};
use std::arch::x86_64::*;

pub(crate) const MR: usize = 8;
pub(crate) const NR: usize = 32;

pub(crate) struct Avx512;

/// Dispatches on the row count `$rows` (1..=8) to `tile::<R, $w, $masked>`.
macro_rules! by_rows {
    ($rows:expr, $w:literal, $masked:literal, $args:tt) => {
        match $rows {
            8 => by_rows!(@call 8, $w, $masked, $args),
            7 => by_rows!(@call 7, $w, $masked, $args),
            6 => by_rows!(@call 6, $w, $masked, $args),
            5 => by_rows!(@call 5, $w, $masked, $args),
            4 => by_rows!(@call 4, $w, $masked, $args),
            3 => by_rows!(@call 3, $w, $masked, $args),
            2 => by_rows!(@call 2, $w, $masked, $args),
            _ => by_rows!(@call 1, $w, $masked, $args),
        }
    };
    (@call $r:literal, $w:literal, $masked:literal, ($($arg:expr),*)) => {
        tile::<$r, $w, $masked, false>($($arg),*, std::ptr::null(), 0)
    };
}

impl MicroKernel for Avx512 {
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

    const BLOCKING: blocking::Blocking = blocking::AVX512;

    #[inline(always)]
    unsafe fn kernel(rows: usize, k: usize, alpha: f32, a: *const f32, b: *const f32, beta: f32, c: *mut f32, ldc: usize) {
        // SAFETY: `rows <= MR` picks a tile no taller than the packed panel; `a`, `b`, `c` and the
        // ISA are vouched for by the caller (`MicroKernel::kernel`).
        unsafe { by_rows!(rows, 2, false, (k, alpha, a, b, beta, c, ldc, 0)) }
    }

    /// Spreads the prefetches evenly over the tile's depth loop ([`Spread`]).
    #[inline(always)]
    unsafe fn kernel_prefetching(k: usize, alpha: f32, a: *const f32, b: *const f32, beta: f32, c: *mut f32, ldc: usize, pf: *const i8, lines: usize) {
        // SAFETY: as `kernel` with `rows = MR`; prefetches never fault.
        unsafe { tile::<MR, 2, false, true>(k, alpha, a, b, beta, c, ldc, 0, pf, lines) }
    }

    /// Right-edge tiles: masked loads/stores of C, and only one zmm column
    /// (8 accumulators, still enough at one 512-bit FMA per cycle) when the
    /// tile has at most 16 valid columns.
    #[inline(always)]
    unsafe fn kernel_edge(rows: usize, cols: usize, k: usize, alpha: f32, a: *const f32, b: *const f32, beta: f32, c: *mut f32, ldc: usize) {
        // SAFETY: as `kernel`, and the masked tiles touch only the first `cols` columns of C, which
        // the caller vouches for (`MicroKernel::kernel_edge`).
        unsafe {
            if cols <= 16 {
                by_rows!(rows, 1, true, (k, alpha, a, b, beta, c, ldc, cols))
            } else {
                by_rows!(rows, 2, true, (k, alpha, a, b, beta, c, ldc, cols))
            }
        }
    }
}

/// Whole blocked GEMM compiled with AVX-512 enabled.
///
/// # Safety
/// Operands valid; CPU supports AVX-512F.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(crate) unsafe fn gemm(g: &GemmArgs) {
    // SAFETY: the caller guarantees valid operands and AVX-512F (see `# Safety`), which
    // `gemm_blocked` needs.
    unsafe { gemm_blocked::<Avx512, MR, NR>(g) }
}

/// Computes the first `R` rows and `16*W` columns of an 8 x 32 tile. With
/// `MASKED`, only the first `cols` columns of C are read and written. With `PF`, it also asks for
/// the `lines` cache lines from `pf` in L2, spread over the depth loop ([`Spread`]).
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<const R: usize, const W: usize, const MASKED: bool, const PF: bool>(
    k: usize,
    alpha: f32,
    a: *const f32,
    b: *const f32,
    beta: f32,
    c: *mut f32,
    ldc: usize,
    cols: usize,
    pf: *const i8,
    lines: usize,
) {
    // SAFETY: reads `k` steps of the packed panels and `R <= MR` rows of C (`16*W` floats, or the
    // first `cols` with `MASKED`), all inside what the caller vouches for (see `# Safety`); the
    // prefetches never fault.
    unsafe {
        // Start fetching the C tile now so the misses overlap with the FMAs.
        for r in 0..R {
            let cr = c.add(r * ldc) as *const i8;
            // The row's 64*W bytes span at most W+1 cache lines (a masked tile's may end past
            // C: hints only, their addresses formed with `wrapping_add`).
            for l in 0..W {
                _mm_prefetch::<_MM_HINT_ET0>(cr.wrapping_add(64 * l));
            }
            _mm_prefetch::<_MM_HINT_ET0>(cr.wrapping_add(64 * W - 1));
        }
        let mut acc = [[_mm512_setzero_ps(); W]; R];
        let mut ap = a;
        let mut bp = b;
        let mut spread = Spread::new(pf, lines, k);
        for _ in 0..k {
            let mut bv = [_mm512_setzero_ps(); W];
            for (h, v) in bv.iter_mut().enumerate() {
                *v = _mm512_loadu_ps(bp.add(16 * h));
            }
            for (r, row) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*ap.add(r));
                for h in 0..W {
                    row[h] = _mm512_fmadd_ps(av, bv[h], row[h]);
                }
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
        // Column masks of the (up to) two vectors of a row.
        let mut masks = [0xFFFFu16; W];
        if MASKED {
            for (h, m) in masks.iter_mut().enumerate() {
                let valid = cols.saturating_sub(16 * h).min(16);
                *m = ((1u32 << valid) - 1) as u16;
            }
        }
        let load = |p: *const f32, m: __mmask16| {
            if MASKED {
                _mm512_maskz_loadu_ps(m, p)
            } else {
                _mm512_loadu_ps(p)
            }
        };
        let store = |p: *mut f32, m: __mmask16, v: __m512| {
            if MASKED {
                _mm512_mask_storeu_ps(p, m, v)
            } else {
                _mm512_storeu_ps(p, v)
            }
        };
        let va = _mm512_set1_ps(alpha);
        let vb = _mm512_set1_ps(beta);
        for (r, row) in acc.iter().enumerate() {
            let cr = c.add(r * ldc);
            for h in 0..W {
                let p = cr.add(16 * h);
                let out = if beta == 0.0 {
                    _mm512_mul_ps(row[h], va)
                } else if beta == 1.0 {
                    _mm512_fmadd_ps(row[h], va, load(p, masks[h]))
                } else {
                    _mm512_fmadd_ps(row[h], va, _mm512_mul_ps(load(p, masks[h]), vb))
                };
                store(p, masks[h], out);
            }
        }
    }
}
