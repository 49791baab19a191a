//! `conv2d_relu_max_pool`: gradcheck of x, w and b, and the bits of `conv2d` followed by
//! `max_pool2d_relu` (values and all three gradients) on every im2col path (one image, groups
//! of images, several backward chunks, pointwise, strided, padded), with ties, zeros, a -0.0
//! and a NaN; a Winograd geometry runs as the two ops.

use proptest::prelude::*;
use pupil::autograd::{gradcheck, GradcheckOptions, Graph, Var};
use pupil::ops::{self, MaxPoolArgs};
use pupil::{Rng, Tensor};

mod common;

use common::{bits, distinct};

/// Filters that each copy one input channel at one tap (weight 1, all others 0), so the
/// convolution's outputs are input values: distinct, away from zero, and no finite-difference
/// step of gradcheck (5e-3 on one value, moving any output by at most 5e-3) reorders a window
/// or crosses the ReLU's kink.
fn taps(o: usize, c: usize, kh: usize, kw: usize, seed: u64) -> Tensor {
    let mut r = Rng::new(seed);
    let mut w = vec![0f32; o * c * kh * kw];
    for f in 0..o {
        let (ci, t) = (r.below(c), r.below(kh * kw));
        w[(f * c + ci) * kh * kw + t] = 1.0;
    }
    Tensor::from_vec(w, &[o, c, kh, kw]).unwrap()
}

/// Coarse values (many ties, with each other and with zero).
fn coarse(shape: &[usize], seed: u64) -> Tensor {
    common::coarse(shape, seed, 3.0)
}

