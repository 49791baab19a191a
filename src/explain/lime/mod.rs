//! LIME for images (Ribeiro, Singh, Guestrin, "Why Should I Trust You?", KDD 2016), native:
//! which superpixels of one image push the model towards a class, and which push away.
//!
//! 1. **Superpixels**: [`slic`] on the grayscale image (the channel mean), `M` segments.
//! 2. **Samples**: `z_1 = 1` (the image itself) and `samples - 1` random on/off vectors
//!    `z_i ∈ {0,1}^M`, each bit on with probability 1/2. Sample `i` is the image with every
//!    superpixel `j` where `z_ij = 0` replaced by the [`Fill`] image.
//! 3. **Model**: class probabilities `f(x_i)` of every sample, in batches.
//! 4. **Locality**: cosine distance to the all-on vector, `d_i = 1 - z_i·1 / (‖z_i‖ ‖1‖) =
//!    1 - sqrt(k_i / M)` with `k_i` superpixels on (`d = 1` when none is), and the
//!    exponential kernel of lime's `LimeImageExplainer`, `π_i = sqrt(exp(-d_i² / w²))` with
//!    kernel width `w = 0.25`.
//! 5. **Local linear model**: for each explained class `c`, [`weighted_ridge`] of
//!    `y_i = f_c(x_i)` on `z_i` with weights `π_i` and `α = 1` (lime's `Ridge(alpha=1)`),
//!    intercept unpenalised. Coefficient `β_j` is superpixel `j`'s contribution to the class
//!    probability; the weighted R² says how linear the model is around this image.
//!
//! Defaults follow lime (1000 samples, kernel width 0.25, ridge α 1, all superpixels kept),
//! except the segmentation: lime uses quickshift; this is SLIC. Everything is seeded.
//! [`model::probabilities`] runs a [`Sequential`](crate::nn::Sequential) on raw pixels;
//! [`render`] draws the outlined superpixels and writes the weights as CSV.

pub mod classes;
pub mod model;
pub mod ridge;
pub mod slic;

pub use classes::{expand_picks, needs_labels, parse_class_picks, ClassPick};
pub use model::probabilities;
pub use ridge::{cholesky, cholesky_solve, weighted_ridge, RidgeFit};
pub use slic::{slic, Segmentation};

use crate::error::{Error, Result};
use crate::tensor::Rng;

/// What a switched-off superpixel is replaced with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fill {
    /// The image's mean value (per channel).
    Mean,
    /// A Gaussian blur of the image with `σ` = the superpixel grid spacing `sqrt(HW / K)`, so
    /// the coarse shape stays but detail at the scale of one superpixel is gone.
    Blur,
    /// Each superpixel's own mean (lime's default, `hide_color=None`).
    Segment,
}

impl std::str::FromStr for Fill {
    type Err = Error;
    fn from_str(s: &str) -> Result<Fill> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mean" => Ok(Fill::Mean),
            "blur" => Ok(Fill::Blur),
            "segment" | "segment-mean" => Ok(Fill::Segment),
            _ => Err(Error::invalid("--fill", format!("{s:?} is not mean, blur or segment"))),
        }
    }
}

impl std::fmt::Display for Fill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Fill::Mean => "mean",
            Fill::Blur => "blur",
            Fill::Segment => "segment",
        })
    }
}

/// Settings of [`explain`]; `Default` gives lime's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct LimeConfig {
    /// Perturbed samples, the image itself included (lime: 1000).
    pub samples: usize,
    /// Superpixels SLIC aims at.
    pub superpixels: usize,
    /// SLIC compactness `m` (grey levels per grid step of distance).
    pub compactness: f32,
    pub fill: Fill,
    /// Width `w` of the exponential kernel on the cosine distance (lime: 0.25).
    pub kernel_width: f64,
    /// Ridge penalty `α` (lime: 1).
    pub alpha: f64,
    /// Images per model call.
    pub batch: usize,
    /// Seed of the on/off draws.
    pub seed: u64,
}

impl Default for LimeConfig {
    fn default() -> Self {
        LimeConfig { samples: 1000, superpixels: 50, compactness: 20.0, fill: Fill::Mean, kernel_width: 0.25, alpha: 1.0, batch: 200, seed: 0 }
    }
}

impl LimeConfig {
    /// Checks every setting, naming the flag of a bad one.
    pub fn validate(&self) -> Result<()> {
        if !(2..=1_000_000).contains(&self.samples) {
            return Err(Error::invalid("--samples", format!("{} is not from 2 to 1000000", self.samples)));
        }
        if !(1..=100_000).contains(&self.superpixels) {
            return Err(Error::invalid("--superpixels", format!("{} is not from 1 to 100000", self.superpixels)));
        }
        if !(self.compactness > 0.0 && self.compactness.is_finite()) {
            return Err(Error::invalid("--compactness", format!("{} must be a positive number", self.compactness)));
        }
        if !(self.kernel_width > 0.0 && self.kernel_width.is_finite()) {
            return Err(Error::invalid("--kernel-width", format!("{} must be a positive number", self.kernel_width)));
        }
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            return Err(Error::invalid("--alpha", format!("{} must be a positive number", self.alpha)));
        }
        if self.batch == 0 {
            return Err(Error::invalid("--batch", "must be at least 1"));
        }
        Ok(())
    }
}

