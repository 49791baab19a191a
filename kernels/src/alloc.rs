//! Output buffers for the ops' large outputs, recycled.
//!
//! A training step asks for the same large buffers every step (a 128 x 64 x 44 x 44 conv output
//! is 63 MB). The allocator maps such buffers fresh from the OS on every call, and the kernel
//! then zeroes each page on first touch: page faults and zeroing took about a sixth of a
//! keras-hw3 step. So buffers of at least [`POOL_MIN`] floats are kept when their owner drops
//! them ([`recycle`]; `pupil`'s tensors do it) and handed out again for a request of the same
//! length: [`buffer`] (stale contents, for outputs written in full) or [`zeroed`]. The pool
//! holds at most [`POOL_CAP_BYTES`], dropping the oldest buffers first, and a request it cannot
//! serve frees as many bytes of old buffers as it asks for; [`release`] empties it.

use std::sync::Mutex;

/// Buffers of at least this many floats (4 MiB) are advised to use transparent huge pages.
const HUGE_ADVICE_MIN: usize = 1 << 20;

/// Smallest buffer the pool keeps (64 Ki floats, 256 KiB): smaller ones are the allocator's
/// business, which it does well.
pub const POOL_MIN: usize = 1 << 16;

/// Most bytes the pool holds.
pub const POOL_CAP_BYTES: usize = 512 << 20;

/// Recycled buffers, oldest first, and their total size in bytes.
static POOL: Mutex<(Vec<Vec<f32>>, usize)> = Mutex::new((Vec::new(), 0));

/// Takes a pooled buffer of exactly `len` floats (the most recently recycled one), if any. On a
/// miss, frees the oldest pooled buffers until as many bytes as asked for are freed, so the
/// allocator can reuse that memory: when the sizes change (validation batches after training
/// batches) the pool does not hold a step's worth of memory beside the new buffers.
fn take(len: usize) -> Option<Vec<f32>> {
    if len < POOL_MIN {
        return None;
    }
    let mut evicted = Vec::new();
    let found = {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        match pool.0.iter().rposition(|v| v.len() == len) {
            Some(i) => {
                let v = pool.0.remove(i);
                pool.1 -= std::mem::size_of_val(v.as_slice());
                Some(v)
            }
            None => {
                let mut freed = 0;
                while freed < len * std::mem::size_of::<f32>() && !pool.0.is_empty() {
                    let old = pool.0.remove(0);
                    freed += std::mem::size_of_val(old.as_slice());
                    pool.1 -= std::mem::size_of_val(old.as_slice());
                    evicted.push(old);
                }
                None
            }
        }
    };
    drop(evicted); // freed outside the lock
    found
}

/// Gives `v` to the pool for a later [`buffer`] or [`zeroed`] of its length; buffers under
/// [`POOL_MIN`] floats are simply freed. The oldest pooled buffers are freed when the pool
/// would exceed [`POOL_CAP_BYTES`].
pub fn recycle(v: Vec<f32>) {
    let bytes = std::mem::size_of_val(v.as_slice());
    if v.len() < POOL_MIN || bytes > POOL_CAP_BYTES {
        return;
    }
    let mut evicted = Vec::new();
    {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        while pool.1 + bytes > POOL_CAP_BYTES && !pool.0.is_empty() {
            let old = pool.0.remove(0);
            pool.1 -= std::mem::size_of_val(old.as_slice());
            evicted.push(old);
        }
        pool.0.push(v);
        pool.1 += bytes;
    }
    drop(evicted); // freed outside the lock
}

/// Frees every pooled buffer.
pub fn release() {
    let old = std::mem::take(&mut *POOL.lock().unwrap_or_else(|e| e.into_inner()));
    drop(old);
}

/// Bytes the pool holds now.
pub fn pooled_bytes() -> usize {
    POOL.lock().unwrap_or_else(|e| e.into_inner()).1
}

/// A buffer of `len` floats whose contents are unspecified (stale values of a recycled buffer,
/// or zeros): for outputs that are written in full before they are read. Debug builds fill
/// recycled buffers with NaN, so an output that is not written in full shows in the tests.
pub fn buffer(len: usize) -> Vec<f32> {
    match take(len) {
        Some(v) => {
            #[cfg(debug_assertions)]
            let v = {
                let mut v = v;
                v.fill(f32::NAN);
                v
            };
            v
        }
        None => fresh(len),
    }
}

/// A zeroed buffer of `len` floats (a recycled one, cleared, when the pool has one).
pub fn zeroed(len: usize) -> Vec<f32> {
    match take(len) {
        Some(mut v) => {
            v.fill(0.0);
            v
        }
        None => fresh(len),
    }
}

/// A new zeroed buffer of `len` floats. On Linux, buffers of several MB are advised to use
/// transparent huge pages: faulting in 4 KB pages one by one costs more than the first layer's
/// GEMM. Only the 2 MiB-aligned middle of the buffer is advised; the advice changes how pages
/// are backed, never their contents, and a failure (no THP support) is ignored.
fn fresh(len: usize) -> Vec<f32> {
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
    use super::*;

    /// One test for everything that touches the process-wide pool, so tests running in
    /// parallel threads do not see each other's buffers.
    #[test]
    fn the_pool_hands_back_equal_lengths_and_respects_its_cap() {
        release();
        let len = POOL_MIN + 3;
        recycle(buffer(len));
        assert_eq!(pooled_bytes(), len * 4);
        // another length does not take it, but a miss frees as many bytes as it asks for
        let other = buffer(len + 1);
        assert_eq!((other.len(), pooled_bytes()), (len + 1, 0));
        let mut v = buffer(len); // a miss with an empty pool
        v.fill(7.0);
        let ptr = v.as_ptr();
        recycle(other);
        recycle(v);
        // the same length takes its own buffer (the other one stays)
        let z = zeroed(len);
        assert_eq!((z.as_ptr(), z.len(), pooled_bytes()), (ptr, len, (len + 1) * 4));
        assert!(z.iter().all(|&x| x == 0.0));
        recycle(z);
        let b = buffer(len);
        assert_eq!(b.as_ptr(), ptr);
        if cfg!(debug_assertions) {
            assert!(b.iter().all(|x| x.is_nan()), "debug builds poison recycled buffers");
        }
        drop(b);
        release();
        // small buffers are not kept
        recycle(vec![1.0; POOL_MIN - 1]);
        assert_eq!(pooled_bytes(), 0);
        // the cap: the oldest go first
        let big = POOL_CAP_BYTES / 4 / 3 + 1; // three of these exceed the cap
        let bufs: Vec<Vec<f32>> = (0..3).map(|i| vec![i as f32; big]).collect();
        let first = bufs[0].as_ptr();
        for b in bufs {
            recycle(b);
        }
        assert!(pooled_bytes() <= POOL_CAP_BYTES);
        assert_eq!(pooled_bytes(), 2 * big * 4);
        let a = buffer(big);
        let b = buffer(big);
        assert!(a.as_ptr() != first && b.as_ptr() != first, "the oldest buffer was freed");
        release();
        assert_eq!(pooled_bytes(), 0);
    }

    #[test]
    fn zeroed_is_zero_small_and_large() {
        for len in [0, 1, 1000, (1 << 20) + 7, 3 << 20] {
            let v = zeroed(len);
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|&x| x.to_bits() == 0), "len {len}");
        }
    }
}
