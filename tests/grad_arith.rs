//! Property tests: gradcheck of arithmetic, reductions, reshape, matmul and linear, and proof
//! that gradcheck catches a wrong backward.

use proptest::prelude::*;
use pupil::autograd::{gradcheck, GradcheckOptions, Graph, Var};
use pupil::{ops, Tensor};

fn t(shape: &[usize], seed: u64) -> Tensor {
    Tensor::rand_normal(shape, 0.0, 1.0, seed)
}

fn opts() -> GradcheckOptions {
    GradcheckOptions::default()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn elementwise(n in 1usize..5, m in 1usize..7, seed in 0u64..1000) {
        let (a, b) = (t(&[n, m], seed), t(&[n, m], seed + 1));
        gradcheck(|_, v| ops::add(&v[0], &v[1]), &[a.clone(), b.clone()], &opts()).unwrap();
        gradcheck(|_, v| ops::sub(&v[0], &v[1]), &[a.clone(), b.clone()], &opts()).unwrap();
        gradcheck(|_, v| ops::mul(&v[0], &v[1]), &[a.clone(), b.clone()], &opts()).unwrap();
        gradcheck(|_, v| ops::mul(&v[0], &v[0]), std::slice::from_ref(&a), &opts()).unwrap();
        gradcheck(|_, v| ops::scale(&v[0], -1.7), std::slice::from_ref(&a), &opts()).unwrap();
        gradcheck(|_, v| ops::add_scalar(&v[0], 0.3), std::slice::from_ref(&a), &opts()).unwrap();
        gradcheck(|_, v| ops::sum(&v[0]), std::slice::from_ref(&a), &opts()).unwrap();
        gradcheck(|_, v| ops::mean(&v[0]), std::slice::from_ref(&a), &opts()).unwrap();
        gradcheck(|_, v| ops::mul(&ops::flatten(&ops::reshape(&v[0], &[m, n])?)?, &ops::reshape(&v[1], &[m, n])?), &[a, b], &opts()).unwrap();
    }

    #[test]
    fn matmul_and_linear(m in 1usize..9, k in 1usize..9, n in 1usize..9, seed in 0u64..1000) {
        let (a, b, bias) = (t(&[m, k], seed), t(&[k, n], seed + 1), t(&[n], seed + 2));
        gradcheck(|_, v| ops::matmul(&v[0], &v[1]), &[a.clone(), b.clone()], &opts()).unwrap();
        gradcheck(|_, v| ops::linear(&v[0], &v[1], Some(&v[2])), &[a.clone(), b.clone(), bias], &opts()).unwrap();
        gradcheck(|_, v| ops::linear(&v[0], &v[1], None), &[a, b], &opts()).unwrap();
    }
}

/// A matmul whose backward transposes the wrong way for dB (uses `A · G` read as if it were
/// `Aᵀ · G` with the index order swapped) or scales a gradient: gradcheck must reject both.
fn bad_matmul(a: &Var, b: &Var, bug: u8) -> pupil::Result<Var> {
    let y = ops::matmul(&a.detach(), &b.detach())?;
    let (av, bv) = (a.value().clone(), b.value().clone());
    let (m, k, n) = (av.shape()[0], av.shape()[1], bv.shape()[1]);
    Ok(Var::from_op("bad_matmul", &[a, b], y.value().clone(), move |g, _| {
        let mut da = vec![0.0; m * k];
        let mut db = vec![0.0; k * n];
        for i in 0..m {
            for p in 0..k {
                for j in 0..n {
                    da[i * k + p] += g.data()[i * n + j] * bv.data()[p * n + j];
                    // correct: db[p][j] += a[i][p] * g[i][j]
                    let a_ip = if bug != 1 { av.data()[i * k + p] } else { av.data()[(p * m + i) % (m * k)] };
                    db[p * n + j] += a_ip * g.data()[i * n + j];
                }
            }
        }
        let s = if bug == 2 { 1.1 } else { 1.0 };
        Ok(vec![Some(Tensor::from_vec(da.iter().map(|x| x * s).collect(), &[m, k])?), Some(Tensor::from_vec(db, &[k, n])?)])
    }))
}

#[test]
fn gradcheck_catches_wrong_backward() {
    let (a, b) = (t(&[3, 4], 1), t(&[4, 5], 2));
    // the hand-written correct version passes ...
    gradcheck(|_, v| bad_matmul(&v[0], &v[1], 0), &[a.clone(), b.clone()], &opts()).unwrap();
    // ... a transposed index is caught ...
    let e = gradcheck(|_, v| bad_matmul(&v[0], &v[1], 1), &[a.clone(), b.clone()], &opts()).unwrap_err();
    assert!(e.to_string().contains("gradcheck failed: input 1"), "{e}");
    // ... and so is a gradient off by 10 %.
    let e = gradcheck(|_, v| bad_matmul(&v[0], &v[1], 2), &[a, b], &opts()).unwrap_err();
    assert!(e.to_string().contains("gradcheck failed: input 0"), "{e}");
}

