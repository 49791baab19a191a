//! Class imbalance: which training images are held out for validation ([`holdout`], stratified
//! by class by default) and the class weights of the training loss ([`ClassWeight`]).

use crate::data::{split_validation, Dataset};
use crate::error::{Error, Result};
use crate::tensor::Rng;
use serde::{Deserialize, Serialize};

/// How the validation images are drawn from the training data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitMode {
    /// Each class split in the same proportion (scikit-learn's `train_test_split(stratify=y)`):
    /// a rare class is in the validation set as often as in the training set.
    #[default]
    Stratified,
    /// A fraction of all images drawn at random, whatever their class (the only split before
    /// stratification, and the split of runs saved then).
    Random,
}

impl SplitMode {
    /// The mode of settings saved before the mode existed.
    pub fn legacy() -> SplitMode {
        SplitMode::Random
    }
}

impl std::str::FromStr for SplitMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<SplitMode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "stratified" => Ok(SplitMode::Stratified),
            "random" => Ok(SplitMode::Random),
            m => Err(Error::invalid("--split-mode", format!("{m:?} is not stratified or random"))),
        }
    }
}

/// Which images of `ds` are trained on and which are held out for validation, each list
/// sorted. The one place the held-out images are decided: the trainer, the run directory's
/// record of its data and the final evaluation all ask here.
///
/// * [`SplitMode::Random`]: `round(n · fraction)` images drawn at random from `seed`
///   ([`split_validation`]).
/// * [`SplitMode::Stratified`]: for every class `c` with `n_c` images, `round(n_c · fraction)`
///   of them drawn at random from `seed` and `c`, so every class keeps the same proportion
///   (the total may differ from `round(n · fraction)` by the per-class rounding). Data without
///   labels has no classes and is split at random.
pub fn holdout(ds: &Dataset, fraction: f32, seed: u64, mode: SplitMode) -> (Vec<usize>, Vec<usize>) {
    let n = ds.len();
    let labels = match (&ds.labels, mode) {
        (Some(l), SplitMode::Stratified) if l.len() == n => l,
        _ => return split_validation(n, fraction, seed),
    };
    let f = if fraction.is_nan() { 0.0 } else { fraction.clamp(0.0, 1.0) as f64 };
    let mut by_class: Vec<Vec<usize>> = vec![vec![]; 256];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l as usize].push(i);
    }
    let base = Rng::new(seed);
    let (mut train, mut val) = (Vec::with_capacity(n), vec![]);
    for (c, mut idx) in by_class.into_iter().enumerate().filter(|(_, v)| !v.is_empty()) {
        let n_val = ((idx.len() as f64) * f).round() as usize;
        base.fork(c as u64).shuffle(&mut idx);
        val.extend(idx.split_off(idx.len() - n_val.min(idx.len())));
        train.extend(idx);
    }
    train.sort_unstable();
    val.sort_unstable();
    (train, val)
}

/// Class weights of the training loss (`--class-weight`): each image's loss counts `w_c` times
/// for its class `c` ([`crate::ops::weighted_cross_entropy`]); the validation loss and every
/// evaluation stay unweighted, as in Keras' `fit(class_weight=...)`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeight {
    /// Every class weighs 1 (the plain cross-entropy).
    #[default]
    None,
    /// scikit-learn's and Keras' "balanced": `w_c = n / (k · n_c)` with `n` the training images
    /// (validation split excluded), `n_c` those of class `c` and `k` the number of classes
    /// present; a class with no training image gets 0 (it adds nothing to the loss anyway).
    Balanced,
    /// One weight per class, in label order.
    Given(Vec<f32>),
}

impl std::str::FromStr for ClassWeight {
    type Err = Error;
    /// `none`, `balanced` or a comma-separated list of weights like `1,2.5,1`.
    fn from_str(s: &str) -> Result<ClassWeight> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => return Ok(ClassWeight::None),
            "balanced" => return Ok(ClassWeight::Balanced),
            _ => {}
        }
        let mut w = vec![];
        for (i, part) in s.split(',').map(str::trim).enumerate() {
            let v: f32 = part.parse().map_err(|_| {
                Error::invalid("--class-weight", format!("{part:?} (weight {}) is not a number; give none, balanced or a list like 1,2.5,1", i + 1))
            })?;
            w.push(v);
        }
        let cw = ClassWeight::Given(w);
        cw.validate()?;
        Ok(cw)
    }
}

impl ClassWeight {
    /// Checks given weights: each a finite number >= 0, not all 0.
    pub fn validate(&self) -> Result<()> {
        let ClassWeight::Given(w) = self else {
            return Ok(());
        };
        if let Some((i, v)) = w.iter().enumerate().find(|(_, v)| !(v.is_finite() && **v >= 0.0)) {
            return Err(Error::invalid("--class-weight", format!("weight {} is {v}: every weight must be a finite number >= 0", i + 1)));
        }
        if w.iter().all(|&v| v == 0.0) {
            return Err(Error::invalid("--class-weight", "every weight is 0: nothing would be learnt"));
        }
        Ok(())
    }

