//! Image folders as torchvision's `ImageFolder` and Keras' `image_dataset_from_directory` read
//! them: one subfolder per class, holding that class's pictures.
//!
//! ```text
//! faces/Angry/0001.png      faces/train/Angry/0001.png     (a class tree, or a tree of
//! faces/Happy/0002.jpg      faces/train/Happy/...           splits: train/, test/ and
//! ...                       faces/test/Angry/...            val/ or validation/)
//! ```
//!
//! * A directory is a **tree of splits** when `train/`, `test/`, `val/` or `validation/` in
//!   it is a class tree (its other folders, say a run directory, are ignored):
//!   [`Split::Training`] reads `train/`, [`Split::Test`] `test/` (else `val/`, `validation/`),
//!   [`Split::PublicTest`] (`--split val`) `val/` (else `validation/`), [`Split::All`]
//!   `train/` then `test/`.
//! * Else a directory is a **class tree** when one of its subfolders holds image files
//!   directly; every non-hidden subfolder is then a class, named by the folder, classes in
//!   sorted (byte) order as torchvision sorts them, label `i` = the `i`-th folder. A class's
//!   images are the files with a PNG, JPEG or BMP extension anywhere below its folder (sorted
//!   by path; names starting with `.` are skipped). A class folder without images is an
//!   error. A class tree is one split: `Training`, `Test` and `All` read all of it.
//! * Every image is made gray and brought to one size ([`super::image::fit`]): the size asked
//!   for ([`LoadOptions::size`], the model's input when a model reads the data), else the size
//!   of the first image (first class, first file).
//! * Pictures are decoded in parallel; the pictures decoded of a class tree are reported to
//!   [`crate::progress`] as `"decoding DIR"` (at most about 1000 reports per tree).
//! * Labels: with [`LoadOptions::class_names`] (the model's classes, or the training data's for
//!   its validation and test sets) each folder is matched to the class of its name, and a
//!   folder that names none of them is an error; else the folder order.

