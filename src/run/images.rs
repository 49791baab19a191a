//! `pupil predict --image`: the class probabilities of the user's own pictures.

use super::{DataRef, RunDir};
use crate::error::Result;
use crate::train::{check_data, predict};
use std::path::{Path, PathBuf};

/// The class probabilities the model gives one picture.
#[derive(Clone, Debug, PartialEq)]
pub struct ImagePrediction {
    pub path: PathBuf,
    /// One probability per class (softmax), in class order.
    pub probs: Vec<f32>,
}

impl ImagePrediction {
    /// `(class index, probability)`, most probable first (ties: lower index first).
    pub fn ranked(&self) -> Vec<(usize, f32)> {
        let mut r: Vec<(usize, f32)> = self.probs.iter().copied().enumerate().collect();
        r.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        r
    }
}

/// Predicts the pictures `images` (PNG, JPEG, BMP) with the model of the run in `run`: each is
/// made gray (ITU-R BT.601 luma), centre-cropped to the model's aspect and resized to its input
/// ([`crate::data::image`]), normalised as the model was trained ([`crate::data::Normalization`]
/// in model.json). Returns the class names and one prediction per picture, in order.
pub fn predict_images(run: &Path, images: &[PathBuf]) -> Result<(Vec<String>, Vec<ImagePrediction>)> {
    let dir = RunDir::open(run)?;
    let m = dir.load_model()?;
    let r = DataRef::images(images);
    let ds = r.load_for(&m.meta)?;
    check_data(&ds, &m.meta.input, m.meta.class_names.len(), &r.describe())?;
    let probs = predict(&m.model, &ds, &m.meta.normalization, 256)?;
    let k = m.meta.class_names.len();
    let out = images.iter().zip(probs.data().chunks(k)).map(|(p, row)| ImagePrediction { path: p.clone(), probs: row.to_vec() }).collect();
    Ok((m.meta.class_names, out))
}
