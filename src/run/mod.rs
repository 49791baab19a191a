//! The run directory: the one place that knows the files of a run and the policies around
//! them. A run directory (what `pupil train --out DIR` writes) holds:
//!
//! | file | what |
//! |---|---|
//! | `model.safetensors` | best weights (or the last, without validation) + [`ModelMeta`] as metadata |
//! | `model.json` | the same [`ModelMeta`] as JSON, for people |
//! | `checkpoint.safetensors` | current and best weights, optimiser record, training state (`--resume`) |
//! | `history.csv` | one line per epoch: losses, accuracies, learning rate, seconds |
//! | `curves.png` | loss and accuracy, training vs validation |
//! | `confusion.csv`, `confusion.png` | the last evaluation's confusion matrix (no picture above 50 classes) |
//! | `run.json` | which data the run was trained, validated and evaluated on ([`RunRecord`]) |
//!
//! Loading a model for inference ([`RunDir::load_model`]) does not involve the trainer;
//! training ([`TrainSession`]) saves through [`RunDir`]'s [`EpochSink`](crate::train::EpochSink).
//!
//! [`ModelMeta`]: crate::train::ModelMeta

mod checkpoint;
mod data_ref;
mod images;
mod model_file;
mod numbered;
mod session;

pub use checkpoint::history_csv;
pub use data_ref::{DataRef, DataSource, HeldOut, RunRecord};
pub use images::{predict_images, ImagePrediction};
pub use model_file::{load_model, save_model, RunModel, META_KEY};
pub use numbered::{latest, new_run, LATEST, RUNS_BASE};
pub use session::{
    check_same_data, evaluate_run, predict_run, predict_run_with, resume, EvalReport, FinalEvaluation, PredictOptions, TrainPlan, TrainReport, TrainSession,
    UsageScore,
};

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::train::{Confusion, EpochRecord};
use std::path::{Path, PathBuf};

/// `model.safetensors`.
pub const MODEL: &str = "model.safetensors";
/// `model.json`.
pub const MODEL_JSON: &str = "model.json";
/// `checkpoint.safetensors`.
pub const CHECKPOINT: &str = "checkpoint.safetensors";
/// `history.csv`.
pub const HISTORY: &str = "history.csv";
/// `curves.png`.
pub const CURVES: &str = "curves.png";
/// `confusion.csv`.
pub const CONFUSION_CSV: &str = "confusion.csv";
/// `confusion.png`.
pub const CONFUSION_PNG: &str = "confusion.png";
/// `run.json`.
pub const RECORD: &str = "run.json";
/// Every file a run directory may hold.
pub const RUN_FILES: [&str; 8] = [MODEL, MODEL_JSON, CHECKPOINT, HISTORY, CURVES, CONFUSION_CSV, CONFUSION_PNG, RECORD];
/// Above this many classes the confusion matrix is written as CSV only (a picture would be
/// unreadable).
pub const MAX_CONFUSION_PNG_CLASSES: usize = 50;

/// A run directory.
#[derive(Clone, Debug, PartialEq)]
pub struct RunDir {
    path: PathBuf,
}

/// The confusion files written by [`write_confusion`].
#[derive(Clone, Debug, PartialEq)]
pub struct ConfusionFiles {
    pub csv: PathBuf,
    /// None when there are more than [`MAX_CONFUSION_PNG_CLASSES`] classes.
    pub png: Option<PathBuf>,
}

impl RunDir {
    /// The run directory at `path` (nothing is read or created).
    pub fn new(path: impl Into<PathBuf>) -> RunDir {
        RunDir { path: path.into() }
    }

    /// An existing run directory with a model in it; the error names the missing file.
    pub fn open(path: impl Into<PathBuf>) -> Result<RunDir> {
        let run = RunDir::new(path);
        let model = run.file(MODEL);
        if !model.is_file() {
            let what = if run.path.is_dir() { "no trained model in this run directory" } else { "no such run directory" };
            return Err(Error::parse(model, 0, "run", what));
        }
        Ok(run)
    }

