//! End-to-end training tests on the embedded real Fashion-MNIST sample and on FER-style CSV
//! files written by the test: accuracy reached, resume == uninterrupted, 1 thread == 2
//! threads bit for bit, and the CLI's predict/eval output.

use pupil::data::{embedded_sample, Augment, Dataset, Split};
use pupil::nn::{preset, ModelSpec};
use pupil::run::RunDir;
use pupil::tensor::Tensor;
use pupil::train::{evaluate, Event, TrainConfig, Trainer};
use std::path::{Path, PathBuf};
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pupil-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A small net that exercises every source of randomness and every stateful layer:
/// conv, batch norm (running statistics), dropout, pooling, dense, PReLU.
fn stress_spec() -> ModelSpec {
    ModelSpec::parse_named(
        "conv 8 3x3 same\nbatchnorm\nrelu\nmaxpool 2\nconv 8 3x3 valid relu\nprelu channel\nflatten\ndropout 0.3\ndense 16 relu\ndense 10\n",
        Path::new("stress.txt"),
    )
    .unwrap()
}

fn small_data(n: usize) -> Dataset {
    let ds = embedded_sample(Split::Training).unwrap();
    ds.subset(&(0..n).collect::<Vec<_>>())
}

fn stress_config(epochs: usize) -> TrainConfig {
    TrainConfig { epochs, batch_size: 32, augment: Augment::parse("flip,rot=10,shift=0.1").unwrap(), val_split: 0.2, ..TrainConfig::default() }
}

fn weights(t: &Trainer) -> Vec<(String, Tensor)> {
    t.model.named_tensors()
}

#[test]
fn small_cnn_learns_the_embedded_sample() {
    let train = embedded_sample(Split::Training).unwrap();
    let test = embedded_sample(Split::Test).unwrap();
    let cfg = TrainConfig { epochs: 4, val_split: 0.1, ..TrainConfig::default() };
    let mut t = Trainer::new(&preset("small", 10).unwrap(), &train, cfg).unwrap();
    t.fit(&train, None, &mut (), &mut |_| {}).unwrap();
    let norm = t.meta().normalization.clone();
    let ev = evaluate(&t.model, &test, &norm, 256).unwrap();
    // 4 epochs on 2,700 images: a 10-class guess is 0.10; this net reaches ~0.78
    assert!(ev.accuracy >= 0.72, "test accuracy {}", ev.accuracy);
    let h = t.history();
    assert!(h.last().unwrap().train_loss < h[0].train_loss);
}

#[test]
fn resume_equals_uninterrupted() {
    let data = small_data(400);
    // 20 held-out images and a slow start: epochs 1 to 3 score the same validation accuracy
    // (on the images the random split holds out; the stratified one gives no tie here)
    let stress_config = |epochs| {
        let mut c = TrainConfig { val_split: 0.05, split_mode: pupil::train::SplitMode::Random, ..stress_config(epochs) };
        c.optimizer.lr = 0.0002;
        c
    };
    let full_dir = tmp("full");
    let mut full = Trainer::new(&stress_spec(), &data, stress_config(3)).unwrap();
    full.fit(&data, None, &mut RunDir::new(&full_dir), &mut |_| {}).unwrap();

    let dir = tmp("resume");
    let mut first = Trainer::new(&stress_spec(), &data, stress_config(2)).unwrap();
    first.fit(&data, None, &mut RunDir::new(&dir), &mut |_| {}).unwrap();
    drop(first);
    let mut resumed = RunDir::new(&dir).load_trainer(Some(3)).unwrap();
    assert_eq!(resumed.history().len(), 2);
    resumed.fit(&data, None, &mut RunDir::new(&dir), &mut |_| {}).unwrap();
    assert_eq!(no_times(resumed.history()), no_times(full.history()));
    // the run is validated (held-out split) and, after the resume point, ties its best
    // validation accuracy: a best score that came back from the checkpoint 1 ULP low would
    // count the tie as an improvement and keep other best weights
    let accs: Vec<f32> = full.history().iter().map(|r| r.val_acc.expect("validated every epoch")).collect();
    let best_before = accs[..2].iter().cloned().fold(f32::MIN, f32::max);
    assert!(accs[2..].contains(&best_before), "no tie after the resume point: {accs:?}");
    assert_eq!(weights(&resumed), weights(&full), "resumed best weights differ from the uninterrupted run");
    assert_eq!(checkpoint_tensors(&dir), checkpoint_tensors(&full_dir), "resumed last-epoch weights or optimiser state differ");
}

