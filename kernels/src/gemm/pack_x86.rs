//! AVX2 packing for the transposing cases, used by the AVX2 and AVX-512
//! kernels: row-major A (each micro-panel column gathers MR rows) and
//! column-major B (each micro-panel row gathers NR columns). Both are done as
//! 8 x 8 in-register transposes instead of one scalar move per element, which
//! matters when `m` (for B) or `n` (for A) is small, e.g. conv layers' 64
//! output channels.

use super::pack;
use std::arch::x86_64::*;

/// Transposes the 8 x 8 block held in `r` (row i in `r[i]`).
///
/// # Safety
/// The CPU supports AVX.
#[inline(always)]
unsafe fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    // SAFETY: register-only shuffles; the caller's context has AVX (see `# Safety`).
    unsafe {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(s0, s4),
            _mm256_permute2f128_ps::<0x20>(s1, s5),
            _mm256_permute2f128_ps::<0x20>(s2, s6),
            _mm256_permute2f128_ps::<0x20>(s3, s7),
            _mm256_permute2f128_ps::<0x31>(s0, s4),
            _mm256_permute2f128_ps::<0x31>(s1, s5),
            _mm256_permute2f128_ps::<0x31>(s2, s6),
            _mm256_permute2f128_ps::<0x31>(s3, s7),
        ]
    }
}

/// [`pack::pack_a`] with an AVX2 fast path for row-major A (`csa == 1`):
/// 8 rows x 8 depth steps at a time (when MR < 8, rows beyond MR are zeros and
/// the stores overlap).
///
/// # Safety
/// As [`pack::pack_a`]; CPU supports AVX2.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) unsafe fn pack_a<const MR: usize>(mc: usize, kc: usize, a: *const f32, rsa: usize, csa: usize, out: *mut f32) {
    // SAFETY: the loads read `8` floats at `r*rsa + p` with `r < MR`, `p + 8 <= kc` (inside the
    // block of `a`); the stores stay inside `ceil(mc/MR)*MR*kc` floats of `out` (the spill of an
    // 8-lane store past `MR` floats lands on a later depth step of the same panel, or goes through
    // `tmp`): the caller's contract, as `pack::pack_a`'s, with AVX2 present.
    unsafe {
        const { assert!(MR <= 8) };
        if csa != 1 || kc < 8 {
            return pack::pack_a::<MR>(mc, kc, a, rsa, csa, out);
        }
        let full = mc / MR;
        for t in 0..full {
            let src = a.add(t * MR * rsa);
            let dst = out.add(t * MR * kc);
            let mut p = 0;
            while p + 8 <= kc {
                let mut rows = [_mm256_setzero_ps(); 8];
                for (r, v) in rows.iter_mut().take(MR).enumerate() {
                    *v = _mm256_loadu_ps(src.add(r * rsa + p));
                }
                let cols = transpose8(rows);
                for (q, v) in cols.iter().enumerate() {
                    let d = dst.add((p + q) * MR);
                    if MR == 8 || q < 7 {
                        // For MR < 8 the extra lanes spill into the next depth
                        // step, which the next (in-order) store overwrites.
                        _mm256_storeu_ps(d, *v);
                    } else {
                        // Last step of the strip: write exactly MR floats (AMD's
                        // masked stores are slow, so go through the stack).
                        let mut tmp = [0.0f32; 8];
                        _mm256_storeu_ps(tmp.as_mut_ptr(), *v);
                        std::ptr::copy_nonoverlapping(tmp.as_ptr(), d, MR);
                    }
                }
                p += 8;
            }
            for p in p..kc {
                for r in 0..MR {
                    *dst.add(p * MR + r) = *src.add(r * rsa + p);
                }
            }
        }
        if full * MR < mc {
            pack::pack_a::<MR>(mc - full * MR, kc, a.add(full * MR * rsa), rsa, csa, out.add(full * MR * kc));
        }
    }
}

/// [`pack::pack_b`] with an AVX2 fast path for column-major B (`rsb == 1`):
/// 8 columns x 8 depth steps at a time.
///
/// # Safety
/// As [`pack::pack_b`]; CPU supports AVX2.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) unsafe fn pack_b<const NR: usize>(kc: usize, nc: usize, b: *const f32, rsb: usize, csb: usize, out: *mut f32) {
    // SAFETY: the loads read `8` floats at `j*csb + p` with `j < NR*full`, `p + 8 <= kc` (inside
    // the block of `b`); the stores stay inside `ceil(nc/NR)*NR*kc` floats of `out`: the caller's
    // contract, as `pack::pack_b`'s, with AVX2 present.
    unsafe {
        const { assert!(NR.is_multiple_of(8)) };
        if rsb != 1 || csb == 1 || kc < 8 {
            return pack::pack_b::<NR>(kc, nc, b, rsb, csb, out);
        }
        let full = nc / NR;
        for t in 0..full {
            let src = b.add(t * NR * csb);
            let dst = out.add(t * NR * kc);
            let mut p = 0;
            while p + 8 <= kc {
                for j0 in (0..NR).step_by(8) {
                    let mut cols = [_mm256_setzero_ps(); 8];
                    for (j, v) in cols.iter_mut().enumerate() {
                        *v = _mm256_loadu_ps(src.add((j0 + j) * csb + p));
                    }
                    let rows = transpose8(cols);
                    for (q, v) in rows.iter().enumerate() {
                        _mm256_storeu_ps(dst.add((p + q) * NR + j0), *v);
                    }
                }
                p += 8;
            }
            for p in p..kc {
                for j in 0..NR {
                    *dst.add(p * NR + j) = *src.add(j * csb + p);
                }
            }
        }
        if full * NR < nc {
            pack::pack_b::<NR>(kc, nc - full * NR, b.add(full * NR * csb), rsb, csb, out.add(full * NR * kc));
        }
    }
}
