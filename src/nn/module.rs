//! The [`Module`] trait: a layer is something with two forward passes and parameters.
//!
//! - [`Module::forward`] (`&self`) is inference: evaluation mode, batch norm on its running
//!   statistics, dropout the identity. It changes nothing, so a trained model can be shared
//!   (`Module: Sync`) and explained without a training loop. It records on whatever graph its
//!   input belongs to: on a recording [`Graph`](crate::autograd::Graph) it gives d output /
//!   d input (saliency, Grad-CAM), on [`Graph::no_grad`](crate::autograd::Graph::no_grad) it
//!   is plain inference.
//! - [`Module::forward_mut`] (`&mut self`) is training: dropout draws its mask from
//!   [`Ctx::rng`], batch norm normalises with the batch statistics and updates its running
//!   averages.
//!
//! A layer without state or randomness has the same value in both, which is
//! `forward_mut`'s default.

use crate::autograd::{Param, Var};
use crate::error::Result;
use crate::tensor::{Rng, Tensor};
use std::any::Any;

/// What a training forward pass needs besides the input: the random stream for dropout.
pub struct Ctx<'a> {
    /// Random numbers for dropout (each dropout layer draws one `u64`, in layer order).
    pub rng: &'a mut Rng,
}

impl<'a> Ctx<'a> {
    /// A training context drawing from `rng`.
    pub fn new(rng: &'a mut Rng) -> Self {
        Ctx { rng }
    }
}

/// A layer: inference and training forwards on the tape, and its parameters.
///
/// `Any` lets [`Sequential`](super::Sequential) recognise a layer's concrete type (to fold a
/// zero padding into the convolution or pooling after it).
pub trait Module: Any + Send + Sync {
    /// Inference on a batch (evaluation mode; see the module documentation).
    fn forward(&self, x: &Var) -> Result<Var>;
    /// Training on a batch: dropout from `ctx.rng`, batch norm on batch statistics updating
    /// its running averages. The default is [`Module::forward`], right for every layer
    /// without state or randomness; a layer with either must override it.
    fn forward_mut(&mut self, x: &Var, _ctx: &mut Ctx) -> Result<Var> {
        self.forward(x)
    }
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
