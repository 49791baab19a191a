//! A trained model on disk: `model.safetensors` (weights and batch-norm statistics, readable by
//! Python's `safetensors`) whose metadata carries the architecture, input shape, class names
//! and normalisation as JSON ([`ModelMeta`]); `model.json` holds the same JSON for people to read.

use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::nn::Sequential;
use crate::tensor::Tensor;
use crate::train::{first_non_finite, safetensors, ModelMeta};
use std::collections::BTreeMap;
use std::path::Path;

/// A model loaded from a run directory, ready for inference.
pub struct RunModel {
    pub model: Sequential,
    pub meta: ModelMeta,
}

/// The metadata key under which the JSON is stored.
pub const META_KEY: &str = "pupil.model";

/// Writes `dir/model.safetensors` (the named tensors: [`Sequential::named_tensors`] of a model)
/// and `dir/model.json`, each atomically.
pub fn save_model(dir: &Path, tensors: &[(String, Tensor)], meta: &ModelMeta) -> Result<()> {
    let json = serde_json::to_string_pretty(meta).map_err(|e| Error::Run(format!("serialising model metadata: {e}")))?;
    let mut md = BTreeMap::new();
    md.insert(META_KEY.to_string(), json.clone());
    // sorted by name: the same model gives the same bytes, however its tensors were gathered
    let mut sorted = tensors.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    safetensors::save(&dir.join(super::MODEL), &sorted, &md)?;
    write_atomic(&dir.join(super::MODEL_JSON), json.as_bytes())
}

/// Loads a model saved by [`save_model`] from a `.safetensors` file; every error names the file.
pub fn load_model(path: &Path) -> Result<RunModel> {
    let (tensors, md) = safetensors::load(path)?;
    let json = md.get(META_KEY).ok_or_else(|| Error::parse(path, 0, META_KEY, "no pupil model metadata in this file"))?;
    let meta: ModelMeta = serde_json::from_str(json).map_err(|e| Error::parse(path, 0, META_KEY, e.to_string()))?;
    let mut model = Sequential::build(&meta.spec, &meta.input, 0).map_err(|e| Error::parse(path, 0, META_KEY, e.to_string()))?;
    if model.output_shape() != [meta.class_names.len()] {
        return Err(Error::parse(path, 0, META_KEY, format!("{} class names for a model with output {:?}", meta.class_names.len(), model.output_shape())));
    }
    if let Some(k) = first_non_finite(&tensors) {
        return Err(Error::parse(path, 0, k, "the tensor holds NaN or infinite values: this model is ruined (train again with a lower --lr)"));
    }
    model.load_named(&tensors.into_iter().collect()).map_err(|e| Error::parse(path, 0, "weights", e.to_string()))?;
    Ok(RunModel { model, meta })
}
