//! The commands' work on run directories: training into one ([`TrainSession`], with the
//! policies of a new run and of `--resume`), evaluating and predicting with its model.

use super::{
    check_output, latest, new_run, write_confusion, ConfusionFiles, DataRef, HeldOut, RunDir, RunRecord, CHECKPOINT, CONFUSION_CSV, CONFUSION_PNG, CURVES,
    HISTORY, MODEL, MODEL_JSON, RECORD, RUNS_BASE, RUN_FILES,
};
use crate::data::{self, Dataset, LoadOptions, Split};
use crate::error::{Error, Result};
use crate::nn::resolve_model;
use crate::tensor::Tensor;
use crate::train::{check_data, check_labelled, evaluate, predict_tta, Confusion, Evaluation, Event, TrainConfig, Trainer, Tta};
use std::path::{Path, PathBuf};

/// What `pupil train` is asked to do.
#[derive(Clone, Debug)]
pub struct TrainPlan {
    /// The run directory; None: a new numbered run in [`RUNS_BASE`] (with `resume`: the
    /// latest run there).
    pub out: Option<PathBuf>,
    /// Continue the run in `out` instead of starting one.
    pub resume: bool,
    /// Replace the run in `out` (without it, an `out` holding a run is refused).
    pub overwrite: bool,
    /// A preset or spec file (for a new run).
    pub model: String,
    /// Total epochs: for a new run, replaces `config.epochs`; with `resume`, replaces the run's.
    pub epochs: Option<usize>,
    /// Settings of a new run (a resumed run keeps its own). `val_split` is ignored when
    /// `val_data` is given.
    pub config: TrainConfig,
    /// Training data (default: the embedded sample's training split).
    pub data: Option<PathBuf>,
    /// A separate validation set.
    pub val_data: Option<PathBuf>,
    /// Data evaluated at the end (default: the validation data).
    pub test_data: Option<PathBuf>,
    /// Names for the training data's classes (`--class-names`; default: the data's own).
    /// Refused for image folders, which name their classes by their folders.
    pub class_names: Option<Vec<String>>,
    /// The number of classes, the model's outputs (`--classes`; default: the data's). Every
    /// label must be below it; classes without examples are allowed ([`LoadOptions::classes`]).
    pub classes: Option<usize>,
}

/// Continues the run in `run`: refused when it is finished (all its epochs, or stopped early)
/// and when it was validated on a separate set that is not given again.
pub fn resume(run: &RunDir, epochs: Option<usize>, separate_validation: bool) -> Result<Trainer> {
    let t = run.load_trainer(epochs)?;
    let done = t.history().len();
    if epochs.is_some_and(|e| e < done) {
        return Err(Error::invalid(
            "--epochs",
            format!("the run in {} has done {done} epochs already: give --epochs above {done} to go on", run.path().display()),
        ));
    }
    if t.finished() {
        return Err(Error::invalid(
            "--resume",
            format!(
                "the run in {} is finished ({} of {} epochs{}); give a larger --epochs to go on",
                run.path().display(),
                t.history().len(),
                t.config().epochs,
                if t.stopped() { ", stopped early" } else { "" }
            ),
        ));
    }
    if t.validated_on_separate_data() && !separate_validation {
        return Err(Error::invalid("--resume", "this run was validated on a separate file: give the same --val-data again"));
    }
    Ok(t)
}

/// Refuses to continue the run in `run` on other data than its `run.json` records: the
/// training data (`train`) and a separate validation set (`val`) must be the same files (or
/// the embedded sample) and splits. Runs without a record are not checked.
pub fn check_same_data(run: &RunDir, train: &DataRef, val: Option<&DataRef>) -> Result<()> {
    let Some(rec) = run.record()? else {
        return Ok(());
    };
    if rec.train != train.absolute() {
        return Err(Error::invalid("--resume", format!("the run was trained on {}, not {}: give the same --data", rec.train.describe(), train.describe())));
    }
    if let (Some(was), Some(given)) = (rec.validation.as_ref().filter(|v| v.held_out.is_none()), val) {
        if *was != given.absolute() {
            return Err(Error::invalid("--resume", format!("the run was validated on {}, not {}: give the same --val-data", was.describe(), given.describe())));
        }
    }
    Ok(())
}

