//! model.safetensors means what its PyTorch names say: an independent numpy reimplementation
//! (examples/pytorch/numpy_forward.py, numpy + safetensors from PyPI, no torch) recomputes a
//! small CNN's logits from model.json and model.safetensors alone and must match pupil's within
//! 1e-4. The CNN has a square dense layer, where weights stored [in, out] under PyTorch's
//! [out, in] name would still fit the shapes and give wrong logits. Also: files of the old
//! layout are refused.

use pupil::autograd::Graph;
use pupil::data::Normalization;
use pupil::nn::{ModelSpec, Module, Sequential};
use pupil::run::{load_model, save_model};
use pupil::tensor::Tensor;
use pupil::train::{safetensors, ModelMeta};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pupil-pytorch-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// conv (even kernel, "same" at stride 2: the odd zero bottom/right), batch norm, relu, max
/// pool, conv with explicit padding and PReLU per channel, avg pool, flatten, a square dense
/// layer (16 → 16), batch norm on features, dense + softmax head.
const SPEC: &str = r#"{"input": null, "layers": [
  {"type": "conv2d", "filters": 4, "kernel": [4, 4], "stride": [2, 2], "padding": "same", "activation": null},
  {"type": "batch_norm", "momentum": 0.99, "eps": 0.001},
  {"type": "activation", "act": {"kind": "relu"}},
  {"type": "max_pool", "kernel": [2, 2], "stride": [1, 1]},
  {"type": "conv2d", "filters": 3, "kernel": [3, 3], "stride": [1, 1], "padding": {"explicit": 1}, "activation": {"kind": "elu", "alpha": 1.0}},
  {"type": "prelu", "per_channel": true},
  {"type": "avg_pool", "kernel": [2, 2], "stride": [2, 2]},
  {"type": "flatten"},
  {"type": "dense", "units": 16, "activation": {"kind": "tanh"}},
  {"type": "dense", "units": 16, "activation": {"kind": "relu"}},
  {"type": "batch_norm", "momentum": 0.9, "eps": 0.00001},
  {"type": "dropout", "rate": 0.3},
  {"type": "dense", "units": 5, "activation": {"kind": "softmax"}}
]}"#;

/// The model with every parameter and batch-norm statistic away from its initial value.
fn model() -> (Sequential, ModelMeta) {
    let spec: ModelSpec = serde_json::from_str(SPEC).unwrap();
    let input = [2, 13, 11];
    let mut m = Sequential::build(&spec, &input, 7).unwrap();
    for (i, p) in m.params_mut().into_iter().enumerate() {
        let shift = if p.name.starts_with("bn") && p.name.ends_with("weight") { 1.0 } else { 0.0 };
        p.value = Tensor::rand_uniform(p.value.shape(), shift - 0.5, shift + 0.5, 100 + i as u64);
    }
    for (i, (name, t)) in m.buffers().into_iter().enumerate() {
        let (lo, hi) = if name.ends_with("running_var") { (0.2, 2.0) } else { (-1.0, 1.0) };
        assert!(m.load_buffer(&name, &Tensor::rand_uniform(t.shape(), lo, hi, 200 + i as u64)).unwrap());
    }
    let meta = ModelMeta {
        spec: m.spec().clone(),
        input: input.to_vec(),
        class_names: (0..5).map(|c| format!("c{c}")).collect(),
        normalization: Normalization::Scale255,
    };
    (m, meta)
}

