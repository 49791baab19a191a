//! The commands: flags into library settings, one library call, printing.

use super::progress::{self, Progress};
use super::{BenchArgs, EvalArgs, PredictArgs, SummaryArgs, TrainArgs};
use pupil::data::{Augment, NormKind};
use pupil::error::Result;
use pupil::nn::{resolve_model, summary as summary_table, summary_model, thousands};
use pupil::optim::{OptimConfig, OptimFlags, Schedule, ScheduleFlags};
use pupil::run::{self, ConfusionFiles, DataRef, RunDir, TrainPlan, TrainSession, MAX_CONFUSION_PNG_CLASSES};
use pupil::train::{self, parse_input, TrainConfig};

pub fn train(a: TrainArgs) -> Result<()> {
    let flags = OptimFlags { lr: a.lr, decay: a.decay, momentum: a.momentum, weight_decay: a.weight_decay };
    let sched =
        ScheduleFlags { name: a.schedule.clone(), step_every: a.step_every, gamma: a.gamma, factor: a.factor, patience: a.lr_patience, min_lr: a.min_lr };
    let plan = TrainPlan {
        config: TrainConfig {
            batch_size: a.batch,
            optimizer: OptimConfig::from_flags(&a.optimizer, &flags)?,
            val_split: a.val_split,
            patience: a.patience,
            monitor: a.monitor.parse()?,
            augment: Augment::parse(&a.augment)?,
            normalization: a.normalize.parse::<NormKind>()?,
            seed: a.seed,
            split_mode: a.split_mode.parse()?,
            class_weight: a.class_weight.parse()?,
            schedule: Schedule::from_flags(&sched, a.epochs.unwrap_or(TrainConfig::default().epochs))?,
            ..TrainConfig::default()
        },
        out: a.out,
        resume: a.resume,
        overwrite: a.overwrite,
        model: a.model,
        epochs: a.epochs,
        data: a.data,
        val_data: a.val_data,
        test_data: a.test_data,
        class_names: a.class_names.as_deref().map(pupil::data::parse_class_names).transpose()?,
        classes: a.classes,
    };
    // the library's bars while the data are read and at the final evaluation; the epochs (and
    // their validation) come as events, drawn by `Progress`
    progress::observe_library(a.quiet.quiet);
    let result = train_session(&plan, a.quiet.quiet);
    pupil::progress::clear_observer();
    result
}

fn train_session(plan: &TrainPlan, quiet: bool) -> Result<()> {
    let mut session = TrainSession::start(plan)?;
    let (data, ds) = session.train_data();
    println!("Data: {} images {}x{}x{}, {} classes ({})", ds.len(), ds.height, ds.width, ds.channels, ds.num_classes(), data.describe());
    let out = session.run_dir().path().to_path_buf();
    if let Some(done) = session.resumed_after() {
        println!("Resuming {} after epoch {done}", out.display());
    }
    let name = if plan.resume { "(resumed)" } else { plan.model.as_str() };
    println!("Model {name}: {} parameters; output in {}", thousands(session.trainer.model.num_params()), out.display());
    if let Some(w) = &session.trainer.state().class_weights {
        let names = &session.trainer.meta().class_names;
        println!("Class weights: {}", names.iter().zip(w).map(|(n, w)| format!("{n} {w:.3}")).collect::<Vec<_>>().join(", "));
    }
    let mut progress = Progress::new(quiet);
    let report = session.fit(&mut |e| progress.on_event(e))?;
    if let Some(ev) = &report.evaluation {
        print_png_skipped(&ev.confusion);
        println!("Accuracy on {} held-out images: {:.4} (loss {:.4})", ev.images, ev.accuracy, ev.loss);
    }
    println!("Trained in {:.1}s; wrote {}/{{{}}}", report.seconds, out.display(), report.written.join(","));
    Ok(())
}

fn print_png_skipped(files: &ConfusionFiles) {
    if files.png.is_none() {
        println!("more than {MAX_CONFUSION_PNG_CLASSES} classes: confusion.png is not drawn, see {}", files.csv.display());
    }
}

