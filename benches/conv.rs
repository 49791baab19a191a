//! Criterion benchmark of conv2d on the seed model's conv layers at batch 128: forward, and
//! forward + backward. Throughput in FLOPs: forward `2·N·O·oh·ow·C·kh·kw`, forward+backward
//! 3x that (dX and dW), 2x for the first layer whose input is a constant (no dX).
//!
//! `conv1_pool`: keras-hw3's first layer with its ReLU and max pool (5x5 stride 2 after a
//! padding of 2) as one op (`conv2d_relu_max_pool`) and as two (`conv2d`, `max_pool2d_relu`),
//! forward and forward + backward, in images/s.
//!
//! `cargo bench --bench conv` (for a GFLOP/s table on 1 and 2 threads next to the bare GEMM,
//! see `cargo run --release --example conv_gflops`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pupil::autograd::Graph;
use pupil::{ops, Tensor};
use std::time::Duration;

/// The seed models' conv layers, the same table `pupil bench --layers` times.
const LAYERS: [(&str, usize, usize, usize, usize, usize, bool); 4] = pupil::train::SEED_CONV_LAYERS;
const N: usize = 128;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv2d");
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    for (name, ci, co, hw, k, pad, first) in LAYERS {
        let oh = hw + 2 * pad - k + 1;
        let flops = 2 * (N * co * oh * oh * ci * k * k) as u64;
        let x = Tensor::rand_normal(&[N, ci, hw, hw], 0.0, 1.0, 1);
        let w = Tensor::rand_normal(&[co, ci, k, k], 0.0, 0.1, 2);
        let b = Tensor::rand_normal(&[co], 0.0, 0.1, 3);
        // the output gradient, made once: a fresh 63 MB tensor per iteration would time page faults
        let gy = Tensor::rand_normal(&[N, co, oh, oh], 0.0, 1.0, 4);

        group.throughput(Throughput::Elements(flops));
        group.bench_function(format!("{name}/fwd"), |bch| {
            bch.iter(|| {
                let g = Graph::no_grad();
                let (xv, wv, bv) = (g.constant(x.clone()), g.constant(w.clone()), g.constant(b.clone()));
                ops::conv2d(&xv, &wv, Some(&bv), (1, 1), (pad, pad)).unwrap()
            })
        });

        group.throughput(Throughput::Elements(if first { 2 } else { 3 } * flops));
        group.bench_function(format!("{name}/fwd_bwd"), |bch| {
            bch.iter(|| {
                let g = Graph::new();
                let xv = if first { g.constant(x.clone()) } else { g.leaf(x.clone()) };
                let (wv, bv) = (g.leaf(w.clone()), g.leaf(b.clone()));
                let y = ops::conv2d(&xv, &wv, Some(&bv), (1, 1), (pad, pad)).unwrap();
                y.backward_with(gy.clone()).unwrap()
            })
        });
    }
    group.finish();
}

fn bench_conv1_pool(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv1_pool");
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    let x = Tensor::rand_normal(&[N, 1, 48, 48], 0.0, 1.0, 1);
    let w = Tensor::rand_normal(&[64, 1, 5, 5], 0.0, 0.2, 2);
    let b = Tensor::rand_normal(&[64], 0.0, 0.1, 3);
    let gy = Tensor::rand_normal(&[N, 64, 22, 22], 0.0, 1.0, 4);
    let pool = ops::MaxPoolArgs { kernel: (5, 5), stride: (2, 2), pad: [2; 4] };
    let run = |g: &Graph, fused: bool| {
        let (xv, wv, bv) = (g.constant(x.clone()), g.leaf(w.clone()), g.leaf(b.clone()));
        if fused {
            ops::conv2d_relu_max_pool(&xv, &wv, Some(&bv), (1, 1), (0, 0), pool).unwrap()
        } else {
            ops::max_pool2d_relu(&ops::conv2d(&xv, &wv, Some(&bv), (1, 1), (0, 0)).unwrap(), pool.kernel, pool.stride, pool.pad).unwrap()
        }
    };
    group.throughput(Throughput::Elements(N as u64));
    for (name, fused) in [("one_op", true), ("two_ops", false)] {
        group.bench_function(format!("{name}/fwd"), |bch| bch.iter(|| run(&Graph::no_grad(), fused)));
        group.bench_function(format!("{name}/fwd_bwd"), |bch| bch.iter(|| run(&Graph::new(), fused).backward_with(gy.clone()).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, bench, bench_conv1_pool);
criterion_main!(benches);
