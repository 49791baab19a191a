//! Settings of one model timed against each other in one process, their steps interleaved
//! (what `pupil bench --compare` prints).
//!
//! On a shared machine a figure taken in one process and one taken a minute later in another
//! differ by more than most changes worth measuring: the load from other guests moves from one
//! minute to the next. Ratios between settings of the same model (batch 32 against 128, 96x96
//! input against 48x48, one thread against two) are only meaningful when both sides see the same
//! machine, so [`bench_alternating`] builds every setting's trainer up front and then runs
//! rounds: each round gives every setting, in turn, one untimed step (the first step after
//! another setting ran finds the caches and the buffer pool filled with the other setting's
//! data) and then `steps` timed training steps and inference passes. The order of the settings
//! rotates from round to round, so no setting always runs first. Each round yields one ratio
//! per setting, its time per image over the first setting's time per image in the same round;
//! the result is the median of those ratios and their spread.

use super::bench::{bench_trainer, median};
use crate::autograd::Graph;
use crate::error::{Error, Result};
use crate::nn::ModelSpec;
use std::time::Instant;

/// One setting of [`bench_alternating`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchSetting {
    /// Input `[C, H, W]` of the random images.
    pub input: [usize; 3],
    /// Images per step.
    pub batch: usize,
    /// Worker threads (a pool of its own), or `None` for the current pool.
    pub threads: Option<usize>,
}

/// One setting's figures from [`bench_alternating`].
#[derive(Clone, Debug)]
pub struct AlternatingResult {
    /// Images per second of a training step: the median over the rounds of each round's
    /// median step.
    pub train_img_s: f64,
    /// Images per second of inference, likewise.
    pub infer_img_s: f64,
    /// Per round: this setting's training time per image over the first setting's in the
    /// same round (all 1 for the first setting).
    pub train_ratios: Vec<f64>,
    /// Per round: the same for inference.
    pub infer_ratios: Vec<f64>,
    /// Buffers the output pool ([`pupil_kernels::alloc`]) had to allocate anew during this
    /// setting's timed steps and passes, over all rounds: 0 when the untimed step of each
    /// round left every buffer in place, so no timed step paid for page faults.
    pub timed_misses: usize,
}

impl AlternatingResult {
    /// Median of [`train_ratios`](Self::train_ratios).
    pub fn train_ratio(&self) -> f64 {
        median(&mut self.train_ratios.clone())
    }

    /// Median of [`infer_ratios`](Self::infer_ratios).
    pub fn infer_ratio(&self) -> f64 {
        median(&mut self.infer_ratios.clone())
    }
}

/// Seconds of `steps` runs of `f`, the median.
fn median_secs(steps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut ts = Vec::with_capacity(steps);
    for _ in 0..steps {
        let t0 = Instant::now();
        f()?;
        ts.push(t0.elapsed().as_secs_f64());
    }
    Ok(median(&mut ts))
}

/// The settings that `pupil bench --compare` names, `batch=32,128`, `input=48x48x1,96x96x1` or
/// `threads=1,2` (at least two values of one setting), each from `base` with that setting
/// changed, with a label for each (`batch 32`).
pub fn parse_compare(s: &str, base: &BenchSetting) -> Result<Vec<(String, BenchSetting)>> {
    let bad = |msg: String| Error::invalid("--compare", msg);
    let (axis, values) =
        s.split_once('=').ok_or_else(|| bad(format!("{s:?} is not SETTING=V1,V2,... (batch=32,128, input=48x48x1,96x96x1 or threads=1,2)")))?;
    let values: Vec<&str> = values.split(',').map(str::trim).collect();
    if values.len() < 2 || values.iter().any(|v| v.is_empty()) {
        return Err(bad(format!("{s:?}: give at least two values, separated by commas")));
    }
    let whole = |v: &str, lo: usize, hi: usize| match v.parse::<usize>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(bad(format!("{axis} {v:?} is not a whole number from {lo} to {hi}"))),
    };
    let axis = axis.trim();
    values
        .into_iter()
        .map(|v| {
            let mut set = base.clone();
            match axis {
                "batch" => set.batch = whole(v, 1, 65536)?,
                "threads" => set.threads = Some(whole(v, 1, 256)?),
                "input" => set.input = super::parse_input(v).map_err(|_| bad(format!("input {v:?} is not HxWxC like 48x48x1")))?,
                _ => return Err(bad(format!("{axis:?} is not a setting to compare: batch, input or threads"))),
            }
            Ok((format!("{axis} {v}"), set))
        })
        .collect()
}

/// `f` on `pool` (its threads serve the parallel work inside), or on the current pool.
fn on<R: Send>(pool: &Option<rayon::ThreadPool>, f: impl FnOnce() -> R + Send) -> R {
    match pool {
        Some(p) => p.install(f),
        None => f(),
    }
}

