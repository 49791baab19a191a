//! `checkpoint.safetensors`: everything needed to continue a run, written after every epoch
//! in one file (one atomic rename): the current weights (`current.*`), the best weights
//! (`best.*`), the optimiser's own record (`optim.*`, [`Optimizer::state_dict`]) and, as JSON
//! metadata, the training state (`pupil.train_state`: settings, history, early-stopping
//! counters) and the optimiser's update count (`pupil.optimizer`).
//!
//! [`Optimizer::state_dict`]: crate::optim::Optimizer::state_dict

use super::{model_file, RunDir, CHECKPOINT, HISTORY};
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::optim::OptimRecord;
use crate::tensor::Tensor;
use crate::train::{safetensors, EpochRecord, EpochSink, TrainState, Trainer};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

const STATE_KEY: &str = "pupil.train_state";
const OPTIM_KEY: &str = "pupil.optimizer";

#[derive(Serialize, Deserialize)]
struct OptimHeader {
    step: u64,
}

impl RunDir {
    /// Writes the model (best weights so far, or the current ones without validation),
    /// `checkpoint.safetensors` and `history.csv`, in this order, each atomically.
    pub fn save_trainer(&self, t: &Trainer) -> Result<()> {
        std::fs::create_dir_all(self.path()).map_err(|e| Error::io(self.path(), e))?;
        // the values are borrowed and written as they are read: no copy of the model, the
        // optimiser's moments or the file is made in memory
        let current = t.model.named_tensors();
        let optim = t.optimizer().state_views();
        let lens: Vec<[usize; 1]> = optim.iter().map(|(_, v)| [v.len()]).collect();
        let mut entries: Vec<(String, &[usize], &[f32])> = current.iter().map(|(k, v)| (format!("current.{k}"), v.shape(), v.data())).collect();
        entries.extend(optim.iter().zip(&lens).map(|((k, v), len)| (format!("optim.{k}"), &len[..], *v)));
        if let Some(b) = t.best_weights() {
            entries.extend(b.iter().map(|(k, v)| (format!("best.{k}"), v.shape(), v.data())));
        }
        let views: Vec<safetensors::View> = entries.iter().map(|(n, shape, data)| (n.as_str(), *shape, *data)).collect();
        let mut md = BTreeMap::new();
        md.insert(STATE_KEY.to_string(), to_json(t.state())?);
        md.insert(OPTIM_KEY.to_string(), to_json(&OptimHeader { step: t.optimizer().steps() })?);
        md.insert(model_file::LAYOUT_KEY.to_string(), model_file::LAYOUT.to_string());
        // the model before the checkpoint: a run killed between the two has a model of the
        // epoch after its checkpoint's, which --resume redoes and writes again identically; the
        // other order would leave a checkpoint with no model to load
        match t.best_weights() {
            Some(b) => model_file::save_model(self.path(), b, t.meta())?,
            None => model_file::save_model(self.path(), &t.model.named_tensors(), t.meta())?,
        }
        safetensors::save_views(&self.file(CHECKPOINT), &views, &md)?;
        write_atomic(&self.file(HISTORY), history_csv(t.history()).as_bytes())
    }

    /// The trainer saved in `checkpoint.safetensors`, as it was after its last epoch; `epochs`
    /// replaces the run's total. Any fault of the file is an error naming it.
    pub fn load_trainer(&self, epochs: Option<usize>) -> Result<Trainer> {
        let path = self.file(CHECKPOINT);
        let (tensors, md) = safetensors::load(&path)?;
        let get = |key: &str| md.get(key).ok_or_else(|| Error::parse(&path, 0, key, "no training state in this checkpoint"));
        let mut state: TrainState = serde_json::from_str(get(STATE_KEY)?).map_err(|e| Error::parse(&path, 0, STATE_KEY, e.to_string()))?;
        let header: OptimHeader = serde_json::from_str(get(OPTIM_KEY)?).map_err(|e| Error::parse(&path, 0, OPTIM_KEY, e.to_string()))?;
        model_file::check_layout(&path, &md)?;
        if let Some(e) = epochs {
            state.config.epochs = e;
        }
        state.config.validate().map_err(|e| Error::parse(&path, 0, STATE_KEY, e.to_string()))?;
        let part = |prefix: &str| -> Vec<(String, Tensor)> {
            let mut v: Vec<(String, Tensor)> = tensors.iter().filter_map(|(k, t)| k.strip_prefix(prefix).map(|k| (k.to_string(), t.clone()))).collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        let current: HashMap<String, Tensor> = part("current.").into_iter().collect();
        let best = part("best.");
        let optim = OptimRecord { step: header.step, tensors: part("optim.") };
        if let Some((k, _)) = tensors.iter().find(|(k, _)| !["current.", "best.", "optim."].iter().any(|p| k.starts_with(p))) {
            return Err(Error::parse(&path, 0, k.as_str(), "not a tensor of a pupil checkpoint"));
        }
        Trainer::from_parts(state, &current, optim, (!best.is_empty()).then_some(best)).map_err(|e| Error::parse(&path, 0, "checkpoint", e.to_string()))
    }
}

impl RunDir {
    /// The training state saved in `checkpoint.safetensors` (settings, history, early-stopping
    /// counters) without building the model; `None` when the run has no checkpoint.
    pub fn train_state(&self) -> Result<Option<TrainState>> {
        let path = self.file(CHECKPOINT);
        if !path.is_file() {
            return Ok(None);
        }
        let (_, md) = safetensors::load(&path)?;
        let json = md.get(STATE_KEY).ok_or_else(|| Error::parse(&path, 0, STATE_KEY, "no training state in this checkpoint"))?;
        serde_json::from_str(json).map(Some).map_err(|e| Error::parse(&path, 0, STATE_KEY, e.to_string()))
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Run(format!("serialising the training state: {e}")))
}

impl EpochSink for RunDir {
    fn epoch_end(&mut self, trainer: &Trainer) -> Result<()> {
        self.save_trainer(trainer)
    }
    fn saved_in(&self) -> Option<String> {
        Some(self.path().display().to_string())
    }
}

/// The history as CSV: `epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds`.
pub fn history_csv(h: &[EpochRecord]) -> String {
    let opt = |v: Option<f32>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
    let mut s = String::from("epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n");
    for r in h {
        s.push_str(&format!("{},{:.6},{:.6},{},{},{},{:.2}\n", r.epoch, r.train_loss, r.train_acc, opt(r.val_loss), opt(r.val_acc), r.lr, r.seconds));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every validation score a checkpoint can hold (accuracies k/n as f32, widened to f64 like
    /// the trainer's score, and negated losses) comes back from the checkpoint's JSON bit for
    /// bit: a score 1 ULP low would make a tie with the best epoch count as an improvement.
    #[test]
    fn scores_round_trip_exactly_through_the_checkpoint_json() {
        let mut bad = vec![];
        for n in 1..=600u32 {
            for k in 0..=n {
                let acc = (k as f32 / n as f32) as f64;
                for s in [acc, -(acc * 1.7), -(k as f64 / n as f64) * 0.1] {
                    let back: (usize, f64) = serde_json::from_str(&to_json(&(3usize, s)).unwrap()).unwrap();
                    if back.1.to_bits() != s.to_bits() {
                        bad.push(s);
                    }
                }
            }
        }
        assert!(bad.is_empty(), "{} scores changed, e.g. {:?}", bad.len(), &bad[..bad.len().min(5)]);
    }
}
