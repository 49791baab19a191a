//! Output buffers for the ops' large outputs, recycled.
//!
//! A training step asks for the same large buffers every step (a 128 x 64 x 44 x 44 conv output
//! is 63 MB). The allocator maps such buffers fresh from the OS on every call, and the kernel
//! then zeroes each page on first touch: page faults and zeroing took about a sixth of a
//! keras-hw3 step. So buffers of at least [`POOL_MIN`] floats are kept when their owner drops
//! them ([`recycle`]; `pupil`'s tensors do it) and handed out again: [`buffer`] (stale contents,
//! for outputs written in full) or [`zeroed`]. [`release`] empties the pool.
//!
//! Which buffer serves a request of `len` floats:
//! 1. the most recently recycled one of exactly `len` floats;
//! 2. else the smallest one holding more than `len` and fewer than [`MAX_SLACK`]` · len`
//!    floats, cut to `len`; it returns to the pool as it is, and a later request for more
//!    than its length restores (zeroes) the floats it lacks. The last, smaller
//!    batch of an epoch borrows the full batches' buffers instead of adding its own beside them.
//!    A step may borrow this way every time; the pattern still repeats without misses, but the
//!    lender then needs a second buffer. Fewer than 4x, strictly: a 2x2-strided output is exactly
//!    4x smaller than its input, and keras-hw3's steps borrowing the idle 44x44 buffer for a 22x22
//!    output kept a second 63 MB buffer (a training epoch's peak 487 against 435 MB);
//! 3. else a new one. A miss evicts nothing: in a repeating pattern (training steps) the
//!    buffers in the pool are the ones the rest of the step is about to ask for. Evicting the
//!    oldest on every miss, as this pool first did, kept a keras-hw3 step missing on every
//!    gradient, step after step: about 110 MB allocated and zeroed per step, and a peak
//!    memory that varied by 100 MB from run to run.
//!
//! What it keeps: no more buffers of a length than were ever out at once (buffers that other
//! code allocates and drops, a batch built with `collect`, would otherwise pile up to the cap),
//! and at most [`POOL_CAP_BYTES`] in all, dropping the oldest first.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Buffers of at least this many floats (4 MiB) are advised to use transparent huge pages.
const HUGE_ADVICE_MIN: usize = 1 << 20;

/// Smallest buffer the pool keeps (64 Ki floats, 256 KiB): smaller ones are the allocator's
/// business, which it does well.
pub const POOL_MIN: usize = 1 << 16;

/// Most bytes the pool holds: 2 GiB, room for a keras-hw3 training step's buffers on 96x96
/// images at batch 128 (512 MiB made that step allocate about 490 MB anew every time). The
/// per-length bound keeps the pool near the largest set of buffers a step had out at once,
/// which the step's peak holds anyway.
pub const POOL_CAP_BYTES: usize = 2 << 30;

/// A request takes a larger pooled buffer only if it is less than this many times its length
/// (and a buffer with that much spare capacity is not pooled): bounds the memory a long-lived
/// small tensor can hold.
pub const MAX_SLACK: usize = 4;

/// Recycled buffers, oldest first (each known by its capacity; its length may be shorter), and the demand for each
/// length.
#[derive(Debug)]
struct Pool {
    bufs: Vec<Vec<f32>>,
    bytes: usize,
    /// Most bytes held ([`POOL_CAP_BYTES`] for the process-wide pool).
    cap: usize,
    misses: usize,
    demand: BTreeMap<usize, Demand>,
}

/// Buffers of one length handed out ([`Pool::take`] and misses) and not yet given back, now
/// and at most so far. The pool keeps no more buffers of a length than its peak: buffers that
/// other code allocates and drops (a batch built with `collect`) would otherwise pile up.
#[derive(Debug, Default, Clone, Copy)]
struct Demand {
    out: usize,
    peak: usize,
}

fn bytes_of(v: &Vec<f32>) -> usize {
    v.capacity() * std::mem::size_of::<f32>()
}

impl Pool {
    const fn new(cap: usize) -> Pool {
        Pool { bufs: Vec::new(), bytes: 0, cap, misses: 0, demand: BTreeMap::new() }
    }

