//! Training as Keras and PyTorch users know it: class weights in the loss, the stratified
//! validation split, learning-rate schedules in history.csv and across --resume, fer2013.csv's
//! PublicTest / PrivateTest accuracies, macro and weighted averages, `predict --probs` and
//! `--tta flip`.

use proptest::prelude::*;
use pupil::autograd::{gradcheck, GradcheckOptions, Graph};
use pupil::data::{embedded_sample, Dataset, Split};
use pupil::nn::{resolve_model, ModelSpec};
use pupil::ops;
use pupil::optim::{OptimConfig, Schedule};
use pupil::run::{self, DataRef, RunDir};
use pupil::tensor::Tensor;
use pupil::train::{holdout, mirrored, predict, predict_tta, ClassWeight, SplitMode, TrainConfig, Trainer, Tta};
use pupil::Rng;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pupil-features-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A model spec written to `dir/name` and resolved for `classes` classes.
fn spec(dir: &Path, text: &str, classes: usize) -> (PathBuf, ModelSpec) {
    let p = dir.join("model.txt");
    std::fs::write(&p, text).unwrap();
    let s = resolve_model(p.to_str().unwrap(), classes).unwrap();
    (p, s)
}

fn sample(n: usize) -> Dataset {
    embedded_sample(Split::Training).unwrap().subset(&(0..n).collect::<Vec<_>>())
}

fn pupil(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pupil")).args(args).output().unwrap()
}

fn ok(out: &std::process::Output) -> String {
    let s = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{s}\n{}", String::from_utf8_lossy(&out.stderr));
    s
}

// ---------------------------------------------------------------- class weights

