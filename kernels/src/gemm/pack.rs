//! Packing of A and B blocks into the contiguous, zero-padded micro-panel
//! layouts read by the micro-kernels, plus a per-thread reusable buffer.

use std::cell::Cell;

/// Packs the `mc x kc` block of A starting at `a` (element (i,p) at
/// `a[i*rsa + p*csa]`) into micro-panels of `MR` rows: panel `t` holds rows
/// `t*MR..t*MR+MR`, stored depth-major (`out[t*MR*kc + p*MR + r]`). Rows past
/// `mc` are zero.
///
/// # Safety
/// `a` must be valid for the strided block; `out` must hold
/// `ceil(mc/MR)*MR*kc` floats.
#[inline(always)]
pub(crate) unsafe fn pack_a<const MR: usize>(mc: usize, kc: usize, a: *const f32, rsa: usize, csa: usize, out: *mut f32) {
    // SAFETY: every read is at `i*rsa + p*csa` with `i < mc`, `p < kc` (inside the strided block of
    // `a`), every write below `ceil(mc/MR)*MR*kc` floats of `out`: the caller's contract (see `#
    // Safety`).
    unsafe {
        let mut i0 = 0;
        let mut dst = out;
        while i0 < mc {
            let rows = MR.min(mc - i0);
            let src = a.add(i0 * rsa);
            if rows == MR && csa == 1 {
                // Row-major A: MR rows, each contiguous along p.
                for p in 0..kc {
                    for r in 0..MR {
                        *dst.add(p * MR + r) = *src.add(r * rsa + p);
                    }
                }
            } else if rows == MR && rsa == 1 {
                // Column-major A (e.g. a transposed row-major matrix): MR contiguous.
                for p in 0..kc {
                    std::ptr::copy_nonoverlapping(src.add(p * csa), dst.add(p * MR), MR);
                }
            } else {
                for p in 0..kc {
                    for r in 0..MR {
                        *dst.add(p * MR + r) = if r < rows { *src.add(r * rsa + p * csa) } else { 0.0 };
                    }
                }
            }
            dst = dst.add(MR * kc);
            i0 += MR;
        }
    }
}

/// Packs the `kc x nc` block of B starting at `b` (element (p,j) at
/// `b[p*rsb + j*csb]`) into micro-panels of `NR` columns: panel `t` holds
/// columns `t*NR..t*NR+NR` stored depth-major (`out[t*NR*kc + p*NR + j]`).
/// Columns past `nc` are zero.
///
/// # Safety
/// `b` must be valid for the strided block; `out` must hold
/// `ceil(nc/NR)*NR*kc` floats.
#[inline(always)]
pub(crate) unsafe fn pack_b<const NR: usize>(kc: usize, nc: usize, b: *const f32, rsb: usize, csb: usize, out: *mut f32) {
    // SAFETY: every read is at `p*rsb + j*csb` with `p < kc`, `j < nc` (inside the strided block of
    // `b`), every write below `ceil(nc/NR)*NR*kc` floats of `out`: the caller's contract (see `#
    // Safety`).
    unsafe {
        let full = nc / NR;
        if csb == 1 && full > 0 {
            // Row-major B: walk each source row once, left to right (one
            // sequential stream per row, friendly to the prefetcher), scattering
            // NR-float pieces into the full micro-panels.
            // Rows of a large B are far apart in memory; software-prefetch the
            // row a few steps ahead so the hardware streams have time to start.
            const AHEAD: usize = 4;
            for p in 0..kc {
                let src = b.add(p * rsb);
                if p + AHEAD < kc {
                    prefetch_row(b.add((p + AHEAD) * rsb), full * NR);
                }
                for t in 0..full {
                    std::ptr::copy_nonoverlapping(src.add(t * NR), out.add(t * NR * kc + p * NR), NR);
                }
            }
        } else if rsb == 1 && full > 0 {
            // Column-major B (e.g. a transposed row-major matrix): transpose in
            // strips of D depth steps, so the NR column reads are short
            // contiguous runs and the writes fill one contiguous D x NR block.
            const D: usize = 8;
            for t in 0..full {
                let dst = out.add(t * NR * kc);
                let src = b.add(t * NR * csb);
                let mut p = 0;
                while p + D <= kc {
                    let blk = dst.add(p * NR);
                    for j in 0..NR {
                        let col = src.add(j * csb + p);
                        for q in 0..D {
                            *blk.add(q * NR + j) = *col.add(q);
                        }
                    }
                    p += D;
                }
                for p in p..kc {
                    for j in 0..NR {
                        *dst.add(p * NR + j) = *src.add(j * csb + p);
                    }
                }
            }
        } else if full > 0 {
            for t in 0..full {
                pack_b_panel::<NR>(kc, NR, b.add(t * NR * csb), rsb, csb, out.add(t * NR * kc));
            }
        }
        if full * NR < nc {
            let t = full;
            pack_b_panel::<NR>(kc, nc - t * NR, b.add(t * NR * csb), rsb, csb, out.add(t * NR * kc));
        }
    }
}

/// Packs one micro-panel of `cols <= NR` columns (zero-padded to NR), any strides.
///
/// # Safety
/// `b` is valid for the strided `kc x cols` block, `dst` for `kc*NR` floats.
#[inline(always)]
unsafe fn pack_b_panel<const NR: usize>(kc: usize, cols: usize, b: *const f32, rsb: usize, csb: usize, dst: *mut f32) {
    // SAFETY: reads `p*rsb + j*csb` only for `j < cols`, writes `kc*NR` floats: inside what the
    // caller vouches for (see `# Safety`).
    unsafe {
        for p in 0..kc {
            for j in 0..NR {
                *dst.add(p * NR + j) = if j < cols { *b.add(p * rsb + j * csb) } else { 0.0 };
            }
        }
    }
}

/// Prefetches `len` floats starting at `p` into the cache (no-op off x86-64).
///
/// # Safety
/// `p..p+len` lies inside one allocation and `len > 0`.
#[inline(always)]
unsafe fn prefetch_row(p: *const f32, len: usize) {
    // SAFETY: a prefetch is a hint: it never faults and never changes memory; `p.add(off)` stays
    // inside the row of `len` floats the caller names (see `# Safety`).
    unsafe {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let mut off = 0;
            while off < len {
                _mm_prefetch::<_MM_HINT_T0>(p.add(off) as *const i8);
                off += 16;
            }
            _mm_prefetch::<_MM_HINT_T0>(p.add(len - 1) as *const i8);
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (p, len);
    }
}

thread_local! {
    static PACK_BUF: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` with two 64-byte aligned scratch areas of `len_a` and `len_b`
/// floats, reusing a per-thread allocation. Re-entrant (a nested call just
/// allocates a fresh buffer).
#[inline(always)]
pub(crate) fn with_pack_buffers<R>(len_a: usize, len_b: usize, f: impl FnOnce(*mut f32, *mut f32) -> R) -> R {
    const ALIGN_F32: usize = 16; // 64 bytes
    let round = |x: usize| x.div_ceil(ALIGN_F32) * ALIGN_F32;
    let need = round(len_a) + round(len_b) + ALIGN_F32;
    let mut buf = PACK_BUF.with(|c| c.take());
    if buf.len() < need {
        buf = vec![0.0; need];
    }
    let base = buf.as_mut_ptr();
    let off = base.align_offset(64);
    // SAFETY: off < ALIGN_F32 and the buffer holds `need` floats.
    let (pa, pb) = unsafe {
        let pa = base.add(off);
        (pa, pa.add(round(len_a)))
    };
    let r = f(pa, pb);
    PACK_BUF.with(|c| c.set(buf));
    r
}