pub fn bench(a: BenchArgs) -> Result<()> {
    let input = parse_input(&a.input)?;
    train::check_bench(a.batch, a.reps, a.classes)?;
    let base = train::BenchSetting { input, batch: a.batch, threads: None };
    let compare = a.compare.as_deref().map(|c| train::parse_compare(c, &base)).transpose()?;
    let start = train::CpuTimes::now();
    bench_runs(&a, &input, compare)?;
    // the host's share: a figure taken while the hypervisor ran other guests is slower for
    // reasons that are not pupil's
    if let Some((s, e)) = start.zip(train::CpuTimes::now()) {
        match s.steal_share_until(&e) {
            Some(share) => println!(
                "hypervisor steal during this run: {:.0}% of the machine's CPU time{}",
                100.0 * share,
                if share >= 0.05 { " (figures slowed by other guests; compare builds alternately)" } else { "" }
            ),
            // /proc/stat counts in clock ticks (usually 10 ms): a run shorter than one has none
            None => println!("hypervisor steal during this run: not counted (the run was shorter than the OS's clock tick)"),
        }
    }
    Ok(())
}

fn bench_runs(a: &BenchArgs, input: &[usize; 3], compare: Option<Vec<(String, train::BenchSetting)>>) -> Result<()> {
    let threads = rayon::current_num_threads();
    if a.layers {
        let peak = pupil_kernels::fma_peak_gflops(threads, std::time::Duration::from_millis(600));
        println!(
            "conv2d, batch {}, {threads} threads, median of {} runs; sgemm kernel: {}; measured FMA peak {peak:.0} GFLOP/s",
            a.batch,
            a.reps,
            pupil_kernels::sgemm_isa()
        );
        println!("{:<20} {:>10} {:>8} {:>14} {:>8}", "layer", "fwd GF/s", "% peak", "fwd+bwd GF/s", "% peak");
        let spin = progress::spinner(a.quiet.quiet, "timing the conv layers");
        let layers = train::bench_conv_layers(a.batch, a.reps);
        spin.finish_and_clear();
        for l in layers? {
            println!(
                "{:<20} {:>10.1} {:>7.0}% {:>14.1} {:>7.0}%",
                l.name,
                l.fwd_gflops,
                100.0 * l.fwd_gflops / peak,
                l.fwd_bwd_gflops,
                100.0 * l.fwd_bwd_gflops / peak
            );
        }
        return Ok(());
    }
    if a.profile {
        return profile(a, input, threads);
    }
    if let Some(settings) = compare {
        return self::compare(a, &settings, threads);
    }
    println!("batch {}, input {}, {threads} threads, median of {} steps; sgemm kernel: {}", a.batch, a.input, a.reps, pupil_kernels::sgemm_isa());
    println!("{:<14} {:>12} {:>14} {:>20} {:>14}", "model", "params", "train img/s", "(min-max)", "infer img/s");
    let names: Vec<&str> = a.models.split(',').collect();
    let bar = progress::items(a.quiet.quiet, names.len());
    for name in names {
        bar.set_message(format!("timing {}", name.trim()));
        let spec = resolve_model(name.trim(), a.classes)?;
        let r = train::bench_model(&spec, input, a.classes, a.batch, a.reps, 2)?;
        bar.inc(1);
        bar.suspend(|| {
            println!(
                "{:<14} {:>12} {:>14.0} {:>20} {:>14.0}",
                name,
                thousands(r.params),
                r.train_img_s,
                format!("({:.0}-{:.0})", r.train_img_s_min, r.train_img_s_max),
                r.infer_img_s
            )
        });
    }
    bar.finish_and_clear();
    Ok(())
}

/// Timed steps of each setting in a round of `bench --compare`.
const COMPARE_STEPS: usize = 3;

