//! Optimisers: SGD (momentum, Nesterov), Adam / AdamW (Keras-style learning-rate decay),
//! Adadelta and RMSprop, with weight decay. Their state is plain data (serde), saved in
//! checkpoints so `--resume` continues exactly.
//!
//! Every update is elementwise, so it is parallel over chunks of each parameter without any
//! effect on the result.

use crate::autograd::Param;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use rayon::prelude::*;
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

    fn slots(&self) -> usize {
        match self.method {
            Method::Sgd { momentum, .. } => usize::from(momentum != 0.0),
            Method::Adam { .. } | Method::Adadelta { .. } => 2,
            Method::Rmsprop { .. } => 1,
        }
    }
}

/// An optimiser: settings plus per-parameter state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Optimizer {
    pub config: OptimConfig,
    /// Number of updates done.
    pub step: u64,
    /// Per parameter, per slot, the state values (created on the first step). Not in the
    /// serde form: checkpoints store it as tensors beside the weights.
    #[serde(skip)]
    pub state: Vec<Vec<Vec<f32>>>,
}

const CHUNK: usize = 1 << 14;

impl Optimizer {
    /// A fresh optimiser.
    pub fn new(config: OptimConfig) -> Self {
        Optimizer { config, step: 0, state: vec![] }
    }

    /// Number of state vectors per parameter this method keeps.
    pub fn config_slots(&self) -> usize {
        self.config.slots()
    }

    /// Learning rate used by the next step.
    pub fn current_lr(&self) -> f32 {
        self.config.lr / (1.0 + self.config.decay * self.step as f32)
    }

