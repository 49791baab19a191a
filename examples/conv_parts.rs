//! Times a conv layer's forward, forward + dX, forward + dW(+db) at batch 128 (median of 9):
//! `cargo run --release --example conv_parts -- C O side k pad`.
use pupil::autograd::Graph;
use pupil::{ops, Tensor};
use std::time::Instant;
fn main() {
    let a: Vec<usize> = std::env::args().skip(1).map(|s| s.parse().unwrap()).collect();
    let (ci, co, hw, k, pad) = (a[0], a[1], a[2], a[3], a[4]);
    let n = 128;
    let oh = hw + 2 * pad - k + 1;
    let flops = 2.0 * (n * co * oh * oh * ci * k * k) as f64;
    let x = Tensor::rand_normal(&[n, ci, hw, hw], 0.0, 1.0, 1);
    let w = Tensor::rand_normal(&[co, ci, k, k], 0.0, 0.1, 2);
    let b = Tensor::rand_normal(&[co], 0.0, 0.1, 3);
    let seed = Tensor::rand_normal(&[n, co, oh, oh], 0.0, 1.0, 4);
    let run = |mode: usize| {
        let g = if mode == 0 { Graph::no_grad() } else { Graph::new() };
        let xv = if mode == 1 { g.leaf(x.clone()) } else { g.constant(x.clone()) };
        let (wv, bv) = if mode == 2 { (g.leaf(w.clone()), g.leaf(b.clone())) } else { (g.constant(w.clone()), g.constant(b.clone())) };
        let y = ops::conv2d(&xv, &wv, Some(&bv), (1, 1), (pad, pad)).unwrap();
        if mode > 0 {
            std::hint::black_box(y.backward_with(seed.clone()).unwrap());
        }
    };
    let mut t = [vec![], vec![], vec![]];
    for _ in 0..10 {
        for (m, tm) in t.iter_mut().enumerate() {
            let s = Instant::now();
            run(m);
            tm.push(s.elapsed().as_secs_f64());
        }
    }
    for v in t.iter_mut() {
        v.sort_by(f64::total_cmp);
    }
    let (f, fx, fw) = (t[0][5], t[1][5], t[2][5]);
    println!(
        "fwd {:.2} ms ({:.0} GF/s); dX {:.2} ms ({:.0}); dW {:.2} ms ({:.0})",
        f * 1e3,
        flops / f / 1e9,
        (fx - f) * 1e3,
        flops / (fx - f) / 1e9,
        (fw - f) * 1e3,
        flops / (fw - f) / 1e9
    );
}