/// The run directory `out` of `pupil train --out`: not a file; holding a run only with
/// `resume` (continue it) or `overwrite` (replace it).
fn out_dir(out: &Path, resume: bool, overwrite: bool) -> Result<RunDir> {
    if out.exists() && !out.is_dir() {
        return Err(Error::invalid("--out", format!("{} is a file, not a run directory", out.display())));
    }
    let run = RunDir::new(out);
    if run.holds_run() && !resume && !overwrite {
        return Err(Error::invalid(
            "--out",
            format!("{} holds a run: give --resume to continue it, --overwrite to replace it, or another --out", out.display()),
        ));
    }
    Ok(run)
}

/// A training run being carried out: its data, trainer and directory.
pub struct TrainSession {
    pub trainer: Trainer,
    run: RunDir,
    train: (DataRef, Dataset),
    val: Option<(DataRef, Dataset)>,
    test: Option<(DataRef, Dataset)>,
    resumed_after: Option<usize>,
    overwrite: bool,
}

/// The final evaluation of a training run.
#[derive(Clone, Debug)]
pub struct FinalEvaluation {
    pub data: DataRef,
    pub images: usize,
    pub accuracy: f64,
    pub loss: f64,
    pub confusion: ConfusionFiles,
}

/// What [`TrainSession::fit`] did.
#[derive(Clone, Debug)]
pub struct TrainReport {
    pub seconds: f64,
    /// On the test data, else the validation data (None without either).
    pub evaluation: Option<FinalEvaluation>,
    /// The files of the run directory written.
    pub written: Vec<&'static str>,
}

