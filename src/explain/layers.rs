//! Finding a layer by the name or index that `pupil summary` shows.
//!
//! Indices are 1-based, as the summary table numbers its rows. Names count each kind of layer
//! from 1, as [`Sequential`] names its parameters: `conv1`, `conv2`, `dense1`, `bn1`,
//! `prelu1`; the other layers are `pad1`, `maxpool1`, `avgpool1`, `act1` (a separate
//! activation), `dropout1`, `flatten1`. A final Softmax / LogSoftmax (the head) is not a layer
//! here: the explanations work on the logits before it.

use crate::error::{Error, Result};
use crate::nn::{LayerSpec, Sequential};

/// What a layer is, as far as the explanations care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerKind {
    /// A convolution: has filters and a `[C, H, W]` output.
    Conv,
    /// A dense layer: a flat output, no spatial map.
    Dense,
    /// Anything else (padding, pooling, activation, batch norm, dropout, flatten).
    Other,
}

/// One layer of a model, as `pupil summary` lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerInfo {
    /// 1-based index, the number in the summary table.
    pub index: usize,
    /// `conv1`, `dense2`, `maxpool1`, ...
    pub name: String,
    /// The summary's description, e.g. `Conv2D 64 5x5 valid + ReLU`.
    pub description: String,
    pub kind: LayerKind,
    /// Per-sample output shape (`[C, H, W]` or `[F]`).
    pub output: Vec<usize>,
}

impl LayerInfo {
    /// 0-based position among the model's layers (the index into `forward_all`'s outputs).
    pub fn position(&self) -> usize {
        self.index - 1
    }
    /// True if the output is a stack of 2-D maps `[C, H, W]`.
    pub fn is_spatial(&self) -> bool {
        self.output.len() == 3
    }
    /// Channels of a spatial output (filters of a conv layer), else the flat size.
    pub fn channels(&self) -> usize {
        self.output[0]
    }
    /// `"3 conv2 (Conv2D 64 3x3 valid + ReLU)"`.
    pub fn label(&self) -> String {
        format!("{} {} ({})", self.index, self.name, self.description)
    }
}

/// Every layer of `model` (without a final Softmax head), in order.
pub fn layers(model: &Sequential) -> Vec<LayerInfo> {
    let shapes = model.shapes();
    let names = model.spec().layer_names();
    model
        .spec()
        .layers
        .iter()
        .take(model.len())
        .zip(names)
        .enumerate()
        .map(|(i, (l, name))| {
            let kind = match l {
                LayerSpec::Conv2d { .. } => LayerKind::Conv,
                LayerSpec::Dense { .. } => LayerKind::Dense,
                _ => LayerKind::Other,
            };
            LayerInfo { index: i + 1, name, description: l.describe(), kind, output: shapes[i + 1].clone() }
        })
        .collect()
}

fn listing(all: &[LayerInfo]) -> String {
    all.iter().map(|l| format!("{} {}", l.index, l.name)).collect::<Vec<_>>().join(", ")
}

/// The layer called `key`: a 1-based index or a name (case-insensitive), as listed by
/// [`layers`]. The error lists the layers there are.
pub fn find_layer(model: &Sequential, key: &str) -> Result<LayerInfo> {
    let all = layers(model);
    let k = key.trim();
    if let Ok(i) = k.parse::<usize>() {
        if i >= 1 && i <= all.len() {
            return Ok(all[i - 1].clone());
        }
        let head =
            if i == all.len() + 1 && model.output_kind().is_some() { " (it is the output softmax; the explanations use the logits before it)" } else { "" };
        return Err(Error::invalid("--layer", format!("no layer {i}{head}: the model has layers 1 to {} ({})", all.len(), listing(&all))));
    }
    all.iter()
        .find(|l| l.name.eq_ignore_ascii_case(k))
        .cloned()
        .ok_or_else(|| Error::invalid("--layer", format!("unknown layer {k:?}; layers: {}", listing(&all))))
}

/// The last convolution of `model` (Grad-CAM's default layer).
pub fn last_conv(model: &Sequential) -> Option<LayerInfo> {
    layers(model).into_iter().rev().find(|l| l.kind == LayerKind::Conv)
}

/// Checks that `layer` has a spatial `[C, H, W]` output, as Grad-CAM, `filters` and `features`
/// need; `what` names the command in the error.
pub fn require_spatial(layer: &LayerInfo, what: &str) -> Result<()> {
    if layer.is_spatial() {
        return Ok(());
    }
    Err(Error::invalid(
        "--layer",
        format!("{what} needs a convolutional layer (an output of maps [C, H, W]); layer {} has the flat output {:?}", layer.label(), layer.output),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{preset, ModelSpec};
    use std::path::Path;

    #[test]
    fn names_and_indices_follow_the_summary() {
        let m = Sequential::build(&preset("keras-hw3", 7).unwrap(), &[1, 48, 48], 0).unwrap();
        let all = layers(&m);
        assert_eq!(all.len(), 20);
        let table = crate::nn::summary(m.spec(), &[1, 48, 48]).unwrap();
        for l in &all {
            // the summary's row for this index has this name and description
            let row = format!("{:>2} {:<9} {}", l.index, l.name, l.description);
            assert!(table.contains(&row), "{row:?} not in\n{table}");
        }
        let names: Vec<&str> = all.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(&names[..5], &["conv1", "pad1", "maxpool1", "pad2", "conv2"]);
        assert_eq!(names[15], "dense1");
        // the names of conv and dense layers are those of their parameters
        let params: Vec<String> = crate::nn::Module::params(&m).iter().map(|p| p.name.clone()).collect();
        for l in all.iter().filter(|l| l.kind != LayerKind::Other) {
            assert!(params.contains(&format!("{}.weight", l.name)), "{}", l.name);
        }
        assert_eq!(find_layer(&m, "CONV2").unwrap().index, 5);
        assert_eq!(find_layer(&m, " 16 ").unwrap().name, "dense1");
        assert_eq!(last_conv(&m).unwrap().index, 12);
        assert_eq!(find_layer(&m, "12").unwrap().output, vec![128, 10, 10]);
        assert!(find_layer(&m, "0").is_err());
        assert!(require_spatial(&find_layer(&m, "dense1").unwrap(), "x").is_err());
        assert!(require_spatial(&find_layer(&m, "avgpool2").unwrap(), "x").is_ok());
    }

    #[test]
    fn a_softmax_head_is_named_in_the_error() {
        let spec = ModelSpec::parse_named("conv 2 3x3 same relu\nflatten\ndense 3\nsoftmax\n", Path::new("h.txt")).unwrap();
        let m = Sequential::build(&spec, &[1, 5, 5], 0).unwrap();
        assert_eq!(layers(&m).len(), 3);
        let e = find_layer(&m, "4").unwrap_err().to_string();
        assert!(e.contains("output softmax"), "{e}");
    }
}
