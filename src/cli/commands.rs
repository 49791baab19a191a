//! The commands: parse flags into library settings, call the library, print.

use super::progress::Progress;
use super::{BenchArgs, EvalArgs, PredictArgs, SummaryArgs, TrainArgs};
use pupil::data::{self, embedded_sample, Augment, Dataset, NormKind, Split};
use pupil::error::{Error, Result};
use pupil::nn::{resolve_model, summary as summary_table};
use pupil::optim::{Method, OptimConfig};
use pupil::train::{self, evaluate, load_model, Confusion, Monitor, TrainConfig, Trainer};
use std::path::Path;

fn load_data(path: Option<&Path>, split: Split) -> Result<Dataset> {
    match path {
        Some(p) => data::load(p, split),
        None => embedded_sample(split),
    }
}

fn optimizer(a: &TrainArgs) -> Result<OptimConfig> {
    let mut o = OptimConfig::named(&a.optimizer)?;
    if let Some(lr) = a.lr {
        if !(lr > 0.0 && lr.is_finite()) {
            return Err(Error::invalid("--lr", format!("{lr} must be a positive number")));
        }
        o.lr = lr;
    }
    if !(a.decay.is_finite() && a.decay >= 0.0) {
        return Err(Error::invalid("--decay", format!("{} must be a number >= 0", a.decay)));
    }
    if a.weight_decay.is_some_and(|w| !(w.is_finite() && w >= 0.0)) {
        return Err(Error::invalid("--weight-decay", "must be a number >= 0"));
    }
    o.decay = a.decay;
    if let Some(wd) = a.weight_decay {
        o.weight_decay = wd;
    }
    if let (Some(m), Method::Sgd { momentum, .. }) = (a.momentum, &mut o.method) {
        if !(0.0..1.0).contains(&m) {
            return Err(Error::invalid("--momentum", format!("{m} is outside [0, 1)")));
        }
        *momentum = m;
    }
    Ok(o)
}

