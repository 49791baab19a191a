//! Learning-rate schedules over epochs, beside Keras' per-step decay (which
//! [`super::Optimizer`] applies on top: the step's rate is `lr_epoch / (1 + decay · t)`).
//!
//! With `η` the base rate (`--lr`) and `e` the number of epochs completed before the epoch
//! (0 for the first), the rate of an epoch is (PyTorch's formulas, stepped once per epoch):
//!
//! * [`Schedule::Constant`] keeps `η`.
//! * [`Schedule::Step`] (`StepLR`) gives `η · γ^⌊e / every⌋`.
//! * [`Schedule::Cosine`] (`CosineAnnealingLR`) gives `η_min + (η - η_min) (1 + cos(π e / T)) / 2`
//!   with `T` the run's epochs when it started: the first epoch runs at `η`, the last one just
//!   above `η_min` (as in PyTorch, where `T_max` epochs end at `e = T_max - 1`); a resumed run
//!   given more epochs stays at `η_min` after `T`, rather than climbing again as PyTorch's
//!   closed form would.
//! * [`Schedule::Plateau`] (`ReduceLROnPlateau`, threshold 0, no cooldown) starts the rate at
//!   `η`; after each validated epoch, a monitored score that is not strictly better than the
//!   best so far counts a bad epoch, and when there have been more than `patience` bad epochs
//!   in a row the rate becomes `max(rate · factor, min_lr)` and the count restarts. Its state
//!   ([`ScheduleState`]) is saved with the training state, so `--resume` continues it exactly.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// A learning-rate schedule (the `--schedule` flag and its settings).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Schedule {
    /// The base rate every epoch.
    #[default]
    Constant,
    /// Multiply by `gamma` every `every` epochs.
    Step { every: usize, gamma: f32 },
    /// Cosine annealing from the base rate to `min_lr` over `epochs` epochs.
    Cosine { epochs: usize, min_lr: f32 },
    /// Multiply by `factor` (down to `min_lr`) after more than `patience` epochs without
    /// improvement of the monitored score.
    Plateau { factor: f32, patience: usize, min_lr: f32 },
}

/// The flags that make a [`Schedule`]: `--schedule NAME` with its settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleFlags {
    /// `none`, `step`, `cosine` or `plateau`.
    pub name: String,
    /// `--step-every` (step).
    pub step_every: Option<usize>,
    /// `--gamma` (step).
    pub gamma: f32,
    /// `--factor` (plateau).
    pub factor: f32,
    /// `--lr-patience` (plateau).
    pub patience: usize,
    /// `--min-lr` (cosine, plateau).
    pub min_lr: f32,
}

impl Default for ScheduleFlags {
    /// Keras' `ReduceLROnPlateau` and PyTorch's `StepLR` defaults.
    fn default() -> Self {
        ScheduleFlags { name: "none".into(), step_every: None, gamma: 0.1, factor: 0.1, patience: 10, min_lr: 0.0 }
    }
}

/// What a schedule carries from epoch to epoch (only [`Schedule::Plateau`] has any).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    /// The rate of the next epoch, once the plateau schedule has started (None: the base rate).
    pub lr: Option<f32>,
    /// The best monitored score so far (higher is better).
    pub best: Option<f64>,
    /// Bad epochs in a row since the best one or the last reduction.
    pub bad_epochs: usize,
}

impl Schedule {
    /// The schedule the flags name, for a run of `epochs` epochs; checked by [`Self::validate`].
    pub fn from_flags(f: &ScheduleFlags, epochs: usize) -> Result<Schedule> {
        let s = match f.name.to_ascii_lowercase().as_str() {
            "none" | "constant" => Schedule::Constant,
            "step" => {
                let every = f.step_every.ok_or_else(|| Error::invalid("--schedule", "step needs --step-every N (epochs between reductions)"))?;
                Schedule::Step { every, gamma: f.gamma }
            }
            "cosine" => Schedule::Cosine { epochs, min_lr: f.min_lr },
            "plateau" => Schedule::Plateau { factor: f.factor, patience: f.patience, min_lr: f.min_lr },
            other => return Err(Error::invalid("--schedule", format!("unknown schedule {other:?} (none, step, cosine, plateau)"))),
        };
        s.validate()?;
        Ok(s)
    }

