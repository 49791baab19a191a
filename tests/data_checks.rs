//! Input that used to be silently accepted or misreported: stray labels that invent classes,
//! duplicate test ids, IDX files of another element type, CR-only line endings, and errors
//! that named an internal function instead of the file.

use pupil::data::{self, idx, Split};
use std::path::{Path, PathBuf};

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pupil-checks-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn load_err(p: &Path) -> String {
    data::load(p, Split::Training).expect_err("an error").to_string()
}

#[test]
fn a_stray_idx_label_does_not_invent_classes() {
    let dir = temp_dir("stray");
    let ip = dir.join("x-images-idx3-ubyte");
    idx::write_images(&ip, 2, 2, &[7; 4 * 12], false).unwrap();
    let mut labels: Vec<u8> = (0..12).map(|i| (i % 10) as u8).collect();
    labels[5] = 255;
    idx::write_labels(&dir.join("x-labels-idx1-ubyte"), &labels, false).unwrap();
    let e = load_err(&ip);
    assert!(e.contains("x-labels-idx1-ubyte: labels:") && e.contains("largest label is 255 (item 6)") && e.contains("class 5 has no example"), "{e}");
    // with the number of classes given, the labels must be below it, and gaps are allowed
    let for_classes = |n| data::load_with(&ip, Split::Training, &data::LoadOptions { classes: Some(n), ..Default::default() });
    let e = for_classes(10).unwrap_err().to_string();
    assert!(e.contains("x-labels-idx1-ubyte: labels:") && e.contains("label 255 (item 6) is not one of the 10 classes 0 to 9"), "{e}");
    let ds = for_classes(256).unwrap();
    assert_eq!((ds.num_classes(), ds.label(5), ds.class_names[255].as_str()), (256, Some(255), "255"));
    // twelve classes, each with an example: accepted, with twelve class names
    let labels: Vec<u8> = (0..12).collect();
    idx::write_labels(&dir.join("x-labels-idx1-ubyte"), &labels, false).unwrap();
    assert_eq!(data::load(&ip, Split::Training).unwrap().num_classes(), 12);
    // a class between without an example (10): only with the number of classes given
    let gap: Vec<u8> = (0..12).map(|i| if i == 10 { 12 } else { i }).collect();
    idx::write_labels(&dir.join("x-labels-idx1-ubyte"), &gap, false).unwrap();
    assert!(load_err(&ip).contains("class 10 has no example"));
    let ds = data::load_with(&ip, Split::Training, &data::LoadOptions { classes: Some(13), ..Default::default() }).unwrap();
    assert_eq!((ds.num_classes(), ds.class_counts()[10..].to_vec()), (13, vec![0, 1, 1]));
    // a FER CSV (7 classes): fewer classes than its labels name is an error naming the file, the
    // image and the class; more is allowed
    let csv = write(&dir, "train.csv", "label,feature\n0,1 2 3 4\n4,1 2 3 4\n6,5 6 7 8\n");
    let fer = |n| data::load_with(&csv, Split::Training, &data::LoadOptions { classes: Some(n), ..Default::default() });
    let e = fer(4).unwrap_err().to_string();
    assert!(e.contains("train.csv: labels: label 4 (class \"Sad\") of image 2 is not one of the 4 classes 0 to 3 (the largest label is 6)"), "{e}");
    assert_eq!(fer(9).unwrap().class_names[5..], ["Surprise", "Neutral", "7", "8"]);
    assert_eq!(fer(7).unwrap().class_names, data::load(&csv, Split::Training).unwrap().class_names);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn duplicate_test_ids_name_both_lines() {
    let dir = temp_dir("dup");
    let p = write(&dir, "test.csv", "id,feature\n1,0 0 0 0\n2,0 0 0 0\n3,1 1 1 1\n2,5 5 5 5\n");
    let e = load_err(&p);
    assert!(e.contains("test.csv:5: id: id 2 appears twice: on line 3 and on line 5"), "{e}");
    let ok = write(&dir, "ok.csv", "id,feature\n1,0 0 0 0\n2,0 0 0 0\n");
    assert_eq!(data::load(&ok, Split::Training).unwrap().ids, Some(vec![1, 2]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn idx_files_of_other_types_get_an_idx_message() {
    let dir = temp_dir("idxtype");
    // 32-bit floats, 3 dimensions
    let p = write(&dir, "f-images-idx3-ubyte", [0u8, 0, 0x0D, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
    let e = load_err(&p);
    assert!(e.contains("magic") && e.contains("32-bit float") && e.contains("0x00000803") && !e.contains("header"), "{e}");
    // unsigned bytes in 4 dimensions
    let p = write(&dir, "d4-images-idx3-ubyte", [0u8, 0, 0x08, 4, 0, 0, 0, 1]);
    let e = load_err(&p);
    assert!(e.contains("unsigned byte elements in 4 dimensions"), "{e}");
    // a truncated magic number
    let p = write(&dir, "cut-images-idx3-ubyte", [0u8, 0, 8]);
    let e = load_err(&p);
    assert!(e.contains("truncated IDX file: 3 bytes") && !e.contains("header"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cr_only_line_endings_are_named() {
    let dir = temp_dir("cr");
    let p = write(&dir, "mac.csv", "label,feature\r0,1 2 3 4\r1,4 3 2 1\r");
    let e = load_err(&p);
    assert!(e.contains("mac.csv:1") && e.contains("CR only"), "{e}");
    // CRLF stays accepted
    let p = write(&dir, "dos.csv", "label,feature\r\n0,1 2 3 4\r\n1,4 3 2 1\r\n");
    assert_eq!(data::load(&p, Split::Training).unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn directory_errors_name_the_directory_not_the_function() {
    let dir = temp_dir("emptydir");
    let e = load_err(&dir);
    assert!(!e.contains("data::load") && e.contains(&dir.display().to_string()) && e.contains("fer2013.csv"), "{e}");
    idx::write_images(&dir.join("t10k-images-idx3-ubyte"), 1, 1, &[1], false).unwrap();
    let e = load_err(&dir);
    assert!(!e.contains("data::load") && e.contains(&dir.display().to_string()) && e.contains("train-images-idx3-ubyte"), "{e}");
    let e = data::load(&dir, Split::PublicTest).unwrap_err().to_string();
    assert!(!e.contains("data::load") && e.contains("split PublicTest"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
