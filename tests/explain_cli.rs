//! The explain commands end to end (`pupil saliency`, `filters`, `features`, `classviz`) on a
//! run directory written by the test (the `small` CNN, untrained), and one clear error line
//! for each kind of bad input.

use pupil::data::{embedded_sample, Normalization, Split};
use pupil::nn::{preset, Sequential};
use pupil::run::{save_model, DataRef, RunDir, RunRecord};
use pupil::train::{safetensors, ModelMeta};
use std::path::{Path, PathBuf};
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pupil-explain-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run_dir(name: &str) -> PathBuf {
    let dir = tmp(name);
    let spec = preset("small", 10).unwrap();
    let model = Sequential::build(&spec, &[1, 28, 28], 3).unwrap();
    let names = embedded_sample(Split::Test).unwrap().class_names;
    let meta = ModelMeta { spec, input: vec![1, 28, 28], class_names: names, normalization: Normalization::Scale255 };
    save_model(&dir, &model.named_tensors(), &meta).unwrap();
    // the data the commands default to: the embedded sample's test split, as if evaluated on it
    let record = RunRecord { train: DataRef::given(None, Split::Training), validation: None, evaluated: Some(DataRef::given(None, Split::Test)) };
    RunDir::new(&dir).write_record(&record).unwrap();
    dir
}

fn pupil(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pupil")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Runs a command that must fail with exit status 1 and one `error:` line containing `want`.
fn fails(args: &[&str], want: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_pupil")).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
    assert!(err.starts_with("error: ") && err.contains(want), "{args:?}: {err:?} lacks {want:?}");
}

fn png_size(p: &Path) -> (u32, u32) {
    let dec = png::Decoder::new(std::fs::File::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())));
    let reader = dec.read_info().unwrap();
    let info = reader.info();
    (info.width, info.height)
}

#[test]
fn commands_write_pictures_and_attributions() {
    let run = run_dir("ok");
    let r = run.to_str().unwrap();
    let out = run.join("out");
    let o = out.to_str().unwrap();
    let (ok, stdout, err) =
        pupil(&["saliency", "--run", r, "--ids", "0,4-5", "--method", "all", "--samples", "4", "--steps", "8", "--class", "true", "--out", o, "--quiet"]);
    assert!(ok, "{err}");
    assert!(stdout.contains("completeness"), "{stdout}");
    let (w, h) = png_size(&out.join("saliency.png"));
    assert!(w > 13 * 80 && h > 3 * 80, "{w}x{h}");
    let (t, md) = safetensors::load(&out.join("attributions.safetensors")).unwrap();
    for m in ["vanilla", "smoothgrad", "integrated"] {
        assert_eq!(t[m].shape(), &[3, 1, 28, 28], "{m}");
    }
    assert_eq!(t["gradcam"].shape(), &[3, 1, 28, 28]);
    assert_eq!(md["ids"], "[0,4,5]");
    let ds = embedded_sample(Split::Test).unwrap();
    let want: Vec<u8> = [0, 4, 5].iter().map(|&i| ds.label(i).unwrap()).collect();
    assert_eq!(md["classes"], format!("[{},{},{}]", want[0], want[1], want[2]));
    assert!(md["methods"].contains("\"samples\":4") && md["methods"].contains("\"layer\":3"), "{}", md["methods"]);

    let (ok, _, err) = pupil(&["filters", "--run", r, "--layer", "conv1", "--filters", "0-3", "--steps", "3", "--out", o, "--quiet"]);
    assert!(ok, "{err}");
    assert!(png_size(&out.join("filters_conv1.png")).0 > 0);
    let csv = std::fs::read_to_string(out.join("filters_conv1.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    let (ok, _, err) = pupil(&["features", "--run", r, "--id", "7", "--layer", "3", "--out", o]);
    assert!(ok, "{err}");
    assert!(png_size(&out.join("features_conv2_id7.png")).0 > 0);
    let (ok, _, err) = pupil(&["classviz", "--run", r, "--classes", "0,3", "--steps", "3", "--out", o, "--quiet"]);
    assert!(ok, "{err}");
    assert!(png_size(&out.join("classviz.png")).0 > 0);
}

#[test]
fn bad_input_gives_one_clear_line() {
    let run = run_dir("bad");
    let r = run.to_str().unwrap();
    let o = run.join("out");
    let o = o.to_str().unwrap();
    fails(&["filters", "--run", r, "--layer", "conv9", "--out", o], "unknown layer \"conv9\"");
    fails(&["features", "--run", r, "--layer", "42", "--id", "0", "--out", o], "no layer 42");
    fails(&["filters", "--run", r, "--layer", "conv1", "--filters", "0,16", "--out", o], "filter 16 is out of range");
    fails(&["filters", "--run", r, "--layer", "dense1", "--out", o], "filters needs a convolutional layer");
    fails(&["saliency", "--run", r, "--method", "gradcam", "--layer", "dense2", "--out", o], "Grad-CAM needs a convolutional layer");
    fails(&["saliency", "--run", r, "--ids", "0,1000", "--out", o], "id 1000 is beyond the data (1000 images");
    fails(&["features", "--run", r, "--layer", "conv1", "--id", "1000", "--out", o], "id 1000 is beyond the data");
    fails(&["saliency", "--run", r, "--class", "10", "--out", o], "class 10 is out of range");
    fails(&["saliency", "--run", r, "--method", "guided", "--out", o], "\"guided\" is not vanilla");
    fails(&["classviz", "--run", r, "--classes", "12", "--out", o], "class 12 is out of range");
    let empty = tmp("empty");
    fails(&["saliency", "--run", empty.to_str().unwrap()], "no trained model in this run directory");
    fails(&["filters", "--run", "/nonexistent/run", "--layer", "1"], "no such run directory");
}
