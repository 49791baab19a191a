//! Runs one max-pool geometry a fixed number of times, for `perf stat -e cycles:u` (counts
//! only this process's cycles, so it compares kernels on a shared machine):
//! `perf stat -e cycles:u target/release/examples/pool_cycles 5x5s2_pad2_44 argmax 200`
//! (`PUPIL_ISA=avx2` for the generic body). A fourth argument sets the number of planes (1024
//! by default, 7.9 MB of 44x44 input; 64 keep them in L2). Where `perf` cannot count cycles (a
//! VM), time it with `/usr/bin/time` and compare the minima of many alternated runs.

use pupil_kernels::{max_pool2d_padded, Window};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let w = |h: usize, k: usize, s: usize, p: usize| Window { h, w: h, kh: k, kw: k, sh: s, sw: s, pad: [p; 4] };
    let win = match a.get(1).map(String::as_str).unwrap_or("5x5s2_pad2_44") {
        "2x2s2_44" => w(44, 2, 2, 0),
        "3x3s1_9" => w(9, 3, 1, 0),
        "3x3s2_pad1_9" => w(9, 3, 2, 1),
        _ => w(44, 5, 2, 2),
    };
    let keys = a.get(2).is_none_or(|s| s == "argmax");
    let reps: usize = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(100);
    let planes: usize = a.get(4).and_then(|s| s.parse().ok()).unwrap_or(1024);
    let (oh, ow) = win.out().unwrap();
    let x: Vec<f32> = (0..planes * win.h * win.w).map(|i| ((i * 7919) % 1000) as f32 - 500.0).collect();
    let (mut y, mut am) = (vec![0f32; planes * oh * ow], vec![0u32; planes * oh * ow]);
    for _ in 0..reps {
        max_pool2d_padded(&x, planes, &win, &mut y, if keys { Some(&mut am) } else { None });
    }
    println!("{}", y.iter().sum::<f32>() + am.iter().map(|&v| v as f32).sum::<f32>());
}
