//! Shape arithmetic of a spec: the per-sample output shape of each layer (with the checks
//! that make a spec that does not fit an error naming the layer), parameter and buffer
//! counts, and the limits that keep absurd sizes from overflowing or exhausting memory.

use super::layer::{Act, LayerSpec, ModelSpec, Padding};
use crate::error::{Error, Result};
use pupil_kernels::out_size;

/// Keras' split of "same" padding: (before, after) for one dimension.
pub fn same_padding(size: usize, k: usize, stride: usize) -> (usize, usize) {
    let out = size.div_ceil(stride.max(1));
    let total = ((out - 1) * stride + k).saturating_sub(size);
    (total / 2, total - total / 2)
}

/// Largest size accepted for any count in a spec (filters, units, kernel, stride, padding).
pub const MAX_SIZE: usize = 1 << 20;
/// Largest per-image activation or parameter count a model may have.
pub const MAX_VALUES: u128 = 1 << 30;

impl LayerSpec {
    fn sizes(&self) -> Vec<usize> {
        match self {
            LayerSpec::Conv2d { filters, kernel, stride, padding, .. } => {
                let p = if let Padding::Explicit(p) = padding { *p } else { 0 };
                vec![*filters, kernel.0, kernel.1, stride.0, stride.1, p]
            }
            LayerSpec::Dense { units, .. } => vec![*units],
            LayerSpec::ZeroPad { top, bottom, left, right } => vec![*top, *bottom, *left, *right],
            LayerSpec::MaxPool { kernel, stride } | LayerSpec::AvgPool { kernel, stride } => vec![kernel.0, kernel.1, stride.0, stride.1],
            _ => vec![],
        }
    }

    /// Per-sample output shape for a per-sample input shape (`[C,H,W]` or `[F]`).
    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let bad = |msg: String| Err(Error::invalid("model", format!("{}: {msg}", self.describe())));
        if let Some(big) = self.sizes().into_iter().find(|&v| v > MAX_SIZE) {
            return bad(format!("{big} is larger than the limit of {MAX_SIZE}"));
        }
        let chw = |input: &[usize]| -> Result<(usize, usize, usize)> {
            match input {
                [c, h, w] => Ok((*c, *h, *w)),
                _ => Err(Error::invalid("model", format!("{}: needs an image input [C, H, W], got {:?} (add no flatten before it)", self.describe(), input))),
            }
        };
        if let LayerSpec::Conv2d { l2, .. } | LayerSpec::Dense { l2, .. } = self {
            if !(l2.is_finite() && *l2 >= 0.0) {
                return bad(format!("l2 {l2} must be finite and >= 0"));
            }
        }
        // softmax and log-softmax normalise over the classes of a flat [F] input; on a feature
        // map the model would build and then fail in its first forward pass
        let softmax = match self {
            LayerSpec::Activation { act } | LayerSpec::Conv2d { activation: Some(act), .. } => matches!(act, Act::Softmax | Act::LogSoftmax),
            _ => false,
        };
        let flat_out = matches!(self, LayerSpec::Activation { .. }) && input.len() == 1;
        if softmax && !flat_out {
            return bad(format!("softmax and logsoftmax need a flat input [F] (put them after flatten or on a dense layer), got a feature map {input:?}"));
        }
        if let LayerSpec::Activation { act: Act::LeakyRelu { alpha } | Act::Elu { alpha } } = self {
            if !alpha.is_finite() {
                return bad(format!("alpha {alpha} must be finite"));
            }
        }
        match self {
            LayerSpec::Conv2d { filters, kernel, stride, padding, .. } => {
                let (_, h, w) = chw(input)?;
                if *filters == 0 || kernel.0 == 0 || kernel.1 == 0 || stride.0 == 0 || stride.1 == 0 {
                    return bad("filters, kernel and stride must be at least 1".into());
                }
                let (oh, ow) = match padding {
                    Padding::Same => (h.div_ceil(stride.0), w.div_ceil(stride.1)),
                    Padding::Valid => match (out_size(h, kernel.0, stride.0, 0), out_size(w, kernel.1, stride.1, 0)) {
                        (Some(a), Some(b)) => (a, b),
                        _ => return bad(format!("kernel {}x{} is larger than the input {h}x{w}", kernel.0, kernel.1)),
                    },
                    Padding::Explicit(p) => match (out_size(h, kernel.0, stride.0, *p), out_size(w, kernel.1, stride.1, *p)) {
                        (Some(a), Some(b)) => (a, b),
                        _ => return bad(format!("kernel {}x{} is larger than the padded input {}x{}", kernel.0, kernel.1, h + 2 * p, w + 2 * p)),
                    },
                };
                Ok(vec![*filters, oh, ow])
            }
            LayerSpec::Dense { units, .. } => match input {
                [_] if *units > 0 => Ok(vec![*units]),
                [_] => bad("units must be at least 1".into()),
                _ => bad(format!("needs a flat input [F], got {input:?} (add `flatten` before it)")),
            },
            LayerSpec::ZeroPad { top, bottom, left, right } => {
                let (c, h, w) = chw(input)?;
                Ok(vec![c, h + top + bottom, w + left + right])
            }
            LayerSpec::MaxPool { kernel, stride } | LayerSpec::AvgPool { kernel, stride } => {
                let (c, h, w) = chw(input)?;
                match (out_size(h, kernel.0, stride.0, 0), out_size(w, kernel.1, stride.1, 0)) {
                    (Some(a), Some(b)) if kernel.0 > 0 && kernel.1 > 0 => Ok(vec![c, a, b]),
                    _ => bad(format!("pool {}x{} stride {} does not fit the input {h}x{w}", kernel.0, kernel.1, stride.0)),
                }
            }
            LayerSpec::Dropout { rate } if !(0.0..1.0).contains(rate) => bad(format!("rate {rate} is outside [0, 1)")),
            LayerSpec::BatchNorm { momentum, eps } if !((0.0..=1.0).contains(momentum) && eps.is_finite() && *eps >= 0.0) => {
                bad(format!("momentum {momentum} must be in [0, 1] and eps {eps} finite and >= 0"))
            }
            LayerSpec::Flatten => Ok(vec![input.iter().product()]),
            _ => Ok(input.to_vec()),
        }
    }

    /// Number of trainable parameters for this per-sample input shape.
    pub fn param_count(&self, input: &[usize]) -> usize {
        match self {
            LayerSpec::Conv2d { filters, kernel, .. } => filters * (input[0] * kernel.0 * kernel.1 + 1),
            LayerSpec::Dense { units, .. } => units * (input.iter().product::<usize>() + 1),
            LayerSpec::BatchNorm { .. } => 2 * input[0],
            LayerSpec::Prelu { per_channel } => {
                if *per_channel {
                    input[0]
                } else {
                    input.iter().product()
                }
            }
            _ => 0,
        }
    }

    /// Non-trainable values saved with the model (batch-norm running mean and variance).
    pub fn buffer_count(&self, input: &[usize]) -> usize {
        match self {
            LayerSpec::BatchNorm { .. } => 2 * input[0],
            _ => 0,
        }
    }
}

