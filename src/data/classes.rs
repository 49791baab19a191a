//! Where class names come from: always the data (or the user), never a file's name.
//!
//! * FER2013 CSVs: the seven emotions ([`FER_CLASSES`](super::FER_CLASSES)).
//! * IDX sets: recognised by their content. The official Fashion-MNIST files (and the embedded
//!   sample, which is their first images) are known by a fingerprint of their first image (a
//!   64-bit FNV-1a hash of its 784 bytes, for the `train` and for the `t10k` file) and get the
//!   ten Fashion-MNIST names; any other IDX set (MNIST, whose names are its digits, a subset, a
//!   shuffle) gets numbered names `"0"`, `"1"`, ... (at least ten).
//! * An ImageFolder tree: its folder names ([`super::folder`]).
//! * The user: `pupil train --class-names a,b,c` ([`Dataset::with_class_names`]).

use super::{Dataset, FASHION_CLASSES};
use crate::error::{Error, Result};
use std::path::Path;

/// FNV-1a hashes of the first 28x28 image of Fashion-MNIST's `train-images-idx3-ubyte` and
/// `t10k-images-idx3-ubyte` (computed from the files as distributed).
const FASHION_FIRST_IMAGE: [u64; 2] = [0x01fd_f725_9054_1338, 0xcb45_b758_9f1b_853b];

/// 64-bit FNV-1a of `bytes`.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// True if `first_image` (the first image of an IDX file, `height x width`) is the first image
/// of Fashion-MNIST's training or test file.
pub fn is_fashion_mnist(first_image: &[u8], height: usize, width: usize) -> bool {
    height == 28 && width == 28 && first_image.len() == 784 && FASHION_FIRST_IMAGE.contains(&fnv1a64(first_image))
}

/// `"0"`, `"1"`, ... for labels up to `max_label`, at least ten (a test split may lack the
/// last digits of a ten-class set).
pub fn numbered_names(max_label: Option<u8>) -> Vec<String> {
    let n = max_label.map_or(0, |m| m as usize + 1);
    (0..n.max(10)).map(|i| i.to_string()).collect()
}

/// Class names of an IDX set decided from its content: the Fashion-MNIST names when its first
/// image is Fashion-MNIST's ([`is_fashion_mnist`]) and the labels fit, else [`numbered_names`].
pub fn idx_class_names(first_image: &[u8], height: usize, width: usize, max_label: Option<u8>) -> Vec<String> {
    let fits = max_label.is_none_or(|m| (m as usize) < FASHION_CLASSES.len());
    if fits && is_fashion_mnist(first_image, height, width) {
        FASHION_CLASSES.iter().map(|s| s.to_string()).collect()
    } else {
        numbered_names(max_label)
    }
}

/// A number of classes (`--classes`): 1 to 256, as labels are bytes.
pub fn check_class_count(n: usize) -> Result<()> {
    if (1..=256).contains(&n) {
        Ok(())
    } else {
        Err(Error::invalid("--classes", format!("{n} is not from 1 to 256")))
    }
}

/// `a,b,c` as class names: trimmed, none empty, no repeats.
pub fn parse_class_names(s: &str) -> Result<Vec<String>> {
    let names: Vec<String> = s.split(',').map(|n| n.trim().to_string()).collect();
    if names.iter().any(String::is_empty) {
        return Err(Error::invalid("--class-names", format!("{s:?} has an empty name; give names like Angry,Happy,Sad")));
    }
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(Error::invalid("--class-names", format!("{n:?} is given twice")));
        }
    }
    Ok(names)
}

impl Dataset {
    /// The same data with the classes named `names` (label `i` is `names[i]`).
    ///
    /// The count must be the data's: the number of classes it names (seven for FER2013, ten
    /// for Fashion-MNIST, the folders of an ImageFolder tree); for data with only numbered
    /// names, the classes its labels reach (largest label + 1), or the ten numbered ones.
    pub fn with_class_names(mut self, names: Vec<String>) -> Result<Dataset> {
        let top = self.labels.as_ref().and_then(|l| l.iter().max()).map_or(0, |&m| m as usize + 1);
        let numbered = self.class_names.iter().enumerate().all(|(i, n)| *n == i.to_string());
        let ok = if numbered { names.len() == top || names.len() == self.class_names.len() } else { names.len() == self.class_names.len() };
        if !ok || names.len() < top {
            let has = if numbered && top != self.class_names.len() {
                format!("labels 0 to {} ({top} classes)", top.saturating_sub(1))
            } else {
                format!("{} classes ({})", self.class_names.len(), self.class_names.join(", "))
            };
            return Err(Error::invalid("--class-names", format!("{} names given, but the data has {has}", names.len())));
        }
        self.class_names = names;
        Ok(self)
    }

