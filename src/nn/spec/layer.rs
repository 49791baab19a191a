//! The architecture as data: activations, padding, one layer ([`LayerSpec`]) and a whole
//! sequential model ([`ModelSpec`]), with their human-readable names.

use crate::nn::init::Init;
use serde::{Deserialize, Serialize};

/// Activation functions usable as a layer or folded into conv/dense.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Act {
    Relu,
    LeakyRelu { alpha: f32 },
    Elu { alpha: f32 },
    Selu,
    Softplus,
    Sigmoid,
    Tanh,
    Softmax,
    LogSoftmax,
}

/// Padding of a convolution.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// No padding.
    Valid,
    /// Output size = ceil(input / stride), zeros split as Keras does (extra one bottom/right).
    Same,
    /// The same number of zeros on every side.
    Explicit(usize),
}

/// One layer of a sequential model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", deny_unknown_fields)]
pub enum LayerSpec {
    Conv2d {
        filters: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: Padding,
        activation: Option<Act>,
        #[serde(default)]
        init: Init,
        #[serde(default)]
        l2: f32,
    },
    Dense {
        units: usize,
        activation: Option<Act>,
        #[serde(default)]
        init: Init,
        #[serde(default)]
        l2: f32,
    },
    ZeroPad {
        top: usize,
        bottom: usize,
        left: usize,
        right: usize,
    },
    MaxPool {
        kernel: (usize, usize),
        stride: (usize, usize),
    },
    AvgPool {
        kernel: (usize, usize),
        stride: (usize, usize),
    },
    BatchNorm {
        momentum: f32,
        eps: f32,
    },
    Activation {
        act: Act,
    },
    Prelu {
        per_channel: bool,
    },
    Dropout {
        rate: f32,
    },
    Flatten,
}

/// A whole sequential model: per-sample input shape `[C, H, W]` (None = take it from the data)
/// and the layers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub input: Option<Vec<usize>>,
    pub layers: Vec<LayerSpec>,
}

impl LayerSpec {
    /// The kind part of a layer's name: `conv`, `dense`, `pad`, `maxpool`, `avgpool`, `bn`,
    /// `act`, `prelu`, `dropout`, `flatten`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            LayerSpec::Conv2d { .. } => "conv",
            LayerSpec::Dense { .. } => "dense",
            LayerSpec::ZeroPad { .. } => "pad",
            LayerSpec::MaxPool { .. } => "maxpool",
            LayerSpec::AvgPool { .. } => "avgpool",
            LayerSpec::BatchNorm { .. } => "bn",
            LayerSpec::Activation { .. } => "act",
            LayerSpec::Prelu { .. } => "prelu",
            LayerSpec::Dropout { .. } => "dropout",
            LayerSpec::Flatten => "flatten",
        }
    }

    /// A short human-readable name, e.g. `Conv2D 64 5x5 valid`.
    pub fn describe(&self) -> String {
        match self {
            LayerSpec::Conv2d { filters, kernel, stride, padding, activation, .. } => {
                let pad = match padding {
                    Padding::Valid => "valid".to_string(),
                    Padding::Same => "same".to_string(),
                    Padding::Explicit(p) => format!("pad {p}"),
                };
                let s = if *stride != (1, 1) { format!(" s{}", stride.0) } else { String::new() };
                format!("Conv2D {filters} {}x{} {pad}{s}{}", kernel.0, kernel.1, act_suffix(activation))
            }
            LayerSpec::Dense { units, activation, .. } => format!("Dense {units}{}", act_suffix(activation)),
            LayerSpec::ZeroPad { top, bottom, left, right } => {
                if top == bottom && left == right && top == left {
                    format!("ZeroPadding2D {top}")
                } else {
                    format!("ZeroPadding2D {top},{bottom},{left},{right}")
                }
            }
            LayerSpec::MaxPool { kernel, stride } => format!("MaxPool {}x{} s{}", kernel.0, kernel.1, stride.0),
            LayerSpec::AvgPool { kernel, stride } => format!("AvgPool {}x{} s{}", kernel.0, kernel.1, stride.0),
            LayerSpec::BatchNorm { .. } => "BatchNorm".into(),
            LayerSpec::Activation { act } => act_name(act),
            LayerSpec::Prelu { per_channel } => {
                if *per_channel {
                    "PReLU (per channel)".into()
                } else {
                    "PReLU".into()
                }
            }
            LayerSpec::Dropout { rate } => format!("Dropout {rate}"),
            LayerSpec::Flatten => "Flatten".into(),
        }
    }
}

fn act_name(a: &Act) -> String {
    match a {
        Act::Relu => "ReLU".into(),
        Act::LeakyRelu { alpha } => format!("LeakyReLU {alpha}"),
        Act::Elu { alpha } => format!("ELU {alpha}"),
        Act::Selu => "SELU".into(),
        Act::Softplus => "Softplus".into(),
        Act::Sigmoid => "Sigmoid".into(),
        Act::Tanh => "Tanh".into(),
        Act::Softmax => "Softmax".into(),
        Act::LogSoftmax => "LogSoftmax".into(),
    }
}

fn act_suffix(a: &Option<Act>) -> String {
    a.as_ref().map(|a| format!(" + {}", act_name(a))).unwrap_or_default()
}

impl ModelSpec {
    /// Each layer's name: its kind counted from 1 (`conv1`, `pad1`, `conv2`, `dense1`, ...).
    /// `pupil summary` prints them, parameters are named after them (`conv1.weight`), and the
    /// explain commands take them for `--layer`.
    pub fn layer_names(&self) -> Vec<String> {
        let mut counts: std::collections::HashMap<&'static str, usize> = std::collections::HashMap::new();
        self.layers
            .iter()
            .map(|l| {
                let c = counts.entry(l.kind_name()).or_insert(0);
                *c += 1;
                format!("{}{c}", l.kind_name())
            })
            .collect()
    }
}
