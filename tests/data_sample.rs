//! The embedded Fashion-MNIST sample: its provenance check and its generator.
//!
//! Regenerate `assets/sample/fashion-mnist/` from the Debian package `dataset-fashion-mnist`
//! (files in /usr/share/datasets/fashion-mnist) with
//! `cargo test --test data_sample -- --ignored regenerate_embedded_sample`.

use pupil::data::{self, idx, Split};
use std::path::{Path, PathBuf};

const PACKAGE_DIR: &str = "/usr/share/datasets/fashion-mnist";
const TRAIN_N: usize = 3000;
const TEST_N: usize = 1000;

fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample/fashion-mnist")
}

/// The first `n` images and labels of the package's `prefix` split. Panics, saying how to
/// install it, if the package is absent (.ci/run installs it).
fn first_n(prefix: &str, n: usize) -> (idx::IdxImages, Vec<u8>) {
    let dir = Path::new(PACKAGE_DIR);
    assert!(dir.is_dir(), "{PACKAGE_DIR} is absent: install the real Fashion-MNIST with `apt-get install dataset-fashion-mnist` (as .ci/run does)");
    let mut img = idx::read_images(&dir.join(format!("{prefix}-images-idx3-ubyte.gz"))).unwrap();
    let labels = idx::read_labels(&dir.join(format!("{prefix}-labels-idx1-ubyte.gz"))).unwrap();
    img.pixels.truncate(n * img.height * img.width);
    img.count = n;
    (img, labels[..n].to_vec())
}

#[test]
#[ignore = "rewrites assets/sample from the dataset-fashion-mnist package"]
fn regenerate_embedded_sample() {
    let out = sample_dir();
    std::fs::create_dir_all(&out).unwrap();
    for (prefix, n) in [("train", TRAIN_N), ("t10k", TEST_N)] {
        let (img, labels) = first_n(prefix, n);
        idx::write_images(&out.join(format!("{prefix}-images-idx3-ubyte.gz")), img.height, img.width, &img.pixels, true).unwrap();
        idx::write_labels(&out.join(format!("{prefix}-labels-idx1-ubyte.gz")), &labels, true).unwrap();
    }
}

#[test]
fn embedded_sample_has_the_right_shape_and_classes() {
    let train = data::embedded_sample(Split::Training).unwrap();
    let test = data::embedded_sample(Split::Test).unwrap();
    assert_eq!((train.len(), train.channels, train.height, train.width), (TRAIN_N, 1, 28, 28));
    assert_eq!(test.len(), TEST_N);
    assert_eq!(train.num_classes(), 10);
    assert_eq!(train.class_names[0], "T-shirt/top");
    assert_eq!(train.class_names[9], "Ankle boot");
    let counts = train.class_counts();
    println!("train class counts {counts:?}, test {:?}", test.class_counts());
    assert!(counts.iter().all(|&c| c > 200), "{counts:?}");
    assert_eq!(data::embedded_sample(Split::All).unwrap().len(), TRAIN_N + TEST_N);
    assert!(data::embedded_sample(Split::PublicTest).is_err());
    // The files on disk load the same through the directory loader.
    let from_dir = data::load(&sample_dir(), Split::Training).unwrap();
    assert_eq!(from_dir, train);
}

#[test]
fn embedded_sample_is_the_first_images_of_the_package() {
    for (split, prefix, n) in [(Split::Training, "train", TRAIN_N), (Split::Test, "t10k", TEST_N)] {
        let ds = data::embedded_sample(split).unwrap();
        let (img, labels) = first_n(prefix, n);
        assert_eq!(ds.pixels, img.pixels, "{prefix} pixels");
        assert_eq!(ds.labels.as_ref().unwrap(), &labels, "{prefix} labels");
    }
}
