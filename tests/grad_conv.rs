//! Property tests: gradcheck of conv2d (x, w and b), pad2d, max_pool2d and avg_pool2d; conv2d
//! is bit-identical on 1 and 2 threads; its gradients match the definition on the Winograd and
//! im2col paths; shape errors name both shapes.

use proptest::prelude::*;
use pupil::autograd::{gradcheck, GradcheckOptions, Graph};
use pupil::{ops, Rng, Tensor};

fn t(shape: &[usize], seed: u64) -> Tensor {
    Tensor::rand_normal(shape, 0.0, 1.0, seed)
}

/// Distinct values spread over [-1, 1] in random order, at least `2 / len` apart, so no
/// finite-difference step of gradcheck (5e-3) crosses a tie when `len <= 256`.
fn distinct(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut v: Vec<f32> = (0..n).map(|i| if n == 1 { 0.0 } else { -1.0 + 2.0 * i as f32 / (n - 1) as f32 }).collect();
    Rng::new(seed).shuffle(&mut v);
    Tensor::from_vec(v, shape).unwrap()
}

fn opts() -> GradcheckOptions {
    GradcheckOptions::default()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn conv2d_gradcheck(
        n in 1usize..=2, c in 1usize..=3, o in 1usize..=3, h in 1usize..=7, w in 1usize..=7,
        kh in 1usize..=3, kw in 1usize..=3, sh in 1usize..=2, sw in 1usize..=2,
        ph in 0usize..=1, pw in 0usize..=1, seed in 0u64..1000,
    ) {
        prop_assume!(h + 2 * ph >= kh && w + 2 * pw >= kw);
        let inputs = [t(&[n, c, h, w], seed), t(&[o, c, kh, kw], seed + 1), t(&[o], seed + 2)];
        gradcheck(|_, v| ops::conv2d(&v[0], &v[1], Some(&v[2]), (sh, sw), (ph, pw)), &inputs, &opts()).unwrap();
        gradcheck(|_, v| ops::conv2d(&v[0], &v[1], None, (sh, sw), (ph, pw)), &inputs[..2], &opts()).unwrap();
    }

    #[test]
    fn pad2d_gradcheck(n in 1usize..=2, c in 1usize..=3, h in 1usize..=5, w in 1usize..=5,
                       pads in (0usize..=2, 0usize..=2, 0usize..=2, 0usize..=2), seed in 0u64..1000) {
        let (top, bottom, left, right) = pads;
        gradcheck(|_, v| ops::pad2d(&v[0], top, bottom, left, right), &[t(&[n, c, h, w], seed)], &opts()).unwrap();
    }

    #[test]
    fn pool_gradcheck(n in 1usize..=2, c in 1usize..=2, h in 1usize..=8, w in 1usize..=8,
                      kh in 1usize..=5, kw in 1usize..=5, sh in 1usize..=3, sw in 1usize..=3, seed in 0u64..1000) {
        prop_assume!(kh <= h && kw <= w);
        let x = distinct(&[n, c, h, w], seed);
        gradcheck(|_, v| ops::max_pool2d(&v[0], (kh, kw), (sh, sw)), &[x], &opts()).unwrap();
        gradcheck(|_, v| ops::avg_pool2d(&v[0], (kh, kw), (sh, sw)), &[t(&[n, c, h, w], seed)], &opts()).unwrap();
    }
}

#[test]
fn seed_model_pools_gradcheck() {
    for (k, s) in [((5, 5), (2, 2)), ((3, 3), (2, 2)), ((3, 3), (1, 1)), ((2, 2), (2, 2))] {
        let x = distinct(&[1, 2, 9, 8], 7);
        gradcheck(|_, v| ops::max_pool2d(&v[0], k, s), std::slice::from_ref(&x), &opts()).unwrap();
        gradcheck(|_, v| ops::avg_pool2d(&v[0], k, s), &[x], &opts()).unwrap();
    }
}

/// Forward + backward of conv2d on batch 37 under a rayon pool of `threads` threads.
fn conv_run(threads: usize, xs: &[usize], ws: &[usize], stride: (usize, usize), pad: (usize, usize)) -> Vec<Vec<f32>> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let g = Graph::new();
        let x = g.leaf(t(xs, 1));
        let w = g.leaf(t(ws, 2));
        let b = g.leaf(t(&[ws[0]], 3));
        let y = ops::conv2d(&x, &w, Some(&b), stride, pad).unwrap();
        let gr = y.backward_with(t(y.shape(), 4)).unwrap();
        vec![y.value().data().to_vec(), gr.wrt(&x).unwrap().data().to_vec(), gr.wrt(&w).unwrap().data().to_vec(), gr.wrt(&b).unwrap().data().to_vec()]
    })
}

