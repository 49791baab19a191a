//! Gradient ascent on the input image: what a filter responds to, what the model finds most
//! like a class; and the feature maps of one real image.
//!
//! Each image `x` of the batch (one per chosen filter or class) climbs its own objective
//! `J(x)`: the mean activation of its filter over the map, or the score (logit or
//! log-probability) of its class. With
//! `ĝ = ∇J / rms(∇J)` (the normalised gradient step of Erhan et al. 2009, as in the Keras
//! filter-visualisation example) and `η = lr · range` (range: the spread of the model's input
//! values, see [`Explainer::input_range`]), one step is
//!
//! `x ← x + η (ĝ − 2 λ₂ x − λ_tv ∇TV(x))`, with `TV(x) = Σ (x_{i+1,j} − x_{ij})² + (x_{i,j+1} − x_{ij})²`
//!
//! (L2 decay keeps values small, total variation keeps them smooth). With jitter `j`, the
//! image is rolled by a random `(dy, dx) ∈ [−j, j]²` before the forward pass and the gradient
//! rolled back, which averages out the checkerboard of strided layers. All images ascend
//! together as one batch, so a step is one forward and one backward pass. Filter ascent runs
//! only the layers up to the chosen one.

use super::net::Net;
use super::{layers::LayerInfo, Explainer, Progress};
use crate::autograd::Graph;
use crate::error::{Error, Result};
use crate::tensor::{Rng, Tensor};
use rayon::prelude::*;

/// Settings of gradient ascent.
#[derive(Clone, Debug, PartialEq)]
pub struct AscentOptions {
    pub steps: usize,
    /// Step size as a fraction of the input range.
    pub lr: f32,
    /// L2 decay weight λ₂.
    pub l2: f32,
    /// Total-variation weight λ_tv.
    pub tv: f32,
    /// Largest random shift in pixels per step (0: none).
    pub jitter: usize,
    /// Seed of the start image and the jitter.
    pub seed: u64,
}

impl Default for AscentOptions {
    /// 150 steps of 0.01 (report 003), no decay, no TV, no jitter.
    fn default() -> Self {
        AscentOptions { steps: 150, lr: 0.01, l2: 0.0, tv: 0.0, jitter: 0, seed: 0 }
    }
}

/// What class visualisation climbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassObjective {
    /// The log-probability `S_c − log Σ_k exp S_k` (pushes the other classes down too).
    LogProb,
    /// The logit `S_c`.
    Logit,
}

impl ClassObjective {
    /// True for [`ClassObjective::LogProb`] (the `log_prob` of [`Explainer::visualize_classes`]).
    pub fn log_prob(self) -> bool {
        self == ClassObjective::LogProb
    }
    /// `log-probability` or `logit`, for titles.
    pub fn describe(self) -> &'static str {
        match self {
            ClassObjective::LogProb => "log-probability",
            ClassObjective::Logit => "logit",
        }
    }
}

impl std::str::FromStr for ClassObjective {
    type Err = Error;
    fn from_str(s: &str) -> Result<ClassObjective> {
        match s.trim().to_ascii_lowercase().as_str() {
            "logprob" | "log-prob" | "logsoftmax" => Ok(ClassObjective::LogProb),
            "logit" => Ok(ClassObjective::Logit),
            o => Err(Error::invalid("--objective", format!("{o:?} is not logprob or logit"))),
        }
    }
}

/// The classes to visualise: all `k` when `chosen` is None, else `chosen`, each checked to be
/// below `k` (the error names `--classes`).
pub fn class_list(chosen: Option<&[usize]>, k: usize) -> Result<Vec<usize>> {
    let Some(c) = chosen else { return Ok((0..k).collect()) };
    if let Some(&bad) = c.iter().find(|&&c| c >= k) {
        return Err(Error::invalid("--classes", format!("class {bad} is out of range: the model has classes 0 to {}", k.saturating_sub(1))));
    }
    Ok(c.to_vec())
}