/// Runs the numpy forward; fails with how to install what it needs when python3, numpy or
/// safetensors is missing.
fn numpy_forward(run: &Path, input: &Path, output: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/pytorch/numpy_forward.py");
    let install = "this test needs python3 with numpy and safetensors: `pip install numpy safetensors`";
    let out = Command::new("python3").arg(&script).arg(run).arg(input).arg(output).output().unwrap_or_else(|e| panic!("running python3: {e}; {install}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("ModuleNotFoundError") {
        panic!("{install}\n{stderr}");
    }
    assert!(out.status.success(), "{} failed:\n{stderr}", script.display());
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.data().iter().zip(b.data()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn numpy_recomputes_pupils_logits_from_the_saved_files() {
    let dir = tmp("numpy");
    let (m, meta) = model();
    let named = m.named_tensors();
    let shape = |n: &str| named.iter().find(|(k, _)| k == n).unwrap_or_else(|| panic!("no tensor {n}")).1.shape().to_vec();
    // PyTorch's state_dict layouts
    assert_eq!(shape("conv1.weight"), [4, 2, 4, 4]);
    assert_eq!(shape("dense1.weight"), [16, 3 * 3 * 2]);
    assert_eq!(shape("dense2.weight"), [16, 16]);
    assert_eq!(shape("dense3.weight"), [5, 16]);
    for n in ["bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"] {
        assert_eq!(shape(n), [4], "{n}");
    }
    assert_eq!(shape("prelu1.weight"), [3]);
    save_model(&dir, &named, &meta).unwrap();

    // pupil's own logits, from the model as loaded back from the files
    let loaded = load_model(&dir.join("model.safetensors")).unwrap().model;
    let x = Tensor::rand_normal(&[3, 2, 13, 11], 0.0, 1.0, 5);
    let g = Graph::no_grad();
    let logits = loaded.forward_logits(&g.constant(x.clone())).unwrap().value().clone();
    let probs = loaded.forward(&g.constant(x.clone())).unwrap().value().clone();
    assert_eq!(logits, m.forward_logits(&g.constant(x.clone())).unwrap().value().clone(), "the files did not round-trip");

    let (input, output) = (dir.join("input.safetensors"), dir.join("numpy.safetensors"));
    safetensors::save(&input, &[("x".into(), x)], &BTreeMap::new()).unwrap();
    numpy_forward(&dir, &input, &output);
    let (np, _) = safetensors::load(&output).unwrap();
    let (dl, dp) = (max_diff(&logits, &np["logits"]), max_diff(&probs, &np["output"]));
    assert!(dl < 1e-4, "numpy's logits differ from pupil's by {dl}");
    assert!(dp < 1e-4, "numpy's probabilities differ from pupil's by {dp}");
    // the comparison can fail: the square layer read the other way round changes the logits
    let mut t: Vec<(String, Tensor)> = named.clone();
    let w = &mut t.iter_mut().find(|(k, _)| k == "dense2.weight").unwrap().1;
    let d: Vec<f32> = (0..256).map(|j| w.data()[(j % 16) * 16 + j / 16]).collect();
    *w = Tensor::from_vec(d, &[16, 16]).unwrap();
    save_model(&dir, &t, &meta).unwrap();
    numpy_forward(&dir, &input, &output);
    let wrong = max_diff(&logits, &safetensors::load(&output).unwrap().0["logits"]);
    assert!(wrong > 1e-2, "a transposed square weight went unnoticed ({wrong})");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn files_of_the_old_layout_are_refused_naming_the_file() {
    let dir = tmp("old");
    let (m, meta) = model();
    save_model(&dir, &m.named_tensors(), &meta).unwrap();
    let path = dir.join("model.safetensors");
    let (t, mut md) = safetensors::load(&path).unwrap();
    assert_eq!(md.get("pupil.layout").map(String::as_str), Some("2"));
    // an older pupil wrote no layout key (and dense weights [in, out])
    md.remove("pupil.layout");
    let t: Vec<(String, Tensor)> = t.into_iter().collect();
    safetensors::save(&path, &t, &md).unwrap();
    let e = load_model(&path).err().expect("an old-layout file loaded").to_string();
    assert!(e.contains("model.safetensors") && e.contains("older pupil"), "{e}");
    md.insert("pupil.layout".into(), "7".into());
    safetensors::save(&path, &t, &md).unwrap();
    let e = load_model(&path).err().expect("an unknown layout loaded").to_string();
    assert!(e.contains("model.safetensors") && e.contains("\"7\""), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A checkpoint written by an older pupil (no layout key; dense weights and their Adam moments
/// [in, out]) is refused by `--resume`, naming the file, rather than resumed transposed.
#[test]
fn checkpoints_of_the_old_layout_are_refused_naming_the_file() {
    use pupil::data::{embedded_sample, Split};
    use pupil::run::RunDir;
    use pupil::train::{TrainConfig, Trainer};
    let dir = tmp("ckpt");
    let train = embedded_sample(Split::Training).unwrap().subset(&(0..64).collect::<Vec<_>>());
    let spec = ModelSpec::parse_named("conv 2 3x3 valid relu\nmaxpool 2\nflatten\ndense 10\n", Path::new("test.txt")).unwrap();
    let cfg = TrainConfig { epochs: 1, batch_size: 32, val_split: 0.0, ..TrainConfig::default() };
    let mut t = Trainer::new(&spec, &train, cfg).unwrap();
    t.fit(&train, None, &mut RunDir::new(&dir), &mut |_| {}).unwrap();
    let run = RunDir::new(&dir);
    assert!(run.load_trainer(Some(2)).is_ok());
    let path = dir.join("checkpoint.safetensors");
    let (tensors, mut md) = safetensors::load(&path).unwrap();
    md.remove("pupil.layout");
    safetensors::save(&path, &tensors.into_iter().collect::<Vec<_>>(), &md).unwrap();
    let e = run.load_trainer(Some(2)).err().expect("an old-layout checkpoint loaded").to_string();
    assert!(e.contains("checkpoint.safetensors") && e.contains("older pupil"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