/// Everything the checkpoint holds: the weights of the LAST epoch (`current.*`), the best
/// weights, the optimiser state, sorted by name. (The model itself holds the best epoch's
/// weights after `fit`, which could hide a difference in later epochs.)
fn checkpoint_tensors(dir: &Path) -> Vec<(String, Tensor)> {
    let (t, _) = pupil::train::safetensors::load(&dir.join("checkpoint.safetensors")).unwrap();
    let mut v: Vec<(String, Tensor)> = t.into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn no_times(h: &[pupil::train::EpochRecord]) -> Vec<pupil::train::EpochRecord> {
    h.iter().map(|r| pupil::train::EpochRecord { seconds: 0.0, ..r.clone() }).collect()
}

#[test]
fn one_thread_equals_two_threads() {
    let data = small_data(300);
    let run = |threads: usize| {
        let dir = tmp(&format!("threads{threads}"));
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut t = Trainer::new(&stress_spec(), &data, stress_config(3)).unwrap();
            t.fit(&data, None, &mut RunDir::new(&dir), &mut |_| {}).unwrap();
            (checkpoint_tensors(&dir), no_times(t.history()), weights(&t))
        })
    };
    let (a, b) = (run(1), run(2));
    assert!(a.0.iter().any(|(k, _)| k.starts_with("current.")) && a.0.iter().any(|(k, _)| k.starts_with("optim.")));
    assert_eq!(a.0, b.0, "last-epoch weights or optimiser state differ between 1 and 2 threads");
    assert_eq!(a.1, b.1, "histories differ between 1 and 2 threads");
    assert_eq!(a.2, b.2, "best weights differ between 1 and 2 threads");
}

#[test]
fn diverging_loss_stops_with_a_clear_error() {
    let data = small_data(200);
    let mut cfg = stress_config(1);
    cfg.optimizer.lr = 1e30;
    let mut t = Trainer::new(&stress_spec(), &data, cfg).unwrap();
    let mut batches = 0;
    let e = t
        .fit(&data, None, &mut (), &mut |e| {
            if let Event::Batch { .. } = e {
                batches += 1
            }
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("loss became") && e.contains("epoch 1"), "{e}");
    // the run stops at the batch whose loss is not finite: every batch before it was reported,
    // that one and none after it (160 training images = 5 batches of 32)
    assert!(e.contains(&format!("batch {};", batches + 1)), "{batches} batches reported before: {e}");
    assert!(batches < 5, "{batches} batches reported: the run did not stop in the first epoch");
}

fn fer_csv(path: &Path, n: usize, labelled: bool, seed: u64) {
    let mut rng = pupil::Rng::new(seed);
    let mut s = String::from(if labelled { "label,feature\n" } else { "id,feature\n" });
    for i in 0..n {
        let label = i % 7;
        // a class-dependent bright square on noise, so the task is learnable
        let px: Vec<String> = (0..48 * 48)
            .map(|p| {
                let (y, x) = (p / 48, p % 48);
                let inside = y / 16 == label / 3 && x / 16 == label % 3;
                let v = if inside { 200 } else { rng.below(60) };
                v.to_string()
            })
            .collect();
        s.push_str(&format!("{},{}\r\n", if labelled { label } else { 1000 + i }, px.join(" ")));
    }
    std::fs::write(path, s).unwrap();
}

#[test]
fn cli_trains_predicts_and_evaluates_fer_csv() {
    let dir = tmp("cli");
    let (train, test) = (dir.join("train.csv"), dir.join("test.csv"));
    fer_csv(&train, 210, true, 1);
    fer_csv(&test, 25, false, 2);
    let exe = env!("CARGO_BIN_EXE_pupil");
    let run = dir.join("run");
    let out = Command::new(exe)
        .args(["train", "--quiet", "--model", "small", "--epochs", "3", "--batch", "32", "--data"])
        .arg(&train)
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in ["model.safetensors", "model.json", "checkpoint.safetensors", "history.csv", "curves.png", "confusion.png", "confusion.csv"] {
        assert!(run.join(f).is_file(), "missing {f}");
    }
    let meta = std::fs::read_to_string(run.join("model.json")).unwrap();
    assert!(meta.contains("Disgust"), "FER class names saved with the model");

    let sub = dir.join("submission.csv");
    let out = Command::new(exe).args(["predict", "--run"]).arg(&run).arg("--data").arg(&test).arg("--out").arg(&sub).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&sub).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "id,label");
    assert_eq!(lines.len(), 26);
    for (i, l) in lines[1..].iter().enumerate() {
        let (id, label) = l.split_once(',').unwrap();
        assert_eq!(id.parse::<usize>().unwrap(), 1000 + i);
        assert!(label.parse::<usize>().unwrap() < 7);
    }

    let out = Command::new(exe).args(["eval", "--run"]).arg(&run).arg("--data").arg(&train).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("Accuracy:") && s.contains("Most confused") && s.contains("Happy"), "{s}");
}

