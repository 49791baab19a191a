//! Prints GFLOP/s (median of 7 runs) of `sgemm` (serial and `sgemm_par` on a
//! 2-thread pool) for every available ISA, against `matrixmultiply::sgemm`.
//!
//! ```text
//! cargo run --release -p pupil-kernels --example gflops            # all shapes
//! cargo run --release -p pupil-kernels --example gflops -- --quick # skip batched shapes
//! options: --quick, --serial (skip sgemm_par), --isa <portable|avx2+fma|avx512>,
//!          --best (report the fastest run instead of the median), --runs N,
//!          --shape MxKxN (repeatable; replaces the default shapes),
//!          --cpu (time serial runs by thread CPU time: robust on a busy machine),
//!          --ta / --tb (store A / B transposed, i.e. column-major)
//! ```
//!
//! Shapes: square 256/512/1024 and the per-image GEMMs of conv layers
//! (M = cout, K = cin*kh*kw, N = oh*ow), also batched over 128 images (N x 128).

use pupil_kernels::{available_isas, sgemm_par_with, sgemm_with};
use std::time::Instant;

static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(7);

/// `--cpu`: time serial runs with this thread's CPU time instead of wall
/// time, so preemption by other processes on a busy machine does not count.
static CPU: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[cfg(target_os = "linux")]
fn thread_cpu_secs() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu_secs() -> f64 {
    panic!("--cpu is only supported on Linux")
}

static BEST: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn median_secs(f: impl FnMut()) -> f64 {
    median_secs_with(f, CPU.load(std::sync::atomic::Ordering::Relaxed))
}

fn median_secs_with(mut f: impl FnMut(), cpu: bool) -> f64 {
    f(); // warm-up (page faults, pack buffers)
    let runs = RUNS.load(std::sync::atomic::Ordering::Relaxed);
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            if cpu {
                let s = thread_cpu_secs();
                f();
                thread_cpu_secs() - s
            } else {
                let s = Instant::now();
                f();
                s.elapsed().as_secs_f64()
            }
        })
        .collect();
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if BEST.load(std::sync::atomic::Ordering::Relaxed) {
        t[0]
    } else {
        t[runs / 2]
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    BEST.store(args.iter().any(|a| a == "--best"), std::sync::atomic::Ordering::Relaxed);
    if let Some(r) = args.iter().position(|a| a == "--runs").and_then(|i| args.get(i + 1)?.parse().ok()) {
        RUNS.store(r, std::sync::atomic::Ordering::Relaxed);
    }
    CPU.store(args.iter().any(|a| a == "--cpu"), std::sync::atomic::Ordering::Relaxed);
    let trans_a = args.iter().any(|a| a == "--ta");
    let trans_b = args.iter().any(|a| a == "--tb");
    let serial_only = args.iter().any(|a| a == "--serial");
    let only_isa = args.iter().position(|a| a == "--isa").and_then(|i| args.get(i + 1).cloned());
    let mut shapes: Vec<(String, usize, usize, usize)> =
        vec![("square 256".into(), 256, 256, 256), ("square 512".into(), 512, 512, 512), ("square 1024".into(), 1024, 1024, 1024)];
    let conv = [(64, 25, 1936), (64, 576, 484), (128, 576, 100), (64, 800, 324)];
    for &(m, k, n) in &conv {
        shapes.push((format!("conv {m}x{k}x{n}"), m, k, n));
    }
    if !quick {
        for &(m, k, n) in &conv {
            shapes.push((format!("conv {m}x{k}x{n} x128"), m, k, n * 128));
        }
    }
    let pool2 = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    // --shape MxKxN (repeatable) replaces the default shape list.
    let custom: Vec<(String, usize, usize, usize)> = args
        .windows(2)
        .filter(|w| w[0] == "--shape")
        .filter_map(|w| {
            let d: Vec<usize> = w[1].split('x').filter_map(|x| x.parse().ok()).collect();
            (d.len() == 3).then(|| (w[1].clone(), d[0], d[1], d[2]))
        })
        .collect();
    if !custom.is_empty() {
        shapes = custom;
    }
    let isas: Vec<_> = available_isas().into_iter().filter(|i| only_isa.as_deref().is_none_or(|n| i.name().starts_with(n))).collect();
    print!("{:<26} {:>8}", "shape (MxKxN)", "mm");
    for isa in &isas {
        print!(" {:>10} {:>10}", isa.name(), format!("{}x2", isa.name()));
    }
    println!();
    let mut seed = 1u32;
    let mut rnd = move || {
        seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
        (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
    };
    for (name, m, k, n) in shapes {
        let a: Vec<f32> = (0..m * k).map(|_| rnd()).collect();
        let b: Vec<f32> = (0..k * n).map(|_| rnd()).collect();
        let mut c = vec![0.0f32; m * n];
        // Storage of A and B: row-major, or transposed (column-major) with --ta / --tb.
        let (rsa, csa) = if trans_a { (1, m) } else { (k, 1) };
        let (rsb, csb) = if trans_b { (1, k) } else { (n, 1) };
        let flops = 2.0 * (m * n * k) as f64;
        let gf = |s: f64| flops / s / 1e9;
        // SAFETY: a, b and c hold the m x k, k x n and m x n matrices for these strides.
        let t_mm = median_secs(|| unsafe {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                a.as_ptr(),
                rsa as isize,
                csa as isize,
                b.as_ptr(),
                rsb as isize,
                csb as isize,
                0.0,
                c.as_mut_ptr(),
                n as isize,
                1,
            )
        });
        print!("{name:<26} {:>8.1}", gf(t_mm));
        for &isa in &isas {
            let t1 = median_secs(|| sgemm_with(isa, m, k, n, 1.0, &a, rsa, csa, &b, rsb, csb, 0.0, &mut c, n));
            if serial_only {
                print!(" {:>10.1} {:>10}", gf(t1), "-");
                continue;
            }
            let t2 = median_secs_with(|| pool2.install(|| sgemm_par_with(isa, m, k, n, 1.0, &a, rsa, csa, &b, rsb, csb, 0.0, &mut c, n)), false);
            print!(" {:>10.1} {:>10.1}", gf(t1), gf(t2));
        }
        println!();
    }
}