/// `bench --compare`: each model under several values of one setting, steps alternated.
fn compare(a: &BenchArgs, settings: &[(String, train::BenchSetting)], threads: usize) -> Result<()> {
    let first = &settings[0].0;
    let (labels, settings): (Vec<String>, Vec<train::BenchSetting>) = settings.iter().cloned().unzip();
    // the settings the values share, for the header (the compared one is in each row)
    let (s0, s1) = (&settings[0], &settings[1]);
    let mut shared = vec![];
    if s0.batch == s1.batch {
        shared.push(format!("batch {}", a.batch));
    }
    if s0.input == s1.input {
        shared.push(format!("input {}", a.input));
    }
    if s0.threads == s1.threads {
        shared.push(format!("{threads} thread{}", plural(threads)));
    }
    let ratio_head = format!("time/img ÷ {first}");
    let w = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0).max(7);
    let rw = ratio_head.chars().count().max(22);
    for name in a.models.split(',').map(str::trim) {
        let spec = resolve_model(name, a.classes)?;
        let spin = progress::spinner(a.quiet.quiet, format!("timing {name}: {} round{}", a.reps, plural(a.reps)));
        let got = train::bench_alternating(&spec, &settings, a.classes, a.reps, COMPARE_STEPS);
        spin.finish_and_clear();
        let got = got?;
        println!(
            "{name}: {} round{}, each running every setting in turn (1 untimed and {COMPARE_STEPS} timed training steps, then inference passes \
             likewise; the order rotates); {}; sgemm kernel: {}",
            a.reps,
            plural(a.reps),
            shared.join(", "),
            pupil_kernels::sgemm_isa()
        );
        println!("ratios: time per image over {first}'s in the same round (below 1: faster), median and (min-max) of the rounds");
        println!("{:<w$} {:>12} {:>rw$} {:>12} {:>rw$}", "setting", "train img/s", ratio_head, "infer img/s", ratio_head);
        let spread = |q: f64, v: &[f64]| {
            let (lo, hi) = (v.iter().cloned().fold(f64::MAX, f64::min), v.iter().cloned().fold(0.0, f64::max));
            format!("{q:.3} ({lo:.3}-{hi:.3})")
        };
        for (label, r) in labels.iter().zip(&got) {
            println!(
                "{:<w$} {:>12.0} {:>rw$} {:>12.0} {:>rw$}",
                label,
                r.train_img_s,
                spread(r.train_ratio(), &r.train_ratios),
                r.infer_img_s,
                spread(r.infer_ratio(), &r.infer_ratios)
            );
        }
        for (label, r) in labels.iter().zip(&got).filter(|(_, r)| r.timed_misses > 0) {
            println!("note: {label}'s timed steps allocated {} new output buffers (their page faults count in its time)", r.timed_misses);
        }
        println!();
    }
    Ok(())
}

/// "s" unless `n` is 1.
fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `bench --profile`: a training step of each model, by layer and by op.
fn profile(a: &BenchArgs, input: &[usize; 3], threads: usize) -> Result<()> {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    for name in a.models.split(',').map(str::trim) {
        let spec = resolve_model(name, a.classes)?;
        let spin = progress::spinner(a.quiet.quiet, format!("profiling {name}"));
        let p = train::profile_model(&spec, input, a.classes, a.batch, a.reps, 2);
        spin.finish_and_clear();
        let p = p?;
        let step = ms(p.step);
        let share = |d: std::time::Duration| 100.0 * ms(d) / step;
        println!(
            "{name}: training step {step:.1} ms ({:.0} img/s), batch {}, input {}, {threads} threads, median of {} steps",
            a.batch as f64 / p.step.as_secs_f64(),
            a.batch,
            a.input,
            a.reps
        );
        println!("{:<12} {:>12} {:>12} {:>7}", "layer", "forward ms", "backward ms", "share");
        for (layer, f, b) in p.by_layer() {
            println!("{:<12} {:>12.2} {:>12.2} {:>6.1}%", layer, ms(f), ms(b), share(f + b));
        }
        println!("{:<12} {:>25.2} {:>6.1}%", "other", ms(p.other), share(p.other));
        let ops: Vec<String> = p.by_op().into_iter().map(|(op, d)| format!("{op} {:.1}%", share(d))).collect();
        println!("by op: {}; other (optimiser update, tape) {:.1}%\n", ops.join(", "), share(p.other));
    }
    Ok(())
}