    /// The same data read for `n` classes (`pupil train --classes`, 1 to 256): every label must
    /// be below `n` (the error names `source`, the first image whose label is not, and that
    /// label's class); classes without examples are allowed. The class names are the data's
    /// first `n`, then numbered ones for the classes beyond the data's (`"10"`, `"11"`, ...,
    /// or `"class 10"` while a name is taken).
    pub fn with_classes(mut self, n: usize, source: &Path) -> Result<Dataset> {
        check_class_count(n)?;
        if let Some((i, l)) = self.labels.as_ref().and_then(|ls| ls.iter().enumerate().find(|&(_, &l)| l as usize >= n)).map(|(i, &l)| (i, l as usize)) {
            let name = match self.class_names.get(l) {
                Some(c) if *c != l.to_string() => format!(" (class {c:?})"),
                _ => String::new(),
            };
            let max = self.labels.iter().flatten().max().copied().unwrap_or(0);
            return Err(Error::parse(
                source,
                0,
                "labels",
                format!("label {l}{name} of image {} is not one of the {n} classes 0 to {} (the largest label is {max})", i + 1, n - 1),
            ));
        }
        self.class_names.truncate(n);
        for i in self.class_names.len()..n {
            let mut name = i.to_string();
            while self.class_names.contains(&name) {
                name = format!("class {name}");
            }
            self.class_names.push(name);
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(labels: Vec<u8>, class_names: Vec<String>) -> Dataset {
        let n = labels.len();
        Dataset { channels: 1, height: 1, width: 1, pixels: vec![0; n], labels: Some(labels), ids: None, class_names }
    }

    #[test]
    fn names_are_checked_against_the_data() {
        let three = |s: &str| parse_class_names(s).unwrap();
        // numbered data with labels 0..2: three names (or the ten numbered slots)
        let d = ds(vec![0, 1, 2], numbered_names(Some(2)));
        assert_eq!(d.clone().with_class_names(three("a,b,c")).unwrap().class_names, ["a", "b", "c"]);
        let e = d.clone().with_class_names(three("a,b")).unwrap_err().to_string();
        assert!(e.contains("2 names given") && e.contains("labels 0 to 2 (3 classes)"), "{e}");
        assert!(d.with_class_names(three("a,b,c,d")).is_err());
        // named data: exactly its count
        let fer = ds(vec![0, 6], super::super::fer_class_names());
        let e = fer.clone().with_class_names(three("a,b,c")).unwrap_err().to_string();
        assert!(e.contains("3 names given") && e.contains("7 classes (Angry"), "{e}");
        assert_eq!(fer.with_class_names(three("a,b,c,d,e,f,g")).unwrap().class_names[6], "g");
    }

    #[test]
    fn classes_given_allow_gaps_and_bound_the_labels() {
        let src = Path::new("data/x.csv");
        // labels 0, 1, 3 read for 6 classes: class 2 has no example, classes 4 and 5 are added
        let d = ds(vec![0, 3, 1], numbered_names(Some(3))).with_classes(6, src).unwrap();
        assert_eq!(d.class_names, ["0", "1", "2", "3", "4", "5"]);
        assert_eq!((d.num_classes(), d.labels.as_deref()), (6, Some(&[0, 3, 1][..])));
        // named data: its own names first, numbered ones beyond them, never a repeat
        let fer = ds(vec![0, 2], super::super::fer_class_names());
        let more = fer.clone().with_classes(9, src).unwrap().class_names;
        assert_eq!((&more[..2], &more[6..]), (&["Angry".to_string(), "Disgust".to_string()][..], &["Neutral".to_string(), "7".into(), "8".into()][..]));
        assert_eq!(fer.clone().with_classes(3, src).unwrap().class_names, ["Angry", "Disgust", "Fear"]);
        let taken = ds(vec![0, 1], vec!["2".into(), "x".into()]).with_classes(4, src).unwrap();
        assert_eq!(taken.class_names, ["2", "x", "class 2", "3"]);
        // a label at or above the count: the file, the image, the label and its class
        let e = fer.with_classes(2, src).unwrap_err().to_string();
        assert!(
            e.contains("data/x.csv")
                && e.contains("label 2 (class \"Fear\") of image 2 is not one of the 2 classes 0 to 1")
                && e.contains("(the largest label is 2)"),
            "{e}"
        );
        let e = ds(vec![0, 255, 1], numbered_names(Some(255))).with_classes(10, src).unwrap_err().to_string();
        assert!(e.contains("label 255 of image 2 is not one of the 10 classes 0 to 9"), "{e}");
        for bad in [0, 257] {
            assert!(ds(vec![0], numbered_names(None)).with_classes(bad, src).unwrap_err().to_string().contains("--classes"), "{bad}");
        }
        // unlabelled data only gets the count
        let mut u = ds(vec![0], numbered_names(None));
        u.labels = None;
        assert_eq!(u.with_classes(3, src).unwrap().num_classes(), 3);
    }

    #[test]
    fn class_name_lists_are_parsed_strictly() {
        assert_eq!(parse_class_names(" cat , dog").unwrap(), ["cat", "dog"]);
        assert!(parse_class_names("cat,,dog").is_err());
        assert!(parse_class_names("cat,dog,cat").unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn fashion_is_known_by_its_first_image_not_its_name() {
        let img = [7u8; 784];
        assert!(!is_fashion_mnist(&img, 28, 28));
        assert_eq!(idx_class_names(&img, 28, 28, Some(9)), numbered_names(Some(9)));
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c); // the FNV-1a reference value
    }
}
