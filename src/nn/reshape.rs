//! Layers that move values around without parameters: zero padding, pooling, flatten, dropout.

use super::module::{Ctx, Module};
use crate::autograd::Var;
use crate::error::Result;
use crate::ops;

/// Keras `ZeroPadding2D`.
pub struct ZeroPad(pub usize, pub usize, pub usize, pub usize);

impl Module for ZeroPad {
    fn forward(&mut self, x: &Var, _ctx: &mut Ctx) -> Result<Var> {
        ops::pad2d(x, self.0, self.1, self.2, self.3)
    }
}

/// Max pooling with any kernel and stride (no padding).
pub struct MaxPool {
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
}

impl Module for MaxPool {
    fn forward(&mut self, x: &Var, _ctx: &mut Ctx) -> Result<Var> {
        ops::max_pool2d(x, self.kernel, self.stride)
    }
}

/// Average pooling with any kernel and stride (no padding).
pub struct AvgPool {
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
}

impl Module for AvgPool {
    fn forward(&mut self, x: &Var, _ctx: &mut Ctx) -> Result<Var> {
        ops::avg_pool2d(x, self.kernel, self.stride)
    }
}

/// `[N, ...] -> [N, F]`.
pub struct Flatten;

impl Module for Flatten {
    fn forward(&mut self, x: &Var, _ctx: &mut Ctx) -> Result<Var> {
        ops::flatten(x)
    }
}

/// Inverted dropout, active only in training mode.
pub struct Dropout(pub f32);

impl Module for Dropout {
    fn forward(&mut self, x: &Var, ctx: &mut Ctx) -> Result<Var> {
        ops::dropout(x, self.0, ctx.train, ctx.rng)
    }
}