/// Rows: logits (0, 0) with label 0 (loss ln 2) and (ln 3, 0) with label 1 (softmax 3/4, 1/4:
/// loss ln 4). Weights (1, 3): L = (ln 2 + 3 ln 4) / 4 = 7/4 ln 2; gradient rows
/// 1/4 ((1/2, 1/2) - (1, 0)) = (-1/8, 1/8) and 3/4 ((3/4, 1/4) - (0, 1)) = (9/16, -9/16).
#[test]
fn weighted_cross_entropy_by_hand() {
    let g = Graph::new();
    let x = g.leaf(Tensor::from_vec(vec![0.0, 0.0, 3f32.ln(), 0.0], &[2, 2]).unwrap());
    let l = ops::weighted_cross_entropy(&x, &[0, 1], &[1.0, 3.0]).unwrap();
    assert!((l.value().item().unwrap() - 1.75 * 2f32.ln()).abs() < 1e-6);
    let grads = l.backward().unwrap();
    let d = grads.wrt(&x).unwrap().data().to_vec();
    for (a, b) in d.iter().zip([-0.125, 0.125, 0.5625, -0.5625]) {
        assert!((a - b).abs() < 1e-6, "{d:?}");
    }
    // equal weights are the plain mean (PyTorch's weighted mean divides by the weight sum)
    let plain = ops::cross_entropy(&x, &[0, 1]).unwrap().value().item().unwrap();
    let equal = ops::weighted_cross_entropy(&x, &[0, 1], &[2.5, 2.5]).unwrap().value().item().unwrap();
    assert!((plain - equal).abs() < 1e-7 && (plain - 0.5 * (2f32.ln() + 4f32.ln())).abs() < 1e-6);
    // a batch of weight 0 only: nothing to learn
    let z = ops::weighted_cross_entropy(&x, &[0, 0], &[0.0, 1.0]).unwrap();
    assert_eq!(z.value().item().unwrap(), 0.0);
    assert!(z.backward().unwrap().wrt(&x).unwrap().data().iter().all(|&v| v == 0.0));
    // bad weights
    let e = ops::weighted_cross_entropy(&x, &[0, 1], &[1.0]).unwrap_err().to_string();
    assert!(e.contains("1 class weights for K = 2"), "{e}");
    let e = ops::weighted_cross_entropy(&x, &[0, 1], &[1.0, f32::NAN]).unwrap_err().to_string();
    assert!(e.contains("class 1"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn weighted_cross_entropy_gradcheck(n in 1usize..6, k in 1usize..7, seed in 0u64..10_000) {
        let x = Tensor::rand_normal(&[n, k], 0.0, 0.8, seed);
        let mut r = Rng::new(seed + 1);
        let labels: Vec<usize> = (0..n).map(|_| r.below(k)).collect();
        let w: Vec<f32> = (0..k).map(|_| 0.1 + 3.0 * r.below(1000) as f32 / 1000.0).collect();
        gradcheck(|_, v| ops::weighted_cross_entropy(&v[0], &labels, &w), &[x], &GradcheckOptions::default()).unwrap();
    }
}

/// 40 images of class 0 and 10 of class 1, 0.2 held out by class: 32 and 8 train, so the
/// balanced weights are 40 / (2 · 32) = 0.625 and 40 / (2 · 8) = 2.5. They are in the step's
/// loss and come back from the checkpoint.
#[test]
fn balanced_weights_are_in_the_loss_and_the_checkpoint() {
    let dir = tmp("balanced");
    let mut ds = sample(50);
    ds.labels = Some((0..50).map(|i| u8::from(i >= 40)).collect());
    ds.class_names = vec!["many".into(), "few".into()];
    let (_, s) = spec(&dir, "flatten\ndense 2\n", 2);
    let cfg = TrainConfig { epochs: 1, batch_size: 8, val_split: 0.2, class_weight: ClassWeight::Balanced, ..TrainConfig::default() };
    let mut t = Trainer::new(&s, &ds, cfg).unwrap();
    assert_eq!(t.state().class_weights, Some(vec![0.625, 2.5]));
    // the step's loss is the weighted one (a dense model computes the same logits outside
    // training)
    let idx: Vec<usize> = vec![0, 1, 45, 46, 47];
    let norm = t.meta().normalization.clone();
    let (x, y) = pupil::data::make_batch(&ds, &idx, &norm, None).unwrap();
    let g = Graph::no_grad();
    let logits = t.model.forward_logits(&g.constant(x.clone())).unwrap();
    let want = ops::weighted_cross_entropy(&logits, &y, &[0.625, 2.5]).unwrap().value().item().unwrap();
    let plain = ops::cross_entropy(&logits, &y).unwrap().value().item().unwrap();
    let (got, _) = t.step(x, &y, &mut Rng::new(1)).unwrap();
    assert!((got - want).abs() < 1e-6 && (got - plain).abs() > 1e-4, "{got} {want} {plain}");
    t.fit(&ds, None, &mut RunDir::new(&dir), &mut |_| {}).unwrap();
    let back = RunDir::new(&dir).load_trainer(Some(2)).unwrap();
    assert_eq!(back.state().class_weights, Some(vec![0.625, 2.5]));
    assert_eq!(back.config().class_weight, ClassWeight::Balanced);
}

#[test]
fn a_weight_list_must_have_one_weight_per_class() {
    let dir = tmp("weightlist");
    let out = pupil(&["train", "--class-weight", "1,2", "--model", "dnn", "--epochs", "1", "--out", dir.join("run").to_str().unwrap(), "--quiet"]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("--class-weight") && e.contains("2 weights for 10 classes"), "{e}");
    let out = pupil(&["train", "--class-weight", "1,x", "--epochs", "1", "--out", dir.join("run").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"x\" (weight 2) is not a number"));
}

// ---------------------------------------------------------------- stratified split

/// The embedded sample's 3000 training images, 0.1 held out: every class gives
/// round(n_c / 10) images, and a run records (and reloads) exactly those as its validation data.
#[test]
fn stratified_split_holds_out_each_class_in_proportion() {
    let ds = embedded_sample(Split::Training).unwrap();
    let counts = ds.class_counts();
    let (tr, va) = holdout(&ds, 0.1, 42, SplitMode::Stratified);
    let val = ds.subset(&va).class_counts();
    for (c, (&n, &v)) in counts.iter().zip(&val).enumerate() {
        assert_eq!(v, (n as f64 * 0.1).round() as usize, "class {c}: {v} of {n}");
    }
    assert_eq!(tr.len() + va.len(), ds.len());
    // the random split does not keep the proportions
    let (_, rv) = holdout(&ds, 0.1, 42, SplitMode::Random);
    let rand = ds.subset(&rv).class_counts();
    assert_ne!(rand, val);
    // a training session validates on (and records) the stratified part
    let dir = tmp("stratified");
    let out = dir.join("run");
    let o = ok(&pupil(&["train", "--model", "dnn", "--epochs", "1", "--batch", "256", "--out", out.to_str().unwrap(), "--quiet"]));
    assert!(o.contains("Accuracy on 300 held-out images"), "{o}");
    let rec = RunDir::new(&out).record().unwrap().unwrap();
    let held = rec.validation.unwrap();
    assert_eq!(held.held_out.map(|h| h.mode), Some(SplitMode::Stratified));
    assert_eq!(held.load().unwrap(), ds.subset(&va));
}

// ---------------------------------------------------------------- schedules

fn history_lrs(dir: &Path) -> Vec<f32> {
    let h = std::fs::read_to_string(dir.join("history.csv")).unwrap();
    let mut lines = h.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = head.iter().position(|&c| c == "lr").unwrap();
    lines.map(|l| l.split(',').nth(col).unwrap().parse().unwrap()).collect()
}

fn train_cli(out: &Path, extra: &[&str]) {
    let mut args = vec!["train", "--model", "dnn", "--optimizer", "sgd", "--lr", "0.01", "--batch", "256", "--out", out.to_str().unwrap(), "--quiet"];
    args.extend_from_slice(extra);
    ok(&pupil(&args));
}

/// step (every 2, γ 0.5): 0.01, 0.01, 0.005, 0.005, 0.0025; cosine over 3 epochs to 0.001:
/// 0.01, 0.001 + 0.009 · (1 + cos(π/3))/2 = 0.00775, 0.001 + 0.009 · (1 + cos(2π/3))/2 = 0.00325.
#[test]
fn schedules_write_each_epochs_lr_in_the_history() {
    let dir = tmp("schedules");
    train_cli(&dir.join("step"), &["--epochs", "5", "--schedule", "step", "--step-every", "2", "--gamma", "0.5"]);
    let lrs = history_lrs(&dir.join("step"));
    let want = [0.01, 0.01, 0.005, 0.005, 0.0025];
    assert!(lrs.len() == 5 && lrs.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-9), "{lrs:?}");
    train_cli(&dir.join("cosine"), &["--epochs", "3", "--schedule", "cosine", "--min-lr", "0.001"]);
    let lrs = history_lrs(&dir.join("cosine"));
    let want = [0.01, 0.00775, 0.00325];
    assert!(lrs.len() == 3 && lrs.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-8), "{lrs:?}");
    let e = pupil(&["train", "--schedule", "step", "--epochs", "1", "--out", dir.join("x").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&e.stderr).contains("--step-every"));
}