#[test]
fn conv2d_is_bit_identical_on_1_and_2_threads() {
    // small maps (several images per GEMM), large maps (one per GEMM), strided; Winograd 5x5
    // (AVX-512; im2col elsewhere) with a blocked filter gradient, and Winograd 3x3 with a large
    // dU (128 -> 128: the batch in at most 4 chunks)
    #[allow(clippy::type_complexity)]
    let cases: [(&[usize], &[usize], (usize, usize), (usize, usize)); 5] = [
        (&[37, 8, 10, 10], &[16, 8, 3, 3], (1, 1), (1, 1)),
        (&[37, 1, 30, 30], &[8, 1, 5, 5], (1, 1), (0, 0)),
        (&[37, 4, 13, 11], &[6, 4, 3, 2], (2, 1), (1, 0)),
        (&[37, 24, 15, 13], &[40, 24, 5, 5], (1, 1), (2, 1)),
        (&[37, 128, 6, 6], &[128, 128, 3, 3], (1, 1), (1, 1)),
    ];
    for (xs, ws, s, p) in cases {
        let one = conv_run(1, xs, ws, s, p);
        let two = conv_run(2, xs, ws, s, p);
        for (k, name) in ["y", "dx", "dw", "db"].iter().enumerate() {
            assert!(one[k].iter().zip(&two[k]).all(|(a, b)| a.to_bits() == b.to_bits()), "{name} differs between 1 and 2 threads for {xs:?} * {ws:?}");
        }
    }
}

#[test]
fn shape_errors_name_both_shapes() {
    let g = Graph::new();
    let x = g.leaf(Tensor::zeros(&[2, 3, 8, 8]));
    let has = |e: pupil::Error, a: &str, b: &str| {
        let e = e.to_string();
        assert!(e.contains(a) && e.contains(b), "{e}");
    };
    let w = g.leaf(Tensor::zeros(&[4, 2, 3, 3]));
    has(ops::conv2d(&x, &w, None, (1, 1), (0, 0)).unwrap_err(), "[2, 3, 8, 8]", "[4, 2, 3, 3]");
    let w = g.leaf(Tensor::zeros(&[4, 3, 9, 3]));
    has(ops::conv2d(&x, &w, None, (1, 1), (0, 0)).unwrap_err(), "[2, 3, 8, 8]", "[4, 3, 9, 3]");
    let w = g.leaf(Tensor::zeros(&[4, 3, 3]));
    has(ops::conv2d(&x, &w, None, (1, 1), (0, 0)).unwrap_err(), "[2, 3, 8, 8]", "[4, 3, 3]");
    let w = g.leaf(Tensor::zeros(&[4, 3, 3, 3]));
    let b = g.leaf(Tensor::zeros(&[5]));
    has(ops::conv2d(&x, &w, Some(&b), (1, 1), (0, 0)).unwrap_err(), "[5]", "[4, 3, 3, 3]");
    assert!(ops::conv2d(&x, &w, None, (1, 0), (0, 0)).unwrap_err().to_string().contains("stride"));
    has(ops::max_pool2d(&x, (9, 2), (1, 1)).unwrap_err(), "[2, 3, 8, 8]", "[9, 2]");
    has(ops::avg_pool2d(&g.leaf(Tensor::zeros(&[8, 8])), (2, 2), (2, 2)).unwrap_err(), "[8, 8]", "[2, 2]");
    assert!(ops::pad2d(&g.leaf(Tensor::zeros(&[8, 8])), 1, 1, 1, 1).unwrap_err().to_string().contains("[8, 8]"));
}

/// `dX`, `dW` and `db` of conv2d for the output gradient `dy`, straight from the definition in
/// f64: `y[n][o][i][j] = b[o] + Σ_{c,a,b} x[n][c][i·sh + a - ph][j·sw + b - pw] · w[o][c][a][b]`.
fn direct_grads(x: &Tensor, w: &Tensor, dy: &Tensor, (sh, sw): (usize, usize), (ph, pw): (usize, usize)) -> [Vec<f64>; 3] {
    let ([n, c, h, wd], [o, _, kh, kw], [_, _, oh, ow]) = (x.shape().try_into().unwrap(), w.shape().try_into().unwrap(), dy.shape().try_into().unwrap());
    let (xv, wv, dyv) = (x.data(), w.data(), dy.data());
    let (mut dx, mut dw, mut db) = (vec![0.0f64; xv.len()], vec![0.0f64; wv.len()], vec![0.0f64; o]);
    for (ni, oc, i, j) in (0..n).flat_map(|ni| (0..o).flat_map(move |oc| (0..oh).flat_map(move |i| (0..ow).map(move |j| (ni, oc, i, j))))) {
        let g = dyv[((ni * o + oc) * oh + i) * ow + j] as f64;
        db[oc] += g;
        for (ci, a, b) in (0..c).flat_map(|ci| (0..kh).flat_map(move |a| (0..kw).map(move |b| (ci, a, b)))) {
            let (iy, ix) = ((i * sh + a).wrapping_sub(ph), (j * sw + b).wrapping_sub(pw));
            if iy < h && ix < wd {
                let (xi, wi) = (((ni * c + ci) * h + iy) * wd + ix, ((oc * c + ci) * kh + a) * kw + b);
                dx[xi] += g * wv[wi] as f64;
                dw[wi] += g * xv[xi] as f64;
            }
        }
    }
    [dx, dw, db]
}

