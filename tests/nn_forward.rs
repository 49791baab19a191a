//! The two forwards of a model with batch norm and dropout, against the same ops applied by
//! hand: inference (batch norm on running statistics, dropout the identity) and training
//! (batch norm on batch statistics, updating its running averages; dropout drawing from the
//! context's random stream), both bit for bit.

use pupil::autograd::Graph;
use pupil::nn::{Ctx, ModelSpec, Module, Sequential};
use pupil::ops::{self, BatchNormState};
use pupil::{Rng, Tensor};
use std::collections::HashMap;
use std::path::Path;

const SPEC: &str =
    "conv 3 3x3 same relu\nbatchnorm\ndropout 0.5\nmaxpool 2\nflatten\ndense 5 tanh\nbatchnorm momentum=0.3 eps=0.001\ndropout 0.3\ndense 3 softmax\n";

/// The model of [`SPEC`] with non-trivial batch-norm scale, shift and running statistics.
fn model() -> Sequential {
    let spec = ModelSpec::parse_named(SPEC, Path::new("t.txt")).unwrap();
    let mut m = Sequential::build(&spec, &[2, 6, 6], 3).unwrap();
    for (i, p) in m.params_mut().into_iter().enumerate() {
        if p.name.starts_with("bn") {
            let base = if p.name.ends_with("weight") { 1.0 } else { 0.0 };
            p.value = Tensor::rand_uniform(p.value.shape(), base - 0.5, base + 0.5, 100 + i as u64);
        }
    }
    for (i, (name, t)) in m.buffers().into_iter().enumerate() {
        let (lo, hi) = if name.ends_with("running_var") { (0.2, 2.0) } else { (-1.0, 1.0) };
        assert!(m.load_buffer(&name, &Tensor::rand_uniform(t.shape(), lo, hi, 200 + i as u64)).unwrap());
    }
    m
}

fn input() -> Tensor {
    Tensor::rand_normal(&[4, 2, 6, 6], 0.0, 1.0, 9)
}

/// The layers of [`SPEC`] as ops on the model's tensors: (logits, probabilities, batch-norm
/// states after the pass). `rng: None` = inference, `Some` = training.
fn by_hand(m: &Sequential, x: &Tensor, g: &Graph, mut rng: Option<&mut Rng>) -> (Tensor, Tensor, Vec<BatchNormState>) {
    let named: HashMap<String, Tensor> = m.named_tensors().into_iter().collect();
    let c = |n: &str| g.constant(named[n].clone());
    let train = rng.is_some();
    let mut states = vec![];
    let mut bn = |y: &pupil::autograd::Var, name: &str, momentum: f32, eps: f32| {
        let mut st = BatchNormState {
            running_mean: named[&format!("{name}.running_mean")].data().to_vec(),
            running_var: named[&format!("{name}.running_var")].data().to_vec(),
            momentum,
            eps,
        };
        let out = ops::batch_norm(y, &c(&format!("{name}.weight")), &c(&format!("{name}.bias")), &mut st, train).unwrap();
        states.push(st);
        out
    };
    let mut unused = Rng::new(12345);
    let mut drop = |y: &pupil::autograd::Var, p: f32| match rng.as_deref_mut() {
        Some(r) => ops::dropout(y, p, true, r).unwrap(),
        None => ops::dropout(y, p, false, &mut unused).unwrap(),
    };
    let y = ops::conv2d(&g.constant(x.clone()), &c("conv1.weight"), Some(&c("conv1.bias")), (1, 1), (1, 1)).unwrap();
    let y = ops::relu(&y).unwrap();
    let y = bn(&y, "bn1", 0.1, 1e-5);
    let y = drop(&y, 0.5);
    let y = ops::max_pool2d(&y, (2, 2), (2, 2)).unwrap();
    let y = ops::flatten(&y).unwrap();
    let y = ops::tanh(&ops::linear_t(&y, &c("dense1.weight"), Some(&c("dense1.bias"))).unwrap()).unwrap();
    let y = bn(&y, "bn2", 0.3, 1e-3);
    let y = drop(&y, 0.3);
    let logits = ops::linear_t(&y, &c("dense2.weight"), Some(&c("dense2.bias"))).unwrap();
    let probs = ops::softmax(&logits).unwrap();
    (logits.value().clone(), probs.value().clone(), states)
}

fn running(m: &Sequential) -> Vec<Vec<f32>> {
    m.buffers().into_iter().map(|(_, t)| t.data().to_vec()).collect()
}

#[test]
fn inference_forward_is_batch_norm_on_running_statistics_and_no_dropout() {
    let m = model();
    let x = input();
    let before = running(&m);
    for g in [Graph::no_grad(), Graph::new()] {
        let (logits, probs, _) = by_hand(&m, &x, &g, None);
        let xv = g.constant(x.clone());
        assert_eq!(m.forward_logits(&xv).unwrap().value().data(), logits.data());
        assert_eq!(m.forward(&xv).unwrap().value().data(), probs.data());
        let all = m.forward_all(&xv).unwrap();
        assert_eq!(all.len(), m.len());
        assert_eq!(all.last().unwrap().value().data(), logits.data());
        // the dropout layers (index 2 and 7) pass their input through
        assert_eq!(all[2].value().data(), all[1].value().data());
        assert_eq!(all[7].value().data(), all[6].value().data());
    }
    assert_eq!(running(&m), before, "inference changed the running statistics");
}

#[test]
fn training_forward_uses_batch_statistics_dropout_and_updates_running_statistics() {
    let x = input();
    let reference = model();
    let (logits, probs, states) = by_hand(&reference, &x, &Graph::new(), Some(&mut Rng::new(5)));
    let mut m = model();
    let before = running(&m);
    let g = Graph::new();
    let mut rng = Rng::new(5);
    let y = m.forward_mut(&g.constant(x.clone()), &mut Ctx::new(&mut rng)).unwrap();
    assert_eq!(y.value().data(), probs.data());
    let after = running(&m);
    assert_ne!(after, before, "training did not update the running statistics");
    let want: Vec<Vec<f32>> = states.iter().flat_map(|s| [s.running_mean.clone(), s.running_var.clone()]).collect();
    assert_eq!(after, want);
    // the training forward of the logits: same numbers, one more update of the statistics
    let mut m2 = model();
    let l = m2.forward_logits_mut(&g.constant(x.clone()), &mut Ctx::new(&mut Rng::new(5))).unwrap();
    assert_eq!(l.value().data(), logits.data());
    // dropout is active: some activations are zeroed, so training differs from inference
    let all = m2.forward_all_mut(&g.constant(x.clone()), &mut Ctx::new(&mut Rng::new(6))).unwrap();
    let zeros = |v: &pupil::autograd::Var| v.value().data().iter().filter(|&&a| a == 0.0).count();
    assert!(zeros(&all[2]) > zeros(&all[1]), "dropout zeroed nothing");
    assert_ne!(m2.forward(&g.constant(x.clone())).unwrap().value().data(), y.value().data());
}
