//! Zeroed output buffers for the ops' large outputs.

/// Buffers of at least this many floats (4 MiB) are advised to use transparent huge pages.
const HUGE_ADVICE_MIN: usize = 1 << 20;

/// A zeroed buffer of `len` floats. On Linux, buffers of several MB are advised to use
/// transparent huge pages: the allocator maps them fresh on every call, and faulting in 4 KB
/// pages one by one costs more than the first layer's GEMM (a 128 x 64 x 44 x 44 output is
/// 63 MB). Only the 2 MiB-aligned middle of the buffer is advised; the advice changes how
/// pages are backed, never their contents, and a failure (no THP support) is ignored.
pub fn zeroed(len: usize) -> Vec<f32> {
    let v = vec![0.0f32; len];
    #[cfg(target_os = "linux")]
    if len >= HUGE_ADVICE_MIN {
        const HUGE: usize = 2 << 20;
        let lo = v.as_ptr() as usize;
        let hi = lo + std::mem::size_of_val(v.as_slice());
        let (start, end) = (lo.next_multiple_of(HUGE), hi / HUGE * HUGE);
        if end > start {
            // SAFETY: `start..end` lies inside `v`'s live allocation (rounded inwards to 2 MiB
            // boundaries); MADV_HUGEPAGE only changes how those pages are backed, never their
            // contents or the mapping's validity, so no Rust reference is affected.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::zeroed;

    #[test]
    fn zeroed_is_zero_small_and_large() {
        for len in [0, 1, 1000, (1 << 20) + 7, 3 << 20] {
            let v = zeroed(len);
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|&x| x.to_bits() == 0), "len {len}");
        }
    }
}
