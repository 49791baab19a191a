//! The settings of a training run ([`TrainConfig`]) and their checks.

use super::imbalance::{holdout, ClassWeight, SplitMode};
use crate::data::{Augment, Dataset, NormKind};
use crate::error::{Error, Result};
use crate::optim::{OptimConfig, Schedule};
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
    /// How `val_split` is drawn (settings saved before it existed: random).
    #[serde(default = "SplitMode::legacy")]
    pub split_mode: SplitMode,
    /// Class weights of the training loss.
    #[serde(default)]
    pub class_weight: ClassWeight,
    /// Learning-rate schedule over the epochs.
    #[serde(default)]
    pub schedule: Schedule,
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
        self.class_weight.validate()?;
        self.schedule.validate()?;
        self.optimizer.validate()
    }

    /// Checks the settings against the validation data there will be: early stopping needs
    /// some (`separate_validation`: a validation set is given besides the training data).
    pub fn validate_with(&self, separate_validation: bool) -> Result<()> {
        if self.patience.is_some() && !separate_validation && self.val_split <= 0.0 {
            return Err(Error::invalid("--patience", "early stopping needs validation data: give --val-split > 0 or --val-data"));
        }
        if self.schedule.needs_validation() && !separate_validation && self.val_split <= 0.0 {
            return Err(Error::invalid("--schedule", "plateau watches the validation score: give --val-split > 0 or --val-data"));
        }
        self.validate()
    }

    /// [`holdout`] of the training data `ds` with this run's split, seed and mode.
    pub fn holdout(&self, ds: &Dataset) -> (Vec<usize>, Vec<usize>) {
        holdout(ds, self.val_split, self.seed, self.split_mode)
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
            split_mode: SplitMode::Stratified,
            class_weight: ClassWeight::None,
            schedule: Schedule::Constant,
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
        let ds = Dataset {
            channels: 1,
            height: 1,
            width: 1,
            pixels: vec![0; 40],
            labels: Some((0..40).map(|i| (i % 2) as u8).collect()),
            ids: None,
            class_names: vec!["a".into(), "b".into()],
        };
        let cfg = TrainConfig { val_split: 0.25, seed: 9, ..TrainConfig::default() };
        let (tr, va) = cfg.holdout(&ds);
        assert_eq!((tr.len(), va.len()), (30, 10));
        assert_eq!((tr.clone(), va.clone()), holdout(&ds, 0.25, 9, SplitMode::Stratified));
        assert!(va.iter().all(|i| !tr.contains(i)));
        let none = TrainConfig { val_split: 0.0, ..cfg };
        assert_eq!(none.holdout(&ds), ((0..40).collect(), vec![]));
    }

    /// Settings saved before the split mode existed keep their random split on --resume.
    #[test]
    fn old_settings_split_at_random() {
        let mut json = serde_json::to_value(TrainConfig::default()).unwrap();
        let obj = json.as_object_mut().unwrap();
        for k in ["split_mode", "class_weight", "schedule"] {
            obj.remove(k);
        }
        let old: TrainConfig = serde_json::from_value(json).unwrap();
        assert_eq!((old.split_mode, old.class_weight, old.schedule), (SplitMode::Random, ClassWeight::None, Schedule::Constant));
    }

    #[test]
    fn plateau_needs_validation_data() {
        let cfg = TrainConfig { schedule: Schedule::Plateau { factor: 0.1, patience: 2, min_lr: 0.0 }, val_split: 0.0, ..TrainConfig::default() };
        let e = cfg.validate_with(false).unwrap_err().to_string();
        assert!(e.contains("--schedule") && e.contains("--val-data"), "{e}");
        cfg.validate_with(true).unwrap();
    }

    #[test]
    fn monitor_names() {
        assert_eq!("val_acc".parse::<Monitor>().unwrap(), Monitor::ValAccuracy);
        assert_eq!("val_accuracy".parse::<Monitor>().unwrap(), Monitor::ValAccuracy);
        assert_eq!("val_loss".parse::<Monitor>().unwrap(), Monitor::ValLoss);
        assert!("loss".parse::<Monitor>().unwrap_err().to_string().contains("--monitor"));
    }
}
