//! The run-directory layer: resume policies, loading a model without the trainer, the record of
//! a run's data, checkpoint faults named by file, and L2 on the tape in the training step.

use pupil::data::{embedded_sample, Dataset, Split};
use pupil::nn::{ModelSpec, Module};
use pupil::optim::{Method, OptimConfig};
use pupil::run::{self, DataRef, RunDir, TrainPlan, TrainSession};
use pupil::tensor::{Rng, Tensor};
use pupil::train::{evaluate, safetensors, TrainConfig, Trainer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pupil-rundir-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn spec(text: &str) -> ModelSpec {
    ModelSpec::parse_named(text, Path::new("test.txt")).unwrap()
}

fn sample(n: usize, from: usize) -> Dataset {
    embedded_sample(Split::Training).unwrap().subset(&(from..from + n).collect::<Vec<_>>())
}

const TINY: &str = "conv 4 3x3 valid relu\nmaxpool 2\nflatten\ndense 10\n";

/// A run validated on a separate set, saved in `dir`.
fn trained_with_val(dir: &Path, epochs: usize) -> Trainer {
    let (train, val) = (sample(120, 0), sample(40, 200));
    let cfg = TrainConfig { epochs, batch_size: 32, val_split: 0.0, ..TrainConfig::default() };
    let mut t = Trainer::new(&spec(TINY), &train, cfg).unwrap();
    t.fit(&train, Some(&val), &mut RunDir::new(dir), &mut |_| {}).unwrap();
    t
}

#[test]
fn resume_refuses_finished_runs_and_missing_validation_data() {
    let dir = tmp("policy");
    trained_with_val(&dir, 2);
    let run = RunDir::new(&dir);
    let e = run::resume(&run, None, true).err().unwrap().to_string();
    assert!(e.contains("finished (2 of 2 epochs)") && e.contains("--epochs"), "{e}");
    let e = run::resume(&run, Some(3), false).err().unwrap().to_string();
    assert!(e.contains("--val-data"), "{e}");
    let t = run::resume(&run, Some(3), true).unwrap();
    assert_eq!((t.history().len(), t.config().epochs), (2, 3));
    // the training data must be the run's
    let mut t = t;
    let e = t.fit(&sample(100, 0), Some(&sample(40, 200)), &mut (), &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("100") && e.contains("120"), "{e}");
}

#[test]
fn a_model_loads_for_inference_without_the_trainer() {
    let dir = tmp("load");
    let t = trained_with_val(&dir, 2);
    let m = RunDir::open(&dir).unwrap().load_model().unwrap();
    assert_eq!(m.model.named_tensors(), t.model.named_tensors(), "model.safetensors holds the best weights");
    assert_eq!(m.meta.class_names, t.meta().class_names);
    let test = sample(50, 400);
    let model = m.model;
    let a = evaluate(&model, &test, &m.meta.normalization, 16).unwrap();
    let norm = t.meta().normalization.clone();
    let b = evaluate(&t.model, &test, &norm, 16).unwrap();
    assert_eq!((a.loss, a.predictions), (b.loss, b.predictions));
}

/// A change to a checkpoint's tensors and metadata.
type Edit = dyn FnOnce(&mut Vec<(String, Tensor)>, &mut BTreeMap<String, String>);

/// Rewrites the checkpoint with `edit` applied to its tensors and metadata.
fn edit_checkpoint(dir: &Path, edit: impl FnOnce(&mut Vec<(String, Tensor)>, &mut BTreeMap<String, String>)) {
    let path = dir.join(run::CHECKPOINT);
    let (t, mut md) = safetensors::load(&path).unwrap();
    let mut t: Vec<(String, Tensor)> = t.into_iter().collect();
    t.sort_by(|a, b| a.0.cmp(&b.0));
    edit(&mut t, &mut md);
    safetensors::save(&path, &t, &md).unwrap();
}

#[test]
fn checkpoint_faults_are_named_with_the_file() {
    let dir = tmp("faults");
    trained_with_val(&dir, 1);
    let clean = std::fs::read(dir.join(run::CHECKPOINT)).unwrap();
    let run = RunDir::new(&dir);
    let cases: Vec<(Box<Edit>, &str)> = vec![
        (Box::new(|_, md| drop(md.insert("pupil.train_state".into(), "{".into()))), "pupil.train_state"),
        (Box::new(|_, md| drop(md.remove("pupil.optimizer"))), "pupil.optimizer"),
        (Box::new(|t, _| t.retain(|(k, _)| !k.ends_with(".m"))), ".m is missing"),
        (Box::new(|t, _| t.retain(|(k, _)| !k.starts_with("current."))), "missing tensor"),
        (Box::new(|t, _| t.push(("stray".into(), Tensor::zeros(&[1])))), "stray"),
        (Box::new(|t, _| t.iter_mut().filter(|(k, _)| k.starts_with("best.")).take(1).for_each(|(_, v)| *v = Tensor::zeros(&[1]))), "best weights"),
        (
            Box::new(|_, md| {
                let s = md["pupil.train_state"].replace("\"lr\":0.001", "\"lr\":-1.0");
                md.insert("pupil.train_state".into(), s);
            }),
            "--lr",
        ),
    ];
    for (edit, what) in cases {
        std::fs::write(dir.join(run::CHECKPOINT), &clean).unwrap();
        edit_checkpoint(&dir, edit);
        let e = run.load_trainer(None).err().unwrap().to_string();
        assert!(e.contains("checkpoint.safetensors") && e.contains(what), "{what}: {e}");
    }
    std::fs::write(dir.join(run::CHECKPOINT), b"garbage").unwrap();
    assert!(run.load_trainer(None).err().unwrap().to_string().contains("checkpoint.safetensors"));
}

/// The optimiser's record sits in the checkpoint once: moment tensors named by parameter, the
/// settings only in the training state.
#[test]
fn checkpoint_holds_one_copy_of_the_optimizer_settings() {
    let dir = tmp("optim");
    trained_with_val(&dir, 1);
    let (t, md) = safetensors::load(&dir.join(run::CHECKPOINT)).unwrap();
    assert!(
        t.contains_key("optim.layer1.weight.m") || t.keys().any(|k| k.starts_with("optim.") && k.ends_with(".weight.m")),
        "{:?}",
        t.keys().collect::<Vec<_>>()
    );
    assert!(t.keys().filter(|k| k.starts_with("optim.")).all(|k| k.ends_with(".m") || k.ends_with(".v")));
    let state = &md["pupil.train_state"];
    assert_eq!(state.matches("\"beta1\"").count(), 1, "{state}");
    assert!(!md["pupil.optimizer"].contains("beta1"));
}

/// The step's loss includes λ Σ w², and its gradient 2 λ w: with plain SGD (lr η) the weights
/// after one step differ from those of the same model without L2 by exactly -η 2 λ w.
#[test]
fn l2_penalty_is_in_the_loss_and_the_gradient() {
    let data = sample(16, 0);
    let lambda = 0.25f32;
    let sgd = OptimConfig { method: Method::Sgd { momentum: 0.0, nesterov: false }, lr: 0.1, decay: 0.0, weight_decay: 0.0 };
    let cfg = TrainConfig { val_split: 0.0, optimizer: sgd, ..TrainConfig::default() };
    let with = spec(&format!("flatten\ndense 10 l2={lambda}\n"));
    let without = spec("flatten\ndense 10\n");
    let mut a = Trainer::new(&with, &data, cfg.clone()).unwrap();
    let mut b = Trainer::new(&without, &data, cfg).unwrap();
    let w0 = a.model.named_tensors();
    assert_eq!(w0, b.model.named_tensors(), "same initial weights");
    let weight = w0.iter().find(|(k, _)| k.ends_with("weight")).unwrap().1.clone();
    let penalty = lambda as f64 * weight.data().iter().map(|&w| w as f64 * w as f64).sum::<f64>();
    let x = Tensor::rand_normal(&[16, 1, 28, 28], 0.0, 1.0, 3);
    let y: Vec<usize> = (0..16).map(|i| i % 10).collect();
    let (la, _) = a.step(x.clone(), &y, &mut Rng::new(1)).unwrap();
    let (lb, _) = b.step(x, &y, &mut Rng::new(1)).unwrap();
    assert!(((la - lb) as f64 - penalty).abs() < 1e-4 * penalty.max(1.0), "loss {la} - {lb} vs penalty {penalty}");
    let (wa, wb) = (a.model.named_tensors(), b.model.named_tensors());
    for ((name, ta), (_, tb)) in wa.iter().zip(&wb) {
        let w = &w0.iter().find(|(k, _)| k == name).unwrap().1;
        for ((&va, &vb), &v0) in ta.data().iter().zip(tb.data()).zip(w.data()) {
            let expect = if name.ends_with("weight") { -0.1 * 2.0 * lambda * v0 } else { 0.0 };
            assert!((va - vb - expect).abs() <= 1e-6 + 1e-4 * expect.abs(), "{name}: {va} - {vb} vs {expect}");
        }
    }
    assert!(a.model.l2().len() == 1 && b.model.l2().is_empty());
}

/// The sample's images as a Kaggle-style `train.csv` (28x28: the reader takes any square size;
/// FER's 7 class names, so labels modulo 7).
fn write_csv(path: &Path, ds: &Dataset) {
    let mut s = String::from("label,feature\n");
    for i in 0..ds.len() {
        let px: Vec<String> = ds.image(i).iter().map(|v| v.to_string()).collect();
        s.push_str(&format!("{},{}\n", ds.label(i).unwrap() % 7, px.join(" ")));
    }
    std::fs::write(path, s).unwrap();
}

#[test]
fn a_session_records_its_data_for_later_commands() {
    let dir = tmp("session");
    let csv = dir.join("train.csv");
    write_csv(&csv, &sample(100, 0));
    let spec_file = dir.join("tiny.txt");
    std::fs::write(&spec_file, TINY.replace("dense 10", "dense 7")).unwrap();
    let out = dir.join("run");
    let plan = TrainPlan {
        out: Some(out.clone()),
        resume: false,
        overwrite: false,
        model: spec_file.display().to_string(),
        epochs: Some(1),
        config: TrainConfig { batch_size: 32, val_split: 0.2, ..TrainConfig::default() },
        data: Some(csv.clone()),
        val_data: None,
        test_data: None,
        class_names: None,
        classes: None,
    };
    let mut s = TrainSession::start(&plan).unwrap_or_else(|e| panic!("{e}"));
    let report = s.fit(&mut |_| {}).unwrap();
    let ev = report.evaluation.expect("evaluated on the held-out images");
    assert_eq!(ev.images, 20);
    for f in report.written {
        assert!(out.join(f).is_file(), "{f}");
    }
    let run = RunDir::open(&out).unwrap();
    let held = run.evaluated_data().unwrap();
    assert_eq!(held.held_out.map(|h| (h.fraction, h.seed)), Some((0.2, 42)));
    let (_, ds) = run.load_evaluated_data().unwrap();
    assert_eq!(ds.len(), 20);
    // `eval` into the run records its data as the evaluated one
    let test = DataRef::given(Some(&csv), Split::Test);
    let r = run::evaluate_run(&out, &test, None).unwrap();
    assert_eq!(r.images, 100);
    assert_eq!(run.evaluated_data().unwrap().held_out, None);
    // patience without validation is refused before any data is read
    let bad =
        TrainPlan { data: Some(dir.join("missing.csv")), config: TrainConfig { patience: Some(2), val_split: 0.0, ..TrainConfig::default() }, ..plan.clone() };
    let e = TrainSession::start(&bad).err().unwrap().to_string();
    assert!(e.contains("--patience") && !e.contains("missing.csv"), "{e}");
    // with a finished run in `out`, --resume says so
    let again = TrainPlan { resume: true, ..plan.clone() };
    let e = TrainSession::start(&again).err().unwrap().to_string();
    assert!(e.contains("finished (1 of 1 epochs)"), "{e}");
    // resuming on other data is refused by name; on the same data it goes on
    let other = dir.join("other.csv");
    std::fs::copy(&csv, &other).unwrap();
    let moved = TrainPlan { resume: true, epochs: Some(2), data: Some(other), ..plan.clone() };
    let e = TrainSession::start(&moved).err().unwrap().to_string();
    assert!(e.contains("trained on") && e.contains("train.csv") && e.contains("other.csv"), "{e}");
    let embedded = TrainPlan { data: None, ..moved };
    assert!(TrainSession::start(&embedded).err().unwrap().to_string().contains("embedded"));
    // a plain start into the run is refused; --overwrite replaces it
    let e = TrainSession::start(&plan).err().unwrap().to_string();
    assert!(e.contains("holds a run") && e.contains("--resume") && e.contains("--overwrite"), "{e}");
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let e = TrainSession::start(&TrainPlan { out: Some(file), ..plan.clone() }).err().unwrap().to_string();
    assert!(e.contains("a-file is a file, not a run directory"), "{e}");
    // a killed write's temporary file is removed when the run goes on
    let stale = out.join(".checkpoint.safetensors.4194303-0.tmp");
    std::fs::write(&stale, vec![0u8; 1000]).unwrap();
    let mut go_on = TrainSession::start(&TrainPlan { resume: true, epochs: Some(2), ..plan.clone() }).unwrap();
    assert_eq!(go_on.resumed_after(), Some(1));
    go_on.fit(&mut |_| {}).unwrap();
    assert_eq!(go_on.trainer.history().len(), 2);
    assert!(!stale.exists(), "stale temporary file left");
    drop(go_on);
    std::fs::write(out.join("stale-note.txt"), "kept").unwrap();
    let mut anew = TrainSession::start(&TrainPlan { overwrite: true, ..plan }).unwrap();
    anew.fit(&mut |_| {}).unwrap();
    assert_eq!(RunDir::new(&out).load_trainer(None).unwrap().history().len(), 1, "the run was replaced");
    assert!(out.join("stale-note.txt").is_file(), "only the run's own files are replaced");
}

/// One batch per epoch and a huge learning rate from epoch 2 on: the epoch's last (only)
/// update ruins the weights. That epoch is not saved, the message names the checkpoint that is
/// intact (and it is), and a model with a non-finite tensor is refused by eval and predict,
/// naming the tensor.
#[test]
fn a_ruined_epoch_is_never_saved() {
    let dir = tmp("ruined");
    let data = sample(40, 0);
    let cfg = TrainConfig { epochs: 1, batch_size: 32, val_split: 0.2, ..TrainConfig::default() };
    let mut t = Trainer::new(&spec(TINY), &data, cfg).unwrap();
    t.fit(&data, None, &mut RunDir::new(&dir), &mut |_| {}).unwrap();
    let good = std::fs::read(dir.join(run::CHECKPOINT)).unwrap();
    edit_checkpoint(&dir, |_, md| {
        let s = md["pupil.train_state"].replace("\"lr\":0.001", "\"lr\":1e30");
        assert!(s.contains("1e30"));
        md.insert("pupil.train_state".into(), s);
    });
    let edited = std::fs::read(dir.join(run::CHECKPOINT)).unwrap();
    let mut t = RunDir::new(&dir).load_trainer(Some(3)).unwrap();
    let mut batches = 0;
    let e = t
        .fit(&data, None, &mut RunDir::new(&dir), &mut |e| {
            if let pupil::train::Event::Batch { .. } = e {
                batches += 1
            }
        })
        .unwrap_err()
        .to_string();
    assert_eq!(batches, 1, "one batch per epoch, the first of epoch 2 had a finite loss");
    assert!(e.contains("at the end of epoch 2") && e.contains("not saved") && e.contains("the checkpoint of epoch 1"), "{e}");
    assert_eq!(std::fs::read(dir.join(run::CHECKPOINT)).unwrap(), edited, "the checkpoint of epoch 1 was replaced");
    let intact = RunDir::new(&dir).load_trainer(None).unwrap();
    assert_eq!(intact.history().len(), 1);
    assert!(intact.history()[0].val_loss.unwrap().is_finite());
    assert!(pupil::train::first_non_finite(intact.model.named_tensors().iter().map(|(k, t)| (k, t))).is_none());
    drop(good);

    // a ruined model file: eval and predict refuse it by tensor name
    let (mut tensors, md) = safetensors::load(&dir.join(run::MODEL)).unwrap();
    let name = tensors.keys().min().unwrap().clone();
    let shape = tensors[&name].shape().to_vec();
    let mut bad = tensors[&name].data().to_vec();
    bad[0] = f32::NAN;
    tensors.insert(name.clone(), Tensor::from_vec(bad, &shape).unwrap());
    let tensors: Vec<(String, Tensor)> = tensors.into_iter().collect();
    safetensors::save(&dir.join(run::MODEL), &tensors, &md).unwrap();
    let e = RunDir::open(&dir).unwrap().load_model().err().unwrap().to_string();
    assert!(e.contains(&name) && e.contains("NaN") && e.contains("model.safetensors"), "{e}");
    let csv = dir.join("data.csv");
    write_csv(&csv, &sample(10, 0));
    let e = run::evaluate_run(&dir, &DataRef::given(Some(&csv), Split::Test), Some(&dir.join("eval"))).err().unwrap().to_string();
    assert!(e.contains(&name), "{e}");
    let e = run::predict_run(&dir, &csv, Split::Test, &dir.join("sub.csv"), false).err().unwrap().to_string();
    assert!(e.contains(&name), "{e}");
    assert!(!dir.join("sub.csv").exists());
}

/// `--resume` on other data of the same size is refused, naming the training or the
/// validation data.
#[test]
fn resume_refuses_other_data_of_the_same_size() {
    let dir = tmp("fingerprint");
    trained_with_val(&dir, 1);
    let (train, val) = (sample(120, 0), sample(40, 200));
    let go_on = |train: &Dataset, val: &Dataset| RunDir::new(&dir).load_trainer(Some(2)).unwrap().fit(train, Some(val), &mut (), &mut |_| {});
    let e = go_on(&sample(120, 1), &val).unwrap_err().to_string();
    assert!(e.contains("--resume") && e.contains("training data is not the run's"), "{e}");
    // one label changed is enough
    let mut relabelled = train.clone();
    relabelled.labels.as_mut().unwrap()[7] = (relabelled.labels.as_ref().unwrap()[7] + 1) % 10;
    assert!(go_on(&relabelled, &val).unwrap_err().to_string().contains("training data"));
    let e = go_on(&train, &sample(40, 300)).unwrap_err().to_string();
    assert!(e.contains("validation data is not the run's"), "{e}");
    go_on(&train, &val).unwrap();
    // a held-out split is the training data's: other training data is caught as such
    let dir = tmp("fingerprint-split");
    let cfg = TrainConfig { epochs: 1, batch_size: 32, val_split: 0.25, ..TrainConfig::default() };
    Trainer::new(&spec(TINY), &train, cfg).unwrap().fit(&train, None, &mut RunDir::new(&dir), &mut |_| {}).unwrap();
    let e = RunDir::new(&dir).load_trainer(Some(2)).unwrap().fit(&sample(120, 5), None, &mut (), &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("training data"), "{e}");
}

/// Messages of issue 8: early stopping after the epoch's line; resuming with fewer epochs than
/// done; errors naming the data file; batch norm with --batch 1 naming --batch.
#[test]
fn messages_come_in_order_and_name_the_flag_or_file() {
    let dir = tmp("messages");
    let data = sample(60, 0);
    // a learning rate too small to change any prediction: epoch 2 ties epoch 1, patience 1 stops
    let mut cfg = TrainConfig { epochs: 4, batch_size: 32, val_split: 0.25, patience: Some(1), ..TrainConfig::default() };
    cfg.optimizer.lr = 1e-12;
    let mut t = Trainer::new(&spec(TINY), &data, cfg).unwrap();
    let mut events = vec![];
    t.fit(&data, None, &mut RunDir::new(&dir), &mut |e| match e {
        pupil::train::Event::EpochEnd(r) => events.push(format!("end {}", r.epoch)),
        pupil::train::Event::EarlyStop { epoch, .. } => events.push(format!("stop {epoch}")),
        _ => {}
    })
    .unwrap();
    assert_eq!(events, ["end 1", "end 2", "stop 2"]);
    // --epochs below what the run has done
    let e = run::resume(&RunDir::new(&dir), Some(1), false).err().unwrap().to_string();
    assert!(e.contains("has done 2 epochs") && e.contains("--epochs") && !e.contains("2 of 1"), "{e}");
    // unlabelled training data, unlabelled evaluation data: the file is named
    let unlabelled = dir.join("unlabelled.csv");
    let mut csv = String::from("id,feature\n");
    for i in 0..4 {
        csv.push_str(&format!("{i},{}\n", vec!["7"; 28 * 28].join(" ")));
    }
    std::fs::write(&unlabelled, csv).unwrap();
    let plan = TrainPlan {
        out: Some(dir.join("run")),
        resume: false,
        overwrite: false,
        model: "small".into(),
        epochs: Some(1),
        config: TrainConfig::default(),
        data: Some(unlabelled.clone()),
        val_data: None,
        test_data: None,
        class_names: None,
        classes: None,
    };
    let e = TrainSession::start(&plan).err().unwrap().to_string();
    assert!(e.contains("unlabelled.csv") && e.contains("no labels"), "{e}");
    let e = run::evaluate_run(&dir, &DataRef::given(Some(&unlabelled), Split::Test), Some(&dir.join("ev"))).err().unwrap().to_string();
    assert!(e.contains("unlabelled.csv") && e.contains("no labels"), "{e}");
    // batch norm needs two images a batch
    let cfg = TrainConfig { batch_size: 1, ..TrainConfig::default() };
    let e = Trainer::new(&spec("conv 4 3x3 valid\nbatchnorm\nrelu\nflatten\ndense 10\n"), &data, cfg.clone()).err().unwrap().to_string();
    assert!(e.contains("--batch") && e.contains("batch norm"), "{e}");
    Trainer::new(&spec(TINY), &data, cfg).unwrap();
}
