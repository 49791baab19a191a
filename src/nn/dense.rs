//! Fully connected layer (Keras `Dense`, PyTorch `nn.Linear`): `y = act(x · Wᵀ + b)`, weight
//! `[units, in]` as PyTorch stores it, so a saved model's `denseN.weight` is what
//! `nn.Linear.weight` expects.

use super::activation::apply_act_owned;
use super::module::{weight_l2, Module};
use super::spec::Act;
use super::Init;
use crate::autograd::{Param, Var};
use crate::error::Result;
use crate::ops;
use crate::tensor::{Rng, Tensor};

/// A dense layer.
pub struct Dense {
    pub weight: Param,
    pub bias: Param,
    pub activation: Option<Act>,
    pub l2: f32,
}

impl Dense {
    /// A new layer mapping `inputs` features to `units`.
    pub fn new(name: &str, inputs: usize, units: usize, activation: Option<Act>, init: Init, l2: f32, rng: &mut Rng) -> Self {
        Self::with_weight(name, out_in(&init.draw(&[inputs, units], inputs, units, rng)), activation, l2)
    }

    /// A layer with the given weight `[units, inputs]` and a zero bias.
    pub fn with_weight(name: &str, weight: Tensor, activation: Option<Act>, l2: f32) -> Self {
        let units = weight.shape()[0];
        Dense { weight: Param::new(format!("{name}.weight"), weight), bias: Param::new(format!("{name}.bias"), Tensor::zeros(&[units])), activation, l2 }
    }
}

/// The `[units, in]` transpose of a weight drawn `[in, units]` (drawing in the old order keeps
/// a seed's initial weights what they were).
fn out_in(w: &Tensor) -> Tensor {
    let (i, u) = (w.shape()[0], w.shape()[1]);
    let d = w.data();
    let t: Vec<f32> = (0..u * i).map(|j| d[(j % i) * u + j / i]).collect();
    Tensor::from_vec(t, &[u, i]).expect("same length")
}

impl Module for Dense {
    fn forward(&self, x: &Var) -> Result<Var> {
        let g = x.graph().clone();
        let y = ops::linear_t(x, &g.param(&self.weight), Some(&g.param(&self.bias)))?;
        apply_act_owned(y, self.activation)
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
