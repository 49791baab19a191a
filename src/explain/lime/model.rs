//! The model boundary of the explain and report code: the one function that loads a run
//! directory, and the one function that runs the model on raw pixels. (The run-directory layer
//! of the architecture issue replaces the first; a `&self` forward changes only the second.)

use crate::autograd::Graph;
use crate::data::Normalization;
use crate::error::{Error, Result};
use crate::nn::{Ctx, Sequential};
use crate::ops;
use crate::tensor::{Rng, Tensor};
use crate::train::{load_model, RunModel};
use std::path::Path;

/// Loads the model of the run directory `dir` (written by `pupil train`), with one clear
/// error if the directory or its `model.safetensors` is missing.
pub fn load_run(dir: &Path) -> Result<RunModel> {
    if !dir.exists() {
        return Err(Error::invalid("--run", format!("{}: no such run directory", dir.display())));
    }
    if dir.is_dir() && !dir.join("model.safetensors").is_file() {
        return Err(Error::invalid("--run", format!("{}: no model.safetensors here; is it a run directory written by `pupil train`?", dir.display())));
    }
    load_model(dir)
}

/// Class probabilities `[n * K]` (softmax of the logits, row per image) of `n` images given as
/// raw pixel values on the `0..=255` scale (`n * C*H*W` values, any `n`): each image is
/// normalised with `norm` exactly as in training, then the model runs in inference mode
/// (no tape, no dropout, batch norm on running statistics) in one batch.
pub fn probabilities(model: &mut Sequential, norm: &Normalization, raw: &[f32], chw: [usize; 3]) -> Result<Vec<f32>> {
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
    let logits = model.forward_logits(&g.constant(x), &mut Ctx { train: false, rng: &mut Rng::new(0) })?;
    let p = ops::softmax(&logits)?;
    Ok(p.value().data().to_vec())
}
