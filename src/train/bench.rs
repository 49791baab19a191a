//! Throughput measurement of a model (what `pupil bench` prints): training steps and
//! inference on random images, timed over several repetitions, reported as medians.

use super::{TrainConfig, Trainer};
use crate::autograd::{Graph, OpTime};
use crate::data::Dataset;
use crate::error::Result;
use crate::nn::{ModelSpec, Sequential};
use crate::tensor::{Rng, Tensor};
use std::time::{Duration, Instant};

/// Medians (and spread) of one model's throughput.
#[derive(Clone, Debug)]
pub struct BenchResult {
    pub params: usize,
    /// Images per second of a full training step (forward, backward, optimiser).
    pub train_img_s: f64,
    pub train_img_s_min: f64,
    pub train_img_s_max: f64,
    /// Images per second of inference (no tape, eval mode).
    pub infer_img_s: f64,
}

/// The median of `v` (not empty; sorts it): the middle value, or the mean of the two middle
/// ones for an even count.
pub(super) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let h = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[h - 1] + v[h]) / 2.0
    } else {
        v[h]
    }
}

/// A trainer for `spec` on random `[batch, C, H, W]` input with `classes` outputs, the
/// input, its labels and the random source of the steps.
pub(super) fn bench_trainer(spec: &ModelSpec, input: &[usize], classes: usize, batch: usize) -> Result<(Trainer, Tensor, Vec<usize>, Rng)> {
    let cfg = TrainConfig { val_split: 0.0, ..TrainConfig::default() };
    // refuse a step that cannot fit before allocating the images
    crate::nn::check_step_memory(spec, input, batch, cfg.optimizer.state_slots())?;
    let per: usize = input.iter().product();
    let mut rng = Rng::new(1);
    let pixels: Vec<u8> = (0..batch * per).map(|_| rng.below(256) as u8).collect();
    let labels: Vec<u8> = (0..batch).map(|i| (i % classes) as u8).collect();
    let ds = Dataset {
        channels: input[0],
        height: input[1],
        width: input[2],
        pixels,
        labels: Some(labels.clone()),
        ids: None,
        class_names: (0..classes).map(|c| c.to_string()).collect(),
    };
    let trainer = Trainer::new(spec, &ds, cfg)?;
    let x = Tensor::rand_normal(&[batch, input[0], input[1], input[2]], 0.0, 1.0, 2);
    let y: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
    Ok((trainer, x, y, rng))
}