/// ReduceLROnPlateau (patience 0, factor 0.5, on the validation loss) with a large rate: the
/// lrs in history.csv follow the rule applied by hand to the history's own validation losses,
/// reduce at least once, and a run stopped after 3 epochs and resumed to 6 gives the same
/// history lrs, schedule state and weights as the uninterrupted one.
#[test]
fn plateau_follows_the_validation_loss_and_survives_resume() {
    let dir = tmp("plateau");
    let ds = sample(600);
    let (_, s) = spec(&dir, "flatten\ndense 16 relu\ndense 10\n", 10);
    let mut sgd = OptimConfig::named("sgd").unwrap();
    sgd.lr = 0.5;
    let cfg = TrainConfig {
        epochs: 6,
        batch_size: 64,
        optimizer: sgd,
        monitor: "val_loss".parse().unwrap(),
        schedule: Schedule::Plateau { factor: 0.5, patience: 0, min_lr: 0.0 },
        ..TrainConfig::default()
    };
    let mut full = Trainer::new(&s, &ds, cfg.clone()).unwrap();
    full.fit(&ds, None, &mut (), &mut |_| {}).unwrap();
    let h = full.history();
    let (mut lr, mut best) = (0.5f32, f64::NEG_INFINITY);
    for r in h {
        assert_eq!(r.lr, lr, "epoch {}", r.epoch);
        let score = -(r.val_loss.unwrap() as f64);
        if score > best {
            best = score;
        } else {
            lr *= 0.5;
        }
    }
    assert!(h.iter().any(|r| r.lr < 0.5), "no reduction: {:?}", h.iter().map(|r| r.val_loss).collect::<Vec<_>>());
    let part_dir = dir.join("part");
    let mut part = Trainer::new(&s, &ds, TrainConfig { epochs: 3, ..cfg }).unwrap();
    part.fit(&ds, None, &mut RunDir::new(&part_dir), &mut |_| {}).unwrap();
    let mut resumed = RunDir::new(&part_dir).load_trainer(Some(6)).unwrap();
    resumed.fit(&ds, None, &mut RunDir::new(&part_dir), &mut |_| {}).unwrap();
    let lrs = |t: &Trainer| t.history().iter().map(|r| r.lr).collect::<Vec<_>>();
    assert_eq!(lrs(&resumed), lrs(&full));
    assert_eq!(resumed.state().schedule, full.state().schedule);
    assert_eq!(resumed.model.named_tensors(), full.model.named_tensors());
    assert_eq!(history_lrs(&part_dir), lrs(&full));
}

