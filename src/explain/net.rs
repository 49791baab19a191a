//! The one place where the explanations call the model.
//!
//! [`Net`] is a copy of a trained [`Sequential`] whose parameters are frozen: they enter the
//! tape as constants, so a backward pass computes the gradient with respect to the input image
//! (and the kept activations) only, never the weight gradients that training needs. Forward
//! passes run in inference mode (batch norm on its running statistics, no dropout).

use crate::autograd::Var;
use crate::error::Result;
use crate::nn::{Module, Sequential};

/// A frozen inference copy of a model (shares the weight storage with the original).
pub struct Net {
    model: Sequential,
}

impl Net {
    /// A frozen copy of `model` (the weights are shared, not copied).
    pub fn new(model: &Sequential) -> Result<Net> {
        Self::from_layers(model, model.len())
    }

    /// A frozen copy of the first `n` layers of `model` (1 <= n <= model.len()): running only
    /// them is all that a filter of layer `n` needs.
    pub fn from_layers(model: &Sequential, n: usize) -> Result<Net> {
        let mut spec = model.spec().clone();
        if n < model.len() {
            spec.layers.truncate(n);
        }
        let mut m = Sequential::build_for_loading(&spec, model.input_shape())?;
        m.load_named(&model.named_tensors().into_iter().collect())?;
        for p in m.params_mut() {
            p.trainable = false;
        }
        Ok(Net { model: m })
    }

    /// The model this copy runs.
    pub fn model(&self) -> &Sequential {
        &self.model
    }

    /// The logits (before a final softmax) of a batch `[N, C, H, W]`.
    pub fn logits(&self, x: &Var) -> Result<Var> {
        self.model.forward_logits(x)
    }

    /// The output of every layer (index i = after layer i + 1 of the summary).
    pub fn activations(&self, x: &Var) -> Result<Vec<Var>> {
        self.model.forward_all(x)
    }
}