    /// Checks the settings; the errors name the flag.
    pub fn validate(&self) -> Result<()> {
        let bad = |flag: &'static str, msg: String| Err(Error::invalid(flag, msg));
        match *self {
            Schedule::Constant => Ok(()),
            Schedule::Step { every, gamma } => {
                if every == 0 {
                    return bad("--step-every", "must be at least 1 epoch".into());
                }
                if !(gamma > 0.0 && gamma.is_finite()) {
                    return bad("--gamma", format!("{gamma} must be a positive number"));
                }
                Ok(())
            }
            Schedule::Cosine { epochs, min_lr } => {
                if epochs == 0 {
                    return bad("--schedule", "cosine needs at least 1 epoch".into());
                }
                check_min_lr(min_lr)
            }
            Schedule::Plateau { factor, min_lr, .. } => {
                if !(factor > 0.0 && factor < 1.0) {
                    return bad("--factor", format!("{factor} must be in (0, 1)"));
                }
                check_min_lr(min_lr)
            }
        }
    }

    /// True if the schedule watches the validation score (it then needs validation data).
    pub fn needs_validation(&self) -> bool {
        matches!(self, Schedule::Plateau { .. })
    }

    /// The rate of the epoch after `done` completed epochs, from the base rate `base`.
    pub fn lr(&self, base: f32, done: usize, state: &ScheduleState) -> f32 {
        match *self {
            Schedule::Constant => base,
            Schedule::Step { every, gamma } => (base as f64 * (gamma as f64).powi((done / every) as i32)) as f32,
            Schedule::Cosine { epochs, min_lr } => {
                let t = done.min(epochs) as f64 / epochs as f64;
                let (b, m) = (base as f64, min_lr as f64);
                (m + (b - m) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0) as f32
            }
            Schedule::Plateau { .. } => state.lr.unwrap_or(base),
        }
    }

    /// Updates `state` after an epoch whose monitored score (higher is better) was `score`,
    /// `base` being the base rate. Only the plateau schedule changes anything.
    pub fn epoch_end(&self, base: f32, score: Option<f64>, state: &mut ScheduleState) {
        let Schedule::Plateau { factor, patience, min_lr } = *self else {
            return;
        };
        let Some(s) = score else {
            return;
        };
        let lr = state.lr.unwrap_or(base);
        if state.best.is_none_or(|b| s > b) {
            state.best = Some(s);
            state.bad_epochs = 0;
        } else {
            state.bad_epochs += 1;
        }
        state.lr = Some(lr);
        if state.bad_epochs > patience {
            state.lr = Some((lr * factor).max(min_lr));
            state.bad_epochs = 0;
        }
    }
}

