//! Evaluation and prediction in inference mode (no tape, batch norm on running statistics,
//! no dropout), with optional test-time augmentation ([`Tta`]).

use crate::autograd::Graph;
use crate::data::{make_batch, Dataset, Normalization};
use crate::error::{Error, Result};
use crate::nn::Sequential;
use crate::ops;
use crate::tensor::Tensor;

/// What [`evaluate`] measures on a labelled set.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Fraction correct.
    pub accuracy: f64,
    /// Predicted class per image.
    pub predictions: Vec<usize>,
    /// True class per image.
    pub truth: Vec<usize>,
}

/// Class probabilities `[N, K]` for every image of `ds` (softmax of the logits), in batches.
pub fn predict(model: &Sequential, ds: &Dataset, norm: &Normalization, batch: usize) -> Result<Tensor> {
    let idx: Vec<usize> = (0..ds.len()).collect();
    let mut probs = Vec::new();
    let mut k = 0;
    for chunk in idx.chunks(batch.max(1)) {
        let (x, _) = make_batch(ds, chunk, norm, None)?;
        let g = Graph::no_grad();
        let logits = model.forward_logits(&g.constant(x))?;
        let p = ops::softmax(&logits)?;
        k = p.shape()[1];
        probs.extend_from_slice(p.value().data());
        crate::progress::report("predicting", (chunk[0] + chunk.len()) as u64, ds.len() as u64);
    }
    Tensor::from_vec(probs, &[ds.len(), k])
}

/// Test-time augmentation of [`predict_tta`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tta {
    /// The image as it is.
    #[default]
    None,
    /// The mean of the probabilities of the image and of its horizontal mirror (left and right
    /// swapped, before normalisation: what the model would see if given the mirrored file).
    Flip,
}

impl std::str::FromStr for Tta {
    type Err = Error;
    fn from_str(s: &str) -> Result<Tta> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Tta::None),
            "flip" => Ok(Tta::Flip),
            t => Err(Error::invalid("--tta", format!("{t:?} is not none or flip"))),
        }
    }
}

/// `ds` with every image mirrored horizontally (each row of each channel reversed).
pub fn mirrored(ds: &Dataset) -> Dataset {
    let mut out = ds.clone();
    if ds.width > 0 {
        for row in out.pixels.chunks_mut(ds.width) {
            row.reverse();
        }
    }
    out
}

/// [`predict`] with test-time augmentation: with [`Tta::Flip`], each image's probabilities are
/// `(p(x) + p(mirror(x))) / 2` (still summing to 1).
pub fn predict_tta(model: &Sequential, ds: &Dataset, norm: &Normalization, batch: usize, tta: Tta) -> Result<Tensor> {
    let p = predict(model, ds, norm, batch)?;
    match tta {
        Tta::None => Ok(p),
        Tta::Flip => {
            let q = predict(model, &mirrored(ds), norm, batch)?;
            let mean: Vec<f32> = p.data().iter().zip(q.data()).map(|(a, b)| (a + b) / 2.0).collect();
            Tensor::from_vec(mean, p.shape())
        }
    }
}

impl Evaluation {
    /// The evaluation of two data sets together: predictions one after the other, the loss and
    /// accuracy over all images.
    pub fn merge(&self, other: &Evaluation) -> Evaluation {
        let (a, b) = (self.truth.len() as f64, other.truth.len() as f64);
        let n = (a + b).max(1.0);
        let predictions: Vec<usize> = self.predictions.iter().chain(&other.predictions).copied().collect();
        let truth: Vec<usize> = self.truth.iter().chain(&other.truth).copied().collect();
        let correct = predictions.iter().zip(&truth).filter(|(p, t)| p == t).count();
        Evaluation { loss: (self.loss * a + other.loss * b) / n, accuracy: correct as f64 / n, predictions, truth }
    }
}

/// Loss, accuracy and predictions on a labelled dataset; the images done are reported to
/// [`crate::progress`] as `"evaluating"`.
pub fn evaluate(model: &Sequential, ds: &Dataset, norm: &Normalization, batch: usize) -> Result<Evaluation> {
    evaluate_with(model, ds, norm, batch, &mut |done, total| crate::progress::report("evaluating", done as u64, total as u64))
}

/// [`evaluate`], calling `on_batch(images done, images)` after every batch instead of reporting
/// to [`crate::progress`] (the training loop turns these into its own events).
pub(crate) fn evaluate_with(
    model: &Sequential,
    ds: &Dataset,
    norm: &Normalization,
    batch: usize,
    on_batch: &mut dyn FnMut(usize, usize),
) -> Result<Evaluation> {
    let labels = ds.labels.as_ref().ok_or_else(|| Error::invalid("evaluate", "the data has no labels"))?;
    let idx: Vec<usize> = (0..ds.len()).collect();
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    let mut predictions = Vec::with_capacity(ds.len());
    for chunk in idx.chunks(batch.max(1)) {
        let (x, y) = make_batch(ds, chunk, norm, None)?;
        let g = Graph::no_grad();
        let logits = model.forward_logits(&g.constant(x))?;
        let loss = ops::cross_entropy(&logits, &y)?;
        loss_sum += loss.value().item()? as f64 * chunk.len() as f64;
        let pred = logits.value().argmax_rows()?;
        correct += pred.iter().zip(&y).filter(|(a, b)| a == b).count();
        predictions.extend(pred);
        on_batch(chunk[0] + chunk.len(), ds.len());
    }
    let n = ds.len().max(1) as f64;
    Ok(Evaluation { loss: loss_sum / n, accuracy: correct as f64 / n, predictions, truth: labels.iter().map(|&l| l as usize).collect() })
}
