//! What a trained model needs besides its weights to be used.

use crate::data::Normalization;
use crate::nn::ModelSpec;
use serde::{Deserialize, Serialize};

/// Everything besides the weights that is needed to use a model: architecture, input shape,
/// class names and the input normalisation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelMeta {
    pub spec: ModelSpec,
    /// Per-sample input `[C, H, W]`.
    pub input: Vec<usize>,
    pub class_names: Vec<String>,
    pub normalization: Normalization,
}