impl ModelSpec {
    /// Per-sample shapes after each layer, starting from `input`.
    pub fn shapes(&self, input: &[usize]) -> Result<Vec<Vec<usize>>> {
        if !(input.len() == 3 || input.len() == 1) || input.iter().any(|&d| d == 0 || d > MAX_SIZE) {
            return Err(Error::invalid("model", format!("input shape {input:?} is not [C, H, W] (or [F]) with sizes from 1 to {MAX_SIZE}")));
        }
        if self.layers.is_empty() {
            return Err(Error::invalid("model", "the model has no layers"));
        }
        let mut shapes = vec![input.to_vec()];
        let mut total: u128 = 0;
        for (i, l) in self.layers.iter().enumerate() {
            let err = |msg: String| Error::invalid("model", format!("layer {}: {msg}", i + 1));
            let prev = shapes.last().expect("non-empty");
            let s = l.output_shape(prev).map_err(|e| match e {
                Error::Invalid { msg, .. } => err(msg),
                e => e,
            })?;
            // counts in u128 so that no spec can overflow them; the limits keep memory sane
            let values: u128 = s.iter().map(|&d| d as u128).product();
            // every trainable layer counts toward the limit: conv, dense, batch norm, PReLU
            let params: u128 = match l {
                LayerSpec::Conv2d { filters, kernel, .. } => *filters as u128 * (prev[0] as u128 * kernel.0 as u128 * kernel.1 as u128 + 1),
                LayerSpec::Dense { units, .. } => *units as u128 * (prev.iter().map(|&d| d as u128).product::<u128>() + 1),
                LayerSpec::BatchNorm { .. } => 2 * prev[0] as u128,
                LayerSpec::Prelu { per_channel: true } => prev[0] as u128,
                LayerSpec::Prelu { per_channel: false } => values,
                _ => 0,
            };
            if values > MAX_VALUES {
                return Err(err(format!("{}: {values} values per image exceed the limit of {MAX_VALUES}", l.describe())));
            }
            if params > MAX_VALUES {
                return Err(err(format!("{}: {params} parameters exceed the limit of {MAX_VALUES}", l.describe())));
            }
            total += params;
            if total > MAX_VALUES {
                return Err(err(format!("the model reaches {total} parameters, over the limit of {MAX_VALUES} (~{} GB with Adam)", (MAX_VALUES * 16) >> 30)));
            }
            shapes.push(s);
        }
        Ok(shapes)
    }

