//! The `pupil` binary's contract with a shell: usage errors exit 2 and keep clap's suggestion,
//! runtime errors exit 1, negative or out-of-range numbers get a message naming the range, and
//! `pupil summary` reads a spec's input line, a run directory or its model.json, counting batch
//! norm's running statistics as non-trainable parameters as Keras does.

use pupil::data::Normalization;
use pupil::nn::{ModelSpec, Sequential};
use pupil::run::save_model;
use pupil::train::ModelMeta;
use std::path::PathBuf;
use std::process::{Command, Output};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pupil-cli-usage-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn pupil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pupil")).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn summary(args: &[&str]) -> String {
    let o = pupil(&[&["summary"], args].concat());
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn usage_errors_exit_2_with_the_suggestion_runtime_errors_exit_1() {
    let o = pupil(&["train", "--epoch", "3"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: unexpected argument '--epoch'"), "{err}");
    assert!(err.contains("tip: a similar argument exists: '--epochs'"), "{err}");
    assert!(!err.contains("Usage:"), "the usage block is left out: {err}");
    let o = pupil(&["trian"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("'train'"), "{}", stderr(&o));
    // a runtime error: a run directory that does not exist
    let o = pupil(&["eval", "--run", "/nonexistent/pupil-run"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stderr(&o).trim().lines().count(), 1, "{}", stderr(&o));
    // --help is not an error
    assert_eq!(pupil(&["train", "--help"]).status.code(), Some(0));
}

#[test]
fn negative_and_out_of_range_numbers_name_the_range() {
    for (args, want) in [
        (&["train", "--val-split", "-0.1"][..], "'--val-split <VAL_SPLIT>': must be in [0, 1), got -0.1"),
        (&["train", "--val-split", "1"][..], "must be in [0, 1), got 1"),
        (&["train", "--epochs", "-1"][..], "'--epochs <EPOCHS>': must be a whole number of at least 1, got -1"),
        (&["train", "--batch", "0"][..], "'--batch <BATCH>': must be a whole number of at least 1, got 0"),
        (&["train", "--seed", "-5"][..], "'--seed <SEED>': must be a whole number from 0"),
        (&["bench", "--reps", "-3"][..], "'--reps <REPS>': must be a whole number of at least 1, got -3"),
        (&["--threads", "-2", "summary"][..], "'--threads <THREADS>': must be a whole number of at least 1, got -2"),
    ] {
        let o = pupil(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err:?} lacks {want:?}");
        assert!(!err.contains("unexpected argument"), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
}

/// The spec used below: a conv (3*3*1*4 + 4 = 40), batch norm on 4 channels (8 trainable,
/// 8 running statistics), a dense layer from the input line's 6x6 (4*6*6*3 + 3 = 435).
const SPEC: &str = "input 6x6x1\nconv 4 3x3 same\nbatchnorm\nflatten\ndense 3\n";

#[test]
fn summary_reads_the_input_line_and_counts_statistics_as_non_trainable() {
    let dir = tmp("spec");
    let path = dir.join("spec.txt");
    std::fs::write(&path, SPEC).unwrap();
    let s = summary(&["--model", path.to_str().unwrap()]);
    assert!(s.starts_with("Input: (None, 6, 6, 1)"), "{s}");
    assert!(s.contains("(None, 3)"), "{s}");
    assert!(s.contains("Total params: 491\n"), "{s}");
    assert!(s.contains("Trainable params: 483\n"), "{s}");
    assert!(s.contains("Non-trainable params: 8 (batch-norm running statistics)\n"), "{s}");
    // --input that contradicts the spec's own line is refused
    let o = pupil(&["summary", "--model", path.to_str().unwrap(), "--input", "8x8x1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("6x6x1"), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn summary_of_report003_matches_keras() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/specs/report003.txt");
    let s = summary(&["--model", path]);
    assert!(s.contains("Total params: 106,536,711\n"), "{s}");
    assert!(s.contains("Trainable params: 106,524,935\n"), "{s}");
    assert!(s.contains("Non-trainable params: 11,776 (batch-norm running statistics)\n"), "{s}");
}

#[test]
fn summary_of_a_run_directory_or_its_model_json() {
    let dir = tmp("run");
    let spec = ModelSpec::parse(&SPEC.replace("input 6x6x1\n", "")).unwrap();
    let input = vec![1, 6, 6];
    let model = Sequential::build(&spec, &input, 1).unwrap();
    let meta = ModelMeta { spec, input, class_names: vec!["a".into(), "b".into(), "c".into()], normalization: Normalization::Scale255 };
    save_model(&dir, &model.named_tensors(), &meta).unwrap();
    let d = dir.to_str().unwrap();
    let json = dir.join("model.json");
    let by_dir = summary(&["--model", d]);
    assert!(by_dir.starts_with("Input: (None, 6, 6, 1)") && by_dir.contains("Total params: 491\n"), "{by_dir}");
    assert_eq!(summary(&["--run", d]), by_dir);
    assert_eq!(summary(&["--model", json.to_str().unwrap()]), by_dir);
    assert_eq!(summary(&["--run", json.to_str().unwrap()]), by_dir);
    // a directory that is not a run
    let empty = tmp("empty");
    let o = pupil(&["summary", "--run", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("model.json"), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn predict_image_refuses_the_flags_of_a_submission() {
    // --image prints probabilities; flags that only shape a submission file would be ignored
    for flag in [&["--probs", "p.csv"][..], &["--tta", "flip"], &["--out", "s.csv"], &["--force"], &["--split", "all"]] {
        let o = pupil(&[&["predict", "--run", "/nonexistent/pupil-run", "--image", "face.png"][..], flag].concat());
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{flag:?}: {err}");
        assert!(err.contains("cannot be used with") && err.contains(flag[0]), "{flag:?}: {err}");
    }
    // alone it is accepted by the parser (and fails at run time on the missing run, exit 1)
    assert_eq!(pupil(&["predict", "--run", "/nonexistent/pupil-run", "--image", "face.png"]).status.code(), Some(1));
}

#[test]
fn bench_profile_lists_every_layer_with_ops_and_shares_that_add_up() {
    let o = pupil(&["bench", "--profile", "--models", "small", "--batch", "8", "--reps", "1", "--input", "28x28x1", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.starts_with("small: training step "), "{out}");
    // every layer that records an op appears, in the order of the summary
    let names: Vec<String> = summary(&["--model", "small", "--input", "28x28x1"])
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() > 2 && w[0].parse::<usize>().is_ok()).then(|| w[1].to_string())
        })
        .collect();
    let rows: Vec<(&str, f64)> = out
        .lines()
        .filter(|l| l.ends_with('%') && !l.starts_with("by op"))
        .map(|l| (l.split_whitespace().next().unwrap(), l.split_whitespace().last().unwrap().trim_end_matches('%').parse().unwrap()))
        .collect();
    let layers: Vec<&str> = rows.iter().map(|r| r.0).filter(|&n| n != "loss" && n != "other").collect();
    let in_order: Vec<&str> = names.iter().map(String::as_str).filter(|n| layers.contains(n)).collect();
    assert_eq!(layers, in_order, "{out}");
    assert!(layers.iter().any(|l| l.starts_with("conv")) && layers.iter().any(|l| l.starts_with("dense")), "{out}");
    // one step: its ops and the rest make up the whole step (up to the rounding of each row)
    let total: f64 = rows.iter().map(|r| r.1).sum();
    assert!((total - 100.0).abs() < 2.0, "shares add up to {total}: {out}");
    assert!(out.contains("by op: ") && out.contains("conv2d "), "{out}");
    // where the OS counts it (Linux), the hypervisor's share of the run, last
    if std::path::Path::new("/proc/stat").exists() {
        let last = out.lines().last().unwrap_or("");
        // a run this short may fall within one of the OS's clock ticks: then it says so
        let share = last.contains("% of the machine's CPU time") || last.ends_with("not counted (the run was shorter than the OS's clock tick)");
        assert!(last.starts_with("hypervisor steal during this run: ") && share, "{out}");
    }

    let o = pupil(&["bench", "--profile", "--layers"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// `bench --compare` prints a row per value of the setting, the first one's ratio exactly 1;
/// a setting it cannot compare is one line naming the flag, before any step runs.
#[test]
fn bench_compare_prints_a_row_per_value_against_the_first() {
    let o = pupil(&["bench", "--models", "small", "--input", "28x28x1", "--compare", "batch=4,8", "--reps", "2", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.starts_with("small: 2 rounds, each running every setting in turn (1 untimed and 3 timed training steps"), "{out}");
    // the compared setting is in the rows, the shared ones in the header
    let head = out.lines().next().unwrap_or("");
    assert!(head.contains("; input 28x28x1, ") && !head.contains("batch 128"), "{out}");
    let row = |label: &str| {
        out.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no {label} row: {out}")).split_whitespace().skip(2).collect::<Vec<_>>()
    };
    let (b4, b8) = (row("batch 4 "), row("batch 8 "));
    assert_eq!((b4[1], b4[2], b4[4], b4[5]), ("1.000", "(1.000-1.000)", "1.000", "(1.000-1.000)"), "{out}");
    // each median lies within its printed range
    for r in [&b4, &b8] {
        for c in [1, 4] {
            let q: f64 = r[c].parse().unwrap();
            let (lo, hi) = r[c + 1].trim_matches(['(', ')']).split_once('-').unwrap();
            assert!(lo.parse::<f64>().unwrap() <= q && q <= hi.parse::<f64>().unwrap(), "{out}");
        }
    }
    for v in [b4[0], b4[3], b8[0], b8[1], b8[3], b8[4]] {
        assert!(v.parse::<f64>().is_ok_and(|x| x > 0.0), "{v}: {out}");
    }
    for (args, says) in [
        (&["bench", "--compare", "epochs=1,2"][..], "\"epochs\" is not a setting to compare"),
        (&["bench", "--compare", "batch=32"][..], "at least two values"),
        (&["bench", "--compare", "input=48x48x1,4x4"][..], "input \"4x4\" is not HxWxC"),
        (&["bench", "--models", "small", "--compare", "input=28x28x1,2x2x1"][..], "batch 128, input 2x2x1:"),
    ] {
        let o = pupil(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("--compare") && err.contains(says), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "{args:?}");
    }
    assert_eq!(pupil(&["bench", "--compare", "batch=1,2", "--profile"]).status.code(), Some(2));
}
