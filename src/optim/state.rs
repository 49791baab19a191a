//! The optimiser's state as typed values ([`ParamState`]) and as a record of named tensors
//! ([`OptimRecord`]) that a checkpoint stores: the optimiser writes and reads it itself.

use super::{Method, Optimizer};
use crate::autograd::Param;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::collections::HashMap;

/// What an optimiser keeps per parameter: the moment vectors of its method, each as long as
/// the parameter.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamState {
    /// SGD without momentum keeps nothing.
    Plain,
    /// SGD with momentum (or Nesterov): the velocity `v`.
    Momentum { velocity: Vec<f32> },
    /// Adam / AdamW: first moment `m` and second moment `v`.
    Adam { m: Vec<f32>, v: Vec<f32> },
    /// Adadelta: running averages `E[g²]` and `E[Δ²]`.
    Adadelta { avg_sq_grad: Vec<f32>, avg_sq_delta: Vec<f32> },
    /// RMSprop: running average `E[g²]`.
    Rmsprop { avg_sq_grad: Vec<f32> },
}

impl ParamState {
    /// The zero state of `method` for a parameter of `n` values.
    pub fn zeros(method: &Method, n: usize) -> ParamState {
        let z = || vec![0.0; n];
        match *method {
            Method::Sgd { momentum: 0.0, .. } => ParamState::Plain,
            Method::Sgd { .. } => ParamState::Momentum { velocity: z() },
            Method::Adam { .. } => ParamState::Adam { m: z(), v: z() },
            Method::Adadelta { .. } => ParamState::Adadelta { avg_sq_grad: z(), avg_sq_delta: z() },
            Method::Rmsprop { .. } => ParamState::Rmsprop { avg_sq_grad: z() },
        }
    }

    /// The moment vectors by name (`velocity`, `m`, `v`, `avg_sq_grad`, `avg_sq_delta`).
    pub fn moments(&self) -> Vec<(&'static str, &[f32])> {
        match self {
            ParamState::Plain => vec![],
            ParamState::Momentum { velocity } => vec![("velocity", velocity)],
            ParamState::Adam { m, v } => vec![("m", m), ("v", v)],
            ParamState::Adadelta { avg_sq_grad, avg_sq_delta } => vec![("avg_sq_grad", avg_sq_grad), ("avg_sq_delta", avg_sq_delta)],
            ParamState::Rmsprop { avg_sq_grad } => vec![("avg_sq_grad", avg_sq_grad)],
        }
    }

    fn moments_mut(&mut self) -> Vec<(&'static str, &mut Vec<f32>)> {
        match self {
            ParamState::Plain => vec![],
            ParamState::Momentum { velocity } => vec![("velocity", velocity)],
            ParamState::Adam { m, v } => vec![("m", m), ("v", v)],
            ParamState::Adadelta { avg_sq_grad, avg_sq_delta } => vec![("avg_sq_grad", avg_sq_grad), ("avg_sq_delta", avg_sq_delta)],
            ParamState::Rmsprop { avg_sq_grad } => vec![("avg_sq_grad", avg_sq_grad)],
        }
    }

    /// True if this is `method`'s state for a parameter of `n` values.
    pub fn fits(&self, method: &Method, n: usize) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(&ParamState::zeros(method, 0)) && self.moments().iter().all(|(_, v)| v.len() == n)
    }
}

/// An optimiser's state as a checkpoint stores it: the update count and one tensor per
/// parameter and moment, named `{parameter}.{moment}` (e.g. `conv1.weight.m`). The settings are
/// not in it: they are given again when the optimiser is rebuilt.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimRecord {
    pub step: u64,
    pub tensors: Vec<(String, Tensor)>,
}

impl Optimizer {
    /// The state as named tensors (nothing before the first step but the count).
    pub fn state_dict(&self) -> Result<OptimRecord> {
        let tensors = self.state_views().into_iter().map(|(k, v)| Ok((k, Tensor::from_vec(v.to_vec(), &[v.len()])?))).collect::<Result<_>>()?;
        Ok(OptimRecord { step: self.step, tensors })
    }

    /// [`Self::state_dict`]'s tensors as borrowed values (each of shape `[len]`), for writing
    /// a checkpoint without copying the state first.
    pub fn state_views(&self) -> Vec<(String, &[f32])> {
        let mut views = vec![];
        for (name, st) in self.names.iter().zip(&self.state) {
            for (moment, v) in st.moments() {
                views.push((format!("{name}.{moment}"), v));
            }
        }
        views
    }

