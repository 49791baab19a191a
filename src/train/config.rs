//! The settings of a training run ([`TrainConfig`]), their checks, and the one rule that says
//! which training images are held out for validation ([`holdout`]).

use crate::data::{split_validation, Augment, NormKind};
use crate::error::{Error, Result};
use crate::optim::OptimConfig;
use serde::{Deserialize, Serialize};

/// What early stopping watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monitor {
    ValAccuracy,
    ValLoss,
}

impl std::str::FromStr for Monitor {
    type Err = Error;
    fn from_str(s: &str) -> Result<Monitor> {
        match s {
            "val_acc" | "val_accuracy" => Ok(Monitor::ValAccuracy),
            "val_loss" => Ok(Monitor::ValLoss),
            m => Err(Error::invalid("--monitor", format!("{m:?} is not val_acc or val_loss"))),
        }
    }
}

/// Settings of a training run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: OptimConfig,
    /// Fraction of the training data held out for validation when no validation set is given
    /// (0 when one is).
    pub val_split: f32,
    /// Stop after this many epochs without improvement of `monitor` (None = never).
    pub patience: Option<usize>,
    pub monitor: Monitor,
    pub augment: Augment,
    pub normalization: NormKind,
    pub seed: u64,
}

/// Which of `n` training images are trained on and which are held out for validation: a
/// fraction `val_split` (rounded) drawn at random from `seed`, each list sorted. The one place
/// the held-out images are decided: the trainer, the run directory's record of its data and
/// the final evaluation all ask here.
pub fn holdout(n: usize, val_split: f32, seed: u64) -> (Vec<usize>, Vec<usize>) {
    split_validation(n, val_split, seed)
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
        self.optimizer.validate()
    }

    /// Checks the settings against the validation data there will be: early stopping needs
    /// some (`separate_validation`: a validation set is given besides the training data).
    pub fn validate_with(&self, separate_validation: bool) -> Result<()> {
        if self.patience.is_some() && !separate_validation && self.val_split <= 0.0 {
            return Err(Error::invalid("--patience", "early stopping needs validation data: give --val-split > 0 or --val-data"));
        }
        self.validate()
    }

    /// [`holdout`] of `n` training images with this run's split and seed.
    pub fn holdout(&self, n: usize) -> (Vec<usize>, Vec<usize>) {
        holdout(n, self.val_split, self.seed)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patience_needs_validation_data() {
        let cfg = TrainConfig { patience: Some(3), val_split: 0.0, ..TrainConfig::default() };
        let e = cfg.validate_with(false).unwrap_err().to_string();
        assert!(e.contains("--patience") && e.contains("--val-data"), "{e}");
        cfg.validate_with(true).unwrap();
        TrainConfig { val_split: 0.1, ..cfg }.validate_with(false).unwrap();
    }

    #[test]
    fn validate_checks_the_optimizer_and_the_split() {
        let mut cfg = TrainConfig::default();
        cfg.optimizer.lr = -1.0;
        assert!(cfg.validate().unwrap_err().to_string().contains("--lr"));
        let cfg = TrainConfig { val_split: 1.0, ..TrainConfig::default() };
        assert!(cfg.validate().unwrap_err().to_string().contains("validation split 1"));
        let cfg = TrainConfig { epochs: 0, ..TrainConfig::default() };
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn holdout_is_the_configs_split() {
        let cfg = TrainConfig { val_split: 0.25, seed: 9, ..TrainConfig::default() };
        let (tr, va) = cfg.holdout(40);
        assert_eq!((tr.len(), va.len()), (30, 10));
        assert_eq!((tr.clone(), va.clone()), holdout(40, 0.25, 9));
        assert!(va.iter().all(|i| !tr.contains(i)));
        let none = TrainConfig { val_split: 0.0, ..cfg };
        assert_eq!(none.holdout(40), ((0..40).collect(), vec![]));
    }

    #[test]
    fn monitor_names() {
        assert_eq!("val_acc".parse::<Monitor>().unwrap(), Monitor::ValAccuracy);
        assert_eq!("val_accuracy".parse::<Monitor>().unwrap(), Monitor::ValAccuracy);
        assert_eq!("val_loss".parse::<Monitor>().unwrap(), Monitor::ValLoss);
        assert!("loss".parse::<Monitor>().unwrap_err().to_string().contains("--monitor"));
    }
}
