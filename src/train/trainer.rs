//! The training loop (Keras `model.fit`): shuffled mini-batches, optional on-the-fly
//! augmentation, validation each epoch, early stopping that keeps the best weights, and a
//! checkpoint written atomically after every epoch so `resume` continues exactly.
//!
//! Reproducibility: every random draw derives from `seed` without hidden state: the
//! validation split from `seed`, the epoch's shuffle from `(seed, epoch)`, augmentation from
//! `(seed, epoch, image)`, dropout from `(seed, epoch, batch)`. The ops reduce over the batch in
//! a fixed order, so a run gives the same weights on any number of threads, and a resumed run
//! the same weights as an uninterrupted one.

use super::checkpoint::{save_model, ModelMeta};
use super::eval::evaluate;
use super::safetensors;
use crate::autograd::Graph;
use crate::data::{make_batch, split_validation, Augment, Dataset, NormKind, Normalization};
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::nn::{Ctx, ModelSpec, Module, Sequential};
use crate::ops;
use crate::optim::{OptimConfig, Optimizer};
use crate::tensor::{Rng, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// What early stopping watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    ValAccuracy,
    ValLoss,
}

/// Settings of a training run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: OptimConfig,
    /// Fraction of the training data held out for validation when no validation set is given.
    pub val_split: f32,
    /// Stop after this many epochs without improvement of `monitor` (None = never).
    pub patience: Option<usize>,
    pub monitor: Monitor,
    pub augment: Augment,
    pub normalization: NormKind,
    pub seed: u64,
}

impl TrainConfig {
    /// Checks the settings a run cannot work with (the CLI's flags and a checkpoint's state).
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::invalid("train", msg));
        if self.batch_size == 0 || self.epochs == 0 {
            return bad("batch size and epochs must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.val_split) {
            return bad(format!("validation split {} is outside [0, 1)", self.val_split));
        }
        let o = &self.optimizer;
        let ok = |v: f32, positive: bool| v.is_finite() && (v > 0.0 || (!positive && v == 0.0));
        if !(ok(o.lr, true) && ok(o.decay, false) && ok(o.weight_decay, false)) {
            return bad(format!("learning rate {} must be > 0, decay {} and weight decay {} finite and >= 0", o.lr, o.decay, o.weight_decay));
        }
        Ok(())
    }
}

/// Checks that `ds` fits a model for `input` ([C, H, W]) and `classes`: same image size, at
/// least one image, labels below the class count. `what` names the data in the error.
pub fn check_data(ds: &Dataset, input: &[usize], classes: usize, what: &str) -> Result<()> {
    if ds.is_empty() {
        return Err(Error::invalid("data", format!("{what}: no images")));
    }
    let got = [ds.channels, ds.height, ds.width];
    if got != input {
        return Err(Error::Shape { op: "data", lhs: input.to_vec(), rhs: got.to_vec(), detail: format!("{what}: images [C, H, W] differ from the model's") });
    }
    if let Some(&max) = ds.labels.as_ref().and_then(|l| l.iter().max()) {
        if max as usize >= classes {
            return Err(Error::invalid("data", format!("{what}: label {max} is not one of the model's {classes} classes")));
        }
    }
    Ok(())
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 128,
            optimizer: OptimConfig::named("adam").expect("adam exists"),
            val_split: 0.1,
            patience: None,
            monitor: Monitor::ValAccuracy,
            augment: Augment::default(),
            normalization: NormKind::Scale255,
            seed: 42,
        }
    }
}

/// One row of the history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f32,
    pub train_acc: f32,
    pub val_loss: Option<f32>,
    pub val_acc: Option<f32>,
    pub lr: f32,
    pub seconds: f32,
}