/// Times `reps` training steps and `reps` inference passes of `spec` on random `[batch, C, H, W]`
/// input with `classes` outputs, after `warmup` untimed steps.
pub fn bench_model(spec: &ModelSpec, input: &[usize], classes: usize, batch: usize, reps: usize, warmup: usize) -> Result<BenchResult> {
    let (mut trainer, x, y, mut rng) = bench_trainer(spec, input, classes, batch)?;
    let mut times = vec![];
    for i in 0..warmup + reps {
        let t0 = Instant::now();
        trainer.step(x.clone(), &y, &mut rng)?;
        if i >= warmup {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    let (lo, hi) = (times.iter().cloned().fold(f64::MAX, f64::min), times.iter().cloned().fold(0.0, f64::max));
    let train_t = median(&mut times);
    let model: &Sequential = &trainer.model;
    let mut itimes = vec![];
    for i in 0..warmup + reps {
        let t0 = Instant::now();
        let g = Graph::no_grad();
        model.forward_logits(&g.constant(x.clone()))?;
        if i >= warmup {
            itimes.push(t0.elapsed().as_secs_f64());
        }
    }
    Ok(BenchResult {
        params: model.num_params(),
        train_img_s: batch as f64 / train_t,
        train_img_s_min: batch as f64 / hi,
        train_img_s_max: batch as f64 / lo,
        infer_img_s: batch as f64 / median(&mut itimes),
    })
}

/// Where the training steps of a model spend their time ([`profile_model`]).
#[derive(Clone, Debug)]
pub struct StepProfile {
    /// Every op the step records, in the order the forward pass ran them, with the median of
    /// its forward and backward times over the timed steps.
    pub ops: Vec<OpTime>,
    /// Median time of a whole step: forward, backward and the optimiser's update.
    pub step: Duration,
    /// Median over the steps of the time outside the ops' forward and backward: the
    /// optimiser's update, the tape, gathering the gradients.
    pub other: Duration,
}

impl StepProfile {
    /// The ops' forward and backward times added up.
    pub fn in_ops(&self) -> Duration {
        in_ops(&self.ops)
    }

    /// Forward and backward time by layer (the ops a layer recorded added up), in the order
    /// of the forward pass; the loss is the layer `"loss"`.
    pub fn by_layer(&self) -> Vec<(String, Duration, Duration)> {
        let mut out: Vec<(String, Duration, Duration)> = vec![];
        for t in &self.ops {
            match out.last_mut() {
                Some((l, f, b)) if *l == t.layer => {
                    *f += t.forward;
                    *b += t.backward;
                }
                _ => out.push((t.layer.clone(), t.forward, t.backward)),
            }
        }
        out
    }

    /// Forward plus backward time by op name, largest first.
    pub fn by_op(&self) -> Vec<(&'static str, Duration)> {
        let mut out: Vec<(&'static str, Duration)> = vec![];
        for t in &self.ops {
            match out.iter_mut().find(|(op, _)| *op == t.op) {
                Some((_, d)) => *d += t.forward + t.backward,
                None => out.push((t.op, t.forward + t.backward)),
            }
        }
        out.sort_by_key(|o| std::cmp::Reverse(o.1));
        out
    }
}

fn in_ops(ops: &[OpTime]) -> Duration {
    ops.iter().map(|t| t.forward + t.backward).sum()
}

/// Runs `warmup` and then `reps` training steps of `spec` (as [`bench_model`] does) on
/// [`Graph::profiled`] tapes and returns each op's median forward and backward time and the
/// median step. The timing itself costs two clock reads per op.
pub fn profile_model(spec: &ModelSpec, input: &[usize], classes: usize, batch: usize, reps: usize, warmup: usize) -> Result<StepProfile> {
    let (mut trainer, x, y, mut rng) = bench_trainer(spec, input, classes, batch)?;
    let (mut steps, mut times, mut others) = (vec![], vec![], vec![]);
    for i in 0..warmup + reps.max(1) {
        let g = Graph::profiled();
        let t0 = Instant::now();
        trainer.step_in(&g, x.clone(), &y, &mut rng)?;
        if i >= warmup {
            let (t, p) = (t0.elapsed(), g.profile());
            others.push(t.saturating_sub(in_ops(&p)).as_secs_f64());
            times.push(t.as_secs_f64());
            steps.push(p);
        }
    }
    let first = steps[0].clone();
    if steps.iter().any(|s| s.len() != first.len() || s.iter().zip(&first).any(|(a, b)| a.op != b.op)) {
        return Err(crate::Error::invalid("profile", "the training steps recorded different ops"));
    }
    let med = |i: usize, f: fn(&OpTime) -> Duration| {
        let mut v: Vec<Duration> = steps.iter().map(|s| f(&s[i])).collect();
        v.sort();
        v[v.len() / 2]
    };
    let ops = first.iter().enumerate().map(|(i, t)| OpTime { forward: med(i, |t| t.forward), backward: med(i, |t| t.backward), ..t.clone() }).collect();
    Ok(StepProfile { ops, step: Duration::from_secs_f64(median(&mut times)), other: Duration::from_secs_f64(median(&mut others)) })
}

/// The conv layers of the seed models timed by [`bench_conv_layers`]:
/// (name, in channels, out channels, input size, kernel, padding, first layer).
pub const SEED_CONV_LAYERS: [(&str, usize, usize, usize, usize, usize, bool); 4] = [
    ("1->64 5x5 @48", 1, 64, 48, 5, 0, true),
    ("64->64 3x3 p1 @22", 64, 64, 22, 3, 1, false),
    ("64->128 3x3 p1 @10", 64, 128, 10, 3, 1, false),
    ("32->64 5x5 @22", 32, 64, 22, 5, 0, false),
];

/// GFLOP/s of one conv layer (medians).
#[derive(Clone, Debug)]
pub struct LayerBench {
    pub name: &'static str,
    /// Forward: `2·N·O·oh·ow·C·kh·kw` FLOPs.
    pub fwd_gflops: f64,
    /// Forward + backward: 3x the forward FLOPs (dX and dW), 2x for the first layer, whose
    /// input needs no gradient.
    pub fwd_bwd_gflops: f64,
}

/// What a timed conv2d pass computes besides the forward: the input gradient, and the weight
/// and bias gradients.
#[derive(Clone, Copy, Debug)]
struct Pass {
    dx: bool,
    dw: bool,
}

/// Median seconds of conv2d passes on random data, one median per pass: `batch` images of
/// `[ci, hw, hw]`, `co` filters `k x k`, padding `pad`; `reps` timed rounds after one warm-up,
/// each round running every pass once, in turn (so a change in the machine's load hits every
/// pass alike).
fn time_conv(batch: usize, (ci, co, hw, k, pad): (usize, usize, usize, usize, usize), reps: usize, passes: &[Pass]) -> Result<Vec<f64>> {
    let oh = (hw + 2 * pad + 1).saturating_sub(k);
    let x = Tensor::rand_normal(&[batch, ci, hw, hw], 0.0, 1.0, 1);
    let w = Tensor::rand_normal(&[co, ci, k, k], 0.0, 0.1, 2);
    let b = Tensor::rand_normal(&[co], 0.0, 0.1, 3);
    let g_out = Tensor::rand_normal(&[batch, co, oh, oh], 0.0, 1.0, 4);
    let mut times = vec![vec![]; passes.len()];
    for i in 0..=reps {
        for (pass, ts) in passes.iter().zip(&mut times) {
            let t0 = Instant::now();
            let train = pass.dx || pass.dw;
            let g = if train { Graph::new() } else { Graph::no_grad() };
            let xv = if pass.dx { g.leaf(x.clone()) } else { g.constant(x.clone()) };
            let (wv, bv) = if pass.dw { (g.leaf(w.clone()), g.leaf(b.clone())) } else { (g.constant(w.clone()), g.constant(b.clone())) };
            let y = crate::ops::conv2d(&xv, &wv, Some(&bv), (1, 1), (pad, pad))?;
            if train {
                y.backward_with(g_out.clone())?;
            }
            if i > 0 {
                ts.push(t0.elapsed().as_secs_f64());
            }
        }
    }
    Ok(times.iter_mut().map(|t| median(t)).collect())
}

/// Times conv2d forward and forward+backward on [`SEED_CONV_LAYERS`] at `batch` images, median
/// of `reps` runs after one warm-up.
pub fn bench_conv_layers(batch: usize, reps: usize) -> Result<Vec<LayerBench>> {
    let mut out = vec![];
    for (name, ci, co, hw, k, pad, first) in SEED_CONV_LAYERS {
        let oh = hw + 2 * pad - k + 1;
        let flops = 2.0 * (batch * co * oh * oh * ci * k * k) as f64;
        let t = time_conv(batch, (ci, co, hw, k, pad), reps, &[Pass { dx: false, dw: false }, Pass { dx: !first, dw: true }])?;
        let mult = if first { 2.0 } else { 3.0 };
        out.push(LayerBench { name, fwd_gflops: flops / t[0] / 1e9, fwd_bwd_gflops: mult * flops / t[1] / 1e9 });
    }
    Ok(out)
}

/// One conv layer's passes apart, in seconds (medians): the forward, and what the input
/// gradient and the weight and bias gradients each add to it.
#[derive(Clone, Copy, Debug)]
pub struct ConvParts {
    pub forward: f64,
    pub dx: f64,
    pub dw: f64,
}

/// Times a conv layer (`batch` images of `[ci, hw, hw]`, `co` filters `k x k`, padding `pad`)
/// forward, forward + dX and forward + dW (with db), `reps` rounds after a warm-up, the three
/// in turn each round; the gradients' times are the medians' differences.
pub fn conv_layer_parts(batch: usize, ci: usize, co: usize, hw: usize, k: usize, pad: usize, reps: usize) -> Result<ConvParts> {
    let passes = [Pass { dx: false, dw: false }, Pass { dx: true, dw: false }, Pass { dx: false, dw: true }];
    let t = time_conv(batch, (ci, co, hw, k, pad), reps.max(1), &passes)?;
    Ok(ConvParts { forward: t[0], dx: t[1] - t[0], dw: t[2] - t[0] })
}