    /// Counts one more buffer of `len` floats handed out.
    fn hand_out(&mut self, len: usize) {
        let d = self.demand.entry(len).or_default();
        d.out += 1;
        d.peak = d.peak.max(d.out);
    }

    /// A pooled buffer for `len` floats (rule 1 or 2 of the module docs), cut to `len`; None
    /// (a miss, counted as a buffer of `len` handed out) when there is none.
    fn take(&mut self, len: usize) -> Option<Vec<f32>> {
        if len < POOL_MIN {
            return None;
        }
        let exact = self.bufs.iter().rposition(|v| v.capacity() == len);
        let fit = || {
            let fits = |v: &&Vec<f32>| v.capacity() > len && v.capacity() < MAX_SLACK * len;
            let best = self.bufs.iter().filter(fits).map(|v| v.capacity()).min()?;
            self.bufs.iter().rposition(|v| v.capacity() == best)
        };
        let Some(i) = exact.or_else(fit) else {
            self.misses += 1;
            self.hand_out(len);
            return None;
        };
        let mut v = self.bufs.remove(i);
        self.bytes -= bytes_of(&v);
        self.hand_out(v.capacity());
        // Cut or lengthened to `len`, without reallocating. Cutting writes nothing; a buffer
        // shorter than `len` (cut by an earlier request, or recycled with spare capacity) has
        // its missing floats zeroed, which a repeating pattern of requests never needs after
        // the first time. Restoring the full length when a cut buffer returned wrote its
        // whole tail instead, megabytes at each return (3% of an alexnet-bn inference pass).
        if v.len() > len {
            v.truncate(len);
        } else {
            v.resize(len, 0.0);
        }
        Some(v)
    }

    /// Keeps `v` (as it is: its capacity is what it holds), returning the buffers it no longer holds: `v`
    /// itself when it is too small, has too much spare capacity, or its length has as many
    /// buffers waiting as it ever had out at once; or the oldest ones past the cap. The caller
    /// frees them outside the lock.
    fn put(&mut self, v: Vec<f32>) -> Vec<Vec<f32>> {
        let (cap, bytes) = (v.capacity(), bytes_of(&v));
        // one fewer out of its length (counted by full capacity, as `take` lent it), whether
        // the pool keeps it or not; a length never lent has no entry and a peak of 0
        let peak = self.demand.get_mut(&cap).map_or(0, |d| {
            d.out = d.out.saturating_sub(1);
            d.peak
        });
        let waiting = self.bufs.iter().filter(|b| b.capacity() == cap).count();
        if v.len() < POOL_MIN || cap >= MAX_SLACK * v.len() || bytes > self.cap || waiting >= peak {
            return vec![v];
        }
        let mut evicted = Vec::new();
        while self.bytes + bytes > self.cap && !self.bufs.is_empty() {
            let old = self.bufs.remove(0);
            self.bytes -= bytes_of(&old);
            evicted.push(old);
        }
        self.bytes += bytes;
        self.bufs.push(v);
        evicted
    }
}

/// The process-wide pool.
static POOL: Mutex<Pool> = Mutex::new(Pool::new(POOL_CAP_BYTES));

fn pool() -> std::sync::MutexGuard<'static, Pool> {
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

fn take(len: usize) -> Option<Vec<f32>> {
    if len < POOL_MIN {
        return None; // no lock for the small ones
    }
    pool().take(len)
}

/// Gives `v` to the pool for a later [`buffer`] or [`zeroed`]; buffers under [`POOL_MIN`]
/// floats are simply freed. The oldest pooled buffers are freed when the pool would exceed
/// [`POOL_CAP_BYTES`].
pub fn recycle(v: Vec<f32>) {
    if v.len() < POOL_MIN {
        return;
    }
    let evicted = pool().put(v);
    drop(evicted); // freed outside the lock
}

/// Frees every pooled buffer.
pub fn release() {
    let old = {
        let mut p = pool();
        p.bytes = 0;
        std::mem::take(&mut p.bufs)
    };
    drop(old); // freed outside the lock
}

