//! Activation layers, and PReLU with its learned slopes.

use super::module::Module;
use super::spec::Act;
use crate::autograd::{Param, Var};
use crate::error::Result;
use crate::ops;
use crate::tensor::Tensor;

/// Applies an optional activation.
pub fn apply_act(x: &Var, act: Option<Act>) -> Result<Var> {
    match act {
        None => Ok(x.clone()),
        Some(Act::Relu) => ops::relu(x),
        Some(Act::LeakyRelu { alpha }) => ops::leaky_relu(x, alpha),
        Some(Act::Elu { alpha }) => ops::elu(x, alpha),
        Some(Act::Selu) => ops::selu(x),
        Some(Act::Softplus) => ops::softplus(x),
        Some(Act::Sigmoid) => ops::sigmoid(x),
        Some(Act::Tanh) => ops::tanh(x),
        Some(Act::Softmax) => ops::softmax(x),
        Some(Act::LogSoftmax) => ops::log_softmax(x),
    }
}

/// [`apply_act`] on a value the caller gives up (a layer's own pre-activation output): the
/// activations whose backward needs only their output run in its storage. The same values
/// and gradients as [`apply_act`].
pub(crate) fn apply_act_owned(x: Var, act: Option<Act>) -> Result<Var> {
    match act {
        None => Ok(x),
        Some(Act::Relu) => ops::relu_owned(x),
        Some(Act::Selu) => ops::selu_owned(x),
        Some(Act::Sigmoid) => ops::sigmoid_owned(x),
        Some(Act::Tanh) => ops::tanh_owned(x),
        other => apply_act(&x, other),
    }
}

/// A parameter-free activation layer.
pub struct Activation(pub Act);

impl Module for Activation {
    fn forward(&self, x: &Var) -> Result<Var> {
        apply_act(x, Some(self.0))
    }
}

/// PReLU: `y = x` for `x > 0`, `α ⊙ x` otherwise, with `α` learned per element (Keras'
/// default: shape = the per-sample input shape) or per channel. Keras initialises α to 0.
/// Saved as `preluN.weight`, PyTorch's name (per channel it is `nn.PReLU(C).weight`).
pub struct Prelu {
    pub alpha: Param,
}

impl Prelu {
    /// Slopes of the given shape, initialised to zero as in Keras.
    pub fn new(name: &str, shape: &[usize]) -> Self {
        Prelu { alpha: Param::new(format!("{name}.weight"), Tensor::zeros(shape)) }
    }
}

impl Module for Prelu {
    fn forward(&self, x: &Var) -> Result<Var> {
        let a = x.graph().param(&self.alpha);
        ops::prelu(x, &a)
    }
    fn params(&self) -> Vec<&Param> {
        vec![&self.alpha]
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.alpha]
    }
}
