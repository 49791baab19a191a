//! [`Optimizer`]: settings, the update count and the typed per-parameter state; one update of
//! every parameter per [`Optimizer::step`].

use super::state::ParamState;
use super::{Method, OptimConfig};
use crate::autograd::Param;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use rayon::prelude::*;

/// An optimiser: settings plus per-parameter state.
#[derive(Clone, Debug)]
pub struct Optimizer {
    pub(super) config: OptimConfig,
    /// Number of updates done.
    pub(super) step: u64,
    /// Names of the parameters the state belongs to (same order as `state`).
    pub(super) names: Vec<String>,
    /// Per parameter, the method's moment vectors (empty until the first step or a load).
    pub(super) state: Vec<ParamState>,
}

const CHUNK: usize = 1 << 14;

impl Optimizer {
    /// A fresh optimiser (its state is created on the first step).
    pub fn new(config: OptimConfig) -> Self {
        Optimizer { config, step: 0, names: vec![], state: vec![] }
    }

    /// The settings.
    pub fn config(&self) -> &OptimConfig {
        &self.config
    }

    /// Number of updates done.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The state per parameter, by parameter name (empty before the first step).
    pub fn state(&self) -> impl Iterator<Item = (&str, &ParamState)> {
        self.names.iter().map(String::as_str).zip(&self.state)
    }

    /// Sets the base learning rate of the next steps (a schedule's rate for an epoch; Keras'
    /// decay still applies on top). The run's settings keep the original base rate.
    pub fn set_lr(&mut self, lr: f32) {
        self.config.lr = lr;
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
        let update = self.start_step(params.iter().map(|p| &**p))?;
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            self.update_param(&update, i, p, g)?;
        }
        Ok(())
    }

    /// Starts one update of `params` (the model's parameters, in the order
    /// [`Optimizer::update_param`] will number them): creates the state on the first step,
    /// checks that it fits every parameter, and counts the step. Each parameter must then be
    /// updated once with [`Optimizer::update_param`], in any order, before the next step
    /// starts (a gradient that never came is a zero gradient: [`Tensor::zeros`]). Splitting
    /// the step lets a trainer update each parameter as soon as its gradient is known
    /// ([`crate::autograd::Var::backward_to_params`]); [`Optimizer::step`] does both at once.
    pub fn start_step<'a>(&mut self, params: impl ExactSizeIterator<Item = &'a Param> + Clone) -> Result<Update> {
        if self.state.is_empty() {
            self.names = params.clone().map(|p| p.name.clone()).collect();
            self.state = params.clone().map(|p| ParamState::zeros(&self.config.method, p.len())).collect();
        }
        if self.state.len() != params.len() {
            return Err(Error::invalid("Optimizer::step", format!("state for {} parameters, given {}", self.state.len(), params.len())));
        }
        if let Some((p, _)) = params.zip(&self.state).find(|(p, st)| !st.fits(&self.config.method, p.len())) {
            return Err(Error::invalid("Optimizer::step", format!("the optimiser state of {} does not fit the parameter", p.name)));
        }
        let lr = self.current_lr();
        self.step += 1;
        Ok(Update { lr, step: self.step })
    }

    /// Updates parameter number `index` of the step `update` (see
    /// [`Optimizer::start_step`]) with its gradient `g`. An error, changing nothing, if
    /// `update` is not the current step's, there is no such parameter, or its state or `g`
    /// does not fit `p`.
    pub fn update_param(&mut self, update: &Update, index: usize, p: &mut Param, g: &Tensor) -> Result<()> {
        let Update { lr, step } = *update;
        let t = step as i32; // Adam's bias corrections
        let cfg = &self.config;
        let wd = cfg.weight_decay;
        if step != self.step {
            return Err(Error::invalid("Optimizer::update_param", format!("an update of step {step} given at step {}", self.step)));
        }
        let Some(st) = self.state.get_mut(index) else {
            return Err(Error::invalid("Optimizer::update_param", format!("no parameter number {index} (state for {})", self.state.len())));
        };
        if !st.fits(&cfg.method, p.len()) {
            return Err(Error::invalid("Optimizer::update_param", format!("the optimiser state of parameter number {index} does not fit {}", p.name)));
        }
        if g.shape() != p.value.shape() {
            return Err(Error::Shape {
                op: "Optimizer::step",
                lhs: p.value.shape().to_vec(),
                rhs: g.shape().to_vec(),
                detail: format!("gradient of {}", p.name),
            });
        }
        let w = p.value.data_mut();
        let g = g.data();
        match (&cfg.method, st) {
            (Method::Sgd { .. }, ParamState::Plain) => {
                w.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).for_each(|(w, g)| {
                    for (w, &g) in w.iter_mut().zip(g) {
                        *w -= lr * (g + wd * *w);
                    }
                });
            }
            (&Method::Sgd { momentum, nesterov }, ParamState::Momentum { velocity }) => {
                w.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).zip(velocity.par_chunks_mut(CHUNK)).for_each(|((w, g), v)| {
                    for ((w, &g), v) in w.iter_mut().zip(g).zip(v.iter_mut()) {
                        let g = g + wd * *w;
                        *v = momentum * *v + g;
                        *w -= lr * if nesterov { g + momentum * *v } else { *v };
                    }
                });
            }
            (&Method::Adam { beta1, beta2, eps, decoupled }, ParamState::Adam { m, v }) => {
                let (c1, c2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
                // coupled decay goes into g, decoupled (AdamW) onto w; no branch in the loop
                let (wd_g, wd_w) = if decoupled { (0.0, lr * wd) } else { (wd, 0.0) };
                let s = pupil_kernels::optim::AdamStep { lr, beta1, beta2, eps, c1, c2, wd_g, wd_w };
                w.par_chunks_mut(CHUNK)
                    .zip(g.par_chunks(CHUNK))
                    .zip(m.par_chunks_mut(CHUNK))
                    .zip(v.par_chunks_mut(CHUNK))
                    .for_each(|(((w, g), m), v)| pupil_kernels::optim::adam(w, g, m, v, &s));
            }
            (&Method::Adadelta { rho, eps }, ParamState::Adadelta { avg_sq_grad, avg_sq_delta }) => {
                w.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).zip(avg_sq_grad.par_chunks_mut(CHUNK)).zip(avg_sq_delta.par_chunks_mut(CHUNK)).for_each(
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
            (&Method::Rmsprop { rho, eps }, ParamState::Rmsprop { avg_sq_grad }) => {
                w.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).zip(avg_sq_grad.par_chunks_mut(CHUNK)).for_each(|((w, g), a)| {
                    for ((w, &g), a) in w.iter_mut().zip(g).zip(a.iter_mut()) {
                        let g = g + wd * *w;
                        *a = rho * *a + (1.0 - rho) * g * g;
                        *w -= lr * g / (a.sqrt() + eps);
                    }
                });
            }
            _ => return Err(Error::invalid("Optimizer::step", format!("the optimiser state of {} is not of this method", p.name))),
        }
        Ok(())
    }
}