    /// The run directory at `path`, created if needed.
    pub fn create(path: impl Into<PathBuf>) -> Result<RunDir> {
        let run = RunDir::new(path);
        std::fs::create_dir_all(&run.path).map_err(|e| Error::io(&run.path, e))?;
        Ok(run)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of one of the [`RUN_FILES`].
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// True if the directory holds a checkpoint to resume from.
    pub fn has_checkpoint(&self) -> bool {
        self.file(CHECKPOINT).is_file()
    }

    /// The trained model (best weights) and its metadata, for inference.
    pub fn load_model(&self) -> Result<RunModel> {
        load_model(&self.file(MODEL))
    }

    /// `run.json`, if the run has one (runs written before it existed do not).
    pub fn record(&self) -> Result<Option<RunRecord>> {
        let path = self.file(RECORD);
        match std::fs::read_to_string(&path) {
            Ok(s) => serde_json::from_str(&s).map(Some).map_err(|e| Error::parse(&path, e.line(), "run record", e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Writes `run.json` (file paths made absolute).
    pub fn write_record(&self, r: &RunRecord) -> Result<()> {
        let abs = |d: &Option<DataRef>| d.as_ref().map(DataRef::absolute);
        let r = RunRecord { train: r.train.absolute(), validation: abs(&r.validation), evaluated: abs(&r.evaluated) };
        let json = serde_json::to_string_pretty(&r).map_err(|e| Error::Run(format!("serialising the run record: {e}")))?;
        write_atomic(&self.file(RECORD), format!("{json}\n").as_bytes())
    }

    /// The data the run was last evaluated on (its confusion matrix), else the data it was
    /// validated on: the default `--data` of commands that look at a run.
    pub fn evaluated_data(&self) -> Result<DataRef> {
        let r = self.record()?.ok_or_else(|| Error::parse(self.file(RECORD), 0, "run", "this run has no record of its data: give --data"))?;
        r.evaluated.or(r.validation).ok_or_else(|| Error::parse(self.file(RECORD), 0, "run", "this run was neither evaluated nor validated: give --data"))
    }

    /// Loads [`Self::evaluated_data`].
    pub fn load_evaluated_data(&self) -> Result<(DataRef, Dataset)> {
        let r = self.evaluated_data()?;
        let ds = r.load()?;
        Ok((r, ds))
    }

    /// The images a command that looks inside this run works on: the picture files `images`
    /// when given (made gray, brought to the model's input size), else `data`'s `split`, else
    /// [`Self::evaluated_data`]; checked against the run's model (image size, classes).
    pub fn data_for(&self, images: &[PathBuf], data: Option<&Path>, split: crate::data::Split, meta: &crate::train::ModelMeta) -> Result<(DataRef, Dataset)> {
        let r = match (images, data) {
            ([_, ..], _) => DataRef::images(images),
            ([], Some(p)) => DataRef::given(Some(p), split),
            ([], None) => self.evaluated_data()?,
        };
        let ds = r.load_for(meta)?;
        crate::train::check_data(&ds, &meta.input, meta.class_names.len(), &r.describe())?;
        Ok((r, ds))
    }

    /// Draws `curves.png` from the history.
    pub fn write_curves(&self, history: &[EpochRecord]) -> Result<()> {
        crate::viz::training_curves(self.file(CURVES), history)
    }
}

/// Writes `dir/confusion.csv` and, up to [`MAX_CONFUSION_PNG_CLASSES`] classes,
/// `dir/confusion.png` titled with `what` and the accuracy.
pub fn write_confusion(dir: &Path, conf: &Confusion, what: &str) -> Result<ConfusionFiles> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let csv = dir.join(CONFUSION_CSV);
    write_atomic(&csv, conf.to_csv().as_bytes())?;
    if conf.class_names.len() > MAX_CONFUSION_PNG_CLASSES {
        return Ok(ConfusionFiles { csv, png: None });
    }
    let png = dir.join(CONFUSION_PNG);
    crate::viz::confusion_png(&png, &conf.counts, &conf.class_names, &format!("Confusion matrix ({what}, accuracy {:.3})", conf.accuracy()))?;
    Ok(ConfusionFiles { csv, png: Some(png) })
}

/// Refuses an output file that would destroy an input (`inputs`) or a file of a run directory
/// (one of [`RUN_FILES`] next to a model or checkpoint), and, unless `force`, any existing file.
pub fn check_output(out: &Path, inputs: &[&Path], force: bool) -> Result<()> {
    let same = |a: &Path, b: &Path| a == b || matches!((std::fs::canonicalize(a), std::fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y);
    if let Some(i) = inputs.iter().find(|i| same(out, i)) {
        return Err(Error::invalid("--out", format!("{} is an input of this command: it would be overwritten", i.display())));
    }
    let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if RUN_FILES.contains(&name) && (dir.join(MODEL).is_file() || dir.join(CHECKPOINT).is_file()) {
        return Err(Error::invalid("--out", format!("{} is a file of the run in {}: write elsewhere", out.display(), dir.display())));
    }
    if out.is_dir() {
        return Err(Error::invalid("--out", format!("{} is a directory: give a file name", out.display())));
    }
    if !force && std::fs::symlink_metadata(out).is_ok() {
        return Err(Error::invalid("--out", format!("{} exists: give --force to replace it", out.display())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pupil-run-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn confusion_picture_only_up_to_50_classes() {
        let dir = tmp("confusion");
        let names = |k: usize| (0..k).map(|i| format!("c{i}")).collect::<Vec<_>>();
        let conf = Confusion::new(&names(3), &[0, 1, 2, 2], &[0, 1, 1, 2]);
        let f = write_confusion(&dir.join("small"), &conf, "test").unwrap();
        assert!(f.csv.is_file() && f.png.as_ref().is_some_and(|p| p.is_file()));
        let many = names(MAX_CONFUSION_PNG_CLASSES + 1);
        let conf = Confusion::new(&many, &[0, 50], &[0, 50]);
        let f = write_confusion(&dir.join("big"), &conf, "test").unwrap();
        assert!(f.csv.is_file() && f.png.is_none());
        assert!(!dir.join("big").join(CONFUSION_PNG).exists());
    }

    #[test]
    fn open_names_the_missing_model() {
        let dir = tmp("open");
        let e = RunDir::open(&dir).unwrap_err().to_string();
        assert!(e.contains("model.safetensors") && e.contains("no trained model"), "{e}");
        let e = RunDir::open(dir.join("nope")).unwrap_err().to_string();
        assert!(e.contains("no such run directory"), "{e}");
    }

    #[test]
    fn record_and_evaluated_data() {
        let run = RunDir::create(tmp("record")).unwrap();
        assert_eq!(run.record().unwrap(), None);
        assert!(run.evaluated_data().unwrap_err().to_string().contains("--data"));
        let train = DataRef::given(None, crate::data::Split::Training);
        let mut r = RunRecord { train: train.clone(), validation: Some(train.held_out(0.1, 42)), evaluated: None };
        run.write_record(&r).unwrap();
        assert_eq!(run.evaluated_data().unwrap(), train.held_out(0.1, 42));
        r.evaluated = Some(DataRef::given(None, crate::data::Split::Test));
        run.write_record(&r).unwrap();
        assert_eq!(run.record().unwrap(), Some(r));
        let (d, ds) = run.load_evaluated_data().unwrap();
        assert_eq!((d.split, ds.len()), (crate::data::Split::Test, 1000));
        std::fs::write(run.file(RECORD), "{").unwrap();
        assert!(run.record().unwrap_err().to_string().contains("run.json"));
    }

    #[test]
    fn outputs_never_replace_inputs_or_run_files() {
        let dir = tmp("outputs");
        let data = dir.join("test.csv");
        std::fs::write(&data, "id,feature\n").unwrap();
        // an input is never replaced, not even with force
        for force in [false, true] {
            assert!(check_output(&data, &[&data], force).unwrap_err().to_string().contains("input"));
        }
        check_output(&dir.join("submission.csv"), &[&data], false).unwrap();
        // an existing file only with force
        std::fs::write(dir.join("submission.csv"), "id,label\n").unwrap();
        assert!(check_output(&dir.join("submission.csv"), &[&data], false).unwrap_err().to_string().contains("--force"));
        check_output(&dir.join("submission.csv"), &[&data], true).unwrap();
        assert!(check_output(&dir, &[], true).unwrap_err().to_string().contains("directory"));
        // model.json is only protected next to a model
        check_output(&dir.join(MODEL_JSON), &[], false).unwrap();
        std::fs::write(dir.join(MODEL), b"x").unwrap();
        for f in RUN_FILES {
            for force in [false, true] {
                assert!(check_output(&dir.join(f), &[], force).unwrap_err().to_string().contains("file of the run"), "{f}");
            }
        }
    }

    #[test]
    fn history_csv_has_one_line_per_epoch() {
        let r = EpochRecord { epoch: 1, train_loss: 0.5, train_acc: 0.75, val_loss: None, val_acc: Some(0.5), lr: 0.001, seconds: 1.5 };
        let s = history_csv(&[r.clone(), EpochRecord { epoch: 2, ..r }]);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds");
        assert_eq!(lines[1], "1,0.500000,0.750000,,0.500000,0.001,1.50");
        assert_eq!(lines.len(), 3);
    }
}