impl AscentOptions {
    fn check(&self) -> Result<()> {
        let ok = |v: f32| v.is_finite() && v >= 0.0;
        if !(self.steps > 0 && self.lr.is_finite() && self.lr > 0.0 && ok(self.l2) && ok(self.tv)) {
            return Err(Error::invalid(
                "ascent",
                format!("--steps ({}) must be >= 1, --lr ({}) > 0, --l2 ({}) and --tv ({}) >= 0", self.steps, self.lr, self.l2, self.tv),
            ));
        }
        Ok(())
    }
}

/// What gradient ascent made.
#[derive(Clone, Debug)]
pub struct AscentResult {
    /// The images `[B, C, H, W]` in the model's (normalised) input space.
    pub images: Tensor,
    /// The filter or class each image climbed.
    pub targets: Vec<usize>,
    /// The objective (mean activation or logit) of each image before the first step.
    pub start: Vec<f32>,
    /// The objective after the last step.
    pub end: Vec<f32>,
}

/// Rolls each `h x w` plane of `v` by `(dy, dx)` (circularly).
fn roll(v: &[f32], h: usize, w: usize, dy: isize, dx: isize) -> Vec<f32> {
    let mut out = vec![0f32; v.len()];
    out.par_chunks_mut(h * w).zip(v.par_chunks(h * w)).for_each(|(o, p)| {
        for y in 0..h {
            let ny = (y as isize + dy).rem_euclid(h as isize) as usize;
            for x in 0..w {
                let nx = (x as isize + dx).rem_euclid(w as isize) as usize;
                o[ny * w + nx] = p[y * w + x];
            }
        }
    });
    out
}

/// `∇TV` of one `h x w` plane, added (times `weight`) into `g`.
fn add_tv_grad(p: &[f32], h: usize, w: usize, weight: f32, g: &mut [f32]) {
    for y in 0..h {
        for x in 0..w {
            let v = p[y * w + x];
            let mut d = 0.0;
            if y + 1 < h {
                d -= 2.0 * (p[(y + 1) * w + x] - v);
            }
            if y > 0 {
                d += 2.0 * (v - p[(y - 1) * w + x]);
            }
            if x + 1 < w {
                d -= 2.0 * (p[y * w + x + 1] - v);
            }
            if x > 0 {
                d += 2.0 * (v - p[y * w + x - 1]);
            }
            g[y * w + x] += weight * d;
        }
    }
}

/// The objective's value per image and its gradient with respect to the images.
type Objective<'a> = dyn FnMut(&Tensor) -> Result<(Vec<f32>, Tensor)> + 'a;

/// The ascent loop shared by filters and classes.
fn climb(x0: Tensor, opts: &AscentOptions, range: f32, objective: &mut Objective, progress: Progress) -> Result<(Tensor, Vec<f32>, Vec<f32>)> {
    let shape = x0.shape().to_vec();
    let (h, w) = (shape[2], shape[3]);
    let per: usize = shape[1..].iter().product();
    let eta = opts.lr * range;
    let mut rng = Rng::new(opts.seed).fork(1);
    let mut x = x0.into_vec();
    let mut start = None;
    for step in 0..opts.steps {
        let j = opts.jitter as isize;
        let (dy, dx) = if j > 0 { (rng.below(2 * j as usize + 1) as isize - j, rng.below(2 * j as usize + 1) as isize - j) } else { (0, 0) };
        let shifted = if j > 0 { roll(&x, h, w, dy, dx) } else { x.clone() };
        let (vals, g) = objective(&Tensor::from_vec(shifted, &shape)?)?;
        if start.is_none() {
            start = Some(vals);
        }
        let g = if j > 0 { roll(g.data(), h, w, -dy, -dx) } else { g.into_vec() };
        x.par_chunks_mut(per).zip(g.par_chunks(per)).for_each(|(img, gi)| {
            let rms = (gi.iter().map(|v| v * v).sum::<f32>() / per as f32).sqrt();
            let inv = if rms > 0.0 && rms.is_finite() { 1.0 / rms } else { 0.0 };
            let mut step: Vec<f32> = gi.iter().zip(img.iter()).map(|(g, v)| g * inv - 2.0 * opts.l2 * v).collect();
            if opts.tv > 0.0 {
                for (sp, ip) in step.chunks_mut(h * w).zip(img.chunks(h * w)) {
                    add_tv_grad(ip, h, w, -opts.tv, sp);
                }
            }
            for (v, s) in img.iter_mut().zip(step) {
                *v += eta * s;
            }
        });
        progress(step + 1, opts.steps);
    }
    let x = Tensor::from_vec(x, &shape)?;
    let (end, _) = objective(&x)?;
    Ok((x, start.unwrap_or_default(), end))
}

