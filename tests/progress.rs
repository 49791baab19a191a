//! The library reports its long loops through `pupil::progress`: the bytes of a data file as
//! they are read (plain and gzipped: the file's own bytes), and the images evaluated and
//! predicted. One test in its own binary, since the observer is process-wide.

use pupil::data::{self, Normalization, Split};
use pupil::nn::{ModelSpec, Sequential};
use pupil::train::{evaluate, predict};
use std::io::Write;
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
fn reading_evaluating_and_predicting_report_their_progress() {
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

    // without an observer nothing is kept
    pupil::progress::clear_observer();
    let before = log.lock().unwrap().len();
    evaluate(&model, &ds, &Normalization::Scale255, 256).unwrap();
    assert_eq!(log.lock().unwrap().len(), before);
    std::fs::remove_dir_all(&dir).unwrap();
}
