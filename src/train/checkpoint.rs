//! A trained model on disk: `model.safetensors` (weights and batch-norm statistics, readable by
//! Python's `safetensors`) whose metadata carries the architecture, input shape, class names
//! and normalisation as JSON; `model.json` holds the same JSON for people to read.

use super::safetensors;
use crate::data::Normalization;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::nn::{ModelSpec, Sequential};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Everything besides the weights that is needed to use a model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelMeta {
    pub spec: ModelSpec,
    /// Per-sample input `[C, H, W]`.
    pub input: Vec<usize>,
    pub class_names: Vec<String>,
    pub normalization: Normalization,
}

/// A model loaded from a run directory.
pub struct RunModel {
    pub model: Sequential,
    pub meta: ModelMeta,
}

/// The metadata key under which the JSON is stored.
pub const META_KEY: &str = "pupil.model";

/// Writes `dir/model.safetensors` and `dir/model.json`, each atomically.
pub fn save_model(dir: &Path, model: &Sequential, meta: &ModelMeta) -> Result<()> {
    let json = serde_json::to_string_pretty(meta).map_err(|e| Error::Run(format!("serialising model metadata: {e}")))?;
    let mut md = BTreeMap::new();
    md.insert(META_KEY.to_string(), json.clone());
    safetensors::save(&dir.join("model.safetensors"), &model.named_tensors(), &md)?;
    write_atomic(&dir.join("model.json"), json.as_bytes())
}

/// Loads a model saved by [`save_model`] from a run directory (or a `.safetensors` path).
pub fn load_model(dir_or_file: &Path) -> Result<RunModel> {
    let path = if dir_or_file.is_dir() { dir_or_file.join("model.safetensors") } else { dir_or_file.to_path_buf() };
    let (tensors, md) = safetensors::load(&path)?;
    let json = md.get(META_KEY).ok_or_else(|| Error::parse(&path, 0, META_KEY, "no pupil model metadata in this file"))?;
    let meta: ModelMeta = serde_json::from_str(json).map_err(|e| Error::parse(&path, 0, META_KEY, e.to_string()))?;
    let mut model = Sequential::build(&meta.spec, &meta.input, 0).map_err(|e| Error::parse(&path, 0, META_KEY, e.to_string()))?;
    if model.output_shape() != [meta.class_names.len()] {
        return Err(Error::parse(&path, 0, META_KEY, format!("{} class names for a model with output {:?}", meta.class_names.len(), model.output_shape())));
    }
    model.load_named(&tensors.into_iter().collect()).map_err(|e| Error::parse(&path, 0, "weights", e.to_string()))?;
    Ok(RunModel { model, meta })
}
