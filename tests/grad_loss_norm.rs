//! Property tests of softmax, log-softmax, the losses (plain and class-weighted), batch norm, dropout and the L2 penalty:
//! gradcheck over random shapes and hyper-parameters, value tests, errors and thread-count
//! independence.

use proptest::prelude::*;
use pupil::autograd::{gradcheck, GradcheckOptions, Graph, Var};
use pupil::ops::{self, BatchNormState};
use pupil::{Rng, Tensor};

fn t(shape: &[usize], std: f32, seed: u64) -> Tensor {
    Tensor::rand_normal(shape, 0.0, std, seed)
}

fn opts() -> GradcheckOptions {
    GradcheckOptions::default()
}

fn labels(n: usize, k: usize, seed: u64) -> Vec<usize> {
    let mut r = Rng::new(seed);
    (0..n).map(|_| r.below(k)).collect()
}

fn leaf(g: &Graph, data: Vec<f32>, shape: &[usize]) -> Var {
    g.leaf(Tensor::from_vec(data, shape).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Logits of moderate spread: a row whose softmax is saturated to within ~1e-4 of one-hot
    /// has gradients below the f32 rounding noise of a finite difference (huge logits are
    /// covered by the value tests below).
    #[test]
    fn softmax_and_losses(n in 1usize..6, k in 1usize..8, std in 0.3f32..1.2, seed in 0u64..10_000) {
        let x = t(&[n, k], std, seed);
        let lab = labels(n, k, seed + 7);
        let xs = [x];
        gradcheck(|_, v| ops::softmax(&v[0]), &xs, &opts()).unwrap();
        gradcheck(|_, v| ops::log_softmax(&v[0]), &xs, &opts()).unwrap();
        gradcheck(|_, v| ops::cross_entropy(&v[0], &lab), &xs, &opts()).unwrap();
        gradcheck(|_, v| ops::nll_loss(&v[0], &lab), &xs, &opts()).unwrap();
        gradcheck(|_, v| ops::nll_loss(&ops::log_softmax(&v[0])?, &lab), &xs, &opts()).unwrap();
        // per-class weights: each row's gradient scaled by w_y / Σ w
        let w = Tensor::rand_uniform(&[k], 0.2, 3.0, seed + 9).into_vec();
        gradcheck(|_, v| ops::weighted_cross_entropy(&v[0], &lab, &w), &xs, &opts()).unwrap();
    }

    #[test]
    fn batch_norm_2d(n in 1usize..4, c in 1usize..4, h in 1usize..4, w in 2usize..4, train in any::<bool>(), seed in 0u64..10_000) {
        let x = t(&[n, c, h, w], 1.5, seed).map(|v| v + 0.5);
        let gamma = Tensor::rand_uniform(&[c], 0.5, 1.5, seed + 1);
        let beta = t(&[c], 1.0, seed + 2);
        let mut st = BatchNormState::new(c, 0.1, 1e-3);
        st.running_mean = t(&[c], 1.0, seed + 3).into_vec();
        st.running_var = Tensor::rand_uniform(&[c], 0.5, 2.0, seed + 4).into_vec();
        gradcheck(|_, v| ops::batch_norm(&v[0], &v[1], &v[2], &mut st.clone(), train), &[x, gamma, beta], &opts()).unwrap();
    }

    #[test]
    fn batch_norm_1d(n in 3usize..9, f in 1usize..6, train in any::<bool>(), seed in 0u64..10_000) {
        let x = t(&[n, f], 2.0, seed);
        let gamma = Tensor::rand_uniform(&[f], -1.5, 1.5, seed + 1);
        let beta = t(&[f], 1.0, seed + 2);
        let mut st = BatchNormState::new(f, 0.3, 1e-5);
        st.running_var = Tensor::rand_uniform(&[f], 0.5, 2.0, seed + 4).into_vec();
        gradcheck(|_, v| ops::batch_norm(&v[0], &v[1], &v[2], &mut st.clone(), train), &[x, gamma, beta], &opts()).unwrap();
    }

    #[test]
    fn dropout_and_l2(shape in prop::collection::vec(1usize..6, 1..4), p in 0.0f32..0.9, lambda in -1.0f32..3.0, seed in 0u64..10_000) {
        let xs = [t(&shape, 1.0, seed)];
        // every evaluation draws the same mask: the rng is created inside the closure
        gradcheck(|_, v| ops::dropout(&v[0], p, true, &mut Rng::new(seed)), &xs, &opts()).unwrap();
        gradcheck(|_, v| ops::dropout(&v[0], p, false, &mut Rng::new(seed)), &xs, &opts()).unwrap();
        gradcheck(|_, v| ops::l2_penalty(&v[0], lambda), &xs, &opts()).unwrap();
    }
}

#[test]
fn softmax_rows_sum_to_one_and_are_stable() {
    let g = Graph::new();
    let x = leaf(&g, vec![1e4, 0.0, -1e4, 1e4, 1e4 - 1.0, 1.0, 2.0, 3.0, -1e4, -1e4, -1e4 + 2.0, -1e4], &[3, 4]);
    let y = ops::softmax(&x).unwrap();
    for row in y.value().data().chunks(4) {
        assert!(row.iter().all(|v| v.is_finite() && *v >= 0.0), "{row:?}");
        let s: f32 = row.iter().sum();
        assert!((s - 1.0).abs() < 1e-6, "{row:?}");
    }
    let y = y.value().data();
    assert_eq!((y[0], y[3], y[1]), (0.5, 0.5, 0.0));
    assert_eq!(y[4], 1.0);
    let e2 = 2f32.exp();
    assert!((y[10] - e2 / (3.0 + e2)).abs() < 1e-6 && (y[8] - 1.0 / (3.0 + e2)).abs() < 1e-6, "{y:?}");
    let ls = ops::log_softmax(&x).unwrap();
    let l = ls.value().data();
    assert!(l.iter().all(|v| v.is_finite()), "{l:?}");
    assert!((l[10] + (1.0 + 3.0 / e2).ln()).abs() < 1e-6 && (l[8] + 2.0 + (1.0 + 3.0 / e2).ln()).abs() < 1e-6, "{l:?}");
    assert!((l[0] + std::f32::consts::LN_2).abs() < 1e-6 && (l[2] + 2e4 + std::f32::consts::LN_2).abs() < 1e-2, "{l:?}");
    assert_eq!(l[4], 0.0);
    let y = ops::softmax(&x).unwrap();
    let gr = ops::sum(&ops::mul(&y, &leaf(&g, (0..12).map(|i| i as f32).collect(), &[3, 4])).unwrap()).unwrap().backward().unwrap();
    assert!(gr.wrt(&x).unwrap().data().iter().all(|v| v.is_finite()));
}

#[test]
fn cross_entropy_matches_naive_formula_and_survives_huge_logits() {
    let g = Graph::new();
    let xs = vec![0.5f32, -1.0, 2.0, 0.1, 0.0, 0.3, -0.7, 1.2];
    let lab = [2usize, 0];
    let x = leaf(&g, xs.clone(), &[2, 4]);
    let l = ops::cross_entropy(&x, &lab).unwrap();
    let naive: f64 = xs
        .chunks(4)
        .zip(&lab)
        .map(|(r, &y)| {
            let s: f64 = r.iter().map(|&v| (v as f64).exp()).sum();
            -((r[y] as f64).exp() / s).ln()
        })
        .sum::<f64>()
        / 2.0;
    assert!((l.value().item().unwrap() as f64 - naive).abs() < 1e-6, "{l:?} vs {naive}");
    let nll = ops::nll_loss(&ops::log_softmax(&x).unwrap(), &lab).unwrap();
    assert!((nll.value().item().unwrap() - l.value().item().unwrap()).abs() < 1e-6);
    // backward: (softmax - onehot) / N
    let d = l.backward().unwrap().wrt(&x).unwrap().clone();
    let p = ops::softmax(&x).unwrap().value().clone();
    for i in 0..8 {
        let want = (p.data()[i] - if i == 2 || i == 4 { 1.0 } else { 0.0 }) / 2.0;
        assert!((d.data()[i] - want).abs() < 1e-6);
    }
    // huge logits: finite loss and gradient, exact values
    let x = leaf(&g, vec![1e30, -1e30, 0.0, 1e4, 1e4, -1e4], &[2, 3]);
    let l = ops::cross_entropy(&x, &[1, 0]).unwrap();
    let v = l.value().item().unwrap();
    assert!(v.is_finite(), "{v}");
    assert!((v as f64 - (2e30 + std::f64::consts::LN_2) / 2.0).abs() / 1e30 < 1e-6);
    let d = l.backward().unwrap().wrt(&x).unwrap().clone();
    assert!(d.data().iter().all(|v| v.is_finite()), "{d:?}");
    let x = leaf(&g, vec![1e4, 1e4, -1e4], &[1, 3]);
    let v = ops::cross_entropy(&x, &[0]).unwrap().value().item().unwrap();
    assert!((v - std::f32::consts::LN_2).abs() < 1e-6, "{v}");
}

#[test]
fn loss_errors_name_the_label_and_k_or_both_lengths() {
    let g = Graph::new();
    let x = g.leaf(Tensor::zeros(&[2, 3]));
    let e = ops::cross_entropy(&x, &[0, 3]).unwrap_err().to_string();
    assert!(e.contains("label 3") && e.contains("K = 3"), "{e}");
    let e = ops::nll_loss(&x, &[7, 0]).unwrap_err().to_string();
    assert!(e.contains("label 7") && e.contains("K = 3"), "{e}");
    let e = ops::cross_entropy(&x, &[0, 1, 2]).unwrap_err().to_string();
    assert!(e.contains("3 labels") && e.contains("2 rows"), "{e}");
    let e = ops::nll_loss(&x, &[0]).unwrap_err().to_string();
    assert!(e.contains("1 labels") && e.contains("2 rows"), "{e}");
    assert!(ops::softmax(&g.leaf(Tensor::zeros(&[2, 3, 4]))).is_err());
    assert!(ops::cross_entropy(&g.leaf(Tensor::zeros(&[0, 3])), &[]).is_err());
}

#[test]
fn batch_norm_train_normalises_and_updates_running_stats() {
    let (n, c, h, w) = (8, 3, 5, 4);
    let g = Graph::new();
    // channel ch has mean 2·ch - 1 and std ch + 0.5
    let mut x = t(&[n, c, h, w], 1.0, 3);
    for (i, v) in x.data_mut().iter_mut().enumerate() {
        let ch = (i / (h * w)) % c;
        *v = *v * (ch as f32 + 0.5) + 2.0 * ch as f32 - 1.0;
    }
    let xv = g.leaf(x.clone());
    let gamma = g.leaf(Tensor::ones(&[c]));
    let beta = g.leaf(Tensor::zeros(&[c]));
    let mut st = BatchNormState::new(c, 0.1, 1e-5);
    st.running_mean = vec![1.0, 2.0, 3.0];
    let before = st.clone();
    let y = ops::batch_norm(&xv, &gamma, &beta, &mut st, true).unwrap();
    let m = (n * h * w) as f64;
    for ch in 0..c {
        let vals = |d: &[f32]| -> Vec<f64> {
            (0..n).flat_map(|b| d[(b * c + ch) * h * w..(b * c + ch + 1) * h * w].iter().map(|&v| v as f64).collect::<Vec<_>>()).collect()
        };
        let ys = vals(y.value().data());
        let mean = ys.iter().sum::<f64>() / m;
        let var = ys.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / m;
        assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-3, "channel {ch}: mean {mean} var {var}");
        let xs = vals(x.data());
        let bm = xs.iter().sum::<f64>() / m;
        let bv = xs.iter().map(|v| (v - bm).powi(2)).sum::<f64>() / (m - 1.0);
        let want_m = 0.9 * before.running_mean[ch] as f64 + 0.1 * bm;
        let want_v = 0.9 * before.running_var[ch] as f64 + 0.1 * bv;
        assert!((st.running_mean[ch] as f64 - want_m).abs() < 1e-5, "{} vs {want_m}", st.running_mean[ch]);
        assert!((st.running_var[ch] as f64 - want_v).abs() < 1e-4, "{} vs {want_v}", st.running_var[ch]);
    }
    // eval mode uses (and keeps) the running statistics
    let after = st.clone();
    let ye = ops::batch_norm(&xv, &gamma, &beta, &mut st, false).unwrap();
    assert_eq!(st, after);
    let i = 5 * h * w + 3; // sample 1, channel 2
    let want = (x.data()[i] - st.running_mean[2]) / (st.running_var[2] + 1e-5).sqrt();
    assert!((ye.value().data()[i] - want).abs() < 1e-5);
    // the state serialises
    let json = serde_json::to_string(&st).unwrap();
    assert_eq!(serde_json::from_str::<BatchNormState>(&json).unwrap(), st);
}