fn check_min_lr(min_lr: f32) -> Result<()> {
    if !(min_lr >= 0.0 && min_lr.is_finite()) {
        return Err(Error::invalid("--min-lr", format!("{min_lr} must be a number >= 0")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(name: &str) -> ScheduleFlags {
        ScheduleFlags { name: name.into(), ..ScheduleFlags::default() }
    }

    fn close(a: f32, b: f64) -> bool {
        (a as f64 - b).abs() <= 1e-7 * b.abs().max(1e-12)
    }

    /// StepLR(step_size=3, gamma=0.5) from 0.1: 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025.
    #[test]
    fn step_halves_every_three_epochs() {
        let s = Schedule::from_flags(&ScheduleFlags { step_every: Some(3), gamma: 0.5, ..flags("step") }, 10).unwrap();
        let got: Vec<f32> = (0..7).map(|e| s.lr(0.1, e, &ScheduleState::default())).collect();
        for (g, want) in got.iter().zip([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]) {
            assert!(close(*g, want), "{got:?}");
        }
    }

    /// CosineAnnealingLR(T_max=4, eta_min=0.01) from 0.1: 0.1, 0.01 + 0.09 (1 + cos(π/4))/2 =
    /// 0.086820, 0.055, 0.023180, 0.01, then 0.01 (held).
    #[test]
    fn cosine_follows_the_half_cosine_and_holds_at_the_minimum() {
        let s = Schedule::from_flags(&ScheduleFlags { min_lr: 0.01, ..flags("cosine") }, 4).unwrap();
        assert_eq!(s, Schedule::Cosine { epochs: 4, min_lr: 0.01 });
        let want = [0.1, 0.086_819_805, 0.055, 0.023_180_195, 0.01, 0.01];
        for (e, w) in want.iter().enumerate() {
            let g = s.lr(0.1, e, &ScheduleState::default());
            assert!((g as f64 - w).abs() < 1e-8, "epoch {e}: {g} vs {w}");
        }
    }

    /// ReduceLROnPlateau(factor=0.5, patience=1, min_lr=0.03) on scores 1, 2, 2, 1.5, 3, 3, 3, 3
    /// from 0.1: bad epochs 0, 0, 1, 2 → reduce to 0.05, 0 (3 is best), 1, 2 → reduce to
    /// max(0.025, 0.03) = 0.03, 1.
    #[test]
    fn plateau_reduces_after_more_than_patience_bad_epochs() {
        let s = Schedule::from_flags(&ScheduleFlags { factor: 0.5, patience: 1, min_lr: 0.03, ..flags("plateau") }, 10).unwrap();
        let mut st = ScheduleState::default();
        let mut lrs = vec![];
        for score in [1.0, 2.0, 2.0, 1.5, 3.0, 3.0, 3.0, 3.0] {
            lrs.push(s.lr(0.1, 0, &st));
            s.epoch_end(0.1, Some(score), &mut st);
        }
        lrs.push(s.lr(0.1, 0, &st));
        assert_eq!(lrs, [0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.03, 0.03]);
        assert_eq!((st.best, st.bad_epochs), (Some(3.0), 1));
        // an epoch without a score changes nothing
        let before = st.clone();
        s.epoch_end(0.1, None, &mut st);
        assert_eq!(st, before);
    }

    #[test]
    fn constant_and_bad_flags() {
        let s = Schedule::from_flags(&flags("none"), 5).unwrap();
        assert_eq!(s.lr(0.3, 4, &ScheduleState::default()), 0.3);
        let cases = [
            (flags("step"), "--step-every"),
            (ScheduleFlags { step_every: Some(0), ..flags("step") }, "--step-every"),
            (ScheduleFlags { step_every: Some(2), gamma: 0.0, ..flags("step") }, "--gamma"),
            (ScheduleFlags { factor: 1.0, ..flags("plateau") }, "--factor"),
            (ScheduleFlags { min_lr: -1.0, ..flags("cosine") }, "--min-lr"),
            (flags("exponential"), "--schedule"),
        ];
        for (f, flag) in cases {
            let e = Schedule::from_flags(&f, 5).unwrap_err().to_string();
            assert!(e.contains(flag), "{f:?}: {e}");
        }
    }

    /// The state goes through the checkpoint's JSON and back unchanged.
    #[test]
    fn state_round_trips_through_json() {
        let st = ScheduleState { lr: Some(0.1f32 * 0.1), best: Some(-(0.7f32 as f64)), bad_epochs: 3 };
        let back: ScheduleState = serde_json::from_str(&serde_json::to_string(&st).unwrap()).unwrap();
        assert_eq!(back, st);
        let s = Schedule::Plateau { factor: 0.1, patience: 10, min_lr: 0.0 };
        assert_eq!(serde_json::from_str::<Schedule>(&serde_json::to_string(&s).unwrap()).unwrap(), s);
    }
}
