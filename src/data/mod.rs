//! Data: loading image datasets (FER2013 CSV files, MNIST / Fashion-MNIST IDX files), an
//! embedded real Fashion-MNIST sample, normalisation, augmentation and batching.
//!
//! Every reader keeps the images as raw bytes (`0..=255`, `N*C*H*W`) in a [`Dataset`]; images
//! become `f32` only when a batch is made ([`make_batch`]), after augmentation and
//! normalisation. Bad input never panics: it is reported as one [`Error::Parse`] naming the
//! file, the 1-based line (CSV) and the field.
//!
//! ```
//! use pupil::data::{self, Augment, NormKind, Normalization, Split};
//! // FER2013: data::load(Path::new("train.csv"), Split::Training)?; here the embedded sample.
//! let train = data::embedded_sample(Split::Training)?;
//! let (tr, val) = data::split_validation(train.len(), 0.1, 42);
//! let norm = Normalization::fit(NormKind::FeatureWise, &train.subset(&tr));
//! let aug = Augment::parse("standard")?;
//! let base = pupil::Rng::new(42);
//! let order = data::shuffled(tr.len(), &mut base.fork(0));
//! let idx: Vec<usize> = order[..64].iter().map(|&k| tr[k]).collect();
//! let (x, y) = data::make_batch(&train, &idx, &norm, Some((&aug, &base, 0)))?;
//! assert_eq!((x.shape(), y.len()), (&[64, 1, 28, 28][..], 64));
//! let (xv, _) = data::make_batch(&train, &val, &norm, None)?;
//! assert_eq!(xv.shape()[0], 300);
//! # Ok::<(), pupil::Error>(())
//! ```

pub mod augment;
pub mod batch;
pub mod classes;
pub mod csv;
pub mod folder;
pub mod idx;
pub mod image;
mod input;
pub mod normalize;
mod text;

pub use augment::Augment;
pub use batch::{make_batch, shuffled, split_validation};
pub use classes::parse_class_names;
pub use csv::write_submission;
pub use image::load_images;
pub use normalize::{NormKind, Normalization};

use crate::error::{Error, Result};
use input::{find_beside, open_peek};
use std::path::{Path, PathBuf};

/// The seven FER2013 emotion classes, in label order.
pub const FER_CLASSES: [&str; 7] = ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"];

/// The ten Fashion-MNIST classes, in label order.
pub const FASHION_CLASSES: [&str; 10] = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// Which part of a dataset to load.
///
/// * fer2013.csv (with a `Usage` column): `Training`, `PublicTest`, `PrivateTest` select rows by
///   Usage, `Test` selects both PublicTest and PrivateTest rows, `All` every row.
/// * a directory of MNIST-style IDX files: `Training` -> `train-*`, `Test` -> `t10k-*`,
///   `All` -> both (train first).
/// * a single file that is one split already (Kaggle train.csv / test.csv, one IDX file):
///   `Training`, `Test` and `All` load the whole file; `PublicTest` / `PrivateTest` are errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Split {
    Training,
    PublicTest,
    PrivateTest,
    Test,
    All,
}

impl std::str::FromStr for Split {
    type Err = Error;
    fn from_str(s: &str) -> Result<Split> {
        match s.trim().to_ascii_lowercase().as_str() {
            "train" | "training" => Ok(Split::Training),
            "public" | "publictest" | "public_test" | "val" | "valid" | "validation" => Ok(Split::PublicTest),
            "private" | "privatetest" | "private_test" => Ok(Split::PrivateTest),
            "test" | "t10k" => Ok(Split::Test),
            "all" => Ok(Split::All),
            _ => Err(Error::invalid("split", format!("unknown split {s:?}; expected train, test, public, private or all"))),
        }
    }
}

/// A set of images as raw bytes, with optional labels and ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// `N*C*H*W` raw pixel values `0..=255`, image after image.
    pub pixels: Vec<u8>,
    /// Class index per image (`< class_names.len()`), if the file has labels.
    pub labels: Option<Vec<u8>>,
    /// Row ids of a Kaggle test.csv, to write the submission with.
    pub ids: Option<Vec<u64>>,
    /// Name of each class, index = label.
    pub class_names: Vec<String>,
}

