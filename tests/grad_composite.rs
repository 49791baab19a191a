//! End-to-end gradient checks of small networks: conv → pool → dense → cross-entropy, with
//! every parameter AND the input image checked, and the same through the nn layers
//! (Sequential with batch norm and PReLU), as saliency and training use them.

use proptest::prelude::*;
use pupil::autograd::{gradcheck, GradcheckOptions, Graph};
use pupil::nn::{ModelSpec, Module, Sequential};
use pupil::{ops, Tensor};
use std::path::Path;

fn t(shape: &[usize], seed: u64, std: f32) -> Tensor {
    Tensor::rand_normal(shape, 0.0, std, seed)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// x → conv (stride s, padding p) → tanh → max pool 2 → flatten → dense → cross-entropy.
    /// (A weight moves every output of its channel at once, so with ReLU a finite step crosses
    /// kinks on both sides and no step size is clean; tanh keeps the check tight. ReLU and max
    /// pool have their own checks; the nn test below goes through PReLU and SELU kinks.)
    #[test]
    fn conv_pool_dense_cross_entropy(n in 1usize..3, c in 1usize..3, o in 1usize..4, hw in 6usize..10,
                                     k in 1usize..4, s in 1usize..3, p in 0usize..2, classes in 2usize..5, seed in 0u64..500) {
        let oh = (hw + 2 * p - k) / s + 1;
        prop_assume!(oh >= 2);
        let ph = (oh - 2) / 2 + 1;
        let feat = o * ph * ph;
        let labels: Vec<usize> = (0..n).map(|i| (i + seed as usize) % classes).collect();
        let inputs = [t(&[n, c, hw, hw], seed, 1.0), t(&[o, c, k, k], seed + 1, 0.5), t(&[o], seed + 2, 0.1), t(&[feat, classes], seed + 3, 0.5), t(&[classes], seed + 4, 0.1)];
        let opts = GradcheckOptions { max_coords: 40, eps: 2e-3, ..GradcheckOptions::default() };
        let report = gradcheck(
            |_, v| {
                let y = ops::conv2d(&v[0], &v[1], Some(&v[2]), (s, s), (p, p))?;
                let y = ops::max_pool2d(&ops::tanh(&y)?, (2, 2), (2, 2))?;
                let y = ops::linear(&ops::flatten(&y)?, &v[3], Some(&v[4]))?;
                ops::cross_entropy(&y, &labels)
            },
            &inputs,
            &opts,
        ).unwrap();
        prop_assert!(report.skipped_kinks * 5 <= report.checked, "{:?}", report);
    }
}

/// A case the proptest above once drew (session 14): a max-pool window swaps its argmax on
/// both sides of weight 10 within the step, so both one-sided slopes were wrong alike; the
/// check must take it for a kink, not a wrong gradient (a smaller step agrees with backward).
#[test]
fn conv_pool_kinks_on_both_sides_of_the_step() {
    let (n, c, o, hw, k, classes, seed) = (1, 1, 3, 8, 2, 4, 27u64);
    let feat = o * 3 * 3; // conv 8 -> 7, pool 2 -> 3
    let labels: Vec<usize> = (0..n).map(|i| (i + seed as usize) % classes).collect();
    let inputs = [
        t(&[n, c, hw, hw], seed, 1.0),
        t(&[o, c, k, k], seed + 1, 0.5),
        t(&[o], seed + 2, 0.1),
        t(&[feat, classes], seed + 3, 0.5),
        t(&[classes], seed + 4, 0.1),
    ];
    let f = |_: &Graph, v: &[pupil::autograd::Var]| {
        let y = ops::conv2d(&v[0], &v[1], Some(&v[2]), (1, 1), (0, 0))?;
        let y = ops::max_pool2d(&ops::tanh(&y)?, (2, 2), (2, 2))?;
        let y = ops::linear(&ops::flatten(&y)?, &v[3], Some(&v[4]))?;
        ops::cross_entropy(&y, &labels)
    };
    let report = gradcheck(f, &inputs, &GradcheckOptions { max_coords: 40, eps: 2e-3, ..GradcheckOptions::default() }).unwrap();
    assert!(report.skipped_kinks * 5 <= report.checked, "{report:?}");
    // the same coordinates at a step that straddles no kink: every one checks, none skipped
    let fine = gradcheck(f, &inputs, &GradcheckOptions { max_coords: 40, eps: 5e-4, ..GradcheckOptions::default() }).unwrap();
    assert_eq!(fine.skipped_kinks, 0, "{fine:?}");
}

/// The layers of the nn module, run in eval mode (batch norm on running statistics), checked
/// with respect to the input image: this is the saliency-map gradient.
#[test]
fn sequential_gradient_wrt_input_image() {
    let spec = ModelSpec::parse_named(
        "conv 4 3x3 same\nbatchnorm\nprelu channel\navgpool 2\nconv 4 3x3 valid tanh\nflatten\ndense 5 selu\ndense 3\n",
        Path::new("t.txt"),
    )
    .unwrap();
    let mut model = Sequential::build(&spec, &[1, 8, 8], 7).unwrap();
    // make PReLU slopes non-zero so both branches carry gradient
    for p in model.params_mut() {
        if p.name.contains("alpha") {
            p.value = Tensor::full(p.value.shape(), 0.25);
        }
    }
    let x = t(&[2, 1, 8, 8], 11, 1.0);
    let report = gradcheck(
        |_, v| {
            let y = model.forward(&v[0])?;
            ops::cross_entropy(&y, &[0, 2])
        },
        std::slice::from_ref(&x),
        &GradcheckOptions { max_coords: 128, ..GradcheckOptions::default() },
    )
    .unwrap();
    // kinks (PReLU and SELU at 0) are rare on random inputs: nearly every coordinate is compared
    // (each pixel feeds 36 conv outputs; ~7% of pixels have one within a step of a kink)
    assert!(report.checked >= 100, "{report:?}");
    // and the gradient is non-trivial: a saliency map with signal
    let g = Graph::new();
    let xv = g.leaf(x);
    let y = model.forward(&xv).unwrap();
    let score = ops::sum(&y).unwrap();
    let gx = score.backward().unwrap().wrt(&xv).unwrap().clone();
    assert!(gx.data().iter().filter(|v| v.abs() > 1e-6).count() > 100);
}