/// The local linear model of one class.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassExplanation {
    pub class: usize,
    /// The model's probability of the class on the unperturbed image.
    pub probability: f32,
    /// `β_j` per superpixel: change in the class probability when superpixel `j` is on.
    pub weights: Vec<f64>,
    pub intercept: f64,
    /// Weighted R² of the local model on the samples.
    pub r2: f64,
    /// The local model's prediction for the unperturbed image (`intercept + Σ β`).
    pub local_prediction: f64,
}

impl ClassExplanation {
    /// Up to `k` superpixels with positive weight, largest first.
    pub fn top_positive(&self, k: usize) -> Vec<usize> {
        self.ranked(k, 1.0)
    }
    /// Up to `k` superpixels with negative weight, most negative first.
    pub fn top_negative(&self, k: usize) -> Vec<usize> {
        self.ranked(k, -1.0)
    }
    fn ranked(&self, k: usize, sign: f64) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.weights.len()).filter(|&j| self.weights[j] * sign > 0.0).collect();
        idx.sort_by(|&a, &b| (self.weights[b] * sign).total_cmp(&(self.weights[a] * sign)).then(a.cmp(&b)));
        idx.truncate(k);
        idx
    }
}

/// LIME's explanation of one image.
#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    pub segments: Segmentation,
    /// The model's class probabilities on the unperturbed image.
    pub probabilities: Vec<f32>,
    /// One local model per explained class, in the order asked.
    pub classes: Vec<ClassExplanation>,
    pub samples: usize,
}

impl Explanation {
    /// The class the model predicts for the image.
    pub fn predicted(&self) -> usize {
        argmax(&self.probabilities)
    }
}

/// The seed of image `id`'s on/off draws under the run seed `seed`: the same image gets the same
/// explanation whichever other images are explained with it.
pub fn image_seed(seed: u64, id: usize) -> u64 {
    seed ^ (id as u64).wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| if x > bv { (i, x) } else { (bi, bv) }).0
}

/// In the `classes` of [`explain`]: the class the model predicts for the image.
pub const PREDICTED: usize = usize::MAX;

/// Explains the model's prediction on one image (`image`: `C*H*W` raw pixel values on the
/// `0..=255` scale; `chw` its shape) for `classes` in that order, repeats dropped ([`PREDICTED`]
/// stands for the predicted class; empty means `[PREDICTED]`). `predict`
/// receives `n` raw images (`n * C*H*W` values, `n <= cfg.batch`) and returns their class
/// probabilities, `n * K` values; wrap [`probabilities`] to use a model, or anything else.
pub fn explain(
    image: &[f32],
    chw: [usize; 3],
    classes: &[usize],
    cfg: &LimeConfig,
    predict: &mut dyn FnMut(&[f32]) -> Result<Vec<f32>>,
) -> Result<Explanation> {
    cfg.validate()?;
    let [c, h, w] = chw;
    let per = c * h * w;
    if per == 0 || image.len() != per {
        return Err(Error::shape("lime image", &[image.len()], &chw));
    }
    let gray: Vec<f32> = (0..h * w).map(|p| (0..c).map(|ch| image[ch * h * w + p]).sum::<f32>() / c as f32).collect();
    let segments = slic(&gray, h, w, cfg.superpixels, cfg.compactness);
    let m = segments.count;
    let fill = fill_image(image, chw, &segments, cfg);

    // on/off vectors; row 0 is the image itself
    let mut rng = Rng::new(cfg.seed);
    let n = cfg.samples;
    let mut z = vec![1u8; n * m];
    for v in z[m..].iter_mut() {
        *v = (rng.next_u64() >> 63) as u8;
    }

    // the model's probabilities, batch by batch
    let mut probs: Vec<f32> = Vec::with_capacity(n * 16);
    let mut k = 0usize;
    let mut batch = Vec::with_capacity(cfg.batch.min(n) * per);
    for start in (0..n).step_by(cfg.batch) {
        let rows = (n - start).min(cfg.batch);
        batch.clear();
        for i in start..start + rows {
            let on = &z[i * m..(i + 1) * m];
            for ch in 0..c {
                let (src, fl) = (&image[ch * h * w..(ch + 1) * h * w], &fill[ch * h * w..(ch + 1) * h * w]);
                batch.extend(segments.labels.iter().zip(src.iter().zip(fl)).map(|(&s, (&x, &f))| if on[s as usize] == 1 { x } else { f }));
            }
        }
        let p = predict(&batch)?;
        if start == 0 {
            k = p.len() / rows;
        }
        if k == 0 || p.len() != rows * k {
            return Err(Error::invalid("lime", format!("the model returned {} probabilities for {rows} images", p.len())));
        }
        probs.extend_from_slice(&p);
    }
    let probabilities = probs[..k].to_vec();
    let pred = argmax(&probabilities);
    let mut wanted: Vec<usize> = Vec::new();
    for &cl in if classes.is_empty() { &[PREDICTED][..] } else { classes } {
        let cl = if cl == PREDICTED { pred } else { cl };
        if !wanted.contains(&cl) {
            wanted.push(cl);
        }
    }
    if let Some(&bad) = wanted.iter().find(|&&cl| cl >= k) {
        return Err(Error::invalid("--classes", format!("class {bad} is not below the model's {k} classes")));
    }

    // kernel weights on the cosine distance to the all-on vector
    let weights: Vec<f64> = (0..n)
        .map(|i| {
            let on = z[i * m..(i + 1) * m].iter().filter(|&&v| v == 1).count();
            let d = if on == 0 { 1.0 } else { 1.0 - (on as f64 / m as f64).sqrt() };
            (-(d * d) / (cfg.kernel_width * cfg.kernel_width)).exp().sqrt()
        })
        .collect();
    let zf: Vec<f64> = z.iter().map(|&v| v as f64).collect();
    let targets: Vec<Vec<f64>> = wanted.iter().map(|&cl| (0..n).map(|i| probs[i * k + cl] as f64).collect()).collect();
    let fits = weighted_ridge(&zf, n, m, &targets, &weights, cfg.alpha)?;
    let classes = wanted
        .iter()
        .zip(fits)
        .map(|(&cl, f)| ClassExplanation {
            class: cl,
            probability: probabilities[cl],
            local_prediction: f.intercept + f.coef.iter().sum::<f64>(),
            weights: f.coef,
            intercept: f.intercept,
            r2: f.r2,
        })
        .collect();
    Ok(Explanation { segments, probabilities, classes, samples: n })
}

