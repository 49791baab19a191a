//! The model boundary of LIME: the one function that runs the model on raw pixels.

use crate::autograd::Graph;
use crate::data::Normalization;
use crate::error::{Error, Result};
use crate::nn::Sequential;
use crate::ops;
use crate::tensor::Tensor;

/// Class probabilities `[n * K]` (softmax of the logits, row per image) of `n` images given as
/// raw pixel values on the `0..=255` scale (`n * C*H*W` values, any `n`): each image is
/// normalised with `norm` exactly as in training, then the model runs in inference mode
/// (no tape, no dropout, batch norm on running statistics) in one batch.
pub fn probabilities(model: &Sequential, norm: &Normalization, raw: &[f32], chw: [usize; 3]) -> Result<Vec<f32>> {
    let per = chw.iter().product::<usize>();
    if per == 0 || !raw.len().is_multiple_of(per) {
        return Err(Error::shape("probabilities", &[raw.len()], &chw));
    }
    let n = raw.len() / per;
    let mut x = raw.to_vec();
    for img in x.chunks_exact_mut(per) {
        norm.apply_f32(img)?;
    }
    let x = Tensor::from_vec(x, &[n, chw[0], chw[1], chw[2]])?;
    let g = Graph::no_grad();
    let logits = model.forward_logits(&g.constant(x))?;
    let p = ops::softmax(&logits)?;
    Ok(p.value().data().to_vec())
}