    /// One update of every parameter with its gradient (same order as `params`).
    pub fn step(&mut self, params: &mut [&mut Param], grads: &[Tensor]) -> Result<()> {
        if params.len() != grads.len() {
            return Err(Error::shape("Optimizer::step", &[params.len()], &[grads.len()]));
        }
        if self.state.is_empty() {
            self.state = params.iter().map(|p| vec![vec![0.0; p.len()]; self.config.slots()]).collect();
        }
        if self.state.len() != params.len() {
            return Err(Error::invalid("Optimizer::step", format!("state for {} parameters, given {}", self.state.len(), params.len())));
        }
        if let Some((p, _)) = params.iter().zip(&self.state).find(|(p, st)| st.len() != self.config.slots() || st.iter().any(|s| s.len() != p.len())) {
            return Err(Error::invalid("Optimizer::step", format!("the optimiser state of {} does not fit the parameter", p.name)));
        }
        let lr = self.current_lr();
        self.step += 1;
        let t = self.step as i32;
        let cfg = &self.config;
        let wd = cfg.weight_decay;
        for ((p, g), st) in params.iter_mut().zip(grads).zip(self.state.iter_mut()) {
            if g.shape() != p.value.shape() {
                return Err(Error::Shape {
                    op: "Optimizer::step",
                    lhs: p.value.shape().to_vec(),
                    rhs: g.shape().to_vec(),
                    detail: format!("gradient of {}", p.name),
                });
            }
            if st.iter().any(|s| s.len() != p.len()) {
                return Err(Error::invalid("Optimizer::step", format!("state of {} has the wrong size", p.name)));
            }
            let w = p.value.data_mut();
            let g = g.data();
            match cfg.method {
                Method::Sgd { momentum, nesterov } => {
                    if momentum == 0.0 {
                        w.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).for_each(|(w, g)| {
                            for (w, &g) in w.iter_mut().zip(g) {
                                *w -= lr * (g + wd * *w);
                            }
                        });
                    } else {
                        let v = &mut st[0];
                        w.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).zip(v.par_chunks_mut(CHUNK)).for_each(|((w, g), v)| {
                            for ((w, &g), v) in w.iter_mut().zip(g).zip(v.iter_mut()) {
                                let g = g + wd * *w;
                                *v = momentum * *v + g;
                                *w -= lr * if nesterov { g + momentum * *v } else { *v };
                            }
                        });
                    }
                }
                Method::Adam { beta1, beta2, eps, decoupled } => {
                    let (c1, c2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
                    // coupled decay goes into g, decoupled (AdamW) onto w; no branch in the loop
                    let (wd_g, wd_w) = if decoupled { (0.0, lr * wd) } else { (wd, 0.0) };
                    let (m, v) = st.split_at_mut(1);
                    w.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).zip(m[0].par_chunks_mut(CHUNK)).zip(v[0].par_chunks_mut(CHUNK)).for_each(
                        |(((w, g), m), v)| {
                            for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                                let g = g + wd_g * *w;
                                *m = beta1 * *m + (1.0 - beta1) * g;
                                *v = beta2 * *v + (1.0 - beta2) * g * g;
                                let upd = (*m / c1) / ((*v / c2).sqrt() + eps);
                                *w -= wd_w * *w;
                                *w -= lr * upd;
                            }
                        },
                    );
                }
                Method::Adadelta { rho, eps } => {
                    let (eg, ed) = st.split_at_mut(1);
                    w.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).zip(eg[0].par_chunks_mut(CHUNK)).zip(ed[0].par_chunks_mut(CHUNK)).for_each(
                        |(((w, g), eg), ed)| {
                            for (((w, &g), eg), ed) in w.iter_mut().zip(g).zip(eg.iter_mut()).zip(ed.iter_mut()) {
                                let g = g + wd * *w;
                                *eg = rho * *eg + (1.0 - rho) * g * g;
                                let d = (*ed + eps).sqrt() / (*eg + eps).sqrt() * g;
                                *ed = rho * *ed + (1.0 - rho) * d * d;
                                *w -= lr * d;
                            }
                        },
                    );
                }
                Method::Rmsprop { rho, eps } => {
                    let a = &mut st[0];
                    w.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).zip(a.par_chunks_mut(CHUNK)).for_each(|((w, g), a)| {
                        for ((w, &g), a) in w.iter_mut().zip(g).zip(a.iter_mut()) {
                            let g = g + wd * *w;
                            *a = rho * *a + (1.0 - rho) * g * g;
                            *w -= lr * g / (a.sqrt() + eps);
                        }
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimises f(w) = Σ (w - 3)² with every optimiser.
    #[test]
    fn every_optimizer_descends_a_quadratic() {
        for name in ["sgd", "nesterov", "adam", "adamw", "adadelta", "rmsprop"] {
            let mut cfg = OptimConfig::named(name).unwrap();
            cfg.weight_decay = 0.0;
            match name {
                "adadelta" => cfg.lr = 50.0, // Adadelta's steps start tiny (√ε)
                "adam" | "adamw" | "rmsprop" => cfg.lr = 0.05,
                _ => {}
            }
            let mut opt = Optimizer::new(cfg);
            let mut p = Param::new("w", Tensor::from_vec(vec![0.0, 1.0, -2.0], &[3]).unwrap());
            for _ in 0..3000 {
                let g = p.value.map(|w| 2.0 * (w - 3.0));
                opt.step(&mut [&mut p], &[g]).unwrap();
            }
            for &w in p.value.data() {
                assert!((w - 3.0).abs() < 0.1, "{name}: {w}");
            }
        }
    }

    #[test]
    fn adam_first_step_is_lr_sized_and_decay_shrinks_lr() {
        let mut cfg = OptimConfig::named("adam").unwrap();
        cfg.decay = 1.0;
        let mut opt = Optimizer::new(cfg);
        let mut p = Param::new("w", Tensor::zeros(&[2]));
        opt.step(&mut [&mut p], &[Tensor::from_vec(vec![5.0, -0.1], &[2]).unwrap()]).unwrap();
        assert!((p.value.data()[0] + 1e-3).abs() < 1e-6 && (p.value.data()[1] - 1e-3).abs() < 1e-6);
        assert!((opt.current_lr() - 5e-4).abs() < 1e-9);
        let e = opt.step(&mut [&mut p], &[Tensor::zeros(&[3])]).unwrap_err().to_string();
        assert!(e.contains("[2]") && e.contains("[3]"), "{e}");
    }
}
