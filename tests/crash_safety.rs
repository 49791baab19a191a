//! Crash safety of `pupil train`: the binary is SIGKILLed mid-epoch and mid-save (at several
//! delays after its checkpoint first appears); what it leaves must load, `--resume` must go on
//! from it, and the result must equal an uninterrupted run bit for bit (validation split on,
//! so the best-epoch bookkeeping is part of what is compared).

use pupil::run::{RunDir, CHECKPOINT, MODEL};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pupil-crash-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A labelled FER-style CSV of `n` 48x48 images: a class-dependent bright square on noise.
fn fer_csv(path: &Path, n: usize) {
    let mut rng = pupil::Rng::new(3);
    let mut s = String::from("label,feature\n");
    for i in 0..n {
        let label = i % 7;
        let px: Vec<String> = (0..48 * 48)
            .map(|p| {
                let (y, x) = (p / 48, p % 48);
                if y / 16 == label / 3 && x / 16 == label % 3 {
                    "200".to_string()
                } else {
                    rng.below(60).to_string()
                }
            })
            .collect();
        s.push_str(&format!("{label},{}\n", px.join(" ")));
    }
    std::fs::write(path, s).unwrap();
}

const EPOCHS: &str = "4";

fn train(dir: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pupil"));
    c.current_dir(dir)
        .args(["--threads", "1", "train", "--quiet", "--data", "train.csv", "--model", "spec.txt", "--batch", "16", "--val-split", "0.2", "--out"])
        .arg(out)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.ends_with(".tmp")).collect()
}

#[test]
fn killed_training_resumes_to_the_uninterrupted_result() {
    let dir = tmp("kill");
    fer_csv(&dir.join("train.csv"), 120);
    // ~1.2 M parameters: the checkpoint (weights, best weights, Adam moments) is ~24 MB, so
    // its save takes long enough to be killed in the middle
    std::fs::write(dir.join("spec.txt"), "conv 8 3x3 same relu\nflatten\ndense 64 relu\ndense 7\n").unwrap();
    let reference = dir.join("reference");
    let out = train(&dir, &reference, &["--epochs", EPOCHS]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want = std::fs::read(reference.join(MODEL)).unwrap();
    let want_ckpt = RunDir::new(&reference).load_trainer(None).unwrap();

    let mut killed_with_checkpoint = 0;
    for (i, delay_ms) in [0u64, 2, 10, 40].into_iter().enumerate() {
        let run = dir.join(format!("run-{i}"));
        let mut child = train(&dir, &run, &["--epochs", EPOCHS]).spawn().unwrap();
        // kill `delay_ms` after the checkpoint first appears (or after the child ends)
        let t0 = Instant::now();
        while !run.join(CHECKPOINT).exists() && child.try_wait().unwrap().is_none() && t0.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        // what the killed run left loads
        if run.join(CHECKPOINT).exists() {
            killed_with_checkpoint += 1;
            let t = RunDir::new(&run).load_trainer(None).unwrap_or_else(|e| panic!("delay {delay_ms} ms: {e}"));
            assert!(t.history().len() <= 4);
            RunDir::open(&run).unwrap().load_model().unwrap_or_else(|e| panic!("delay {delay_ms} ms: {e}"));
            let finished = t.finished();
            drop(t);
            if !finished {
                let out = train(&dir, &run, &["--resume"]).output().unwrap();
                assert!(out.status.success(), "delay {delay_ms} ms: {}", String::from_utf8_lossy(&out.stderr));
            }
        } else {
            let out = train(&dir, &run, &["--epochs", EPOCHS]).output().unwrap();
            assert!(out.status.success(), "delay {delay_ms} ms: {}", String::from_utf8_lossy(&out.stderr));
        }
        assert!(std::fs::read(run.join(MODEL)).unwrap() == want, "delay {delay_ms} ms: the resumed model differs from the uninterrupted one");
        let got = RunDir::new(&run).load_trainer(None).unwrap();
        assert_eq!(got.model.named_tensors(), want_ckpt.model.named_tensors(), "delay {delay_ms} ms: last-epoch weights differ");
        assert_eq!(got.best_epoch(), want_ckpt.best_epoch());
        assert_eq!(temporaries(&run), Vec::<String>::new(), "delay {delay_ms} ms: temporary files left");
    }
    assert!(killed_with_checkpoint >= 2, "only {killed_with_checkpoint} kills left a checkpoint");
}