impl Explainer {
    /// `b` start images: raw pixels uniform in `[64, 192]` (grey noise), normalised. The noise
    /// is strong enough that a ReLU filter whose weights sum to less than zero still fires
    /// somewhere (on a flat grey start it would be dead everywhere, with no gradient to climb).
    pub fn noise_images(&self, b: usize, seed: u64) -> Result<Tensor> {
        let [c, h, w] = self.input_shape();
        let mut rng = Rng::new(seed);
        let raw: Vec<f32> = (0..b * c * h * w).map(|_| 64.0 + 128.0 * rng.next_f32()).collect();
        self.normalize(&Tensor::from_vec(raw, &[b, c, h, w])?)
    }

    /// Start images for filter ascent: [`Explainer::noise_images`], then, for every image on
    /// which its filter is dead (zero gradient: a ReLU that fires nowhere), up to 8 fresh draws
    /// of full-range noise (`0..=255`), keeping the first that fires. A filter that fires on
    /// none of them keeps its first image and stays at 0 (it is reported as such).
    fn live_start(&self, b: usize, seed: u64, objective: &mut Objective) -> Result<Tensor> {
        let mut x = self.noise_images(b, seed)?.into_vec();
        let [c, h, w] = self.input_shape();
        let per = c * h * w;
        for attempt in 1..=8u64 {
            let t = Tensor::from_vec(x.clone(), &[b, c, h, w])?;
            let (_, g) = objective(&t)?;
            let dead: Vec<usize> = (0..b).filter(|&n| g.data()[n * per..(n + 1) * per].iter().all(|&v| v == 0.0)).collect();
            if dead.is_empty() {
                break;
            }
            let mut rng = Rng::new(seed).fork(1000 + attempt);
            let raw: Vec<f32> = (0..b * per).map(|_| 255.0 * rng.next_f32()).collect();
            let fresh = self.normalize(&Tensor::from_vec(raw, &[b, c, h, w])?)?;
            let (_, g2) = objective(&fresh)?;
            for n in dead {
                if g2.data()[n * per..(n + 1) * per].iter().any(|&v| v != 0.0) {
                    x[n * per..(n + 1) * per].copy_from_slice(&fresh.data()[n * per..(n + 1) * per]);
                }
            }
        }
        Tensor::from_vec(x, &[b, c, h, w])
    }

    /// Checks filter indices against the layer's channels.
    fn check_filters(layer: &LayerInfo, filters: &[usize]) -> Result<()> {
        super::require_spatial(layer, "filters")?;
        if filters.is_empty() {
            return Err(Error::invalid("--filters", "no filter chosen"));
        }
        let k = layer.channels();
        if let Some(&bad) = filters.iter().find(|&&f| f >= k) {
            return Err(Error::invalid("--filters", format!("filter {bad} is out of range: layer {} has filters 0 to {}", layer.label(), k - 1)));
        }
        Ok(())
    }

