//! Criterion benchmark: our `sgemm` (selected ISA, serial) vs
//! `matrixmultiply::sgemm` on square sizes and on the GEMM shapes of the conv
//! layers (per image: M = cout, K = cin*kh*kw, N = oh*ow), also batched over
//! 128 images (N x 128). Throughput is reported in FLOPs (2*m*n*k).
//!
//! The group `dense` times the dense layers' products (weights stored `[out, in]`, read
//! transposed) on the rayon pool, the weights packed in every call (`sgemm_par`) and packed once
//! (`PackedB` + `sgemm_packed`, as inference does).
//!
//! `cargo bench -p pupil-kernels --bench sgemm`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pupil_kernels::{sgemm, sgemm_isa, sgemm_packed, sgemm_par, PackedB};
use std::time::{Duration, Instant};

mod common;
use common::data;

fn shapes() -> Vec<(String, usize, usize, usize)> {
    let mut v: Vec<(String, usize, usize, usize)> = [256, 512, 1024].iter().map(|&s| (format!("square{s}"), s, s, s)).collect();
    let conv = [(64, 25, 1936), (64, 576, 484), (128, 576, 100), (64, 800, 324)];
    for &(m, k, n) in &conv {
        v.push((format!("conv{m}x{k}x{n}"), m, k, n));
    }
    for &(m, k, n) in &conv {
        v.push((format!("conv{m}x{k}x{n}_b128"), m, k, n * 128));
    }
    v
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("sgemm");
    group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    println!("pupil-kernels sgemm ISA: {}", sgemm_isa());
    for (name, m, k, n) in shapes() {
        let a = data(m * k, 1);
        let b = data(k * n, 2);
        let mut cm = vec![0.0f32; m * n];
        let flops = 2 * (m * n * k) as u64;
        group.throughput(Throughput::Elements(flops));
        let mut ours = |cm: &mut [f32]| sgemm(m, k, n, 1.0, &a, k, 1, &b, n, 1, 0.0, cm, n);
        // SAFETY: a, b and cm hold the m x k, k x n and m x n row-major matrices.
        let mm = |cm: &mut [f32]| unsafe {
            matrixmultiply::sgemm(m, k, n, 1.0, a.as_ptr(), k as isize, 1, b.as_ptr(), n as isize, 1, 0.0, cm.as_mut_ptr(), n as isize, 1)
        };
        // Quick GFLOP/s print (best of 3) so the numbers are visible at a glance.
        let gflops = |f: &mut dyn FnMut(&mut [f32]), cm: &mut [f32]| {
            f(cm);
            (0..3)
                .map(|_| {
                    let t = Instant::now();
                    f(cm);
                    flops as f64 / t.elapsed().as_secs_f64() / 1e9
                })
                .fold(0.0, f64::max)
        };
        let g_ours = gflops(&mut ours, &mut cm);
        let g_mm = gflops(&mut { mm }, &mut cm);
        println!("{name}: pupil {g_ours:.1} GFLOP/s, matrixmultiply {g_mm:.1} GFLOP/s");
        group.bench_function(BenchmarkId::new("pupil", &name), |bch| bch.iter(|| ours(&mut cm)));
        group.bench_function(BenchmarkId::new("matrixmultiply", &name), |bch| bch.iter(|| mm(&mut cm)));
    }
    group.finish();
}

fn dense(c: &mut Criterion) {
    let mut group = c.benchmark_group("dense");
    group.sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    // the DNN's two hidden layers at batch 128, and alexnet-bn's dense1 at batch 32
    for &(m, k, n) in &[(128usize, 2304usize, 1024usize), (128, 1024, 1024), (32, 3200, 1024)] {
        let name = format!("{m}x{k}x{n}");
        let x = data(m * k, 1);
        let w = data(n * k, 2);
        let packed = PackedB::new(k, n, &w, 1, k);
        let mut y = vec![0.0f32; m * n];
        group.throughput(Throughput::Elements(2 * (m * n * k) as u64));
        group.bench_function(BenchmarkId::new("packed_per_call", &name), |bch| bch.iter(|| sgemm_par(m, k, n, 1.0, &x, k, 1, &w, 1, k, 0.0, &mut y, n)));
        group.bench_function(BenchmarkId::new("packed_once", &name), |bch| bch.iter(|| sgemm_packed(m, 1.0, &x, k, 1, &packed, 0.0, &mut y, n)));
    }
    group.finish();
}

criterion_group!(benches, bench, dense);
criterion_main!(benches);