#[test]
fn shape_mismatch_is_an_error_naming_both_shapes() {
    let g = Graph::new();
    let a = g.leaf(Tensor::zeros(&[2, 3]));
    let b = g.leaf(Tensor::zeros(&[4, 5]));
    let e = ops::matmul(&a, &b).unwrap_err().to_string();
    assert!(e.contains("[2, 3]") && e.contains("[4, 5]"), "{e}");
    let e = ops::add(&a, &b).unwrap_err().to_string();
    assert!(e.contains("[2, 3]") && e.contains("[4, 5]"), "{e}");
}

/// A 10 % error in one input's gradient is caught even when another input's gradient is 100x
/// larger (the absolute tolerance is per input).
#[test]
fn gradcheck_judges_each_input_on_its_own_scale() {
    let (a, b) = (t(&[6], 3), t(&[6], 4));
    let f = |v: &[Var]| -> pupil::Result<Var> {
        let a100 = ops::scale(&v[0], 100.0)?;
        let bv = v[1].value().clone();
        // y = 100 a + b, with d/db reported as 1.1 instead of 1
        let b_bad = Var::from_op("b_bad", &[&v[1]], bv, |g, _| Ok(vec![Some(g.map(|x| 1.1 * x))]));
        ops::add(&a100, &b_bad)
    };
    for seed in 0..20 {
        let o = GradcheckOptions { seed, ..opts() };
        let e = gradcheck(|_, v| f(v), &[a.clone(), b.clone()], &o).unwrap_err();
        assert!(e.to_string().contains("input 1"), "{e}");
    }
}

/// Every op names itself on the tape (micrograd's `_op`), so an error in its backward says
/// which op failed.
#[test]
fn every_op_records_its_name() {
    let g = Graph::new();
    let x = g.leaf(t(&[2, 3, 6, 6], 1));
    let m = g.leaf(t(&[4, 5], 2));
    let w = g.leaf(t(&[2, 3, 3, 3], 3));
    let bias = g.leaf(t(&[2], 4));
    let alpha = g.leaf(Tensor::full(&[3], 0.25));
    let (gamma, beta) = (g.leaf(Tensor::ones(&[3])), g.leaf(t(&[3], 5)));
    let mut bn = ops::BatchNormState::new(3, 0.99, 1e-3);
    let mut rng = pupil::Rng::new(7);
    let named: Vec<(&str, Var)> = vec![
        ("add", ops::add(&m, &m).unwrap()),
        ("sub", ops::sub(&m, &m).unwrap()),
        ("mul", ops::mul(&m, &m).unwrap()),
        ("scale", ops::scale(&m, 2.0).unwrap()),
        ("add_scalar", ops::add_scalar(&m, 1.0).unwrap()),
        ("sum", ops::sum(&m).unwrap()),
        ("mean", ops::mean(&m).unwrap()),
        ("reshape", ops::reshape(&m, &[5, 4]).unwrap()),
        ("matmul", ops::matmul(&m, &ops::reshape(&m, &[5, 4]).unwrap()).unwrap()),
        ("linear", ops::linear(&m, &ops::reshape(&m, &[5, 4]).unwrap(), None).unwrap()),
        ("relu", ops::relu(&x).unwrap()),
        ("leaky_relu", ops::leaky_relu(&x, 0.1).unwrap()),
        ("elu", ops::elu(&x, 1.0).unwrap()),
        ("selu", ops::selu(&x).unwrap()),
        ("softplus", ops::softplus(&x).unwrap()),
        ("sigmoid", ops::sigmoid(&x).unwrap()),
        ("tanh", ops::tanh(&x).unwrap()),
        ("prelu", ops::prelu(&x, &alpha).unwrap()),
        ("conv2d", ops::conv2d(&x, &w, Some(&bias), (1, 1), (1, 1)).unwrap()),
        ("max_pool2d", ops::max_pool2d(&x, (2, 2), (2, 2)).unwrap()),
        ("avg_pool2d", ops::avg_pool2d(&x, (2, 2), (2, 2)).unwrap()),
        ("pad2d", ops::pad2d(&x, 1, 1, 1, 1).unwrap()),
        ("batch_norm", ops::batch_norm(&x, &gamma, &beta, &mut bn, true).unwrap()),
        ("dropout", ops::dropout(&x, 0.5, true, &mut rng).unwrap()),
        ("l2_penalty", ops::l2_penalty(&m, 0.1).unwrap()),
        ("softmax", ops::softmax(&m).unwrap()),
        ("log_softmax", ops::log_softmax(&m).unwrap()),
        ("cross_entropy", ops::cross_entropy(&m, &[0, 1, 2, 3]).unwrap()),
        ("nll_loss", ops::nll_loss(&m, &[0, 1, 2, 3]).unwrap()),
    ];
    for (name, v) in named {
        assert_eq!(v.op(), Some(name));
    }
}
