//! The training loop (Keras `model.fit`): shuffled mini-batches, optional on-the-fly
//! augmentation, validation each epoch, early stopping that keeps the best weights. The loop
//! knows no files: after every epoch it hands itself to an [`EpochSink`] (the run directory,
//! which writes the checkpoint, the model and the history), and [`Trainer::from_parts`]
//! rebuilds it from what a sink saved, so a resumed run continues exactly.
//!
//! Reproducibility: every random draw derives from `seed` without hidden state: the
//! validation split from `seed`, the epoch's shuffle from `(seed, epoch)`, augmentation from
//! `(seed, epoch, image)`, dropout from `(seed, epoch, batch)`. The ops reduce over the batch in
//! a fixed order, so a run gives the same weights on any number of threads, and a resumed run
//! the same weights as an uninterrupted one.

use super::check::check_data;
use super::config::TrainConfig;
use super::eval::evaluate_with;
use super::meta::ModelMeta;
use super::Monitor;
use crate::autograd::{Graph, ParamId};
use crate::data::{make_batch, Dataset, Normalization};
use crate::error::{Error, Result};
use crate::nn::{Ctx, ModelSpec, Module, Sequential};
use crate::ops;
use crate::optim::{OptimRecord, Optimizer, ScheduleState};
use crate::tensor::{Rng, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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

/// The first name (in sorted order) of a tensor holding a NaN or an infinity, if any.
pub fn first_non_finite<'a>(tensors: impl IntoIterator<Item = (&'a String, &'a Tensor)>) -> Option<&'a str> {
    tensors.into_iter().filter(|(_, t)| t.data().iter().any(|v| !v.is_finite())).map(|(k, _)| k.as_str()).min()
}

/// Progress reported to the caller (the CLI draws progress bars from these). An epoch sends
/// `EpochStart`, a `Batch` after every training batch, when validated a `Validating` after
/// every validation batch (`done` of the `total` validation images evaluated, the last with
/// `done == total`), then `EpochEnd`.
pub enum Event<'a> {
    EpochStart { epoch: usize, epochs: usize, batches: usize },
    Batch { batch: usize, batches: usize, loss: f32, acc: f32 },
    Validating { epoch: usize, done: usize, total: usize },
    EpochEnd(&'a EpochRecord),
    EarlyStop { epoch: usize, best_epoch: usize },
}

/// Where [`Trainer::fit`] hands the trainer after every epoch (to save it). `()` keeps
/// nothing.
pub trait EpochSink {
    /// Called after each epoch, with the state to keep.
    fn epoch_end(&mut self, trainer: &Trainer) -> Result<()>;
    /// Where the saved epochs are (named in the error when training diverges), if anywhere.
    fn saved_in(&self) -> Option<String> {
        None
    }
}

impl EpochSink for () {
    fn epoch_end(&mut self, _: &Trainer) -> Result<()> {
        Ok(())
    }
}

/// The training state besides the weights and the optimiser's own state: what a checkpoint
/// stores as JSON. The optimiser's settings are in `config` (their one copy).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainState {
    pub config: TrainConfig,
    pub meta: ModelMeta,
    pub history: Vec<EpochRecord>,
    /// Epochs completed.
    pub epoch: usize,
    /// Best epoch (1-based) and its score (higher is better).
    pub best: Option<(usize, f64)>,
    /// Epochs since the best one.
    pub wait: usize,
    /// Early stopping ended the run.
    pub stopped: bool,
    /// Number of images in the training data given to `fit` (validation split included).
    pub n_data: usize,
    /// Fingerprints of the data of the first `fit` (None before it, and in older checkpoints):
    /// a resumed run refuses other data.
    #[serde(default)]
    pub data: Option<DataFingerprint>,
    /// The class weights of the training loss, resolved from `config.class_weight` on the
    /// training part of the data when the run started (None: unweighted).
    #[serde(default)]
    pub class_weights: Option<Vec<f32>>,
    /// What the learning-rate schedule carries between epochs.
    #[serde(default)]
    pub schedule: ScheduleState,
}