/// The image that switched-off superpixels show (`C*H*W`, raw scale).
fn fill_image(image: &[f32], [c, h, w]: [usize; 3], seg: &Segmentation, cfg: &LimeConfig) -> Vec<f32> {
    let hw = h * w;
    let mut out = Vec::with_capacity(c * hw);
    for ch in 0..c {
        let plane = &image[ch * hw..(ch + 1) * hw];
        match cfg.fill {
            Fill::Mean => {
                let mean = plane.iter().map(|&v| v as f64).sum::<f64>() / hw as f64;
                out.extend(std::iter::repeat_n(mean as f32, hw));
            }
            Fill::Segment => {
                let mut acc = vec![(0.0f64, 0usize); seg.count];
                for (&l, &v) in seg.labels.iter().zip(plane) {
                    acc[l as usize].0 += v as f64;
                    acc[l as usize].1 += 1;
                }
                out.extend(seg.labels.iter().map(|&l| (acc[l as usize].0 / acc[l as usize].1.max(1) as f64) as f32));
            }
            Fill::Blur => {
                let sigma = (hw as f64 / cfg.superpixels.max(1) as f64).sqrt().max(1.0);
                out.extend(gaussian_blur(plane, h, w, sigma));
            }
        }
    }
    out
}

/// Separable Gaussian blur with standard deviation `sigma` (radius `3σ`), edges clamped.
pub fn gaussian_blur(plane: &[f32], h: usize, w: usize, sigma: f64) -> Vec<f32> {
    let r = (3.0 * sigma).ceil() as i64;
    let kern: Vec<f64> = (-r..=r).map(|d| (-(d * d) as f64 / (2.0 * sigma * sigma)).exp()).collect();
    let norm: f64 = kern.iter().sum();
    let pass = |src: &[f32], len: usize, stride: usize, count: usize, step: usize| {
        let mut dst = vec![0.0f32; src.len()];
        for line in 0..count {
            for i in 0..len {
                let mut s = 0.0f64;
                for (t, kv) in kern.iter().enumerate() {
                    let j = (i as i64 + t as i64 - r).clamp(0, len as i64 - 1) as usize;
                    s += kv * src[line * step + j * stride] as f64;
                }
                dst[line * step + i * stride] = (s / norm) as f32;
            }
        }
        dst
    };
    let rows = pass(plane, w, 1, h, w);
    pass(&rows, h, w, w, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_keeps_constants_and_spreads_a_spike() {
        let b = gaussian_blur(&[7.0; 30], 5, 6, 1.5);
        assert!(b.iter().all(|v| (v - 7.0).abs() < 1e-5));
        let mut spike = vec![0.0; 49];
        spike[24] = 1.0;
        let b = gaussian_blur(&spike, 7, 7, 1.0);
        assert!((b.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert!(b[24] < 0.5 && b[23] > 0.0 && (b[23] - b[25]).abs() < 1e-6 && (b[17] - b[31]).abs() < 1e-6);
    }

    #[test]
    fn fill_parses() {
        assert_eq!("blur".parse::<Fill>().unwrap(), Fill::Blur);
        assert!("zero".parse::<Fill>().unwrap_err().to_string().contains("--fill"));
    }
}
