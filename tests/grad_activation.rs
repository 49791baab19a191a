//! Property tests of the activations and PReLU: gradcheck over random shapes and
//! hyper-parameters, values at the extremes, errors, and thread-count independence.

use proptest::prelude::*;
use pupil::autograd::{gradcheck, GradcheckOptions, Graph, Var};
use pupil::{ops, Tensor};

fn t(shape: &[usize], std: f32, seed: u64) -> Tensor {
    Tensor::rand_normal(shape, 0.0, std, seed)
}

/// Test input for the activations: no value within 0.05 of the kink at 0 (a finite difference
/// of step 5e-3 straddling it would compare against neither one-sided slope), `|x| <= 8` and the
/// first value 0.7, so the gradient's scale is not set by the f32 rounding noise of a fully
/// saturated sigmoid/tanh (a difference of values within 1e-7 of 1).
fn act_input(shape: &[usize], std: f32, seed: u64) -> Tensor {
    let mut x = t(shape, std, seed).map(|v| (v + 0.05f32.copysign(v)).clamp(-8.0, 8.0));
    x.data_mut()[0] = 0.7;
    x
}

fn opts() -> GradcheckOptions {
    GradcheckOptions::default()
}

fn shape_strategy() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..5, 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn activations(shape in shape_strategy(), alpha in -0.5f32..2.0, std in 0.5f32..4.0, seed in 0u64..10_000) {
        let xs = [act_input(&shape, std, seed)];
        gradcheck(|_, v| ops::relu(&v[0]), &xs, &opts()).unwrap();
        gradcheck(|_, v| ops::leaky_relu(&v[0], alpha), &xs, &opts()).unwrap();
        gradcheck(|_, v| ops::elu(&v[0], alpha), &xs, &opts()).unwrap();
        gradcheck(|_, v| ops::selu(&v[0]), &xs, &opts()).unwrap();
        gradcheck(|_, v| ops::softplus(&v[0]), &xs, &opts()).unwrap();
        gradcheck(|_, v| ops::sigmoid(&v[0]), &xs, &opts()).unwrap();
        gradcheck(|_, v| ops::tanh(&v[0]), &xs, &opts()).unwrap();
        // composed: the gradient flows through two activations
        gradcheck(|_, v| ops::sigmoid(&ops::elu(&v[0], alpha)?), &xs, &opts()).unwrap();
    }

    #[test]
    fn prelu_both_layouts(n in 1usize..4, c in 1usize..4, h in 1usize..4, w in 1usize..4, seed in 0u64..10_000) {
        let x = act_input(&[n, c, h, w], 1.0, seed);
        let per_elem = Tensor::rand_uniform(&[c, h, w], -0.5, 0.8, seed + 1);
        let per_chan = Tensor::rand_uniform(&[c], -0.5, 0.8, seed + 2);
        gradcheck(|_, v| ops::prelu(&v[0], &v[1]), &[x.clone(), per_elem], &opts()).unwrap();
        gradcheck(|_, v| ops::prelu(&v[0], &v[1]), &[x, per_chan], &opts()).unwrap();
        // dense layout [N, F]: alpha [F]
        let x2 = act_input(&[n + 1, c * h], 1.0, seed + 3);
        let a2 = Tensor::rand_uniform(&[c * h], -0.5, 0.8, seed + 4);
        gradcheck(|_, v| ops::prelu(&v[0], &v[1]), &[x2, a2], &opts()).unwrap();
    }
}

fn eval(f: impl Fn(&Var) -> pupil::Result<Var>, xs: &[f32]) -> Vec<f32> {
    let g = Graph::new();
    let x = g.leaf(Tensor::from_vec(xs.to_vec(), &[xs.len()]).unwrap());
    f(&x).unwrap().value().data().to_vec()
}

fn grad(f: impl Fn(&Var) -> pupil::Result<Var>, xs: &[f32]) -> Vec<f32> {
    let g = Graph::new();
    let x = g.leaf(Tensor::from_vec(xs.to_vec(), &[xs.len()]).unwrap());
    let y = ops::sum(&f(&x).unwrap()).unwrap();
    y.backward().unwrap().wrt(&x).unwrap().data().to_vec()
}

