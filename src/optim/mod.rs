//! Optimisers: SGD (momentum, Nesterov), Adam / AdamW (Keras-style learning-rate decay),
//! Adadelta and RMSprop, with weight decay; learning-rate schedules over epochs ([`Schedule`]:
//! step, cosine, reduce-on-plateau).
//!
//! Each optimiser owns its state: a typed [`ParamState`] per parameter (the named moment
//! vectors of its method), saved and restored by the optimiser itself through
//! [`Optimizer::state_dict`] / [`Optimizer::load_state_dict`], so `--resume` continues exactly.
//! The settings ([`OptimConfig`]) are not part of that record: a checkpoint keeps one copy of
//! them, in the training configuration, and the optimiser is rebuilt from it.
//!
//! Every update is elementwise, so it is parallel over chunks of each parameter without any
//! effect on the result.

mod optimizer;
mod schedule;
mod state;

pub use optimizer::{Optimizer, Update};
pub use schedule::{Schedule, ScheduleFlags, ScheduleState};
pub use state::{OptimRecord, ParamState};

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Which update rule, with its hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Method {
    /// `v ← μ v + g`; `w ← w - lr (g + μ v)` with Nesterov, else `w ← w - lr v`.
    Sgd { momentum: f32, nesterov: bool },
    /// `m ← β1 m + (1-β1) g`, `v ← β2 v + (1-β2) g²`,
    /// `w ← w - lr_t m̂ / (√v̂ + ε)` with bias-corrected `m̂, v̂`. `decoupled` = AdamW: the weight
    /// decay is applied to `w` directly instead of being added to `g`.
    Adam { beta1: f32, beta2: f32, eps: f32, decoupled: bool },
    /// `E[g²] ← ρ E[g²] + (1-ρ) g²`, `Δ = √(E[Δ²]+ε) / √(E[g²]+ε) · g`,
    /// `E[Δ²] ← ρ E[Δ²] + (1-ρ) Δ²`, `w ← w - lr Δ` (Keras: lr 1.0, ρ 0.95).
    Adadelta { rho: f32, eps: f32 },
    /// `E[g²] ← ρ E[g²] + (1-ρ) g²`, `w ← w - lr g / (√E[g²] + ε)`.
    Rmsprop { rho: f32, eps: f32 },
}

/// Optimiser settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimConfig {
    pub method: Method,
    /// Base learning rate.
    pub lr: f32,
    /// Keras-style decay: `lr_t = lr / (1 + decay · t)` with `t` the update count.
    pub decay: f32,
    /// L2 weight decay (coupled: `g += wd · w`; AdamW: decoupled).
    pub weight_decay: f32,
}

/// Settings a user may override on top of an optimiser's defaults (the `train` flags).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptimFlags {
    /// Learning rate (default: the optimiser's own).
    pub lr: Option<f32>,
    /// Keras-style learning-rate decay.
    pub decay: f32,
    /// Momentum, for `sgd` / `nesterov` (other methods have none: giving it is an error).
    pub momentum: Option<f32>,
    /// Weight decay (default: the optimiser's own).
    pub weight_decay: Option<f32>,
}

