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

impl BenchSetting {
    /// `batch 32, input 48x48x1` and, with a pool of its own, `, 2 threads`.
    pub fn describe(&self) -> String {
        let [c, h, w] = self.input;
        let threads = self.threads.map_or(String::new(), |t| format!(", {t} thread{}", if t == 1 { "" } else { "s" }));
        format!("batch {}, input {h}x{w}x{c}{threads}", self.batch)
    }
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
    /// Worker threads the setting's steps ran on (`rayon::current_num_threads` inside them).
    pub threads: usize,
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
/// changed, with a label for each (`batch 32`). A value may repeat: `batch=128,128` times the
/// same setting against itself, which shows how far the host's noise alone moves the ratio.
pub fn parse_compare(s: &str, base: &BenchSetting) -> Result<Vec<(String, BenchSetting)>> {
    let bad = |msg: String| Error::invalid("--compare", msg);
    let (axis, values) =
        s.split_once('=').ok_or_else(|| bad(format!("{s:?} is not SETTING=V1,V2,... (batch=32,128, input=48x48x1,96x96x1 or threads=1,2)")))?;
    let axis = axis.trim();
    let values: Vec<&str> = values.split(',').map(str::trim).collect();
    if values.iter().any(|v| v.is_empty()) {
        return Err(bad(format!("{s:?} has an empty value: give the values separated by single commas")));
    }
    if values.len() < 2 {
        return Err(bad(format!("{s:?}: give at least two values, separated by commas")));
    }
    let whole = |v: &str, lo: usize, hi: usize| match v.parse::<usize>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(bad(format!("{axis} {v:?} is not a whole number from {lo} to {hi}"))),
    };
    values
        .into_iter()
        .map(|v| {
            let mut set = base.clone();
            // the label shows the value as parsed (`batch=+4` is "batch 4")
            let label = match axis {
                "batch" => {
                    set.batch = whole(v, 1, 65536)?;
                    format!("batch {}", set.batch)
                }
                "threads" => {
                    let t = whole(v, 1, super::check::MAX_THREADS)?;
                    set.threads = Some(t);
                    format!("threads {t}")
                }
                "input" => {
                    set.input = super::parse_input(v).map_err(|_| bad(format!("input {v:?} is not HxWxC like 48x48x1")))?;
                    let [c, h, w] = set.input;
                    format!("input {h}x{w}x{c}")
                }
                _ => return Err(bad(format!("{axis:?} is not a setting to compare: batch, input or threads"))),
            };
            Ok((label, set))
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

/// The order in which round `r` runs `n` settings: from setting `r mod n` on, so that every
/// setting runs first in some round and directly after each of the others.
pub(crate) fn round_order(n: usize, r: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |j| (j + r) % n)
}

/// Per-setting figures from seconds per image, `[setting][round]`: images per second (one over
/// the median of the rounds) and each round's time over the first setting's in that round.
pub(crate) fn summarize(per_image: &[Vec<f64>]) -> Vec<(f64, Vec<f64>)> {
    per_image.iter().map(|t| (1.0 / median(&mut t.clone()), t.iter().zip(&per_image[0]).map(|(a, b)| a / b).collect())).collect()
}

/// Refuses settings whose training steps, all held at once (as [`bench_alternating`] does),
/// need more memory than is available; each step's estimate is
/// [`ModelSpec::step_memory`](crate::nn::ModelSpec::step_memory).
fn check_memory_together(spec: &ModelSpec, settings: &[BenchSetting], slots: usize) -> Result<()> {
    let avail = crate::nn::mem_available();
    let mut total = 0u128;
    for s in settings {
        let named = |e: Error| Error::invalid("--compare", format!("{}: {e}", s.describe()));
        let m = spec.step_memory(&s.input, s.batch, slots).map_err(named)?;
        crate::nn::check_memory(&m, avail).map_err(named)?;
        total += m.total();
    }
    match avail {
        Some(avail) if total > avail as u128 => Err(Error::invalid(
            "--compare",
            format!(
                "the {} settings' training steps, held together, need about {} but only {} of memory is available; compare fewer or smaller settings",
                settings.len(),
                crate::nn::gb(total),
                crate::nn::gb(avail as u128)
            ),
        )),
        _ => Ok(()),
    }
}

/// Times `spec` under each of `settings` (at least one) in `rounds` rounds of interleaved
/// training steps and inference passes on random images with `classes` outputs (see the
/// module docs): per round and setting, one untimed step and pass, then `steps` timed ones.
/// Every setting's trainer exists for the whole run, so the settings' step memory together
/// must fit in the memory available (checked first, with every setting's own checks, before
/// any step); an error that belongs to one setting names it.
pub fn bench_alternating(spec: &ModelSpec, settings: &[BenchSetting], classes: usize, rounds: usize, steps: usize) -> Result<Vec<AlternatingResult>> {
    if settings.is_empty() || rounds == 0 || steps == 0 {
        return Err(Error::invalid("bench", "needs at least one setting, one round and one step"));
    }
    let pools = settings
        .iter()
        .map(|s| match s.threads {
            Some(t) => {
                super::check::check_threads(t)?;
                rayon::ThreadPoolBuilder::new().num_threads(t).build().map(Some).map_err(|e| Error::invalid("--threads", e.to_string()))
            }
            None => Ok(None),
        })
        .collect::<Result<Vec<_>>>()?;
    check_memory_together(spec, settings, super::TrainConfig::default().optimizer.state_slots())?;
    let mut trainers = settings
        .iter()
        .map(|s| bench_trainer(spec, &s.input, classes, s.batch).map_err(|e| Error::invalid("--compare", format!("{}: {e}", s.describe()))))
        .collect::<Result<Vec<_>>>()?;
    // per setting, per round: seconds per image of a training step and of an inference pass
    let n = settings.len();
    let (mut train, mut infer) = (vec![vec![0.0; rounds]; n], vec![vec![0.0; rounds]; n]);
    let (mut misses, mut threads) = (vec![0; n], vec![0; n]);
    let missed = pupil_kernels::alloc::misses;
    for r in 0..rounds {
        for i in round_order(n, r) {
            let (trainer, x, y, rng) = &mut trainers[i];
            let per = settings[i].batch as f64;
            train[i][r] = on(&pools[i], || {
                threads[i] = rayon::current_num_threads();
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
    Ok(summarize(&train)
        .into_iter()
        .zip(summarize(&infer))
        .enumerate()
        .map(|(i, ((train_img_s, train_ratios), (infer_img_s, infer_ratios)))| AlternatingResult {
            train_img_s,
            infer_img_s,
            train_ratios,
            infer_ratios,
            timed_misses: misses[i],
            threads: threads[i],
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
    /// others' are positive and finite, the img/s figures are finite, and each setting ran on
    /// its own pool's threads; settings may differ in batch, input and threads in one run.
    #[test]
    fn every_setting_has_a_ratio_per_round_against_the_first() {
        let spec = resolve_model("small", 3).unwrap();
        let mut wide = setting(4, None);
        wide.input = [1, 12, 12];
        let settings = [setting(2, Some(1)), setting(6, Some(3)), wide];
        let got = bench_alternating(&spec, &settings, 3, 3, 2).unwrap();
        assert_eq!(got.len(), 3);
        assert!(got[0].train_ratios.iter().chain(&got[0].infer_ratios).all(|&q| q == 1.0));
        assert_eq!((got[0].threads, got[1].threads, got[2].threads), (1, 3, rayon::current_num_threads()));
        for g in &got {
            assert_eq!((g.train_ratios.len(), g.infer_ratios.len()), (3, 3));
            assert!(g.train_ratios.iter().chain(&g.infer_ratios).all(|q| q.is_finite() && *q > 0.0), "{g:?}");
            assert!(g.train_img_s.is_finite() && g.train_img_s > 0.0 && g.infer_img_s.is_finite() && g.infer_img_s > 0.0, "{g:?}");
        }
    }

    /// Ratios are of time per image within a round, img/s is one over the median time per
    /// image (the mean of the middle two for an even count of rounds).
    #[test]
    fn summary_divides_within_rounds() {
        // seconds per image: setting 0 is 0.01 then 0.02; setting 1 takes a third of that,
        // then the same; setting 2 twice as long in every round
        let got = summarize(&[vec![0.01, 0.02], vec![0.01 / 3.0, 0.02], vec![0.02, 0.04]]);
        assert_eq!(got[0], (1.0 / 0.015, vec![1.0, 1.0]));
        assert!((got[1].1[0] - 1.0 / 3.0).abs() < 1e-12 && got[1].1[1] == 1.0, "{got:?}");
        assert!((got[1].0 - 1.0 / ((0.01 / 3.0 + 0.02) / 2.0)).abs() < 1e-9, "{got:?}");
        assert_eq!(got[2].1, vec![2.0, 2.0]);
        assert!((got[2].0 - 1.0 / 0.03).abs() < 1e-9, "{got:?}");
        let mut odd = [3.0, 1.0, 2.0];
        assert_eq!(median(&mut odd), 2.0);
    }

    /// Each setting runs once a round, and each one runs first in some round.
    #[test]
    fn rounds_rotate_the_order() {
        let orders: Vec<Vec<usize>> = (0..4).map(|r| round_order(3, r).collect()).collect();
        assert_eq!(orders, [vec![0, 1, 2], vec![1, 2, 0], vec![2, 0, 1], vec![0, 1, 2]]);
    }

    #[test]
    fn settings_describe_themselves() {
        assert_eq!(setting(32, None).describe(), "batch 32, input 8x8x1");
        assert_eq!(BenchSetting { input: [3, 96, 48], batch: 1, threads: Some(1) }.describe(), "batch 1, input 96x48x3, 1 thread");
        assert_eq!(setting(2, Some(2)).describe(), "batch 2, input 8x8x1, 2 threads");
    }

    #[test]
    fn compare_flags_name_one_setting_and_its_values() {
        let base = setting(128, None);
        let got = parse_compare(" batch =32, 128,+256", &base).unwrap();
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
            ("batch=32,,64", "has an empty value"),
            ("batch=32,64,", "has an empty value"),
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
        assert!(bench_alternating(&spec, &[setting(2, None)], 3, 1, 0).is_err());
        // the model does not fit the input: the model's own error, naming the setting at fault
        let tiny = BenchSetting { input: [1, 1, 1], batch: 2, threads: None };
        let fits = BenchSetting { input: [1, 48, 48], batch: 2, threads: None };
        let e = bench_alternating(&resolve_model("keras-hw3", 3).unwrap(), &[fits, tiny], 3, 1, 1).unwrap_err().to_string();
        assert!(e.contains("--compare") && e.contains("batch 2, input 1x1x1:"), "{e}");
        // steps that fit one by one but not together
        if let Some(avail) = crate::nn::mem_available() {
            let big = |b| BenchSetting { input: [1, 48, 48], batch: b, threads: None };
            let keras = resolve_model("keras-hw3", 3).unwrap();
            let one = keras.step_memory(&[1, 48, 48], 1, 2).unwrap().total();
            let per = keras.step_memory(&[1, 48, 48], 2, 2).unwrap().total() - one;
            // a batch using 60% of the memory available: alone it fits, twice it does not
            let b = ((avail as u128 * 6 / 10).saturating_sub(one) / per).clamp(1, 65536) as usize;
            if keras.step_memory(&[1, 48, 48], b, 2).unwrap().total() * 2 > avail as u128 {
                let e = bench_alternating(&keras, &[big(b), big(b)], 3, 1, 1).unwrap_err().to_string();
                assert!(e.contains("held together") && e.contains("compare fewer or smaller settings"), "{e}");
            }
        }
    }
}
