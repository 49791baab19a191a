//! GFLOP/s of the dense layers' GEMM shapes (weights stored [out, in], read transposed) on
//! the rayon pool, packing the weights in every call (`sgemm_par`) and packed once
//! (`PackedB` + `sgemm_packed`, as inference does), alternately:
//! `cargo run --release -p pupil-kernels --example dense_gemm`.
use pupil_kernels::{sgemm_packed, sgemm_par, PackedB};
use std::time::Instant;

fn median_ms(mut run: impl FnMut()) -> f64 {
    let mut ts = vec![];
    for _ in 0..15 {
        let t = Instant::now();
        run();
        ts.push(t.elapsed().as_secs_f64());
    }
    ts.sort_by(|a, b| a.partial_cmp(b).unwrap());
    ts[7] * 1e3
}

fn main() {
    for &(m, k, n) in &[(128usize, 3200usize, 1024usize), (128, 2304, 1024), (128, 1024, 1024), (32, 3200, 1024), (128, 1024, 3200)] {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 13) as f32 * 0.1).collect();
        let w: Vec<f32> = (0..n * k).map(|i| (i % 7) as f32 * 0.1).collect();
        let packed = PackedB::new(k, n, &w, 1, k);
        let mut c = vec![0f32; m * n];
        let flop = 2.0 * (m * k * n) as f64;
        let per_call = median_ms(|| sgemm_par(m, k, n, 1.0, &a, k, 1, &w, 1, k, 0.0, &mut c, n));
        let once = median_ms(|| sgemm_packed(m, 1.0, &a, k, 1, &packed, 0.0, &mut c, n));
        println!(
            "{m}x{k}x{n}: packed per call {:.1} GFLOP/s ({per_call:.2} ms), packed once {:.1} GFLOP/s ({once:.2} ms)",
            flop / per_call / 1e6,
            flop / once / 1e6
        );
    }
}
