//! GFLOP/s of conv2d on the seed model's conv layers at batch 128, forward and
//! forward+backward, on 1 and 2 rayon threads (median of 7 runs), next to the forward GEMM
//! alone (`[O x C·kh·kw] · [C·kh·kw x 128·oh·ow]`) in matrixmultiply and pupil-kernels.
//!
//! `cargo run --release --example conv_gflops`
//!
//! FLOPs: forward `2·N·O·oh·ow·C·kh·kw`; forward+backward 3x that (dX, dW), 2x for the first
//! layer whose input needs no gradient.

use pupil::autograd::Graph;
use pupil::{ops, Tensor};
use std::time::Instant;

struct Layer {
    name: &'static str,
    c: usize,
    o: usize,
    hw: usize,
    k: usize,
    pad: usize,
    first: bool,
}

const LAYERS: [Layer; 4] = [
    Layer {
        name: "1->64 5x5 @48",
        c: 1,
        o: 64,
        hw: 48,
        k: 5,
        pad: 0,
        first: true,
    },
    Layer {
        name: "64->64 3x3 p1 @22",
        c: 64,
        o: 64,
        hw: 22,
        k: 3,
        pad: 1,
        first: false,
    },
    Layer {
        name: "64->128 3x3 p1 @10",
        c: 64,
        o: 128,
        hw: 10,
        k: 3,
        pad: 1,
        first: false,
    },
    Layer {
        name: "32->64 5x5 @22",
        c: 32,
        o: 64,
        hw: 22,
        k: 5,
        pad: 0,
        first: false,
    },
];
const N: usize = 128;
const RUNS: usize = 7;

fn median(mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let mut t: Vec<f64> = (0..RUNS)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    t[RUNS / 2]
}

fn conv(l: &Layer, x: &Tensor, w: &Tensor, b: &Tensor, backward: bool) {
    let g = if backward {
        Graph::new()
    } else {
        Graph::no_grad()
    };
    let xv = if l.first {
        g.constant(x.clone())
    } else {
        g.leaf(x.clone())
    };
    let (wv, bv) = (g.leaf(w.clone()), g.leaf(b.clone()));
    let y = ops::conv2d(&xv, &wv, Some(&bv), (1, 1), (l.pad, l.pad)).unwrap();
    if backward {
        let gr = y.backward_with(Tensor::ones(y.shape())).unwrap();
        std::hint::black_box(gr.wrt(&wv));
    }
    std::hint::black_box(y);
}

/// The forward GEMM alone, its columns split into `threads` blocks (block `t` of B is its own
/// row-major `k x nj` matrix, block `t` of C its own `m x nj`).
#[allow(clippy::too_many_arguments)]
fn gemm(
    threads: usize,
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    bm: &[f32],
    c: &mut [f32],
    mm: bool,
) {
    use rayon::prelude::*;
    let cols = n.div_ceil(threads);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        c.par_chunks_mut(cols * m)
            .zip(bm.par_chunks(cols * k))
            .for_each(|(c, b)| {
                let nj = c.len() / m;
                if mm {
                    // SAFETY: a is m x k, b is k x nj, c is m x nj, all row-major and in bounds.
                    unsafe {
                        matrixmultiply::sgemm(
                            m,
                            k,
                            nj,
                            1.0,
                            a.as_ptr(),
                            k as isize,
                            1,
                            b.as_ptr(),
                            nj as isize,
                            1,
                            0.0,
                            c.as_mut_ptr(),
                            nj as isize,
                            1,
                        )
                    }
                } else {
                    pupil_kernels::sgemm(m, k, nj, 1.0, a, k, 1, b, nj, 1, 0.0, c, nj);
                }
            })
    });
}

fn main() {
    println!(
        "pupil conv2d, batch {N}, median of {RUNS} runs, GFLOP/s (sgemm ISA: {})",
        pupil_kernels::sgemm_isa()
    );
    println!(
        "{:<20} {:>3} {:>8} {:>9} {:>10} {:>10}",
        "layer", "thr", "fwd", "fwd+bwd", "gemm(mm)", "gemm(pk)"
    );
    for l in &LAYERS {
        let oh = l.hw + 2 * l.pad - l.k + 1;
        let (m, k, n) = (l.o, l.c * l.k * l.k, N * oh * oh);
        let flops = 2.0 * (m * k * n) as f64;
        let x = Tensor::rand_normal(&[N, l.c, l.hw, l.hw], 0.0, 1.0, 1);
        let w = Tensor::rand_normal(&[l.o, l.c, l.k, l.k], 0.0, 0.1, 2);
        let b = Tensor::rand_normal(&[l.o], 0.0, 0.1, 3);
        let a = Tensor::rand_normal(&[m, k], 0.0, 1.0, 4);
        let bm = Tensor::rand_normal(&[k, n], 0.0, 1.0, 5);
        let mut c = vec![0.0f32; m * n];
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let fwd = pool.install(|| median(|| conv(l, &x, &w, &b, false)));
            let both = pool.install(|| median(|| conv(l, &x, &w, &b, true)));
            let mm = median(|| gemm(threads, m, k, n, a.data(), bm.data(), &mut c, true));
            let pk = median(|| gemm(threads, m, k, n, a.data(), bm.data(), &mut c, false));
            let mult = if l.first { 2.0 } else { 3.0 };
            println!(
                "{:<20} {:>3} {:>8.1} {:>9.1} {:>10.1} {:>10.1}",
                l.name,
                threads,
                flops / fwd / 1e9,
                mult * flops / both / 1e9,
                flops / mm / 1e9,
                flops / pk / 1e9
            );
        }
    }
}