#[test]
fn batch_norm_errors() {
    let g = Graph::new();
    let x = g.leaf(Tensor::zeros(&[2, 3, 4, 4]));
    let (g3, g4) = (g.leaf(Tensor::ones(&[3])), g.leaf(Tensor::ones(&[4])));
    let e = ops::batch_norm(&x, &g4, &g3, &mut BatchNormState::new(3, 0.1, 1e-5), true).unwrap_err().to_string();
    assert!(e.contains("[2, 3, 4, 4]") && e.contains("[4]"), "{e}");
    assert!(ops::batch_norm(&x, &g3, &g3, &mut BatchNormState::new(4, 0.1, 1e-5), true).is_err());
    assert!(ops::batch_norm(&g.leaf(Tensor::zeros(&[2, 3, 4])), &g3, &g3, &mut BatchNormState::new(3, 0.1, 1e-5), true).is_err());
    // one value per channel cannot be normalised in training mode, but eval is fine
    let x1 = g.leaf(Tensor::zeros(&[1, 3]));
    assert!(ops::batch_norm(&x1, &g3, &g3, &mut BatchNormState::new(3, 0.1, 1e-5), true).is_err());
    assert!(ops::batch_norm(&x1, &g3, &g3, &mut BatchNormState::new(3, 0.1, 1e-5), false).is_ok());
}

