//! The [`Module`] trait: a layer is something with a forward pass and parameters.

use crate::autograd::{Param, Var};
use crate::error::Result;
use crate::tensor::{Rng, Tensor};

/// What a forward pass needs besides the input: train or eval mode, and the random stream
/// for dropout.
pub struct Ctx<'a> {
    /// Training mode (dropout active, batch norm on batch statistics and updating its running
    /// averages) or evaluation mode.
    pub train: bool,
    /// Random numbers for dropout.
    pub rng: &'a mut Rng,
}

/// A layer: forward on the tape, and its parameters.
pub trait Module: Send {
    /// Applies the layer to a batch.
    fn forward(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Var>;
    /// Trainable parameters, in a fixed order.
    fn params(&self) -> Vec<&Param> {
        vec![]
    }
    /// The same, mutable (for optimisers and loading).
    fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![]
    }
    /// Parameters with an L2 penalty factor (Keras `kernel_regularizer=l2(λ)`): the loss gets
    /// `λ Σ w²` for each.
    fn l2(&self) -> Vec<(&Param, f32)> {
        vec![]
    }
    /// Non-trainable state saved with the model (batch-norm running statistics), by name.
    fn buffers(&self) -> Vec<(String, Tensor)> {
        vec![]
    }
    /// Restores a buffer saved by [`Module::buffers`]; false if the name is not this layer's.
    fn load_buffer(&mut self, _name: &str, _value: &Tensor) -> Result<bool> {
        Ok(false)
    }
}

/// The `l2()` of a layer whose weight carries a Keras-style L2 factor (none when it is 0).
pub(crate) fn weight_l2(weight: &Param, l2: f32) -> Vec<(&Param, f32)> {
    if l2 > 0.0 {
        vec![(weight, l2)]
    } else {
        vec![]
    }
}