    /// The per-sample input shape to use: the spec's own `input` line when it has one (a
    /// `given` shape that differs from it is an error naming both), else `given`, else
    /// `default`.
    pub fn resolve_input(&self, given: Option<&[usize]>, default: &[usize]) -> Result<Vec<usize>> {
        match (&self.input, given) {
            (Some(own), Some(g)) if own.as_slice() != g => {
                Err(Error::Shape { op: "model", lhs: own.clone(), rhs: g.to_vec(), detail: "the spec's input line [C, H, W] differs from --input".into() })
            }
            (Some(own), _) => Ok(own.clone()),
            (None, Some(g)) => Ok(g.to_vec()),
            (None, None) => Ok(default.to_vec()),
        }
    }

    /// Total trainable parameters for `input`.
    pub fn param_count(&self, input: &[usize]) -> Result<usize> {
        let shapes = self.shapes(input)?;
        Ok(self.layers.iter().zip(&shapes).map(|(l, s)| l.param_count(s)).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_trainable_layer_counts_toward_the_parameter_limit() {
        use std::path::Path;
        // zeropad 16000 + 6 x prelu: 6 x ~1.03e9 PReLU parameters (summary showed 6,162,452,999)
        let text = "zeropad 16000\n".to_string() + &"prelu\n".repeat(6) + "flatten\ndense 7\n";
        let s = ModelSpec::parse_named(&text, Path::new("m")).unwrap();
        let e = s.shapes(&[1, 48, 48]).unwrap_err().to_string();
        assert!(e.contains("layer 3") && e.contains("parameters, over the limit"), "{e}");
        // a layer that has no parameters is not said to have any in a size error
        let s = ModelSpec::parse_named("zeropad 20000\nflatten\n", Path::new("m")).unwrap();
        let e = s.shapes(&[3, 48, 48]).unwrap_err().to_string();
        assert!(e.contains("values per image exceed") && !e.contains("parameters"), "{e}");
        let s = ModelSpec::parse_named("zeropad 8000\nflatten\n", Path::new("m")).unwrap();
        s.shapes(&[3, 48, 48]).unwrap();
        let s = ModelSpec::parse_named("flatten\ndense 7\n", Path::new("m")).unwrap();
        let e = s.shapes(&[1, 40000, 40000]).unwrap_err().to_string();
        assert!(e.contains("layer 1: Flatten") && !e.contains("parameters"), "{e}");
    }

    #[test]
    fn the_spec_input_line_is_used() {
        use std::path::Path;
        let s = ModelSpec::parse_named("input 28x28x3\nflatten\ndense 7\n", Path::new("m")).unwrap();
        assert_eq!(s.resolve_input(None, &[1, 48, 48]).unwrap(), vec![3, 28, 28]);
        assert_eq!(s.resolve_input(Some(&[3, 28, 28]), &[1, 48, 48]).unwrap(), vec![3, 28, 28]);
        let e = s.resolve_input(Some(&[1, 48, 48]), &[1, 48, 48]).unwrap_err().to_string();
        assert!(e.contains("[3, 28, 28]") && e.contains("--input"), "{e}");
        let s = ModelSpec::parse_named("flatten\ndense 7\n", Path::new("m")).unwrap();
        assert_eq!(s.resolve_input(None, &[1, 48, 48]).unwrap(), vec![1, 48, 48]);
        assert_eq!(s.resolve_input(Some(&[1, 8, 8]), &[1, 48, 48]).unwrap(), vec![1, 8, 8]);
    }

    #[test]
    fn softmax_on_a_feature_map_is_refused_before_building() {
        // found by the spec_parser fuzz target: `conv 4 3 logsoftmax` built a model whose first
        // forward pass failed in log_softmax ("needs [N, K]")
        for text in ["conv 4 3 logsoftmax\n", "conv 4 3x3 same softmax\nflatten\ndense 7\n", "conv 4 3\nsoftmax\nflatten\ndense 7\n"] {
            let s = ModelSpec::parse(text).unwrap();
            let e = s.shapes(&[1, 8, 8]).unwrap_err().to_string();
            assert!(e.contains("layer ") && e.contains("need a flat input"), "{text:?}: {e}");
            assert!(crate::nn::Sequential::build(&s, &[1, 8, 8], 0).is_err(), "{text:?}");
        }
        for text in ["flatten\ndense 7 softmax\n", "flatten\ndense 7\nlogsoftmax\n"] {
            let s = ModelSpec::parse(text).unwrap();
            s.shapes(&[1, 8, 8]).unwrap();
        }
    }

    #[test]
    fn keras_same_padding_split() {
        assert_eq!(same_padding(48, 4, 1), (1, 2));
        assert_eq!(same_padding(48, 3, 1), (1, 1));
        assert_eq!(same_padding(5, 3, 2), (1, 1));
    }
}
