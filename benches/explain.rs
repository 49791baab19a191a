//! Speed of the explanations on keras-hw3 at 48x48x1, 7 classes (weights as initialised: the
//! cost does not depend on their values): vanilla saliency and SmoothGrad (50 samples) in
//! images/s, and `filters` on the first conv layer (64 filters x 150 steps) in seconds.
//!
//! `cargo bench --bench explain` (2 threads: `RAYON_NUM_THREADS=2 cargo bench --bench explain`).
//! The filter ascent is timed once before the criterion groups (one run takes seconds).

use criterion::{Criterion, Throughput};
use pupil::data::Normalization;
use pupil::explain::{AscentOptions, Explainer};
use pupil::nn::{preset, Sequential};
use pupil::Tensor;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn explainer() -> Explainer {
    let spec = preset("keras-hw3", 7).expect("preset");
    let model = Sequential::build(&spec, &[1, 48, 48], 1).expect("build");
    Explainer::new(&model, &Normalization::Scale255).expect("explainer")
}

fn images(n: usize) -> Tensor {
    Tensor::rand_uniform(&[n, 1, 48, 48], 0.0, 1.0, 7)
}

fn filters_once() {
    let mut ex = explainer();
    let layer = ex.layer("conv1").expect("conv1");
    let filters: Vec<usize> = (0..64).collect();
    let opts = AscentOptions { steps: 150, ..AscentOptions::default() };
    let t = Instant::now();
    let r = ex.visualize_filters(&layer, &filters, &opts, &mut |_, _| {}).expect("ascent");
    let secs = t.elapsed().as_secs_f64();
    let raised = r.start.iter().zip(&r.end).filter(|(s, e)| e > s).count();
    println!("filters conv1: 64 filters x 150 steps in {secs:.2} s ({raised}/64 raised), {} threads", rayon::current_num_threads());
}

fn main() {
    if std::env::var_os("SKIP_FILTERS").is_none() {
        filters_once();
    }
    let mut c = Criterion::default().configure_from_args().sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    let mut ex = explainer();
    let mut group = c.benchmark_group("saliency_keras_hw3_48");
    let n = 128;
    let x = images(n);
    let classes: Vec<usize> = (0..n).map(|i| i % 7).collect();
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("vanilla", |b| b.iter(|| ex.vanilla(&x, &classes, &mut |_, _| {}).expect("vanilla")));
    let m = 4;
    let xs = images(m);
    group.throughput(Throughput::Elements(m as u64));
    group.bench_function("smoothgrad_50", |b| b.iter(|| ex.smoothgrad(&xs, &classes[..m], 50, 0.15, 0, &mut |_, _| {}).expect("smoothgrad")));
    group.finish();
    c.final_summary();
}
