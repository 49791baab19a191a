//! 2-d convolution layer (Keras `Conv2D`): weight `[filters, C, kh, kw]`, bias `[filters]`,
//! optional fused activation. "same" padding with an even kernel pads one more zero at the
//! bottom/right, as Keras does.

use super::activation::apply_act_owned;
use super::batchnorm::BatchNorm;
use super::module::{weight_l2, Module};
use super::spec::{same_padding, Act, Padding};
use super::Init;
use crate::autograd::{Param, Var};
use crate::error::Result;
use crate::ops;
use crate::tensor::{Rng, Tensor};

/// A convolution layer.
pub struct Conv2d {
    pub weight: Param,
    pub bias: Param,
    pub stride: (usize, usize),
    pub padding: Padding,
    pub activation: Option<Act>,
    pub l2: f32,
}

impl Conv2d {
    /// A new layer for `in_ch` input channels, initialised from `rng`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        in_ch: usize,
        filters: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: Padding,
        activation: Option<Act>,
        init: Init,
        l2: f32,
        rng: &mut Rng,
    ) -> Self {
        let shape = [filters, in_ch, kernel.0, kernel.1];
        let rf = kernel.0 * kernel.1;
        let w = init.draw(&shape, in_ch * rf, filters * rf, rng);
        Self::with_weight(name, w, stride, padding, activation, l2)
    }

    /// A layer with the given weight `[filters, C, kh, kw]` and a zero bias.
    pub fn with_weight(name: &str, weight: Tensor, stride: (usize, usize), padding: Padding, activation: Option<Act>, l2: f32) -> Self {
        let filters = weight.shape()[0];
        Conv2d {
            weight: Param::new(format!("{name}.weight"), weight),
            bias: Param::new(format!("{name}.bias"), Tensor::zeros(&[filters])),
            stride,
            padding,
            activation,
            l2,
        }
    }
}

impl Conv2d {
    /// The zero padding `[top, bottom, left, right]` of this layer for input `x`.
    fn padding_of(&self, x: &Var) -> [usize; 4] {
        match self.padding {
            Padding::Valid => [0; 4],
            Padding::Explicit(p) => [p; 4],
            Padding::Same => {
                let (s, ks) = (x.shape(), self.weight.value.shape());
                let (h, wd) = (s.get(2).copied().unwrap_or(0), s.get(3).copied().unwrap_or(0));
                let ((t, b), (l, r)) = (same_padding(h, ks[2], self.stride.0), same_padding(wd, ks[3], self.stride.1));
                [t, b, l, r]
            }
        }
    }

    /// Inference of this layer followed by an optional batch norm (evaluation mode), ReLU and
    /// max pool, as one op ([`ops::conv2d_epilogue`]: the same values as running the layers
    /// one after the other). `pad` is a zero
    /// padding folded in from the layer before, added to the layer's own. None when the
    /// combination does not apply: the layer has an activation other than ReLU, or one
    /// followed by a batch norm, or "same" padding that is not the same on both sides.
    pub(crate) fn forward_fused(&self, x: &Var, pad: usize, bn: Option<&BatchNorm>, relu: bool, pool: Option<ops::MaxPoolArgs>) -> Result<Option<Var>> {
        let relu = match (self.activation, bn) {
            (None, _) => relu,
            (Some(Act::Relu), None) if !relu => true,
            _ => return Ok(None),
        };
        let [t, b, l, r] = self.padding_of(x);
        if t != b || l != r {
            return Ok(None);
        }
        let g = x.graph().clone();
        let (w, b) = (g.param(&self.weight), g.param(&self.bias));
        let params = bn.map(|n| (g.param(&n.gamma), g.param(&n.beta)));
        let bn = bn.zip(params.as_ref()).map(|(n, (gamma, beta))| ops::BatchNormEval { gamma, beta, state: &n.state });
        ops::conv2d_epilogue(x, &w, Some(&b), self.stride, (t + pad, l + pad), ops::Epilogue { bn, relu, pool }).map(Some)
    }

    /// This layer (its own activation a ReLU, or ignored) and the max pool `pool` after it as
    /// one op ([`ops::conv2d_relu_max_pool`]: the values and gradients of the two layers). None
    /// when the layer's "same" padding is not the same on both sides.
    pub(crate) fn forward_relu_max_pool(&self, x: &Var, pool: ops::MaxPoolArgs) -> Result<Option<Var>> {
        let [t, b, l, r] = self.padding_of(x);
        if t != b || l != r {
            return Ok(None);
        }
        let g = x.graph().clone();
        let (w, bias) = (g.param(&self.weight), g.param(&self.bias));
        ops::conv2d_relu_max_pool(x, &w, Some(&bias), self.stride, (t, l), pool).map(Some)
    }

    /// The convolution and bias, before the layer's activation.
    pub(crate) fn forward_linear(&self, x: &Var) -> Result<Var> {
        let g = x.graph().clone();
        let (w, b) = (g.param(&self.weight), g.param(&self.bias));
        match self.padding_of(x) {
            [t, bo, l, r] if t == bo && l == r => ops::conv2d(x, &w, Some(&b), self.stride, (t, l)),
            [t, bo, l, r] => ops::conv2d(&ops::pad2d(x, t, bo, l, r)?, &w, Some(&b), self.stride, (0, 0)),
        }
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Var) -> Result<Var> {
        apply_act_owned(self.forward_linear(x)?, self.activation)
    }
    fn params(&self) -> Vec<&Param> {
        vec![&self.weight, &self.bias]
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.weight, &mut self.bias]
    }
    fn l2(&self) -> Vec<(&Param, f32)> {
        weight_l2(&self.weight, self.l2)
    }
}
