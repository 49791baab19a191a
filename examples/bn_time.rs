//! Times batch norm (training mode) forward and forward + backward on alexnet-bn's feature
//! map shapes at batch 128 (median of 15 runs): `cargo run --release --example bn_time`.
use pupil::autograd::Graph;
use pupil::ops::{batch_norm, BatchNormState};
use pupil::Tensor;
use std::time::Instant;
fn main() {
    for (c, hw) in [(32, 44), (64, 18), (128, 9), (256, 9), (128, 7)] {
        let x = Tensor::rand_normal(&[128, c, hw, hw], 0.5, 2.0, 1);
        let seed = Tensor::rand_normal(&[128, c, hw, hw], 0.0, 1.0, 2);
        let (gamma, beta) = (Tensor::rand_normal(&[c], 1.0, 0.1, 3), Tensor::rand_normal(&[c], 0.0, 0.1, 4));
        let mut state = BatchNormState::new(c, 0.1, 1e-5);
        let mut run = |backward: bool| {
            let g = Graph::new();
            let (xv, gv, bv) = (g.leaf(x.clone()), g.leaf(gamma.clone()), g.leaf(beta.clone()));
            let y = batch_norm(&xv, &gv, &bv, &mut state, true).unwrap();
            if backward {
                std::hint::black_box(y.backward_with(seed.clone()).unwrap());
            }
        };
        let (mut f, mut fb) = (vec![], vec![]);
        for _ in 0..16 {
            for (b, t) in [(false, &mut f), (true, &mut fb)] {
                let s = Instant::now();
                run(b);
                t.push(s.elapsed().as_secs_f64() * 1e3);
            }
        }
        f.sort_by(f64::total_cmp);
        fb.sort_by(f64::total_cmp);
        let ns = |ms: f64| ms * 1e6 / (128 * c * hw * hw) as f64;
        println!(
            "[128, {c}, {hw}, {hw}]: forward {:.2} ms ({:.2} ns/value), backward {:.2} ms ({:.2} ns/value)",
            f[8],
            ns(f[8]),
            fb[8] - f[8],
            ns(fb[8] - f[8])
        );
    }
}
