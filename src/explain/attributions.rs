//! The raw saliency numbers as `attributions.safetensors`: one f32 tensor per method named
//! after it (`vanilla`, `smoothgrad`, `integrated`: `[N, C, H, W]`; `gradcam`: `[N, 1, H, W]`),
//! readable by Python's `safetensors` for comparison with Captum. The metadata holds JSON:
//! `ids` (image indices in the data), `classes` (the class each map explains), `class_names`,
//! `methods` (each method's settings; for integrated gradients also `score_input`,
//! `score_baseline` and `convergence_delta` per image, `δ = Σ IG − (S(x) − S(b))` as Captum's
//! `return_convergence_delta`) and `space` (what the gradients are taken against).

use super::saliency::{Attribution, Method};
use crate::error::Result;
use crate::tensor::Tensor;
use crate::train::safetensors;
use std::collections::BTreeMap;
use std::path::Path;

/// Attributions of one call, ready to save.
#[derive(Clone, Debug)]
pub struct AttributionSet {
    pub ids: Vec<usize>,
    pub classes: Vec<usize>,
    pub class_names: Vec<String>,
    /// One map per method, in order.
    pub maps: Vec<(Method, Attribution)>,
}

/// Writes `set` to `path` (atomically).
pub fn save_attributions(path: &Path, set: &AttributionSet) -> Result<()> {
    let tensors: Vec<(String, Tensor)> = set.maps.iter().map(|(m, a)| (m.name().to_string(), a.map.clone())).collect();
    let mut md = BTreeMap::new();
    let json = |v: serde_json::Value| v.to_string();
    md.insert("ids".into(), json(serde_json::json!(set.ids)));
    md.insert("classes".into(), json(serde_json::json!(set.classes)));
    md.insert("class_names".into(), json(serde_json::json!(set.class_names)));
    let methods = set
        .maps
        .iter()
        .map(|(m, a)| {
            let mut v = m.settings();
            if let (Some(ig), Some(o)) = (&a.integrated, v.as_object_mut()) {
                o.insert("score_input".into(), serde_json::json!(ig.score_input));
                o.insert("score_baseline".into(), serde_json::json!(ig.score_baseline));
                o.insert("convergence_delta".into(), serde_json::json!(ig.delta));
            }
            v
        })
        .collect();
    md.insert("methods".into(), json(serde_json::Value::Array(methods)));
    md.insert("space".into(), "gradients with respect to the normalised model input; logits before softmax".into());
    safetensors::save(path, &tensors, &md)
}
