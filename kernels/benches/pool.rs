//! Criterion benchmark of the pooling kernels on the seed models' shapes (one thread, 16
//! planes of a batch): the max pool with argmax (training) and values only (inference),
//! with the zero padding folded in or not, and the average pool forward and backward.
//! Throughput in output elements.
//!
//! `cargo bench -p pupil-kernels --bench pool`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pupil_kernels::{avg_pool2d_padded, avg_pool2d_padded_backward, max_pool2d_padded, Window};
use std::time::Duration;

const PLANES: usize = 16 * 64;

mod common;
use common::data;

/// (name, window): keras-hw3's `pad 2, max 5x5 s2` on 44x44 (folded and on the padded 48x48),
/// alexnet-bn's 2x2 s2 on 44x44 and 3x3 s1 on 9x9, keras-hw3's `pad 1, avg 3x3 s2` on 9x9.
fn windows() -> Vec<(&'static str, Window)> {
    let w = |h: usize, k: usize, s: usize, p: usize| Window { h, w: h, kh: k, kw: k, sh: s, sw: s, pad: [p; 4] };
    vec![
        ("5x5s2_pad2_44", w(44, 5, 2, 2)),
        ("5x5s2_48", w(48, 5, 2, 0)),
        ("2x2s2_44", w(44, 2, 2, 0)),
        ("3x3s1_9", w(9, 3, 1, 0)),
        ("3x3s2_pad1_9", w(9, 3, 2, 1)),
    ]
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool");
    group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    for (name, win) in windows() {
        let (oh, ow) = win.out().unwrap();
        let n = PLANES * oh * ow;
        let x = data(PLANES * win.h * win.w, 7);
        let (mut y, mut arg) = (vec![0f32; n], vec![0u32; n]);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("max_argmax", name), |b| b.iter(|| max_pool2d_padded(&x, PLANES, &win, &mut y, Some(&mut arg))));
        group.bench_function(BenchmarkId::new("max_values", name), |b| b.iter(|| max_pool2d_padded(&x, PLANES, &win, &mut y, None)));
        group.bench_function(BenchmarkId::new("avg", name), |b| b.iter(|| avg_pool2d_padded(&x, PLANES, &win, &mut y)));
        let mut dx = vec![0f32; x.len()];
        group.bench_function(BenchmarkId::new("avg_backward", name), |b| b.iter(|| avg_pool2d_padded_backward(&y, PLANES, &win, &mut dx)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