#[test]
fn cli_reports_bad_input_in_one_line() {
    let dir = tmp("bad");
    let bad = dir.join("train.csv");
    std::fs::write(&bad, "label,feature\n3,1 2 3\n").unwrap();
    let exe = env!("CARGO_BIN_EXE_pupil");
    let out = Command::new(exe).args(["train", "--data"]).arg(&bad).arg("--out").arg(dir.join("run")).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("train.csv:2") && err.contains("feature"), "{err}");
    let out = Command::new(exe).args(["train", "--model", "nonsense"]).arg("--out").arg(dir.join("run")).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nonsense"));
    let out = Command::new(exe).args(["summary", "--input", "48x48"]).output().unwrap();
    assert!(!out.status.success());
    // bad flags: one line naming the flag; exit status 2 for a usage error clap finds (unknown
    // flag, value out of the flag's range), 1 for what the library refuses
    for (args, what, code) in [
        (&["train", "--lr", "-0.1"][..], "--lr", 1),
        (&["train", "--bogus"][..], "--bogus", 2),
        (&["bench", "--classes", "0"][..], "--classes", 2),
        (&["--threads", "100000", "summary"][..], "--threads", 1),
        (&["train", "--decay", "NaN"][..], "--decay", 1),
    ] {
        let out = Command::new(exe).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(what), "{args:?}: {err}");
    }
}