pub fn train(a: TrainArgs) -> Result<()> {
    // every flag is checked before any data is read
    if a.patience.is_some() && a.val_data.is_none() && a.val_split <= 0.0 {
        return Err(Error::invalid("--patience", "early stopping needs validation data: give --val-split > 0 or --val-data"));
    }
    let cfg = TrainConfig {
        epochs: a.epochs.unwrap_or(10),
        batch_size: a.batch,
        optimizer: optimizer(&a)?,
        val_split: if a.val_data.is_some() { 0.0 } else { a.val_split },
        patience: a.patience,
        monitor: match a.monitor.as_str() {
            "val_acc" | "val_accuracy" => Monitor::ValAccuracy,
            "val_loss" => Monitor::ValLoss,
            m => return Err(Error::invalid("--monitor", format!("{m:?} is not val_acc or val_loss"))),
        },
        augment: Augment::parse(&a.augment)?,
        normalization: a.normalize.parse::<NormKind>()?,
        seed: a.seed,
    };
    cfg.validate()?;
    let train_ds = load_data(a.data.as_deref(), Split::Training)?;
    let val_ds = a.val_data.as_deref().map(|p| data::load(p, Split::PublicTest).or_else(|_| data::load(p, Split::Test))).transpose()?;
    let test_ds = a.test_data.as_deref().map(|p| data::load(p, Split::Test)).transpose()?;
    println!(
        "Data: {} images {}x{}x{}, {} classes ({})",
        train_ds.len(),
        train_ds.height,
        train_ds.width,
        train_ds.channels,
        train_ds.num_classes(),
        a.data.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "embedded Fashion-MNIST sample".into())
    );
    let mut trainer = if a.resume {
        let t = Trainer::resume(&a.out, a.epochs)?;
        if t.history().len() >= t.config().epochs || t.stopped() {
            return Err(Error::invalid(
                "--resume",
                format!(
                    "the run in {} is finished ({} of {} epochs{}); give a larger --epochs to go on",
                    a.out.display(),
                    t.history().len(),
                    t.config().epochs,
                    if t.stopped() { ", stopped early" } else { "" }
                ),
            ));
        }
        let validated_on_file = t.config().val_split == 0.0 && t.history().iter().any(|r| r.val_acc.is_some());
        if validated_on_file && a.val_data.is_none() {
            return Err(Error::invalid("--resume", "this run was validated on a separate file: give the same --val-data again"));
        }
        println!("Resuming {} after epoch {}", a.out.display(), t.history().len());
        t
    } else {
        let spec = resolve_model(&a.model, train_ds.num_classes())?;
        Trainer::new(&spec, &train_ds, cfg)?
    };
    let classes = trainer.meta().class_names.len();
    let input = trainer.meta().input.clone();
    for (ds, what) in [(val_ds.as_ref(), "--val-data"), (test_ds.as_ref(), "--test-data")] {
        if let Some(ds) = ds {
            train::check_data(ds, &input, classes, what)?;
            if ds.labels.is_none() {
                return Err(Error::invalid("data", format!("{what}: the file has no labels")));
            }
        }
    }
    let name = if a.resume { "(resumed)" } else { a.model.as_str() };
    println!("Model {name}: {} parameters; output in {}", pupil::nn::thousands(trainer.model.num_params()), a.out.display());
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    let mut progress = Progress::new(a.quiet);
    let t0 = std::time::Instant::now();
    let result = trainer.fit(&train_ds, val_ds.as_ref(), Some(&a.out), &mut |e| progress.on_event(e));
    // the curves are drawn even when training stopped on an error (e.g. a NaN loss), but only
    // if this run recorded an epoch: a run that failed at once leaves an older picture alone
    if !trainer.history().is_empty() {
        pupil::viz::training_curves(a.out.join("curves.png"), trainer.history())?;
    }
    result?;
    let secs = t0.elapsed().as_secs_f64();
    let test = match test_ds {
        Some(t) => Some(t),
        None => val_ds.or_else(|| {
            let (_, va) = data::split_validation(train_ds.len(), trainer.config().val_split, trainer.config().seed);
            (!va.is_empty()).then(|| train_ds.subset(&va))
        }),
    };
    if let Some(test) = test {
        let norm = trainer.meta().normalization.clone();
        let ev = evaluate(&trainer.model, &test, &norm, 256)?;
        let conf = Confusion::new(&trainer.meta().class_names, &ev.truth, &ev.predictions);
        write_confusion(&a.out, &conf, "validation")?;
        println!("Accuracy on {} held-out images: {:.4} (loss {:.4})", test.len(), ev.accuracy, ev.loss);
    }
    println!("Trained in {secs:.1}s; wrote {}/{{model.safetensors,model.json,checkpoint.safetensors,history.csv,curves.png,confusion.png}}", a.out.display());
    Ok(())
}

fn write_confusion(dir: &Path, conf: &Confusion, what: &str) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    pupil::io::write_atomic(&dir.join("confusion.csv"), conf.to_csv().as_bytes())?;
    if conf.class_names.len() > 50 {
        println!("{} classes: confusion.png is not drawn (more than 50), see confusion.csv", conf.class_names.len());
        return Ok(());
    }
    pupil::viz::confusion_png(
        dir.join("confusion.png"),
        &conf.counts,
        &conf.class_names,
        &format!("Confusion matrix ({what}, accuracy {:.3})", conf.accuracy()),
    )
}

fn parse_input(s: &str) -> Result<[usize; 3]> {
    let bad = || Error::invalid("--input", format!("{s:?} is not HxWxC like 48x48x1"));
    let dims: Vec<usize> = s.split(['x', 'X']).map(|d| d.parse().map_err(|_| bad())).collect::<Result<_>>()?;
    match dims[..] {
        [h, w, c] if h > 0 && w > 0 && c > 0 => Ok([c, h, w]),
        _ => Err(bad()),
    }
}

