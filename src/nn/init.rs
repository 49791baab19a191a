//! Weight initialisers (Keras names). Fan-in/fan-out follow Keras: for a conv kernel
//! `[O, C, kh, kw]`, `fan_in = C·kh·kw`, `fan_out = O·kh·kw`; for a dense weight `[in, out]`,
//! `fan_in = in`, `fan_out = out`.

use crate::error::{Error, Result};
use crate::tensor::{Rng, Tensor};
use serde::{Deserialize, Serialize};

/// How to draw initial weights.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// Uniform in ±sqrt(6 / (fan_in + fan_out)) (Keras' default).
    #[default]
    GlorotUniform,
    /// Truncated-free normal with std sqrt(2 / (fan_in + fan_out)).
    GlorotNormal,
    /// Uniform in ±sqrt(6 / fan_in) (He, for ReLU).
    HeUniform,
    /// Normal with std sqrt(2 / fan_in).
    HeNormal,
    /// Normal with std sqrt(1 / fan_in) (LeCun, for SELU).
    LecunNormal,
}

impl Init {
    /// Parses a Keras-style name (`glorot_uniform`, `he_normal`, ...).
    pub fn parse(s: &str) -> Result<Init> {
        Ok(match s {
            "glorot_uniform" | "xavier_uniform" => Init::GlorotUniform,
            "glorot_normal" | "xavier_normal" => Init::GlorotNormal,
            "he_uniform" | "kaiming_uniform" => Init::HeUniform,
            "he_normal" | "kaiming_normal" => Init::HeNormal,
            "lecun_normal" => Init::LecunNormal,
            _ => return Err(Error::invalid("init", format!("unknown initialiser {s:?} (glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_normal)"))),
        })
    }

    /// Draws a tensor of `shape` with the given fans.
    pub fn draw(self, shape: &[usize], fan_in: usize, fan_out: usize, rng: &mut Rng) -> Tensor {
        let (fi, fo) = (fan_in.max(1) as f32, fan_out.max(1) as f32);
        match self {
            Init::GlorotUniform => {
                let l = (6.0 / (fi + fo)).sqrt();
                Tensor::uniform(shape, -l, l, rng)
            }
            Init::GlorotNormal => Tensor::normal(shape, 0.0, (2.0 / (fi + fo)).sqrt(), rng),
            Init::HeUniform => {
                let l = (6.0 / fi).sqrt();
                Tensor::uniform(shape, -l, l, rng)
            }
            Init::HeNormal => Tensor::normal(shape, 0.0, (2.0 / fi).sqrt(), rng),
            Init::LecunNormal => Tensor::normal(shape, 0.0, (1.0 / fi).sqrt(), rng),
        }
    }
}
