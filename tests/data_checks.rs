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
    // twelve classes, each with an example: accepted, with twelve class names
    let labels: Vec<u8> = (0..12).collect();
    idx::write_labels(&dir.join("x-labels-idx1-ubyte"), &labels, false).unwrap();
    assert_eq!(data::load(&ip, Split::Training).unwrap().num_classes(), 12);
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