    /// Restores the state written by [`Self::state_dict`] for `params` (the model's parameters in
    /// the order of [`Self::step`]). Every moment of every parameter must be there with the
    /// parameter's size, and nothing else: a record of another method or model is an error
    /// naming the tensor.
    pub fn load_state_dict(&mut self, record: OptimRecord, params: &[&Param]) -> Result<()> {
        let bad = |msg: String| Err(Error::invalid("optimizer state", msg));
        if record.step == 0 {
            if !record.tensors.is_empty() {
                return bad(format!("{} tensors for an optimiser that has made no step", record.tensors.len()));
            }
            self.names.clear();
            self.state.clear();
            self.step = 0;
            return Ok(());
        }
        let mut given: HashMap<String, Tensor> = HashMap::with_capacity(record.tensors.len());
        for (k, t) in record.tensors {
            if given.insert(k.clone(), t).is_some() {
                return bad(format!("{k} is given twice"));
            }
        }
        let mut state = Vec::with_capacity(params.len());
        for p in params {
            let mut st = ParamState::zeros(&self.config.method, p.len());
            for (moment, v) in st.moments_mut() {
                let key = format!("{}.{moment}", p.name);
                let Some(t) = given.remove(&key) else {
                    return bad(format!("{key} is missing"));
                };
                if t.len() != p.len() {
                    return bad(format!("{key} has {} values for a parameter of {}", t.len(), p.len()));
                }
                v.copy_from_slice(t.data());
            }
            state.push(st);
        }
        if let Some(k) = given.keys().min() {
            return bad(format!("{k} is not state of this optimiser and model"));
        }
        self.names = params.iter().map(|p| p.name.clone()).collect();
        self.state = state;
        self.step = record.step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::OptimConfig;
    use super::*;

    fn trained(name: &str, steps: usize) -> (Optimizer, Param) {
        let mut opt = Optimizer::new(OptimConfig::named(name).unwrap());
        let mut p = Param::new("layer.weight", Tensor::from_vec(vec![0.5, -1.0, 2.0], &[3]).unwrap());
        for _ in 0..steps {
            let g = p.value.map(|w| 2.0 * w - 1.0);
            opt.step(&mut [&mut p], &[g]).unwrap();
        }
        (opt, p)
    }

    /// Saving, restoring into a fresh optimiser and stepping on gives the same weights and
    /// state as stepping on without the round trip, for every method.
    #[test]
    fn state_dict_round_trip_continues_exactly() {
        for name in ["sgd", "nesterov", "adam", "adamw", "adadelta", "rmsprop"] {
            let (mut a, mut pa) = trained(name, 3);
            let rec = a.state_dict().unwrap();
            assert_eq!(rec.step, 3);
            let mut b = Optimizer::new(OptimConfig::named(name).unwrap());
            let mut pb = pa.clone();
            b.load_state_dict(rec.clone(), &[&pb]).unwrap();
            assert_eq!(b.state_dict().unwrap(), rec, "{name}");
            for _ in 0..2 {
                let (ga, gb) = (pa.value.map(|w| w - 0.3), pb.value.map(|w| w - 0.3));
                a.step(&mut [&mut pa], &[ga]).unwrap();
                b.step(&mut [&mut pb], &[gb]).unwrap();
            }
            assert_eq!(pa.value.data(), pb.value.data(), "{name}");
            assert_eq!(a.state_dict().unwrap(), b.state_dict().unwrap(), "{name}");
        }
    }

    #[test]
    fn moments_are_named_per_method() {
        let names = |n: &str| trained(n, 1).0.state_dict().unwrap().tensors.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(names("adam"), ["layer.weight.m", "layer.weight.v"]);
        assert_eq!(names("sgd"), ["layer.weight.velocity"]);
        assert_eq!(names("adadelta"), ["layer.weight.avg_sq_grad", "layer.weight.avg_sq_delta"]);
        assert_eq!(names("rmsprop"), ["layer.weight.avg_sq_grad"]);
        assert!(trained("adam", 0).0.state_dict().unwrap().tensors.is_empty());
    }

    #[test]
    fn a_record_that_does_not_fit_is_refused_by_name() {
        let (adam, p) = trained("adam", 2);
        let rec = adam.state_dict().unwrap();
        // another method
        let e = Optimizer::new(OptimConfig::named("sgd").unwrap()).load_state_dict(rec.clone(), &[&p]).unwrap_err().to_string();
        assert!(e.contains("layer.weight.velocity is missing"), "{e}");
        // another parameter size
        let q = Param::new("layer.weight", Tensor::zeros(&[4]));
        let e = Optimizer::new(OptimConfig::named("adam").unwrap()).load_state_dict(rec.clone(), &[&q]).unwrap_err().to_string();
        assert!(e.contains("layer.weight.m has 3 values for a parameter of 4"), "{e}");
        // a tensor too many
        let mut extra = rec.clone();
        extra.tensors.push(("other.bias.m".into(), Tensor::zeros(&[1])));
        let e = Optimizer::new(OptimConfig::named("adam").unwrap()).load_state_dict(extra, &[&p]).unwrap_err().to_string();
        assert!(e.contains("other.bias.m"), "{e}");
        // state without a step
        let e = Optimizer::new(OptimConfig::named("adam").unwrap()).load_state_dict(OptimRecord { step: 0, ..rec }, &[&p]).unwrap_err().to_string();
        assert!(e.contains("no step"), "{e}");
        // plain SGD has state without tensors
        let (plain, p) = {
            let mut cfg = OptimConfig::named("sgd").unwrap();
            cfg.method = Method::Sgd { momentum: 0.0, nesterov: false };
            let mut o = Optimizer::new(cfg);
            let mut p = Param::new("w", Tensor::zeros(&[2]));
            o.step(&mut [&mut p], &[Tensor::zeros(&[2])]).unwrap();
            (o, p)
        };
        let mut again = Optimizer::new(plain.config().clone());
        again.load_state_dict(plain.state_dict().unwrap(), &[&p]).unwrap();
        assert_eq!(again.steps(), 1);
        assert_eq!(again.state().map(|(n, s)| (n.to_string(), s.clone())).collect::<Vec<_>>(), vec![("w".to_string(), ParamState::Plain)]);
    }
}