impl Dataset {
    /// A dataset from raw pixels `N*C*H*W` (image after image, bytes `0..=255`), one label per
    /// image (or `None`), the image shape `[C, H, W]` and the name of each class; the sizes are
    /// checked against each other: pixels a whole number of images, one label per image, each
    /// label naming a class.
    ///
    /// ```
    /// use pupil::data::Dataset;
    /// let names = vec!["dark".to_string(), "light".to_string()];
    /// let ds = Dataset::new(vec![0, 0, 0, 0, 255, 255, 255, 255], Some(vec![0, 1]), [1, 2, 2], names).unwrap();
    /// assert_eq!((ds.len(), ds.label(1)), (2, Some(1)));
    /// ```
    pub fn new(pixels: Vec<u8>, labels: Option<Vec<u8>>, shape: [usize; 3], class_names: Vec<String>) -> Result<Dataset> {
        let bad = |msg: String| Error::invalid("Dataset::new", msg);
        let [c, h, w] = shape;
        let per = c.checked_mul(h).and_then(|x| x.checked_mul(w)).filter(|&p| p > 0);
        let per = per.ok_or_else(|| bad(format!("image shape [C, H, W] = {shape:?}: each size must be at least 1, and C*H*W fit in memory")))?;
        if pixels.is_empty() || !pixels.len().is_multiple_of(per) {
            return Err(bad(format!("{} pixel values are not a whole number (at least 1) of {c}x{h}x{w} = {per}-value images", pixels.len())));
        }
        let n = pixels.len() / per;
        if class_names.is_empty() || class_names.len() > 256 {
            return Err(bad(format!("{} class names: expected 1 to 256", class_names.len())));
        }
        if let Some(labels) = &labels {
            if labels.len() != n {
                return Err(bad(format!("{} labels for {n} images", labels.len())));
            }
            if let Some((i, &l)) = labels.iter().enumerate().find(|&(_, &l)| l as usize >= class_names.len()) {
                return Err(bad(format!("label {l} of image {i} names no class (there are {} classes, 0 to {})", class_names.len(), class_names.len() - 1)));
            }
        }
        Ok(Dataset { channels: c, height: h, width: w, pixels, labels, ids: None, class_names })
    }

    /// Number of values in one image (`C*H*W`).
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.pixels.len().checked_div(self.image_len()).unwrap_or(0)
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of classes (`class_names.len()`).
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// Image `i` (`C*H*W` bytes). Panics if `i >= len()`, like slice indexing.
    pub fn image(&self, i: usize) -> &[u8] {
        let per = self.image_len();
        &self.pixels[i * per..(i + 1) * per]
    }

    /// Label of image `i`, if the dataset is labelled.
    pub fn label(&self, i: usize) -> Option<u8> {
        self.labels.as_ref().map(|l| l[i])
    }

    /// A new dataset with the images at `idx` (in that order; repeats allowed).
    /// Panics if an index is `>= len()`, like slice indexing.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        let per = self.image_len();
        let mut pixels = Vec::with_capacity(idx.len() * per);
        for &i in idx {
            pixels.extend_from_slice(self.image(i));
        }
        Dataset {
            channels: self.channels,
            height: self.height,
            width: self.width,
            pixels,
            labels: self.labels.as_ref().map(|l| idx.iter().map(|&i| l[i]).collect()),
            ids: self.ids.as_ref().map(|d| idx.iter().map(|&i| d[i]).collect()),
            class_names: self.class_names.clone(),
        }
    }

    /// Images per class (length `num_classes()`); empty if the dataset has no labels.
    pub fn class_counts(&self) -> Vec<usize> {
        let Some(labels) = &self.labels else {
            return Vec::new();
        };
        let top = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
        let mut counts = vec![0usize; self.class_names.len().max(top)];
        for &l in labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// Appends the images of `other` (same image size and class names; labels/ids kept only
    /// if both have them).
    pub fn concat(mut self, other: Dataset) -> Result<Dataset> {
        let (a, b) = ([self.channels, self.height, self.width], [other.channels, other.height, other.width]);
        if a != b {
            return Err(Error::shape("Dataset::concat", &a, &b));
        }
        self.pixels.extend_from_slice(&other.pixels);
        self.labels = match (self.labels.take(), other.labels) {
            (Some(mut x), Some(y)) => {
                x.extend_from_slice(&y);
                Some(x)
            }
            _ => None,
        };
        self.ids = match (self.ids.take(), other.ids) {
            (Some(mut x), Some(y)) => {
                x.extend_from_slice(&y);
                Some(x)
            }
            _ => None,
        };
        if other.class_names.len() > self.class_names.len() {
            self.class_names = other.class_names;
        }
        Ok(self)
    }
}

