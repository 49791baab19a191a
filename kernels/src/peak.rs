//! The machine's own FP32 FMA peak, measured: a loop of 16 independent vector accumulators
//! (enough to hide FMA latency on two pipes) run for a fixed time on each thread. Reported so
//! that benchmarks can state throughput as a fraction of what this CPU can do.

use std::time::{Duration, Instant};

/// Multiply-adds per call of one inner block: 16 accumulators x `lanes` x `ITERS`.
const ITERS: usize = 4096;

#[cfg(target_arch = "x86_64")]
/// # Safety
/// The CPU supports AVX-512F.
#[target_feature(enable = "avx512f")]
unsafe fn fma_block_avx512(seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let x = _mm512_set1_ps(0.999_999);
    let y = _mm512_set1_ps(seed * 1e-7);
    let mut a = [_mm512_set1_ps(1.0); 16];
    for _ in 0..ITERS {
        for acc in a.iter_mut() {
            *acc = _mm512_fmadd_ps(*acc, x, y);
        }
    }
    let mut s = _mm512_setzero_ps();
    for acc in a {
        s = _mm512_add_ps(s, acc);
    }
    _mm512_reduce_add_ps(s)
}

#[cfg(target_arch = "x86_64")]
/// # Safety
/// The CPU supports AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_block_avx2(seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let x = _mm256_set1_ps(0.999_999);
    let y = _mm256_set1_ps(seed * 1e-7);
    let mut a = [_mm256_set1_ps(1.0); 16];
    for _ in 0..ITERS {
        for acc in a.iter_mut() {
            *acc = _mm256_fmadd_ps(*acc, x, y);
        }
    }
    let mut out = [0f32; 8];
    let mut s = _mm256_setzero_ps();
    for acc in a {
        s = _mm256_add_ps(s, acc);
    }
    // SAFETY: `out` holds exactly the 8 floats the store writes.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
    out.iter().sum()
}

fn fma_block_portable(seed: f32) -> f32 {
    use wide::f32x8;
    let (x, y) = (f32x8::splat(0.999_999), f32x8::splat(seed * 1e-7));
    let mut a = [f32x8::splat(1.0); 16];
    for _ in 0..ITERS {
        for acc in a.iter_mut() {
            *acc = acc.mul_add(x, y);
        }
    }
    a.iter().fold(f32x8::splat(0.0), |s, &v| s + v).reduce_add()
}

/// (lanes per vector, one block of work) for the widest FMA this CPU has.
fn best_block() -> (usize, fn(f32) -> f32) {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the feature was detected just above.
            return (16, |s| unsafe { fma_block_avx512(s) });
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the features were detected just above.
            return (8, |s| unsafe { fma_block_avx2(s) });
        }
    }
    (8, fma_block_portable)
}

/// FP32 GFLOP/s of FMA loops on `threads` OS threads at once (one FMA = 2 FLOPs per lane):
/// the best of three rounds of about `time / 3` each, the first of which also warms the core
/// up to its full clock.
pub fn fma_peak_gflops(threads: usize, time: Duration) -> f64 {
    (0..3).map(|_| fma_round(threads, time / 3)).fold(0.0, f64::max)
}

fn fma_round(threads: usize, time: Duration) -> f64 {
    let (lanes, block) = best_block();
    let threads = threads.max(1);
    let t0 = Instant::now();
    let blocks: usize = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let start = Instant::now();
                    let (mut n, mut sink) = (0usize, 0f32);
                    while start.elapsed() < time {
                        sink += block(t as f32 + n as f32);
                        n += 1;
                    }
                    std::hint::black_box(sink);
                    n
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let secs = t0.elapsed().as_secs_f64();
    (blocks * ITERS * 16 * lanes * 2) as f64 / secs / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_is_positive_and_finite() {
        let g = fma_peak_gflops(1, Duration::from_millis(20));
        assert!(g.is_finite() && g > 0.1, "{g}");
    }
}
