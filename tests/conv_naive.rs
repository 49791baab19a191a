//! conv2d forward and backward (dX, dW, db) against a direct 7-loop convolution in f64, on
//! random shapes, strides and paddings; shapes whose kernel does not fit must be errors.

use proptest::prelude::*;
use pupil::autograd::Graph;
use pupil::{ops, Tensor};

#[derive(Clone, Copy, Debug)]
struct Shape {
    n: usize,
    c: usize,
    o: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    ph: usize,
    pw: usize,
}

impl Shape {
    fn out(&self) -> Option<(usize, usize)> {
        let (hp, wp) = (self.h + 2 * self.ph, self.w + 2 * self.pw);
        (hp >= self.kh && wp >= self.kw).then(|| ((hp - self.kh) / self.sh + 1, (wp - self.kw) / self.sw + 1))
    }
}

/// Input pixel `(iy, ix)` read by output `(i, j)` through tap `(u, v)`, None in the padding.
fn src(s: &Shape, i: usize, j: usize, u: usize, v: usize) -> Option<(usize, usize)> {
    let (iy, ix) = ((i * s.sh + u) as isize - s.ph as isize, (j * s.sw + v) as isize - s.pw as isize);
    (iy >= 0 && ix >= 0 && (iy as usize) < s.h && (ix as usize) < s.w).then_some((iy as usize, ix as usize))
}

/// Returns (y, dx, dw, db) of `y = conv(x, w) + b` and the vector-Jacobian product with `gy`.
#[allow(clippy::type_complexity)]
fn naive(s: &Shape, x: &[f32], w: &[f32], b: &[f32], gy: &[f32]) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let (oh, ow) = s.out().unwrap();
    let xi = |n: usize, c: usize, y: usize, x_: usize| ((n * s.c + c) * s.h + y) * s.w + x_;
    let wi = |o: usize, c: usize, u: usize, v: usize| ((o * s.c + c) * s.kh + u) * s.kw + v;
    let yi = |n: usize, o: usize, i: usize, j: usize| ((n * s.o + o) * oh + i) * ow + j;
    let mut y = vec![0.0f64; s.n * s.o * oh * ow];
    let mut dx = vec![0.0f64; x.len()];
    let mut dw = vec![0.0f64; w.len()];
    let mut db = vec![0.0f64; s.o];
    for n in 0..s.n {
        for o in 0..s.o {
            for i in 0..oh {
                for j in 0..ow {
                    let g = gy[yi(n, o, i, j)] as f64;
                    let mut acc = b[o] as f64;
                    db[o] += g;
                    for c in 0..s.c {
                        for u in 0..s.kh {
                            for v in 0..s.kw {
                                if let Some((iy, ix)) = src(s, i, j, u, v) {
                                    acc += w[wi(o, c, u, v)] as f64 * x[xi(n, c, iy, ix)] as f64;
                                    dw[wi(o, c, u, v)] += g * x[xi(n, c, iy, ix)] as f64;
                                    dx[xi(n, c, iy, ix)] += g * w[wi(o, c, u, v)] as f64;
                                }
                            }
                        }
                    }
                    y[yi(n, o, i, j)] = acc;
                }
            }
        }
    }
    (y, dx, dw, db)
}

fn close(what: &str, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&a, &e)) in got.iter().zip(want).enumerate() {
        assert!((a as f64 - e).abs() <= 1e-4 * (e.abs() + 1.0), "{what}[{i}]: got {a}, want {e}");
    }
}

fn check(s: Shape, seed: u64) {
    let g = Graph::new();
    let x = g.leaf(Tensor::rand_normal(&[s.n, s.c, s.h, s.w], 0.0, 1.0, seed));
    let w = g.leaf(Tensor::rand_normal(&[s.o, s.c, s.kh, s.kw], 0.0, 1.0, seed + 1));
    let b = g.leaf(Tensor::rand_normal(&[s.o], 0.0, 1.0, seed + 2));
    let res = ops::conv2d(&x, &w, Some(&b), (s.sh, s.sw), (s.ph, s.pw));
    let Some((oh, ow)) = s.out() else {
        let e = res.expect_err("kernel larger than the padded input must be an error").to_string();
        assert!(e.contains(&format!("{:?}", x.shape())) && e.contains(&format!("{:?}", w.shape())), "{e}");
        return;
    };
    let y = res.unwrap();
    assert_eq!(y.shape(), &[s.n, s.o, oh, ow]);
    let gy = Tensor::rand_normal(y.shape(), 0.0, 1.0, seed + 3);
    let (ey, edx, edw, edb) = naive(&s, x.value().data(), w.value().data(), b.value().data(), gy.data());
    close("y", y.value().data(), &ey);
    let grads = y.backward_with(gy).unwrap();
    close("dx", grads.wrt(&x).unwrap().data(), &edx);
    close("dw", grads.wrt(&w).unwrap().data(), &edw);
    close("db", grads.wrt(&b).unwrap().data(), &edb);
}

fn shapes() -> impl Strategy<Value = Shape> {
    (1usize..=3, 1usize..=5, 1usize..=6, 1usize..=12, 1usize..=12, 1usize..=5, 1usize..=5, 1usize..=3, 1usize..=3, 0usize..=2, 0usize..=2)
        .prop_map(|(n, c, o, h, w, kh, kw, sh, sw, ph, pw)| Shape { n, c, o, h, w, kh, kw, sh, sw, ph, pw })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn conv2d_matches_naive(s in shapes(), seed in 0u64..10_000) {
        check(s, seed);
    }
}

#[test]
fn conv2d_matches_naive_on_batched_and_pointwise_layers() {
    // several images per GEMM (small maps), one image per GEMM (large maps), and the 1x1 path
    let base = Shape { n: 11, c: 3, o: 5, h: 6, w: 7, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 };
    check(base, 1);
    check(Shape { n: 3, h: 30, w: 29, kh: 5, kw: 4, ph: 0, pw: 2, ..base }, 2);
    check(Shape { n: 10, kh: 1, kw: 1, ph: 0, pw: 0, ..base }, 3);
    check(Shape { n: 1, h: 25, w: 25, kh: 1, kw: 1, ph: 0, pw: 0, ..base }, 4);
    check(Shape { n: 9, kh: 1, kw: 1, sh: 2, sw: 3, ph: 1, pw: 0, ..base }, 5);
}

#[test]
fn first_layer_input_gets_no_gradient() {
    let g = Graph::new();
    let x = g.constant(Tensor::rand_normal(&[2, 1, 8, 8], 0.0, 1.0, 1));
    let w = g.leaf(Tensor::rand_normal(&[4, 1, 3, 3], 0.0, 1.0, 2));
    let y = ops::conv2d(&x, &w, None, (1, 1), (0, 0)).unwrap();
    let gr = y.backward_with(Tensor::ones(y.shape())).unwrap();
    assert!(gr.wrt(&x).is_none());
    assert_eq!(gr.wrt(&w).unwrap().shape(), &[4, 1, 3, 3]);
}