/// batch_norm forward and all gradients under a rayon pool of `threads` threads.
fn bn_run(threads: usize, shape: &[usize], train: bool) -> Vec<Vec<f32>> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let g = Graph::new();
        let c = shape[1];
        let x = g.leaf(t(shape, 2.0, 21));
        let gamma = g.leaf(Tensor::rand_uniform(&[c], 0.5, 1.5, 22));
        let beta = g.leaf(t(&[c], 1.0, 23));
        let mut st = BatchNormState::new(c, 0.1, 1e-5);
        let y = ops::batch_norm(&x, &gamma, &beta, &mut st, train).unwrap();
        let gr = y.backward_with(t(y.shape(), 1.0, 24)).unwrap();
        vec![
            y.value().data().to_vec(),
            gr.wrt(&x).unwrap().data().to_vec(),
            gr.wrt(&gamma).unwrap().data().to_vec(),
            gr.wrt(&beta).unwrap().data().to_vec(),
            st.running_mean,
            st.running_var,
        ]
    })
}

#[test]
fn batch_norm_bit_identical_across_thread_counts() {
    for (shape, train) in [(vec![16, 8, 20, 20], true), (vec![16, 8, 20, 20], false), (vec![4096, 24], true)] {
        let (one, two) = (bn_run(1, &shape, train), bn_run(2, &shape, train));
        for (a, b) in one.iter().zip(&two) {
            assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "{shape:?} train {train}");
        }
    }
}