// ---------------------------------------------------------------- eval and predict

/// A fer2013.csv of 8x8 images: 120 Training, 30 PublicTest, 40 PrivateTest rows (from the
/// embedded sample, labels modulo 7).
fn write_fer(path: &Path) -> Vec<(&'static str, usize)> {
    let ds = embedded_sample(Split::All).unwrap();
    let parts = [("Training", 120), ("PublicTest", 30), ("PrivateTest", 40)];
    let mut s = String::from("emotion,pixels,Usage\n");
    let mut i = 0;
    for (usage, n) in parts {
        for _ in 0..n {
            // every third pixel of the 28x28 image's top-left 24x24, as 8x8
            let img = ds.image(i);
            let px: Vec<String> = (0..64).map(|p| img[(p / 8) * 3 * 28 + (p % 8) * 3].to_string()).collect();
            s.push_str(&format!("{},\"{}\",{usage}\n", ds.label(i).unwrap() % 7, px.join(" ")));
            i += 1;
        }
    }
    std::fs::write(path, s).unwrap();
    parts.to_vec()
}

#[test]
fn eval_scores_public_and_private_apart_and_predict_writes_probabilities() {
    let dir = tmp("fer");
    let fer = dir.join("fer2013.csv");
    write_fer(&fer);
    let (spec_file, _) = spec(&dir, "conv 4 3x3 same relu\nmaxpool 2\nflatten\ndense 7\n", 7);
    let run_dir = dir.join("run");
    let (f, r) = (fer.to_str().unwrap(), run_dir.to_str().unwrap());
    ok(&pupil(&["train", "--data", f, "--model", spec_file.to_str().unwrap(), "--epochs", "2", "--batch", "32", "--out", r, "--quiet"]));

    let rep = run::evaluate_run(&run_dir, &DataRef::given(Some(&fer), Split::Test), Some(&dir.join("ev"))).unwrap();
    let m = RunDir::open(&run_dir).unwrap().load_model().unwrap();
    let mut correct = vec![];
    for (split, n) in [(Split::PublicTest, 30), (Split::PrivateTest, 40)] {
        let ds = pupil::data::load(&fer, split).unwrap();
        assert_eq!(ds.len(), n);
        let pred = predict(&m.model, &ds, &m.meta.normalization, 16).unwrap().argmax_rows().unwrap();
        let k = pred.iter().zip(ds.labels.as_ref().unwrap()).filter(|(p, &l)| **p == l as usize).count();
        correct.push(k);
        let u = rep.by_usage.iter().find(|u| u.split == split).unwrap();
        assert_eq!(u.images, n);
        assert!((u.accuracy - k as f64 / n as f64).abs() < 1e-12, "{split:?}: {} vs {k}/{n}", u.accuracy);
    }
    assert_eq!(rep.images, 70);
    assert!((rep.evaluation.accuracy - (correct[0] + correct[1]) as f64 / 70.0).abs() < 1e-12);
    // the CLI prints both beside the whole, and the averages under the table
    let out = ok(&pupil(&["eval", "--run", r, "--data", f, "--out", dir.join("ev2").to_str().unwrap()]));
    assert!(out.contains(&format!("PublicTest: {:.4} on 30 images", correct[0] as f64 / 30.0)), "{out}");
    assert!(out.contains(&format!("PrivateTest: {:.4} on 40 images", correct[1] as f64 / 40.0)), "{out}");
    let (ma, wa) = rep.confusion.averages();
    for a in [ma, wa] {
        let line = format!("{:<14} {:>9.3} {:>9.3} {:>9.3} {:>8}", a.name, a.precision, a.recall, a.f1, 70);
        assert!(out.contains(&line), "{line}\n{out}");
    }
    // a file without a Usage column has no such breakdown
    let single = run::evaluate_run(&run_dir, &DataRef::given(Some(&fer), Split::PublicTest), Some(&dir.join("ev3"))).unwrap();
    assert!(single.by_usage.is_empty());

    // predict --probs: one row per test image, summing to 1, argmax = eval's predictions
    let (sub, probs) = (dir.join("sub.csv"), dir.join("probs.csv"));
    ok(&pupil(&["predict", "--run", r, "--data", f, "--out", sub.to_str().unwrap(), "--probs", probs.to_str().unwrap()]));
    let text = std::fs::read_to_string(&probs).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), "id,Angry,Disgust,Fear,Happy,Sad,Surprise,Neutral");
    let rows: Vec<Vec<f64>> = lines.map(|l| l.split(',').skip(1).map(|v| v.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 70);
    let argmax: Vec<usize> = rows.iter().map(|r| (0..7).max_by(|&a, &b| r[a].total_cmp(&r[b]).then(b.cmp(&a))).unwrap()).collect();
    for r in &rows {
        assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-5, "{r:?}");
    }
    assert_eq!(argmax, rep.evaluation.predictions);
    let labels: Vec<usize> = std::fs::read_to_string(&sub).unwrap().lines().skip(1).map(|l| l.split(',').nth(1).unwrap().parse().unwrap()).collect();
    assert_eq!(labels, argmax);
    // --probs may not replace the submission
    let e = pupil(&["predict", "--run", r, "--data", f, "--out", sub.to_str().unwrap(), "--probs", sub.to_str().unwrap(), "--force"]);
    assert!(!e.status.success() && String::from_utf8_lossy(&e.stderr).contains("input of this command"));
}