impl TrainSession {
    /// Checks the plan, loads the data, and makes the trainer: a new one, or the run in
    /// `out` continued (see [`resume`]). Every setting is checked before any data is read.
    pub fn start(plan: &TrainPlan) -> Result<TrainSession> {
        let mut cfg = plan.config.clone();
        if plan.val_data.is_some() {
            cfg.val_split = 0.0;
        }
        if let Some(e) = plan.epochs {
            cfg.epochs = e;
        }
        cfg.validate_with(plan.val_data.is_some())?;
        if let Some(n) = plan.classes {
            data::classes::check_class_count(n)?;
            if let Some(names) = plan.class_names.as_ref().filter(|names| names.len() != n) {
                return Err(Error::invalid("--class-names", format!("{} names given for --classes {n}", names.len())));
            }
        }
        let train_ref = DataRef::given(plan.data.as_deref(), Split::Training);
        let run = match &plan.out {
            Some(out) => out_dir(out, plan.resume, plan.overwrite)?,
            None if plan.resume => RunDir::new(latest(Path::new(RUNS_BASE))?),
            // allocated below, once everything is checked
            None => RunDir::new(""),
        };
        if plan.resume && !run.has_checkpoint() {
            return Err(Error::parse(run.file(CHECKPOINT), 0, "--resume", "no checkpoint to resume from in this directory"));
        }
        // pictures are read at the model's size: the run's (resuming), the spec's `input` line,
        // else the first picture's
        let saved = if plan.resume { run.load_model().ok() } else { None };
        let input = match &saved {
            Some(m) => Some(m.meta.input.clone()),
            None if plan.resume => None,
            None => resolve_model(&plan.model, 1).ok().and_then(|s| s.input),
        };
        // a resumed run reads its data for its model's classes (which may lack examples)
        let classes = plan.classes.or(saved.as_ref().map(|m| m.meta.class_names.len()));
        let size = input.and_then(|i| match i[..] {
            [_, h, w] => Some((h, w)),
            _ => None,
        });
        let mut train = train_ref.load_with(&LoadOptions { size, class_names: None, classes })?;
        if let Some(names) = &plan.class_names {
            if plan.data.as_deref().is_some_and(crate::data::folder::is_image_tree) {
                return Err(Error::invalid(
                    "--class-names",
                    format!("{}: an image folder names its classes by its folders; rename the folders instead", train_ref.describe()),
                ));
            }
            train = train.with_class_names(names.clone())?;
        }
        if train.is_empty() {
            return Err(Error::invalid("--data", format!("{}: the training data has no images", train_ref.describe())));
        }
        if train.labels.is_none() {
            return Err(Error::invalid(
                "--data",
                format!("{}: the training data has no labels (give a labelled file, e.g. label,feature)", train_ref.describe()),
            ));
        }
        // validation and test pictures: the training data's size and classes
        let same = LoadOptions { size: Some((train.height, train.width)), class_names: Some(train.class_names.clone()), classes: Some(train.num_classes()) };
        let val = plan.val_data.as_deref().map(|p| DataRef::load_validation_file(p, &same)).transpose()?;
        let test = plan.test_data.as_deref().map(|p| DataRef::given(Some(p), Split::Test)).map(|r| r.load_with(&same).map(|d| (r, d))).transpose()?;
        let (trainer, resumed_after) = if plan.resume {
            let t = resume(&run, plan.epochs, val.is_some())?;
            check_same_data(&run, &train_ref, val.as_ref().map(|v| &v.0))?;
            if plan.class_names.as_ref().is_some_and(|n| *n != t.meta().class_names) {
                return Err(Error::invalid("--class-names", format!("the run's classes are {}: give the same names or none", t.meta().class_names.join(","))));
            }
            if let Some(n) = plan.classes.filter(|&n| n != t.meta().class_names.len()) {
                return Err(Error::invalid(
                    "--classes",
                    format!("the run's model has {} classes, not {n}: give the same number or none", t.meta().class_names.len()),
                ));
            }
            let done = t.history().len();
            (t, Some(done))
        } else {
            let spec = resolve_model(&plan.model, train.num_classes())?;
            (Trainer::new(&spec, &train, cfg)?, None)
        };
        let (input, classes) = (trainer.meta().input.clone(), trainer.meta().class_names.len());
        for (d, what) in [(&val, "--val-data"), (&test, "--test-data")] {
            if let Some((_, ds)) = d {
                check_labelled(ds, &input, classes, what)?;
            }
        }
        let run = if plan.out.is_none() && !plan.resume { new_run(Path::new(RUNS_BASE))? } else { run };
        Ok(TrainSession { trainer, run, train: (train_ref, train), val, test, resumed_after, overwrite: plan.overwrite })
    }

    /// The training data and where it comes from.
    pub fn train_data(&self) -> (&DataRef, &Dataset) {
        (&self.train.0, &self.train.1)
    }
    /// With `--resume`: the epochs the run had done.
    pub fn resumed_after(&self) -> Option<usize> {
        self.resumed_after
    }
    /// The run directory.
    pub fn run_dir(&self) -> &RunDir {
        &self.run
    }

    fn validation_ref(&self) -> Option<DataRef> {
        match &self.val {
            Some((r, _)) => Some(r.clone()),
            None => {
                let c = self.trainer.config();
                (c.val_split > 0.0).then(|| self.train.0.held_out_by(HeldOut { fraction: c.val_split, seed: c.seed, mode: c.split_mode }))
            }
        }
    }