/// The fused op and the two ops on the same inputs: values, then the gradients of x, w and b
/// for a random output gradient from `seed`, as bits; and the ops each put on the tape.
#[allow(clippy::type_complexity)]
fn both(
    x0: &Tensor,
    w0: &Tensor,
    b0: &Tensor,
    stride: (usize, usize),
    pad: (usize, usize),
    pool: MaxPoolArgs,
    seed: u64,
) -> [(Vec<Vec<u32>>, Vec<&'static str>); 2] {
    let run = |fused: bool| {
        let g = Graph::profiled();
        let (x, w, b) = (g.leaf(x0.clone()), g.leaf(w0.clone()), g.leaf(b0.clone()));
        let y: Var = if fused {
            ops::conv2d_relu_max_pool(&x, &w, Some(&b), stride, pad, pool).unwrap()
        } else {
            ops::max_pool2d_relu(&ops::conv2d(&x, &w, Some(&b), stride, pad).unwrap(), pool.kernel, pool.stride, pool.pad).unwrap()
        };
        // non-integer gradients, so sums added in another order would round differently
        let gr = y.backward_with(Tensor::rand_normal(y.shape(), 0.0, 1.0, seed)).unwrap();
        let out = vec![bits(y.value()), bits(gr.wrt(&x).unwrap()), bits(gr.wrt(&w).unwrap()), bits(gr.wrt(&b).unwrap())];
        (out, g.profile().iter().map(|t| t.op).collect())
    };
    [run(true), run(false)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn conv_relu_max_pool_gradcheck(n in 1usize..=2, c in 1usize..=2, o in 1usize..=2, h in 1usize..=5, w in 1usize..=5,
                                    kh in 1usize..=3, kw in 1usize..=3, sh in 1usize..=2, sw in 1usize..=2,
                                    pk in 1usize..=3, ps in 1usize..=2, pp in 0usize..=1, seed in 0u64..1000) {
        prop_assume!(kh <= h && kw <= w);
        let (oh, ow) = ((h - kh) / sh + 1, (w - kw) / sw + 1);
        prop_assume!(pk <= oh + 2 * pp && pk <= ow + 2 * pp);
        let pool = MaxPoolArgs { kernel: (pk, pk), stride: (ps, ps), pad: [pp; 4] };
        let inputs = [distinct(&[n, c, h, w], seed), taps(o, c, kh, kw, seed + 1), Tensor::zeros(&[o])];
        gradcheck(|_, v| ops::conv2d_relu_max_pool(&v[0], &v[1], Some(&v[2]), (sh, sw), (0, 0), pool), &inputs, &GradcheckOptions::default()).unwrap();
    }

    /// The same bits as the two ops, forward and backward, on every im2col path.
    #[test]
    fn conv_relu_max_pool_is_conv_then_pool(n in 1usize..=10, c in 1usize..=3, o in 1usize..=5, h in 1usize..=12, w in 1usize..=12,
                                            k in 1usize..=5, s in 1usize..=2, p in 0usize..=2,
                                            pk in 1usize..=5, ps in 1usize..=3, pp in (0usize..=2, 0usize..=2, 0usize..=2, 0usize..=2),
                                            seed in 0u64..1000) {
        prop_assume!(k <= h + 2 * p && k <= w + 2 * p);
        let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
        let pad = [pp.0, pp.1, pp.2, pp.3];
        prop_assume!(pk <= oh + pad[0] + pad[1] && pk <= ow + pad[2] + pad[3]);
        let mut x = coarse(&[n, c, h, w], seed);
        let len = x.len();
        x.data_mut()[seed as usize % len] = -0.0;
        if seed % 3 == 0 {
            x.data_mut()[(seed as usize / 3) % len] = f32::NAN;
        }
        let pool = MaxPoolArgs { kernel: (pk, pk), stride: (ps, ps), pad };
        let [(fused, fops), (plain, _)] = both(&x, &coarse(&[o, c, k, k], seed + 1), &coarse(&[o], seed + 2), (s, s), (p, p), pool, seed + 3);
        prop_assert_eq!(fops, vec!["conv2d_relu_max_pool"]);
        for (i, (a, b)) in fused.iter().zip(&plain).enumerate() {
            prop_assert!(a == b, "output {} differs (0 = values, 1-3 = dx, dw, db)", i);
        }
    }
}

/// keras-hw3's first layer (5x5 on 48x48, pool 5x5 stride 2 after a padding of 2), a batch of
/// 9 (two backward chunks), and a convolution that takes Winograd, which runs as the two ops.
#[test]
fn seed_layer_and_winograd_fallback() {
    let pool = MaxPoolArgs { kernel: (5, 5), stride: (2, 2), pad: [2; 4] };
    let (x, w, b) =
        (Tensor::rand_normal(&[9, 1, 48, 48], 0.0, 1.0, 1), Tensor::rand_normal(&[64, 1, 5, 5], 0.0, 0.2, 2), Tensor::rand_normal(&[64], 0.0, 0.1, 3));
    let [(fused, fops), (plain, _)] = both(&x, &w, &b, (1, 1), (0, 0), pool, 4);
    assert_eq!(fops, ["conv2d_relu_max_pool"]);
    assert!(fused == plain, "keras-hw3 conv1");
    let pool = MaxPoolArgs { kernel: (2, 2), stride: (2, 2), pad: [0; 4] };
    let (x, w, b) =
        (Tensor::rand_normal(&[2, 8, 10, 10], 0.0, 1.0, 5), Tensor::rand_normal(&[8, 8, 3, 3], 0.0, 0.2, 6), Tensor::rand_normal(&[8], 0.0, 0.1, 7));
    let [(fused, fops), (plain, pops)] = both(&x, &w, &b, (1, 1), (1, 1), pool, 8);
    assert_eq!((fops.clone(), pops), (vec!["conv2d", "max_pool2d_relu"], vec!["conv2d", "max_pool2d_relu"]));
    assert!(fused == plain, "Winograd 3x3");
    // a graph that records nothing: the same values, no argmax kept
    let g = Graph::no_grad();
    let y = ops::conv2d_relu_max_pool(&g.constant(x.clone()), &g.constant(w.clone()), Some(&g.constant(b.clone())), (1, 1), (0, 0), pool).unwrap();
    let g2 = Graph::new();
    let want =
        ops::max_pool2d_relu(&ops::conv2d(&g2.leaf(x), &g2.constant(w), Some(&g2.constant(b)), (1, 1), (0, 0)).unwrap(), (2, 2), (2, 2), [0; 4]).unwrap();
    assert_eq!(bits(y.value()), bits(want.value()));
}

#[test]
fn errors_name_the_shapes() {
    let g = Graph::new();
    let x = g.leaf(Tensor::zeros(&[1, 2, 6, 6]));
    let w = g.leaf(Tensor::zeros(&[3, 2, 3, 3]));
    let pool = MaxPoolArgs { kernel: (5, 5), stride: (1, 1), pad: [0; 4] };
    let e = ops::conv2d_relu_max_pool(&x, &w, None, (1, 1), (0, 0), pool).unwrap_err().to_string();
    assert!(e.contains("[1, 3, 4, 4]") && e.contains("larger"), "{e}");
    let w1 = g.leaf(Tensor::zeros(&[3, 1, 3, 3]));
    let e = ops::conv2d_relu_max_pool(&x, &w1, None, (1, 1), (0, 0), pool).unwrap_err().to_string();
    assert!(e.contains("[1, 2, 6, 6]") && e.contains("[3, 1, 3, 3]"), "{e}");
}
