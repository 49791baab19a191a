//! Saliency: which input pixels the score of a class depends on.
//!
//! The score of class `c` for image `x` is the logit `S_c(x)` (before softmax). With `N`
//! images the tape is seeded with a one-hot `[N, K]` matrix, so one backward pass gives
//! `∂S_{c_n}(x_n)/∂x_n` for every image at once (the images of a batch do not interact in
//! inference mode).
//!
//! - vanilla: `∂S_c/∂x`.
//! - SmoothGrad: `(1/m) Σ_i ∂S_c/∂x (x + ε_i)`, `ε_i ~ N(0, σ²)`, `σ = noise · (max x − min x)`.
//! - integrated gradients: `(x − b) ⊙ ∫₀¹ ∂S_c/∂x (b + α (x − b)) dα`, the integral by a
//!   quadrature rule, with the completeness miss per image (see [`super::integrated`]).
//! - Grad-CAM on a layer with maps `A_k` (`[K, h, w]`): weights `α_k = mean_ij ∂S_c/∂A_kij`,
//!   map `ReLU(Σ_k α_k A_k)`, resized to the input by bilinear interpolation (pixel centres
//!   aligned, as OpenCV's resize).

use super::integrated::Quadrature;
use super::{Explainer, Progress};
use crate::autograd::Graph;
use crate::error::{Error, Result};
use crate::tensor::{Rng, Tensor};
use rayon::prelude::*;

/// The reference image of integrated gradients, made from the raw image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Baseline {
    /// All pixels 0.
    Black,
    /// Every pixel at the image's own mean intensity (per channel).
    Mean,
    /// The image blurred by a Gaussian with σ = a tenth of its larger side (Sturmfels et al.
    /// 2020): removes the detail, keeps the brightness.
    Blur,
}

impl std::str::FromStr for Baseline {
    type Err = Error;
    fn from_str(s: &str) -> Result<Baseline> {
        match s.trim().to_ascii_lowercase().as_str() {
            "black" | "zero" | "zeros" => Ok(Baseline::Black),
            "mean" => Ok(Baseline::Mean),
            "blur" => Ok(Baseline::Blur),
            _ => Err(Error::invalid("--baseline", format!("{s:?} is not black, mean or blur"))),
        }
    }
}

impl Baseline {
    /// The name used in flags and metadata.
    pub fn name(self) -> &'static str {
        match self {
            Baseline::Black => "black",
            Baseline::Mean => "mean",
            Baseline::Blur => "blur",
        }
    }
}

/// A saliency method and its settings.
#[derive(Clone, Debug, PartialEq)]
pub enum Method {
    Vanilla,
    /// `samples` noisy copies per image; `noise` = σ as a fraction of the image's value range.
    SmoothGrad {
        samples: usize,
        noise: f32,
        seed: u64,
    },
    /// Integrated gradients: `steps` nodes of `rule` on the path from `baseline`.
    Integrated {
        baseline: Baseline,
        steps: usize,
        rule: Quadrature,
    },
    /// Grad-CAM on the layer with this 1-based index (None: the last convolution).
    GradCam {
        layer: Option<usize>,
    },
}

impl Method {
    /// `vanilla`, `smoothgrad`, `integrated` or `gradcam`: the tensor's name in
    /// `attributions.safetensors`.
    pub fn name(&self) -> &'static str {
        match self {
            Method::Vanilla => "vanilla",
            Method::SmoothGrad { .. } => "smoothgrad",
            Method::Integrated { .. } => "integrated",
            Method::GradCam { .. } => "gradcam",
        }
    }
    /// The settings as a JSON object (for metadata).
    pub fn settings(&self) -> serde_json::Value {
        match self {
            Method::Vanilla => serde_json::json!({"method": "vanilla"}),
            Method::SmoothGrad { samples, noise, seed } => serde_json::json!({"method": "smoothgrad", "samples": samples, "noise": noise, "seed": seed}),
            Method::Integrated { baseline, steps, rule } => {
                serde_json::json!({"method": "integrated", "baseline": baseline.name(), "steps": steps, "rule": rule.name()})
            }
            Method::GradCam { layer } => serde_json::json!({"method": "gradcam", "layer": layer}),
        }
    }
    /// Rows of forward/backward work per image (for progress and planning).
    pub fn rows_per_image(&self) -> usize {
        match self {
            Method::SmoothGrad { samples, .. } => *samples,
            Method::Integrated { steps, .. } => *steps,
            _ => 1,
        }
    }
}