    /// Trains (saving after every epoch), draws the curves (also when training stopped on an
    /// error, if an epoch was done), then evaluates on the test data, else the validation
    /// data, writes the confusion matrix and records the data in `run.json`.
    pub fn fit(&mut self, on_event: &mut dyn FnMut(Event)) -> Result<TrainReport> {
        self.run = RunDir::create(self.run.path())?;
        // what writes killed before their rename left (this run has no other writer)
        crate::io::remove_stale_temporaries(self.run.path())?;
        if self.overwrite && self.resumed_after.is_none() {
            for f in RUN_FILES {
                match std::fs::remove_file(self.run.file(f)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(self.run.file(f), e)),
                    _ => {}
                }
            }
        }
        let mut record = RunRecord { train: self.train.0.clone(), validation: self.validation_ref(), evaluated: None };
        self.run.write_record(&record)?;
        let t0 = std::time::Instant::now();
        let result = self.trainer.fit(&self.train.1, self.val.as_ref().map(|v| &v.1), &mut self.run, on_event);
        // a run that failed at once leaves an older picture alone
        if !self.trainer.history().is_empty() {
            self.run.write_curves(self.trainer.history())?;
        }
        result?;
        let seconds = t0.elapsed().as_secs_f64();
        let mut written = vec![MODEL, MODEL_JSON, CHECKPOINT, HISTORY, CURVES, RECORD];
        let held_out = || {
            let (_, va) = self.trainer.config().holdout(&self.train.1);
            (!va.is_empty()).then(|| (record.validation.clone().expect("a split run records its validation"), self.train.1.subset(&va)))
        };
        let test = self.test.take().or_else(|| self.val.take()).or_else(held_out);
        let evaluation = match test {
            Some((r, ds)) => {
                let meta = self.trainer.meta().clone();
                let ev = evaluate(&self.trainer.model, &ds, &meta.normalization, self.trainer.config().batch_size)?;
                let conf = Confusion::new(&meta.class_names, &ev.truth, &ev.predictions);
                let files = write_confusion(self.run.path(), &conf, "validation")?;
                written.push(CONFUSION_CSV);
                if files.png.is_some() {
                    written.push(CONFUSION_PNG);
                }
                record.evaluated = Some(r.clone());
                self.run.write_record(&record)?;
                Some(FinalEvaluation { data: r, images: ds.len(), accuracy: ev.accuracy, loss: ev.loss, confusion: files })
            }
            None => None,
        };
        Ok(TrainReport { seconds, evaluation, written })
    }
}

/// What [`evaluate_run`] measured and wrote.
pub struct EvalReport {
    pub data: DataRef,
    pub images: usize,
    pub evaluation: Evaluation,
    pub confusion: Confusion,
    pub files: ConfusionFiles,
    /// On fer2013.csv's test split: the PublicTest and PrivateTest rows scored apart, as
    /// Kaggle's public and private leaderboards did (empty otherwise).
    pub by_usage: Vec<UsageScore>,
}

/// The evaluation of the rows of one `Usage` of fer2013.csv.
#[derive(Clone, Debug, PartialEq)]
pub struct UsageScore {
    /// [`Split::PublicTest`] or [`Split::PrivateTest`].
    pub split: Split,
    pub images: usize,
    pub accuracy: f64,
    pub loss: f64,
}

/// Evaluates the model of the run in `run` on `data`, writes the confusion matrix into `out`
/// (default: the run directory, whose `run.json` then records `data` as evaluated). The test
/// split of a file with a `Usage` column (fer2013.csv) is evaluated as its PublicTest rows and
/// its PrivateTest rows, reported apart in [`EvalReport::by_usage`] and together (public rows
/// first) as the whole.
pub fn evaluate_run(run: &Path, data: &DataRef, out: Option<&Path>) -> Result<EvalReport> {
    let dir = RunDir::open(run)?;
    let m = dir.load_model()?;
    let (input, classes) = (&m.meta.input, m.meta.class_names.len());
    let eval = |ds: &Dataset| evaluate(&m.model, ds, &m.meta.normalization, 256);
    let parts = usage_parts(data);
    let (ds, ev, by_usage) = match parts {
        Some((public, private)) => {
            check_labelled(&public, input, classes, &data.describe())?;
            check_labelled(&private, input, classes, &data.describe())?;
            let (ep, eq) = (eval(&public)?, eval(&private)?);
            let score = |split, ds: &Dataset, e: &Evaluation| UsageScore { split, images: ds.len(), accuracy: e.accuracy, loss: e.loss };
            let by = vec![score(Split::PublicTest, &public, &ep), score(Split::PrivateTest, &private, &eq)];
            (public.concat(private)?, ep.merge(&eq), by)
        }
        None => {
            let ds = data.load_for(&m.meta)?;
            check_labelled(&ds, input, classes, &data.describe())?;
            let ev = eval(&ds)?;
            (ds, ev, vec![])
        }
    };
    let conf = Confusion::new(&m.meta.class_names, &ev.truth, &ev.predictions);
    let files = write_confusion(out.unwrap_or(dir.path()), &conf, "eval")?;
    if out.is_none_or(|o| o == dir.path()) {
        if let Some(mut r) = dir.record()? {
            r.evaluated = Some(data.clone());
            dir.write_record(&r)?;
        }
    }
    Ok(EvalReport { data: data.clone(), images: ds.len(), evaluation: ev, confusion: conf, files, by_usage })
}

