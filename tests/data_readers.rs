//! The dataset readers on good and bad files written into a temporary directory.

use pupil::data::{self, idx, Dataset, Split};
use pupil::Rng;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh empty directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let k = N.fetch_add(1, Ordering::SeqCst);
    let d = std::env::temp_dir().join(format!("pupil-data-{}-{name}-{k}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `n` pseudo-random pixel values, space separated.
fn pixels(n: usize, seed: u64) -> (String, Vec<u8>) {
    let mut rng = Rng::new(seed);
    let v: Vec<u8> = (0..n).map(|_| rng.below(256) as u8).collect();
    (v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" "), v)
}

fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A Kaggle train.csv with `rows` rows of `npix` values; returns the text and the pixels.
fn train_csv(rows: usize, npix: usize, eol: &str) -> (String, Vec<u8>, Vec<u8>) {
    let mut text = format!("label,feature{eol}");
    let (mut all, mut labels) = (Vec::new(), Vec::new());
    for r in 0..rows {
        let (s, v) = pixels(npix, r as u64);
        let label = (r % 7) as u8;
        text.push_str(&format!("{label},{s}{eol}"));
        all.extend(v);
        labels.push(label);
    }
    (text, all, labels)
}

fn load_err(path: &Path, split: Split) -> String {
    match data::load(path, split) {
        Ok(ds) => panic!("{} loaded {} images, expected an error", path.display(), ds.len()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn kaggle_train_csv_lf_crlf_bom_gzip() {
    let dir = temp_dir("train");
    let (text, px, labels) = train_csv(5, 2304, "\n");
    let ds = data::load(&write(&dir, "train.csv", &text), Split::Training).unwrap();
    assert_eq!((ds.len(), ds.channels, ds.height, ds.width), (5, 1, 48, 48));
    assert_eq!(ds.pixels, px);
    assert_eq!(ds.labels.as_deref(), Some(&labels[..]));
    assert_eq!(ds.ids, None);
    assert_eq!(ds.class_names, data::FER_CLASSES.map(String::from).to_vec());
    assert_eq!(ds.class_counts(), vec![1, 1, 1, 1, 1, 0, 0]);
    assert_eq!(ds.image(2), &px[2 * 2304..3 * 2304]);

    let (crlf, _, _) = train_csv(5, 2304, "\r\n");
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(crlf.as_bytes());
    bom.extend_from_slice(b"\r\n\r\n"); // trailing empty lines are fine
    assert_eq!(data::load(&write(&dir, "crlf.csv", &bom), Split::Training).unwrap(), ds);

    // Gzipped CSV, detected by content.
    let gz = dir.join("train.csv.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, text.as_bytes()).unwrap();
    enc.finish().unwrap();
    assert_eq!(data::load(&gz, Split::Training).unwrap(), ds);

    // A directory with train.csv loads it for Split::Training.
    assert_eq!(data::load(&dir, Split::Training).unwrap(), ds);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kaggle_test_csv_and_quoted_fields_and_small_images() {
    let dir = temp_dir("test");
    let (a, va) = pixels(2304, 1);
    let (b, vb) = pixels(2304, 2);
    let text = format!("id,feature\n7,\"{a}\"\n12,{b}");
    let ds = data::load(&write(&dir, "test.csv", text), Split::Test).unwrap();
    assert_eq!(ds.ids, Some(vec![7, 12]));
    assert_eq!(ds.labels, None);
    assert_eq!(ds.pixels, [va, vb].concat());
    assert!(ds.class_counts().is_empty());

    // Any square size, consistent across rows.
    let ds = data::load(&write(&dir, "small.csv", "label,feature\n1,0 1 2 3\n2,4 5 6 7\n"), Split::All).unwrap();
    assert_eq!((ds.len(), ds.height, ds.width), (2, 2, 2));
    assert_eq!(ds.pixels, (0..8).collect::<Vec<u8>>());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fer2013_csv_usage_splits() {
    let dir = temp_dir("fer");
    let usages = ["Training", "Training", "PublicTest", "Training", "PrivateTest", "PrivateTest"];
    let mut text = String::from("emotion,pixels,Usage\r\n");
    for (r, u) in usages.iter().enumerate() {
        text.push_str(&format!("{},{},{u}\r\n", r % 7, pixels(2304, r as u64).0));
    }
    let p = write(&dir, "fer2013.csv", text);
    let count = |s| data::load(&p, s).unwrap().len();
    assert_eq!(count(Split::Training), 3);
    assert_eq!(count(Split::PublicTest), 1);
    assert_eq!(count(Split::PrivateTest), 2);
    assert_eq!(count(Split::Test), 3);
    assert_eq!(count(Split::All), 6);
    let public = data::load(&p, Split::PublicTest).unwrap();
    assert_eq!(public.labels, Some(vec![2]));
    assert_eq!(public.pixels, pixels(2304, 2).1);
    // The directory form finds fer2013.csv.
    assert_eq!(data::load(&dir, Split::PrivateTest).unwrap().len(), 2);
    assert_eq!("private".parse::<Split>().unwrap(), Split::PrivateTest);

    let only_train = write(&dir, "only.csv", format!("emotion,pixels,Usage\n0,{},Training\n", pixels(4, 0).0));
    let e = load_err(&only_train, Split::PublicTest);
    assert!(e.contains("only.csv") && e.contains("no rows with Usage PublicTest"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Each bad file gives one error naming the file, the line and the field.
#[test]
fn csv_errors_name_file_line_and_field() {
    let dir = temp_dir("bad");
    let (good, _) = pixels(2304, 9);
    let (short, _) = pixels(2303, 9);
    let mut v256: Vec<&str> = good.split(' ').collect();
    v256[11] = "256";
    let v256 = v256.join(" ");
    let mut nan: Vec<&str> = good.split(' ').collect();
    nan[4] = "12a";
    let nan = nan.join(" ");
    let rows = |bad_row: &str| format!("label,feature\n0,{good}\n1,{good}\n{bad_row}\n3,{good}\n");
    let huge = "9".repeat(40);
    let cases: Vec<(&str, String, Split, &str)> = vec![
        ("count.csv", rows(&format!("2,{short}")), Split::Training, "count.csv:4: feature: expected 2304 pixel values, found 2303"),
        ("range.csv", rows(&format!("2,{v256}")), Split::Training, "range.csv:4: feature: value 256 at position 12 is outside 0..=255"),
        ("nan.csv", rows(&format!("2,{nan}")), Split::Training, "nan.csv:4: feature: not a number: \"12a\" at position 5"),
        ("label.csv", rows(&format!("9,{good}")), Split::Training, "label.csv:4: label: 9 is not one of the 7 classes 0..=6"),
        ("labelnan.csv", rows(&format!("x,{good}")), Split::Training, "labelnan.csv:4: label: not a number: \"x\""),
        ("hugelabel.csv", rows(&format!("{huge},{good}")), Split::Training, "hugelabel.csv:4: label: not a number"),
        ("huge.csv", rows(&format!("1,{huge} {good}")), Split::Training, "huge.csv:4: feature: value 9999"),
        ("missingfield.csv", rows("3"), Split::Training, "missingfield.csv:4: feature: missing"),
        ("extrafield.csv", rows(&format!("3,{good},x")), Split::Training, "extrafield.csv:4: line: 3 comma-separated fields"),
        ("blank.csv", rows(""), Split::Training, "blank.csv:4: line: blank line in the middle of the file"),
        ("blankcrlf.csv", rows("\r").replace('\n', "\r\n"), Split::Training, "blankcrlf.csv:4: line: blank line"),
        ("nocol.csv", "label\n1\n".to_string(), Split::Training, "nocol.csv:1: header: missing column feature"),
        ("unknown.csv", "a,b\n1,2\n".to_string(), Split::Training, "unknown.csv:1: header: unknown header \"a,b\""),
        ("unknowncol.csv", "label,feature,x\n".to_string(), Split::Training, "unknowncol.csv:1: header: unknown column \"x\""),
        ("empty.csv", String::new(), Split::Training, "empty.csv: header: empty file"),
        ("bomonly.csv", "\u{feff}".to_string(), Split::Training, "bomonly.csv: header: empty file"),
        ("headeronly.csv", "label,feature\r\n".to_string(), Split::Training, "headeronly.csv:1: data: no image rows"),
        ("square.csv", format!("label,feature\n1,{short}\n"), Split::Training, "square.csv:2: feature: 2303 pixel values do not make a square image"),
        ("firstbad.csv", format!("label,feature\n8,{short}\n"), Split::Training, "firstbad.csv:2: label: 8 is not one of"),
        ("usage.csv", format!("emotion,pixels,Usage\n1,{good},Train\n"), Split::All, "usage.csv:2: Usage: unknown value \"Train\""),
        ("id.csv", format!("id,feature\n-3,{good}\n"), Split::Test, "id.csv:2: id: not a number"),
        ("split.csv", rows(&format!("2,{good}")), Split::PublicTest, "split.csv:1: header: split PublicTest needs fer2013.csv"),
    ];
    for (name, text, split, want) in cases {
        let e = load_err(&write(&dir, name, text), split);
        assert!(e.contains(want), "{name}:\n  got  {e}\n  want {want}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }
    // Non-UTF-8 bytes in a pixel field and in the header.
    let mut bytes = format!("label,feature\n1,{} ", pixels(2303, 1).0).into_bytes();
    bytes.extend_from_slice(&[0xff, 0xfe, b'\n']);
    let e = load_err(&write(&dir, "binary.csv", &bytes), Split::All);
    assert!(e.contains("binary.csv:2: feature: not a number: \"\u{fffd}\u{fffd}\" at position 2304"), "{e}");
    let e = load_err(&write(&dir, "binhead.csv", [0xff, 0x00, 0x12, b'\n']), Split::All);
    assert!(e.contains("binhead.csv:1: header: unknown header"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A file of several 8 MB blocks: right result, and an error in a later block names its line.
#[test]
fn csv_across_blocks() {
    let dir = temp_dir("blocks");
    let (text, px, labels) = train_csv(2600, 2304, "\n");
    assert!(text.len() > 17 << 20, "{} bytes: want at least three blocks", text.len());
    let ds = data::load(&write(&dir, "big.csv", &text), Split::Training).unwrap();
    assert_eq!(ds.len(), 2600);
    assert!(ds.pixels == px && ds.labels.as_deref() == Some(&labels[..]));
    // Break row 2400 (line 2401 after the header).
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[2400] = format!("0,{}", pixels(2305, 1).0);
    let e = load_err(&write(&dir, "bigbad.csv", lines.join("\n")), Split::Training);
    assert!(e.contains("bigbad.csv:2401: feature: expected 2304 pixel values, found 2305"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn idx_round_trip_plain_and_gzip() {
    let dir = temp_dir("idx");
    let (_, px) = pixels(5 * 6 * 4, 3);
    let labels = vec![0u8, 3, 9, 1, 1];
    for gz in [false, true] {
        let ext = if gz { ".gz" } else { "" };
        let ip = dir.join(format!("demo-images-idx3-ubyte{ext}"));
        idx::write_images(&ip, 6, 4, &px, gz).unwrap();
        idx::write_labels(&dir.join(format!("demo-labels-idx1-ubyte{ext}")), &labels, gz).unwrap();
        let ds = data::load(&ip, Split::Training).unwrap();
        assert_eq!((ds.len(), ds.channels, ds.height, ds.width), (5, 1, 6, 4));
        assert_eq!(ds.pixels, px);
        assert_eq!(ds.labels.as_deref(), Some(&labels[..]));
        assert_eq!(ds.class_names, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
        std::fs::remove_file(dir.join(format!("demo-labels-idx1-ubyte{ext}"))).unwrap();
        assert_eq!(data::load(&ip, Split::Training).unwrap().labels, None, "unlabelled without a labels file");
    }
    // A Fashion-MNIST-style directory: train-* and t10k-*; called "fashion", but its images are
    // not Fashion-MNIST's, so its classes are numbered (names come from content, not paths).
    let fdir = dir.join("fashion");
    std::fs::create_dir_all(&fdir).unwrap();
    idx::write_images(&fdir.join("train-images-idx3-ubyte.gz"), 6, 4, &px, true).unwrap();
    idx::write_labels(&fdir.join("train-labels-idx1-ubyte.gz"), &labels, true).unwrap();
    idx::write_images(&fdir.join("t10k-images-idx3-ubyte"), 6, 4, &px[..48], false).unwrap();
    idx::write_labels(&fdir.join("t10k-labels-idx1-ubyte"), &labels[..2], false).unwrap();
    let train = data::load(&fdir, Split::Training).unwrap();
    assert_eq!(train.len(), 5);
    assert_eq!(train.class_names[9], "9");
    assert_eq!(data::load(&fdir, Split::Test).unwrap().len(), 2);
    assert_eq!(data::load(&fdir, Split::All).unwrap().len(), 7);
    assert!(data::load(&fdir, Split::PublicTest).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn idx_errors() {
    let dir = temp_dir("idxbad");
    let ip = dir.join("x-images-idx3-ubyte");
    idx::write_images(&ip, 2, 2, &[1, 2, 3, 4, 5, 6, 7, 8], false).unwrap();
    idx::write_labels(&dir.join("x-labels-idx1-ubyte"), &[1, 2, 3], false).unwrap();
    let e = load_err(&ip, Split::All);
    assert!(e.contains("x-labels-idx1-ubyte: labels: 3 labels for 2 images"), "{e}");
    // Passing the labels file instead of the images file.
    let e = load_err(&dir.join("x-labels-idx1-ubyte"), Split::All);
    assert!(e.contains("magic") && e.contains("labels file"), "{e}");
    // Truncated data, plain and gzipped.
    let full = std::fs::read(&ip).unwrap();
    let e = load_err(&write(&dir, "t-images-idx3-ubyte", &full[..full.len() - 3]), Split::All);
    assert!(e.contains("t-images-idx3-ubyte: data: truncated file: expected 8 bytes"), "{e}");
    idx::write_images(&dir.join("g-images-idx3-ubyte.gz"), 2, 2, &[9; 8], true).unwrap();
    let gz = std::fs::read(dir.join("g-images-idx3-ubyte.gz")).unwrap();
    assert!(data::load(&write(&dir, "cut-images-idx3-ubyte.gz", &gz[..gz.len() / 2]), Split::All).is_err());
    // Wrong magic read through the IDX reader directly.
    let e = idx::read_labels(&ip).unwrap_err().to_string();
    assert!(e.contains("wrong magic number 0x00000803 (images), expected 0x00000801"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn submission_is_written_atomically() {
    let dir = temp_dir("sub");
    let p = dir.join("submission.csv");
    std::fs::write(&p, "old").unwrap();
    data::write_submission(&p, &[3, 1, 2], &[6, 0, 4]).unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "id,label\n3,6\n1,0\n2,4\n");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left");
    assert!(data::write_submission(&p, &[1], &[1, 2]).is_err());
    assert!(data::write_submission(&dir.join("no/such/dir.csv"), &[1], &[1]).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn subset_and_concat() {
    let ds = Dataset {
        channels: 1,
        height: 1,
        width: 2,
        pixels: vec![1, 2, 3, 4, 5, 6],
        labels: Some(vec![0, 1, 1]),
        ids: None,
        class_names: vec!["a".into(), "b".into()],
    };
    let s = ds.subset(&[2, 0, 2]);
    assert_eq!(s.pixels, vec![5, 6, 1, 2, 5, 6]);
    assert_eq!(s.labels, Some(vec![1, 0, 1]));
    assert_eq!(s.class_counts(), vec![1, 2]);
    assert_eq!(ds.clone().concat(s).unwrap().len(), 6);
}