/// Gaussian blur of one `h x w` plane with standard deviation `sigma` (separable, edges
/// clamped).
pub fn gaussian_blur(plane: &[f32], h: usize, w: usize, sigma: f32) -> Vec<f32> {
    let r = (3.0 * sigma).ceil().max(1.0) as isize;
    let k: Vec<f32> = (-r..=r).map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp()).collect();
    let ks: f32 = k.iter().sum();
    let k: Vec<f32> = k.iter().map(|v| v / ks).collect();
    let pass = |src: &[f32], along_x: bool| -> Vec<f32> {
        let mut out = vec![0f32; h * w];
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0.0;
                for (j, kv) in k.iter().enumerate() {
                    let d = j as isize - r;
                    let (yy, xx) =
                        if along_x { (y as isize, (x as isize + d).clamp(0, w as isize - 1)) } else { ((y as isize + d).clamp(0, h as isize - 1), x as isize) };
                    acc += kv * src[yy as usize * w + xx as usize];
                }
                out[y * w + x] = acc;
            }
        }
        out
    };
    pass(&pass(plane, true), false)
}

/// Bilinear resize of one `h x w` plane to `nh x nw` with pixel centres aligned
/// (`src = (dst + ½)·h/nh − ½`, clamped at the edges).
pub fn resize_bilinear(plane: &[f32], h: usize, w: usize, nh: usize, nw: usize) -> Vec<f32> {
    let coord = |d: usize, n: usize, s: usize| -> (usize, usize, f32) {
        let f = ((d as f32 + 0.5) * s as f32 / n as f32 - 0.5).clamp(0.0, (s - 1) as f32);
        let i0 = f.floor() as usize;
        (i0, (i0 + 1).min(s - 1), f - i0 as f32)
    };
    let mut out = Vec::with_capacity(nh * nw);
    for y in 0..nh {
        let (y0, y1, fy) = coord(y, nh, h);
        for x in 0..nw {
            let (x0, x1, fx) = coord(x, nw, w);
            let top = plane[y0 * w + x0] * (1.0 - fx) + plane[y0 * w + x1] * fx;
            let bot = plane[y1 * w + x0] * (1.0 - fx) + plane[y1 * w + x1] * fx;
            out.push(top * (1.0 - fy) + bot * fy);
        }
    }
    out
}

pub(crate) fn one_hot(classes: &[usize], k: usize) -> Tensor {
    let mut s = vec![0f32; classes.len() * k];
    for (n, &c) in classes.iter().enumerate() {
        s[n * k + c] = 1.0;
    }
    Tensor::from_vec(s, &[classes.len(), k]).expect("one-hot shape")
}

impl Explainer {
    /// `∂S_{c_n}/∂x_n` for one batch of normalised images, and the scores.
    fn input_gradient(&mut self, x: Tensor, classes: &[usize]) -> Result<(Tensor, Vec<f32>)> {
        let g = Graph::new();
        let xv = g.leaf(x);
        let logits = self.net.logits(&xv)?;
        let k = logits.shape()[1];
        let grads = logits.backward_with(one_hot(classes, k))?;
        let scores = classes.iter().enumerate().map(|(n, &c)| logits.value().data()[n * k + c]).collect();
        let dx = grads.wrt(&xv).cloned().unwrap_or_else(|| Tensor::zeros(xv.shape()));
        Ok((dx, scores))
    }