/// The PublicTest and PrivateTest rows of `data` when it is the test split of a file with a
/// `Usage` column holding both; None otherwise (then `data.load()` is the whole, and reports
/// any fault of the file).
fn usage_parts(data: &DataRef) -> Option<(Dataset, Dataset)> {
    if data.split != Split::Test || data.held_out.is_some() || !matches!(data.source, super::DataSource::File { .. }) {
        return None;
    }
    let part = |split| DataRef { split, ..data.clone() }.load().ok();
    Some((part(Split::PublicTest)?, part(Split::PrivateTest)?))
}

/// Predicts the classes of `data` with the run's model and writes a Kaggle submission
/// (`id,label`; ids from the data, else 0, 1, ...) to `out`, which may be neither the data
/// file nor a file of a run, nor (unless `force`) any existing file. Returns the number of
/// predictions.
pub fn predict_run(run: &Path, data: &Path, split: Split, out: &Path, force: bool) -> Result<usize> {
    predict_run_with(run, data, split, out, force, &PredictOptions::default())
}

/// Options of [`predict_run_with`] beyond the submission.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PredictOptions {
    /// Also write the class probabilities here: `id` and one column per class name.
    pub probs: Option<PathBuf>,
    /// Test-time augmentation (the submission's labels are the argmax of its probabilities).
    pub tta: Tta,
}

/// [`predict_run`] with [`PredictOptions`]; the probabilities file obeys the same rules as
/// `out` and may not be `out`.
pub fn predict_run_with(run: &Path, data: &Path, split: Split, out: &Path, force: bool, opts: &PredictOptions) -> Result<usize> {
    check_output(out, &[data], force)?;
    if let Some(p) = &opts.probs {
        check_output(p, &[data, out], force)?;
    }
    let dir = RunDir::open(run)?;
    let m = dir.load_model()?;
    let ds = DataRef::given(Some(data), split).load_for(&m.meta)?;
    check_data(&ds, &m.meta.input, m.meta.class_names.len(), &data.display().to_string())?;
    let probs = predict_tta(&m.model, &ds, &m.meta.normalization, 256, opts.tta)?;
    let labels = probs.argmax_rows()?;
    let ids: Vec<u64> = ds.ids.clone().unwrap_or_else(|| (0..ds.len() as u64).collect());
    if let Some(p) = &opts.probs {
        crate::io::write_atomic(p, probabilities_csv(&ids, &m.meta.class_names, &probs).as_bytes())?;
    }
    data::write_submission(out, &ids, &labels)?;
    Ok(labels.len())
}

/// The probabilities as CSV: `id,<class names>`, then one row per image (shortest decimals
/// that give the f32 back).
fn probabilities_csv(ids: &[u64], class_names: &[String], probs: &Tensor) -> String {
    let field = |s: &str| if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() };
    let mut s = String::from("id");
    for n in class_names {
        s.push(',');
        s.push_str(&field(n));
    }
    s.push('\n');
    let k = class_names.len().max(1);
    for (id, row) in ids.iter().zip(probs.data().chunks(k)) {
        s.push_str(&id.to_string());
        for p in row {
            s.push_str(&format!(",{p}"));
        }
        s.push('\n');
    }
    s
}