pub fn bench(a: BenchArgs) -> Result<()> {
    let input = parse_input(&a.input)?;
    if a.batch == 0 || a.batch > 65536 || a.reps == 0 {
        return Err(Error::invalid("bench", "--batch must be from 1 to 65536 and --reps at least 1"));
    }
    if !(1..=256).contains(&a.classes) {
        return Err(Error::invalid("--classes", format!("{} is not from 1 to 256", a.classes)));
    }
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
        for l in train::bench_conv_layers(a.batch, a.reps)? {
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
    println!("batch {}, input {}, {threads} threads, median of {} steps; sgemm kernel: {}", a.batch, a.input, a.reps, pupil_kernels::sgemm_isa());
    println!("{:<14} {:>12} {:>14} {:>20} {:>14}", "model", "params", "train img/s", "(min-max)", "infer img/s");
    for name in a.models.split(',') {
        let spec = resolve_model(name.trim(), a.classes)?;
        let r = train::bench_model(&spec, &input, a.classes, a.batch, a.reps, 2)?;
        println!(
            "{:<14} {:>12} {:>14.0} {:>20} {:>14.0}",
            name,
            pupil::nn::thousands(r.params),
            r.train_img_s,
            format!("({:.0}-{:.0})", r.train_img_s_min, r.train_img_s_max),
            r.infer_img_s
        );
    }
    Ok(())
}

pub fn summary(a: SummaryArgs) -> Result<()> {
    let [c, h, w] = parse_input(&a.input)?;
    let spec = resolve_model(&a.model, a.classes)?;
    print!("{}", summary_table(&spec, &[c, h, w])?);
    Ok(())
}

pub fn eval(a: EvalArgs) -> Result<()> {
    let run = load_model(&a.run)?;
    let split: Split = a.split.parse()?;
    let ds = load_data(a.data.as_deref(), split)?;
    check_shape(&run.meta.input, run.meta.class_names.len(), &ds, a.data.as_deref().unwrap_or(Path::new("embedded sample")))?;
    let ev = evaluate(&run.model, &ds, &run.meta.normalization, 256)?;
    let conf = Confusion::new(&run.meta.class_names, &ev.truth, &ev.predictions);
    println!("Accuracy: {:.4} on {} images (loss {:.4})", ev.accuracy, ds.len(), ev.loss);
    println!("{:<14} {:>9} {:>9} {:>9} {:>8}", "class", "precision", "recall", "f1", "support");
    for s in conf.per_class() {
        println!("{:<14} {:>9.3} {:>9.3} {:>9.3} {:>8}", s.name, s.precision, s.recall, s.f1, s.support);
    }
    if conf.class_names.len() <= 20 {
        print!("Confusion matrix (counts):\n{}", conf.to_text());
    }
    println!("Most confused (true -> predicted, fraction of the true class):");
    for (t, p, f, n) in conf.most_confused(5) {
        println!("  {} -> {}: {:.3} ({n})", conf.class_names[t], conf.class_names[p], f);
    }
    let out = a.out.unwrap_or(a.run);
    write_confusion(&out, &conf, "eval")?;
    println!("Wrote {}/confusion.csv and confusion.png", out.display());
    Ok(())
}

fn check_shape(input: &[usize], classes: usize, ds: &Dataset, what: &Path) -> Result<()> {
    train::check_data(ds, input, classes, &what.display().to_string())
}

pub fn predict(a: PredictArgs) -> Result<()> {
    let run = load_model(&a.run)?;
    let ds = data::load(&a.data, a.split.parse()?)?;
    check_shape(&run.meta.input, run.meta.class_names.len(), &ds, &a.data)?;
    let probs = train::predict(&run.model, &ds, &run.meta.normalization, 256)?;
    let labels = probs.argmax_rows()?;
    let ids: Vec<u64> = ds.ids.clone().unwrap_or_else(|| (0..ds.len() as u64).collect());
    data::write_submission(&a.out, &ids, &labels)?;
    println!("Wrote {} predictions to {}", labels.len(), a.out.display());
    Ok(())
}