    /// Runs `rows` rows of gradient work in batches: `make(r)` writes row `r`'s input, the
    /// gradient and score of row `r` are passed to `take(r, grad, score)`. Rows of one batch
    /// are built in parallel.
    pub(super) fn gradient_rows(
        &mut self,
        rows: usize,
        class_of_row: &(dyn Fn(usize) -> usize + Sync),
        make: &(dyn Fn(usize, &mut [f32]) + Sync),
        take: &mut dyn FnMut(usize, &[f32], f32),
        progress: Progress,
    ) -> Result<()> {
        let per: usize = self.input_shape().iter().product();
        let [c, h, w] = self.input_shape();
        let b = self.batch.max(1);
        for s in (0..rows).step_by(b) {
            let e = (s + b).min(rows);
            let mut v = vec![0f32; (e - s) * per];
            v.par_chunks_mut(per).enumerate().for_each(|(i, row)| make(s + i, row));
            let cls: Vec<usize> = (s..e).map(class_of_row).collect();
            let (dx, scores) = self.input_gradient(Tensor::from_vec(v, &[e - s, c, h, w])?, &cls)?;
            for (i, (g, sc)) in dx.data().chunks(per).zip(scores).enumerate() {
                take(s + i, g, sc);
            }
            progress(e, rows);
        }
        Ok(())
    }

    /// Vanilla gradients `∂S_c/∂x` of normalised images `[N, C, H, W]`.
    pub fn vanilla(&mut self, x: &Tensor, classes: &[usize], progress: Progress) -> Result<Tensor> {
        let n = self.check_images(x, "saliency")?;
        self.check_classes(classes, n)?;
        let per = x.len() / n.max(1);
        let mut out = vec![0f32; x.len()];
        let xd = x.data();
        self.gradient_rows(
            n,
            &|r| classes[r],
            &|r, row| row.copy_from_slice(&xd[r * per..(r + 1) * per]),
            &mut |r, g, _| out[r * per..(r + 1) * per].copy_from_slice(g),
            progress,
        )?;
        Tensor::from_vec(out, x.shape())
    }

    /// SmoothGrad: the mean gradient over `samples` copies with Gaussian noise of standard
    /// deviation `noise · (max − min)` of each image. The noise of image `n`, sample `i`
    /// comes from `Rng::new(seed).fork(n).fork(i)`: the same for any batch size or thread count.
    pub fn smoothgrad(&mut self, x: &Tensor, classes: &[usize], samples: usize, noise: f32, seed: u64, progress: Progress) -> Result<Tensor> {
        let n = self.check_images(x, "saliency")?;
        self.check_classes(classes, n)?;
        if samples == 0 || !(noise.is_finite() && noise >= 0.0) {
            return Err(Error::invalid("smoothgrad", format!("--samples ({samples}) must be at least 1 and --noise ({noise}) a number >= 0")));
        }
        let per = x.len() / n.max(1);
        let xd = x.data();
        let sigma: Vec<f32> = xd
            .chunks(per)
            .map(|img| {
                let (lo, hi) = img.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
                noise * (hi - lo).max(0.0)
            })
            .collect();
        let base = Rng::new(seed);
        let mut out = vec![0f32; x.len()];
        let inv = 1.0 / samples as f32;
        self.gradient_rows(
            n * samples,
            &|r| classes[r / samples],
            &|r, row| {
                let (img, i) = (r / samples, r % samples);
                let mut rng = base.fork(img as u64).fork(i as u64);
                for (o, &v) in row.iter_mut().zip(&xd[img * per..(img + 1) * per]) {
                    *o = v + sigma[img] * rng.normal();
                }
            },
            &mut |r, g, _| {
                let img = r / samples;
                for (o, &v) in out[img * per..(img + 1) * per].iter_mut().zip(g) {
                    *o += v * inv;
                }
            },
            progress,
        )?;
        Tensor::from_vec(out, x.shape())
    }

    /// The baseline image of integrated gradients for raw images `[N, C, H, W]`, normalised.
    pub fn baseline(&self, kind: Baseline, raw: &Tensor) -> Result<Tensor> {
        let n = self.check_images(raw, "baseline")?;
        let [c, h, w] = self.input_shape();
        let mut v = raw.data().to_vec();
        let plane = h * w;
        v.par_chunks_mut(plane).for_each(|p| match kind {
            Baseline::Black => p.iter_mut().for_each(|x| *x = 0.0),
            Baseline::Mean => {
                let m = p.iter().sum::<f32>() / plane as f32;
                p.iter_mut().for_each(|x| *x = m);
            }
            Baseline::Blur => {
                let b = gaussian_blur(p, h, w, h.max(w) as f32 / 10.0);
                p.copy_from_slice(&b);
            }
        });
        self.normalize(&Tensor::from_vec(v, &[n, c, h, w])?)
    }