#[test]
fn values_and_extremes() {
    let xs = [-1e4f32, -100.0, -1.0, 0.0, 1.0, 100.0, 1e4];
    assert_eq!(eval(ops::relu, &xs), vec![0.0, 0.0, 0.0, 0.0, 1.0, 100.0, 1e4]);
    assert_eq!(eval(|x| ops::leaky_relu(x, 0.1), &[-2.0, 3.0]), vec![-0.2, 3.0]);
    // softplus: finite and asymptotically exact at both ends
    let sp = eval(ops::softplus, &xs);
    assert!(sp.iter().all(|v| v.is_finite()), "{sp:?}");
    assert_eq!(sp[6], 1e4);
    assert_eq!(sp[5], 100.0);
    assert!(sp[0] >= 0.0 && sp[0] < 1e-30);
    assert!((sp[3] - std::f32::consts::LN_2).abs() < 1e-7);
    let sg = eval(ops::sigmoid, &xs);
    assert!(sg.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)), "{sg:?}");
    assert_eq!(sg[3], 0.5);
    let sgd = grad(ops::sigmoid, &xs);
    assert!(sgd.iter().all(|v| v.is_finite()), "{sgd:?}");
    assert!((sgd[3] - 0.25).abs() < 1e-7);
    let spd = grad(ops::softplus, &xs);
    assert!(spd.iter().all(|v| v.is_finite()));
    assert_eq!(spd[6], 1.0);
    assert_eq!(spd[0], 0.0);
    // SELU constants and ELU saturation
    let s = eval(ops::selu, &[1.0, -1e4]);
    assert!((s[0] - 1.050_701).abs() < 1e-6);
    assert!((s[1] + 1.050_701 * 1.673_263_2).abs() < 1e-5);
    assert_eq!(eval(|x| ops::elu(x, 2.0), &[-1e4])[0], -2.0);
    assert_eq!(eval(ops::tanh, &[1e4, -1e4]), vec![1.0, -1.0]);
    // NaN propagates through relu (divergence stays visible)
    assert!(eval(ops::relu, &[f32::NAN])[0].is_nan());
    assert!(ops::leaky_relu(&Graph::new().leaf(Tensor::zeros(&[1])), f32::NAN).is_err());
}

/// At the kink `x = 0` each derivative is the documented one-sided slope, that of `x <= 0`
/// (as PyTorch): 0 for relu, `α` for leaky ReLU and ELU (`α ≠ 1`, so it differs from the
/// slope 1 of `x > 0`), `λα` for SELU, the slope for PReLU. Gradcheck keeps its inputs away
/// from the kink.
#[test]
fn derivatives_at_the_kink() {
    assert_eq!(grad(ops::relu, &[0.0, 2.0]), [0.0, 1.0]);
    assert_eq!(grad(|x| ops::leaky_relu(x, 0.3), &[0.0, 2.0]), [0.3, 1.0]);
    assert_eq!(grad(|x| ops::elu(x, 0.5), &[0.0, 2.0]), [0.5, 1.0]);
    assert_eq!(grad(ops::selu, &[0.0, 2.0]), [ops::SELU_LAMBDA * ops::SELU_ALPHA, ops::SELU_LAMBDA]);
    let g = Graph::new();
    let x = g.leaf(Tensor::from_vec(vec![0.0, 2.0, 0.0, -1.0], &[1, 2, 2]).unwrap());
    for (alpha, dx) in [(vec![0.25, 0.5], [0.25, 1.0, 0.5, 0.5]), (vec![0.25, 0.5, 0.75, 0.125], [0.25, 1.0, 0.75, 0.125])] {
        let shape = if alpha.len() == 2 { vec![2] } else { vec![2, 2] };
        let a = g.leaf(Tensor::from_vec(alpha, &shape).unwrap());
        let gr = ops::sum(&ops::prelu(&x, &a).unwrap()).unwrap().backward().unwrap();
        assert_eq!(gr.wrt(&x).unwrap().data(), &dx[..], "alpha {shape:?}");
    }
}

/// Samples of no elements (`x: [2, 3, 0]`): empty values and gradients, zero slope gradients,
/// in both layouts (the backward must not split zero-length samples).
#[test]
fn prelu_of_empty_samples() {
    let g = Graph::new();
    let x = g.leaf(Tensor::zeros(&[2, 3, 0]));
    for shape in [vec![3], vec![3, 0]] {
        let a = g.leaf(Tensor::zeros(&shape));
        let y = ops::prelu(&x, &a).unwrap();
        assert_eq!(y.shape(), &[2, 3, 0]);
        let gr = y.backward_with(Tensor::zeros(&[2, 3, 0])).unwrap();
        assert_eq!(gr.wrt(&x).unwrap().shape(), &[2, 3, 0]);
        let da = gr.wrt(&a).unwrap();
        assert_eq!((da.shape(), da.data()), (&shape[..], &vec![0.0; shape.iter().product()][..]));
    }
}

