//! Which data a run used: [`DataRef`] names a data set (a file or the embedded sample, a split,
//! and optionally only the part held out for validation) so that it can be loaded again, and
//! [`RunRecord`] (`run.json`) keeps the run's training, validation and evaluation data.

use crate::data::{self, embedded_sample, Dataset, LoadOptions, Split};
use crate::error::Result;
use crate::train::{holdout, ModelMeta, SplitMode};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where images come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DataSource {
    /// The real Fashion-MNIST sample built into pupil.
    Embedded,
    /// A file or directory that `data::load` reads.
    File { path: PathBuf },
    /// Picture files (PNG, JPEG, BMP), unlabelled, read by [`data::load_images`].
    Images { paths: Vec<PathBuf> },
}

/// The images of a training set held out for validation: [`holdout`]`(data, fraction, seed,
/// mode)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeldOut {
    pub fraction: f32,
    pub seed: u64,
    /// Records written before the mode existed: random.
    #[serde(default = "SplitMode::legacy")]
    pub mode: SplitMode,
}

/// A data set that can be loaded again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataRef {
    pub source: DataSource,
    pub split: Split,
    /// Only the held-out part (validation images of a training set), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_out: Option<HeldOut>,
}

impl DataRef {
    /// `path`'s `split`, or the embedded sample's without a path.
    pub fn given(path: Option<&Path>, split: Split) -> DataRef {
        let source = match path {
            Some(p) => DataSource::File { path: p.to_path_buf() },
            None => DataSource::Embedded,
        };
        DataRef { source, split, held_out: None }
    }

    /// Picture files (PNG, JPEG, BMP) as unlabelled data.
    pub fn images(paths: &[PathBuf]) -> DataRef {
        DataRef { source: DataSource::Images { paths: paths.to_vec() }, split: Split::All, held_out: None }
    }

    /// The part of this (training) set held out for validation by the default, stratified
    /// split.
    pub fn held_out(&self, fraction: f32, seed: u64) -> DataRef {
        self.held_out_by(HeldOut { fraction, seed, mode: SplitMode::Stratified })
    }

    /// The part of this (training) set that `h` holds out.
    pub fn held_out_by(&self, h: HeldOut) -> DataRef {
        DataRef { held_out: Some(h), ..self.clone() }
    }

    /// The same data with an absolute file path, to be found from any directory.
    pub fn absolute(&self) -> DataRef {
        let abs = |p: &PathBuf| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
        let source = match &self.source {
            DataSource::File { path } => DataSource::File { path: abs(path) },
            DataSource::Images { paths } => DataSource::Images { paths: paths.iter().map(abs).collect() },
            s => s.clone(),
        };
        DataRef { source, ..self.clone() }
    }

    /// Loads the images.
    pub fn load(&self) -> Result<Dataset> {
        self.load_with(&LoadOptions::default())
    }

    /// Loads the images for `meta`'s model: pictures and image folders are brought to its
    /// input size, image folders labelled by its class names, and the labels read for its
    /// classes ([`LoadOptions::classes`]: an IDX set may lack some).
    pub fn load_for(&self, meta: &ModelMeta) -> Result<Dataset> {
        let size = match meta.input[..] {
            [_, h, w] => Some((h, w)),
            _ => None,
        };
        self.load_with(&LoadOptions { size, class_names: Some(meta.class_names.clone()), classes: Some(meta.class_names.len()) })
    }

    /// Loads the images; `opts` say how to read pictures and image folders.
    pub fn load_with(&self, opts: &LoadOptions) -> Result<Dataset> {
        let ds = match &self.source {
            DataSource::Embedded => match opts.classes {
                Some(n) => embedded_sample(self.split)?.with_classes(n, Path::new(&self.describe()))?,
                None => embedded_sample(self.split)?,
            },
            DataSource::File { path } => data::load_with(path, self.split, opts)?,
            DataSource::Images { paths } => {
                let mut ds = data::load_images(paths, opts.size)?;
                ds.class_names = opts.class_names.clone().unwrap_or_default();
                ds
            }
        };
        Ok(match self.held_out {
            Some(h) => ds.subset(&holdout(&ds, h.fraction, h.seed, h.mode).1),
            None => ds,
        })
    }

    /// A separate validation file: its public-test split (fer2013.csv) or, for files that are
    /// one split already, the whole file.
    /// `opts`: how to read pictures (the training data's size and classes).
    pub fn load_validation_file(path: &Path, opts: &LoadOptions) -> Result<(DataRef, Dataset)> {
        let public = DataRef::given(Some(path), Split::PublicTest);
        match public.load_with(opts) {
            Ok(ds) => Ok((public, ds)),
            Err(_) => {
                let test = DataRef::given(Some(path), Split::Test);
                let ds = test.load_with(opts)?;
                Ok((test, ds))
            }
        }
    }

    /// How to name the data to a user (and in errors).
    pub fn describe(&self) -> String {
        let base = match &self.source {
            DataSource::Embedded => "embedded Fashion-MNIST sample".to_string(),
            DataSource::File { path } => path.display().to_string(),
            DataSource::Images { paths } => match &paths[..] {
                [one] => one.display().to_string(),
                more => format!("{} images ({}, ...)", more.len(), more.first().map(|p| p.display().to_string()).unwrap_or_default()),
            },
        };
        match self.held_out {
            Some(h) => format!("{base} (the {} held out for validation)", h.fraction),
            None => base,
        }
    }
}

/// `run.json`: the data of a run, so that later commands can use it again (the explain
/// commands default to [`RunRecord::evaluated`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The training data as given (the validation split, if any, is part of it).
    pub train: DataRef,
    /// The data validated on each epoch: the held-out part of `train` or a separate set.
    pub validation: Option<DataRef>,
    /// The data of the last evaluation written into the run (its confusion matrix).
    pub evaluated: Option<DataRef>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_out_part_of_the_sample_is_the_holdout_split() {
        let train = DataRef::given(None, Split::Training);
        let all = train.load().unwrap();
        let val = train.held_out(0.1, 42).load().unwrap();
        let (_, va) = holdout(&all, 0.1, 42, SplitMode::Stratified);
        assert_eq!(val, all.subset(&va));
        let random = train.held_out_by(HeldOut { fraction: 0.1, seed: 42, mode: SplitMode::Random }).load().unwrap();
        assert_eq!(random, all.subset(&holdout(&all, 0.1, 42, SplitMode::Random).1));
        assert_ne!(random, val);
        // a record written before the mode existed means the random split
        let old: HeldOut = serde_json::from_str(r#"{"fraction":0.1,"seed":42}"#).unwrap();
        assert_eq!(old.mode, SplitMode::Random);
        assert!(train.held_out(0.1, 42).describe().contains("held out"));
    }

    #[test]
    fn refs_round_trip_through_json() {
        let r = RunRecord {
            train: DataRef::given(Some(Path::new("/data/train.csv")), Split::Training),
            validation: Some(DataRef::given(None, Split::Training).held_out(0.2, 7)),
            evaluated: None,
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<RunRecord>(&json).unwrap(), r);
    }

    #[test]
    fn a_missing_validation_file_is_an_error_naming_it() {
        let e = DataRef::load_validation_file(Path::new("/nonexistent/val.csv"), &LoadOptions::default()).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/val.csv"), "{e}");
    }
}