    /// Grad-CAM maps `[N, 1, H, W]` of normalised images on `layer` (1-based index; None: the
    /// last convolution). Errors if the layer has no spatial maps.
    pub fn gradcam(&mut self, x: &Tensor, classes: &[usize], layer: Option<usize>, progress: Progress) -> Result<Tensor> {
        let n = self.check_images(x, "gradcam")?;
        self.check_classes(classes, n)?;
        let info = match layer {
            Some(i) => self.layer(&i.to_string())?,
            None => super::last_conv(self.net.model()).ok_or_else(|| Error::invalid("gradcam", "the model has no convolutional layer"))?,
        };
        super::require_spatial(&info, "Grad-CAM")?;
        let [_, h, w] = self.input_shape();
        let (kc, lh, lw) = (info.output[0], info.output[1], info.output[2]);
        let pos = info.position();
        let b = self.batch.max(1);
        let mut out = Vec::with_capacity(n * h * w);
        for s in (0..n).step_by(b) {
            let e = (s + b).min(n);
            let g = Graph::new();
            let xv = g.leaf(x.slice_batch(s, e)?);
            let acts = self.net.activations(&xv)?;
            let a = &acts[pos];
            a.retain_grad();
            let logits = acts.last().expect("a model has layers");
            let k = logits.shape()[1];
            let grads = logits.backward_with(one_hot(&classes[s..e], k))?;
            let zeros = Tensor::zeros(a.shape());
            let ga = grads.wrt(a).unwrap_or(&zeros);
            let av = a.value();
            let maps: Vec<Vec<f32>> = (0..e - s)
                .into_par_iter()
                .map(|i| {
                    let sz = lh * lw;
                    let mut cam = vec![0f32; sz];
                    for ch in 0..kc {
                        let o = (i * kc + ch) * sz;
                        let alpha = ga.data()[o..o + sz].iter().sum::<f32>() / sz as f32;
                        for (c, &v) in cam.iter_mut().zip(&av.data()[o..o + sz]) {
                            *c += alpha * v;
                        }
                    }
                    cam.iter_mut().for_each(|v| *v = v.max(0.0));
                    resize_bilinear(&cam, lh, lw, h, w)
                })
                .collect();
            out.extend(maps.into_iter().flatten());
            progress(e, n);
        }
        Tensor::from_vec(out, &[n, 1, h, w])
    }

    /// The attributions of raw images `[N, C, H, W]` (0..=255) for `classes` by `method`:
    /// `[N, C, H, W]` (Grad-CAM: `[N, 1, H, W]`), with respect to the normalised input.
    pub fn saliency(&mut self, raw: &Tensor, classes: &[usize], method: &Method, progress: Progress) -> Result<Tensor> {
        Ok(self.attribute(raw, classes, method, progress)?.map)
    }

    /// [`Explainer::saliency`] with what the method knows about its own accuracy: for
    /// integrated gradients the scores and convergence delta per image.
    pub fn attribute(&mut self, raw: &Tensor, classes: &[usize], method: &Method, progress: Progress) -> Result<Attribution> {
        let x = self.normalize(raw)?;
        let map = match method {
            Method::Vanilla => self.vanilla(&x, classes, progress)?,
            Method::SmoothGrad { samples, noise, seed } => self.smoothgrad(&x, classes, *samples, *noise, *seed, progress)?,
            Method::Integrated { baseline, steps, rule } => {
                let b = self.baseline(*baseline, raw)?;
                let ig = self.integrated(&x, &b, classes, *steps, *rule, progress)?;
                return Ok(Attribution { map: ig.attributions.clone(), integrated: Some(ig) });
            }
            Method::GradCam { layer } => self.gradcam(&x, classes, *layer, progress)?,
        };
        Ok(Attribution { map, integrated: None })
    }
}

/// One method's maps, and for integrated gradients their completeness check.
#[derive(Clone, Debug)]
pub struct Attribution {
    /// `[N, C, H, W]` (Grad-CAM: `[N, 1, H, W]`).
    pub map: Tensor,
    /// Integrated gradients only: scores and convergence delta per image.
    pub integrated: Option<super::integrated::Integrated>,
}
