//! Elementwise loops in parallel over fixed-size chunks.
//!
//! Each element's result is computed by the same scalar code whatever the number of threads,
//! and chunk boundaries depend only on the length, so results are bit-identical under any
//! rayon pool. The inner loops are plain slice zips the compiler vectorises.

use rayon::prelude::*;

/// Elements per parallel task of the elementwise loops (16384 f32 = 64 KiB).
pub const CHUNK: usize = 1 << 14;

/// `out[i] = f(x[i])`, in parallel over chunks of [`CHUNK`] elements.
pub fn par_map(x: &[f32], f: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    let mut out = crate::alloc::buffer(x.len()); // written in full
    let kernel = |o: &mut [f32], x: &[f32]| {
        for (o, &v) in o.iter_mut().zip(x) {
            *o = f(v);
        }
    };
    if x.len() <= CHUNK {
        kernel(&mut out, x);
    } else {
        out.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(o, x)| kernel(o, x));
    }
    out
}

/// `out[i] = f(a[i], b[i])`, in parallel over chunks of [`CHUNK`] elements.
///
/// Panics if the two slices differ in length.
pub fn par_zip2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    assert!(a.len() == b.len(), "par_zip2: lengths differ: {} {}", a.len(), b.len());
    let mut out = crate::alloc::buffer(a.len()); // written in full
    let kernel = |o: &mut [f32], a: &[f32], b: &[f32]| {
        for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
            *o = f(a, b);
        }
    };
    if a.len() <= CHUNK {
        kernel(&mut out, a, b);
    } else {
        out.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK))).for_each(|(o, (a, b))| kernel(o, a, b));
    }
    out
}

/// `out[i] = f(a[i], b[i], c[i])`, in parallel over chunks of [`CHUNK`] elements.
///
/// Panics if the three slices differ in length.
pub fn par_zip3(a: &[f32], b: &[f32], c: &[f32], f: impl Fn(f32, f32, f32) -> f32 + Sync) -> Vec<f32> {
    assert!(a.len() == b.len() && b.len() == c.len(), "par_zip3: lengths differ: {} {} {}", a.len(), b.len(), c.len());
    let mut out = crate::alloc::buffer(a.len()); // written in full
    let kernel = |o: &mut [f32], a: &[f32], b: &[f32], c: &[f32]| {
        for (((o, &a), &b), &c) in o.iter_mut().zip(a).zip(b).zip(c) {
            *o = f(a, b, c);
        }
    };
    if a.len() <= CHUNK {
        kernel(&mut out, a, b, c);
    } else {
        out.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK)).zip(b.par_chunks(CHUNK).zip(c.par_chunks(CHUNK))).for_each(|((o, a), (b, c))| kernel(o, a, b, c));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn par_map_and_zip3_match_serial_on_any_pool() {
        let n = 3 * CHUNK + 17;
        let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
        let want: Vec<f32> = x.iter().map(|v| v * v + 1.0).collect();
        let want3: Vec<f32> = x.iter().map(|v| v * 2.0 - v * v).collect();
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let got = pool.install(|| par_map(&x, |v| v * v + 1.0));
            assert_eq!(got, want);
            let got3 = pool.install(|| par_zip3(&x, &x, &x, |a, b, c| a * 2.0 - b * c));
            assert_eq!(got3, want3);
            let got2 = pool.install(|| par_zip2(&x, &x, |a, b| a * 2.0 - b * b));
            assert_eq!(got2, want3);
        }
        assert!(par_map(&[], |v| v).is_empty());
    }
}