/// Bytes the pool holds now.
pub fn pooled_bytes() -> usize {
    pool().bytes
}

/// Requests of a poolable size the pool could not serve so far (each allocated a new buffer).
pub fn misses() -> usize {
    pool().misses
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

    /// What [`buffer`] does, on `pool`.
    fn lend(pool: &mut Pool, len: usize) -> Vec<f32> {
        pool.take(len).unwrap_or_else(|| vec![0.0; len])
    }

    /// A training step's pattern of requests on `pool`: the forward asks for `fwd` buffers and
    /// keeps them (the tape), the backward asks for each gradient while the one before it is
    /// still alive, then everything is given back. Lengths are scaled by `num / 128` (a last,
    /// smaller batch). Returns the misses of this step.
    fn step(pool: &mut Pool, fwd: &[usize], bwd: &[usize], num: usize) -> usize {
        let before = pool.misses;
        let get = |pool: &mut Pool, len: usize| lend(pool, len * num / 128);
        let tape: Vec<Vec<f32>> = fwd.iter().map(|&l| get(pool, l)).collect();
        let mut grad = get(pool, bwd[0]);
        for &l in &bwd[1..] {
            let next = get(pool, l);
            drop(pool.put(std::mem::replace(&mut grad, next)));
        }
        drop(pool.put(grad));
        for t in tape {
            drop(pool.put(t));
        }
        pool.misses - before
    }

    /// keras-hw3's lengths at batch 128 (in floats), forward then backward: the old policy
    /// (evict the oldest buffers on a miss) missed every gradient in every step.
    const FWD: [usize; 9] = [15_859_712, 3_964_928, 3_964_928, 3_964_928, 819_200, 1_638_400, 1_638_400, 409_600, 131_072];
    const BWD: [usize; 9] = [131_072, 409_600, 1_638_400, 1_638_400, 819_200, 3_964_928, 3_964_928, 15_859_712, 294_912];

    #[test]
    fn repeated_steps_stop_missing_after_the_first() {
        let mut pool = Pool::new(POOL_CAP_BYTES);
        let first = step(&mut pool, &FWD, &BWD, 128);
        assert!(first >= FWD.len(), "a cold pool misses ({first})");
        for k in 2..6 {
            assert_eq!(step(&mut pool, &FWD, &BWD, 128), 0, "step {k}");
        }
        // a last, smaller batch borrows the full batch's buffers: almost no new memory (a
        // greedy smallest fit leaves a few small requests without one) ...
        let full = pool.bytes;
        step(&mut pool, &FWD, &BWD, 37);
        let bytes = pool.bytes;
        assert!(bytes < full + full / 50, "{full} -> {bytes} bytes");
        assert_eq!(step(&mut pool, &FWD, &BWD, 37), 0, "the next smaller batch");
        // ... and gives them back whole: the next full steps still hit
        for k in 0..3 {
            assert_eq!(step(&mut pool, &FWD, &BWD, 128), 0, "full step {k} after the small one");
        }
        assert_eq!(pool.bytes, bytes);
    }

    #[test]
    fn takes_exact_lengths_first_then_the_smallest_that_fits() {
        let mut pool = Pool::new(POOL_CAP_BYTES);
        let n = POOL_MIN;
        let lent: Vec<Vec<f32>> = [4 * n + 8, 2 * n, 3 * n, 2 * n].into_iter().map(|l| lend(&mut pool, l)).collect();
        for v in lent {
            assert!(pool.put(v).is_empty());
        }
        assert_eq!(pool.bytes, (11 * n + 8) * 4);
        let newest = pool.bufs[3].as_ptr();
        assert_eq!(pool.take(2 * n).map(|v| v.as_ptr()), Some(newest), "exact, most recent");
        // 2n + 1: the smallest larger one, cut to length
        let v = pool.take(2 * n + 1).unwrap();
        assert_eq!((v.len(), v.capacity()), (2 * n + 1, 3 * n));
        // back as it is, and lent again whole: the floats it lacked are zeros, the rest kept
        let p = v.as_ptr();
        let mut v = v;
        v.fill(7.0);
        assert!(pool.put(v).is_empty());
        let v = pool.take(3 * n).unwrap();
        assert_eq!((v.as_ptr(), v.len()), (p, 3 * n));
        assert!(v[..2 * n + 1].iter().all(|&x| x == 7.0) && v[2 * n + 1..].iter().all(|&x| x == 0.0));
        assert!(pool.put(v).is_empty());
        // n + 1 fits 3n and 2n (2n taken), but not 4n + 8 (MAX_SLACK times or more)
        assert_eq!(pool.take(n + 1).map(|v| v.capacity()), Some(2 * n));
        assert_eq!(pool.take(n + 1).map(|v| v.capacity()), Some(3 * n));
        assert!(pool.take(n + 1).is_none());
        assert!(pool.take(n + 2).is_none(), "exactly MAX_SLACK times is too large");
        assert_eq!(pool.misses, 6);
        // too small, or too much spare capacity: not kept
        assert_eq!(pool.put(vec![0.0; n - 1]).len(), 1);
        let mut spare = Vec::with_capacity(MAX_SLACK * n + 8);
        spare.resize(n, 0.0);
        assert_eq!(pool.put(spare).len(), 1);
        assert_eq!(pool.bytes, (4 * n + 8) * 4);
    }

    #[test]
    fn buffers_it_did_not_lend_do_not_pile_up() {
        let mut pool = Pool::new(POOL_CAP_BYTES);
        for k in 0..5 {
            step(&mut pool, &FWD, &BWD, 128);
            let bytes = pool.bytes;
            // a batch built elsewhere each step (its length also one the step asks for), and one
            // of a length nobody asks for
            assert_eq!(pool.put(vec![0.0; 409_600]).len(), 1, "step {k}");
            assert_eq!(pool.put(vec![0.0; POOL_MIN + 1]).len(), 1, "step {k}");
            assert_eq!(pool.bytes, bytes);
        }
        // given back while its own buffer is out, it takes that one's place
        let a = lend(&mut pool, 409_600);
        assert!(pool.put(vec![0.0; 409_600]).is_empty());
        assert_eq!(pool.put(a).len(), 1);
    }

    #[test]
    fn the_cap_drops_the_oldest() {
        let mut pool = Pool::new(64 << 20);
        let big = pool.cap / 4 / 3 + 1; // three of these exceed the cap
        let bufs: Vec<Vec<f32>> = (0..3).map(|_| lend(&mut pool, big)).collect();
        let first = bufs[0].as_ptr();
        let evicted: Vec<Vec<f32>> = bufs.into_iter().flat_map(|b| pool.put(b)).collect();
        assert_eq!((evicted.len(), evicted[0].as_ptr()), (1, first));
        assert_eq!(pool.bytes, 2 * big * 4);
        assert!(pool.bytes <= pool.cap);
        // one larger than the cap is not kept, but counts as given back
        let over = pool.cap / 4 + 1;
        let huge = lend(&mut pool, over);
        assert_eq!(pool.demand[&over].out, 1);
        assert_eq!(pool.put(huge).len(), 1);
        assert_eq!(pool.demand[&over].out, 0);
        // a length never lent leaves no trace
        assert_eq!(pool.put(vec![0.0; POOL_MIN + 5]).len(), 1);
        assert!(!pool.demand.contains_key(&(POOL_MIN + 5)));
    }

    /// The process-wide functions (one test, so parallel tests do not see each other's buffers;
    /// other tests of this crate may use the pool meanwhile, so only what holds anyway).
    #[test]
    fn buffer_zeroed_recycle_release() {
        let len = POOL_MIN + 3;
        let mut v = buffer(len);
        v.fill(7.0);
        recycle(v);
        let z = zeroed(len);
        assert_eq!(z.len(), len);
        assert!(z.iter().all(|&x| x.to_bits() == 0));
        recycle(z);
        if cfg!(debug_assertions) {
            let b = buffer(len);
            assert!(b.iter().all(|x| x.is_nan() || *x == 0.0), "debug builds poison recycled buffers");
        }
        release();
        recycle(vec![1.0; POOL_MIN - 1]); // small buffers are not kept
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
