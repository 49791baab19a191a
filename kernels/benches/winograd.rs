//! Criterion benchmark: one group of images through Winograd F(2x2, r x r) — `winograd::conv3x3`
//! (3x3 only: input transform, 16 GEMMs, output transform over the whole group), `winograd::conv_fused`
//! (the same per block of 32 tiles, AVX-512 only; `winograd_fused_4x4` and `winograd_fused_3x3`:
//! F(4x4, 3x3) and F(3x3, 3x3), each with its own group size, so compare throughputs, not
//! times), `winograd_input_grad` (dX as the forward's adjoint on its own tiles, what 5x5
//! layers take; compare with `winograd_fused` on the dX geometry, `5x5_64->32@18p4`) and the filter gradient
//! (`winograd::filter_grad`) — against im2col + one GEMM (`im2col` + `sgemm`, the path conv2d
//! takes otherwise), serial, on the seed models' 3x3 layers and alexnet-bn's 5x5 one (F(2x2, 5x5),
//! fused kernel only) with the group sizes conv2d uses. Throughput in the direct convolution's FLOPs
//! (`2·gn·O·oh·ow·C·r²`), so Winograd can show more than the FMA peak.
//!
//! Timed in CPU time of the benchmarking thread (`CLOCK_THREAD_CPUTIME_ID`), not wall time:
//! the kernels are serial, and on a shared machine wall time mostly measures the other load.
//!
//! The group `filters` times the filter transforms a training step makes on every call
//! (`Fused::from_weights`: `G·g·Gᵀ` of every filter straight into the fused kernel's panels, the
//! forward filters and the flipped ones for dX) of the seed models' Winograd layers, with the
//! tiles conv2d picks, on a one-thread pool; throughput in filters.
//!
//! `cargo bench -p pupil-kernels --bench winograd`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pupil_kernels::winograd::{self, Wino};
use pupil_kernels::{im2col, sgemm, Patches};
use std::time::Duration;

