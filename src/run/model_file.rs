//! A trained model on disk: `model.safetensors` (weights and batch-norm statistics, readable by
//! Python's `safetensors`) whose metadata carries the architecture, input shape, class names
//! and normalisation as JSON ([`ModelMeta`]); `model.json` holds the same JSON for people to read.
//!
//! The tensors follow PyTorch's `state_dict` names and layouts for the equivalent
//! `nn.Sequential` built from an `OrderedDict` whose modules are named as pupil names its
//! layers (`conv1`, `bn1`, `dense1`, `prelu1`, counted per kind from 1):
//! `convN.weight` `[out, in, kh, kw]`, `convN.bias`; `denseN.weight` `[out, in]`,
//! `denseN.bias`; `bnN.weight` (γ), `bnN.bias` (β), `bnN.running_mean`, `bnN.running_var`;
//! `preluN.weight`. `examples/pytorch/load_pupil.py` rebuilds that `nn.Sequential` from
//! `model.json` and loads the file with `load_state_dict(strict=True)`.
//!
//! The metadata key [`LAYOUT_KEY`] records this layout ([`LAYOUT`]); a file without it was
//! written by a pupil that stored dense weights `[in, out]` and is refused (by
//! [`check_layout`]) rather than loaded transposed.

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

/// The metadata key holding the tensor layout version.
pub const LAYOUT_KEY: &str = "pupil.layout";
/// The tensor layout this pupil writes: 2 = PyTorch's (dense `[out, in]`, batch norm
/// `weight`/`bias`). Layout 1 (no key) stored dense weights `[in, out]`.
pub const LAYOUT: &str = "2";

/// Refuses a model or checkpoint file whose metadata `md` is not of layout [`LAYOUT`].
pub fn check_layout(path: &Path, md: &BTreeMap<String, String>) -> Result<()> {
    match md.get(LAYOUT_KEY).map(String::as_str) {
        Some(LAYOUT) => Ok(()),
        Some(other) => {
            Err(Error::parse(path, 0, LAYOUT_KEY, format!("tensor layout {other:?} is not this pupil's ({LAYOUT}); it was written by another version")))
        }
        None => Err(Error::parse(
            path,
            0,
            LAYOUT_KEY,
            "written by an older pupil that stored dense weights [in, out] (now [out, in], as PyTorch); retrain, or use the pupil that wrote it",
        )),
    }
}

/// Writes `dir/model.safetensors` (the named tensors: [`Sequential::named_tensors`] of a model)
/// and `dir/model.json`, each atomically.
pub fn save_model(dir: &Path, tensors: &[(String, Tensor)], meta: &ModelMeta) -> Result<()> {
    let json = serde_json::to_string_pretty(meta).map_err(|e| Error::Run(format!("serialising model metadata: {e}")))?;
    let mut md = BTreeMap::new();
    md.insert(META_KEY.to_string(), json.clone());
    md.insert(LAYOUT_KEY.to_string(), LAYOUT.to_string());
    // the writer lays the tensors out by name: the same model gives the same bytes, however
    // its tensors were gathered
    safetensors::save(&dir.join(super::MODEL), tensors, &md)?;
    write_atomic(&dir.join(super::MODEL_JSON), json.as_bytes())
}

/// Loads a model saved by [`save_model`] from a `.safetensors` file; every error names the file.
pub fn load_model(path: &Path) -> Result<RunModel> {
    let (tensors, md) = safetensors::load(path)?;
    check_layout(path, &md)?;
    let json = md.get(META_KEY).ok_or_else(|| Error::parse(path, 0, META_KEY, "no pupil model metadata in this file"))?;
    let meta: ModelMeta = serde_json::from_str(json).map_err(|e| Error::parse(path, 0, META_KEY, e.to_string()))?;
    // the file's tensors against its architecture, before any layer is allocated
    let held: Vec<(String, Vec<usize>)> = tensors.iter().map(|(n, t)| (n.clone(), t.shape().to_vec())).collect();
    meta.spec.check_tensors(&meta.input, &held).map_err(|e| Error::parse(path, 0, "weights", e.to_string()))?;
    let mut model = Sequential::build_for_loading(&meta.spec, &meta.input).map_err(|e| Error::parse(path, 0, META_KEY, e.to_string()))?;
    if model.output_shape() != [meta.class_names.len()] {
        return Err(Error::parse(path, 0, META_KEY, format!("{} class names for a model with output {:?}", meta.class_names.len(), model.output_shape())));
    }
    if let Some(k) = first_non_finite(&tensors) {
        return Err(Error::parse(path, 0, k, "the tensor holds NaN or infinite values: this model is ruined (train again with a lower --lr)"));
    }
    model.load_named(&tensors.into_iter().collect()).map_err(|e| Error::parse(path, 0, "weights", e.to_string()))?;
    Ok(RunModel { model, meta })
}
