//! The max pool's inner steps on [`L`] lanes at a time: a portable version and an AVX2 one
//! (the compiler does not vectorise the NaN-aware select of the portable version by itself).
//! Both compute exactly the same thing lane by lane.

/// Lanes per step (one AVX2 register of f32).
pub(super) const L: usize = 8;

/// The steps of the max pool's column and row passes, lane by lane:
/// - `take(x, y)`: `y` replaces the running maximum `x` if `y > x`, or `y` is a NaN and `x`
///   is not (a NaN wins, the first one stays);
/// - keyed versions also carry each candidate's position key and, in the row pass, let an
///   equal value (or a second NaN) win when its key is smaller (earlier in row-major order).
pub(super) trait Lanes {
    /// `a = take ? b : a`.
    fn max(a: &mut [f32; L], b: &[f32; L]);
    /// `take` replaces `a` by `b` and its key by `base + lane`.
    fn max_keyed_iota(a: &mut [f32; L], ak: &mut [u32; L], b: &[f32; L], base: u32);
    /// `take`, or equal (or both NaN) with `bk < ak`, replaces `(a, ak)` by `(b, bk)`.
    fn max_keyed(a: &mut [f32; L], ak: &mut [u32; L], b: &[f32; L], bk: &[u32; L]);
}

/// Plain Rust, any CPU.
pub(super) struct Portable;

impl Lanes for Portable {
    #[inline(always)]
    fn max(a: &mut [f32; L], b: &[f32; L]) {
        for j in 0..L {
            let (x, y) = (a[j], b[j]);
            a[j] = if (y > x) | (y.is_nan() & !x.is_nan()) { y } else { x };
        }
    }
    #[inline(always)]
    fn max_keyed_iota(a: &mut [f32; L], ak: &mut [u32; L], b: &[f32; L], base: u32) {
        for j in 0..L {
            let (x, y) = (a[j], b[j]);
            if (y > x) | (y.is_nan() & !x.is_nan()) {
                a[j] = y;
                ak[j] = base + j as u32;
            }
        }
    }
    #[inline(always)]
    fn max_keyed(a: &mut [f32; L], ak: &mut [u32; L], b: &[f32; L], bk: &[u32; L]) {
        for j in 0..L {
            let (x, y) = (a[j], b[j]);
            let earlier = bk[j] < ak[j];
            if (y > x) | ((y == x) & earlier) | (y.is_nan() & (!x.is_nan() | earlier)) {
                a[j] = y;
                ak[j] = bk[j];
            }
        }
    }
}

/// AVX2 intrinsics; only used from code compiled for AVX2 after the CPU was checked
/// ([`super::multiversion`]).
#[cfg(target_arch = "x86_64")]
pub(super) struct Avx2;

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::L;
    use std::arch::x86_64::*;

    /// `(y > x) | (isnan(y) & !isnan(x))` as a lane mask.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn take(x: __m256, y: __m256) -> __m256 {
        let gt = _mm256_cmp_ps::<_CMP_GT_OQ>(y, x);
        let nan = _mm256_and_ps(_mm256_cmp_ps::<_CMP_UNORD_Q>(y, y), _mm256_cmp_ps::<_CMP_ORD_Q>(x, x));
        _mm256_or_ps(gt, nan)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn max(a: &mut [f32; L], b: &[f32; L]) {
        // SAFETY: `a` and `b` are 8 f32 each, read and written unaligned.
        unsafe {
            let (x, y) = (_mm256_loadu_ps(a.as_ptr()), _mm256_loadu_ps(b.as_ptr()));
            _mm256_storeu_ps(a.as_mut_ptr(), _mm256_blendv_ps(x, y, take(x, y)));
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn max_keyed_iota(a: &mut [f32; L], ak: &mut [u32; L], b: &[f32; L], base: u32) {
        // SAFETY: `a`, `ak`, `b` are 8 lanes of 4 bytes each, read and written unaligned.
        unsafe {
            let (x, y) = (_mm256_loadu_ps(a.as_ptr()), _mm256_loadu_ps(b.as_ptr()));
            let t = take(x, y);
            let k = _mm256_loadu_si256(ak.as_ptr().cast());
            let nk = _mm256_add_epi32(_mm256_set1_epi32(base as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            _mm256_storeu_ps(a.as_mut_ptr(), _mm256_blendv_ps(x, y, t));
            let k = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(k), _mm256_castsi256_ps(nk), t));
            _mm256_storeu_si256(ak.as_mut_ptr().cast(), k);
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn max_keyed(a: &mut [f32; L], ak: &mut [u32; L], b: &[f32; L], bk: &[u32; L]) {
        // SAFETY: all four are 8 lanes of 4 bytes each, read and written unaligned.
        unsafe {
            let (x, y) = (_mm256_loadu_ps(a.as_ptr()), _mm256_loadu_ps(b.as_ptr()));
            let (xk, yk) = (_mm256_loadu_si256(ak.as_ptr().cast()), _mm256_loadu_si256(bk.as_ptr().cast()));
            // unsigned yk < xk: flip the sign bits, then a signed compare
            let sign = _mm256_set1_epi32(i32::MIN);
            let earlier = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_xor_si256(xk, sign), _mm256_xor_si256(yk, sign)));
            let eq = _mm256_cmp_ps::<_CMP_EQ_OQ>(y, x);
            let ynan = _mm256_cmp_ps::<_CMP_UNORD_Q>(y, y);
            let xnum = _mm256_cmp_ps::<_CMP_ORD_Q>(x, x);
            let gt = _mm256_cmp_ps::<_CMP_GT_OQ>(y, x);
            let t = _mm256_or_ps(_mm256_or_ps(gt, _mm256_and_ps(eq, earlier)), _mm256_and_ps(ynan, _mm256_or_ps(xnum, earlier)));
            _mm256_storeu_ps(a.as_mut_ptr(), _mm256_blendv_ps(x, y, t));
            let k = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(xk), _mm256_castsi256_ps(yk), t));
            _mm256_storeu_si256(ak.as_mut_ptr().cast(), k);
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl Lanes for Avx2 {
    #[inline(always)]
    fn max(a: &mut [f32; L], b: &[f32; L]) {
        // SAFETY: `Avx2` is only used by code that runs after AVX2 was detected.
        unsafe { avx2::max(a, b) }
    }
    #[inline(always)]
    fn max_keyed_iota(a: &mut [f32; L], ak: &mut [u32; L], b: &[f32; L], base: u32) {
        // SAFETY: as above.
        unsafe { avx2::max_keyed_iota(a, ak, b, base) }
    }
    #[inline(always)]
    fn max_keyed(a: &mut [f32; L], ak: &mut [u32; L], b: &[f32; L], bk: &[u32; L]) {
        // SAFETY: as above.
        unsafe { avx2::max_keyed(a, ak, b, bk) }
    }
}