mod common;
use common::data;

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// `iters` runs of `f`, timed in thread CPU time.
fn cpu_timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let t0 = thread_cpu();
    for _ in 0..iters {
        f();
    }
    thread_cpu() - t0
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv3x3_group");
    group.sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    // (name, kernel, padding, C, O, side, images per group as conv2d groups them)
    let layers = [
        ("64->64@22", 3, 1, 64, 64, 22, 1),
        ("64->128@10", 3, 1, 64, 128, 10, 4),
        ("128->128@10", 3, 1, 128, 128, 10, 4),
        ("128->64@10", 3, 1, 128, 64, 10, 4),
        ("64->128@22", 3, 1, 64, 128, 22, 1),
        ("128->128@24", 3, 1, 128, 128, 24, 1),
        ("128->256@9", 3, 1, 128, 256, 9, 4),
        ("5x5_32->64@22", 5, 0, 32, 64, 22, 3),
        ("5x5_64->32@18p4", 5, 4, 64, 32, 18, 2),
    ];
    for (name, r, p, ci, co, hw, gn) in layers {
        let g = Wino::new(r, ci, hw, hw, co, p, p).unwrap();
        let pt = Patches::new(ci, hw, hw, (r, r), (1, 1), (p, p)).unwrap();
        let (x, w) = (data(gn * ci * hw * hw, 1), data(g.weight_len(), 2));
        let mut y = vec![0.0f32; gn * co * g.oh * g.ow];
        group.throughput(Throughput::Elements(2 * (gn * co * g.oh * g.ow * ci * r * r) as u64));

        let mut u = vec![0.0; g.filter_len()];
        winograd::filter_transform(&g, &w, &mut u);
        if r == 3 {
            let mut scratch = vec![0.0; g.scratch_len(gn)];
            group.bench_function(BenchmarkId::new("winograd", name), |b| {
                b.iter_custom(|iters| cpu_timed(iters, || winograd::conv3x3(&g, gn, &x, &u, None, &mut y, &mut scratch, false)))
            });
        }

        if let Some(f) = winograd::Fused::new(&g, &u) {
            let mut s = vec![0.0; f.scratch_len()];
            group.bench_function(BenchmarkId::new("winograd_fused", name), |b| {
                b.iter_custom(|iters| cpu_timed(iters, || winograd::conv_fused(&g, gn, &x, &f, None, &mut y, &mut s)))
            });
        }
        // F(4x4, 3x3) and F(3x3, 3x3): their own group sizes (whole blocks of 32 tiles), the
        // same FLOPs per image
        for (m, label) in [(4, "winograd_fused_4x4"), (3, "winograd_fused_3x3")] {
            let Some(gm) = g.with_tiles(m) else { continue };
            let gnm = winograd::Fused::images_per_task(&gm, 8);
            let xm = data(gnm * ci * hw * hw, 1);
            let mut ym = vec![0.0f32; gnm * co * g.oh * g.ow];
            let mut um = vec![0.0; gm.filter_len()];
            winograd::filter_transform(&gm, &w, &mut um);
            let f = winograd::Fused::new(&gm, &um).expect("3x3 and 4x4 tiles imply the fused kernel");
            let mut s = vec![0.0; f.scratch_len()];
            group.throughput(Throughput::Elements(2 * (gnm * co * g.oh * g.ow * ci * r * r) as u64));
            group.bench_function(BenchmarkId::new(label, name), |b| {
                b.iter_custom(|iters| cpu_timed(iters, || winograd::conv_fused(&gm, gnm, &xm, &f, None, &mut ym, &mut s)))
            });
            group.throughput(Throughput::Elements(2 * (gn * co * g.oh * g.ow * ci * r * r) as u64));
        }
        // dX as the forward's adjoint on the forward's tiles (what 5x5 layers take), in the
        // forward's FLOPs
        if let Some(ft) = winograd::input_grad::available(&g).then(|| winograd::Fused::new_transposed(&g, &u)).flatten() {
            let dy = data(gn * co * g.oh * g.ow, 3);
            let mut dx = vec![0.0; gn * ci * hw * hw];
            let mut s = vec![0.0; winograd::input_grad::scratch_len(&g)];
            group.bench_function(BenchmarkId::new("winograd_input_grad", name), |b| {
                b.iter_custom(|iters| cpu_timed(iters, || winograd::input_grad::conv_input_grad(&g, gn, &dy, &ft, &mut dx, &mut s)))
            });
        }
        if winograd::filter_grad::available() {
            let dy = data(gn * co * g.oh * g.ow, 3);
            let mut du = vec![0.0; g.filter_len()];
            let mut s = vec![0.0; winograd::filter_grad::scratch_len(&g, gn)];
            group.bench_function(BenchmarkId::new("winograd_filter_grad", name), |b| {
                b.iter_custom(|iters| cpu_timed(iters, || winograd::filter_grad::accumulate(&g, gn, &x, &dy, &mut du, &mut s, true)))
            });
        }

        let (k, p) = (pt.rows(), pt.pixels());
        let ld = gn * p;
        let mut cols = vec![0.0; k * ld];
        let mut out = vec![0.0; co * ld];
        group.bench_function(BenchmarkId::new("im2col_gemm", name), |b| {
            b.iter_custom(|iters| {
                cpu_timed(iters, || {
                    for i in 0..gn {
                        im2col(&pt, &x[i * pt.image_len()..(i + 1) * pt.image_len()], &mut cols, ld, i * p);
                    }
                    sgemm(co, k, ld, 1.0, &w, k, 1, &cols, ld, 1, 0.0, &mut out, ld);
                })
            })
        });
    }
    group.finish();
}

fn filters(c: &mut Criterion) {
    use winograd::{Fused, PanelForm};
    let mut group = c.benchmark_group("filters");
    group.sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    // (name, kernel, padding, C, O, side, tile m)
    let layers = [
        ("64->64@22_F4", 3, 1, 64, 64, 22, 4),
        ("64->128@10_F2", 3, 1, 64, 128, 10, 2),
        ("128->128@10_F2", 3, 1, 128, 128, 10, 2),
        ("128->256@9_F3", 3, 1, 128, 256, 9, 3),
        ("5x5_32->64@22_F2", 5, 0, 32, 64, 22, 2),
    ];
    for (name, r, p, ci, co, hw, m) in layers {
        let Some(g) = Wino::new(r, ci, hw, hw, co, p, p).and_then(|g| g.with_tiles(m)) else { continue };
        let w = data(g.weight_len(), 3);
        group.throughput(Throughput::Elements((ci * co) as u64));
        for (form, geometry, label) in [(PanelForm::Forward, g, "forward"), (PanelForm::Flipped, g.input_grad(), "flipped")] {
            if Fused::from_weights(&geometry, &w, form).is_none() {
                continue; // no fused kernel on this CPU
            }
            group.bench_function(BenchmarkId::new(label, name), |b| {
                b.iter_custom(|iters| pool.install(|| cpu_timed(iters, || drop(std::hint::black_box(Fused::from_weights(&geometry, &w, form))))))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench, filters);
criterion_main!(benches);
