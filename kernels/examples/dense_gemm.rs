//! GFLOP/s of the dense layers' GEMM shapes (weights stored [out, in], read transposed) on
//! the rayon pool (sgemm_par): `cargo run --release -p pupil-kernels --example dense_gemm`.
use pupil_kernels::sgemm_par;
use std::time::Instant;
fn main() {
    for &(m, k, n) in &[(128usize, 3200usize, 1024usize), (128, 2304, 1024), (128, 1024, 1024), (32, 3200, 1024), (128, 1024, 3200)] {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 13) as f32 * 0.1).collect();
        let w: Vec<f32> = (0..n * k).map(|i| (i % 7) as f32 * 0.1).collect();
        let mut c = vec![0f32; m * n];
        let mut ts = vec![];
        for _ in 0..15 {
            let t = Instant::now();
            sgemm_par(m, k, n, 1.0, &a, k, 1, &w, 1, k, 0.0, &mut c, n);
            ts.push(t.elapsed().as_secs_f64());
        }
        ts.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("{m}x{k}x{n}: {:.1} GFLOP/s (median {:.2} ms)", 2.0 * (m * k * n) as f64 / ts[7] / 1e9, ts[7] * 1e3);
    }
}
