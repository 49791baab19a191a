//! Pooling with folded zero padding: gradcheck of `max_pool2d_padded` / `avg_pool2d_padded` /
//! `max_pool2d_relu`, the exact equality of each with `pad2d` (and `relu`) followed by the
//! plain pool (values and gradient), and the values-only max pool of a no-grad graph against
//! the recording one.

use proptest::prelude::*;
use pupil::autograd::{gradcheck, GradcheckOptions, Graph};
use pupil::{ops, Tensor};

mod common;

use common::{bits, distinct};

/// Coarse values (many ties, with each other and with the padding's zeros).
fn coarse(shape: &[usize], seed: u64) -> Tensor {
    common::coarse(shape, seed, 4.0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn padded_pool_gradcheck(n in 1usize..=2, c in 1usize..=2, h in 1usize..=6, w in 1usize..=6,
                             kh in 1usize..=5, kw in 1usize..=5, sh in 1usize..=3, sw in 1usize..=3,
                             pad in (0usize..=2, 0usize..=2, 0usize..=2, 0usize..=2), seed in 0u64..1000) {
        let pad = [pad.0, pad.1, pad.2, pad.3];
        prop_assume!(kh <= h + pad[0] + pad[1] && kw <= w + pad[2] + pad[3]);
        let opts = GradcheckOptions::default();
        let x = distinct(&[n, c, h, w], seed);
        gradcheck(|_, v| ops::max_pool2d_padded(&v[0], (kh, kw), (sh, sw), pad), std::slice::from_ref(&x), &opts).unwrap();
        gradcheck(|_, v| ops::avg_pool2d_padded(&v[0], (kh, kw), (sh, sw), pad), &[x], &opts).unwrap();
    }

    /// The max pool of the ReLU'd input in one op: gradcheck (values 0.02 away from ReLU's kink
    /// and from each other), and the same bits as `relu` then `max_pool2d_padded`, forward and
    /// backward, on values full of ties, zeros and negative windows, with a -0.0 and a NaN.
    #[test]
    fn max_pool_relu_is_relu_then_pool(n in 1usize..=2, c in 1usize..=3, h in 1usize..=9, w in 1usize..=9,
                                       kh in 1usize..=5, kw in 1usize..=5, sh in 1usize..=3, sw in 1usize..=3,
                                       pad in (0usize..=2, 0usize..=2, 0usize..=2, 0usize..=2), seed in 0u64..1000) {
        let pad = [pad.0, pad.1, pad.2, pad.3];
        prop_assume!(kh <= h + pad[0] + pad[1] && kw <= w + pad[2] + pad[3]);
        if n * c * h * w <= 256 {
            let x = distinct(&[n, c, h, w], seed);
            gradcheck(|_, v| ops::max_pool2d_relu(&v[0], (kh, kw), (sh, sw), pad), &[x], &GradcheckOptions::default()).unwrap();
        }
        let mut x0 = coarse(&[n, c, h, w], seed);
        let len = x0.len();
        x0.data_mut()[seed as usize % len] = -0.0;
        if seed % 3 == 0 {
            x0.data_mut()[(seed as usize / 3) % len] = f32::NAN;
        }
        let g = Graph::new();
        let x = g.leaf(x0);
        let fused = ops::max_pool2d_relu(&x, (kh, kw), (sh, sw), pad).unwrap();
        let plain = ops::max_pool2d_padded(&ops::relu(&x).unwrap(), (kh, kw), (sh, sw), pad).unwrap();
        prop_assert_eq!(fused.shape(), plain.shape());
        prop_assert_eq!(bits(fused.value()), bits(plain.value()));
        let seed_t = coarse(fused.shape(), seed + 1);
        let gf = fused.backward_with(seed_t.clone()).unwrap();
        let gp = plain.backward_with(seed_t).unwrap();
        prop_assert_eq!(bits(gf.wrt(&x).unwrap()), bits(gp.wrt(&x).unwrap()));
    }

    /// Folded and materialised padding agree bit for bit, forward and backward, ties included.
    #[test]
    fn padded_pool_equals_pad_then_pool(n in 1usize..=2, c in 1usize..=3, h in 1usize..=9, w in 1usize..=9,
                                        kh in 1usize..=5, kw in 1usize..=5, sh in 1usize..=3, sw in 1usize..=3,
                                        pad in (0usize..=2, 0usize..=2, 0usize..=2, 0usize..=2), seed in 0u64..1000) {
        let [t, b, l, r] = [pad.0, pad.1, pad.2, pad.3];
        prop_assume!(kh <= h + t + b && kw <= w + l + r);
        let x0 = coarse(&[n, c, h, w], seed);
        for max in [true, false] {
            let g = Graph::new();
            let x = g.leaf(x0.clone());
            let pool = |v: &pupil::autograd::Var, p: [usize; 4]| if max { ops::max_pool2d_padded(v, (kh, kw), (sh, sw), p) } else { ops::avg_pool2d_padded(v, (kh, kw), (sh, sw), p) };
            let folded = pool(&x, [t, b, l, r]).unwrap();
            let plain = pool(&ops::pad2d(&x, t, b, l, r).unwrap(), [0; 4]).unwrap();
            prop_assert_eq!(folded.shape(), plain.shape());
            prop_assert_eq!(bits(folded.value()), bits(plain.value()));
            let seed_t = coarse(folded.shape(), seed + 1);
            let gf = folded.backward_with(seed_t.clone()).unwrap();
            let gp = plain.backward_with(seed_t).unwrap();
            prop_assert_eq!(bits(gf.wrt(&x).unwrap()), bits(gp.wrt(&x).unwrap()));
        }
    }

    /// On a no-grad graph the max pool keeps no argmax and records nothing, and its values
    /// are the recording pool's (a tie of -0.0 and +0.0 aside; `coarse` has no -0.0).
    #[test]
    fn no_grad_max_pool_equals_recording(n in 1usize..=2, c in 1usize..=3, h in 2usize..=12, w in 2usize..=12,
                                         k in 1usize..=5, s in 1usize..=3, p in 0usize..=2, seed in 0u64..1000) {
        prop_assume!(k <= h + 2 * p && k <= w + 2 * p);
        let x0 = coarse(&[n, c, h, w], seed);
        let g = Graph::new();
        let rec = ops::max_pool2d_padded(&g.leaf(x0.clone()), (k, k), (s, s), [p; 4]).unwrap();
        let ng = Graph::no_grad();
        let inf = ops::max_pool2d_padded(&ng.leaf(x0), (k, k), (s, s), [p; 4]).unwrap();
        prop_assert!(ng.is_empty() && inf.op().is_none());
        prop_assert_eq!(bits(inf.value()), bits(rec.value()));
    }
}

#[test]
fn padded_pool_errors_name_the_shapes() {
    let g = Graph::new();
    let x = g.leaf(Tensor::zeros(&[1, 1, 3, 3]));
    let e = ops::max_pool2d_padded(&x, (6, 6), (1, 1), [1, 1, 1, 1]).unwrap_err().to_string();
    assert!(e.contains("[1, 1, 3, 3]") && e.contains("larger"), "{e}");
    assert!(ops::max_pool2d_padded(&x, (5, 5), (1, 1), [1, 1, 1, 1]).is_ok());
    let e = ops::avg_pool2d_padded(&x, (2, 2), (1, 1), [0, 70000, 0, 0]).unwrap_err().to_string();
    assert!(e.contains("too large"), "{e}");
}

/// An input of zero height padded to a plane the kernel fits: the output is the padding's
/// zeros, and the gradient is the input's: empty (the backward kernels must stop before
/// splitting an empty gradient into blocks).
#[test]
fn a_zero_height_input_pools_its_padding_only() {
    for max in [true, false] {
        let g = Graph::new();
        let x = g.leaf(Tensor::zeros(&[2, 3, 0, 4]));
        let y = if max { ops::max_pool2d_padded(&x, (2, 2), (1, 1), [1, 1, 0, 0]) } else { ops::avg_pool2d_padded(&x, (2, 2), (1, 1), [1, 1, 0, 0]) }.unwrap();
        assert_eq!(y.shape(), &[2, 3, 1, 3]);
        assert!(y.value().data().iter().all(|&v| v == 0.0), "max {max}");
        let gr = y.backward_with(Tensor::ones(y.shape())).unwrap();
        assert_eq!(gr.wrt(&x).unwrap().shape(), &[2, 3, 0, 4], "max {max}");
    }
}

/// A batch larger than one parallel block of planes (2·40 planes of 24x24, 56 planes a block):
/// the gradients of 2x2 / stride-2 max and average pooling against a plain loop, exactly.
#[test]
fn pool_gradients_over_many_blocks_match_a_plain_loop() {
    let (n, c, h, w) = (2, 40, 24, 24);
    let len = n * c * h * w;
    // distinct values (7919 is prime to len), so every window has one max
    let x0 = Tensor::from_vec((0..len).map(|i| ((i * 7919) % len) as f32).collect(), &[n, c, h, w]).unwrap();
    let (oh, ow) = (h / 2, w / 2);
    let dy = Tensor::from_vec((0..n * c * oh * ow).map(|i| (i % 97) as f32 - 48.0).collect(), &[n, c, oh, ow]).unwrap();
    for max in [true, false] {
        let g = Graph::new();
        let x = g.leaf(x0.clone());
        let y = if max { ops::max_pool2d(&x, (2, 2), (2, 2)) } else { ops::avg_pool2d(&x, (2, 2), (2, 2)) }.unwrap();
        let got = y.backward_with(dy.clone()).unwrap().wrt(&x).unwrap().clone();
        let mut want = vec![0.0f32; len];
        for p in 0..n * c {
            for (oy, ox) in (0..oh).flat_map(|oy| (0..ow).map(move |ox| (oy, ox))) {
                let d = dy.data()[(p * oh + oy) * ow + ox];
                let cells: Vec<usize> = [(0, 0), (0, 1), (1, 0), (1, 1)].iter().map(|&(a, b)| (p * h + 2 * oy + a) * w + 2 * ox + b).collect();
                if max {
                    let top = *cells.iter().max_by(|&&i, &&j| x0.data()[i].total_cmp(&x0.data()[j])).unwrap();
                    want[top] += d;
                } else {
                    for &i in &cells {
                        want[i] += d / 4.0;
                    }
                }
            }
        }
        assert_eq!(bits(&got), want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "max {max}");
    }
}
