//! Fully connected layer (Keras `Dense`): `y = act(x · W + b)`, weight `[in, units]`.

use super::activation::apply_act;
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
        Dense {
            weight: Param::new(format!("{name}.weight"), init.draw(&[inputs, units], inputs, units, rng)),
            bias: Param::new(format!("{name}.bias"), Tensor::zeros(&[units])),
            activation,
            l2,
        }
    }
}

impl Module for Dense {
    fn forward(&self, x: &Var) -> Result<Var> {
        let g = x.graph().clone();
        let y = ops::linear(x, &g.param(&self.weight), Some(&g.param(&self.bias)))?;
        apply_act(&y, self.activation)
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