/// --tta flip: a left-right symmetric image gets the probabilities it gets without; any
/// image gets the mean of its own and its mirror's (built here by hand).
#[test]
fn tta_flip_averages_an_image_and_its_mirror() {
    let dir = tmp("tta");
    let mut ds = sample(2);
    let (w, h) = (ds.width, ds.height);
    // image 0 made symmetric: each row's right half mirrors its left half
    for y in 0..h {
        for x in 0..w / 2 {
            ds.pixels[y * w + (w - 1 - x)] = ds.pixels[y * w + x];
        }
    }
    let (_, s) = spec(&dir, "conv 4 3x3 same relu\nmaxpool 2\nflatten\ndense 10\n", 10);
    let t = Trainer::new(&s, &ds, TrainConfig { val_split: 0.0, ..TrainConfig::default() }).unwrap();
    let norm = t.meta().normalization.clone();
    let plain = predict(&t.model, &ds, &norm, 8).unwrap();
    let flip = predict_tta(&t.model, &ds, &norm, 8, Tta::Flip).unwrap();
    assert_eq!(&flip.data()[..10], &plain.data()[..10]);
    let mut by_hand = ds.clone();
    for row in by_hand.pixels.chunks_mut(w) {
        row.reverse();
    }
    assert_eq!(mirrored(&ds), by_hand);
    let mirror = predict(&t.model, &by_hand, &norm, 8).unwrap();
    for j in 10..20 {
        let want = (plain.data()[j] + mirror.data()[j]) / 2.0;
        assert!((flip.data()[j] - want).abs() < 1e-7, "{j}");
    }
    let moved = (10..20).map(|j| (flip.data()[j] - plain.data()[j]).abs()).fold(0.0f32, f32::max);
    assert!(moved > 1e-6, "the asymmetric image's mirror gives the same probabilities: the test shows nothing");
    assert_eq!(predict_tta(&t.model, &ds, &norm, 8, Tta::None).unwrap(), plain);
    assert!("mirror".parse::<Tta>().unwrap_err().to_string().contains("--tta"));
}