pub fn summary(a: SummaryArgs) -> Result<()> {
    let name = a.run.as_ref().map_or(a.model.clone(), |r| r.display().to_string());
    let m = summary_model(&name, a.classes)?;
    let given = a.input.as_deref().map(parse_input).transpose()?.map(|g| g.to_vec());
    let input = match (&m.input, &given) {
        (Some(own), Some(g)) if own != g => {
            return Err(pupil::Error::invalid("--input", format!("{} is not the model's own input {}", a.input.as_deref().unwrap_or(""), hxwxc(own))))
        }
        (Some(own), _) => own.clone(),
        (None, Some(g)) => g.clone(),
        (None, None) => vec![1, 48, 48],
    };
    print!("{}", summary_table(&m.spec, &input)?);
    Ok(())
}

/// `[C, H, W]` as the flags write it, HxWxC.
fn hxwxc(s: &[usize]) -> String {
    match s {
        [c, h, w] => format!("{h}x{w}x{c}"),
        _ => s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x"),
    }
}

pub fn eval(a: EvalArgs) -> Result<()> {
    let data = DataRef::given(a.data.as_deref(), a.split.parse()?);
    let dir = RunDir::resolve(a.run.run.as_deref())?;
    progress::observe_library(a.quiet.quiet);
    let r = run::evaluate_run(dir.path(), &data, a.out.as_deref());
    pupil::progress::clear_observer();
    let r = r?;
    let (ev, conf) = (&r.evaluation, &r.confusion);
    println!("Accuracy: {:.4} on {} images (loss {:.4})", ev.accuracy, r.images, ev.loss);
    for u in &r.by_usage {
        println!("  {:?}: {:.4} on {} images (loss {:.4})", u.split, u.accuracy, u.images, u.loss);
    }
    println!("{:<14} {:>9} {:>9} {:>9} {:>8}", "class", "precision", "recall", "f1", "support");
    let (macro_avg, weighted_avg) = conf.averages();
    for (i, s) in conf.per_class().into_iter().chain([macro_avg, weighted_avg]).enumerate() {
        if i == conf.class_names.len() {
            println!();
        }
        println!("{:<14} {:>9.3} {:>9.3} {:>9.3} {:>8}", s.name, s.precision, s.recall, s.f1, s.support);
    }
    if conf.class_names.len() <= 20 {
        print!("Confusion matrix (counts):\n{}", conf.to_text());
    }
    println!("Most confused (true -> predicted, fraction of the true class):");
    for (t, p, f, n) in conf.most_confused(5) {
        println!("  {} -> {}: {:.3} ({n})", conf.class_names[t], conf.class_names[p], f);
    }
    print_png_skipped(&r.files);
    match &r.files.png {
        Some(png) => println!("Wrote {} and {}", r.files.csv.display(), png.display()),
        None => println!("Wrote {}", r.files.csv.display()),
    }
    Ok(())
}

pub fn predict(a: PredictArgs) -> Result<()> {
    let dir = RunDir::resolve(a.run.run.as_deref())?;
    let Some(data) = &a.data else {
        return print_image_predictions(dir.path(), &a.image);
    };
    let opts = run::PredictOptions { probs: a.probs.clone(), tta: a.tta.parse()? };
    let split = a.split.parse()?;
    progress::observe_library(a.quiet.quiet);
    let n = run::predict_run_with(dir.path(), data, split, &a.out, a.force, &opts);
    pupil::progress::clear_observer();
    let n = n?;
    println!("Wrote {n} predictions to {}", a.out.display());
    if let Some(p) = &a.probs {
        println!("Wrote their class probabilities to {}", p.display());
    }
    Ok(())
}

/// `predict --image`: one line per picture, its classes by probability (the first five).
fn print_image_predictions(run: &std::path::Path, images: &[std::path::PathBuf]) -> Result<()> {
    let (names, preds) = run::predict_images(run, images)?;
    for p in &preds {
        let ranked: Vec<String> = p.ranked().iter().take(5).map(|&(c, q)| format!("{} {:.1}%", names[c], 100.0 * q)).collect();
        println!("{}: {}", p.path.display(), ranked.join(", "));
    }
    Ok(())
}