/// `got` has `want`'s length, is finite, and is within 1e-5 of `want`'s largest magnitude.
fn assert_matches(got: &[f32], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    let scale = want.iter().fold(f64::MIN_POSITIVE, |m, v| m.max(v.abs()));
    let err = got.iter().zip(want).fold(0.0f64, |m, (&a, b)| m.max((a as f64 - b).abs())) / scale;
    // (f64::max skips NaN: a NaN gradient would show as error 0)
    assert!(got.iter().all(|v| v.is_finite()) && err < 1e-5, "{what}: relative error {err}");
}

/// conv2d's gradients against [`direct_grads`] within 1e-5 of the largest, on the Winograd path
/// (3x3, stride 1, at least 8 channels each way: `dX` by the flipped filters, `dW` by the
/// adjoint transforms) with odd sizes, every padding, batches of several chunks and images of
/// 100 tiles (one image a group), and on the im2col path (one image a GEMM, pointwise, strided).
#[test]
fn conv2d_gradients_match_the_definition() {
    #[allow(clippy::type_complexity)]
    let cases: [(&[usize], &[usize], (usize, usize), (usize, usize)); 8] = [
        (&[19, 8, 6, 7], &[9, 8, 3, 3], (1, 1), (1, 1)),
        (&[2, 8, 20, 19], &[8, 8, 3, 3], (1, 1), (1, 1)),
        (&[3, 9, 5, 4], &[8, 9, 3, 3], (1, 1), (0, 2)),
        (&[7, 8, 12, 11], &[8, 8, 3, 3], (1, 1), (2, 1)),
        (&[1, 8, 3, 3], &[10, 8, 3, 3], (1, 1), (0, 0)),
        (&[11, 3, 22, 21], &[5, 3, 3, 3], (1, 1), (1, 1)),
        (&[3, 4, 20, 20], &[6, 4, 1, 1], (1, 1), (0, 0)),
        (&[10, 2, 9, 8], &[3, 2, 2, 3], (2, 1), (1, 0)),
    ];
    for (seed, (xs, ws, s, p)) in (0u64..).step_by(4).zip(cases) {
        let g = Graph::new();
        let (x, w, b) = (g.leaf(t(xs, seed)), g.leaf(t(ws, seed + 1)), g.leaf(t(&[ws[0]], seed + 2)));
        let y = ops::conv2d(&x, &w, Some(&b), s, p).unwrap();
        let dy = t(y.shape(), seed + 3);
        let gr = y.backward_with(dy.clone()).unwrap();
        let want = direct_grads(x.value(), w.value(), &dy, s, p);
        for (name, v, want) in [("dx", &x, &want[0]), ("dw", &w, &want[1]), ("db", &b, &want[2])] {
            assert_matches(gr.wrt(v).unwrap().data(), want, &format!("{name} of {xs:?} * {ws:?}, stride {s:?}, padding {p:?}"));
        }
    }
}

/// conv2d's gradients against [`direct_grads`] when only some of `x`, `w` and `b` need one (the
/// others constants: `x` is the first layer's input, a frozen filter, a fixed bias), on the
/// im2col path (pointwise with several images a GEMM, strided, padded, an image of no rows whose
/// output is all padding) and the Winograd path.
#[test]
fn conv2d_partial_gradients_match_the_definition() {
    #[allow(clippy::type_complexity)]
    let cases: [(&[usize], &[usize], (usize, usize), (usize, usize)); 5] = [
        (&[11, 4, 5, 6], &[3, 4, 1, 1], (1, 1), (0, 0)),
        (&[10, 2, 9, 8], &[3, 2, 2, 3], (2, 1), (1, 0)),
        (&[3, 3, 7, 6], &[4, 3, 3, 3], (1, 1), (1, 1)),
        (&[2, 3, 0, 4], &[2, 3, 2, 1], (1, 1), (1, 0)),
        (&[3, 8, 6, 6], &[8, 8, 3, 3], (1, 1), (1, 1)),
    ];
    for (seed, (xs, ws, s, p)) in (100u64..).step_by(4).zip(cases) {
        for mask in 1..8 {
            let g = Graph::new();
            let var = |i: usize, v: Tensor| if mask & (1 << i) != 0 { g.leaf(v) } else { g.constant(v) };
            let (x, w, b) = (var(0, t(xs, seed)), var(1, t(ws, seed + 1)), var(2, t(&[ws[0]], seed + 2)));
            let y = ops::conv2d(&x, &w, Some(&b), s, p).unwrap();
            let dy = t(y.shape(), seed + 3);
            let gr = y.backward_with(dy.clone()).unwrap();
            let want = direct_grads(x.value(), w.value(), &dy, s, p);
            for (i, (name, v, want)) in [("dx", &x, &want[0]), ("dw", &w, &want[1]), ("db", &b, &want[2])].into_iter().enumerate() {
                let Some(got) = gr.wrt(v) else {
                    assert!(mask & (1 << i) == 0, "no {name} of {xs:?} * {ws:?} (mask {mask})");
                    continue;
                };
                assert_matches(got.data(), want, &format!("{name} of {xs:?} * {ws:?}, stride {s:?}, padding {p:?}, mask {mask}"));
            }
        }
    }
}
