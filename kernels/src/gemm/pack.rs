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
pub(crate) unsafe fn pack_a<const MR: usize>(
    mc: usize,
    kc: usize,
    a: *const f32,
    rsa: usize,
    csa: usize,
    out: *mut f32,
) {
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
                    *dst.add(p * MR + r) = if r < rows {
                        *src.add(r * rsa + p * csa)
                    } else {
                        0.0
                    };
                }
            }
        }
        dst = dst.add(MR * kc);
        i0 += MR;
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
pub(crate) unsafe fn pack_b<const NR: usize>(
    kc: usize,
    nc: usize,
    b: *const f32,
    rsb: usize,
    csb: usize,
    out: *mut f32,
) {
    let mut j0 = 0;
    let mut dst = out;
    while j0 < nc {
        let cols = NR.min(nc - j0);
        let src = b.add(j0 * csb);
        if cols == NR && csb == 1 {
            // Row-major B: NR contiguous floats per depth step.
            for p in 0..kc {
                std::ptr::copy_nonoverlapping(src.add(p * rsb), dst.add(p * NR), NR);
            }
        } else if cols == NR && rsb == 1 {
            // Column-major B: walk each column contiguously.
            for j in 0..NR {
                let col = src.add(j * csb);
                for p in 0..kc {
                    *dst.add(p * NR + j) = *col.add(p);
                }
            }
        } else {
            for p in 0..kc {
                for j in 0..NR {
                    *dst.add(p * NR + j) = if j < cols {
                        *src.add(p * rsb + j * csb)
                    } else {
                        0.0
                    };
                }
            }
        }
        dst = dst.add(NR * kc);
        j0 += NR;
    }
}

thread_local! {
    static PACK_BUF: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` with two 64-byte aligned scratch areas of `len_a` and `len_b`
/// floats, reusing a per-thread allocation. Re-entrant (a nested call just
/// allocates a fresh buffer).
#[inline(always)]
pub(crate) fn with_pack_buffers<R>(
    len_a: usize,
    len_b: usize,
    f: impl FnOnce(*mut f32, *mut f32) -> R,
) -> R {
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
