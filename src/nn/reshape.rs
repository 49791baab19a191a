//! Layers that move values around without parameters: zero padding, pooling, flatten, dropout.

use super::module::{Ctx, Module};
use crate::autograd::Var;
use crate::error::Result;
use crate::ops;

/// Keras `ZeroPadding2D`.
pub struct ZeroPad(pub usize, pub usize, pub usize, pub usize);

impl Module for ZeroPad {
    fn forward(&self, x: &Var) -> Result<Var> {
        ops::pad2d(x, self.0, self.1, self.2, self.3)
    }
}

/// Max pooling with any kernel and stride (no padding).
pub struct MaxPool {
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
}

impl Module for MaxPool {
    fn forward(&self, x: &Var) -> Result<Var> {
        ops::max_pool2d(x, self.kernel, self.stride)
    }
}

/// Average pooling with any kernel and stride (no padding).
pub struct AvgPool {
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
}

impl Module for AvgPool {
    fn forward(&self, x: &Var) -> Result<Var> {
        ops::avg_pool2d(x, self.kernel, self.stride)
    }
}

/// `[N, ...] -> [N, F]`.
pub struct Flatten;

impl Module for Flatten {
    fn forward(&self, x: &Var) -> Result<Var> {
        ops::flatten(x)
    }
}

/// Inverted dropout with drop probability `p` (the field): in training each value is kept
/// with probability `1 - p` and scaled by `1 / (1 - p)`, so `E[y] = x` and inference is the
/// identity (see [`ops::dropout`]).
pub struct Dropout(pub f32);

impl Module for Dropout {
    /// The identity: inverted dropout needs no rescaling at inference.
    fn forward(&self, x: &Var) -> Result<Var> {
        Ok(x.clone())
    }
    /// Drops with the mask of one draw from `ctx.rng`.
    fn forward_mut(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        ops::dropout(x, self.0, true, ctx.rng)
    }
}
