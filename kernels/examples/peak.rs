//! This CPU's FP32 FMA peak on 1 and on all threads: `cargo run --release -p pupil-kernels --example peak`
fn main() {
    let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    for t in [1, n] {
        let g = pupil_kernels::fma_peak_gflops(t, std::time::Duration::from_millis(500));
        println!("{t} thread(s): {g:.1} GFLOP/s");
    }
}
