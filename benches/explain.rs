//! Speed of the explanations on keras-hw3 at 48x48x1, 7 classes (weights as initialised: the
//! cost does not depend on their values): vanilla saliency and SmoothGrad (50 samples) in
//! images/s, LIME with 1,000 samples in seconds per image, and `filters` on the first conv
//! layer (64 filters x 150 steps) in seconds. Issue 7's targets (2 threads): vanilla >= 500
//! images/s, SmoothGrad >= 10 images/s, LIME <= 3 s per image, filters <= 30 s.
//!
//! `cargo bench --bench explain` (2 threads: `RAYON_NUM_THREADS=2 cargo bench --bench explain`).
//! Before the criterion groups, each is timed once and also reported from CPU time (images per
//! CPU-second times the thread count), which on a machine shared with other jobs estimates what
//! the threads would do on idle cores; the filter ascent (seconds per run) is timed only so.
//! `SKIP_FILTERS=1` leaves it out; `EXPLAIN_BATCH=N` sets the rows per pass.

use criterion::{Criterion, Throughput};
use pupil::data::Normalization;
use pupil::explain::lime::{self, LimeConfig};
use pupil::explain::{AscentOptions, Explainer};
use pupil::nn::{preset, Sequential};
use pupil::Tensor;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    // from libmimalloc-sys (mimalloc v2's option API)
    fn mi_option_set(option: i32, value: std::ffi::c_long);
}

/// The allocator settings of the `pupil` binary (see src/main.rs): keep freed memory, 2 MiB
/// pages, so the timings are those of the CLI.
fn tune_allocator() {
    // SAFETY: plain option setters of the linked mimalloc; valid at any time.
    unsafe {
        mi_option_set(15, -1); // purge delay: never
        mi_option_set(6, 1); // large OS pages
    }
}

fn explainer() -> Explainer {
    let spec = preset("keras-hw3", 7).expect("preset");
    let model = Sequential::build(&spec, &[1, 48, 48], 1).expect("build");
    Explainer::new(&model, &Normalization::Scale255).expect("explainer")
}

fn images(n: usize) -> Tensor {
    Tensor::rand_uniform(&[n, 1, 48, 48], 0.0, 1.0, 7)
}

/// CPU seconds (user + system) this process has used so far, from /proc/self/stat (Linux);
/// None elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Wall-clock images/s of `f` on `n` images, and the same from CPU time (images per CPU
/// second times the thread count): what the threads would give on otherwise idle cores, for
/// a machine shared with other jobs.
fn timed(what: &str, n: usize, mut f: impl FnMut()) {
    let (t, c) = (Instant::now(), cpu_seconds());
    f();
    let wall = t.elapsed().as_secs_f64();
    let threads = rayon::current_num_threads() as f64;
    let cpu = c.and_then(|c0| cpu_seconds().map(|c1| c1 - c0));
    let cpu_rate = cpu.map(|c| format!(", {:.1} images/s per {threads} CPU-seconds of work", n as f64 / c * threads)).unwrap_or_default();
    println!("{what}: {:.1} images/s wall ({n} in {wall:.2} s){cpu_rate}", n as f64 / wall);
}

fn one_shot() {
    let mut ex = explainer();
    let x = images(256);
    let classes: Vec<usize> = (0..256).map(|i| i % 7).collect();
    ex.vanilla(&x.slice_batch(0, 64).unwrap(), &classes[..64], &mut |_, _| {}).expect("warm-up");
    timed("vanilla", 256, || {
        ex.vanilla(&x, &classes, &mut |_, _| {}).expect("vanilla");
    });
    // reference on the same machine state: a training forward + backward (weight gradients, no
    // input gradient, no optimiser step), 4 batches of 64; `pupil bench` trains ~315 img/s idle
    let model = Sequential::build(&preset("keras-hw3", 7).expect("preset"), &[1, 48, 48], 1).expect("build");
    timed("reference: training forward+backward", 256, || {
        for b in 0..4 {
            let g = pupil::autograd::Graph::new();
            let xb = g.constant(x.slice_batch(b * 64, (b + 1) * 64).unwrap());
            let logits = model.forward_logits(&xb).expect("forward");
            pupil::ops::cross_entropy(&logits, &classes[b * 64..(b + 1) * 64]).expect("loss").backward().expect("backward");
        }
    });
    let xs = x.slice_batch(0, 8).unwrap();
    timed("smoothgrad 50 samples", 8, || {
        ex.smoothgrad(&xs, &classes[..8], 50, 0.15, 0, &mut |_, _| {}).expect("smoothgrad");
    });
    timed("lime 1000 samples", 2, || {
        lime_once(ex.model(), 0);
        lime_once(ex.model(), 1);
    });
}

/// One LIME explanation of a 48x48 image with the library's defaults (1,000 samples, 50 SLIC
/// superpixels, batches of 200 rows), the model called as `pupil lime` does.
fn lime_once(model: &Sequential, seed: u64) {
    let raw: Vec<f32> = images(1).data().iter().map(|v| v * 255.0).collect();
    let cfg = LimeConfig { seed, ..LimeConfig::default() };
    let norm = Normalization::Scale255;
    let mut predict = |b: &[f32]| lime::probabilities(model, &norm, b, [1, 48, 48]);
    lime::explain(&raw, [1, 48, 48], &[lime::PREDICTED], &cfg, &mut predict).expect("lime");
}

fn filters_once() {
    let mut ex = explainer();
    let layer = ex.layer("conv1").expect("conv1");
    let filters: Vec<usize> = (0..64).collect();
    let opts = AscentOptions { steps: 150, ..AscentOptions::default() };
    let (t, c) = (Instant::now(), cpu_seconds());
    let r = ex.visualize_filters(&layer, &filters, &opts, &mut |_, _| {}).expect("ascent");
    let secs = t.elapsed().as_secs_f64();
    let threads = rayon::current_num_threads();
    let cpu = c.and_then(|c0| cpu_seconds().map(|c1| format!(", {:.1} s of CPU / {threads} threads", (c1 - c0) / threads as f64))).unwrap_or_default();
    let raised = r.start.iter().zip(&r.end).filter(|(s, e)| e > s).count();
    println!("filters conv1: 64 filters x 150 steps in {secs:.2} s wall{cpu} ({raised}/64 raised), {threads} threads");
}

fn main() {
    tune_allocator();
    one_shot();
    if std::env::var_os("SKIP_FILTERS").is_none() {
        filters_once();
    }
    let mut c = Criterion::default().configure_from_args().sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    let mut ex = explainer();
    // rows per pass; EXPLAIN_BATCH overrides the library default (to compare sizes)
    if let Some(b) = std::env::var("EXPLAIN_BATCH").ok().and_then(|v| v.parse().ok()) {
        ex.batch = b;
    }
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
    group.throughput(Throughput::Elements(1));
    group.bench_function("lime_1000", |b| b.iter(|| lime_once(ex.model(), 0)));
    group.finish();
    c.final_summary();
}
