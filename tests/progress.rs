//! The library reports its long loops through `pupil::progress`: the bytes of a data file as
//! they are read (plain and gzipped: the file's own bytes), the pictures of a folder tree
//! decoded, and the images evaluated and predicted; the training loop reports its validation
//! passes as `Event::Validating`. One test in its own binary, since the observer is
//! process-wide.

use pupil::data::{self, Dataset, Normalization, Split};
use pupil::nn::{ModelSpec, Sequential};
use pupil::train::{evaluate, predict, Event, TrainConfig, Trainer};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

type Log = Arc<Mutex<Vec<(String, u64, u64)>>>;

/// The reports of `task`, checked to be in order and to end complete; returns them.
fn reports_of(log: &Log, task: &str) -> Vec<(u64, u64)> {
    let got: Vec<(u64, u64)> = log.lock().unwrap().iter().filter(|(t, _, _)| t == task).map(|&(_, d, n)| (d, n)).collect();
    assert!(!got.is_empty(), "no report of {task}");
    assert!(got.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 == w[1].1), "{task}: {got:?}");
    let (done, total) = *got.last().unwrap();
    assert_eq!(done, total, "{task}: the last report is complete");
    got
}

#[test]
fn reading_decoding_evaluating_predicting_and_validating_report_their_progress() {
    let log: Log = Arc::default();
    let sink = log.clone();
    pupil::progress::set_observer(move |r| sink.lock().unwrap().push((r.task.to_string(), r.done, r.total)));

    // a Kaggle train.csv of 600 faces of 48x48 (about 5 MB)
    let dir = std::env::temp_dir().join(format!("pupil-progress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("train.csv");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(f, "label,feature").unwrap();
    for i in 0..600u32 {
        let px: Vec<String> = (0..48 * 48u32).map(|j| ((i * 7 + j * 13) % 256).to_string()).collect();
        writeln!(f, "{},{}", i % 7, px.join(" ")).unwrap();
    }
    drop(f);
    let size = std::fs::metadata(&path).unwrap().len();
    let ds = data::load(&path, Split::All).unwrap();
    assert_eq!(ds.len(), 600);
    let read = reports_of(&log, &format!("reading {}", path.display()));
    assert!(read.len() >= 4, "a report per MiB of a {size}-byte file: {read:?}");
    assert_eq!(read.last().unwrap().1, size);

    // gzipped: the compressed bytes, up to the file's size
    let gz = dir.join("train.csv.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    enc.write_all(&std::fs::read(&path).unwrap()).unwrap();
    enc.finish().unwrap();
    assert_eq!(data::load(&gz, Split::All).unwrap().len(), 600);
    assert_eq!(reports_of(&log, &format!("reading {}", gz.display())).last().unwrap().1, std::fs::metadata(&gz).unwrap().len());

    // evaluating and predicting, by batch: 600 images in batches of 256
    let spec = ModelSpec::parse("flatten\ndense 7").unwrap();
    let model = Sequential::build(&spec, &[1, 48, 48], 1).unwrap();
    evaluate(&model, &ds, &Normalization::Scale255, 256).unwrap();
    assert_eq!(reports_of(&log, "evaluating"), vec![(256, 600), (512, 600), (600, 600)]);
    predict(&model, &ds, &Normalization::Scale255, 256).unwrap();
    assert_eq!(reports_of(&log, "predicting"), vec![(256, 600), (512, 600), (600, 600)]);

    decoding_picture_folders(&log, &dir);
    validating_while_training(&log, &ds);

    // without an observer nothing is kept
    pupil::progress::clear_observer();
    let before = log.lock().unwrap().len();
    evaluate(&model, &ds, &Normalization::Scale255, 256).unwrap();
    assert_eq!(log.lock().unwrap().len(), before);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `root/<class>/<n>.png`: `counts[k]` 6x6 pictures in class `k`'s folder.
fn write_classes(root: &Path, counts: &[usize]) {
    for (k, &n) in counts.iter().enumerate() {
        let dir = root.join(format!("class{k}"));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..n {
            image::GrayImage::from_fn(6, 6, |x, y| image::Luma([(x * 40 + y * 7 + i as u32 * 3 + k as u32 * 50) as u8]))
                .save(dir.join(format!("{i:03}.png")))
                .unwrap();
        }
    }
}

/// A class tree reports every picture decoded, one by one (decoded in parallel, reported in
/// order); a tree of splits reports each split's tree, the training part first.
fn decoding_picture_folders(log: &Log, dir: &Path) {
    let faces = dir.join("faces");
    write_classes(&faces, &[9, 14, 6]);
    assert_eq!(data::load(&faces, Split::All).unwrap().len(), 29);
    assert_eq!(reports_of(log, &format!("decoding {}", faces.display())), (1..=29).map(|d| (d, 29)).collect::<Vec<_>>());

    let split = dir.join("split");
    write_classes(&split.join("train"), &[5, 7]);
    write_classes(&split.join("test"), &[2, 3]);
    assert_eq!(data::load(&split, Split::All).unwrap().len(), 17);
    let (train, test) = (format!("decoding {}", split.join("train").display()), format!("decoding {}", split.join("test").display()));
    assert_eq!(reports_of(log, &train).last(), Some(&(12, 12)));
    assert_eq!(reports_of(log, &test), (1..=5).map(|d| (d, 5)).collect::<Vec<_>>());
    let tasks: Vec<String> = log.lock().unwrap().iter().map(|r| r.0.clone()).collect();
    assert!(tasks.iter().rposition(|t| *t == train) < tasks.iter().position(|t| *t == test), "train before test: {tasks:?}");
}

/// Every validated epoch reports its validation images by batch (the training batch size),
/// after its last training batch and before its end; nothing of it goes to the observer; no validation, no
/// report.
fn validating_while_training(log: &Log, ds: &Dataset) {
    let spec = ModelSpec::parse("flatten\ndense 7").unwrap();
    for val_split in [0.5, 0.0] {
        let bs = 128;
        let cfg = TrainConfig { epochs: 2, batch_size: bs, val_split, ..TrainConfig::default() };
        let held_out = cfg.holdout(ds).1.len();
        let mut t = Trainer::new(&spec, ds, cfg).unwrap();
        let before = log.lock().unwrap().len();
        let mut events: Vec<String> = vec![];
        t.fit(ds, None, &mut (), &mut |e| {
            let s = match e {
                Event::EpochStart { epoch, .. } => format!("start {epoch}"),
                Event::Batch { .. } => "batch".into(),
                Event::Validating { epoch, done, total } => format!("validating {epoch}: {done}/{total}"),
                Event::EpochEnd(r) => format!("end {}", r.epoch),
                Event::EarlyStop { .. } => "stop".into(),
            };
            // one "batch" for a run of batches
            if s != "batch" || events.last().is_none_or(|l| *l != "batch") {
                events.push(s);
            }
        })
        .unwrap();
        assert_eq!(log.lock().unwrap().len(), before, "fit reports nothing to the observer");
        let mut expected = vec![];
        for epoch in 1..=2 {
            expected.extend([format!("start {epoch}"), "batch".into()]);
            if val_split > 0.0 {
                assert!(held_out > 2 * bs && held_out < 3 * bs, "{held_out} held out: three validation batches");
                let done = [bs, 2 * bs, held_out];
                expected.extend(done.map(|d| format!("validating {epoch}: {d}/{held_out}")));
            }
            expected.push(format!("end {epoch}"));
        }
        assert_eq!(events, expected, "val_split {val_split}");
    }
}
