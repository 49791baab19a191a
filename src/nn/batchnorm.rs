//! Batch normalisation layer (per channel for images, per feature for flat inputs), with
//! learned scale γ and shift β and running statistics saved with the model, under PyTorch's
//! `nn.BatchNorm2d` / `BatchNorm1d` names: `bnN.weight` (γ), `bnN.bias` (β),
//! `bnN.running_mean`, `bnN.running_var`.

use super::module::{Ctx, Module};
use crate::autograd::{Param, Var};
use crate::error::{Error, Result};
use crate::ops::{self, BatchNormState};
use crate::tensor::Tensor;

/// A batch-norm layer over `channels` channels/features.
pub struct BatchNorm {
    pub name: String,
    pub gamma: Param,
    pub beta: Param,
    pub state: BatchNormState,
}

impl BatchNorm {
    /// γ = 1, β = 0, running mean 0 and variance 1.
    pub fn new(name: &str, channels: usize, momentum: f32, eps: f32) -> Self {
        BatchNorm {
            name: name.to_string(),
            gamma: Param::new(format!("{name}.weight"), Tensor::ones(&[channels])),
            beta: Param::new(format!("{name}.bias"), Tensor::zeros(&[channels])),
            state: BatchNormState::new(channels, momentum, eps),
        }
    }
}

impl Module for BatchNorm {
    /// `y = γ (x - running_mean) / sqrt(running_var + eps) + β` per channel.
    fn forward(&self, x: &Var) -> Result<Var> {
        let g = x.graph().clone();
        let (gm, bt) = (g.param(&self.gamma), g.param(&self.beta));
        // evaluation mode reads the statistics and leaves them as they are; the op takes them
        // mutably for training, so it gets a copy (2·C floats)
        let mut state = self.state.clone();
        ops::batch_norm(x, &gm, &bt, &mut state, false)
    }
    /// Normalises with the batch's mean and variance and moves the running statistics
    /// towards them (see [`ops::batch_norm`]).
    fn forward_mut(&mut self, x: &Var, _ctx: &mut Ctx) -> Result<Var> {
        let g = x.graph().clone();
        let (gm, bt) = (g.param(&self.gamma), g.param(&self.beta));
        ops::batch_norm(x, &gm, &bt, &mut self.state, true)
    }
    fn params(&self) -> Vec<&Param> {
        vec![&self.gamma, &self.beta]
    }
    fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![&mut self.gamma, &mut self.beta]
    }
    fn buffers(&self) -> Vec<(String, Tensor)> {
        let c = self.state.running_mean.len();
        vec![
            (format!("{}.running_mean", self.name), Tensor::from_vec(self.state.running_mean.clone(), &[c]).expect("length matches")),
            (format!("{}.running_var", self.name), Tensor::from_vec(self.state.running_var.clone(), &[c]).expect("length matches")),
        ]
    }
    fn load_buffer(&mut self, name: &str, value: &Tensor) -> Result<bool> {
        let slot = if name == format!("{}.running_mean", self.name) {
            &mut self.state.running_mean
        } else if name == format!("{}.running_var", self.name) {
            &mut self.state.running_var
        } else {
            return Ok(false);
        };
        if value.len() != slot.len() {
            return Err(Error::shape("BatchNorm::load_buffer", &[slot.len()], value.shape()));
        }
        slot.copy_from_slice(value.data());
        Ok(true)
    }
}
