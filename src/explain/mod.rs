//! Looking inside a trained model with the same tape that trains it: gradients with respect to
//! the input image.
//!
//! - [`saliency`]: vanilla gradients (Simonyan et al. 2014), SmoothGrad (Smilkov et al. 2017),
//!   integrated gradients (Sundararajan et al. 2017) and Grad-CAM (Selvaraju et al. 2017).
//! - [`integrated`]: integrated gradients by a quadrature rule, with Captum's convergence
//!   delta per image.
//! - [`ascent`]: gradient ascent on the input, for what a filter responds to and what image
//!   the model finds most like a class; and the feature maps of one real image.
//! - [`layers`]: layers by the name or index that `pupil summary` shows.
//! - [`attributions`]: the raw maps as `attributions.safetensors`.
//! - [`select`]: which images (`--ids`, `--per-class`) and methods a call covers, and the
//!   captions of a saliency grid.
//! - [`lime`]: LIME (Ribeiro et al. 2016) on SLIC superpixels, with a weighted ridge fit.
//!
//! An [`Explainer`] holds a frozen inference copy of the model ([`net::Net`]) and the input
//! normalisation. Images come in as raw pixels (`f32` on the `0..=255` scale, `[N, C, H, W]`)
//! and are normalised exactly as training did; gradients are taken with respect to the
//! normalised input the model sees (what PyTorch or Keras give for the same weights). Work is
//! done in batches of [`Explainer::batch`] rows so the parallel ops have enough to share out.

pub mod ascent;
pub mod attributions;
pub mod integrated;
pub mod layers;
pub mod lime;
pub mod net;
pub mod saliency;
pub mod select;
pub mod stats;

pub use ascent::{class_list, AscentOptions, AscentResult, ClassObjective};
pub use attributions::{save_attributions, AttributionSet};
pub use integrated::{Integrated, Quadrature};
pub use layers::{find_layer, last_conv, layers, require_spatial, LayerInfo, LayerKind};
pub use saliency::{Attribution, Baseline, Method};
pub use select::{method_label, parse_methods, per_class_ids, pick_ids, saliency_captions, MethodSettings};
pub use stats::{spearman, top_fraction_mask};

use crate::autograd::Graph;
use crate::data::{Dataset, Normalization};
use crate::error::{Error, Result};
use crate::nn::Sequential;
use crate::ops;
use crate::tensor::Tensor;
use net::Net;
use rayon::prelude::*;

/// A progress callback: `(done, total)` in the units of the work (images, rows or steps).
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize);

/// A callback that ignores progress.
pub fn no_progress() -> impl FnMut(usize, usize) {
    |_, _| {}
}

/// Which class score an explanation follows, per image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassChoice {
    /// The class the model predicts.
    Predicted,
    /// The image's label.
    True,
    /// One fixed class for every image.
    Class(usize),
}

impl std::str::FromStr for ClassChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<ClassChoice> {
        match s.trim().to_ascii_lowercase().as_str() {
            "predicted" | "pred" => Ok(ClassChoice::Predicted),
            "true" | "label" => Ok(ClassChoice::True),
            k => k.parse().map(ClassChoice::Class).map_err(|_| Error::invalid("--class", format!("{s:?} is not predicted, true or a class number"))),
        }
    }
}

/// A trained model ready to be explained: a frozen copy plus the input normalisation.
pub struct Explainer {
    net: Net,
    norm: Normalization,
    /// Rows per forward/backward pass (default 64).
    pub batch: usize,
}

impl Explainer {
    /// Prepares `model` (weights shared, frozen) with the normalisation it was trained with.
    pub fn new(model: &Sequential, norm: &Normalization) -> Result<Explainer> {
        if model.input_shape().len() != 3 {
            return Err(Error::invalid("explain", format!("the model's input {:?} is not an image [C, H, W]", model.input_shape())));
        }
        Ok(Explainer { net: Net::new(model)?, norm: norm.clone(), batch: 64 })
    }

    /// The frozen model.
    pub fn model(&self) -> &Sequential {
        self.net.model()
    }
    /// The input normalisation.
    pub fn normalization(&self) -> &Normalization {
        &self.norm
    }
    /// Per-sample input `[C, H, W]`.
    pub fn input_shape(&self) -> [usize; 3] {
        let s = self.net.model().input_shape();
        [s[0], s[1], s[2]]
    }
    /// Number of classes (logits).
    pub fn num_classes(&self) -> usize {
        self.net.model().output_shape().iter().product()
    }
    /// The layers as `pupil summary` lists them.
    pub fn layers(&self) -> Vec<LayerInfo> {
        layers::layers(self.net.model())
    }
    /// A layer by 1-based index or name (see [`layers`]).
    pub fn layer(&self, key: &str) -> Result<LayerInfo> {
        layers::find_layer(self.net.model(), key)
    }