#[test]
fn dropout_keeps_about_1_minus_p_and_preserves_the_mean() {
    let g = Graph::new();
    let n = 200_000;
    let x = g.leaf(Tensor::ones(&[n]));
    for p in [0.1f32, 0.5, 0.8] {
        let mut rng = Rng::new(42);
        let y = ops::dropout(&x, p, true, &mut rng).unwrap();
        let kept = y.value().data().iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
        assert!((kept - (1.0 - p as f64)).abs() < 0.01, "p {p}: kept {kept}");
        let mean = y.value().sum() / n as f64;
        assert!((mean - 1.0).abs() < 0.03, "p {p}: mean {mean}");
        assert!(y.value().data().iter().all(|&v| v == 0.0 || (v - 1.0 / (1.0 - p)).abs() < 1e-6));
        // the gradient uses the same mask
        let d = y.backward_with(Tensor::ones(&[n])).unwrap().wrt(&x).unwrap().clone();
        assert_eq!(d.data(), y.value().data());
        // same seed, same mask; the caller's rng moved on by one draw
        let y2 = ops::dropout(&x, p, true, &mut Rng::new(42)).unwrap();
        assert_eq!(y2.value().data(), y.value().data());
        let mut r = Rng::new(42);
        r.next_u64();
        assert_eq!(rng, r);
    }
    // eval mode and p == 0 are the identity and do not touch the rng
    let xs = t(&[3, 5], 1.0, 9);
    let xv = g.leaf(xs.clone());
    let mut rng = Rng::new(1);
    assert_eq!(ops::dropout(&xv, 0.5, false, &mut rng).unwrap().value(), &xs);
    assert_eq!(ops::dropout(&xv, 0.0, true, &mut rng).unwrap().value(), &xs);
    assert_eq!(rng, Rng::new(1));
    // p outside [0, 1) is an error
    for p in [1.0f32, -0.1, 1.5, f32::NAN] {
        let e = ops::dropout(&xv, p, true, &mut rng).unwrap_err().to_string();
        assert!(e.contains("[0, 1)"), "{e}");
    }
}

#[test]
fn l2_penalty_value() {
    let g = Graph::new();
    let w = leaf(&g, vec![1.0, -2.0, 3.0], &[3]);
    let p = ops::l2_penalty(&w, 0.01).unwrap();
    assert!((p.value().item().unwrap() - 0.14).abs() < 1e-7);
    assert_eq!(p.shape(), &[] as &[usize]);
    let d = p.backward().unwrap().wrt(&w).unwrap().clone();
    assert_eq!(d.data(), &[0.02, -0.04, 0.06]);
    assert!(ops::l2_penalty(&w, f32::INFINITY).is_err());
}
