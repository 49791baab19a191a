//! Evaluation and prediction in inference mode (no tape, batch norm on running statistics,
//! no dropout).

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
    }
    Tensor::from_vec(probs, &[ds.len(), k])
}

/// Loss, accuracy and predictions on a labelled dataset.
pub fn evaluate(model: &Sequential, ds: &Dataset, norm: &Normalization, batch: usize) -> Result<Evaluation> {
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
    }
    let n = ds.len().max(1) as f64;
    Ok(Evaluation { loss: loss_sum / n, accuracy: correct as f64 / n, predictions, truth: labels.iter().map(|&l| l as usize).collect() })
}