/// How to read data whose size or classes are not fixed by the file: the size and class names
/// of image folders ([`folder`]) and image files ([`load_images`]), which other formats ignore
/// (a model then checks their size and labels against its own), and the number of classes, for
/// every format.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadOptions {
    /// Bring every image to `(height, width)` (default: the first image's size).
    pub size: Option<(usize, usize)>,
    /// Label image folders by these class names (a folder that names none of them is an
    /// error); default: the folders, in sorted order.
    pub class_names: Option<Vec<String>>,
    /// The number of classes the labels are read for (`pupil train --classes`, a model's
    /// classes), in any format: every label must be below it (an error names the file and the
    /// image), classes without examples are allowed (also between an IDX set's labels), and
    /// the data gets this many classes ([`Dataset::with_classes`]). Default: the data's own.
    pub classes: Option<usize>,
}

/// Loads a dataset, detecting the format from the content, not the extension:
///
/// * a CSV with header `label,feature` (Kaggle train.csv), `id,feature` (Kaggle test.csv) or
///   `emotion,pixels,Usage` (fer2013.csv; `split` selects the Usage), plain or gzipped;
/// * an IDX images file (`*-images-idx3-ubyte[.gz]`), with its labels read from the file
///   beside it named `*-labels-idx1-ubyte[.gz]` (unlabelled if there is none);
/// * a directory holding MNIST / Fashion-MNIST IDX files (`train-*` for
///   [`Split::Training`], `t10k-*` for [`Split::Test`]), or `fer2013.csv`, or Kaggle
///   `train.csv` / `test.csv`;
/// * a directory of class folders of PNG / JPEG / BMP pictures (torchvision's ImageFolder),
///   or of `train/`, `test/`, `val/` such directories ([`folder`]).
///
/// Class names come from the content ([`classes`]): the seven emotions for FER data, the
/// Fashion-MNIST names for Fashion-MNIST's IDX files, the folder names of an image folder,
/// else numbered classes.
pub fn load(path: &Path, split: Split) -> Result<Dataset> {
    load_with(path, split, &LoadOptions::default())
}

/// [`load`], with the size and classes image folders are read with, and the number of classes
/// ([`LoadOptions::classes`]).
pub fn load_with(path: &Path, split: Split, opts: &LoadOptions) -> Result<Dataset> {
    opts.classes.map(classes::check_class_count).transpose()?;
    let ds = load_any(path, split, opts)?;
    match opts.classes {
        Some(n) => ds.with_classes(n, path),
        None => Ok(ds),
    }
}

fn load_any(path: &Path, split: Split, opts: &LoadOptions) -> Result<Dataset> {
    if path.is_dir() {
        return load_dir(path, split, opts);
    }
    let (prefix, reader) = open_peek(path, 4)?;
    if let Some(magic) = idx::magic_of(&prefix) {
        drop(reader);
        return idx::load_file(path, magic, split, opts.classes);
    }
    if let Some(msg) = idx::unsupported_idx(&prefix) {
        return Err(Error::parse(path, 0, "magic", msg));
    }
    csv::read_csv_from(reader, path, split)
}

/// A directory: IDX files ([`idx::load_dir`]), else fer2013.csv, else Kaggle train.csv /
/// test.csv, else image folders ([`folder::load_tree`]).
fn load_dir(dir: &Path, split: Split, opts: &LoadOptions) -> Result<Dataset> {
    if let Some(ds) = idx::load_dir(dir, split, opts.classes)? {
        return Ok(ds);
    }
    if let Some(p) = find_beside(dir, &["fer2013.csv".to_string()]) {
        return load_any(&p, split, opts);
    }
    let kaggle = match split {
        Split::Training => find_beside(dir, &["train.csv".to_string()]),
        Split::Test => find_beside(dir, &["test.csv".to_string()]),
        _ => None,
    };
    if let Some(p) = kaggle {
        return load_any(&p, split, opts);
    }
    match folder::load_tree(dir, split, opts)? {
        Some(ds) => Ok(ds),
        None => Err(Error::parse(
            dir,
            0,
            "directory",
            format!(
                "holds no train-images-idx3-ubyte[.gz] / t10k-images-idx3-ubyte[.gz], \
                 fer2013.csv, (for split {split:?}) Kaggle train.csv / test.csv, \
                 or folders of .png / .jpg / .bmp images (one per class)"
            ),
        )),
    }
}