    /// Images `ids` of `ds` as raw pixels `[N, C, H, W]` (`0..=255` as f32). Errors name an id
    /// beyond the data.
    pub fn raw_images(ds: &Dataset, ids: &[usize]) -> Result<Tensor> {
        if let Some(&bad) = ids.iter().find(|&&i| i >= ds.len()) {
            return Err(Error::invalid("--ids", format!("id {bad} is beyond the data ({} images, ids 0 to {})", ds.len(), ds.len().saturating_sub(1))));
        }
        let mut v = Vec::with_capacity(ids.len() * ds.image_len());
        for &i in ids {
            v.extend(ds.image(i).iter().map(|&p| p as f32));
        }
        Tensor::from_vec(v, &[ids.len(), ds.channels, ds.height, ds.width])
    }

    fn check_images(&self, x: &Tensor, what: &'static str) -> Result<usize> {
        let [c, h, w] = self.input_shape();
        if x.ndim() != 4 || x.shape()[1..] != [c, h, w] {
            return Err(Error::Shape {
                op: what,
                lhs: x.shape().to_vec(),
                rhs: vec![c, h, w],
                detail: "images must be [N, C, H, W] with the model's [C, H, W]".into(),
            });
        }
        Ok(x.shape()[0])
    }

    /// Raw pixels `[N, C, H, W]` normalised as the model was trained (per image, in parallel).
    pub fn normalize(&self, raw: &Tensor) -> Result<Tensor> {
        self.check_images(raw, "normalize")?;
        let per: usize = self.input_shape().iter().product();
        let mut v = raw.data().to_vec();
        let norm = &self.norm;
        v.par_chunks_mut(per).try_for_each(|img| norm.apply_f32(img))?;
        Tensor::from_vec(v, raw.shape())
    }

    /// The spread of the model's input values for pixels from 0 to 255 (1 for `/255`, 255 for
    /// raw pixels, about `1/std` for feature-wise, 4 for sample-wise, i.e. +-2 standard
    /// deviations). Noise levels and ascent steps are fractions of it.
    pub fn input_range(&self) -> f32 {
        match &self.norm {
            Normalization::Scale255 => 1.0,
            Normalization::None => 255.0,
            Normalization::SampleWise => 4.0,
            Normalization::FeatureWise { std, .. } => {
                let n = std.len().max(1) as f32;
                std.iter().map(|s| 1.0 / s.max(crate::data::normalize::MIN_STD)).sum::<f32>() / n
            }
        }
    }

    /// Logits `[N, K]` of normalised inputs, in batches, without a tape.
    pub fn logits(&mut self, x: &Tensor) -> Result<Tensor> {
        let n = self.check_images(x, "logits")?;
        let mut out = Vec::with_capacity(n * self.num_classes());
        for s in (0..n).step_by(self.batch.max(1)) {
            let e = (s + self.batch.max(1)).min(n);
            let g = Graph::no_grad();
            let l = self.net.logits(&g.constant(x.slice_batch(s, e)?))?;
            out.extend_from_slice(l.value().data());
        }
        Tensor::from_vec(out, &[n, self.num_classes()])
    }

    /// Softmax probabilities `[N, K]` of normalised inputs.
    pub fn probabilities(&mut self, x: &Tensor) -> Result<Tensor> {
        let l = self.logits(x)?;
        Ok(ops::softmax(&Graph::no_grad().constant(l))?.value().clone())
    }

    /// The logit of `classes[n]` for each normalised image `n`.
    pub fn scores(&mut self, x: &Tensor, classes: &[usize]) -> Result<Vec<f32>> {
        let k = self.num_classes();
        self.check_classes(classes, x.shape()[0])?;
        let l = self.logits(x)?;
        Ok(classes.iter().enumerate().map(|(n, &c)| l.data()[n * k + c]).collect())
    }

    fn check_classes(&self, classes: &[usize], n: usize) -> Result<()> {
        if classes.len() != n {
            return Err(Error::invalid("explain", format!("{} classes for {n} images", classes.len())));
        }
        let k = self.num_classes();
        if let Some(&bad) = classes.iter().find(|&&c| c >= k) {
            return Err(Error::invalid("--class", format!("class {bad} is out of range: the model has classes 0 to {}", k - 1)));
        }
        Ok(())
    }

    /// The class each explanation follows: predicted from `x` (normalised), the `labels`, or
    /// a fixed one (checked against the number of classes).
    pub fn resolve_classes(&mut self, x: &Tensor, choice: ClassChoice, labels: Option<&[usize]>) -> Result<Vec<usize>> {
        let n = self.check_images(x, "classes")?;
        let classes = match choice {
            ClassChoice::Predicted => self.logits(x)?.argmax_rows()?,
            ClassChoice::True => labels.ok_or_else(|| Error::invalid("--class", "true needs labelled data; this data has no labels"))?.to_vec(),
            ClassChoice::Class(k) => vec![k; n],
        };
        self.check_classes(&classes, n)?;
        Ok(classes)
    }
}