impl OptimConfig {
    /// Defaults per name: `sgd` (lr 0.01, momentum 0.9), `nesterov`, `adam` (lr 0.001),
    /// `adamw` (lr 0.001, wd 0.01), `adadelta` (lr 1.0, ρ 0.95, ε 1e-7), `rmsprop` (lr 0.001).
    pub fn named(name: &str) -> Result<OptimConfig> {
        let (method, lr, wd) = match name.to_ascii_lowercase().as_str() {
            "sgd" => (Method::Sgd { momentum: 0.9, nesterov: false }, 0.01, 0.0),
            "nesterov" => (Method::Sgd { momentum: 0.9, nesterov: true }, 0.01, 0.0),
            "adam" => (Method::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8, decoupled: false }, 1e-3, 0.0),
            "adamw" => (Method::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8, decoupled: true }, 1e-3, 0.01),
            "adadelta" => (Method::Adadelta { rho: 0.95, eps: 1e-7 }, 1.0, 0.0),
            "rmsprop" => (Method::Rmsprop { rho: 0.9, eps: 1e-7 }, 1e-3, 0.0),
            other => return Err(Error::invalid("optimizer", format!("unknown optimizer {other:?} (sgd, nesterov, adam, adamw, adadelta, rmsprop)"))),
        };
        Ok(OptimConfig { method, lr, decay: 0.0, weight_decay: wd })
    }

    /// The optimiser `name` with the user's overrides applied, checked by [`Self::validate`].
    pub fn from_flags(name: &str, flags: &OptimFlags) -> Result<OptimConfig> {
        let mut o = OptimConfig::named(name)?;
        if let Some(lr) = flags.lr {
            o.lr = lr;
        }
        o.decay = flags.decay;
        if let Some(wd) = flags.weight_decay {
            o.weight_decay = wd;
        }
        match (flags.momentum, &mut o.method) {
            (Some(m), Method::Sgd { momentum, .. }) => *momentum = m,
            (Some(_), _) => {
                return Err(Error::invalid("optimizer", format!("--momentum applies to sgd and nesterov only; {name} has no momentum (drop the flag)")));
            }
            (None, _) => {}
        }
        o.validate()?;
        Ok(o)
    }

    /// Values of state the optimiser keeps per parameter (SGD: the velocity, none without
    /// momentum; Adam: two moments; Adadelta: two averages; RMSprop: one), for memory estimates.
    pub fn state_slots(&self) -> usize {
        match self.method {
            Method::Sgd { momentum, .. } => usize::from(momentum != 0.0),
            Method::Adam { .. } | Method::Adadelta { .. } => 2,
            Method::Rmsprop { .. } => 1,
        }
    }

    /// The settings an update cannot work with: a learning rate that is not a positive number,
    /// a negative or non-finite decay or weight decay, a momentum outside `[0, 1)`. The errors
    /// name the `train` flag that sets each value.
    pub fn validate(&self) -> Result<()> {
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::invalid("optimizer", format!("learning rate (--lr) {} must be a positive number", self.lr)));
        }
        if !(self.decay.is_finite() && self.decay >= 0.0) {
            return Err(Error::invalid("optimizer", format!("learning-rate decay (--decay) {} must be a number >= 0", self.decay)));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::invalid("optimizer", format!("weight decay (--weight-decay) {} must be a number >= 0", self.weight_decay)));
        }
        if let Method::Sgd { momentum, .. } = self.method {
            if !(0.0..1.0).contains(&momentum) {
                return Err(Error::invalid("optimizer", format!("momentum (--momentum) {momentum} is outside [0, 1)")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_defaults() {
        let f = OptimFlags { lr: Some(0.5), decay: 0.1, momentum: Some(0.5), weight_decay: Some(0.2) };
        let o = OptimConfig::from_flags("nesterov", &f).unwrap();
        assert_eq!((o.lr, o.decay, o.weight_decay), (0.5, 0.1, 0.2));
        assert_eq!(o.method, Method::Sgd { momentum: 0.5, nesterov: true });
        // adam has no momentum: the flag is an error rather than silently ignored
        for name in ["adam", "adamw", "adadelta", "rmsprop"] {
            let e = OptimConfig::from_flags(name, &f).unwrap_err().to_string();
            assert!(e.contains("--momentum") && e.contains(name), "{e}");
        }
        let o = OptimConfig::from_flags("adam", &OptimFlags { momentum: None, ..f.clone() }).unwrap();
        assert!(matches!(o.method, Method::Adam { beta1, .. } if beta1 == 0.9));
        assert_eq!(OptimConfig::from_flags("adamw", &OptimFlags::default()).unwrap().weight_decay, 0.01);
    }

    #[test]
    fn bad_settings_name_their_flag() {
        let bad = [
            (OptimFlags { lr: Some(-0.1), ..Default::default() }, "--lr"),
            (OptimFlags { lr: Some(f32::INFINITY), ..Default::default() }, "--lr"),
            (OptimFlags { decay: f32::NAN, ..Default::default() }, "--decay"),
            (OptimFlags { decay: -1.0, ..Default::default() }, "--decay"),
            (OptimFlags { weight_decay: Some(-0.5), ..Default::default() }, "--weight-decay"),
            (OptimFlags { momentum: Some(1.0), ..Default::default() }, "--momentum"),
        ];
        for (f, flag) in bad {
            let e = OptimConfig::from_flags("sgd", &f).unwrap_err().to_string();
            assert!(e.contains(flag), "{f:?}: {e}");
        }
        assert!(OptimConfig::named("adagrad").unwrap_err().to_string().contains("adagrad"));
    }
}