/// Progress reported to the caller (the CLI draws a progress bar from these).
pub enum Event<'a> {
    EpochStart { epoch: usize, epochs: usize, batches: usize },
    Batch { batch: usize, batches: usize, loss: f32, acc: f32 },
    EpochEnd(&'a EpochRecord),
    EarlyStop { epoch: usize, best_epoch: usize },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct TrainState {
    config: TrainConfig,
    meta: ModelMeta,
    optimizer: Optimizer,
    history: Vec<EpochRecord>,
    /// Epochs completed.
    epoch: usize,
    best: Option<(usize, f64)>,
    wait: usize,
    stopped: bool,
    /// Images used for training (indices into the data given to `fit`) and validation.
    n_data: usize,
}

/// A model being trained, with everything needed to continue.
pub struct Trainer {
    pub model: Sequential,
    state: TrainState,
    best_weights: Option<Vec<(String, Tensor)>>,
}

const STATE_KEY: &str = "pupil.train_state";

fn score(m: Monitor, loss: f32, acc: f32) -> f64 {
    match m {
        Monitor::ValAccuracy => acc as f64,
        Monitor::ValLoss => -(loss as f64),
    }
}

impl Trainer {
    /// A fresh model for `spec` on the training data's shape and classes.
    pub fn new(spec: &ModelSpec, train: &Dataset, config: TrainConfig) -> Result<Self> {
        config.validate()?;
        if train.is_empty() {
            return Err(Error::invalid("train", "the training data has no images"));
        }
        if train.labels.is_none() {
            return Err(Error::invalid("train", "the training data has no labels"));
        }
        let input = vec![train.channels, train.height, train.width];
        let model = Sequential::build(spec, &input, config.seed)?;
        let out = model.output_shape();
        if out != [train.num_classes()] {
            return Err(Error::Shape {
                op: "train",
                lhs: out.to_vec(),
                rhs: vec![train.num_classes()],
                detail: "the model's output must have one value per class".into(),
            });
        }
        let (tr, _) = split_validation(train.len(), config.val_split, config.seed);
        let normalization = Normalization::fit(config.normalization, &train.subset(&tr));
        let meta = ModelMeta { spec: model.spec().clone(), input, class_names: train.class_names.clone(), normalization };
        let state = TrainState {
            optimizer: Optimizer::new(config.optimizer.clone()),
            config,
            meta,
            history: vec![],
            epoch: 0,
            best: None,
            wait: 0,
            stopped: false,
            n_data: train.len(),
        };
        Ok(Trainer { model, state, best_weights: None })
    }

    /// Continues the run saved in `dir/checkpoint.safetensors`; `epochs` may raise the total.
    pub fn resume(dir: &Path, epochs: Option<usize>) -> Result<Self> {
        let path = dir.join("checkpoint.safetensors");
        let (tensors, md) = safetensors::load(&path)?;
        let json = md.get(STATE_KEY).ok_or_else(|| Error::parse(&path, 0, STATE_KEY, "no training state in this checkpoint"))?;
        let mut state: TrainState = serde_json::from_str(json).map_err(|e| Error::parse(&path, 0, STATE_KEY, e.to_string()))?;
        if let Some(e) = epochs {
            state.config.epochs = e;
        }
        state.config.validate().map_err(|e| Error::parse(&path, 0, STATE_KEY, e.to_string()))?;
        let mut model = Sequential::build(&state.meta.spec, &state.meta.input, state.config.seed)?;
        let current: HashMap<String, Tensor> = tensors.iter().filter_map(|(k, v)| k.strip_prefix("current.").map(|k| (k.to_string(), v.clone()))).collect();
        model.load_named(&current).map_err(|e| Error::parse(&path, 0, "weights", e.to_string()))?;
        let mut best: Vec<(String, Tensor)> = tensors.iter().filter_map(|(k, v)| k.strip_prefix("best.").map(|k| (k.to_string(), v.clone()))).collect();
        best.sort_by(|a, b| a.0.cmp(&b.0));
        let n_params = model.params().len();
        let slots: Vec<Vec<Vec<f32>>> = (0..n_params)
            .map(|i| {
                let mut s = vec![];
                while let Some(t) = tensors.get(&format!("optim.{i}.{}", s.len())) {
                    s.push(t.data().to_vec());
                }
                s
            })
            .collect();
        state.optimizer.state = if slots.iter().all(|s| s.is_empty()) { vec![] } else { slots };
        let params = model.params();
        let fits = |(p, s): (&&crate::autograd::Param, &Vec<Vec<f32>>)| s.len() == state.optimizer.config_slots() && s.iter().all(|v| v.len() == p.len());
        if !state.optimizer.state.is_empty() && !params.iter().zip(&state.optimizer.state).all(fits) {
            return Err(Error::parse(&path, 0, "optim", "the optimiser state does not fit the model's parameters"));
        }
        Ok(Trainer { model, state, best_weights: (!best.is_empty()).then_some(best) })
    }

    /// The history so far.
    pub fn history(&self) -> &[EpochRecord] {
        &self.state.history
    }
    /// Model metadata (architecture, classes, normalisation).
    pub fn meta(&self) -> &ModelMeta {
        &self.state.meta
    }
    /// The run's settings.
    pub fn config(&self) -> &TrainConfig {
        &self.state.config
    }
    /// True if early stopping ended the run.
    pub fn stopped(&self) -> bool {
        self.state.stopped
    }
    /// Epoch (1-based) with the best validation score, if validated.
    pub fn best_epoch(&self) -> Option<usize> {
        self.state.best.map(|b| b.0)
    }

    /// Trains until `epochs` or early stopping. Validation uses `val` if given (then all of
    /// `train` is trained on), else the held-out `val_split` of `train`. With `out`, the checkpoint and best model are written
    /// there after every epoch. At the end the model holds the best weights (if validated).
    pub fn fit(&mut self, train: &Dataset, val: Option<&Dataset>, out: Option<&Path>, on_event: &mut dyn FnMut(Event)) -> Result<()> {
        if train.len() != self.state.n_data {
            return Err(Error::invalid("train", format!("resuming with {} images, but the run was started with {}", train.len(), self.state.n_data)));
        }
        let classes = self.state.meta.class_names.len();
        check_data(train, &self.state.meta.input, classes, "training data")?;
        if let Some(v) = val {
            check_data(v, &self.state.meta.input, classes, "validation data")?;
            if v.labels.is_none() {
                return Err(Error::invalid("train", "the validation data has no labels"));
            }
        }
        let cfg = self.state.config.clone();
        // with a separate validation set every training image is used for training
        let (tr_idx, va_idx) = if val.is_some() { ((0..train.len()).collect(), vec![]) } else { split_validation(train.len(), cfg.val_split, cfg.seed) };
        let held_out;
        let val = match val {
            Some(v) => Some(v),
            None if !va_idx.is_empty() => {
                held_out = train.subset(&va_idx);
                Some(&held_out)
            }
            None => None,
        };
        if tr_idx.is_empty() {
            return Err(Error::invalid("train", "no training images left after the validation split"));
        }
        let base = Rng::new(cfg.seed);
        let norm = self.state.meta.normalization.clone();
        let bs = cfg.batch_size;
        while self.state.epoch < cfg.epochs && !self.state.stopped {
            let epoch = self.state.epoch + 1;
            let t0 = std::time::Instant::now();
            let mut order = tr_idx.clone();
            base.fork(epoch as u64).shuffle(&mut order);
            let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
            // a last batch of a single image is merged into the one before: batch norm cannot
            // take statistics over one value, and the step would be noise anyway
            let mut chunks: Vec<&[usize]> = order.chunks(bs).collect();
            if chunks.len() > 1 && chunks.last().is_some_and(|c| c.len() == 1) {
                chunks.pop();
                let n = chunks.len();
                let start = (n - 1) * bs;
                chunks[n - 1] = &order[start..];
            }
            let batches = chunks.len();
            on_event(Event::EpochStart { epoch, epochs: cfg.epochs, batches });
            for (b, chunk) in chunks.into_iter().enumerate() {
                let aug = (!cfg.augment.is_identity()).then_some((&cfg.augment, &base, epoch as u64));
                let (x, y) = make_batch(train, chunk, &norm, aug)?;
                let mut rng = base.fork(((epoch as u64) << 32) | (b as u64 + 1));
                let (loss, acc) = self.step(x, &y, &mut rng)?;
                if !loss.is_finite() {
                    let kept = match out {
                        Some(d) if self.state.epoch > 0 => format!("; the checkpoint of epoch {} in {} is intact", self.state.epoch, d.display()),
                        _ => String::new(),
                    };
                    return Err(Error::Run(format!("the loss became {loss} at epoch {epoch}, batch {}{kept}; try a lower --lr or normalised inputs", b + 1)));
                }
                loss_sum += loss as f64 * chunk.len() as f64;
                correct += (acc * chunk.len() as f32).round() as usize;
                seen += chunk.len();
                on_event(Event::Batch { batch: b + 1, batches, loss: (loss_sum / seen as f64) as f32, acc: correct as f32 / seen as f32 });
            }
            let (val_loss, val_acc) = match val {
                Some(v) => {
                    let e = evaluate(&self.model, v, &norm, 256)?;
                    (Some(e.loss as f32), Some(e.accuracy as f32))
                }
                None => (None, None),
            };
            let rec = EpochRecord {
                epoch,
                train_loss: (loss_sum / seen as f64) as f32,
                train_acc: correct as f32 / seen as f32,
                val_loss,
                val_acc,
                lr: self.state.optimizer.current_lr(),
                seconds: t0.elapsed().as_secs_f32(),
            };
            self.state.epoch = epoch;
            if let (Some(l), Some(a)) = (val_loss, val_acc) {
                let s = score(cfg.monitor, l, a);
                if self.state.best.is_none_or(|(_, b)| s > b) {
                    self.state.best = Some((epoch, s));
                    self.state.wait = 0;
                    self.best_weights = Some(self.model.named_tensors());
                } else {
                    self.state.wait += 1;
                    if cfg.patience.is_some_and(|p| self.state.wait >= p) {
                        self.state.stopped = true;
                        on_event(Event::EarlyStop { epoch, best_epoch: self.state.best.map_or(epoch, |b| b.0) });
                    }
                }
            }
            self.state.history.push(rec);
            on_event(Event::EpochEnd(self.state.history.last().expect("pushed")));
            if let Some(dir) = out {
                self.save(dir)?;
            }
        }
        self.restore_best()?;
        Ok(())
    }

    /// One optimisation step on a batch; returns (loss, accuracy) of the batch.
    pub fn step(&mut self, x: Tensor, y: &[usize], rng: &mut Rng) -> Result<(f32, f32)> {
        let g = Graph::new();
        let logits = self.model.forward_logits_mut(&g.constant(x), &mut Ctx::new(rng))?;
        let loss = ops::cross_entropy(&logits, y)?;
        let grads = loss.backward()?;
        let mut loss_v = loss.value().item()?;
        let acc = logits.value().argmax_rows()?.iter().zip(y).filter(|(a, b)| a == b).count() as f32 / y.len().max(1) as f32;
        let mut gs: Vec<Tensor> = self.model.params().iter().map(|p| grads.param(p).cloned().unwrap_or_else(|| Tensor::zeros(p.value.shape()))).collect();
        // L2 penalties λ Σ w² (Keras kernel_regularizer): loss += λ Σ w², gradient += 2 λ w
        let l2: HashMap<String, f32> = self.model.l2().into_iter().map(|(p, l)| (p.name.clone(), l)).collect();
        if !l2.is_empty() {
            for (p, gr) in self.model.params().iter().zip(gs.iter_mut()) {
                if let Some(&lam) = l2.get(&p.name) {
                    loss_v += lam * p.value.data().iter().map(|w| w * w).sum::<f32>();
                    for (gv, w) in gr.data_mut().iter_mut().zip(p.value.data()) {
                        *gv += 2.0 * lam * w;
                    }
                }
            }
        }
        drop(grads);
        self.state.optimizer.step(&mut self.model.params_mut(), &gs)?;
        Ok((loss_v, acc))
    }

    fn restore_best(&mut self) -> Result<()> {
        if let Some(best) = &self.best_weights {
            let map: HashMap<String, Tensor> = best.iter().cloned().collect();
            self.model.load_named(&map)?;
        }
        Ok(())
    }

    /// Writes `dir/checkpoint.safetensors` (current weights, optimiser state, best weights and
    /// the training state as JSON metadata), `dir/model.safetensors` + `model.json` (the best
    /// weights so far, or the current ones without validation) and `dir/history.csv`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut tensors: Vec<(String, Tensor)> = self.model.named_tensors().into_iter().map(|(k, v)| (format!("current.{k}"), v)).collect();
        for (i, slots) in self.state.optimizer.state.iter().enumerate() {
            for (s, v) in slots.iter().enumerate() {
                tensors.push((format!("optim.{i}.{s}"), Tensor::from_vec(v.clone(), &[v.len()])?));
            }
        }
        if let Some(b) = &self.best_weights {
            tensors.extend(b.iter().map(|(k, v)| (format!("best.{k}"), v.clone())));
        }
        let json = serde_json::to_string(&self.state).map_err(|e| Error::Run(format!("serialising the training state: {e}")))?;
        let mut md = BTreeMap::new();
        md.insert(STATE_KEY.to_string(), json);
        safetensors::save(&dir.join("checkpoint.safetensors"), &tensors, &md)?;
        match &self.best_weights {
            Some(b) => {
                let mut m = Sequential::build(&self.state.meta.spec, &self.state.meta.input, 0)?;
                m.load_named(&b.iter().cloned().collect())?;
                save_model(dir, &m, &self.state.meta)?;
            }
            None => save_model(dir, &self.model, &self.state.meta)?,
        }
        write_atomic(&dir.join("history.csv"), history_csv(&self.state.history).as_bytes())
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
