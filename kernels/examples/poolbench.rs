use std::time::Instant;
fn main() {
    for (planes, h, k, s) in [(64 * 128, 48, 5, 2), (32 * 128, 44, 2, 2), (256 * 128, 9, 3, 1)] {
        let w = h;
        let oh = (h - k) / s + 1;
        let x: Vec<f32> = (0..planes * h * w).map(|i| ((i * 7919) % 1000) as f32 * 0.001 - 0.5).collect();
        let mut y = vec![0f32; planes * oh * oh];
        let mut a = vec![0u32; planes * oh * oh];
        // two untimed calls (page faults of the outputs), then the median of 11
        let mut ts: Vec<f64> = (0..13)
            .map(|_| {
                let t = Instant::now();
                pupil_kernels::max_pool2d(&x, planes, h, w, k, k, s, s, &mut y, &mut a);
                t.elapsed().as_secs_f64() * 1e3
            })
            .skip(2)
            .collect();
        ts.sort_by(f64::total_cmp);
        let med = ts[ts.len() / 2];
        println!("max_pool2d {k}x{k} s{s} on {planes} planes {h}x{w}: median {med:.1} ms ({:.2} ns/output)", med * 1e6 / (planes * oh * oh) as f64);
    }
}
