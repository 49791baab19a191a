//! GFLOP/s of conv2d on the seed model's conv layers at batch 128, forward and
//! forward+backward, on 1 and 2 rayon threads (median of 7 runs), next to the forward GEMM
//! alone (`[O x C·kh·kw] · [C·kh·kw x 128·oh·ow]`, columns split over the threads) in
//! pupil-kernels. For matrixmultiply on the same shapes see the kernels crate's example:
//! `cargo run --release -p pupil-kernels --example gflops -- --shape 64x576x61952 ...`.
//!
//! `cargo run --release --example conv_gflops [layer-name-filter]` (also alexnet-bn's other
//! conv layers)
//!
//! FLOPs: forward `2·N·O·oh·ow·C·kh·kw`; forward+backward 3x that (dX, dW), 2x for the first
//! layer whose input needs no gradient. Besides wall-clock GFLOP/s the table gives GFLOP per
//! CPU-second of the process (`/cpu` columns, summed over its threads from
//! `/proc/self/task/*/schedstat`): on a shared, busy machine that still shows the efficiency
//! per core, while wall-clock numbers drop with the load.

use pupil::autograd::Graph;
use pupil::{ops, Tensor};
use rayon::prelude::*;
use std::time::Instant;

/// The seed models' conv layers, the same table `pupil bench --layers` times.
const LAYERS: [(&str, usize, usize, usize, usize, usize, bool); 4] = pupil::train::SEED_CONV_LAYERS;
/// alexnet-bn's other conv layers (its conv2 is the last seed layer).
const MORE_LAYERS: [(&str, usize, usize, usize, usize, usize, bool); 4] = [
    ("1->32 5x5 @48", 1, 32, 48, 5, 0, true),
    ("64->128 3x3 p1 @9", 64, 128, 9, 3, 1, false),
    ("128->256 3x3 p1 @9", 128, 256, 9, 3, 1, false),
    ("256->128 1x1 @7", 256, 128, 7, 1, 0, false),
];
const N: usize = 128;
const RUNS: usize = 7;

/// CPU time of all threads of this process, in seconds.
fn cpu_time() -> f64 {
    let mut ns = 0u64;
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for t in dir.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
                ns += s.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0);
            }
        }
    }
    ns as f64 * 1e-9
}

/// Median wall time and median CPU time of `RUNS` runs after a warm-up.
fn median(mut f: impl FnMut()) -> (f64, f64) {
    f();
    let (mut wall, mut cpu): (Vec<f64>, Vec<f64>) = (0..RUNS)
        .map(|_| {
            let (s, c) = (Instant::now(), cpu_time());
            f();
            (s.elapsed().as_secs_f64(), cpu_time() - c)
        })
        .unzip();
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    (wall[RUNS / 2], cpu[RUNS / 2])
}

/// The forward GEMM alone, its columns split into `threads` blocks (block `t` of B is its own
/// row-major `k x nj` matrix, block `t` of C its own `m x nj`).
fn gemm(threads: usize, m: usize, k: usize, n: usize, a: &[f32], bm: &[f32], c: &mut [f32]) {
    let cols = n.div_ceil(threads);
    c.par_chunks_mut(cols * m).zip(bm.par_chunks(cols * k)).for_each(|(c, b)| {
        let nj = c.len() / m;
        pupil_kernels::sgemm(m, k, nj, 1.0, a, k, 1, b, nj, 1, 0.0, c, nj);
    })
}

fn main() {
    let only: Option<String> = std::env::args().nth(1);
    println!("pupil conv2d, batch {N}, median of {RUNS} runs, GFLOP/s (sgemm ISA: {})", pupil_kernels::sgemm_isa());
    println!("{:<20} {:>3} {:>8} {:>9} {:>10} | {:>8} {:>9} {:>10}", "layer", "thr", "fwd", "fwd+bwd", "gemm", "fwd/cpu", "f+b/cpu", "pk/cpu");
    for (name, ci, co, hw, k, pad, first) in LAYERS.into_iter().chain(MORE_LAYERS).filter(|l| only.as_deref().is_none_or(|o| l.0.contains(o))) {
        let oh = hw + 2 * pad - k + 1;
        let (m, kk, n) = (co, ci * k * k, N * oh * oh);
        let flops = 2.0 * (m * kk * n) as f64;
        let x = Tensor::rand_normal(&[N, ci, hw, hw], 0.0, 1.0, 1);
        let w = Tensor::rand_normal(&[co, ci, k, k], 0.0, 0.1, 2);
        let b = Tensor::rand_normal(&[co], 0.0, 0.1, 3);
        let seed = Tensor::rand_normal(&[N, co, oh, oh], 0.0, 1.0, 4);
        let a = Tensor::rand_normal(&[m, kk], 0.0, 1.0, 5);
        let bm = Tensor::rand_normal(&[kk, n], 0.0, 1.0, 6);
        let mut c = vec![0.0f32; m * n];
        let conv = |backward: bool| {
            let g = if backward { Graph::new() } else { Graph::no_grad() };
            let xv = if first { g.constant(x.clone()) } else { g.leaf(x.clone()) };
            let (wv, bv) = (g.leaf(w.clone()), g.leaf(b.clone()));
            let y = ops::conv2d(&xv, &wv, Some(&bv), (1, 1), (pad, pad)).unwrap();
            if backward {
                std::hint::black_box(y.backward_with(seed.clone()).unwrap());
            }
            std::hint::black_box(y);
        };
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let fwd = pool.install(|| median(|| conv(false)));
            let both = pool.install(|| median(|| conv(true)));
            let pk = pool.install(|| median(|| gemm(threads, m, kk, n, a.data(), bm.data(), &mut c)));
            let mult = if first { 2.0 } else { 3.0 };
            let g = |f: f64, t: f64| f / t / 1e9;
            println!(
                "{:<20} {:>3} {:>8.1} {:>9.1} {:>10.1} | {:>8.1} {:>9.1} {:>10.1}",
                name,
                threads,
                g(flops, fwd.0),
                g(mult * flops, both.0),
                g(flops, pk.0),
                g(flops, fwd.1),
                g(mult * flops, both.1),
                g(flops, pk.1)
            );
        }
    }
}