/// The seven FER class names as owned strings.
pub(crate) fn fer_class_names() -> Vec<String> {
    FER_CLASSES.iter().map(|s| s.to_string()).collect()
}

const SAMPLE_TRAIN_IMAGES: &[u8] = include_bytes!("../../assets/sample/fashion-mnist/train-images-idx3-ubyte.gz");
const SAMPLE_TRAIN_LABELS: &[u8] = include_bytes!("../../assets/sample/fashion-mnist/train-labels-idx1-ubyte.gz");
const SAMPLE_TEST_IMAGES: &[u8] = include_bytes!("../../assets/sample/fashion-mnist/t10k-images-idx3-ubyte.gz");
const SAMPLE_TEST_LABELS: &[u8] = include_bytes!("../../assets/sample/fashion-mnist/t10k-labels-idx1-ubyte.gz");

fn embedded_part(images: &[u8], labels: &[u8], name: &str) -> Result<Dataset> {
    let path = PathBuf::from(format!("<embedded fashion-mnist>/{name}-images-idx3-ubyte.gz"));
    let lpath = PathBuf::from(format!("<embedded fashion-mnist>/{name}-labels-idx1-ubyte.gz"));
    let img = idx::read_images_from(flate2::read::GzDecoder::new(images), &path)?;
    let lab = idx::read_labels_from(flate2::read::GzDecoder::new(labels), &lpath)?;
    idx::dataset_from(img, Some((lab, &lpath)), &path, None)
}

/// The real Fashion-MNIST sample compiled into the library (see `assets/sample/README.md`):
/// the first 3000 training images ([`Split::Training`]), the first 1000 test images
/// ([`Split::Test`]) or both ([`Split::All`]); 28x28x1, ten named classes. Works offline, for
/// demos and tests.
pub fn embedded_sample(split: Split) -> Result<Dataset> {
    match split {
        Split::Training => embedded_part(SAMPLE_TRAIN_IMAGES, SAMPLE_TRAIN_LABELS, "train"),
        Split::Test => embedded_part(SAMPLE_TEST_IMAGES, SAMPLE_TEST_LABELS, "t10k"),
        Split::All => embedded_sample(Split::Training)?.concat(embedded_sample(Split::Test)?),
        _ => Err(Error::invalid("embedded_sample", format!("split {split:?}: the embedded sample has only Training and Test"))),
    }
}

#[cfg(test)]
mod tests {
    use super::Dataset;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}")).collect()
    }

    #[test]
    fn new_checks_its_sizes() {
        let ds = Dataset::new(vec![7; 2 * 3 * 4 * 5], Some(vec![0, 2]), [3, 4, 5], names(3)).unwrap();
        assert_eq!((ds.len(), ds.image_len(), ds.num_classes(), ds.label(1)), (2, 60, 3, Some(2)));
        assert!(Dataset::new(vec![0; 10], None, [1, 2, 5], names(1)).unwrap().labels.is_none());
        for (pixels, labels, shape, classes, want) in [
            (61, Some(vec![0, 1]), [3, 4, 5], 3, "61 pixel values are not a whole number"),
            (0, None, [3, 4, 5], 3, "0 pixel values"),
            (120, Some(vec![0]), [3, 4, 5], 3, "1 labels for 2 images"),
            (120, Some(vec![0, 3]), [3, 4, 5], 3, "label 3 of image 1 names no class (there are 3 classes, 0 to 2)"),
            (120, None, [0, 4, 5], 3, "each size must be at least 1"),
            (120, None, [3, 4, 5], 0, "0 class names"),
            (120, None, [usize::MAX, 2, 2], 3, "fit in memory"),
        ] {
            let e = Dataset::new(vec![0; pixels], labels, shape, names(classes)).unwrap_err().to_string();
            assert!(e.contains("Dataset::new") && e.contains(want), "{e:?} lacks {want:?}");
        }
    }
}