/// `train --classes N`: the model's outputs, for IDX labels that leave a class without an
/// example (an error without it), and a clear error for a label at or above N.
#[test]
fn cli_classes_sets_the_models_outputs() {
    let dir = tmp("cli-classes");
    let exe = env!("CARGO_BIN_EXE_pupil");
    let images = dir.join("x-images-idx3-ubyte");
    let pixels: Vec<u8> = (0..40 * 64).map(|i| ((i / 64) % 10 * 25 + i % 7) as u8).collect();
    pupil::data::idx::write_images(&images, 8, 8, &pixels, false).unwrap();
    let mut labels: Vec<u8> = (0..40).map(|i| (i % 10) as u8).collect();
    labels[3] = 12; // classes 10 and 11 have no example
    pupil::data::idx::write_labels(&dir.join("x-labels-idx1-ubyte"), &labels, false).unwrap();
    let run = dir.join("run");
    let train = |extra: &[&str]| {
        let mut c = Command::new(exe);
        c.args(["train", "--quiet", "--model", "small", "--epochs", "1", "--batch", "8", "--overwrite", "--data"]).arg(&images).arg("--out").arg(&run);
        c.args(extra).output().unwrap()
    };
    let err = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    let out = train(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(err(&out).contains("class 10 has no example") && err(&out).contains("--classes"), "{}", err(&out));
    let out = train(&["--classes", "12"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(err(&out).contains("x-labels-idx1-ubyte: labels: label 12 (item 4) is not one of the 12 classes 0 to 11"), "{}", err(&out));
    let out = train(&["--classes", "16"]);
    assert!(out.status.success(), "{}", err(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("16 classes"));
    let meta = std::fs::read_to_string(run.join("model.json")).unwrap();
    assert!(meta.contains("\"15\""), "{meta}");
    // the run's data is read for the model's 16 classes again, gaps and all
    let out = Command::new(exe).args(["eval", "--quiet", "--run"]).arg(&run).arg("--data").arg(&images).output().unwrap();
    assert!(out.status.success(), "{}", err(&out));
    // a range error for a count that is no number of classes, and names that must match it
    for (args, want) in [(&["--classes", "0"][..], "--classes"), (&["--classes", "-3"], "--classes"), (&["--classes", "300"], "300 is not from 1 to 256")] {
        let out = train(args);
        assert!(!out.status.success() && err(&out).contains(want), "{args:?}: {}", err(&out));
    }
    let out = train(&["--classes", "13", "--class-names", "a,b"]);
    assert!(!out.status.success() && err(&out).contains("2 names given for --classes 13"), "{}", err(&out));
}

#[test]
fn cli_resume_continues_to_the_runs_own_epoch_count() {
    let dir = tmp("cli-resume");
    let exe = env!("CARGO_BIN_EXE_pupil");
    let run = dir.join("run");
    let train = |extra: &[&str]| {
        let out = Command::new(exe).args(["train", "--quiet", "--model", "small", "--out"]).arg(&run).args(extra).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let epochs = || std::fs::read_to_string(run.join("history.csv")).unwrap().lines().count() - 1;
    train(&["--epochs", "2"]);
    assert_eq!(epochs(), 2);
    // the run asked for 2 epochs and has them: resuming it as it is says so instead of doing nothing
    let out = Command::new(exe).args(["train", "--quiet", "--resume", "--out"]).arg(&run).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("finished (2 of 2 epochs)"));
    assert_eq!(epochs(), 2);
    train(&["--resume", "--epochs", "3"]);
    assert_eq!(epochs(), 3);
}

/// A plain `pupil train` (default `--out`) twice in a row: two numbered runs, `runs/latest`
/// the newest; eval and predict default to it; predict never writes over an input, a file of
/// a run, or (without --force) an existing file; an explicit `--out` holding a run is refused.
#[test]
fn cli_never_destroys_a_run() {
    let dir = tmp("no-loss");
    let (train, test) = (dir.join("train.csv"), dir.join("test.csv"));
    fer_csv(&train, 60, true, 1);
    fer_csv(&test, 10, false, 2);
    let exe = env!("CARGO_BIN_EXE_pupil");
    let pupil = |args: &[&str]| Command::new(exe).current_dir(&dir).args(args).output().unwrap();
    let ok = |args: &[&str]| {
        let out = pupil(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let fails = |args: &[&str], what: &str| {
        let out = pupil(args);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(what), "{args:?}: {err}");
    };
    let plain = ["train", "--quiet", "--model", "small", "--epochs", "1", "--batch", "32", "--data", "train.csv"];
    let s = ok(&plain);
    assert!(s.contains("runs/run-001"), "{s}");
    let first = std::fs::read(dir.join("runs/run-001/model.safetensors")).unwrap();
    let s = ok(&[&plain[..], &["--seed", "7"]].concat());
    assert!(s.contains("runs/run-002"), "{s}");
    assert_eq!(std::fs::read(dir.join("runs/run-001/model.safetensors")).unwrap(), first, "the first run was changed");
    let latest = std::fs::read(dir.join("runs/latest/model.safetensors")).unwrap();
    assert_eq!(latest, std::fs::read(dir.join("runs/run-002/model.safetensors")).unwrap());
    assert_ne!(latest, first);
    // --run defaults to the latest run
    let s = ok(&["eval", "--data", "train.csv", "--split", "train"]);
    assert!(s.contains("runs/latest/confusion.csv"), "{s}");
    ok(&["predict", "--data", "test.csv"]);
    assert_eq!(std::fs::read_to_string(dir.join("submission.csv")).unwrap().lines().count(), 11);
    fails(&["predict", "--data", "test.csv"], "--force");
    ok(&["predict", "--data", "test.csv", "--force"]);
    let test_before = std::fs::read(&test).unwrap();
    fails(&["predict", "--data", "test.csv", "--out", "test.csv", "--force"], "input");
    assert_eq!(std::fs::read(&test).unwrap(), test_before);
    fails(&["predict", "--data", "test.csv", "--out", "runs/run-001/model.safetensors", "--force"], "file of the run");
    assert_eq!(std::fs::read(dir.join("runs/run-001/model.safetensors")).unwrap(), first);
    // an explicit --out holding a run
    fails(&["train", "--quiet", "--model", "small", "--epochs", "1", "--data", "train.csv", "--out", "runs/run-001"], "--overwrite");
    assert_eq!(std::fs::read(dir.join("runs/run-001/model.safetensors")).unwrap(), first);
    fails(&["train", "--quiet", "--data", "train.csv", "--out", "test.csv"], "is a file, not a run directory");
    // with no run at all, --run says how to make one
    let empty = tmp("no-run");
    let out = Command::new(exe).current_dir(&empty).args(["eval"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("pupil train"), "{}", String::from_utf8_lossy(&out.stderr));
}