/// [`fingerprint`]s of a run's training data (as given, validation split included) and of its
/// validation data (separate or held out).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFingerprint {
    pub train: String,
    pub validation: Option<String>,
}

/// A fingerprint of a data set: 64-bit FNV-1a over its image size, count, pixels and labels,
/// as 16 hex digits. Equal data give equal fingerprints; any changed pixel or label changes it
/// (up to hash collisions, about 2^-64).
pub fn fingerprint(ds: &Dataset) -> String {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ b as u64).wrapping_mul(PRIME);
        }
    };
    for d in [ds.channels, ds.height, ds.width, ds.len()] {
        eat(&(d as u64).to_le_bytes());
    }
    eat(&ds.pixels);
    match &ds.labels {
        Some(l) => {
            eat(&[1]);
            eat(l);
        }
        None => eat(&[0]),
    }
    format!("{h:016x}")
}

/// A model being trained, with everything needed to continue.
pub struct Trainer {
    pub model: Sequential,
    state: TrainState,
    optimizer: Optimizer,
    best_weights: Option<Vec<(String, Tensor)>>,
}

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
        if config.batch_size == 1 && spec.layers.iter().any(|l| matches!(l, crate::nn::LayerSpec::BatchNorm { .. })) {
            return Err(Error::invalid("--batch", "batch norm takes statistics over a batch and needs at least 2 images: give --batch 2 or more"));
        }
        let input = vec![train.channels, train.height, train.width];
        crate::nn::check_step_memory(spec, &input, config.batch_size.min(train.len()), config.optimizer.state_slots())?;
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
        let (tr, _) = config.holdout(train);
        // the images the model trains on; a copy only when some are held out (a copy of all
        // of them in the same order would give the same statistics, at the data's size again)
        let held;
        let train_part = if tr.iter().copied().eq(0..train.len()) {
            train
        } else {
            held = train.subset(&tr);
            &held
        };
        let normalization = Normalization::fit(config.normalization, train_part);
        let class_weights = config.class_weight.resolve(&train_part.class_counts(), &train.class_names)?;
        let meta = ModelMeta { spec: model.spec().clone(), input, class_names: train.class_names.clone(), normalization };
        let optimizer = Optimizer::new(config.optimizer.clone());
        let state = TrainState {
            config,
            meta,
            history: vec![],
            epoch: 0,
            best: None,
            wait: 0,
            stopped: false,
            n_data: train.len(),
            data: None,
            class_weights,
            schedule: ScheduleState::default(),
        };
        Ok(Trainer { model, state, optimizer, best_weights: None })
    }

    /// A trainer from saved parts: the training state, the current weights, the optimiser's
    /// record (restored into an optimiser built from `state.config.optimizer`) and the best
    /// weights. Each part is checked against the model: an error names the part.
    pub fn from_parts(state: TrainState, current: &HashMap<String, Tensor>, optimizer: OptimRecord, best: Option<Vec<(String, Tensor)>>) -> Result<Self> {
        state.config.validate()?;
        let mut model = Sequential::build(&state.meta.spec, &state.meta.input, state.config.seed)?;
        if model.output_shape() != [state.meta.class_names.len()] {
            return Err(Error::invalid("model", format!("{} class names for a model with output {:?}", state.meta.class_names.len(), model.output_shape())));
        }
        model.load_named(current)?;
        if let Some(b) = &best {
            let expected: HashMap<String, Vec<usize>> = model.named_tensors().into_iter().map(|(k, v)| (k, v.shape().to_vec())).collect();
            let fits = b.len() == expected.len() && b.iter().all(|(k, v)| expected.get(k).is_some_and(|s| s == v.shape()));
            if !fits {
                return Err(Error::invalid("best weights", "the best weights do not fit the model's tensors"));
            }
        }
        if let Some(w) = &state.class_weights {
            if w.len() != state.meta.class_names.len() {
                return Err(Error::invalid("class weights", format!("{} class weights for {} classes", w.len(), state.meta.class_names.len())));
            }
        }
        let mut opt = Optimizer::new(state.config.optimizer.clone());
        opt.load_state_dict(optimizer, &model.params())?;
        Ok(Trainer { model, state, optimizer: opt, best_weights: best })
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
    /// The training state (what a checkpoint stores besides tensors).
    pub fn state(&self) -> &TrainState {
        &self.state
    }
    /// The optimiser (its state is saved with [`Optimizer::state_dict`]).
    pub fn optimizer(&self) -> &Optimizer {
        &self.optimizer
    }
    /// The weights of the best epoch so far, by name, if validated.
    pub fn best_weights(&self) -> Option<&[(String, Tensor)]> {
        self.best_weights.as_deref()
    }
    /// True if early stopping ended the run.
    pub fn stopped(&self) -> bool {
        self.state.stopped
    }
    /// True if the run has nothing left to do: all its epochs, or stopped early.
    pub fn finished(&self) -> bool {
        self.state.epoch >= self.state.config.epochs || self.state.stopped
    }
    /// True if the run was validated on a separate data set (not a split of its training data).
    pub fn validated_on_separate_data(&self) -> bool {
        self.state.config.val_split == 0.0 && self.state.history.iter().any(|r| r.val_acc.is_some())
    }
    /// Epoch (1-based) with the best validation score, if validated.
    pub fn best_epoch(&self) -> Option<usize> {
        self.state.best.map(|b| b.0)
    }

    /// Trains until `epochs` or early stopping. Validation uses `val` if given (then the
    /// configuration holds nothing out: `val_split` must be 0), else the held-out `val_split` of
    /// `train` ([`TrainConfig::holdout`]). After every epoch the trainer is handed to `sink`.
    /// At the end the model holds the best weights (if validated).
    pub fn fit(&mut self, train: &Dataset, val: Option<&Dataset>, sink: &mut dyn EpochSink, on_event: &mut dyn FnMut(Event)) -> Result<()> {
        if train.len() != self.state.n_data {
            return Err(Error::invalid("train", format!("resuming with {} images, but the run was started with {}", train.len(), self.state.n_data)));
        }
        let classes = self.state.meta.class_names.len();
        check_data(train, &self.state.meta.input, classes, "training data")?;
        let cfg = self.state.config.clone();
        if let Some(v) = val {
            check_data(v, &self.state.meta.input, classes, "validation data")?;
            if v.labels.is_none() {
                return Err(Error::invalid("train", "the validation data has no labels"));
            }
            if cfg.val_split > 0.0 {
                return Err(Error::invalid("train", format!("validation data given while val_split {} holds out training images: use one", cfg.val_split)));
            }
        }
        let (tr_idx, va_idx) = cfg.holdout(train);
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
        let fp = DataFingerprint { train: fingerprint(train), validation: val.map(fingerprint) };
        match &self.state.data {
            None => self.state.data = Some(fp),
            Some(was) => {
                let differs = |what: &str, now: &str, then: &str| {
                    Error::invalid(
                        "--resume",
                        format!("the {what} is not the run's: same size, other images or labels (fingerprint {now}, the run's {then}); give the same data"),
                    )
                };
                if was.train != fp.train {
                    return Err(differs("training data", &fp.train, &was.train));
                }
                if let (Some(then), Some(now)) = (&was.validation, &fp.validation) {
                    if then != now {
                        return Err(differs("validation data", now, then));
                    }
                }
            }
        }
        let base = Rng::new(cfg.seed);
        let norm = self.state.meta.normalization.clone();
        let bs = cfg.batch_size;
        while self.state.epoch < cfg.epochs && !self.state.stopped {
            let epoch = self.state.epoch + 1;
            let t0 = std::time::Instant::now();
            // the schedule's rate for this epoch; the history records the rate of its first step
            self.optimizer.set_lr(cfg.schedule.lr(cfg.optimizer.lr, self.state.epoch, &self.state.schedule));
            let epoch_lr = self.optimizer.current_lr();
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
                    let kept = self.kept(sink);
                    return Err(Error::Run(format!("the loss became {loss} at epoch {epoch}, batch {}{kept}; try a lower --lr or normalised inputs", b + 1)));
                }
                loss_sum += loss as f64 * chunk.len() as f64;
                correct += (acc * chunk.len() as f32).round() as usize;
                seen += chunk.len();
                on_event(Event::Batch { batch: b + 1, batches, loss: (loss_sum / seen as f64) as f32, acc: correct as f32 / seen as f32 });
            }
            let (val_loss, val_acc) = match val {
                Some(v) => {
                    // at the training batch size, so inference reuses the step's pooled buffers
                    let e = evaluate_with(&self.model, v, &norm, bs, &mut |done, total| on_event(Event::Validating { epoch, done, total }))?;
                    (Some(e.loss as f32), Some(e.accuracy as f32))
                }
                None => (None, None),
            };
            // an epoch whose weights or validation loss are not finite is never saved: the
            // last checkpoint stays the last good one
            let ruined =
                first_non_finite(self.model.named_tensors().iter().map(|(k, t)| (k, t))).map(|k| format!("the weight tensor {k} holds NaN or infinite values"));
            if let Some(what) = ruined.or_else(|| val_loss.filter(|l| !l.is_finite()).map(|l| format!("the validation loss is {l}"))) {
                let kept = self.kept(sink);
                return Err(Error::Run(format!(
                    "at the end of epoch {epoch} {what}; epoch {epoch} was not saved{kept}; try a lower --lr or normalised inputs"
                )));
            }
            let rec = EpochRecord {
                epoch,
                train_loss: (loss_sum / seen as f64) as f32,
                train_acc: correct as f32 / seen as f32,
                val_loss,
                val_acc,
                lr: epoch_lr,
                seconds: t0.elapsed().as_secs_f32(),
            };
            self.state.epoch = epoch;
            let val_score = val_loss.zip(val_acc).map(|(l, a)| score(cfg.monitor, l, a));
            cfg.schedule.epoch_end(cfg.optimizer.lr, val_score, &mut self.state.schedule);
            if let Some(s) = val_score {
                if self.state.best.is_none_or(|(_, b)| s > b) {
                    self.state.best = Some((epoch, s));
                    self.state.wait = 0;
                    // the weights' storage is shared until the next update copies it: what the
                    // validation pass derived from it (dense weights packed, filter transforms)
                    // must not stay with the best weights for as long as this epoch stays the best
                    let best = self.model.named_tensors();
                    best.iter().for_each(|(_, t)| t.forget_derived());
                    self.best_weights = Some(best);
                } else {
                    self.state.wait += 1;
                    if cfg.patience.is_some_and(|p| self.state.wait >= p) {
                        self.state.stopped = true;
                    }
                }
            }
            self.state.history.push(rec);
            on_event(Event::EpochEnd(self.state.history.last().expect("pushed")));
            // after the epoch's own line
            if self.state.stopped {
                on_event(Event::EarlyStop { epoch, best_epoch: self.state.best.map_or(epoch, |b| b.0) });
            }
            sink.epoch_end(self)?;
        }
        self.restore_best()?;
        Ok(())
    }

    /// One optimisation step on a batch; returns (loss, accuracy) of the batch. The loss is
    /// the cross-entropy of the logits (class-weighted with the run's class weights,
    /// [`ops::weighted_cross_entropy`]) plus, for every parameter with a Keras-style L2 factor
    /// λ, the penalty `λ Σ w²` ([`ops::l2_penalty`], on the tape, so its gradient `2 λ w` comes
    /// from the same backward pass). Each parameter is updated during the backward pass, as
    /// soon as its gradient is complete: an error inside an op's backward (a bug, not bad
    /// input) can leave the step half done.
    pub fn step(&mut self, x: Tensor, y: &[usize], rng: &mut Rng) -> Result<(f32, f32)> {
        self.step_in(&Graph::new(), x, y, rng)
    }

    /// [`Trainer::step`] recorded on `g` (a [`Graph::profiled`] one says where the step's time
    /// went; see [`super::profile_model`]).
    pub fn step_in(&mut self, g: &Graph, x: Tensor, y: &[usize], rng: &mut Rng) -> Result<(f32, f32)> {
        let logits = self.model.forward_logits_mut(&g.constant(x), &mut Ctx::new(rng))?;
        g.scope("loss");
        let mut loss = match &self.state.class_weights {
            Some(w) => ops::weighted_cross_entropy(&logits, y, w)?,
            None => ops::cross_entropy(&logits, y)?,
        };
        for (p, lambda) in self.model.l2() {
            loss = ops::add(&loss, &ops::l2_penalty(&g.param(p), lambda)?)?;
        }
        let loss_v = loss.value().item()?;
        let acc = logits.value().argmax_rows()?.iter().zip(y).filter(|(a, b)| a == b).count() as f32 / y.len().max(1) as f32;
        // Each parameter is updated as soon as the backward pass has its whole gradient (the
        // same bits as updating them all afterwards: the updates are independent), and the
        // walk drops each op's saved values once it has run: the layers already walked give
        // their activations back during the pass (a lower peak), and no closure still holds a
        // weight when it is updated (which would make the update copy it first).
        let mut params = self.model.params_mut();
        let ids: Vec<ParamId> = params.iter().map(|p| p.id()).collect();
        let update = self.optimizer.start_step(params.iter().map(|p| &**p))?;
        let mut updated = vec![false; params.len()];
        let optimizer = &mut self.optimizer;
        loss.backward_to_params(&ids, |i, grad| {
            updated[i] = true;
            optimizer.update_param(&update, i, params[i], &grad)
        })?;
        // closures the walk never reached could still hold a weight: drop them first
        g.release();
        // a parameter the loss does not reach takes a zero gradient (Adam still moves it)
        for (i, p) in params.iter_mut().enumerate().filter(|(i, _)| !updated[*i]) {
            let zero = Tensor::zeros(p.value.shape());
            optimizer.update_param(&update, i, p, &zero)?;
        }
        Ok((loss_v, acc))
    }

    /// "; the checkpoint of epoch N in DIR is intact" when the sink saved an epoch (every
    /// saved epoch has finite weights and validation loss), else "".
    fn kept(&self, sink: &dyn EpochSink) -> String {
        match sink.saved_in() {
            Some(d) if self.state.epoch > 0 => format!("; the checkpoint of epoch {} in {d} is intact", self.state.epoch),
            _ => String::new(),
        }
    }

    fn restore_best(&mut self) -> Result<()> {
        if let Some(best) = &self.best_weights {
            let map: HashMap<String, Tensor> = best.iter().cloned().collect();
            self.model.load_named(&map)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{embedded_sample, Split};

    /// A step updates each parameter during the backward pass; the weights and the optimiser's
    /// moments come out as a whole backward followed by one `Optimizer::step` leaves them,
    /// bit for bit, over two steps (Adam's moments and bias corrections in play), with an L2
    /// penalty on the tape (the conv weight's gradient summed over two uses).
    #[test]
    fn a_step_updates_as_backward_then_one_optimizer_step_would() {
        let spec =
            ModelSpec::parse_named("conv 8 3x3 same relu l2=0.01\nmaxpool 2\nflatten\ndense 16 relu\ndense 10\n", std::path::Path::new("s.txt")).unwrap();
        let data = embedded_sample(Split::Training).unwrap().subset(&(0..32).collect::<Vec<_>>());
        let mut cfg = TrainConfig { epochs: 1, batch_size: 16, ..TrainConfig::default() };
        (cfg.optimizer.decay, cfg.optimizer.weight_decay) = (0.37, 0.05);
        let (mut fused, mut reference) = (Trainer::new(&spec, &data, cfg.clone()).unwrap(), Trainer::new(&spec, &data, cfg).unwrap());
        let y: Vec<usize> = (0..16).map(|i| i % 10).collect();
        for step in 0..2u64 {
            let x = Tensor::rand_normal(&[16, 1, 28, 28], 0.0, 1.0, step);
            fused.step(x.clone(), &y, &mut Rng::new(step)).unwrap();
            let r = &mut reference;
            let g = Graph::new();
            let logits = r.model.forward_logits_mut(&g.constant(x), &mut Ctx::new(&mut Rng::new(step))).unwrap();
            let mut loss = ops::cross_entropy(&logits, &y).unwrap();
            for (p, lambda) in r.model.l2() {
                loss = ops::add(&loss, &ops::l2_penalty(&g.param(p), lambda).unwrap()).unwrap();
            }
            let grads = loss.backward().unwrap();
            let gs: Vec<Tensor> = r.model.params().iter().map(|p| grads.param(p).cloned().unwrap()).collect();
            drop(grads);
            g.release();
            r.optimizer.step(&mut r.model.params_mut(), &gs).unwrap();
        }
        let (a, b) = (fused.model.named_tensors(), reference.model.named_tensors());
        assert_eq!(a.len(), b.len());
        for ((na, ta), (nb, tb)) in a.iter().zip(&b) {
            assert_eq!(na, nb);
            assert!(ta.data().iter().zip(tb.data()).all(|(x, y)| x.to_bits() == y.to_bits()), "{na} differs");
        }
        let moments =
            |t: &Trainer| t.optimizer.state().flat_map(|(_, st)| st.moments().into_iter().flat_map(|(_, m)| m.to_vec())).map(f32::to_bits).collect::<Vec<_>>();
        assert_eq!(moments(&fused), moments(&reference));
        assert_eq!((fused.optimizer.steps(), moments(&fused).len()), (2, 2 * fused.model.params().iter().map(|p| p.len()).sum::<usize>()));
    }

    /// The best epoch's weights share the live storage but not what the validation pass kept
    /// with it: the Winograd filter transforms of its frozen weights are forgotten when the
    /// snapshot is taken, so they are not held for as long as that epoch stays the best.
    #[test]
    fn best_weights_keep_no_filter_transforms() {
        let spec = ModelSpec::parse_named("conv 16 3x3 same relu\nconv 16 3x3 same relu\nflatten\ndense 10\n", std::path::Path::new("wino.txt")).unwrap();
        let data = embedded_sample(Split::Training).unwrap().subset(&(0..64).collect::<Vec<_>>());
        let cfg = TrainConfig { epochs: 1, batch_size: 32, val_split: 0.5, ..TrainConfig::default() };
        let mut t = Trainer::new(&spec, &data, cfg).unwrap();
        t.fit(&data, None, &mut (), &mut |_| {}).unwrap();
        let best = t.best_weights().expect("the validated epoch is the best");
        let kept: Vec<(&str, usize)> = best.iter().map(|(n, w)| (n.as_str(), w.derived_count())).filter(|k| k.1 > 0).collect();
        assert!(kept.is_empty(), "the best weights keep derived values: {kept:?}");
        // the validation pass does keep them on the live weights (else the check above is empty)
        t.model.forward_logits(&Graph::no_grad().constant(Tensor::zeros(&[2, 1, 28, 28]))).unwrap();
        assert!(t.model.named_tensors().iter().any(|(_, w)| w.derived_count() > 0), "a frozen pass keeps the second conv's transforms");
    }
}