    /// Gradient ascent on the mean activation of each of `filters` of `layer` (spatial output),
    /// all in one batch, from noise.
    pub fn visualize_filters(&mut self, layer: &LayerInfo, filters: &[usize], opts: &AscentOptions, progress: Progress) -> Result<AscentResult> {
        Self::check_filters(layer, filters)?;
        opts.check()?;
        let net = Net::from_layers(self.net.model(), layer.index)?;
        let (k, lh, lw) = (layer.output[0], layer.output[1], layer.output[2]);
        let sz = lh * lw;
        let b = filters.len();
        let mut seed = vec![0f32; b * k * sz];
        for (n, &f) in filters.iter().enumerate() {
            seed[(n * k + f) * sz..(n * k + f + 1) * sz].iter_mut().for_each(|v| *v = 1.0 / sz as f32);
        }
        let seed = Tensor::from_vec(seed, &[b, k, lh, lw])?;
        let mut objective = |x: &Tensor| -> Result<(Vec<f32>, Tensor)> {
            let g = Graph::new();
            let xv = g.leaf(x.clone());
            let acts = net.activations(&xv)?;
            let a = acts.last().expect("layers");
            let vals =
                filters.iter().enumerate().map(|(n, &f)| a.value().data()[(n * k + f) * sz..(n * k + f + 1) * sz].iter().sum::<f32>() / sz as f32).collect();
            let grads = a.backward_with(seed.clone())?;
            Ok((vals, grads.wrt(&xv).cloned().unwrap_or_else(|| Tensor::zeros(x.shape()))))
        };
        let x0 = self.live_start(b, opts.seed, &mut objective)?;
        let (images, start, end) = climb(x0, opts, self.input_range(), &mut objective, progress)?;
        Ok(AscentResult { images, targets: filters.to_vec(), start, end })
    }

    /// Gradient ascent on the score of each of `classes`, all in one batch, from noise. The
    /// score is the logit `S_c`, or with `log_prob` the log-probability
    /// `S_c − log Σ_k exp S_k` (the negative cross-entropy toward the class, as report 004
    /// did), which also pushes the other classes down, so the image ends up classified as `c`
    /// more often.
    pub fn visualize_classes(&mut self, classes: &[usize], log_prob: bool, opts: &AscentOptions, progress: Progress) -> Result<AscentResult> {
        opts.check()?;
        if classes.is_empty() {
            return Err(Error::invalid("--classes", "no class chosen"));
        }
        self.check_classes(classes, classes.len())?;
        let x0 = self.noise_images(classes.len(), opts.seed)?;
        let range = self.input_range();
        let net = &mut self.net;
        let mut objective = |x: &Tensor| -> Result<(Vec<f32>, Tensor)> {
            let g = Graph::new();
            let xv = g.leaf(x.clone());
            let logits = net.logits(&xv)?;
            let logits = if log_prob { crate::ops::log_softmax(&logits)? } else { logits };
            let k = logits.shape()[1];
            let vals = classes.iter().enumerate().map(|(n, &c)| logits.value().data()[n * k + c]).collect();
            let grads = logits.backward_with(super::saliency::one_hot(classes, k))?;
            Ok((vals, grads.wrt(&xv).cloned().unwrap_or_else(|| Tensor::zeros(x.shape()))))
        };
        let (images, start, end) = climb(x0, opts, range, &mut objective, progress)?;
        Ok(AscentResult { images, targets: classes.to_vec(), start, end })
    }

    /// The feature maps `[N, C', h, w]` of normalised images at `layer` (spatial output).
    pub fn features(&mut self, x: &Tensor, layer: &LayerInfo) -> Result<Tensor> {
        self.check_images(x, "features")?;
        super::require_spatial(layer, "features")?;
        let net = Net::from_layers(self.net.model(), layer.index)?;
        let g = Graph::no_grad();
        let acts = net.activations(&g.constant(x.clone()))?;
        Ok(acts.last().expect("layers").value().clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objectives_and_class_lists_parse_with_clear_errors() {
        assert_eq!("LogProb".parse::<ClassObjective>().unwrap(), ClassObjective::LogProb);
        assert!(!"logit".parse::<ClassObjective>().unwrap().log_prob());
        assert!("prob".parse::<ClassObjective>().unwrap_err().to_string().contains("--objective"));
        assert_eq!(class_list(None, 3).unwrap(), vec![0, 1, 2]);
        assert_eq!(class_list(Some(&[2, 0]), 3).unwrap(), vec![2, 0]);
        assert!(class_list(Some(&[3]), 3).unwrap_err().to_string().contains("class 3 is out of range: the model has classes 0 to 2"));
    }
}