/// Times `spec` under each of `settings` (at least one) in `rounds` rounds of interleaved
/// training steps and inference passes on random images with `classes` outputs (see the
/// module docs): per round and setting, one untimed step and pass, then `steps` timed ones.
/// Every setting's trainer exists for the whole run, so the memory needed is their sum.
pub fn bench_alternating(spec: &ModelSpec, settings: &[BenchSetting], classes: usize, rounds: usize, steps: usize) -> Result<Vec<AlternatingResult>> {
    if settings.is_empty() || rounds == 0 || steps == 0 {
        return Err(Error::invalid("bench", "needs at least one setting, one round and one step"));
    }
    let pools = settings
        .iter()
        .map(|s| match s.threads {
            Some(t) if t == 0 || t > 256 => Err(Error::invalid("--threads", format!("{t} is not from 1 to 256"))),
            Some(t) => rayon::ThreadPoolBuilder::new().num_threads(t).build().map(Some).map_err(|e| Error::invalid("--threads", e.to_string())),
            None => Ok(None),
        })
        .collect::<Result<Vec<_>>>()?;
    let mut trainers = settings.iter().map(|s| bench_trainer(spec, &s.input, classes, s.batch)).collect::<Result<Vec<_>>>()?;
    // per setting, per round: seconds per image of a training step and of an inference pass
    let n = settings.len();
    let (mut train, mut infer) = (vec![vec![0.0; rounds]; n], vec![vec![0.0; rounds]; n]);
    let mut misses = vec![0; n];
    let missed = pupil_kernels::alloc::misses;
    for r in 0..rounds {
        for i in (0..n).map(|j| (j + r) % n) {
            let (trainer, x, y, rng) = &mut trainers[i];
            let per = settings[i].batch as f64;
            train[i][r] = on(&pools[i], || {
                trainer.step(x.clone(), y, rng)?;
                let before = missed();
                let t = median_secs(steps, || trainer.step(x.clone(), y, rng).map(drop));
                misses[i] += missed() - before;
                t
            })? / per;
            let model = &trainer.model;
            let pass = || {
                let g = Graph::no_grad();
                model.forward_logits(&g.constant(x.clone())).map(drop)
            };
            infer[i][r] = on(&pools[i], || {
                pass()?;
                let before = missed();
                let t = median_secs(steps, pass);
                misses[i] += missed() - before;
                t
            })? / per;
        }
    }
    let ratios = |t: &[Vec<f64>], i: usize| -> Vec<f64> { (0..rounds).map(|r| t[i][r] / t[0][r]).collect() };
    let img_s = |t: &[f64]| 1.0 / median(&mut t.to_vec());
    Ok((0..n)
        .map(|i| AlternatingResult {
            train_img_s: img_s(&train[i]),
            infer_img_s: img_s(&infer[i]),
            train_ratios: ratios(&train, i),
            infer_ratios: ratios(&infer, i),
            timed_misses: misses[i],
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::resolve_model;

    fn setting(batch: usize, threads: Option<usize>) -> BenchSetting {
        BenchSetting { input: [1, 8, 8], batch, threads }
    }

    /// Every setting gets one ratio per round, the first setting's are all exactly 1, the
    /// others' are the rounds' own quotients (positive and finite), and the img/s figures are
    /// finite; settings may differ in batch, input and threads in one run.
    #[test]
    fn every_setting_has_a_ratio_per_round_against_the_first() {
        let spec = resolve_model("small", 3).unwrap();
        let mut wide = setting(4, None);
        wide.input = [1, 12, 12];
        let settings = [setting(2, Some(1)), setting(6, Some(2)), wide];
        let got = bench_alternating(&spec, &settings, 3, 3, 2).unwrap();
        assert_eq!(got.len(), 3);
        assert!(got[0].train_ratios.iter().chain(&got[0].infer_ratios).all(|&q| q == 1.0));
        for g in &got {
            assert_eq!((g.train_ratios.len(), g.infer_ratios.len()), (3, 3));
            assert!(g.train_ratios.iter().chain(&g.infer_ratios).all(|q| q.is_finite() && *q > 0.0), "{g:?}");
            assert!(g.train_img_s.is_finite() && g.train_img_s > 0.0 && g.infer_img_s.is_finite() && g.infer_img_s > 0.0, "{g:?}");
            let mid = g.train_ratio();
            assert!(g.train_ratios.iter().filter(|&&q| q <= mid).count() >= 2 && g.train_ratios.iter().filter(|&&q| q >= mid).count() >= 2);
        }
    }

    #[test]
    fn compare_flags_name_one_setting_and_its_values() {
        let base = setting(128, None);
        let got = parse_compare("batch=32, 128,256", &base).unwrap();
        let labels: Vec<&str> = got.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, ["batch 32", "batch 128", "batch 256"]);
        assert_eq!(got[0].1, BenchSetting { batch: 32, ..base.clone() });
        let got = parse_compare("input=48x48x1,96x96x3", &base).unwrap();
        assert_eq!((got[0].1.input, got[1].1.input, got[1].1.batch), ([1, 48, 48], [3, 96, 96], 128));
        let got = parse_compare("threads=1,2", &base).unwrap();
        assert_eq!((got[0].1.threads, got[1].1.threads), (Some(1), Some(2)));
        for (flag, says) in [
            ("batch", "SETTING=V1,V2"),
            ("batch=32", "at least two values"),
            ("batch=32,,64", "at least two values"),
            ("batch=32,0", "batch \"0\" is not a whole number from 1 to 65536"),
            ("threads=1,300", "from 1 to 256"),
            ("input=48x48x1,48x48", "input \"48x48\" is not HxWxC"),
            ("epochs=1,2", "\"epochs\" is not a setting to compare"),
        ] {
            let e = parse_compare(flag, &base).unwrap_err().to_string();
            assert!(e.contains("--compare") && e.contains(says), "{flag}: {e}");
        }
    }

    #[test]
    fn bad_settings_are_refused_before_any_step() {
        let spec = resolve_model("small", 3).unwrap();
        assert!(bench_alternating(&spec, &[], 3, 1, 1).is_err());
        assert!(bench_alternating(&spec, &[setting(2, None)], 3, 0, 1).is_err());
        let e = bench_alternating(&spec, &[setting(2, None), setting(2, Some(0))], 3, 1, 1).unwrap_err().to_string();
        assert!(e.contains("--threads"), "{e}");
        // the model does not fit the input: the trainer's own error, for the setting at fault
        let tiny = BenchSetting { input: [1, 1, 1], batch: 2, threads: None };
        assert!(bench_alternating(&resolve_model("keras-hw3", 3).unwrap(), &[tiny], 3, 1, 1).is_err());
    }
}