use super::image::{fit, has_image_extension, read_gray};
use super::{Dataset, LoadOptions, Split};
use crate::error::{Error, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// The subfolders of `dir` (not starting with `.`), sorted by name.
fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let p = e.path();
        if !hidden(&p) && p.is_dir() {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

fn hidden(p: &Path) -> bool {
    p.file_name().and_then(|n| n.to_str()).is_none_or(|n| n.starts_with('.'))
}

/// True if `dir` directly holds a (non-hidden) file with an image extension.
fn holds_images(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| rd.flatten().any(|e| !hidden(&e.path()) && has_image_extension(&e.path()) && e.path().is_file()))
}

/// True if `dir` is a class tree: a subfolder of it holds image files.
pub fn is_class_tree(dir: &Path) -> bool {
    subdirs(dir).is_ok_and(|s| s.iter().any(|d| holds_images(d)))
}

/// True if `dir` is a class tree or a tree of splits: what [`load_tree`] reads.
pub fn is_image_tree(dir: &Path) -> bool {
    is_class_tree(dir) || is_split_tree(dir)
}

/// True if `train/`, `test/`, `val/` or `validation/` in `dir` is a class tree.
fn is_split_tree(dir: &Path) -> bool {
    ["train", "test", "val", "validation"].iter().any(|n| is_class_tree(&dir.join(n)))
}

/// The image files below `dir`, recursively, sorted by path.
fn images_below(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.map(|e| e.map(|e| e.path())).collect::<std::io::Result<_>>().map_err(|e| Error::io(dir, e))?;
    entries.sort();
    for p in entries {
        if hidden(&p) {
            continue;
        }
        if p.is_dir() {
            images_below(&p, out)?;
        } else if has_image_extension(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// The split folder of a tree of splits for `split`, if the tree has it.
fn split_dir(dir: &Path, split: Split) -> Option<PathBuf> {
    let names: &[&str] = match split {
        Split::Training => &["train"],
        Split::Test => &["test", "val", "validation"],
        Split::PublicTest => &["val", "validation"],
        _ => &[],
    };
    names.iter().map(|n| dir.join(n)).find(|p| is_class_tree(p))
}

/// Loads `dir` if it is a class tree or a tree of splits (None otherwise; see the module doc).
pub fn load_tree(dir: &Path, split: Split, opts: &LoadOptions) -> Result<Option<Dataset>> {
    if is_class_tree(dir) && !is_split_tree(dir) {
        return match split {
            Split::Training | Split::Test | Split::All => load_classes(dir, opts).map(Some),
            _ => Err(Error::parse(dir, 0, "split", format!("split {split:?}: this folder of class folders is one split (use train, test or all)"))),
        };
    }
    if !is_image_tree(dir) {
        return Ok(None);
    }
    let need = |s: Split| {
        split_dir(dir, s).ok_or_else(|| Error::parse(dir, 0, "split", format!("split {s:?}: no such folder of class folders in this tree of splits")))
    };
    let ds = match split {
        Split::All => {
            let train = load_classes(&need(Split::Training)?, opts)?;
            // the test part takes the training part's size and classes
            let same = LoadOptions { size: Some((train.height, train.width)), class_names: Some(train.class_names.clone()), classes: None };
            let test = load_classes(&need(Split::Test)?, &same)?;
            train.concat(test)?
        }
        Split::PrivateTest => return Err(Error::parse(dir, 0, "split", "split PrivateTest is only for fer2013.csv; use train, test, val or all")),
        s => load_classes(&need(s)?, opts)?,
    };
    Ok(Some(ds))
}

/// Reads one class tree.
fn load_classes(dir: &Path, opts: &LoadOptions) -> Result<Dataset> {
    let classes = subdirs(dir)?;
    let folder_names: Vec<String> = classes.iter().map(|c| c.file_name().unwrap_or_default().to_string_lossy().into_owned()).collect();
    let (class_names, label_of): (Vec<String>, Vec<usize>) = match &opts.class_names {
        Some(names) => {
            let labels = folder_names
                .iter()
                .zip(&classes)
                .map(|(f, c)| {
                    names
                        .iter()
                        .position(|n| n == f)
                        .ok_or_else(|| Error::parse(c, 0, "class folder", format!("{f:?} is not one of the classes {}", names.join(", "))))
                })
                .collect::<Result<_>>()?;
            (names.clone(), labels)
        }
        None => (folder_names.clone(), (0..classes.len()).collect()),
    };
    if class_names.len() > 256 {
        return Err(Error::parse(dir, 0, "class folders", format!("{} classes; at most 256", class_names.len())));
    }
    let mut files = Vec::new();
    let mut labels = Vec::new();
    for (c, &label) in classes.iter().zip(&label_of) {
        let before = files.len();
        images_below(c, &mut files)?;
        if files.len() == before {
            return Err(Error::parse(c, 0, "class folder", "holds no .png, .jpg, .jpeg or .bmp files"));
        }
        labels.resize(files.len(), label as u8);
    }
    let (height, width) = match opts.size {
        Some(s) => s,
        None => {
            let first = read_gray(&files[0])?;
            (first.height() as usize, first.width() as usize)
        }
    };
    // pictures decoded so far, counted and reported under one lock so the reports of the
    // parallel decoders come in order
    let task = format!("decoding {}", dir.display());
    let total = files.len() as u64;
    let step = total.div_ceil(1000).max(1);
    let done = std::sync::Mutex::new(0u64);
    let images: Vec<Vec<u8>> = files
        .par_iter()
        .map(|f| {
            let img = read_gray(f).map(|g| fit(&g, height, width))?;
            let mut n = done.lock().unwrap_or_else(|e| e.into_inner());
            *n += 1;
            if n.is_multiple_of(step) || *n == total {
                crate::progress::report(&task, *n, total);
            }
            Ok(img)
        })
        .collect::<Result<_>>()?;
    Ok(Dataset { channels: 1, height, width, pixels: images.concat(), labels: Some(labels), ids: None, class_names })
}