/// One slope per element, more slopes (2·20·20 = 800) than one parallel block of 512: the
/// slope gradient `Σ_b [x ≤ 0] g·x` (in f64, batch order) against a plain loop, exactly.
#[test]
fn prelu_slope_gradient_over_many_blocks_matches_a_plain_loop() {
    let g = Graph::new();
    let (x0, dy) = (t(&[3, 2, 20, 20], 1.0, 21), t(&[3, 2, 20, 20], 1.0, 22));
    let x = g.leaf(x0.clone());
    let a = g.leaf(Tensor::rand_uniform(&[2, 20, 20], -0.3, 0.6, 23));
    let gr = ops::prelu(&x, &a).unwrap().backward_with(dy.clone()).unwrap();
    let per = 800;
    let want: Vec<f32> = (0..per)
        .map(|j| (0..3).map(|b| b * per + j).filter(|&i| x0.data()[i] <= 0.0).map(|i| dy.data()[i] as f64 * x0.data()[i] as f64).sum::<f64>() as f32)
        .collect();
    assert_eq!(gr.wrt(&a).unwrap().data(), &want[..]);
}

#[test]
fn large_tensor_matches_scalar_formula() {
    // more than one parallel chunk
    let x = t(&[3, 20_000], 2.0, 5);
    let g = Graph::new();
    let v = g.leaf(x.clone());
    let y = ops::elu(&v, 0.7).unwrap();
    for (i, (&a, &b)) in x.data().iter().zip(y.value().data()).enumerate() {
        let want = if a > 0.0 { a } else { 0.7 * a.exp_m1() };
        assert_eq!(b, want, "at {i}");
    }
}

#[test]
fn prelu_bad_shape_names_both() {
    let g = Graph::new();
    let x = g.leaf(Tensor::zeros(&[2, 3, 4, 5]));
    let a = g.leaf(Tensor::zeros(&[4]));
    let e = ops::prelu(&x, &a).unwrap_err().to_string();
    assert!(e.contains("[2, 3, 4, 5]") && e.contains("[4]"), "{e}");
    let a = g.leaf(Tensor::zeros(&[3, 4]));
    let e = ops::prelu(&x, &a).unwrap_err().to_string();
    assert!(e.contains("[2, 3, 4, 5]") && e.contains("[3, 4]"), "{e}");
    let x1 = g.leaf(Tensor::zeros(&[5]));
    assert!(ops::prelu(&x1, &g.leaf(Tensor::zeros(&[5]))).is_err());
}

#[test]
fn prelu_values_per_channel_and_per_element() {
    let g = Graph::new();
    let x = g.leaf(Tensor::from_vec(vec![-1.0, 2.0, -3.0, 4.0, -5.0, -6.0, 7.0, -8.0], &[2, 2, 2]).unwrap());
    let ac = g.leaf(Tensor::from_vec(vec![0.1, 0.5], &[2]).unwrap());
    let y = ops::prelu(&x, &ac).unwrap();
    assert_eq!(y.value().data(), &[-0.1, 2.0, -1.5, 4.0, -0.5, -0.6, 7.0, -4.0]);
    let gr = ops::sum(&y).unwrap().backward().unwrap();
    assert_eq!(gr.wrt(&ac).unwrap().data(), &[-12.0, -11.0]);
    let ae = g.leaf(Tensor::from_vec(vec![0.1, 0.2, 0.3, 0.4], &[2, 2]).unwrap());
    let y = ops::prelu(&x, &ae).unwrap();
    assert_eq!(y.value().data(), &[-0.1, 2.0, -0.90000004, 4.0, -0.5, -1.2, 7.0, -3.2]);
    let gr = ops::sum(&y).unwrap().backward().unwrap();
    assert_eq!(gr.wrt(&ae).unwrap().data(), &[-6.0, -6.0, -3.0, -8.0]);
}

/// prelu forward and both gradients, under a rayon pool of `threads` threads.
fn prelu_run(threads: usize, alpha_shape: &[usize]) -> Vec<Vec<f32>> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let g = Graph::new();
        let x = g.leaf(t(&[16, 8, 24, 24], 1.0, 11));
        let a = g.leaf(Tensor::rand_uniform(alpha_shape, -0.3, 0.6, 12));
        let y = ops::prelu(&x, &a).unwrap();
        let gr = y.backward_with(t(y.shape(), 1.0, 13)).unwrap();
        vec![y.value().data().to_vec(), gr.wrt(&x).unwrap().data().to_vec(), gr.wrt(&a).unwrap().data().to_vec()]
    })
}

#[test]
fn prelu_bit_identical_across_thread_counts() {
    for shape in [vec![8], vec![8, 24, 24]] {
        let one = prelu_run(1, &shape);
        let two = prelu_run(2, &shape);
        for (a, b) in one.iter().zip(&two) {
            assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "alpha {shape:?}");
        }
    }
}