    /// The weight of each class, given the number of training images of each (`counts`, in
    /// label order, one per class of the data named `class_names`); None for [`Self::None`].
    pub fn resolve(&self, counts: &[usize], class_names: &[String]) -> Result<Option<Vec<f32>>> {
        match self {
            ClassWeight::None => Ok(None),
            ClassWeight::Balanced => {
                let n: usize = counts.iter().sum();
                let k = counts.iter().filter(|&&c| c > 0).count();
                Ok(Some(counts.iter().map(|&c| if c == 0 { 0.0 } else { (n as f64 / (k as f64 * c as f64)) as f32 }).collect()))
            }
            ClassWeight::Given(w) => {
                self.validate()?;
                if w.len() != class_names.len() {
                    return Err(Error::invalid(
                        "--class-weight",
                        format!("{} weights for {} classes ({}): give one per class, in label order", w.len(), class_names.len(), class_names.join(", ")),
                    ));
                }
                Ok(Some(w.clone()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labelled(labels: &[u8], classes: usize) -> Dataset {
        Dataset {
            channels: 1,
            height: 1,
            width: 1,
            pixels: vec![0; labels.len()],
            labels: Some(labels.to_vec()),
            ids: None,
            class_names: (0..classes).map(|c| format!("c{c}")).collect(),
        }
    }

    /// 80 images of class 0, 20 of class 1, 10 of class 2: a 0.1 stratified split holds out
    /// exactly 8, 2 and 1 of them.
    #[test]
    fn stratified_keeps_every_class_proportion() {
        let labels: Vec<u8> = (0..110)
            .map(|i| {
                if i < 80 {
                    0
                } else if i < 100 {
                    1
                } else {
                    2
                }
            })
            .collect();
        let ds = labelled(&labels, 3);
        let (tr, va) = holdout(&ds, 0.1, 7, SplitMode::Stratified);
        let count = |idx: &[usize], c: u8| idx.iter().filter(|&&i| labels[i] == c).count();
        assert_eq!([count(&va, 0), count(&va, 1), count(&va, 2)], [8, 2, 1]);
        assert_eq!([count(&tr, 0), count(&tr, 1), count(&tr, 2)], [72, 18, 9]);
        assert!(tr.windows(2).all(|w| w[0] < w[1]) && va.windows(2).all(|w| w[0] < w[1]));
        assert!(va.iter().all(|i| !tr.contains(i)));
        assert_eq!(holdout(&ds, 0.1, 7, SplitMode::Stratified), (tr, va.clone()));
        assert_ne!(holdout(&ds, 0.1, 8, SplitMode::Stratified).1, va);
        // random mode is the old split
        assert_eq!(holdout(&ds, 0.1, 7, SplitMode::Random), split_validation(110, 0.1, 7));
        // no labels: random
        let unlabelled = Dataset { labels: None, ..ds };
        assert_eq!(holdout(&unlabelled, 0.1, 7, SplitMode::Stratified), split_validation(110, 0.1, 7));
    }

    /// 6 images of class 0, 3 of class 1, 1 of class 2, none of class 3: n = 10, k = 3 present,
    /// weights 10/18, 10/9, 10/3, 0.
    #[test]
    fn balanced_weights_are_n_over_k_times_count() {
        let names: Vec<String> = (0..4).map(|c| format!("c{c}")).collect();
        let w = ClassWeight::Balanced.resolve(&[6, 3, 1, 0], &names).unwrap().unwrap();
        let want = [10.0 / 18.0, 10.0 / 9.0, 10.0 / 3.0, 0.0];
        for (g, w) in w.iter().zip(want) {
            assert!((*g as f64 - w).abs() < 1e-6, "{g} vs {w}");
        }
        assert_eq!(ClassWeight::None.resolve(&[1, 2], &names[..2]).unwrap(), None);
    }

    #[test]
    fn given_weights_parse_and_must_fit_the_classes() {
        let names: Vec<String> = ["Angry", "Happy", "Sad"].iter().map(|s| s.to_string()).collect();
        let w: ClassWeight = "1, 2.5,0.5".parse().unwrap();
        assert_eq!(w.resolve(&[1, 1, 1], &names).unwrap(), Some(vec![1.0, 2.5, 0.5]));
        let e = "1,2".parse::<ClassWeight>().unwrap().resolve(&[1, 1, 1], &names).unwrap_err().to_string();
        assert!(e.contains("--class-weight") && e.contains("2 weights for 3 classes (Angry, Happy, Sad)"), "{e}");
        assert_eq!("Balanced".parse::<ClassWeight>().unwrap(), ClassWeight::Balanced);
        for bad in ["1,x", "1,-2", "0,0", "1,inf", ""] {
            let e = bad.parse::<ClassWeight>().unwrap_err().to_string();
            assert!(e.contains("--class-weight"), "{bad}: {e}");
        }
    }
}
