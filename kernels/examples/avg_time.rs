//! Times the average pool's forward on keras-hw3's two shapes (3x3 stride 2 on 22x22 and on 10x10
//! planes padded by 1, 128 images x 64 / 128 channels; and 10x10 unpadded), one thread, in the blocks the op's tasks use:
//! `cargo run --release -p pupil-kernels --example avg_time`.
use pupil_kernels::{avg_pool2d_padded, Window};
use std::time::Instant;
fn main() {
    for (h, planes, pad) in [(22usize, 8192usize, 0usize), (10, 16384, 0), (10, 16384, 1)] {
        let win = Window { h, w: h, kh: 3, kw: 3, sh: 2, sw: 2, pad: [pad; 4] };
        let (oh, ow) = win.out().unwrap();
        let x: Vec<f32> = (0..planes * h * h).map(|i| ((i * 7919) % 1000) as f32).collect();
        let mut y = vec![0f32; planes * oh * ow];
        let mut ts = vec![];
        for _ in 0..11 {
            let t = Instant::now();
            // in blocks of 32 K input values, as the op's parallel tasks
            let per = (1usize << 15) / (h * h);
            for (xc, yc) in x.chunks(per * h * h).zip(y.chunks_mut(per * oh * ow)) {
                avg_pool2d_padded(xc, xc.len() / (h * h), &win, yc);
            }
            ts.push(t.elapsed().as_secs_f64() * 1e3);
        }
        ts.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("h {h} pad {pad}: fwd median {:.2} ms ({})", ts[5], y.iter().sum::<f32>());
    }
}