/// One step's constants, from [`Optimizer::start_step`]: the learning rate and the step
/// number (Adam's bias corrections).
#[derive(Clone, Copy, Debug)]
pub struct Update {
    lr: f32,
    /// The optimiser's step count it belongs to (Adam's `t`; an update of another step is
    /// refused).
    step: u64,
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

    /// A step split in two updates like `step`; an update of another step, of a parameter with
    /// no state or of one its state does not fit is refused and changes nothing.
    #[test]
    fn a_split_step_is_a_step_and_refuses_what_does_not_fit() {
        let g = Tensor::from_vec(vec![0.5, -2.0], &[2]).unwrap();
        let (mut a, mut b) = (Param::new("w", Tensor::ones(&[2])), Param::new("w", Tensor::ones(&[2])));
        let (mut whole, mut split) = (Optimizer::new(OptimConfig::named("adam").unwrap()), Optimizer::new(OptimConfig::named("adam").unwrap()));
        whole.step(&mut [&mut a], std::slice::from_ref(&g)).unwrap();
        let first = split.start_step([&b].into_iter()).unwrap();
        split.update_param(&first, 0, &mut b, &g).unwrap();
        assert_eq!(a.value.data(), b.value.data());
        let second = split.start_step([&b].into_iter()).unwrap();
        let before = b.value.data().to_vec();
        for e in [
            split.update_param(&first, 0, &mut b, &g),
            split.update_param(&second, 1, &mut b, &g),
            split.update_param(&second, 0, &mut Param::new("w", Tensor::ones(&[3])), &Tensor::ones(&[3])),
            split.update_param(&second, 0, &mut b, &Tensor::ones(&[3])),
        ] {
            assert!(e.is_err());
        }
        assert_eq!(b.value.data(), &before[..]);
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

    #[test]
    fn plain_sgd_keeps_no_state_and_momentum_keeps_a_velocity() {
        let mut p = Param::new("w", Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap());
        let g = Tensor::from_vec(vec![1.0, 1.0], &[2]).unwrap();
        let mut cfg = OptimConfig::named("sgd").unwrap();
        let mut momentum = Optimizer::new(cfg.clone());
        momentum.step(&mut [&mut p], std::slice::from_ref(&g)).unwrap();
        let (name, st) = momentum.state().next().unwrap();
        assert_eq!((name, st), ("w", &ParamState::Momentum { velocity: vec![1.0, 1.0] }));
        cfg.method = Method::Sgd { momentum: 0.0, nesterov: false };
        let mut plain = Optimizer::new(cfg);
        plain.step(&mut [&mut p], &[g]).unwrap();
        assert_eq!(plain.state().next().unwrap().1, &ParamState::Plain);
    }
}
