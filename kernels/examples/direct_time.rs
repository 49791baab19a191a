//! Times `direct::conv_single_channel` on one image (5x5 kernel, no padding), one thread, the
//! minimum of 7 rounds: `cargo run --release -p pupil-kernels --example direct_time [side]
//! [filters]` (48 and 64 by default: keras-hw3's conv1). Prints the useful GFLOP/s (the
//! convolution's multiply-adds) and the issued ones (the register blocks' FMAs, rows rounded up
//! to 48 outputs). On the shared 2-core VM of session 19 the same binary gave either ~72 or
//! ~117 µs per 48x48 image from one run to the next: alternate builds many times and compare
//! minima.
use pupil_kernels::{direct, Patches};
use std::time::Instant;

fn main() {
    let a: Vec<usize> = std::env::args().skip(1).filter_map(|s| s.parse().ok()).collect();
    let (h, o) = (a.first().copied().unwrap_or(48).max(5), a.get(1).copied().unwrap_or(64).max(1));
    let p = Patches { c: 1, h, w: h, kh: 5, kw: 5, sh: 1, sw: 1, ph: 0, pw: 0, oh: h - 4, ow: h - 4 };
    if !direct::available(&p) {
        println!("the direct kernel does not run here (it needs AVX-512)");
        return;
    }
    let x: Vec<f32> = (0..h * h).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
    let wt: Vec<f32> = (0..o * 25).map(|i| ((i * 31) % 17) as f32 / 17.0 - 0.5).collect();
    let mut y = vec![0f32; o * p.oh * p.ow];
    let mut s = vec![0f32; direct::scratch_len(&p, o)];
    let reps = (20_000_000 / (o * p.oh * p.ow)).max(1);
    let mut best = f64::MAX;
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..reps {
            direct::conv_single_channel(&p, o, &x, &wt, None, &mut y, &mut s);
        }
        best = best.min(t.elapsed().as_secs_f64() / reps as f64);
    }
    let fmas = o.div_ceil(8) * p.oh * p.ow.div_ceil(48) * 25 * 24;
    let useful = 2.0 * (o * 25 * p.oh * p.ow) as f64 / best / 1e9;
    println!(
        "{h}x{h}, {o} filters: {:.1} µs per image, {useful:.1} GFLOP/s useful, {:.1} issued ({})",
        best * 1e6,
        fmas as f64 * 32.0 / best / 1e9,
        y.iter().sum::<f32>()
    );
}
